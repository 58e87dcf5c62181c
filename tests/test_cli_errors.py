"""Bad files and arguments on the real ``metablock`` command: one error line, exit code 2, no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_search import TINY

from metablock import ConfigError
from metablock.cli import build_parser

SCRIPT = shutil.which("metablock", path=str(Path(sys.executable).parent)) or shutil.which("metablock")


def _commands() -> set[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return set(sub.choices)  # type: ignore[arg-type]


def _cases(tmp: Path) -> list[tuple[list[str], str]]:
    """(arguments, text the error line must contain)."""
    (tmp / "broken.yaml").write_text("stages: [unclosed\n")
    (tmp / "broken.json").write_text('{"stages": [1, 2,')
    (tmp / "evil.yaml").write_text("!!python/object/apply:os.system ['echo owned']\n")
    (tmp / "list.yaml").write_text("- 1\n- 2\n")
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (tmp / "adir").mkdir()
    out = ["--out", str(tmp / "out"), "--no-progress"]
    search = ["search", "--space", str(tmp / "tiny.yaml"), *out]
    cases = [
        (["search", "--space", str(tmp / "broken.yaml"), *out], "not valid YAML"),
        (["search", "--space", str(tmp / "broken.json"), *out], "not valid JSON"),
        (["search", "--space", str(tmp / "evil.yaml"), *out], "evil.yaml"),
        (["search", "--space", str(tmp / "list.yaml"), *out], "list.yaml"),
        (["search", "--space", str(tmp / "missing.yaml"), *out], "missing.yaml"),
        (["search", "--space", "emoo", *out], "unknown search space 'emoo'"),
        ([*search, "--storage", "nosuchdb://user@host/db"], "nosuchdb"),
        ([*search, "--storage", str(tmp / "adir")], "is a directory"),
        ([*search, "--trials", "0"], "trials"),
        ([*search, "--trials", "-3"], "trials"),
        ([*search, "--workers", "0"], "workers"),
        ([*search, "--max-macs", "0"], "--max-macs"),
        ([*search, "--max-params", "-2M"], "--max-params"),
        ([*search, "--trials", "many"], "--trials"),
        ([*search, "--score", "nasbot"], "unknown score 'nasbot'"),
        ([*search, "--sampler", "cmaes"], "sampler"),
        ([*search, "--resolution-scale", "2/x"], "fraction such as 2/7; got '2/x'"),
        ([*search, "--resolution-scale", "1/0"], "--resolution-scale"),
        ([*search, "--resolution-scale", "9/2"], "resolution_scale"),
        (["tour", "--size", "big"], "--size"),
        (["nosuchcommand"], "nosuchcommand"),
    ]
    if "profile" in _commands():
        cases += [
            (["profile", "mobilenet_v2", "--no-such-option"], "--no-such-option"),
            (["profile", "no_such_net"], "unknown model 'no_such_net'"),
            (["profile", str(tmp / "broken.yaml")], "not valid YAML"),
            (["profile", str(tmp / "broken.json")], "not valid JSON"),
            (["profile", str(tmp / "evil.yaml")], "not valid YAML"),
            (["profile", str(tmp / "list.yaml")], "must be a mapping"),
            (["profile", str(tmp / "missing.yaml")], "missing.yaml"),
            (["profile", "mobilenet_v2", "--batch", "0"], "--batch"),
        ]
    if "export" in _commands():
        cases += [
            (["export", "no_such_net", str(tmp / "x.onnx")], "unknown model 'no_such_net'"),
            (["export", "mobilenet_v2", str(tmp / "x.onnx"), "--opset", "99"], "--opset must be in [7, 21]"),
            (["export", str(tmp / "broken.yaml"), str(tmp / "x.onnx")], "not valid YAML"),
        ]
    if "space" in _commands():
        cases += [
            (["space", "show"], "needs a space name or file"),
            (["space", "show", "emoo"], "unknown search space 'emoo'"),
            (["space", "show", str(tmp / "broken.yaml")], "not valid YAML"),
            (["space", "drop"], "invalid choice: 'drop'"),
        ]
    return cases


# one case of each kind runs the real console script (each process spends seconds importing torch)
IN_SUBPROCESS = ("broken.yaml", "emoo", "nosuchdb", "--trials 0", "--trials many")


def _label(args: list[str]) -> str:
    return " ".join(args)


@pytest.mark.skipif(SCRIPT is None, reason="the metablock console script is not installed (pip install -e .)")
def test_bad_input_on_the_console_script_gives_one_error_line_and_exit_code_2(tmp_path: Path) -> None:
    all_cases = _cases(tmp_path)
    cases = [next(c for c in all_cases if key in _label(c[0])) for key in IN_SUBPROCESS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for args, _ in cases
    ]
    for proc, (args, expected) in zip(procs, cases, strict=True):
        _out, err = proc.communicate(timeout=600)
        lines = err.strip().splitlines()
        assert proc.returncode == 2, (args, err)
        assert "Traceback" not in err, (args, err)
        assert len(lines) == 1, (args, err)
        assert "error" in lines[0] and expected in lines[0], (args, lines[0])


def test_every_bad_input_gives_one_error_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from metablock.cli import main

    for args, expected in _cases(tmp_path):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse
            code = exc.code  # type: ignore[assignment]
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2, (args, err)
        assert len(lines) == 1 and "error" in lines[0] and expected in lines[0], (args, err)
    assert not list((tmp_path / "out").glob("*.parquet"))


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from metablock import cli

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=interrupted)
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.choices["tour"].set_defaults(func=interrupted)  # type: ignore[index]
    assert cli.main(["tour"]) == 130
    assert capsys.readouterr().err.strip() == "metablock: interrupted"


# ------------------------------------------------------------------------------ help, defaults, version
def test_help_shows_the_defaults_and_every_option_has_help() -> None:
    import argparse

    parser = build_parser()
    search = next(
        a
        for a in parser._actions
        if isinstance(a, argparse._SubParsersAction)  # noqa: SLF001
    ).choices["search"]
    text = search.format_help()
    for option in ("--trials", "--seed", "--workers", "--batch-size", "--latency-threads"):
        action = next(a for a in search._actions if option in a.option_strings)  # noqa: SLF001
        assert action.help and "default" in action.help, option
    assert "(default: 40)" in " ".join(text.split())
    assert "``" not in parser.format_help() and parser.description
    tour = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["tour"]  # noqa: SLF001
    assert tour.description


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import metablock
    from metablock.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"metablock {metablock.__version__}\n"


def test_a_latency_or_params_budget_alone_sets_no_macs_budget() -> None:
    from search.cli import settings_from_args

    parser = build_parser()
    assert settings_from_args(parser.parse_args(["search"])).max_macs == 300e6
    only_latency = settings_from_args(parser.parse_args(["search", "--max-latency-ms", "15"]))
    assert only_latency.max_macs is None and only_latency.max_latency_ms == 15
    assert settings_from_args(parser.parse_args(["search", "--max-params", "5M"])).max_macs is None
    both = settings_from_args(parser.parse_args(["search", "--max-params", "5M", "--max-macs", "200M"]))
    assert both.max_macs == 200e6


def test_short_train_options_reach_the_score_settings() -> None:
    from search.cli import settings_from_args

    parser = build_parser()
    score = settings_from_args(
        parser.parse_args(["search", "--score", "short_train", "--train-epochs", "2", "--val-images", "900"])
    ).score
    assert (score.score, score.epochs, score.val_images) == ("short_train", 2, 900)
    assert settings_from_args(parser.parse_args(["search"])).score.epochs == 3
    with pytest.raises(ConfigError, match="epochs must be an integer >= 1; got epochs=0"):
        settings_from_args(parser.parse_args(["search", "--score", "short_train", "--train-epochs", "0"]))


def test_population_reaches_the_settings() -> None:
    from search.cli import settings_from_args

    parser = build_parser()
    nsga2 = settings_from_args(parser.parse_args(["search", "--sampler", "nsga2", "--population", "12"]))
    assert nsga2.population == nsga2.nsga2_population == 12
    assert settings_from_args(parser.parse_args(["search"])).nsga2_population == 10  # 40 trials
    with pytest.raises(ConfigError, match="population must be an integer >= 2; got population=1"):
        settings_from_args(parser.parse_args(["search", "--population", "1"]))


def test_refine_min_epochs_reaches_the_settings() -> None:
    from search.cli import settings_from_args

    parser = build_parser()
    assert settings_from_args(parser.parse_args(["search"])).refine_min_epochs == 3
    settings = settings_from_args(parser.parse_args(["search", "--refine", "2", "--refine-min-epochs", "10"]))
    assert (settings.refine, settings.refine_min_epochs) == (2, 10)
    with pytest.raises(ConfigError, match="refine_min_epochs must be an integer >= 1; got refine_min_epochs=0"):
        settings_from_args(parser.parse_args(["search", "--refine-min-epochs", "0"]))


def test_library_warnings_do_not_leak_into_the_command_output() -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONWARNINGS": "default"}
    result = subprocess.run(
        [sys.executable, "-m", "metablock.cli", "profile", "mobilenet_v2", "--input", "64"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "deprecated" not in result.stderr, result.stderr
