"""Train the ground truth: a fixed, seeded sample of architectures, each with two training seeds.

Every architecture of ``search.ground_truth.sample_architectures`` (``--per-space`` random candidates
of each space plus every named network the space contains) is trained with the one recipe
``search.ground_truth.RECIPE`` once per training seed, and scored once with every score of
``SCORE_NAMES`` at ``SCORE_SETTINGS``. One row per (architecture, seed) goes to
``benchmarks/results/ground_truth.parquet`` (written after every finished job, atomically), with a
Markdown summary beside it (``.md``).

Resumable: rows already in the file (same recipe) are skipped, and score columns that are missing
(a score added later) are filled in without training again. Jobs run round-robin over the spaces,
so a partial table covers every space.

Usage:
    python benchmarks/ground_truth.py                          # the full table (hours on 2 CPU cores)
    python benchmarks/ground_truth.py --workers 2 --threads 1  # two processes, one thread each
    python benchmarks/ground_truth.py --device cuda            # on a GPU
    python benchmarks/ground_truth.py --per-space 1 --spaces mobilenet --no-named --max-steps 3 \\
        --out /tmp/gt.parquet                                  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import processor  # noqa: E402

from search import ground_truth as gt  # noqa: E402
from search.scores import ScoreSettings, compute_score, seeded_build  # noqa: E402
from search.training import resolve_device, train_network  # noqa: E402

_STATE: dict[str, Any] = {}


def _init(threads: int, archs: list[gt.Arch], device: str) -> None:
    torch.set_num_threads(threads)
    import warnings

    warnings.filterwarnings("ignore", message=".*torch.jit.script.*")
    _STATE.update(archs={a.arch_id: a for a in archs}, device=device)


def _costs(arch: gt.Arch) -> dict[str, float]:
    import metablock

    c = metablock.network_costs(arch.net, (arch.net.in_chans, arch.resolution, arch.resolution))
    return {"params": int(c.params), "macs": int(c.macs)}


def train_job(arch_id: str, seed: int, max_steps: int | None) -> dict[str, Any]:
    arch: gt.Arch = _STATE["archs"][arch_id]
    result = train_network(
        arch.net, gt.RECIPE, seed=seed, input_resolution=arch.resolution, device=_STATE["device"], max_steps=max_steps
    )
    return {
        "space": arch.space,
        "arch_id": arch.arch_id,
        "name": arch.name,
        "config": gt.config_json(arch.net),
        "arch_resolution": arch.resolution,
        "resolution": result.resolution,
        "seed": seed,
        "val_acc": result.val_acc,
        "train_loss": result.train_loss,
        "steps": result.steps,
        "train_s": result.train_s,
        "device": _STATE["device"],
        "recipe": gt.recipe_json(gt.RECIPE),
        **_costs(arch),
    }


def score_job(arch_id: str, names: list[str]) -> dict[str, Any]:
    arch: gt.Arch = _STATE["archs"][arch_id]
    costs = _costs(arch)
    out: dict[str, Any] = {"arch_id": arch_id}
    for name in names:
        settings = replace(gt.SCORE_SETTINGS, score=name, device=_STATE["device"])
        model = seeded_build(arch.net, settings.seed)
        t0 = time.perf_counter()
        try:
            value = compute_score(model, settings, arch.resolution, costs=costs)
        except Exception as exc:  # a score that cannot handle this network: recorded as missing
            print(f"  {arch_id}: score {name} failed: {type(exc).__name__}: {exc}", flush=True)
            value = math.nan
        out[f"score_{name}"] = value
        out[f"seconds_{name}"] = time.perf_counter() - t0
    return out


def _run(job: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    kind, *args = job
    if kind == "train":
        return kind, train_job(*args)
    return kind, score_job(*args)


def summary(df: pd.DataFrame, wall_note: str) -> str:
    arch = gt.per_architecture(df)
    lines = [
        "# Ground truth",
        "",
        f"Recipe: {gt.RECIPE.describe()}.",
        f"Scores: {', '.join(gt.SCORE_NAMES)} at {gt.SCORE_SETTINGS.batch_size} images, "
        f"{gt.SCORE_SETTINGS.resolution_scale:.3g} x the searched resolution, dataset {gt.SCORE_SETTINGS.dataset}.",
        f"Rows: {len(df)} ({len(arch)} architectures; {int((arch['seeds'] >= 2).sum())} with two seeds). {wall_note}",
        "",
        "| space | architectures | val_acc mean | min | max | seed-to-seed τ (ceiling) | mean |Δ| between seeds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    groups = [(s, df[df.space == s]) for s in sorted(df.space.unique())] + [("pooled", df)]
    for label, part in groups:
        a = gt.per_architecture(part)
        both = a.dropna(subset=[c for c in ("acc_seed0", "acc_seed1") if c in a.columns])
        delta = (both["acc_seed0"] - both["acc_seed1"]).abs().mean() if "acc_seed1" in both else math.nan
        lines.append(
            f"| {label} | {len(a)} | {a.val_acc.mean():.3f} | {a.val_acc.min():.3f} | {a.val_acc.max():.3f} | "
            f"{gt.seed_ceiling(part):.3f} | {delta:.3f} |"
        )
    lines += ["", "| arch_id | space | searched px | trained px | MMACs | M params | val_acc (seeds) | train s |"]
    lines.append("|---|---|---:|---:|---:|---:|---|---:|")
    for _, r in arch.sort_values(["space", "arch_id"]).iterrows():
        accs = ", ".join(f"{r[c]:.3f}" for c in sorted(arch.columns) if c.startswith("acc_seed") and pd.notna(r[c]))
        secs = df[df.arch_id == r.arch_id].train_s.mean()
        lines.append(
            f"| {r.arch_id} | {r.space} | {r.arch_resolution} | {r.resolution} | {r.macs / 1e6:.1f} | "
            f"{r.params / 1e6:.2f} | {accs} | {secs:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(HERE / "results" / "ground_truth.parquet"))
    p.add_argument("--spaces", default=",".join(gt.SPACES), help="comma list of spaces")
    p.add_argument("--per-space", type=int, default=15, help="random candidates per space")
    p.add_argument("--no-named", action="store_true", help="leave out the named networks of the spaces")
    p.add_argument("--seeds", default="0,1", help="training seeds")
    p.add_argument("--scores", default=",".join(gt.SCORE_NAMES), help="scores to compute ('' for none)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--workers", type=int, default=1, help="processes (each with --threads threads)")
    p.add_argument("--threads", type=int, default=max(1, torch.get_num_threads()), help="torch threads per worker")
    p.add_argument("--max-steps", type=int, default=None, help="stop each training after this many steps (smoke)")
    p.add_argument("--limit", type=int, default=None, help="stop after this many new jobs")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    spaces = [s for s in args.spaces.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    names = [s for s in args.scores.split(",") if s]
    for name in names:
        ScoreSettings(score=name)  # unknown names fail here, before any training
    archs = gt.interleave(gt.sample_architectures(spaces, per_space=args.per_space, named=not args.no_named))
    out = Path(args.out)
    df = gt.load(out)
    if not df.empty:
        same = df.recipe.map(gt.same_recipe)
        if not same.all():
            aside = out.with_name(out.stem + f".other-recipe-{int(time.time())}.parquet")
            df[~same].to_parquet(aside, index=False)
            print(f"{int((~same).sum())} rows of another recipe moved to {aside}", flush=True)
            df = df[same].reset_index(drop=True)
        nets = {a.arch_id: a.net for a in archs}
        changed = sorted(
            {r.arch_id for _, r in df.iterrows() if nets.get(r.arch_id, gt.stored_net(r)) != gt.stored_net(r)}
        )
        if changed:
            # the space changed since (e.g. new operators): keep training and scoring what the rows hold
            stored = {a.arch_id: a for a in gt.architectures(df[df.arch_id.isin(changed)])}
            archs = [stored.get(a.arch_id, a) for a in archs]
            print(f"note: the sample's configs of {changed} differ from the stored ones; the stored configs are used")
    done = {(a, int(s)) for a, s in zip(df.arch_id, df.seed, strict=True)} if not df.empty else set()
    jobs: list[tuple[Any, ...]] = []
    for arch in archs:
        for seed in seeds:
            if (arch.arch_id, seed) not in done:
                jobs.append(("train", arch.arch_id, seed, args.max_steps))
    scored: dict[str, dict[str, Any]] = {}
    for arch in archs:
        rows = df[df.arch_id == arch.arch_id] if not df.empty else df
        missing = [n for n in names if rows.empty or f"score_{n}" not in rows or rows[f"score_{n}"].isna().all()]
        if missing:
            jobs.append(("scores", arch.arch_id, missing))
        elif not rows.empty:
            scored[arch.arch_id] = {c: rows[c].iloc[0] for c in rows.columns if c.startswith(("score_", "seconds_"))}
    if args.limit is not None:
        jobs = jobs[: args.limit]
    print(
        f"ground truth: {len(archs)} architectures x {len(seeds)} seeds; {len(done)} rows present, "
        f"{sum(j[0] == 'train' for j in jobs)} trainings and {sum(j[0] == 'scores' for j in jobs)} scorings to run "
        f"on {device} ({args.workers} worker(s) x {args.threads} thread(s))",
        flush=True,
    )
    print(f"recipe: {gt.RECIPE.describe()}", flush=True)
    start = time.time()
    rows = df.to_dict("records") if not df.empty else []

    def merge(kind: str, value: dict[str, Any]) -> None:
        nonlocal rows
        if kind == "train":
            value.update(scored.get(value["arch_id"], {}))
            rows.append(value)
        else:
            scored[value["arch_id"]] = {**scored.get(value["arch_id"], {}), **value}
            for r in rows:
                if r["arch_id"] == value["arch_id"]:
                    r.update({k: v for k, v in value.items() if k != "arch_id"})
        if rows:
            gt.save(pd.DataFrame(rows), out)

    def progress(i: int, kind: str, value: dict[str, Any]) -> None:
        elapsed = time.time() - start
        eta = elapsed / i * (len(jobs) - i)
        if kind == "train":
            what = f"{value['arch_id']} seed {value['seed']}: val_acc {value['val_acc']:.3f} ({value['train_s']:.0f} s)"
        else:
            what = f"{value['arch_id']} scored ({sum(v for k, v in value.items() if k.startswith('seconds_')):.1f} s)"
        print(f"[{i}/{len(jobs)}] {what}; {elapsed / 60:.1f} min, ~{eta / 60:.0f} min left", flush=True)

    if args.workers <= 1:
        _init(args.threads, archs, device)
        for i, job in enumerate(jobs, 1):
            kind, value = _run(job)
            merge(kind, value)
            progress(i, kind, value)
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(args.workers, initializer=_init, initargs=(args.threads, archs, device)) as pool:
            for i, (kind, value) in enumerate(pool.imap_unordered(_run, jobs), 1):
                merge(kind, value)
                progress(i, kind, value)
    final = gt.load(out)
    if not final.empty:
        note = (
            f"Ran on {device} ({processor()}, {os.cpu_count()} cores, {args.workers} worker(s) x {args.threads} "
            f"thread(s)); command: `python benchmarks/ground_truth.py {' '.join(argv or sys.argv[1:])}`."
        )
        md = out.with_suffix(".md")
        md.write_text(summary(final, note))
        print(json.dumps({"rows": len(final), "ceiling": gt.seed_ceiling(final)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
