"""How a study's overhead per trial grows with its size, per sampler and storage.

With the cheapest score (``params``: no forward pass), a study of the main job's space and budget is
grown to each size of ``--sizes`` (100, 1,000, 5,000 scored trials), resuming the same study each
time; after each growth step the last ``--window`` trials are measured:

- ``per trial ms``: wall time of the window divided by its trials (draws included);
- ``suggest ms``: inside the space's ``suggest`` (the sampler proposing every parameter);
- ``costs+writes ms``: the per-block cost lookup and the trial's storage writes;
- ``between ms``: the rest (``ask``, ``tell``, the driver's study census, progress).

A row per (sampler, storage, size) goes to ``--out`` (Parquet, written after every row; rows present
are skipped, and a study file left by an interrupted run is resumed), with a Markdown table beside it.

Usage:
    python benchmarks/bench_study_growth.py                                    # every sampler, both storages
    python benchmarks/bench_study_growth.py --samplers random,nsga2 --sizes 100,1000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import processor, save  # noqa: E402
from bench_search import _commit, main_job_settings  # noqa: E402

from search.driver import run_search  # noqa: E402
from search.results import results  # noqa: E402
from search.scores import ScoreSettings  # noqa: E402

STORAGES = {"journal": "study.journal", "sqlite": "sqlite:///{dir}/study.db"}


def measure(df: pd.DataFrame, window: int) -> dict[str, float]:
    done = df[df["state"].isin(["complete", "pruned", "fail"])].sort_values("number")
    last = done.tail(window)
    starts = pd.to_datetime(last["datetime_start"])
    wall = (starts.iloc[-1] - starts.iloc[0]).total_seconds() + float(last["duration_s"].iloc[-1])
    n = len(last)
    suggest = float(last["time_suggest_s"].fillna(0).sum())
    costs = float(last["time_costs_s"].fillna(0).sum()) - suggest
    inside = float(last["duration_s"].fillna(0).sum())
    return {
        "per_trial_ms": 1e3 * wall / n,
        "suggest_ms": 1e3 * suggest / n,
        "costs_writes_ms": 1e3 * max(0.0, costs) / n,
        "in_trial_other_ms": 1e3 * max(0.0, inside - suggest - max(0.0, costs)) / n,
        "between_ms": 1e3 * max(0.0, wall - inside) / n,
    }


def _measured(row: pd.Series) -> str:
    commit = row.get("commit")
    return commit if isinstance(commit, str) and commit else "before e288d24"  # rows from before the column


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samplers", default="random,nsga2,tpe,gp")
    p.add_argument("--storages", default="journal,sqlite")
    p.add_argument("--sizes", default="100,1000,5000")
    p.add_argument("--window", type=int, default=100, help="trials measured after each growth step")
    p.add_argument("--work", default="runs/study_growth")
    p.add_argument("--out", default=str(HERE / "results" / "study_growth.parquet"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    rows = pd.read_parquet(out).to_dict("records") if out.exists() else []
    command = " ".join(["python benchmarks/bench_study_growth.py", *(argv if argv is not None else sys.argv[1:])])
    have = {(r["sampler"], r["storage"], int(r["size"])) for r in rows}
    sizes = [int(s) for s in args.sizes.split(",")]
    for sampler in args.samplers.split(","):
        for storage in args.storages.split(","):
            work = Path(args.work) / f"{sampler}-{storage}"
            work.mkdir(parents=True, exist_ok=True)
            url = STORAGES[storage].format(dir=work.resolve())
            url = str(work / url) if "://" not in url else url
            for size in sizes:
                if (sampler, storage, size) in have:
                    continue
                settings = main_job_settings(
                    score=ScoreSettings(score="params", device="cpu"),
                    sampler=sampler,
                    trials=size,
                    storage=url,
                    out=str(work),
                    study=f"growth-{sampler}",
                    baselines=False,
                )
                t0 = time.perf_counter()
                study = run_search(settings)
                grow_s = time.perf_counter() - t0
                df = results(study)
                row = {"sampler": sampler, "storage": storage, "size": size, "draws": len(df), "grow_s": grow_s,
                       "command": command, "commit": _commit()}  # fmt: skip
                row.update(measure(df, args.window))
                rows.append(row)
                pd.DataFrame(rows).to_parquet(out.with_suffix(".tmp"), index=False)
                out.with_suffix(".tmp").replace(out)
                print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    table = pd.DataFrame(rows)
    lines = [
        "| sampler | storage | size | draws | per trial ms | suggest ms | costs+writes ms | in-trial other ms "
        "| between ms | vs smallest size | measured |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (sampler, storage), g in table.groupby(["sampler", "storage"], sort=False):
        base = g[g["size"] == g["size"].min()]["per_trial_ms"].iloc[0]
        for _, r in g.sort_values("size").iterrows():
            lines.append(
                f"| {sampler} | {storage} | {int(r['size'])} | {int(r['draws'])} | {r['per_trial_ms']:.1f} | "
                f"{r['suggest_ms']:.1f} | {r['costs_writes_ms']:.1f} | {r['in_trial_other_ms']:.1f} | "
                f"{r['between_ms']:.1f} | {r['per_trial_ms'] / base:.2f}x | {_measured(r)} |"
            )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    commands = list(dict.fromkeys(str(c) for c in table.get("command", pd.Series(dtype=str)).dropna()))
    text = "\n".join(
        [
            "# Study overhead per trial as the study grows",
            "",
            f"The main job's space and budget with the `params` score; the last {args.window} trials after "
            f"growing the study to each size. Machine: {processor()}, {os.cpu_count()} cores, load {load:.1f} "
            "at the last run. Rows accumulate in the Parquet file (`measured`: the commit; `+` with uncommitted "
            "changes); the commands that made them:",
            "",
            *[f"- `{c}`" for c in commands],
            "",
            *lines,
        ]
    )
    save(text + "\n", out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
