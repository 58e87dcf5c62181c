"""What one suggestion costs each sampler setting as a study grows, with the storage taken out.

``bench_study_growth.py`` measures a whole trial's overhead on real storages; this isolates the
sampler: a history of the main job's space (random draws, their ``params`` score and MACs, the MACs
budget recorded with ``Trial.set_constraint`` and over-budget draws pruned, as the driver does) is
built once in memory, and for each history size and sampler setting a fresh in-memory study gets the
first ``size`` trials and proposes ``--asks`` candidates through the space's ``suggest``; the median
time of one suggestion is reported, with its growth against the smallest size. Cells accumulate in a
Parquet file beside ``--out`` (a run re-measures only the settings and sizes it is given), so a slow
sampler's largest size can be timed on its own with fewer ``--asks``.

The settings are the driver's TPE (``multivariate=True, group=True``) and the knobs that could bound
it: no group decomposition, independent sampling, fewer expected-improvement candidates, and the
other samplers for scale (GP only when asked: its cost grows with the cube of the history). ``gp``
is the driver's (shown the over-budget draws too, at most as many as the scored trials),
``gp-optuna`` Optuna's GPSampler alone.

Usage:
    python benchmarks/bench_sampler_cost.py                      # sizes 100, 1000, 2000, 5000
    python benchmarks/bench_sampler_cost.py --sizes 100,500 --asks 3
    python benchmarks/bench_sampler_cost.py --settings gp,gp-optuna --sizes 100,1000,2000 --asks 3
    python benchmarks/bench_sampler_cost.py --settings gp --sizes 5000 --asks 1   # one more cell
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _report import processor, save  # noqa: E402
from bench_search import main_job_settings  # noqa: E402

import metablock  # noqa: E402
from search.driver import make_sampler  # noqa: E402
from search.space import get_space  # noqa: E402

#: setting name -> (its sampler's keyword arguments, what it is)
SETTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "tpe": ({"multivariate": True, "group": True}, "TPE as the driver makes it (multivariate, group)"),
    "tpe-nogroup": ({"multivariate": True}, "TPE multivariate, no group decomposition"),
    "tpe-independent": ({}, "TPE independent (one estimator per parameter)"),
    "tpe-ei8": ({"multivariate": True, "group": True, "n_ei_candidates": 8}, "TPE (driver) with n_ei_candidates=8"),
    "nsga2": ({}, "NSGA-II"),
    "random": ({}, "random"),
    "gp": ({}, "GP as the driver makes it (it also sees over-budget draws)"),
    "gp-optuna": ({}, "GP, Optuna's GPSampler alone (complete trials only)"),
}


def sampler(name: str, seed: int) -> Any:
    import optuna

    if name.startswith("tpe"):
        return optuna.samplers.TPESampler(seed=seed, **SETTINGS[name][0])
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return make_sampler("gp", seed, n_objectives=2)
    if name == "gp-optuna":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def history(size: int, seed: int = 0) -> list[Any]:
    """``size`` trials of the main job's space: random draws with their score, MACs and constraint."""
    import optuna

    settings = main_job_settings()
    space = get_space(settings.space)
    budget = float(settings.max_macs or math.inf)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(size):
        trial = study.ask()
        cand = space.suggest(trial)
        costs = metablock.network_costs(cand.net, cand.input_size)
        trial.set_user_attr("macs", costs.macs)
        trial.set_constraint("macs", costs.macs - budget)
        if costs.macs > budget:
            trial.set_user_attr("status", "over_budget")
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, [math.log10(costs.params), float(costs.macs)])
    return study.get_trials(deepcopy=False)


def suggestion_ms(trials: list[Any], name: str, asks: int, seed: int = 0) -> float:
    import optuna

    space = get_space(main_job_settings().space)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler(name, seed))
    study.set_metric_names(["score", "macs"])
    study.add_trials(trials)
    times = []
    for _ in range(asks):
        t0 = time.perf_counter()
        trial = study.ask()
        space.suggest(trial)
        times.append(time.perf_counter() - t0)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return 1000 * statistics.median(times)


def report(cells: pd.DataFrame) -> str:
    """The Markdown table of every stored cell: a row per setting (in ``SETTINGS`` order), a column per
    size, each cell the median suggestion time (with its number of suggestions where that is not the
    most common one), and the largest size against the smallest."""
    sizes = sorted(int(s) for s in cells["size"].unique())
    usual = int(cells["asks"].mode().iloc[0])
    head = "| sampler setting | " + " | ".join(f"{s:,} trials" for s in sizes) + " | largest vs smallest |"
    lines = [head, "|---|" + "---:|" * (len(sizes) + 1)]
    for name in [n for n in SETTINGS if n in set(cells["setting"])]:
        mine = cells[cells["setting"] == name].set_index("size")
        out = []
        for size in sizes:
            if size not in mine.index:
                out.append("–")
                continue
            r = mine.loc[size]
            note = "" if int(r["asks"]) == usual else f" ({int(r['asks'])} timed)"
            out.append(f"{r['ms']:,.1f} ms{note}")
        have = sorted(int(s) for s in mine.index)
        growth = f"{mine.loc[have[-1], 'ms'] / mine.loc[have[0], 'ms']:.1f}x ({have[-1]:,} vs {have[0]:,})"
        lines.append(f"| {SETTINGS[name][1]} | {' | '.join(out)} | {growth} |")
    commands = list(dict.fromkeys(str(c) for c in cells["command"]))
    loads = cells["load"].astype(float)
    return "\n".join(
        [
            "# One suggestion's cost per sampler setting, as the study grows (in memory)",
            "",
            f"The main job's space; the median of {usual} suggestions (unless marked) after the first N trials of "
            "one random history (over-budget draws pruned with their constraint, as the driver records them). "
            f"Machine: {processor()}, {os.cpu_count()} cores, load {loads.min():.1f} to {loads.max():.1f} while "
            "measuring, 1 thread. Cells accumulate over the commands that made them:",
            "",
            *[f"- `{c}`" for c in commands],
            "",
            *lines,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100,1000,2000,5000")
    p.add_argument("--asks", type=int, default=5, help="suggestions timed per size and setting (median)")
    p.add_argument("--settings", default=",".join(n for n in SETTINGS if not n.startswith("gp")),
                   help="comma list of: " + ", ".join(SETTINGS) + " (default: all but the GPs, whose larger "
                   "sizes take seconds to minutes per suggestion)")  # fmt: skip
    p.add_argument("--out", default=str(HERE / "results" / "sampler_cost.md"))
    args = p.parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    torch.set_num_threads(1)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    names = [n.strip() for n in args.settings.split(",")]
    for n in names:
        if n not in SETTINGS:
            raise SystemExit(f"--settings: unknown setting {n!r}; valid: {', '.join(SETTINGS)}")
    cache = Path(args.out).with_suffix(".parquet")
    stored = pd.read_parquet(cache).to_dict("records") if cache.exists() else []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    command = " ".join(["python benchmarks/bench_sampler_cost.py", *(argv if argv is not None else sys.argv[1:])])
    t0 = time.perf_counter()
    trials = history(sizes[-1])
    print(f"history of {len(trials)} trials built in {time.perf_counter() - t0:.0f} s", flush=True)
    for name in names:
        for size in sizes:
            ms = suggestion_ms(trials[:size], name, args.asks)
            stored = [r for r in stored if (r["setting"], int(r["size"])) != (name, size)]
            row = {"setting": name, "size": size, "ms": ms, "asks": args.asks, "load": load, "command": command}
            stored.append(row)
            pd.DataFrame(stored).to_parquet(cache.with_suffix(".tmp"), index=False)
            cache.with_suffix(".tmp").replace(cache)
            print(f"{name}, {size} trials: {ms:.1f} ms", flush=True)
    text = report(pd.DataFrame(stored))
    save(text + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
