"""Every score against the ground truth: which one ranks architectures like trained accuracy does?

Reads ``benchmarks/results/ground_truth.parquet`` (``benchmarks/ground_truth.py``) and reports, per
space and pooled:

- Kendall τ and Spearman ρ of every score (the proxies, the ``params``/``macs`` baselines and the
  combined ``predictor``) against the mean validation accuracy over the training seeds, with bootstrap
  95% intervals;
- τ within MACs terciles (among networks of similar cost, does the score pick the better one?);
- the seed ceiling (the same statistics between the two training seeds);
- the combined score evaluated leave-one-space-out: features chosen and weights fitted on the other
  spaces, measured on the held-out one;
- a sweep of every proxy over scoring resolutions and batch sizes (values cached, resumable, in
  ``benchmarks/results/score_settings.parquet``), with seconds per candidate, and the best setting;
- ``short_train`` (the ground-truth recipe cut to 1, 2 and 3 epochs) against the same accuracies
  (values cached, resumable, in ``benchmarks/results/score_short_train.parquet``).

With ``--write-predictor`` the combined score is fitted on the whole ground truth and written to
``search/predictor.json`` (the file ``--score predictor`` uses).

Usage:
    python benchmarks/bench_scores.py                        # tables -> benchmarks/results/scores.md
    python benchmarks/bench_scores.py --no-sweep             # only the ground truth's own columns
    python benchmarks/bench_scores.py --write-predictor      # also refit search/predictor.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import processor, save  # noqa: E402

from search import evaluation as ev  # noqa: E402
from search import ground_truth as gt  # noqa: E402
from search.predictor import DEFAULT_PATH, fit  # noqa: E402
from search.scores import compute_score, seeded_build  # noqa: E402

PROXIES = ("naswot", "synflow", "grad_norm", "zen", "zico", "meco", "swap")
#: Scoring settings of the sweep: (label, resolution scale of the searched resolution, batch size).
SETTINGS = (
    ("1/7 x res, batch 16", 1 / 7, 16),
    ("1/7 x res, batch 64", 1 / 7, 64),
    ("2/7 x res, batch 16", 2 / 7, 16),
    ("2/7 x res, batch 64", 2 / 7, 64),
)


fmt = ev.fmt


def _same_as_ground_truth(scale: float, batch: int) -> bool:
    s = gt.SCORE_SETTINGS
    return s.resolution is None and math.isclose(s.resolution_scale, scale) and s.batch_size == batch


def sweep(arch: pd.DataFrame, runs: pd.DataFrame, cache: Path, archs: dict[str, gt.Arch], device: str) -> pd.DataFrame:
    """Values of every proxy at every setting of ``SETTINGS`` for every architecture (cached; the
    setting the ground truth was scored with is taken from its columns)."""
    done = pd.read_parquet(cache) if cache.exists() else pd.DataFrame(columns=["arch_id", "score", "setting"])
    have = {(a, s, t) for a, s, t in zip(done.arch_id, done.score, done.setting, strict=True)}
    rows = done.to_dict("records")
    first = runs.drop_duplicates("arch_id").set_index("arch_id")
    for label, scale, batch in SETTINGS:
        if not _same_as_ground_truth(scale, batch):
            continue
        for a in arch.arch_id:
            for p in PROXIES:
                col = f"score_{p}"
                if (a, p, label) in have or col not in first.columns or pd.isna(first.loc[a, col]):
                    continue
                seconds = first.loc[a, f"seconds_{p}"] if f"seconds_{p}" in first.columns else math.nan
                rows.append(
                    {"arch_id": a, "score": p, "setting": label, "value": first.loc[a, col], "seconds": seconds}
                )
                have.add((a, p, label))
    todo = [
        (a, p, label, scale, batch)
        for a in arch.arch_id
        for label, scale, batch in SETTINGS
        for p in PROXIES
        if (a, p, label) not in have
    ]
    print(f"sweep: {len(have)} values cached, {len(todo)} to compute", flush=True)
    start = time.time()
    for i, (a, p, label, scale, batch) in enumerate(todo, 1):
        spec = archs[a]
        settings = replace(
            gt.SCORE_SETTINGS, score=p, batch_size=batch, resolution=None, resolution_scale=scale, device=device
        )
        model = seeded_build(spec.net, settings.seed)
        t0 = time.perf_counter()
        try:
            value = compute_score(model, settings, spec.resolution)
        except Exception as exc:  # recorded as missing
            print(f"  {a} {p} {label}: {type(exc).__name__}: {exc}", flush=True)
            value = math.nan
        rows.append({"arch_id": a, "score": p, "setting": label, "value": value, "seconds": time.perf_counter() - t0})
        if i % 25 == 0 or i == len(todo):
            tmp = cache.with_suffix(".tmp")
            pd.DataFrame(rows).to_parquet(tmp, index=False)
            tmp.replace(cache)
            el = time.time() - start
            print(f"  [{i}/{len(todo)}] {el / 60:.1f} min, ~{el / i * (len(todo) - i) / 60:.0f} min left", flush=True)
    return pd.DataFrame(rows)


def short_train_values(
    arch: pd.DataFrame, cache: Path, archs: dict[str, gt.Arch], epochs: tuple[int, ...], device: str
) -> pd.DataFrame:
    """``short_train`` (the ground-truth recipe cut to ``e`` epochs, on all validation images) of every
    architecture at every ``e`` in ``epochs`` (cached after every value, resumable)."""
    cols = ["arch_id", "epochs", "value", "seconds"]
    done = pd.read_parquet(cache) if cache.exists() else pd.DataFrame(columns=cols)
    have = {(a, int(e)) for a, e in zip(done.arch_id, done.epochs, strict=True)}
    rows = done.to_dict("records")
    todo = [(a, e) for e in epochs for a in arch.arch_id if (a, e) not in have]
    print(f"short_train: {len(have)} values cached, {len(todo)} to compute", flush=True)
    start = time.time()
    for i, (a, e) in enumerate(todo, 1):
        spec = archs[a]
        settings = replace(gt.SCORE_SETTINGS, score="short_train", epochs=e, val_images=0, device=device)
        t0 = time.perf_counter()
        value = compute_score(None, settings, spec.resolution, net=spec.net)  # short_train builds its own
        rows.append({"arch_id": a, "epochs": e, "value": value, "seconds": time.perf_counter() - t0})
        tmp = cache.with_suffix(".tmp")
        pd.DataFrame(rows).to_parquet(tmp, index=False)
        tmp.replace(cache)
        el = time.time() - start
        print(
            f"  [{i}/{len(todo)}] {a} {e} epochs: {value:.4f}, ~{el / i * (len(todo) - i) / 60:.0f} min left",
            flush=True,
        )
    return pd.DataFrame(rows, columns=cols)


def _or(items: list[int]) -> str:
    """``1, 2 or 3``."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def short_train_table(arch: pd.DataFrame, values: pd.DataFrame, report: pd.DataFrame, n_boot: int) -> list[str]:
    """τ of ``short_train`` at each number of epochs, beside the best training-free score and the ceiling."""
    spaces = sorted(arch.space.unique())
    lines = [
        "| score | " + " | ".join(f"τ {s}" for s in spaces) + " | τ pooled | tercile τ | τ pooled vs seed 1 | "
        "s / candidate |",
        "|---|" + "---:|" * (len(spaces) + 4),
    ]
    for e in sorted(values.epochs.unique()):
        v = values[values.epochs == e].set_index("arch_id")
        a = arch.assign(_v=arch.arch_id.map(v.value)).dropna(subset=["_v"])
        rows = {r["space"]: r for r in ev.evaluate_score(a, "_v", n_boot=n_boot)}
        cells = [f"{fmt(rows[s]['tau'])} [{fmt(rows[s]['tau_lo'])}, {fmt(rows[s]['tau_hi'])}]" if s in rows else "–"
                 for s in spaces]  # fmt: skip
        pooled = rows["pooled"]
        tert = float(np.nanmean([rows[s]["tercile_tau"] for s in spaces if s in rows]))
        vs_one = ev.kendall(a._v, a.acc_seed1) if "acc_seed1" in a.columns else math.nan
        lines.append(
            f"| short_train, {e} epoch{'s' if e > 1 else ''} ({len(a)} archs) | "
            + " | ".join(cells)
            + f" | {fmt(pooled['tau'])} [{fmt(pooled['tau_lo'])}, {fmt(pooled['tau_hi'])}] | {fmt(tert)} | "
            f"{fmt(vs_one)} | {fmt(float(v.seconds.median()), 1)} |"
        )
    for name in ("predictor", "ceiling"):
        part = report[report.score == name].set_index("space")
        if part.empty:
            continue
        cells = [fmt(part.loc[s].tau) if s in part.index else "–" for s in spaces]
        tert = part.drop(index="pooled").tercile_tau.mean()
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fmt(part.loc['pooled'].tau)} | {fmt(tert)} | – | – |")
    return lines


def sweep_table(arch: pd.DataFrame, values: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    lines = [
        "| proxy | setting | mean τ within spaces | tercile τ | pooled τ | s / candidate |",
        "|---|---|---:|---:|---:|---:|",
    ]
    best: dict[str, str] = {}
    for p in PROXIES:
        scored = []
        for label, _, _ in SETTINGS:
            v = values[(values.score == p) & (values.setting == label)].set_index("arch_id")
            if v.empty:
                continue
            a = arch.assign(_v=arch.arch_id.map(v.value))
            taus = [ev.kendall(part._v, part.val_acc) for _, part in a.groupby("space")]
            within = float(np.nanmean(taus)) if taus else math.nan
            tert = ev.tercile_tau(a, "_v")
            pooled = ev.kendall(a._v, a.val_acc)
            sec = float(v.seconds.median())
            scored.append((label, within, tert, pooled, sec))
        if not scored:
            continue
        winner = max(scored, key=lambda r: (r[1] + r[2]) if math.isfinite(r[1] + r[2]) else -math.inf)
        best[p] = winner[0]
        for label, within, tert, pooled, sec in scored:
            mark = " **best**" if label == winner[0] else ""
            lines.append(f"| {p} | {label}{mark} | {fmt(within)} | {fmt(tert)} | {fmt(pooled)} | {fmt(sec, 3)} |")
    return lines, best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gt", default=str(HERE / "results" / "ground_truth.parquet"))
    p.add_argument("--out", default=str(HERE / "results" / "scores.md"))
    p.add_argument("--cache", default=str(HERE / "results" / "score_settings.parquet"))
    p.add_argument("--no-sweep", action="store_true", help="skip the resolution / batch sweep")
    p.add_argument("--write-predictor", action="store_true", help=f"refit and write {DEFAULT_PATH.name}")
    p.add_argument("--predictor-out", default=str(DEFAULT_PATH))
    p.add_argument("--device", default="cpu", help="device of the sweep's scores (timings are per device)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the sweep (timings use these)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    p.add_argument(
        "--short-epochs",
        default="1,2,3",
        help="epochs of the short_train rows, comma list ('' skips them; values cached in --short-cache)",
    )
    p.add_argument("--short-cache", default=str(HERE / "results" / "score_short_train.parquet"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import warnings

    warnings.filterwarnings("ignore", message=".*torch.jit.script.*")

    df = gt.load(args.gt)
    if df.empty:
        raise SystemExit(f"no ground truth in {args.gt}; run python benchmarks/ground_truth.py first")
    arch = gt.per_architecture(df)
    scores = [s for s in gt.SCORE_NAMES if f"score_{s}" in arch.columns]
    report, chosen = ev.scores_report(arch, scores, n_boot=args.bootstrap)
    seconds = ev.seconds_per_candidate(df, scores, chosen)
    settings = gt.SCORE_SETTINGS
    lines = [
        "# Scores against the ground truth",
        "",
        f"Ground truth: `{Path(args.gt).name}`, {len(arch)} architectures "
        f"({', '.join(f'{s}: {n}' for s, n in arch.space.value_counts().sort_index().items())}), "
        f"{len(df)} trained runs. Recipe: {gt.RECIPE.describe()}.",
        f"Scores computed at {settings.batch_size} {settings.dataset} images, "
        f"{settings.resolution_scale:.3g} x the searched resolution, seed {settings.seed}; seconds per candidate "
        f"are medians on {processor()} with one thread. Intervals: bootstrap 95% ({args.bootstrap} resamples "
        "of the architectures). Tercile τ: mean τ inside each space's three MACs terciles. `predictor`: "
        "leave-one-space-out (fitted on the other spaces, measured on the one in the column; its pooled "
        "column gathers those held-out values).",
        "",
        ev.scores_markdown(report, seconds),
        "",
        "Features of the combined score chosen without the held-out space: "
        + "; ".join(f"{s}: {', '.join(fs) or '–'}" for s, fs in chosen.items())
        + ".",
        "",
    ]
    verdict = beats(report)
    lines += ["## Does the combined score beat every single score?", "", *verdict, ""]
    if not args.no_sweep:
        archs = {a.arch_id: a for a in gt.architectures(arch)}
        values = sweep(arch, df, Path(args.cache), archs, args.device)
        table, best = sweep_table(arch, values)
        lines += [
            "## Scoring resolution and batch size",
            "",
            f"Each proxy at {len(SETTINGS)} settings; the best by mean within-space τ + tercile τ is marked.",
            "",
            *table,
            "",
        ]
    if args.short_epochs:
        archs = {a.arch_id: a for a in gt.architectures(arch)}
        epochs = tuple(int(e) for e in args.short_epochs.split(","))
        values = short_train_values(arch, Path(args.short_cache), archs, epochs, args.device)
        lines += [
            "## Short training: the ground-truth recipe cut short",
            "",
            "`short_train` trains each architecture with the ground-truth recipe cut to "
            + _or(sorted(int(e) for e in values.epochs.unique()))
            + " epochs (its initial weights from a seed no ground-truth run uses) and measures its accuracy on "
            "the 4,500 validation images. τ against the mean accuracy over the two ground-truth seeds, with "
            "bootstrap 95% intervals; `τ pooled vs seed 1`: against one training run alone. `predictor` is the "
            "leave-one-space-out combined score of the first table, `ceiling` the agreement of two "
            "ground-truth seeds. Seconds per "
            f"candidate: medians on {processor()} with one thread (training included), measured while other "
            "work shared the machine's cores: upper bounds, not comparable between rows.",
            "",
            *short_train_table(arch, values, report, args.bootstrap),
            "",
        ]
    if args.write_predictor:
        feats = ev.select_features(arch, scores)
        pred = fit(
            arch,
            feats,
            settings={
                "dataset": settings.dataset,
                "batch_size": settings.batch_size,
                "resolution": settings.resolution,
                "resolution_scale": settings.resolution_scale,
            },
            meta={
                "fitted_on": f"{Path(args.gt).name}: {len(arch)} architectures of {sorted(arch.space.unique())}",
                "target": "mean val_acc over training seeds",
                "recipe": gt.RECIPE.describe(),
                "method": "pairwise logistic ranking within spaces, features chosen by leave-one-space-out",
            },
        )
        pred.save(args.predictor_out)
        lines += [f"Predictor written to `{args.predictor_out}`: features {list(pred.features)}.", ""]
    lines.append(
        f"Machine: {processor()}, {os.cpu_count()} cores. Command: `python benchmarks/bench_scores.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`."
    )
    save("\n".join(lines) + "\n", args.out)
    print(json.dumps({"chosen": chosen}))
    return 0


def beats(report: pd.DataFrame) -> list[str]:
    """For each held-out space: the combined score's τ and tercile τ against the best single score."""
    lines = ["| held-out space | predictor τ | best single τ (score) | predictor tercile τ | best single tercile τ |"]
    lines.append("|---|---:|---:|---:|---:|")
    singles = report[~report.score.isin(["predictor", "ceiling"])]
    for space in sorted(s for s in report.space.unique() if s != "pooled"):
        pr = report[(report.score == "predictor") & (report.space == space)]
        if pr.empty:
            continue
        part = singles[singles.space == space]
        bt = part.loc[part.tau.idxmax()]
        bq = part.loc[part.tercile_tau.idxmax()]
        lines.append(
            f"| {space} | {fmt(pr.tau.iloc[0])} | {fmt(bt.tau)} ({bt.score}) | {fmt(pr.tercile_tau.iloc[0])} | "
            f"{fmt(bq.tercile_tau)} ({bq.score}) |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
