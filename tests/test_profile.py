"""``metablock profile``: table and JSON output, config files, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import metablock
from metablock.cli import main
from metablock.costs import count_macs, count_params
from metablock.profile import profile


def test_profile_emo_1m_json_prints_its_params_and_macs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "emo_1m", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    cfg = metablock.model_config("emo_1m")
    assert result["params"] == count_params(cfg)
    assert result["macs"] == count_macs(cfg, (3, 224, 224))
    assert result["memory_bytes"] > 0
    assert [s["name"] for s in result["stages"]][0] == "stem"
    assert sum(s["macs"] for s in result["stages"]) == result["macs"]


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_profile_reads_config_files_and_prints_a_breakdown(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = metablock.model_config("mobilenet_v3_small")
    path = tmp_path / f"net{suffix}"
    path.write_text(cfg.to_json() if suffix == ".json" else cfg.to_yaml())
    assert main(["profile", str(path), "--input", "64", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert f"{count_params(cfg):,}" in out
    macs = count_macs(cfg, (3, 64, 64))
    assert f"MACs     {macs:,} ({macs / 1e6:.1f} M per image; {2 * macs / 1e6:.1f} M for the batch of 2)" in out
    for part in ("stem", "stage0", "head"):
        assert part in out


def test_profile_latency_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "micronet_m0", "--input", "32", "--latency", "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["latency_ms"]["median"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["profile", "emo_1n"], "emo_1m"),
        (["profile", "missing.json"], "does not exist"),
        (["profile", "emo_1m", "--input", "0"], "--input"),
    ],
)
def test_profile_errors_are_one_line_with_exit_code_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("metablock: error:") and message in err and err.count("\n") == 1


def test_profile_bad_file_content_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert main(["profile", str(path)]) == 2
    assert "JSON" in capsys.readouterr().err


def test_a_config_carries_its_resolution_into_every_cost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = metablock.model_config("mobilenet_v3_small", resolution=96)
    assert metablock.NetConfig.from_json(cfg.to_json()) == cfg
    assert cfg.input_size == (3, 96, 96)
    macs = count_macs(cfg, (3, 96, 96))
    assert count_macs(cfg) == macs != count_macs(cfg, (3, 224, 224))
    assert count_macs(metablock.build(cfg)) == macs  # a built network knows its config
    assert metablock.network_costs(cfg).macs == macs
    assert metablock.estimate_memory(cfg) == metablock.estimate_memory(cfg, (3, 96, 96))
    path = tmp_path / "net.json"
    path.write_text(cfg.to_json())
    assert main(["profile", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["input"] == [3, 96, 96] and result["macs"] == macs
    assert metablock.create_model("mobilenet_v3_small", resolution=96).cfg.resolution == 96
    with pytest.raises(metablock.ConfigError, match="resolution must be in"):
        cfg.replace(resolution=2)


# ------------------------------------------------------------------------------ export
@pytest.mark.parametrize("name", ["mobilenet_v3_small", "emo_1m", "ghostnet_100"])
def test_export_writes_a_folded_onnx_file_that_onnx_runtime_runs_equally(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from metablock.export import export_onnx

    result = export_onnx(metablock.model_config(name), tmp_path / "m.onnx", input_size=64)
    assert (tmp_path / "m.onnx").stat().st_size == result["bytes"] > 0
    assert result["max_abs_out"] > 0.1  # calibrated statistics: the outputs are not a constant
    assert result["max_abs_diff"] <= 1e-4 * max(1.0, result["max_abs_out"])


def test_export_command_prints_one_line_with_the_difference(tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("onnxruntime")
    config = tmp_path / "net.json"
    config.write_text(metablock.model_config("mobilenet_v3_small").replace(resolution=64).to_json())
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "net.onnx"
    result = subprocess.run(
        [sys.executable, "-m", "metablock.cli", "export", str(config), str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and "input 3x64x64" in result.stdout and "max |difference|" in result.stdout
    assert result.stderr == "" and out.exists()
    bad = subprocess.run(
        [sys.executable, "-m", "metablock.cli", "export", "mobilenet_v3_small", str(out), "--opset", "99"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "--opset must be in [7, 21]" in bad.stderr


def test_profile_reports_macs_per_image_and_for_the_batch() -> None:
    cfg = metablock.model_config("mobilenet_v3_small")
    one = profile(cfg, input_size=64, batch=1)
    eight = profile(cfg, input_size=64, batch=8)
    assert eight["macs"] == one["macs"] and eight["macs_batch"] == 8 * one["macs"]
