"""What one suggestion costs each sampler setting as a study grows, with the storage taken out.

``bench_study_growth.py`` measures a whole trial's overhead on real storages; this isolates the
sampler: a history of the main job's space (random draws, their ``params`` score and MACs, the MACs
budget recorded with ``Trial.set_constraint`` and over-budget draws pruned, as the driver does) is
built once in memory, and for each history size and sampler setting a fresh in-memory study gets the
first ``size`` trials and proposes ``--asks`` candidates through the space's ``suggest``; the median
time of one suggestion is reported, with its growth against the smallest size.

The settings are the driver's TPE (``multivariate=True, group=True``) and the knobs that could bound
it: no group decomposition, independent sampling, fewer expected-improvement candidates, and the
other samplers for scale.

Usage:
    python benchmarks/bench_sampler_cost.py                      # sizes 100, 1000, 2000, 5000
    python benchmarks/bench_sampler_cost.py --sizes 100,500 --asks 3
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

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _report import processor, save  # noqa: E402
from bench_search import main_job_settings  # noqa: E402

import metablock  # noqa: E402
from search.space import get_space  # noqa: E402

#: setting name -> (its sampler's keyword arguments, what it is)
SETTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "tpe": ({"multivariate": True, "group": True}, "TPE as the driver makes it (multivariate, group)"),
    "tpe-nogroup": ({"multivariate": True}, "TPE multivariate, no group decomposition"),
    "tpe-independent": ({}, "TPE independent (one estimator per parameter)"),
    "tpe-ei8": ({"multivariate": True, "group": True, "n_ei_candidates": 8}, "TPE (driver) with n_ei_candidates=8"),
    "nsga2": ({}, "NSGA-II"),
    "random": ({}, "random"),
}


def sampler(name: str, seed: int) -> Any:
    import optuna

    if name.startswith("tpe"):
        return optuna.samplers.TPESampler(seed=seed, **SETTINGS[name][0])
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
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
        trial.set_constraint("macs", costs.macs - budget)
        if costs.macs > budget:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, [math.log10(costs.params), float(costs.macs)])
    return study.get_trials(deepcopy=False)


def suggestion_ms(trials: list[Any], name: str, asks: int, seed: int = 0) -> float:
    import optuna

    space = get_space(main_job_settings().space)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler(name, seed))
    study.add_trials(trials)
    times = []
    for _ in range(asks):
        t0 = time.perf_counter()
        trial = study.ask()
        space.suggest(trial)
        times.append(time.perf_counter() - t0)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100,1000,2000,5000")
    p.add_argument("--asks", type=int, default=5, help="suggestions timed per size and setting (median)")
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma list of: " + ", ".join(SETTINGS))
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
    t0 = time.perf_counter()
    trials = history(sizes[-1])
    print(f"history of {len(trials)} trials built in {time.perf_counter() - t0:.0f} s", flush=True)
    rows: dict[str, dict[int, float]] = {}
    for name in names:
        for size in sizes:
            rows.setdefault(name, {})[size] = suggestion_ms(trials[:size], name, args.asks)
            print(f"{name}, {size} trials: {rows[name][size]:.1f} ms", flush=True)
    head = "| sampler setting | " + " | ".join(f"{s:,} trials" for s in sizes) + f" | {sizes[-1]:,} vs {sizes[0]:,} |"
    lines = [head, "|---|" + "---:|" * (len(sizes) + 1)]
    for name, by_size in rows.items():
        cells = " | ".join(f"{by_size[s]:.1f} ms" for s in sizes)
        lines.append(f"| {SETTINGS[name][1]} | {cells} | {by_size[sizes[-1]] / by_size[sizes[0]]:.1f}x |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    command = " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join(
        [
            "# One suggestion's cost per sampler setting, as the study grows (in memory)",
            "",
            f"The main job's space; median of {args.asks} suggestions after the first N trials of one random "
            f"history (over-budget draws pruned with their constraint, as the driver records them). Machine: "
            f"{processor()}, {os.cpu_count()} cores, load {load:.1f}, 1 thread. Command: "
            f"`python benchmarks/bench_sampler_cost.py {command}`.",
            "",
            *lines,
        ]
    )
    save(text + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
