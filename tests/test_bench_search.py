"""The search benchmarks' pieces: the study-growth script end to end (tiny sizes), the hypervolume of
trained accuracy and the main job's settings they reuse (no timings are checked)."""

from __future__ import annotations

import importlib.util
import math
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
        assert (t.user_attrs.get("status") == "over_budget") == (t.state.name == "PRUNED")
    out = tmp_path / "cost.md"
    bench.main(["--sizes", "4,12", "--asks", "1", "--settings", "tpe,random", "--out", str(out)])
    text = out.read_text()
    assert "| TPE as the driver makes it (multivariate, group) |" in text and "| random |" in text
    assert "(12 vs 4)" in text
    # cells accumulate: another setting at one size joins the table, the others stay
    bench.main(["--sizes", "4", "--asks", "1", "--settings", "nsga2", "--out", str(out)])
    text = out.read_text()
    assert "| random |" in text and text.count("- `python benchmarks/bench_sampler_cost.py") == 2
    assert "| NSGA-II | " in text and " | – | 1.0x (4 vs 4) |" in text  # measured at 4 only
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
    args += ["--arms", "search,random,named,search_short,random_short,search_score_short"]
    bench.main(args)
    rows = pd.read_parquet(out)
    assert set(rows.arm) == {"search", "random", "named", "search_short", "random_short", "search_score_short"}
    short = rows[rows.arm == "search_short"]
    assert short.score.between(0, 1).all()  # scored by short training: an accuracy, not a proxy value
    searched = rows[rows.arm != "named"]
    assert (searched.first_rung == 3).all()  # metablock search's first rung, recorded with every row
    assert (rows[rows.arm.str.endswith("_short")].short_epochs == 3).all()
    assert (tmp_path / "work" / "mobilenet-0-tpe-short-r3-e3" / "study.journal").exists()
    assert (rows.macs <= 150e6).all() and rows.trained_acc.between(0, 1).all()
    named = rows[rows.arm == "named"]
    assert len(named) == 1 and "x0." in named.name.iloc[0]  # no named network fits: the smallest, scaled
    table = out.with_suffix(".md").read_text()
    assert "| mobilenet | 150M | search |" in table and "| mobilenet | 150M | named |" in table
    assert out.with_suffix(".png").stat().st_size > 10_000
    # the proxy stage is read back from both arms' stored studies
    assert "| mobilenet | search |" in table.split("## What the proxy stage found")[1]
    assert "| mobilenet | random | " in table.split("## The search against each arm")[1]
    assert "| mobilenet | search_short | random_short | " in table.split("## The search against each arm")[1]
    assert "| mobilenet | search_score_short | random_short | " in table.split("## The search against each arm")[1]
    assert (tmp_path / "work" / "mobilenet-0-tpe-score-short-r3-e3" / "study.journal").exists()
    assert "mobilenet, short_train: τ" in table
    mtime = out.stat().st_mtime_ns
    bench.main(args)  # everything stored: nothing is run again
    assert out.stat().st_mtime_ns == mtime and len(pd.read_parquet(out)) == len(rows)


def test_search_quality_tables_show_the_rows_of_their_own_refinement_setting() -> None:
    bench = _load("bench_search_quality")
    # rows stored before the settings were recorded: first rung 1, short training at 2 epochs
    old = pd.DataFrame(
        {"space": "a", "seed": 0, "arm": ["search", "search_short", "named"], "trained_acc": [0.9, 0.8, 0.7]}
    )
    filled = bench.with_settings(old)
    assert filled.first_rung.tolist()[:2] == [1, 1] and math.isnan(filled.first_rung.iloc[2])
    assert math.isnan(filled.short_epochs.iloc[0]) and filled.short_epochs.iloc[1] == 2
    new = pd.DataFrame(
        {"space": "a", "seed": 0, "arm": ["search", "search_short"], "trained_acc": [0.95, 0.85],
         "first_rung": 3, "short_epochs": [math.nan, bench.SHORT_ARM_EPOCHS]}
    )  # fmt: skip
    both = pd.concat([filled, new], ignore_index=True)
    assert bench.current(both, 3).trained_acc.tolist() == [0.7, 0.95, 0.85]  # the named networks and rung 3
    assert bench.current(both, 1).trained_acc.tolist() == [0.9, 0.7]  # rung 1's short arm had other epochs
    assert bench.run_tag("search", 1) == "tpe" and bench.run_tag("search_short", 3) == "tpe-short-r3-e3"


def test_search_quality_compares_arms_seed_by_seed() -> None:
    bench = _load("bench_search_quality")
    rows = []
    for seed, (s_acc, r_acc) in enumerate([(0.90, 0.88), (0.92, 0.89), (0.91, 0.92)]):
        rows += [
            {"space": "a", "seed": seed, "arm": "search", "macs": 50e6, "trained_acc": s_acc, "state": "complete"},
            {"space": "a", "seed": seed, "arm": "search", "macs": 60e6, "trained_acc": 0.99, "state": "pruned"},
            {"space": "a", "seed": seed, "arm": "random", "macs": 50e6, "trained_acc": r_acc, "state": "complete"},
        ]
    df = pd.DataFrame(rows).assign(budget=100e6, wall_s=1.0)
    seeds = bench.per_seed(df, {"a": 100e6})
    search = seeds[seeds.arm == "search"].sort_values("seed")
    assert search.best.tolist() == [0.90, 0.92, 0.91]  # a pruned candidate's accuracy is not its best
    assert search["mean"].tolist() == [0.90, 0.92, 0.91]  # nor part of its mean
    more = pd.concat(
        [df, df.query("arm == 'search' and state == 'complete'").assign(trained_acc=0.8)], ignore_index=True
    )
    means = bench.per_seed(more, {"a": 100e6}).query("arm == 'search'").sort_values("seed")["mean"]
    assert means.tolist() == pytest.approx([(0.90 + 0.80) / 2, (0.92 + 0.80) / 2, (0.91 + 0.80) / 2])
    assert search.hv.iloc[0] == pytest.approx(50 * 0.40)
    # differences 0.02, 0.03, -0.01: mean 0.0133, sd 0.0208, t(0.975, 2) = 4.303
    mean, lo, hi = bench.mean_interval(pd.Series([0.02, 0.03, -0.01]).to_numpy())
    half = 4.302653 * 0.0208167 / 3**0.5
    assert mean == pytest.approx(0.013333, abs=1e-6) and (lo, hi) == pytest.approx((mean - half, mean + half), abs=1e-5)
    table = bench.paired(df, {"a": 100e6})
    # best, then mean trained accuracy (one trained candidate per seed: the same), then hypervolume
    assert (
        "| a | search | random | +0.0133 [-0.0384, +0.0650] | 2 of 3 | +0.0133 [-0.0384, +0.0650] | 2 of 3 |" in table
    )
    assert "named" not in table  # no such arm: no row
    assert bench.mean_interval(pd.Series([0.5]).to_numpy())[0] == 0.5


def test_main_job_settings_are_the_cli_defaults() -> None:
    bench = _load("bench_search")
    settings = bench.main_job_settings(trials=7)
    assert settings.trials == 7 and settings.space == "emo" and settings.max_macs == 300e6


def test_the_sampler_table_lists_every_stored_row_with_its_share() -> None:
    bench = _load("bench_search")
    rows = [
        dict(sampler="random", scored=40, draws=465, wall_s=20.0, over_s=2.0, over=425, measured="abc+"),
        dict(sampler="tpe", scored=40, draws=60, wall_s=10.0, over_s=0.2, over=20, measured="abc"),
    ]
    lines = bench.sampler_table(rows)
    assert lines[2] == "| tpe | 40 | 60 | 1.50 | 10.0 | 0.20 | 2.0% | 10.0 | abc |"
    assert lines[3] == "| random | 40 | 465 | 11.62 | 20.0 | 2.00 | 10.0% | 4.7 | abc+ |"
    assert len(lines) == 4 and lines[0].count("|") == lines[1].count("|")
