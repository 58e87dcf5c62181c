"""Results of a study as a pandas DataFrame, CSV/Parquet files and Pareto-front configs.

Example:
    >>> df = results("runs/search/study.journal", study_name="metablock")  # doctest: +SKIP
    >>> df[df.pareto][["number", "score", "macs", "params"]]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from metablock import ConfigError, NetConfig

COST_COLUMNS = ("score", "macs", "params", "latency_ms")


def load_study(study_or_storage: Any, study_name: str | None = None) -> Any:
    """A study from a study, a storage object, a storage URL or a journal file path."""
    import optuna

    from .driver import make_storage

    if isinstance(study_or_storage, optuna.Study):
        return study_or_storage
    if isinstance(study_or_storage, (str, Path)):
        url = str(study_or_storage)
        if "://" not in url and not Path(url).exists():
            raise ConfigError(f"storage file {url!r} does not exist")
        storage = make_storage(url)
    else:
        storage = study_or_storage
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if study_name is None:
        from .refine import REFINE_SUFFIX

        proxies = [n for n in names if not n.endswith(REFINE_SUFFIX) or n[: -len(REFINE_SUFFIX)] not in names]
        if len(proxies) == 1:
            names = proxies
        if len(names) != 1:
            raise ConfigError(f"storage holds {len(names)} studies {names}; pass study_name")
        study_name = names[0]
    if study_name not in names:
        raise ConfigError(f"unknown study {study_name!r}; the storage holds {names}")
    return optuna.load_study(study_name=study_name, storage=storage)


def _objectives(study: Any) -> list[str]:
    names = study.metric_names
    if names:
        return list(names)
    return ["score"] + [f"objective_{i}" for i in range(1, len(study.directions))]


def pareto_mask(values: Sequence[Sequence[float]], directions: Sequence[str]) -> list[bool]:
    """Which rows are not dominated by any other row (maximise/minimise per direction)."""
    sign = [1.0 if d == "maximize" else -1.0 for d in directions]
    pts = [[s * v for s, v in zip(sign, row, strict=True)] for row in values]
    mask = []
    for i, p in enumerate(pts):
        dominated = any(
            all(q[k] >= p[k] for k in range(len(p))) and any(q[k] > p[k] for k in range(len(p)))
            for j, q in enumerate(pts)
            if j != i
        )
        mask.append(not dominated)
    return mask


def results(study_or_storage: Any, study_name: str | None = None) -> pd.DataFrame:
    """One row per trial: number, state, status, feasibility, Pareto flag, costs, score, the flat
    labelled choices (``s2.depth``, ``s2.b0.op``, ...), resolution, baseline name, failure reason,
    timings, the full ``NetConfig`` as JSON (``config``) and, for candidates trained by
    ``--refine`` (:mod:`search.refine`), ``trained_acc``, ``refine_state``, ``refine_epochs`` and
    ``refine_last_acc``."""
    from optuna.trial import TrialState

    study = load_study(study_or_storage, study_name)
    objectives = _objectives(study)
    directions = [d.name.lower() for d in study.directions]
    rows = []
    for t in study.get_trials(deepcopy=False):
        ua = t.user_attrs
        constraints = {k.split(":", 1)[1]: v for k, v in t.system_attrs.items() if k.startswith("constraints:")}
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.name.lower(),
            "status": ua.get("status", t.state.name.lower()),
            "feasible": all(v <= 0 for v in constraints.values()) if t.state != TrialState.WAITING else None,
            "resolution": ua.get("resolution"),
            "baseline": ua.get("baseline"),
            "reason": ua.get("fault") or ua.get("reason"),
            "worker": ua.get("worker"),
            "datetime_start": t.datetime_start,
            "duration_s": t.duration.total_seconds() if t.duration is not None else math.nan,
            "time_suggest_s": ua.get("time_suggest_s", math.nan),
            "time_costs_s": ua.get("time_costs_s", math.nan),
            "time_score_s": ua.get("time_score_s", math.nan),
        }
        for col in COST_COLUMNS:
            row[col] = ua.get(col, math.nan)
        for name, value in zip(objectives, t.values or (), strict=False):
            row[f"value_{name}"] = value
        for key, value in constraints.items():
            row[f"constraint_{key}"] = value
        for key, value in (ua.get("arch") or {}).items():
            row[key] = value
        row["config"] = json.dumps(ua["config"]) if "config" in ua else None
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["number", "state", "status", "feasible", "pareto", *COST_COLUMNS, "config"])
    complete = (df["state"] == "complete") & (df["feasible"].fillna(False).astype(bool))
    value_cols = [f"value_{n}" for n in objectives]
    df["pareto"] = False
    idx = df.index[complete]
    if len(idx):
        df.loc[idx, "pareto"] = pareto_mask(df.loc[idx, value_cols].to_numpy().tolist(), directions)
    from .refine import refined

    df = df.merge(refined(study), on="number", how="left")
    for col in ("trained_acc", "refine_epochs", "refine_last_acc"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["refine_state"] = df["refine_state"].astype(object).where(df["refine_state"].notna(), None)
    df.attrs["objectives"] = objectives
    df.attrs["directions"] = directions
    df.attrs["study_name"] = study.study_name
    return df


def config_of(row: pd.Series | dict[str, Any]) -> NetConfig:
    """The ``NetConfig`` of one results row."""
    text = row["config"]
    if not isinstance(text, str):
        raise ConfigError(f"trial {row['number']} has no stored config (state {row['state']})")
    return NetConfig.from_json(text)


def write_results(df: pd.DataFrame, out: str | Path) -> dict[str, Path]:
    """Write ``results.csv``, ``results.parquet`` and ``pareto/trial_NNNN.json`` (NetConfig JSON that
    ``metablock.NetConfig.from_json`` and ``metablock.build`` load) to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "results.csv", "parquet": out / "results.parquet", "pareto": out / "pareto"}
    df.to_csv(paths["csv"], index=False)
    parquet = df.copy()
    for col in parquet.columns:
        if parquet[col].dtype == object:
            parquet[col] = parquet[col].map(lambda v: v if v is None or isinstance(v, str) else json.dumps(v))
    parquet.to_parquet(paths["parquet"], index=False)
    paths["pareto"].mkdir(exist_ok=True)
    for old in paths["pareto"].glob("trial_*.json"):
        old.unlink()
    for _, row in df[df["pareto"]].iterrows():
        (paths["pareto"] / f"trial_{int(row['number']):04d}.json").write_text(config_of(row).to_json(indent=1))
    return paths


def pareto_table(df: pd.DataFrame, max_rows: int = 20) -> str:
    """The Pareto front as a plain-text table, best score first."""
    front = df[df["pareto"]].sort_values("score", ascending=False).head(max_rows)
    if front.empty:
        return "no feasible complete trial yet"
    cols = ["number", "score", "macs", "params"]
    if front["latency_ms"].notna().any():
        cols.append("latency_ms")
    if "trained_acc" in front and front["trained_acc"].notna().any():
        cols.append("trained_acc")
    cols += ["resolution", "baseline"]
    fmt = {
        "score": lambda v: f"{v:.4g}",
        "macs": lambda v: f"{v / 1e6:.1f}M",
        "params": lambda v: f"{v / 1e6:.2f}M",
        "latency_ms": lambda v: f"{v:.2f}",
        "baseline": lambda v: v if isinstance(v, str) else "",
        "trained_acc": lambda v: "" if v != v else f"{v:.3f}",
    }
    lines = [[c for c in cols]]
    for _, row in front.iterrows():
        lines.append([fmt.get(c, str)(row[c]) for c in cols])
    widths = [max(len(r[i]) for r in lines) for i in range(len(cols))]
    text = ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def refined_table(df: pd.DataFrame) -> str:
    """The refined candidates (``--refine``) as a plain-text table, best trained accuracy first."""
    if "refine_state" not in df or df["refine_state"].isna().all():
        return "no refined candidate"
    rows = df[df["refine_state"].notna()].sort_values(["trained_acc", "refine_last_acc"], ascending=False)
    lines = [["number", "score", "macs", "trained_acc", "state", "epochs", "last_acc", "pareto"]]
    for _, r in rows.iterrows():
        lines.append(
            [
                str(int(r["number"])),
                f"{r['score']:.4g}",
                f"{r['macs'] / 1e6:.1f}M",
                "" if r["trained_acc"] != r["trained_acc"] else f"{r['trained_acc']:.3f}",
                str(r["refine_state"]),
                str(int(r["refine_epochs"])),
                f"{r['refine_last_acc']:.3f}",
                "yes" if r["pareto"] else "",
            ]
        )
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]
    text = ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)
