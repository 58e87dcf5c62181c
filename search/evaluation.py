"""How well a score ranks architectures like trained accuracy does.

Everything here works on the per-architecture view of the ground truth
(:func:`search.ground_truth.per_architecture`: one row per architecture with its mean ``val_acc``,
``macs``, ``space`` and ``score_<name>`` columns) and is shared by ``benchmarks/bench_scores.py``
and the README's generated scores table.

- Kendall τ and Spearman ρ of a score against mean ``val_acc``, per space and pooled, with a
  bootstrap 95% interval (architectures resampled with replacement);
- τ within MACs terciles: each space's architectures split into three equal-count groups by MACs and
  τ taken inside each group, then averaged over the groups (what a Pareto front needs: among networks
  of similar cost, does the score pick the better one?);
- the seed ceiling: the same statistics between the two training seeds' accuracies.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"space": ["a"] * 6, "macs": [1, 2, 3, 4, 5, 6],
    ...                    "val_acc": [.1, .2, .3, .4, .5, .6], "score_x": [1, 2, 3, 4, 5, 6]})
    >>> round(kendall(df.score_x, df.val_acc), 3)
    1.0
    >>> round(tercile_tau(df, "score_x"), 3)
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

Stat = Callable[[np.ndarray, np.ndarray], float]


def _clean(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (as ``scipy.stats.rankdata``)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    edges = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1], True])
    ranks = np.empty(len(x))
    ranks[order] = np.repeat((edges[:-1] + edges[1:] + 1) / 2, np.diff(edges))
    return ranks


def kendall(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's τ-b over the pairs where both values are finite; ``nan`` with fewer than 3 such.

    Computed over all pairs with NumPy (the value of ``scipy.stats.kendalltau``, without its per-call
    cost, which dominated the bootstrap)."""
    x, y = _clean(a, b)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    upper = np.triu_indices(len(x), 1)
    dx = np.sign(x[:, None] - x[None, :])[upper]
    dy = np.sign(y[:, None] - y[None, :])[upper]
    return float((dx * dy).sum() / math.sqrt(float(np.count_nonzero(dx)) * float(np.count_nonzero(dy))))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's ρ over the pairs where both values are finite; ``nan`` with fewer than 3 such
    (the Pearson correlation of the average ranks, as ``scipy.stats.spearmanr``)."""
    x, y = _clean(a, b)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum())))


def bootstrap(
    a: Sequence[float], b: Sequence[float], stat: Stat, *, n: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of ``stat(a, b)`` over ``n`` resamples of the pairs (seeded)."""
    x, y = _clean(a, b)
    if len(x) < 3:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        idx = rng.integers(0, len(x), len(x))
        v = stat(x[idx], y[idx])
        if math.isfinite(v):
            values.append(v)
    if not values:
        return math.nan, math.nan
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def terciles(macs: Sequence[float]) -> np.ndarray:
    """Group 0, 1 or 2 of each architecture: equal-count thirds by MACs (ties broken by order)."""
    order = np.argsort(np.asarray(macs, dtype=float), kind="stable")
    groups = np.empty(len(order), dtype=int)
    for g, part in enumerate(np.array_split(order, 3)):
        groups[part] = g
    return groups


def tercile_tau(df: pd.DataFrame, column: str, target: str = "val_acc", by: str = "space") -> float:
    """Mean Kendall τ of ``column`` against ``target`` inside each MACs tercile of each ``by`` group."""
    values = []
    for _, part in df.groupby(by, sort=False):
        groups = terciles(part["macs"].to_numpy())
        for g in range(3):
            sub = part[groups == g]
            v = kendall(sub[column], sub[target])
            if math.isfinite(v):
                values.append(v)
    return float(np.mean(values)) if values else math.nan


def evaluate_score(arch: pd.DataFrame, column: str, *, n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """One row per space and one ``pooled`` row: τ, ρ (with bootstrap 95% intervals) and tercile τ of
    ``column`` against the mean ``val_acc``."""
    rows = []
    parts = [(s, arch[arch.space == s]) for s in sorted(arch.space.unique())] + [("pooled", arch)]
    for label, part in parts:
        tau_lo, tau_hi = bootstrap(part[column], part.val_acc, kendall, n=n_boot, seed=seed)
        rho_lo, rho_hi = bootstrap(part[column], part.val_acc, spearman, n=n_boot, seed=seed)
        rows.append(
            {
                "space": label,
                "n": int(np.isfinite(part[column].to_numpy(dtype=float)).sum()),
                "tau": kendall(part[column], part.val_acc),
                "tau_lo": tau_lo,
                "tau_hi": tau_hi,
                "rho": spearman(part[column], part.val_acc),
                "rho_lo": rho_lo,
                "rho_hi": rho_hi,
                "tercile_tau": tercile_tau(part, column),
            }
        )
    return rows


def ceiling(arch: pd.DataFrame, seeds: tuple[int, int] = (0, 1)) -> list[dict[str, Any]]:
    """The seed-to-seed agreement per space and pooled: τ, ρ and tercile τ between the accuracies of
    two training seeds (the best agreement any score can expect)."""
    a, b = (f"acc_seed{s}" for s in seeds)
    if a not in arch or b not in arch:
        return []
    both = arch.dropna(subset=[a, b])
    rows = []
    parts = [(s, both[both.space == s]) for s in sorted(both.space.unique())] + [("pooled", both)]
    for label, part in parts:
        rows.append(
            {
                "space": label,
                "n": len(part),
                "tau": kendall(part[a], part[b]),
                "rho": spearman(part[a], part[b]),
                "tercile_tau": tercile_tau(part.assign(_b=part[b]), a, target="_b"),
                "mean_abs_diff": float((part[a] - part[b]).abs().mean()) if len(part) else math.nan,
            }
        )
    return rows


# ------------------------------------------------------------------------------- combined score


def _objective(arch: pd.DataFrame, values: np.ndarray) -> float:
    """Mean of within-space τ and within-tercile τ (what a search inside one space needs)."""
    scored = arch.assign(_v=values)
    taus = [kendall(p["_v"], p.val_acc) for _, p in scored.groupby("space", sort=False)]
    taus = [t for t in taus if math.isfinite(t)]
    tert = tercile_tau(scored, "_v")
    if not taus or not math.isfinite(tert):
        return -math.inf
    return 0.5 * (float(np.mean(taus)) + tert)


def select_features(
    arch: pd.DataFrame, candidates: Sequence[str], *, max_features: int = 4, l2: float = 1.0
) -> list[str]:
    """Greedy forward selection of predictor features by leave-one-space-out agreement inside ``arch``
    (fit on all spaces but one, measure on that one, average); stops when no feature helps."""
    from .predictor import fit, predict

    spaces = sorted(arch.space.unique())
    chosen: list[str] = []
    best = -math.inf
    while len(chosen) < max_features:
        trial_best, trial_feature = best, None
        for f in candidates:
            if f in chosen:
                continue
            feats = [*chosen, f]
            values = []
            for held in spaces:
                train, test = arch[arch.space != held], arch[arch.space == held]
                pred = fit(train if len(spaces) > 1 else test, feats, l2=l2)
                values.append(_objective(test, predict(pred, test)))
            value = float(np.mean(values))
            if value > trial_best + 1e-9:
                trial_best, trial_feature = value, f
        if trial_feature is None:
            break
        chosen.append(trial_feature)
        best = trial_best
    return chosen


def leave_one_space_out(
    arch: pd.DataFrame, candidates: Sequence[str], *, max_features: int = 4, l2: float = 1.0
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The combined score evaluated on each space it was not fitted on.

    For every held-out space, features are selected and weights fitted on the other spaces only
    (the selection's own leave-one-out runs inside those), then the predictor scores the held-out
    space. Returns the held-out values (column ``score_predictor``, one per architecture, in the
    order of ``arch``) and the features chosen for each held-out space."""
    from .predictor import fit, predict

    out = pd.Series(np.nan, index=arch.index, dtype=float)
    chosen: dict[str, list[str]] = {}
    for held in sorted(arch.space.unique()):
        train, test = arch[arch.space != held], arch[arch.space == held]
        feats = select_features(train, candidates, max_features=max_features, l2=l2)
        chosen[held] = feats
        if feats:  # none when the other spaces cannot rank anything yet (too few architectures)
            out[test.index] = predict(fit(train, feats, l2=l2), test)
    return arch.assign(score_predictor=out), chosen


def scores_report(
    arch: pd.DataFrame, scores: Sequence[str], *, n_boot: int = 1000, predictor: bool = True
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Every score's agreement with trained accuracy (:func:`evaluate_score`), one row per (score,
    space), plus the leave-one-space-out combined score (``predictor``) and the seed ceiling
    (``ceiling``). Returns the table and the features chosen for each held-out space."""
    rows: list[dict[str, Any]] = []
    chosen: dict[str, list[str]] = {}
    if predictor:
        proxies = [s for s in scores if f"score_{s}" in arch.columns]
        arch, chosen = leave_one_space_out(arch, proxies)
        scores = [*scores, "predictor"]
    for s in scores:
        if f"score_{s}" not in arch.columns:
            continue
        for r in evaluate_score(arch, f"score_{s}", n_boot=n_boot):
            rows.append({"score": s, **r})
    for r in ceiling(arch):
        rows.append({"score": "ceiling", **r})
    return pd.DataFrame(rows), chosen


# ------------------------------------------------------------------------------ tables


def fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def scores_markdown(report: pd.DataFrame, seconds: dict[str, float] | None = None) -> str:
    """The table of :func:`scores_report`: τ per space with its 95% interval, pooled ρ, mean tercile τ
    over the spaces and seconds per candidate."""
    seconds = seconds or {}
    spaces = [s for s in report.space.unique() if s != "pooled"] + ["pooled"]
    head = "| score | " + " | ".join(f"τ {s}" for s in spaces) + " | ρ pooled | tercile τ | s / candidate |"
    lines = [head, "|---|" + "---:|" * (len(spaces) + 3)]
    for score, part in report.groupby("score", sort=False):
        by = part.set_index("space")
        cells = []
        for s in spaces:
            if s not in by.index:
                cells.append("–")
                continue
            r = by.loc[s]
            cells.append(fmt(r.tau) if score == "ceiling" else f"{fmt(r.tau)} [{fmt(r.tau_lo)}, {fmt(r.tau_hi)}]")
        pooled = by.loc["pooled"]
        within = by.drop(index="pooled").tercile_tau.mean() if len(by) > 1 else pooled.tercile_tau
        sec = seconds.get(str(score), math.nan)
        lines.append(f"| {score} | " + " | ".join(cells) + f" | {fmt(pooled.rho)} | {fmt(within)} | {fmt(sec, 3)} |")
    return "\n".join(lines)


def ground_truth_markdown(path: str | Any, *, n_boot: int = 1000) -> str:
    """README's scores table: every score of the ground truth at ``path`` against its accuracies."""
    from . import ground_truth as gt

    runs = gt.load(path)
    if runs.empty:
        return "(no ground truth yet: run python benchmarks/ground_truth.py)"
    arch = gt.per_architecture(runs)
    scores = [s for s in gt.SCORE_NAMES if f"score_{s}" in arch.columns]
    report, chosen = scores_report(arch, scores, n_boot=n_boot)
    return scores_markdown(report, seconds_per_candidate(runs, scores, chosen))


def seconds_per_candidate(
    runs: pd.DataFrame, scores: Sequence[str], chosen: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Median seconds per candidate of each score in ``runs`` (``seconds_<name>`` columns); the
    combined score costs the sum of every feature its held-out fits chose."""
    seconds = {s: float(runs[f"seconds_{s}"].median()) for s in scores if f"seconds_{s}" in runs.columns}
    features = sorted({f for fs in chosen.values() for f in fs})
    seconds["predictor"] = sum(seconds.get(f, 0.0) for f in features)
    return seconds
