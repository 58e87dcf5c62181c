"""The search benchmarks' pieces: the study-growth script end to end (tiny sizes), the hypervolume of
trained accuracy and the main job's settings they reuse (no timings are checked)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_sampler_cost_times_each_setting_on_one_shared_history(tmp_path: Path) -> None:
    bench = _load("bench_sampler_cost")
    trials = bench.history(12)
    assert len(trials) == 12
    for t in trials:  # over-budget draws pruned with their constraint, as the driver records them
        assert (t.system_attrs["constraints:macs"] > 0) == (t.state.name == "PRUNED")
    out = tmp_path / "cost.md"
    bench.main(["--sizes", "4,12", "--asks", "1", "--settings", "tpe,random", "--out", str(out)])
    text = out.read_text()
    assert "| TPE as the driver makes it (multivariate, group) |" in text and "| random |" in text
    assert "12 vs 4" in text
    with pytest.raises(SystemExit, match="unknown setting 'tpe2'"):
        bench.main(["--settings", "tpe2", "--out", str(out)])


def test_study_growth_resumes_one_study_per_sampler_and_storage(tmp_path: Path) -> None:
    bench = _load("bench_study_growth")
    out = tmp_path / "growth.parquet"
    args = ["--samplers", "random", "--storages", "journal", "--sizes", "6,12", "--window", "4"]
    bench.main([*args, "--work", str(tmp_path / "work"), "--out", str(out)])
    rows = pd.read_parquet(out)
    assert rows["size"].tolist() == [6, 12] and (rows["draws"] >= rows["size"]).all()
    assert (rows["per_trial_ms"] > 0).all()
    assert "| random | journal | 12 |" in out.with_suffix(".md").read_text()
    bench.main([*args, "--work", str(tmp_path / "work"), "--out", str(out)])  # every row present: nothing runs
    assert len(pd.read_parquet(out)) == 2


def test_hypervolume_of_trained_accuracy_against_macs() -> None:
    bench = _load("bench_search_quality")
    budget = 100e6
    # one point: (100M - 40M) x (0.9 - 0.5) = 60 x 0.4
    assert bench.hypervolume([(40e6, 0.9)], budget) == pytest.approx(24.0)
    # a dominated point adds nothing; a cheaper, worse one adds its own strip
    assert bench.hypervolume([(40e6, 0.9), (60e6, 0.8)], budget) == pytest.approx(24.0)
    assert bench.hypervolume([(40e6, 0.9), (20e6, 0.7)], budget) == pytest.approx(24.0 + 20 * 0.2)
    assert bench.hypervolume([(120e6, 0.99)], budget) == 0.0  # over budget


def test_search_quality_runs_three_arms_and_resumes(tmp_path: Path) -> None:
    bench = _load("bench_search_quality")
    out = tmp_path / "quality.parquet"
    args = ["--spaces", "mobilenet", "--seeds", "0", "--trials", "3", "--refine", "1", "--epochs", "1"]
    args += ["--max-macs", "150e6", "--device", "cpu", "--work", str(tmp_path / "work"), "--out", str(out)]
    bench.main(args)
    rows = pd.read_parquet(out)
    assert set(rows.arm) == {"search", "random", "named"}
    assert (rows.macs <= 150e6).all() and rows.trained_acc.between(0, 1).all()
    named = rows[rows.arm == "named"]
    assert len(named) == 1 and "x0." in named.name.iloc[0]  # no named network fits: the smallest, scaled
    table = out.with_suffix(".md").read_text()
    assert "| mobilenet | 150M | search |" in table and "| mobilenet | 150M | named |" in table
    assert out.with_suffix(".png").stat().st_size > 10_000
    mtime = out.stat().st_mtime_ns
    bench.main(args)  # everything stored: nothing is run again
    assert out.stat().st_mtime_ns == mtime and len(pd.read_parquet(out)) == len(rows)


def test_main_job_settings_are_the_cli_defaults() -> None:
    bench = _load("bench_search")
    settings = bench.main_job_settings(trials=7)
    assert settings.trials == 7 and settings.space == "emo" and settings.max_macs == 300e6
