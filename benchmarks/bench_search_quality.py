"""Does the search find networks that train better? Trained accuracy of each arm at one budget.

For each space (``emo`` and ``mobilenet`` by default) at a MACs budget near the middle of the space's
range (the median MACs of 200 random candidates, rounded to 10M) and for each seed:

(a) ``search``: ``metablock search`` with its default score and sampler, ``--trials`` scored trials,
    then ``--refine`` K: the K most promising candidates trained with the ground-truth recipe;
(b) ``random``: the same with Optuna's random sampler (the same number of scored feasible
    candidates, the same K trained, chosen by the same rule: front first, by the same score);
(c) ``named``: every named network of the space under the budget (if none fits, the smallest one
    scaled down by ``width_mult`` until it does), trained with the same recipe and seed;
(d) ``search_score``: the same search with ``--objectives score``, a single objective under the same
    MACs budget, so its trials are not spread along the cost axis;
(e) ``search_short`` and ``random_short``: (a) and (b) scored with ``--score short_train`` (the
    ground-truth recipe cut to ``SHORT_ARM_EPOCHS`` = 3 epochs) instead of the main job's training-free score;
(f) ``search_score_short``: (d) scored with ``--score short_train``: a score that ranks like the
    ground truth, and trials not spread along the cost axis (``--arms`` picks the arms).

Refinement stops no candidate before ``--refine-min-epochs`` (default: ``metablock search``'s, 3 epochs).
Each row records that first rung (``first_rung``) and the short-training epochs of its score
(``short_epochs``); the tables and the figure show the rows of the run's own setting and the named
networks (which nothing refines). Rows measured with a first rung of 1 epoch (and, in the ``_short`` arms,
2 epochs of short training) stay in the file; ``--refine-min-epochs 1`` shows those of the other arms.

Every search arm runs without the named networks as baselines. Each arm reports its best trained
accuracy under the budget, the hypervolume of (trained accuracy up, MACs down) against the
reference point (budget, accuracy 0.5), and its wall time. Rows go to ``--out`` (a Parquet file,
written after every arm: the run resumes where it stopped) and a Markdown table beside it.

Usage:
    python benchmarks/bench_search_quality.py                             # 2 spaces x 3 seeds
    python benchmarks/bench_search_quality.py --spaces emo --seeds 0 --trials 20 --refine 3   # a taste
    python benchmarks/bench_search_quality.py --arms search,random    # two arms only
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import processor, save  # noqa: E402
from bench_search import main_job_settings  # noqa: E402

import metablock  # noqa: E402
from search import get_space  # noqa: E402
from search import ground_truth as gt  # noqa: E402
from search.driver import SearchSettings, run_search  # noqa: E402
from search.results import results  # noqa: E402
from search.scores import ScoreSettings  # noqa: E402
from search.training import train_network  # noqa: E402

REF_ACC = 0.5
#: ``short_train`` epochs of the ``_short`` arms: the score's default, the best measured
SHORT_ARM_EPOCHS = ScoreSettings().epochs
#: what the rows stored before the two settings were recorded were measured with
LEGACY_RUNG, LEGACY_SHORT_EPOCHS = 1, 2
#: the search arms: arm -> (sampler, objectives, the folder and study suffix of its runs, the score:
#: ``None`` = the main job's)
SEARCH_ARMS: dict[str, tuple[str, tuple[str, ...], str, str | None]] = {
    "search": ("tpe", ("score", "macs"), "tpe", None),
    "random": ("random", ("score", "macs"), "random", None),
    "search_score": ("tpe", ("score",), "tpe-score", None),
    "search_short": ("tpe", ("score", "macs"), "tpe-short", "short_train"),
    "random_short": ("random", ("score", "macs"), "random-short", "short_train"),
    "search_score_short": ("tpe", ("score",), "tpe-score-short", "short_train"),
}


def is_short(arm: str) -> bool:
    return arm in SEARCH_ARMS and SEARCH_ARMS[arm][3] == "short_train"


def run_tag(arm: str, rung: int) -> str:
    """The folder and study suffix of a search arm's runs at first rung ``rung`` (the names of the
    runs stored before the setting existed stay as they were)."""
    tag = SEARCH_ARMS[arm][2]
    if rung != LEGACY_RUNG:
        tag += f"-r{rung}"
    if is_short(arm) and SHORT_ARM_EPOCHS != LEGACY_SHORT_EPOCHS:
        tag += f"-e{SHORT_ARM_EPOCHS}"
    return tag


def with_settings(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``first_rung`` and ``short_epochs`` filled in for rows stored before they were recorded."""
    df = df.copy()
    search = df.arm.isin(list(SEARCH_ARMS))
    short = df.arm.map(is_short).astype(bool)
    if "first_rung" not in df:
        df["first_rung"] = np.where(search, LEGACY_RUNG, np.nan)
    if "short_epochs" not in df:
        df["short_epochs"] = np.where(short, LEGACY_SHORT_EPOCHS, np.nan)
    return df


def current(df: pd.DataFrame, rung: int) -> pd.DataFrame:
    """The rows measured with first rung ``rung`` (and today's short-training epochs), and the named
    networks."""
    df = with_settings(df)
    short = df.arm.map(is_short).astype(bool)
    keep = (df.arm == "named") | ((df.first_rung == rung) & (~short | (df.short_epochs == SHORT_ARM_EPOCHS)))
    return df[keep]


def middle_budget(space_name: str, n: int = 200) -> float:
    space = get_space(space_name)
    macs = [metablock.network_costs(space.random(10_000 + i).net).macs for i in range(n)]
    return float(round(np.median(macs) / 1e7) * 1e7)


def hypervolume(points: list[tuple[float, float]], budget: float, ref_acc: float = REF_ACC) -> float:
    """Area (in MMACs x accuracy) dominated by ``(macs, acc)`` points against ``(budget, ref_acc)``."""
    pts = sorted((m, a) for m, a in points if m <= budget and a > ref_acc and math.isfinite(a))
    area, best = 0.0, ref_acc
    # sweep from the cheapest: each point raises the best accuracy reachable at or above its cost
    edges = [m for m, _ in pts] + [budget]
    for i, (m, a) in enumerate(pts):
        best = max(best, a)
        area += (edges[i + 1] - m) / 1e6 * (best - ref_acc)
    return area


def recipe(args: argparse.Namespace) -> Any:
    """The ground-truth recipe, with ``--epochs`` when given (a quick taste, not the benchmark)."""
    epochs = getattr(args, "epochs", None)
    return gt.RECIPE if epochs is None else replace(gt.RECIPE, epochs=epochs)


def search_arm(space: str, seed: int, arm: str, args: argparse.Namespace, budget: float) -> list[dict[str, Any]]:
    sampler, objectives, _, score = SEARCH_ARMS[arm]
    suffix = run_tag(arm, args.refine_min_epochs)
    out = Path(args.work) / f"{space}-{seed}-{suffix}"
    settings = main_job_settings(
        objectives=objectives,
        space=space,
        trials=args.trials,
        max_macs=budget,
        seed=seed,
        sampler=sampler,
        refine=args.refine,
        out=str(out),
        storage=str(out / "study.journal"),
        baselines=False,
        study=f"quality-{space}-{seed}-{suffix}",
        refine_recipe=recipe(args),
        refine_min_epochs=args.refine_min_epochs,
    )
    scoring = settings.score if score is None else replace(settings.score, score=score, epochs=SHORT_ARM_EPOCHS)
    settings = replace(settings, score=replace(scoring, device=args.device))
    t0 = time.perf_counter()
    study = run_search(settings)
    wall = time.perf_counter() - t0
    df = results(study)
    refined = df[df["refine_state"].notna()]
    return [
        {
            "arm": arm,
            "number": int(r["number"]),
            "macs": float(r["macs"]),
            "params": float(r["params"]),
            "score": float(r["score"]),
            "trained_acc": float(r["trained_acc"]),
            "state": r["refine_state"],
            "draws": len(df),
            "wall_s": wall,
            "first_rung": args.refine_min_epochs,
            "short_epochs": SHORT_ARM_EPOCHS if is_short(arm) else math.nan,
        }
        for _, r in refined.iterrows()
    ]


def named_arm(space: str, seed: int, args: argparse.Namespace, budget: float) -> list[dict[str, Any]]:
    models = get_space(space).contains_models
    nets = [metablock.model_config(m) for m in models]
    fits = [(m, n) for m, n in zip(models, nets, strict=True) if metablock.network_costs(n).macs <= budget]
    if not fits:  # scale the smallest down until it fits
        name, net = min(zip(models, nets, strict=True), key=lambda p: metablock.network_costs(p[1]).macs)
        mult = 1.0
        while metablock.network_costs(net).macs > budget and mult > 0.1:
            mult = round(mult - 0.05, 2)
            net = net.replace(width_mult=mult)
        fits = [(f"{name} x{mult:g}", net)]
    rows = []
    t0 = time.perf_counter()
    for name, net in fits:
        result = train_network(net, recipe(args), seed=seed, input_resolution=net.resolution, device=args.device)
        c = metablock.network_costs(net)
        rows.append(
            {"arm": "named", "name": name, "macs": float(c.macs), "params": float(c.params),
             "trained_acc": result.val_acc, "state": "complete"}
        )  # fmt: skip
    for r in rows:
        r["wall_s"] = time.perf_counter() - t0
    return rows


def run_unit(unit: tuple[str, int, str, float], args: argparse.Namespace) -> list[dict[str, Any]]:
    """One arm of one space and seed: its rows, each tagged with the space, seed and budget."""
    space, seed, arm, budget = unit
    rows = named_arm(space, seed, args, budget) if arm == "named" else search_arm(space, seed, arm, args, budget)
    for r in rows:
        r.update(space=space, seed=seed, budget=budget)
    best = max((r["trained_acc"] for r in rows if r["state"] == "complete"), default=math.nan)
    print(f"{space} seed {seed} {arm}: best trained acc {best:.4f}", flush=True)
    return rows


def store(df: pd.DataFrame, rows: list[dict[str, Any]], out: Path) -> pd.DataFrame:
    """Add an arm's rows and rewrite the results file atomically (the run resumes from it)."""
    df = pd.concat([df, pd.DataFrame(rows)], ignore_index=True)
    df.to_parquet(out.with_suffix(".tmp"), index=False)
    out.with_suffix(".tmp").replace(out)
    return df


def per_seed(df: pd.DataFrame, budgets: dict[str, float]) -> pd.DataFrame:
    """One row per (space, arm, seed): best and mean trained accuracy under the budget (of the candidates
    trained to the end), hypervolume, wall time."""
    rows = []
    for (space, arm, seed), g in df.groupby(["space", "arm", "seed"], sort=True):
        budget = budgets.get(space, float(g.budget.iloc[0]))
        done = g[g.state == "complete"]
        rows.append(
            {"space": space, "arm": arm, "seed": int(seed), "budget": budget,
             "best": float(done.trained_acc.max()) if len(done) else math.nan,
             "mean": float(done.trained_acc.mean()) if len(done) else math.nan,
             "hv": hypervolume(list(zip(done.macs, done.trained_acc, strict=True)), budget),
             "wall_s": float(g.wall_s.max())}
        )  # fmt: skip
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame, budgets: dict[str, float]) -> str:
    lines = [
        "| space | budget | arm | best trained acc (mean ± sd over seeds) | trained acc of its candidates (mean) "
        "| hypervolume (mean ± sd) | wall s (mean) | seeds |",
        "|---|---:|---|---|---:|---|---:|---:|",
    ]
    seeds = per_seed(df, budgets)
    for space in sorted(seeds.space.unique()):
        for arm in ARMS:
            a = seeds[(seeds.space == space) & (seeds.arm == arm)]
            if a.empty:
                continue
            lines.append(
                f"| {space} | {a.budget.iloc[0] / 1e6:.0f}M | {arm} | {np.nanmean(a.best):.4f} ± "
                f"{np.nanstd(a.best):.4f} | {np.nanmean(a['mean']):.4f} | {a.hv.mean():.2f} ± "
                f"{a.hv.std(ddof=0):.2f} | {a.wall_s.mean():.0f} | {len(a)} |"
            )
    return "\n".join(lines)


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of the mean (``nan`` bounds below two values)."""
    from scipy.stats import t

    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = float(t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def paired(df: pd.DataFrame, budgets: dict[str, float]) -> str:
    """Each search arm against random search and the named networks, seed by seed (same space,
    budget, seed and recipe), on best and mean trained accuracy and on hypervolume: the mean difference
    with its 95% interval over seeds, and in how many seeds the search arm is ahead."""
    seeds = per_seed(df, budgets)
    lines = [
        "| space | arm | minus | Δ best trained acc (mean [95% interval]) | ahead | "
        "Δ mean trained acc (mean [95% interval]) | ahead | Δ hypervolume (mean [95% interval]) | ahead | seeds |",
        "|---|---|---|---|---:|---|---:|---|---:|---:|",
    ]
    # every searching arm against random search (with its own score first, where that differs) and the named networks
    rivals = {arm: ("random_short",) * is_short(arm) + ("random", "named")
              for arm, (sampler, *_) in SEARCH_ARMS.items() if sampler != "random"}  # fmt: skip
    for space, arm in [(sp, a) for sp in sorted(seeds.space.unique()) for a in rivals]:
        s = seeds[(seeds.space == space) & (seeds.arm == arm)].set_index("seed")
        if s.empty:
            continue
        for other in rivals[arm]:
            o = seeds[(seeds.space == space) & (seeds.arm == other)].set_index("seed")
            common = s.index.intersection(o.index)
            if common.empty:
                continue
            cells = []
            for col, fmt in (("best", "+.4f"), ("mean", "+.4f"), ("hv", "+.1f")):
                d = (s.loc[common, col] - o.loc[common, col]).to_numpy(dtype=float)
                mean, lo, hi = mean_interval(d)
                interval = f" [{lo:{fmt}}, {hi:{fmt}}]" if math.isfinite(lo) else ""
                cells += [f"{mean:{fmt}}{interval}", f"{int((d > 0).sum())} of {len(d)}"]
            lines.append(f"| {space} | {arm} | {other} | {' | '.join(cells)} | {len(common)} |")
    return "\n".join(lines)


def proxy_stage(df: pd.DataFrame, work: Path, rung: int) -> str:
    """What each search arm's proxy stage found before any training, read from its stored study: the
    best and top-5 mean score, the median MACs of its scored candidates against the budget, and the
    share of them at the space's largest input resolution (mean over the seeds whose study is kept)."""
    import optuna

    from search.driver import make_storage

    rows = []
    for (space, seed, arm), g in df[df.arm.isin(list(SEARCH_ARMS))].groupby(["space", "seed", "arm"]):
        suffix = run_tag(arm, rung)
        path = work / f"{space}-{int(seed)}-{suffix}" / "study.journal"
        if not path.exists():
            continue
        study = optuna.load_study(study_name=f"quality-{space}-{int(seed)}-{suffix}", storage=make_storage(str(path)))
        res = results(study)
        ok = res[(res.state == "complete") & res.feasible.fillna(False).astype(bool) & res.score.notna()]
        top = ok.score.nlargest(5)
        largest = max(get_space(space).resolutions)
        rows.append(
            {"space": space, "arm": arm, "best": ok.score.max(), "top5": top.mean(),
             "macs": ok.macs.median() / float(g.budget.iloc[0]), "largest": (ok.resolution == largest).mean(),
             "px": largest}
        )  # fmt: skip
    if not rows:
        return ""
    table = pd.DataFrame(rows)
    lines = [
        "| space | arm | best proxy score | top-5 mean proxy score | median MACs / budget | at the largest resolution "
        "| seeds |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    order = {a: i for i, a in enumerate(ARMS)}
    for (space, arm), g in sorted(table.groupby(["space", "arm"]), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        lines.append(
            f"| {space} | {arm} | {g.best.mean():.3f} ± {g.best.std(ddof=0):.3f} | {g.top5.mean():.3f} | "
            f"{g.macs.mean():.2f} | {g.largest.mean():.0%} ({int(g.px.iloc[0])} px) | {len(g)} |"
        )
    return "\n".join(lines)


def refined_agreement(df: pd.DataFrame) -> str:
    """Kendall τ between the score and the trained accuracy of the candidates the search arms trained
    to the end, per space and score (seeds and the arms of one score pooled)."""
    from search.ground_truth import kendall_tau

    parts = []
    done = df[df.arm.isin(list(SEARCH_ARMS)) & (df.state == "complete")]
    scores = done.arm.map(lambda a: SEARCH_ARMS[a][3] or "main job's score")
    for (space, score), g in done.groupby([done.space, scores]):
        tau = kendall_tau(g.score.to_numpy(), g.trained_acc.to_numpy())
        parts.append(f"{space}, {score}: τ {tau:+.2f} ({len(g)} candidates)")
    return "; ".join(parts)


ARMS = {  # arm: (label, colour, marker)
    "search": ("search (default score, refined)", "tab:blue", "o"),
    "search_score": ("search, score only (refined)", "tab:green", "D"),
    "random": ("random search (refined)", "tab:gray", "^"),
    "search_short": ("search, short_train score (refined)", "tab:red", "P"),
    "random_short": ("random search, short_train score (refined)", "tab:purple", "v"),
    "search_score_short": ("search, score only, short_train score (refined)", "tab:brown", "X"),
    "named": ("named networks", "tab:orange", "s"),
}


def figure(df: pd.DataFrame, budgets: dict[str, float], path: Path) -> None:
    """Trained accuracy against MACs, one panel per space: every trained candidate of every seed,
    each arm's best per seed ringed, the budget as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spaces = [s for s in budgets if (df.space == s).any()]
    fig, axes = plt.subplots(1, max(1, len(spaces)), figsize=(5.2 * max(1, len(spaces)), 4.2), squeeze=False)
    for ax, space in zip(axes[0], spaces, strict=False):
        part = df[(df.space == space) & (df.state == "complete")]
        ax.set_ymargin(0.12)  # room below the lowest point for the named networks' labels
        for arm, (label, colour, marker) in ARMS.items():
            a = part[part.arm == arm]
            if a.empty:
                continue
            ax.scatter(a.macs / 1e6, a.trained_acc, c=colour, marker=marker, s=28, alpha=0.55, label=label)
            best = a.loc[a.groupby("seed").trained_acc.idxmax()]
            ax.scatter(best.macs / 1e6, best.trained_acc, facecolors="none", edgecolors=colour, marker=marker,
                       s=110, linewidths=1.6)  # fmt: skip
            if arm == "named":  # each name under its column, in the margin below every point
                for name, g in a.groupby("name"):
                    ax.text(g.macs.iloc[0] / 1e6, 0.012, str(name), transform=ax.get_xaxis_transform(),
                            ha="center", va="bottom", fontsize=7, color=colour,
                            bbox={"fc": "white", "ec": "none", "pad": 0.5, "alpha": 0.8})  # fmt: skip
        ax.axvline(budgets[space] / 1e6, color="k", ls="--", lw=1)
        ax.text(budgets[space] / 1e6, ax.get_ylim()[1], "budget ", rotation=90, va="top", ha="right", fontsize=8)
        ax.set_xlim(0, budgets[space] / 1e6 * 1.08)
        counts = part.groupby("arm").seed.nunique()
        seeds = f"{counts.max()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
        ax.set_title(f"{space}: budget {budgets[space] / 1e6:.0f}M MACs, {seeds} seeds per arm")
        ax.set_xlabel("MACs (M)")
        ax.set_ylabel("trained accuracy (ground-truth recipe)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False,
               title="trained candidates of every seed; ringed: each seed's best", title_fontsize=8)  # fmt: skip
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spaces", default="emo,mobilenet")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--trials", type=int, default=60)
    p.add_argument("--refine", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=max(1, torch.get_num_threads()), help="torch threads per job")
    p.add_argument("--arms", default=",".join(ARMS), help="comma list of: " + ", ".join(ARMS))
    p.add_argument("--jobs", type=int, default=1, help="arm runs at once, each in its own process")
    p.add_argument("--max-macs", type=float, default=None, help="MACs budget (default: the middle of each space)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the ground-truth recipe's)")
    p.add_argument(
        "--refine-min-epochs",
        type=int,
        default=SearchSettings().refine_min_epochs,
        help="epochs before refinement may stop a candidate (default: metablock search's)",
    )
    p.add_argument("--work", default="runs/search_quality", help="folder of the arms' studies")
    p.add_argument("--out", default=str(HERE / "results" / "search_quality.parquet"))
    args = p.parse_args(argv)
    arms = [a for a in args.arms.split(",") if a]
    for a in arms:
        if a not in ARMS:
            raise SystemExit(f"--arms: unknown arm {a!r}; valid: {', '.join(ARMS)}")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    df = with_settings(pd.read_parquet(out)) if out.exists() else pd.DataFrame(columns=["space", "seed", "arm"])
    cur = current(df, args.refine_min_epochs)
    done = {(s, int(seed), a) for s, seed, a in zip(cur.space, cur.seed, cur.arm, strict=True)}
    budgets: dict[str, float] = {}
    for space in args.spaces.split(","):
        budgets[space] = args.max_macs or middle_budget(space)
        print(f"{space}: budget {budgets[space] / 1e6:.0f}M MACs", flush=True)
    # seed by seed, every space and arm of a seed before the next seed: a partial run compares the
    # arms on the same seeds in every space
    units = [
        (space, seed, arm, budgets[space])
        for seed in (int(s) for s in args.seeds.split(","))
        for space in budgets
        for arm in arms
        if (space, seed, arm) not in done
    ]
    print(f"{len(units)} arm runs to do ({len(done)} stored in {out})", flush=True)
    if args.jobs > 1 and len(units) > 1:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=torch.set_num_threads,
                                 initargs=(args.threads,)) as pool:  # fmt: skip
            futures = [pool.submit(run_unit, unit, args) for unit in units]
            for fut in as_completed(futures):
                df = store(df, fut.result(), out)
    else:
        for unit in units:
            df = store(df, run_unit(unit, args), out)
    settings = main_job_settings()
    df = current(df, args.refine_min_epochs)
    text = "\n".join(
        [
            "# Search quality on trained accuracy",
            "",
            f"Score: the main job's ({settings.score.score}); `short_train` ({SHORT_ARM_EPOCHS} epochs of the "
            f"recipe below) in the `_short` arms; {args.trials} scored trials, refine {args.refine}, no candidate "
            f"stopped before epoch {args.refine_min_epochs}; "
            f"recipe: {recipe(args).describe()}. Hypervolume in MMACs x accuracy above {REF_ACC}. "
            f"Machine: {processor()}, {os.cpu_count()} cores, device {args.device}. Command: "
            f"`python benchmarks/bench_search_quality.py {' '.join(argv if argv is not None else sys.argv[1:])}`.",
            "",
            summary(df, budgets),
            "",
            "## The search against each arm, seed by seed",
            "",
            "Differences on the same space, budget, seed and recipe; the interval is Student's t over seeds.",
            "",
            paired(df, budgets),
            "",
            "## What the proxy stage found (before any training)",
            "",
            f"Read from the arms' stored studies in `{args.work}`. Agreement of the proxy score with trained accuracy "
            f"among the candidates trained to the end: {refined_agreement(df)}.",
            "",
            proxy_stage(df, Path(args.work), args.refine_min_epochs),
        ]
    )
    save(text + "\n", out.with_suffix(".md"))
    figure(df, budgets, out.with_suffix(".png"))
    print(f"figure: {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
