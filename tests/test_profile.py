"""``metablock profile``: table and JSON output, config files, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import metablock
from metablock.cli import main
from metablock.costs import count_macs, count_params


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
    assert f"{2 * count_macs(cfg, (3, 64, 64)):,}" in out
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
