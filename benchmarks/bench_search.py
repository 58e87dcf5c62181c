"""Search throughput: trials per minute and the share of wall time spent outside scoring.

Runs two studies with the real driver (``search.run_search``) and reads each trial's timings back
from the storage:

- ``default``: the main job (``metablock search`` with no options: the ``emo`` space, NASWOT at
  64 px, a 300M MACs budget, 40 trials);
- ``emo-224``: a 100-trial ``emo`` study with NASWOT at each candidate's own resolution (224/192).

Each study runs twice on the same per-block cost table: ``cold`` starts from an empty table (every
new block is traced by fvcore once), ``warm`` reruns with the filled table, as every later study
of the same space does. "Outside scoring" is wall time minus the time spent in the score itself
(sampling, building, costs, storage, progress); its parts are listed.

A third table (``--samplers``) runs the main job (``metablock search`` with its default settings)
once per sampler on a warm cost table and reports how many candidates were drawn per scored trial
and the share of wall time spent on over-budget draws (which take no scored slot).

Usage:
    python benchmarks/bench_search.py                 # both studies, cold and warm
    python benchmarks/bench_search.py --samplers      # over-budget draws of the main job, per sampler
    python benchmarks/bench_search.py --quick         # 10 and 20 trials
    python benchmarks/bench_search.py --out benchmarks/results/search.md
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
from _report import processor, save

from search.driver import SearchSettings, run_search
from search.results import results
from search.scores import ScoreSettings


def run(label: str, settings: SearchSettings) -> dict[str, object]:
    t0 = time.perf_counter()
    study = run_search(settings)
    wall = time.perf_counter() - t0
    df = results(study)
    score_s = float(df["time_score_s"].fillna(0).sum())
    costs_s = float(df["time_costs_s"].fillna(0).sum())
    trial_s = float(df["duration_s"].fillna(0).sum())
    n = len(df)
    return {
        "run": label,
        "trials": n,
        "scored": int((df["status"] == "ok").sum()),
        "wall_s": wall,
        "trials_per_min": 60 * n / wall,
        "score_s": score_s,
        "costs_s": costs_s,
        "other_in_trial_s": max(0.0, trial_s - score_s - costs_s),
        "between_trials_s": max(0.0, wall - trial_s),
        "outside_share": (wall - score_s) / wall,
    }


def main_job_settings(**changes: object) -> SearchSettings:
    """The settings ``metablock search`` runs with no options (the main job), with ``changes``."""
    from dataclasses import replace

    from search.cli import add_parser, settings_from_args

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return replace(settings_from_args(parser.parse_args(["search", "--no-progress"])), **changes)  # type: ignore[arg-type]


def sampler_rows(tmp: str, samplers: list[str], trials: int | None) -> list[str]:
    """Draws per scored trial and the wall-time share of over-budget draws, per sampler."""
    lines = [
        "| sampler | scored | draws | draws per scored trial | wall s | over-budget draws s | share of wall time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    cache = os.path.join(tmp, "costs-samplers.sqlite")
    warm = main_job_settings(out=os.path.join(tmp, "warmup"), cost_cache=cache, trials=trials or 40)
    run_search(warm)  # fills the cost table
    for sampler in samplers:
        settings = main_job_settings(
            out=os.path.join(tmp, f"s-{sampler}"),
            cost_cache=cache,
            sampler=sampler,
            **({"trials": trials} if trials else {}),
        )
        t0 = time.perf_counter()
        study = run_search(settings)
        wall = time.perf_counter() - t0
        df = results(study)
        over = df["status"] == "over_budget"
        scored = int((df["status"] == "ok").sum())
        over_s = float(df.loc[over, "duration_s"].fillna(0).sum())
        lines.append(
            f"| {sampler} | {scored} | {len(df)} | {len(df) / max(1, scored):.2f} | {wall:.1f} | {over_s:.2f} "
            f"| {100 * over_s / wall:.1f}% |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samplers", action="store_true", help="over-budget draws of the main job, per sampler")
    parser.add_argument(
        "--sampler-names", default="tpe,nsga2,random,gp", help="with --samplers: which samplers (default: all four)"
    )
    parser.add_argument("--quick", action="store_true", help="10 and 20 trials instead of 40 and 100")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=("default", "emo-224"), default=None, help="run one of the two studies")
    parser.add_argument("--out", default="benchmarks/results/search.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.samplers:
        with tempfile.TemporaryDirectory() as tmp:
            lines = sampler_rows(tmp, args.sampler_names.split(","), 20 if args.quick else None)
        load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
        settings = main_job_settings()
        text = "\n".join(
            [
                "# Over-budget draws per sampler",
                "",
                f"The main job (`metablock search`: space {settings.space}, score {settings.score.score}, MACs budget "
                f"{(settings.max_macs or 0) / 1e6:g}M, {settings.trials} scored trials) once per sampler on a warm "
                f"cost table. Command: `python benchmarks/bench_search.py --samplers --sampler-names "
                f"{args.sampler_names}{' --quick' if args.quick else ''}`"
                f"; torch {torch.__version__}, {args.threads} threads, {processor()}, {os.cpu_count()} cores, load "
                f"average after the run {load[0]:.1f}. Over-budget draws take no scored slot; their time is the "
                "sum of their trial durations (sampling, costs, storage).",
                "",
                *lines,
            ]
        )
        save(text + "\n", args.out.replace("search.md", "search_samplers.md"))
        return
    studies = {  # label: (settings changes, trials)
        "default (the main job: emo, predictor@2/7 res, 300M)": (None, 40),
        "emo-224 (naswot@candidate res)": (
            dict(space="emo", score=ScoreSettings(score="naswot", batch_size=16, resolution=None), max_macs=None),
            100,
        ),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, (kw, trials)) in enumerate(studies.items()):
            if args.only and not label.startswith(args.only):
                continue
            trials = (10 if i == 0 else 20) if args.quick else trials
            cache = os.path.join(tmp, f"costs{i}.sqlite")
            for phase in ("cold", "warm"):
                out = os.path.join(tmp, f"{i}-{phase}")
                common = dict(out=out, cost_cache=cache, progress=False, seed=0, trials=trials)
                settings = main_job_settings(**common, **(kw or {}))
                rows.append(run(f"{label}, {phase}", settings))
                print(rows[-1])
    head = (
        "| run | trials | scored | wall s | trials/min | score s | costs s | other in trial s "
        "| between trials s | outside scoring |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['trials']} | {r['scored']} | {r['wall_s']:.1f} | {r['trials_per_min']:.1f} "
            f"| {r['score_s']:.1f} | {r['costs_s']:.1f} | {r['other_in_trial_s']:.1f} | {r['between_trials_s']:.1f} "
            f"| {100 * r['outside_share']:.1f}% |"
        )
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    text = "\n".join(
        [
            "# Search throughput",
            "",
            f"Command: `python benchmarks/bench_search.py{' --quick' if args.quick else ''}`; "
            f"torch {torch.__version__}, {args.threads} threads, {processor()}, "
            f"{os.cpu_count()} cores, load average after the run {load[0]}.",
            "",
            *lines,
            "",
            "cold: empty per-block cost table; warm: the same study again on the filled table.",
        ]
    )
    save(text + "\n", args.out)


if __name__ == "__main__":
    main()
