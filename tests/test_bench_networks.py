"""The latency benchmark script runs and writes its table (no timings are checked)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_networks.py"


def _load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_networks", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_bench_networks_writes_a_table(tmp_path: Path) -> None:
    bench = _load()
    out = tmp_path / "latency.md"
    bench.main(
        ["--models", "micronet_m0", "--batch", "1", "--size", "64", "--threads", "1", "--quick", "--out", str(out)]
    )
    text = out.read_text()
    assert "| `micronet_m0` | 1 |" in text
    assert "torch " in text and "machine load" in text and "command:" in text


def test_ratio_is_the_median_of_per_round_ratios() -> None:
    bench = _load()
    row = bench.Row("x", 1, times={"ref": [1.0, 2.0, 4.0], "ours": [0.5, 2.0, 4.4]})
    assert row.ratio("ours", "ref") == 1.0
    assert row.ratio("ours_fused", "ref") is None
