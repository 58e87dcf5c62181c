"""Pictures of a study: the Pareto front, the named networks beside it, hypervolume over trials, which
choices the front prefers, and a table of the Pareto architectures.

Every function takes the DataFrame of :func:`search.results.results` (one row per trial) and returns a
matplotlib ``Figure`` or a pandas ``DataFrame``; nothing is shown or saved here (the Agg backend is used
when no backend was chosen, so the functions work headless). MACs are fvcore's count (one
multiply-add = one MAC) and are drawn in millions.

Example:
    >>> from search.results import results  # doctest: +SKIP
    >>> df = results("runs/search/study.journal")  # doctest: +SKIP
    >>> fig = plot_front(df, "macs", references=reference_points(df))  # doctest: +SKIP
    >>> fig.savefig("front.png")  # doctest: +SKIP
    >>> pareto_architectures(df)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from metablock import ConfigError

from .results import pareto_mask

AXES = {
    "macs": ("MACs (M, fvcore count)", 1e-6),
    "params": ("parameters (M)", 1e-6),
    "latency_ms": ("latency (ms, CPU, batch 1)", 1.0),
}
#: a cost's name in titles, and in budget labels
COST_NAMES = {"macs": "MACs", "latency_ms": "latency", "params": "parameters"}
BUDGET_NAMES = {"macs": "MACs", "latency_ms": "latency", "params": "params"}
CHOICES = {"depth": "depth", "width": "width", "op": "operator", "exp": "expansion λ", "kernel": "kernel"}
_BLOCK_LABEL = re.compile(r"^s(\d+)\.(?:b(\d+)\.)?(op|exp|kernel|depth|width)$")

FEASIBLE_COLOR = "tab:blue"
PARETO_COLOR = "tab:red"
GREY = "0.65"


def _figure(**kw: Any) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(**kw)
    return fig, fig.subplots()


def _study_name(df: pd.DataFrame) -> str:
    return str(df.attrs.get("study_name", "study"))


def _check_cost(name: str, value: str, df: pd.DataFrame | None = None) -> None:
    if value not in AXES:
        raise ConfigError(f"{name} must be one of {', '.join(AXES)}; got {name}={value!r}")
    if df is not None and value not in df.columns:
        raise ConfigError(f"{name}={value!r} is not a column of the results; columns: {list(df.columns)[:12]}...")


def _has(df: pd.DataFrame, column: str) -> bool:
    return column in df.columns and bool(pd.to_numeric(df[column], errors="coerce").notna().any())


def _numeric(df: pd.DataFrame, column: str) -> pd.Series:
    if column not in df.columns:
        return pd.Series(math.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[column], errors="coerce").astype(float)


def _feasible_scored(df: pd.DataFrame, cost: str) -> pd.Series:
    """Complete, feasible trials that have a score and the cost."""
    feasible = df["feasible"].map(lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else v == "true")
    return (df["state"] == "complete") & feasible & _numeric(df, "score").notna() & _numeric(df, cost).notna()


def front_mask(df: pd.DataFrame, cost: str = "macs") -> pd.Series:
    """Which trials are on the 2-D Pareto front of (score ↑, ``cost`` ↓) among feasible complete trials.

    With the study's default objectives (score, MACs) this equals the results' ``pareto`` column; for
    another cost (latency, params) it is the front in that plane.
    """
    _check_cost("cost", cost)
    ok = _feasible_scored(df, cost)
    mask = pd.Series(False, index=df.index)
    if ok.any():
        values = np.column_stack([_numeric(df, "score")[ok], _numeric(df, cost)[ok]]).tolist()
        mask[ok] = pareto_mask(values, ["maximize", "minimize"])
    return mask


# ------------------------------------------------------------------------------- reference points


def reference_points(
    df: pd.DataFrame,
    space: Any = None,
    settings: Mapping[str, Any] | None = None,
    *,
    compute: bool = True,
) -> pd.DataFrame:
    """The named networks of the space as points: name, score, macs, params, latency_ms, resolution, source.

    Named networks enqueued as baseline trials (the ``baseline`` column) are taken from the study
    (``source="study"``). With ``space`` (a ``SearchSpace``, its dict or name) and ``compute=True``,
    every network of ``space.contains_models`` that the study lacks or did not score (an over-budget
    baseline is never scored) is computed (``source="computed"``): params and MACs with
    :func:`metablock.costs.count_params`/:func:`~metablock.costs.count_macs` at the resolution the
    space gives it, and the score with the study's score settings (``settings`` is the study's
    ``user_attrs["settings"]``; without it no score can be computed). Notes on what was left out are
    in ``.attrs["notes"]``.
    """
    cols = ["name", "score", "macs", "params", "latency_ms", "resolution", "source"]
    rows: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    if "baseline" in df.columns:
        for _, row in df[df["baseline"].map(lambda v: isinstance(v, str) and v != "")].iterrows():
            rows[row["baseline"]] = {
                "name": row["baseline"],
                "score": _float(row.get("score")),
                "macs": _float(row.get("macs")),
                "params": _float(row.get("params")),
                "latency_ms": _float(row.get("latency_ms")),
                "resolution": row.get("resolution"),
                "source": "study",
            }
    if space is not None:
        from .space import get_space, without_unused

        # a space stored by a study (a dict) may carry fields refused as unused today
        space = get_space(without_unused(space) if isinstance(space, Mapping) else space)
        missing = [n for n in space.contains_models if n not in rows or math.isnan(rows[n]["score"])]
        if missing and not compute:
            notes.append(f"not computed (compute=False): {', '.join(missing)}")
        elif missing and settings is None:
            notes.append(f"no score settings to score {', '.join(missing)}; give the study's settings")
        elif missing:
            baselines = space.baselines()
            for name in missing:
                rows[name] = _compute_reference(name, space, baselines[name], settings or {}, rows.get(name))
    out = pd.DataFrame([rows[k] for k in rows], columns=cols)
    unscored = out[out["score"].isna()]["name"].tolist()
    if unscored:
        notes.append(f"named networks without a score (not drawn): {', '.join(unscored)}")
    out.attrs["notes"] = notes
    return out


def _float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _compute_reference(
    name: str, space: Any, params: Mapping[str, Any], settings: Mapping[str, Any], known: Mapping[str, Any] | None
) -> dict[str, Any]:
    from dataclasses import fields

    from metablock.costs import count_macs, count_params

    from .scores import ScoreSettings, compute_score, seeded_build

    cand = space.from_params(params)
    score_dict = dict(settings.get("score") or {})
    valid = {f.name for f in fields(ScoreSettings)}
    score_settings = ScoreSettings(**{k: v for k, v in score_dict.items() if k in valid})
    model = seeded_build(cand.net, int(settings.get("seed", 0)))
    known = known or {}
    macs = known.get("macs", math.nan)
    n_params = known.get("params", math.nan)
    if macs is None or math.isnan(macs):
        macs = float(count_macs(model, cand.input_size))
    if n_params is None or math.isnan(n_params):
        n_params = float(count_params(model))
    score = compute_score(model, score_settings, cand.resolution)
    return {
        "name": name,
        "score": float(score),
        "macs": float(macs),
        "params": float(n_params),
        "latency_ms": known.get("latency_ms", math.nan),
        "resolution": cand.resolution,
        "source": "computed" if not known else "study+computed score",
    }


# ------------------------------------------------------------------------------- front plots


def _renderer(fig: Any) -> Any:
    """The figure's renderer (an Agg canvas when it has none), after a draw so the layout is final."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _offsets() -> list[tuple[float, float, str, str]]:
    """Label offsets (points from the anchor) with their alignment, nearest first, in eight directions."""
    out = []
    for r in (6.0, 14.0, 24.0, 36.0, 50.0):
        for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)):
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
            out.append((dx * r, dy * r, ha, va))
    return out


def _marker_boxes(ax: Any) -> list[Any]:
    """Display boxes of every scatter marker of ``ax`` (labels should not cover data)."""
    from matplotlib.transforms import Bbox

    fig = ax.get_figure()
    boxes = []
    for coll in ax.collections:
        offsets = coll.get_offsets()
        if not len(offsets):
            continue
        pts = coll.get_offset_transform().transform(offsets)
        sizes = coll.get_sizes()
        for i, (px, py) in enumerate(pts):
            r = math.sqrt(float(sizes[i % len(sizes)]) if len(sizes) else 36.0) / 2 * fig.dpi / 72
            boxes.append(Bbox([[px - r, py - r], [px + r, py + r]]))
    return boxes


def place_labels(ax: Any, labels: Sequence[tuple[float, float, str, dict[str, Any]]]) -> list[Any]:
    """Annotate ``(x, y, text, style)`` points so that no two labels overlap and labels cover as few
    markers as they can: each label takes the nearest offset around its point whose box meets no label
    placed before it, no marker and stays inside the axes (else the offset that costs least, labels
    weighing most); a label set away from its point gets a thin leader line. Labels do not take part in
    the figure's layout."""
    fig = ax.get_figure()
    renderer = _renderer(fig)
    frame = ax.get_window_extent(renderer)
    markers = _marker_boxes(ax)
    placed: list[Any] = []
    boxes: list[Any] = []
    for x, y, text, style in labels:
        best, best_cost = None, math.inf
        for dx, dy, ha, va in _offsets():
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, **style)
            ann.set_in_layout(False)
            box = ann.get_window_extent(renderer)
            cost = 100 * sum(_overlap(box, b) for b in boxes) + sum(_overlap(box, m) for m in markers)
            cost += 100 * (box.width * box.height - _overlap(box, frame)) + 0.01 * math.hypot(dx, dy)
            if cost < best_cost:
                if best is not None:
                    best[0].remove()
                best, best_cost = (ann, box, dx, dy), cost
            else:
                ann.remove()
            if cost < 1:
                break
        assert best is not None
        ann, box, dx, dy = best
        if math.hypot(dx, dy) > 10:
            ann.remove()
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ann.get_ha(),
                              va=ann.get_va(), arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.6},
                              **style)  # fmt: skip
            ann.set_in_layout(False)
        placed.append(ann)
        boxes.append(box)
    return placed


def _overlap(a: Any, b: Any) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _over_which(df: pd.DataFrame) -> pd.Series:
    """For each trial, the budgets it exceeds (``macs``, ``latency``…), from its constraint columns."""
    cols = [c for c in df.columns if c.startswith("constraint_")]
    return (
        df.apply(lambda r: ", ".join(BUDGET_NAMES.get(c[11:], c[11:]) for c in cols if _float(r[c]) > 0), axis=1)
        if cols and len(df)
        else pd.Series("", index=df.index)
    )


def plot_front(
    df: pd.DataFrame,
    cost: str = "macs",
    *,
    references: pd.DataFrame | None = None,
    budget: float | None = None,
    score_name: str | None = None,
    title: str | None = None,
) -> Any:
    """Score (↑) against ``cost`` (↓: ``macs``, ``latency_ms`` or ``params``) with the Pareto front.

    Feasible scored trials are blue dots; the front is a red step line through its points (for any
    cost, the best score reachable at or below it); trials that are scored but infeasible are grey;
    over-budget candidates (never scored) are grey ticks along the bottom edge at their cost, the
    legend naming the budgets they exceed; the named networks (``references``, from
    :func:`reference_points`) are black stars with their names; ``budget`` (in the cost's own unit,
    e.g. MACs) is a dashed vertical line; candidates trained by ``--refine`` are ringed and labelled
    with their trained accuracy (``pruned@k`` when successive halving stopped them after ``k`` epochs).

    The x axis frames the feasible points, the named networks, the budget and the candidates up to
    1.5 times the largest of them; candidates beyond (far over budget) are counted at the right edge
    instead of stretching the axis. No two labels
    overlap, and the legend sits outside the axes.

    Returns:
        a ``matplotlib.figure.Figure``.
    """
    _check_cost("cost", cost, df)
    label, scale = AXES[cost]
    fig, ax = _figure(figsize=(9.0, 5.2), layout="constrained")
    x_all = _numeric(df, cost) * scale
    y_all = _numeric(df, "score")
    ok = _feasible_scored(df, cost)
    front = front_mask(df, cost)
    scored_bad = ~ok & y_all.notna() & x_all.notna()
    unscored = y_all.isna() & x_all.notna()
    refs = None
    if references is not None and len(references) and cost in references.columns:
        refs = references[pd.to_numeric(references["score"], errors="coerce").notna()]
        refs = refs[pd.to_numeric(refs[cost], errors="coerce").notna()]

    # the frame: feasible points, named networks and the budget (everything when nothing is feasible)
    frame = list(x_all[ok])
    frame += list(refs[cost].astype(float) * scale) if refs is not None else []
    frame += [budget * scale] if budget is not None else []
    if not frame:
        frame = list(x_all.dropna())
    lo, hi = (min(frame), max(frame)) if frame else (0.0, 1.0)
    near = x_all[(x_all > hi) & (x_all <= 1.5 * hi)]  # candidates just over budget show where it bites
    hi = max(hi, float(near.max())) if len(near) else hi
    span = (hi - lo) or max(abs(hi), 1.0)
    lo, hi = lo - 0.06 * span, hi + 0.08 * span
    inside = (x_all >= lo) & (x_all <= hi)

    if (scored_bad & inside).any():
        sel = scored_bad & inside
        ax.scatter(x_all[sel], y_all[sel], s=22, color=GREY, label=f"scored, infeasible ({int(sel.sum())})")
    if ok.any():
        ax.scatter(x_all[ok & ~front], y_all[ok & ~front], s=22, color=FEASIBLE_COLOR, alpha=0.7,
                   label=f"feasible trials ({int(ok.sum())})")  # fmt: skip
        fx, fy = x_all[front].to_numpy(), y_all[front].to_numpy()
        order = np.argsort(fx)
        fx, fy = fx[order], fy[order]
        ax.step(fx, fy, where="post", color=PARETO_COLOR, lw=1.8, label=f"Pareto front ({len(fx)})")
        ax.scatter(fx, fy, s=40, color=PARETO_COLOR, edgecolor="black", linewidth=0.6, zorder=3)
    if (unscored & inside).any():
        sel = unscored & inside
        which = sorted({w for v in _over_which(df[sel]) for w in v.split(", ") if w})
        over = f"over the {' / '.join(which)} budget" if which else "over budget"
        ax.scatter(x_all[sel], np.full(int(sel.sum()), 0.015), transform=ax.get_xaxis_transform(), marker="|",
                   s=120, color=GREY, label=f"{over}, not scored ({int(sel.sum())})")  # fmt: skip
    beyond = x_all.notna() & ~inside & (x_all > hi)
    if beyond.any():
        unit = "M" if scale != 1 else " ms"
        ax.text(0.995, 0.045, f"{int(beyond.sum())} more over budget →\nup to {x_all[beyond].max():,.0f}{unit}",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.35")  # fmt: skip
    labels: list[tuple[float, float, str, dict[str, Any]]] = []
    if refs is not None and len(refs):
        rx = refs[cost].astype(float).to_numpy() * scale
        ry = refs["score"].astype(float).to_numpy()
        ax.scatter(rx, ry, marker="*", s=160, color="black", zorder=4, label="named networks")
        box = {"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.5", "alpha": 0.85}
        labels += [
            (x, y, str(n), {"fontsize": 9, "bbox": box, "zorder": 6})
            for n, x, y in zip(refs["name"], rx, ry, strict=True)
        ]
    if "refine_state" in df.columns and df["refine_state"].notna().any():
        ref = df["refine_state"].notna() & x_all.notna() & y_all.notna()
        ax.scatter(x_all[ref], y_all[ref], s=150, facecolors="none", edgecolors="darkorange", linewidths=1.8,
                   zorder=5, label=f"refined: trained accuracy ({int(ref.sum())})")  # fmt: skip
        for i in sorted(df.index[ref], key=lambda k: (x_all[k], y_all[k])):
            acc = df.at[i, "trained_acc"]
            text = f"{acc:.3f}" if acc == acc else f"pruned@{int(df.at[i, 'refine_epochs'])}"
            labels.append((x_all[i], y_all[i], text, {"fontsize": 8, "color": "darkorange", "zorder": 6}))
    if budget is not None:
        unit = "M" if scale != 1 else " ms"
        line = f"{BUDGET_NAMES[cost]} budget {budget * scale:g}{unit}"
        ax.axvline(budget * scale, color="0.3", ls="--", lw=1, label=line)
    ax.set_xlim(lo, hi)
    ys = pd.concat(
        [y_all[(ok | scored_bad) & inside], pd.Series(refs["score"].astype(float) if refs is not None else [])]
    )
    if ys.notna().any():
        ymin, ymax = float(ys.min()), float(ys.max())
        pad = 0.08 * ((ymax - ymin) or max(abs(ymax), 1.0))
        ax.set_ylim(ymin - 1.6 * pad, ymax + 1.6 * pad)  # room for labels and the bottom ticks
    ax.set_xlabel(label)
    ax.set_ylabel(f"score ({score_name}, higher is better)" if score_name else "score (higher is better)")
    ax.set_title(title or f"{_study_name(df)}: score vs {COST_NAMES[cost]}")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside right upper", fontsize=8, framealpha=0.9)
    else:
        ax.text(0.5, 0.5, "no trial has a score and a cost yet", ha="center", va="center", transform=ax.transAxes)
    if labels:
        place_labels(ax, labels)
    return fig


# ------------------------------------------------------------------------------- hypervolume


def hypervolume_2d(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Area dominated by ``points`` (score ↑, cost ↓) and bounded by ``reference = (score, cost)``.

    Only points better than the reference in both coordinates count. The area is the integral over
    cost from the cheapest point to the reference cost of (best score at or below that cost − the
    reference score).
    """
    ref_score, ref_cost = float(reference[0]), float(reference[1])
    pts = sorted((float(c), float(s)) for s, c in points if float(s) > ref_score and float(c) < ref_cost)
    area, best = 0.0, ref_score
    for i, (c, s) in enumerate(pts):
        best = max(best, s)
        nxt = pts[i + 1][0] if i + 1 < len(pts) else ref_cost
        area += (nxt - c) * (best - ref_score)
    return area


def hypervolume_reference(df: pd.DataFrame, cost: str = "macs", margin: float = 0.1) -> tuple[float, float]:
    """The default reference point ``(score, cost)``: the nadir of the feasible complete trials (their
    worst score and their largest cost) pushed out by ``margin`` of each range (by ``margin`` of the
    value itself when all trials tie), so that every feasible trial adds area."""
    ok = _feasible_scored(df, cost)
    if not ok.any():
        raise ConfigError("no feasible complete trial with a score yet; the hypervolume needs at least one")
    s, c = _numeric(df, "score")[ok], _numeric(df, cost)[ok]
    s_pad = margin * ((s.max() - s.min()) or abs(s.min()) or 1.0)
    c_pad = margin * ((c.max() - c.min()) or abs(c.max()) or 1.0)
    return float(s.min() - s_pad), float(c.max() + c_pad)


def hypervolume_history(df: pd.DataFrame, cost: str = "macs", reference: Sequence[float] | None = None) -> pd.DataFrame:
    """Hypervolume of the feasible front of (score, ``cost``) after each trial, in trial-number order.

    Columns: ``number``, ``hypervolume`` (in score × cost units) and ``normalized`` (the share of the
    box between the ideal point of the whole study, best score and lowest cost, and the reference
    point; 1 means one trial reached both at once). The reference point (``reference=(score, cost)``,
    default :func:`hypervolume_reference`) is in ``.attrs["reference"]``. Non-decreasing by
    construction: a trial can only add area.
    """
    _check_cost("cost", cost, df)
    ref = tuple(reference) if reference is not None else hypervolume_reference(df, cost)
    if len(ref) != 2:
        raise ConfigError(f"reference must be (score, cost); got reference={reference!r}")
    ok = _feasible_scored(df, cost)
    ordered = df.assign(_ok=ok, _s=_numeric(df, "score"), _c=_numeric(df, cost)).sort_values("number")
    points: list[tuple[float, float]] = []
    rows = []
    for _, row in ordered.iterrows():
        if row["_ok"]:
            points.append((row["_s"], row["_c"]))
        rows.append({"number": int(row["number"]), "hypervolume": hypervolume_2d(points, ref)})
    out = pd.DataFrame(rows, columns=["number", "hypervolume"])
    best_score, least_cost = _numeric(df, "score")[ok].max(), _numeric(df, cost)[ok].min()
    box = (best_score - ref[0]) * (ref[1] - least_cost)  # NaN without a feasible trial
    out["normalized"] = out["hypervolume"] / box if box and box > 0 else math.nan
    out.attrs["reference"] = ref
    out.attrs["cost"] = cost
    return out


def plot_hypervolume(
    df: pd.DataFrame, cost: str = "macs", reference: Sequence[float] | None = None, title: str | None = None
) -> Any:
    """The normalised hypervolume (:func:`hypervolume_history`) against trial number."""
    fig, ax = _figure(figsize=(8.0, 4.0), layout="constrained")
    label, scale = AXES[cost]
    try:
        hv = hypervolume_history(df, cost, reference)
    except ConfigError as exc:
        ax.text(0.5, 0.5, str(exc), ha="center", va="center", transform=ax.transAxes, wrap=True)
        ax.set_title(title or f"{_study_name(df)}: hypervolume over trials")
        return fig
    ref = hv.attrs["reference"]
    ax.step(hv["number"], hv["normalized"], where="post", color=PARETO_COLOR, lw=1.8, label="feasible front")
    ok = _feasible_scored(df, cost)
    hits = df.loc[ok, "number"].astype(int)
    ax.scatter(hits, hv.set_index("number").loc[hits, "normalized"], s=14, color=FEASIBLE_COLOR, zorder=3,
               label="feasible trial")  # fmt: skip
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial number")
    ax.set_ylabel("hypervolume (share of the ideal box)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title or f"{_study_name(df)}: hypervolume of score vs {label.split(' (')[0]}")
    unit = "M" if scale != 1 else " ms"
    ax.text(
        0.99,
        0.03,
        f"reference point: score {ref[0]:.4g}, {label.split(' (')[0]} {ref[1] * scale:.4g}{unit}",
        ha="right",
        va="bottom",
        fontsize=8,
        transform=ax.transAxes,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


# ------------------------------------------------------------------------------- choices


def _fmt_choice(kind: str, value: Any) -> str:
    if kind == "op":
        return str(value)
    v = float(value)
    return f"{v:g}"


def _per_block(col: str) -> bool:
    m = _BLOCK_LABEL.match(col)
    return bool(m and m.group(2) is not None)


def choice_frequencies(df: pd.DataFrame, pareto: pd.Series | None = None) -> pd.DataFrame:
    """Per stage, how often each depth and width appears among all sampled trials and the Pareto-optimal
    ones, and each operator, λ and kernel among their blocks.

    Returns:
        one row per (stage, choice, value): ``count_all``, ``count_pareto`` and the shares of the
        stage's trials (depth, width) or blocks (operator, λ, kernel), ``share_all`` and ``share_pareto``.
    """
    pareto = df["pareto"].astype(bool) if pareto is None else pareto.astype(bool)
    records: dict[tuple[int, str, str], list[int]] = {}
    totals: dict[tuple[int, str], list[int]] = {}
    cols = [(c, _BLOCK_LABEL.match(c)) for c in df.columns]
    for col, m in cols:
        if m is None:
            continue
        stage, kind = int(m.group(1)), m.group(3)
        if kind in ("depth", "width") and m.group(2) is not None:
            continue
        values = df[col]
        present = values.notna()
        for value, is_front in zip(values[present], pareto[present], strict=True):
            key = (stage, CHOICES[kind], _fmt_choice(kind, value))
            counts = records.setdefault(key, [0, 0])
            total = totals.setdefault((stage, CHOICES[kind]), [0, 0])
            counts[0] += 1
            total[0] += 1
            if is_front:
                counts[1] += 1
                total[1] += 1
    rows = []
    for (stage, kind, value), (n_all, n_front) in records.items():
        t_all, t_front = totals[(stage, kind)]
        rows.append(
            {
                "stage": stage,
                "choice": kind,
                "value": value,
                "count_all": n_all,
                "count_pareto": n_front,
                "share_all": n_all / t_all if t_all else math.nan,
                "share_pareto": n_front / t_front if t_front else 0.0,
            }
        )
    out = pd.DataFrame(
        rows, columns=["stage", "choice", "value", "count_all", "count_pareto", "share_all", "share_pareto"]
    )
    return out.sort_values(["stage", "choice", "value"], key=_sort_key).reset_index(drop=True)


def _sort_key(col: pd.Series) -> pd.Series:
    if col.name != "value":
        return col
    return col.map(lambda v: (0, float(v), "") if _is_number(v) else (1, 0.0, str(v)))


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def plot_choice_frequencies(df: pd.DataFrame, title: str | None = None) -> Any:
    """Grouped bars per stage (rows) and choice (columns: depth, width, operator, λ, kernel): the share of
    the stage's trials (depth, width) or blocks (operator, λ, kernel) with each value among all sampled
    trials (grey) and among Pareto-optimal trials (red). Only choices that vary get a panel, and only
    stages with one; a choice fixed in a shown stage says ``fixed: value``. Tick labels never overlap
    (operator names turn upright when they would)."""
    from matplotlib.figure import Figure

    freq = choice_frequencies(df)
    n_values = freq.groupby(["stage", "choice"])["value"].nunique() if len(freq) else pd.Series(dtype=int)
    varied = n_values[n_values > 1]
    stages = sorted({s for s, _ in varied.index})
    kinds = [k for k in CHOICES.values() if k in {c for _, c in varied.index}]
    n_front = int(df["pareto"].astype(bool).sum())
    n_max = {k: max((int(n_values.get((s, k), 0)) for s in stages), default=2) for k in kinds}
    upright = {k: k == "operator" and n_max[k] > 3 for k in kinds}

    def room(kind: str) -> float:  # a panel's width: its bars, or its labels when they lie flat
        text = freq[freq["choice"] == kind].groupby("stage")["value"].apply(lambda v: sum(len(str(x)) for x in v))
        chars = 0.0 if upright[kind] else float(text.max()) / 3.5
        return max(2.0, float(n_max[kind]), chars)

    widths = [room(k) for k in kinds]
    fig_w = min(22.0, 1.2 + 0.42 * sum(widths) + 0.6 * len(kinds))
    fig_h = 1.9 * max(1, len(stages)) + 0.8 + (0.9 if any(upright.values()) else 0.0) * max(1, len(stages))
    fig = Figure(figsize=(fig_w, fig_h), layout="constrained")
    if not stages:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no choice varies in the results", ha="center", va="center")
        ax.set_axis_off()
        return fig
    axes = fig.subplots(len(stages), len(kinds), squeeze=False, gridspec_kw={"width_ratios": widths})
    for r, stage in enumerate(stages):
        for c, kind in enumerate(kinds):
            ax = axes[r][c]
            part = freq[(freq["stage"] == stage) & (freq["choice"] == kind)]
            if len(part) <= 1:
                text = f"fixed: {part['value'].iloc[0]}" if len(part) else "not sampled"
                ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                pos = np.arange(len(part))
                ax.bar(pos - 0.2, part["share_all"], width=0.4, color="0.6")
                ax.bar(pos + 0.2, part["share_pareto"], width=0.4, color=PARETO_COLOR)
                ax.set_xticks(pos, part["value"], fontsize=7, rotation=90 if upright[kind] else 0)
                ax.set_xlim(-0.6, len(part) - 0.4)
                ax.set_ylim(0, 1.05)
                ax.tick_params(axis="y", labelsize=7)
                ax.grid(True, axis="y", alpha=0.3)
            if r == 0:
                ax.set_title(kind, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"stage s{stage}", fontsize=9)
    from matplotlib.patches import Patch

    handles = [Patch(color="0.6", label="all trials"), Patch(color=PARETO_COLOR, label=f"Pareto-optimal ({n_front})")]
    fig.legend(handles=handles, loc="outside lower center", fontsize=9, ncols=2)
    note = "(depth, width: share of trials; operator, λ, kernel: share of the stage's blocks)"
    fig.suptitle(title or f"{_study_name(df)}: choices on the Pareto front vs all trials\n{note}", fontsize=10)
    return fig


# ------------------------------------------------------------------------------- table


def _stages_summary(row: pd.Series) -> str:
    parts = []
    i = 0
    while f"s{i}.depth" in row.index:
        depth = row[f"s{i}.depth"]
        if depth is None or (isinstance(depth, float) and math.isnan(depth)):
            break
        depth = int(depth)
        width = row.get(f"s{i}.width")
        ops: list[str] = []
        for b in range(depth):
            op = row.get(f"s{i}.b{b}.op")
            if isinstance(op, str) and op not in ops:
                ops.append(op)
        w = f"×{int(width)}" if width is not None and not (isinstance(width, float) and math.isnan(width)) else ""
        parts.append(f"{depth}{w} {'+'.join(ops)}".strip())
        i += 1
    return " | ".join(parts)


def pareto_architectures(df: pd.DataFrame) -> pd.DataFrame:
    """The Pareto-optimal trials, cheapest first: trial, named network (if a baseline), score, MACs (M),
    params (M), latency (ms, when measured), resolution and a per-stage summary (depth×width and
    operators, ``s0 | s1 | …``). ``search.results.config_of(df.loc[trial_index])`` rebuilds any of them."""
    front = df[df["pareto"].astype(bool)].copy()
    out = pd.DataFrame(
        {
            "trial": front["number"].astype(int),
            "network": front.get("baseline", pd.Series(index=front.index, dtype=object)).map(
                lambda v: v if isinstance(v, str) else ""
            ),
            "score": _numeric(front, "score").round(4),
            "MACs (M)": (_numeric(front, "macs") / 1e6).round(2),
            "params (M)": (_numeric(front, "params") / 1e6).round(3),
        }
    )
    if _has(front, "latency_ms"):
        out["latency (ms)"] = _numeric(front, "latency_ms").round(3)
    out["resolution"] = front["resolution"]
    out["stages (depth×width ops)"] = [_stages_summary(r) for _, r in front.iterrows()]
    return out.sort_values(["MACs (M)", "score"], ascending=[True, False]).reset_index(drop=True)


# ------------------------------------------------------------------------------- everything


def figures(
    df: pd.DataFrame,
    *,
    references: pd.DataFrame | None = None,
    settings: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Every figure of a study, by file stem (``front_macs``, ``front_latency``, ``front_params``,
    ``hypervolume``, ``choices``), and notes on what was skipped (no latency measured, say). The first
    front is drawn in the plane of the study's own objectives (score and its cost objective).

    ``settings`` (the study's ``user_attrs["settings"]``) adds the budgets and the score's name.
    """
    settings = settings or {}
    score_name = (settings.get("score") or {}).get("score")
    notes: list[str] = []
    objectives = list(df.attrs.get("objectives") or settings.get("objectives") or ["score", "macs"])
    budgets = {"macs": settings.get("max_macs"), "latency_ms": settings.get("max_latency_ms"),
               "params": settings.get("max_params")}  # fmt: skip
    # the front in the objectives' own plane first, then MACs (and latency, when measured) beside it
    costs = [o for o in objectives[1:] if o in AXES]
    costs += [c for c in ("macs", "latency_ms") if c not in costs and _has(df, c)]
    if "macs" not in costs:
        costs.append("macs")
    figs: dict[str, Any] = {}
    for c in costs:
        title = None
        if c not in objectives:  # a secondary plane: its front is not the study's
            own = ", ".join(COST_NAMES[o] for o in objectives[1:] if o in AXES) or "score"
            title = f"{_study_name(df)}: score vs {COST_NAMES[c]}\n(the front in this plane; the study minimises {own})"
        figs[f"front_{'latency' if c == 'latency_ms' else c}"] = plot_front(
            df, c, references=references, budget=budgets.get(c), score_name=score_name, title=title
        )
    if "latency_ms" not in costs:
        notes.append("score vs latency skipped: the study measured no latency (search with --objectives "
                     "score,latency_ms or --max-latency-ms)")  # fmt: skip
    hv_cost = next((o for o in objectives[1:] if o in AXES), "macs")
    figs["hypervolume"] = plot_hypervolume(df, hv_cost)
    figs["choices"] = plot_choice_frequencies(df)
    return figs, notes
