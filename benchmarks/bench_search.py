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


SAMPLER_COLUMNS = (
    "| sampler | scored | draws | draws per scored trial | wall s | over-budget draws s | share of wall time "
    "| per over-budget draw ms | measured |"
)


def _commit() -> str:
    """The short hash of the commit measured (``+`` when the code has uncommitted changes), or ``?``."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "metablock", "search", "benchmarks/*.py")
    return (head + ("+" if changed else "")) or "?"


def sampler_rows(tmp: str, samplers: list[str], trials: int | None, stored: list[dict[str, object]]) -> list[str]:
    """Draws per scored trial and the wall-time share of over-budget draws, per sampler.

    Each sampler runs twice with the same seed: the first run fills the cost table with the blocks
    its candidates use, the second is measured (the cost table a user's studies share is warm).
    Rows replace the stored row of their sampler; the table lists every stored row."""
    cache = os.path.join(tmp, "costs-samplers.sqlite")
    for sampler in samplers:
        changes: dict[str, object] = dict(cost_cache=cache, sampler=sampler, **({"trials": trials} if trials else {}))
        run_search(main_job_settings(out=os.path.join(tmp, f"warm-{sampler}"), **changes))
        settings = main_job_settings(out=os.path.join(tmp, f"s-{sampler}"), **changes)
        t0 = time.perf_counter()
        study = run_search(settings)
        wall = time.perf_counter() - t0
        df = results(study)
        over = df["status"] == "over_budget"
        row = {
            "sampler": sampler,
            "scored": int((df["status"] == "ok").sum()),
            "draws": len(df),
            "wall_s": wall,
            "over_s": float(df.loc[over, "duration_s"].fillna(0).sum()),
            "over": int(over.sum()),
            "measured": _commit(),
        }
        stored[:] = [r for r in stored if r["sampler"] != sampler] + [row]
        print(row, flush=True)
    return sampler_table(stored)


def sampler_table(stored: list[dict[str, object]]) -> list[str]:
    """The table lines of the stored rows, TPE, NSGA-II, random, GP first."""
    lines = [SAMPLER_COLUMNS, "|---|" + "---:|" * 7 + "---|"]
    order = {"tpe": 0, "nsga2": 1, "random": 2, "gp": 3}
    for r in sorted(stored, key=lambda r: order.get(str(r["sampler"]), 9)):
        over_s, wall, scored, draws, n_over = (
            float(r["over_s"]),  # type: ignore[arg-type]
            float(r["wall_s"]),  # type: ignore[arg-type]
            int(r["scored"]),  # type: ignore[call-overload]
            int(r["draws"]),  # type: ignore[call-overload]
            int(r["over"]),  # type: ignore[call-overload]
        )
        lines.append(
            f"| {r['sampler']} | {scored} | {draws} | {draws / max(1, scored):.2f} | {wall:.1f} | {over_s:.2f} "
            f"| {100 * over_s / wall:.1f}% | {1e3 * over_s / max(1, n_over):.1f} | {r['measured']} |"
        )
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
        import pandas as pd

        out = args.out.replace("search.md", "search_samplers.md")
        rows_file = os.path.splitext(out)[0] + ".parquet"
        stored = pd.read_parquet(rows_file).to_dict("records") if os.path.exists(rows_file) else []
        with tempfile.TemporaryDirectory() as tmp:
            lines = sampler_rows(tmp, args.sampler_names.split(","), 20 if args.quick else None, stored)
        pd.DataFrame(stored).to_parquet(rows_file, index=False)
        load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
        settings = main_job_settings()
        text = "\n".join(
            [
                "# Over-budget draws per sampler",
                "",
                f"The main job (`metablock search`: space {settings.space}, score {settings.score.score}, MACs budget "
                f"{(settings.max_macs or 0) / 1e6:g}M, {settings.trials} scored trials) once per sampler on a cost "
                "table warmed by a first run of the same study. Command: `python benchmarks/bench_search.py "
                "--samplers --sampler-names tpe,nsga2,random,gp`: a run of some samplers replaces their rows and "
                "keeps the others' (the last run: "
                f"`--sampler-names {args.sampler_names}{' --quick' if args.quick else ''}`)"
                f"; torch {torch.__version__}, {args.threads} threads, {processor()}, {os.cpu_count()} cores, load "
                f"average after the last run {load[0]:.1f}. Over-budget draws take no scored slot; their time is the "
                "sum of their trial durations (sampling, costs, storage). NSGA-II runs at the driver's population "
                f"({settings.nsga2_population}: a quarter of the trials). Over-budget draws end PRUNED: TPE reads "
                "them; Optuna's NSGA-II reads complete trials only, so it breeds from candidates within budget; "
                "the driver's GP (`search.samplers.BudgetAwareGPSampler`) shows them to Optuna's GPSampler as "
                "infeasible points, which alone would model complete trials only (68 draws per scored trial, "
                "97.5% of wall time, measured at 83d89f4). "
                "Rows accumulate in the Parquet file "
                "beside this table (one per sampler, with the commit it was measured on; `+`: with uncommitted "
                "changes).",
                "",
                *lines,
            ]
        )
        save(text + "\n", out)
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
