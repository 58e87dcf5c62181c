"""A combined score: training-free proxies and cost features in one small fitted ranking model.

The model is linear in standardised features, ``value = Σ_k w_k · (t_k(x_k) - c_k) / s_k``, where
``x_k`` is the value of score ``k`` (a proxy or a cost baseline), ``t_k`` its transform (identity or
``log10``), ``c_k``/``s_k`` the centre and scale it was fitted with; an infinite value takes the
lowest or highest value seen in the fit, an unknown (NaN) one the centre. Finite values are not
clipped: a space whose proxy values sit outside the fitted range keeps its internal order.

The weights come from a pairwise logistic ranking fit on the ground truth (:mod:`search.ground_truth`):
for every pair of architectures of the same space, the difference of their features should predict
which one trained to the higher accuracy (pairs weighted by their accuracy gap). Only the order of
candidates matters, so the fit needs no intercept and a space's offset in any feature does not change
the ranking inside it.

Everything is plain data: a predictor is saved as JSON (no pickle) and checked when loaded; a file
with unknown scores, mismatched lengths, non-finite numbers or unknown settings is refused with a
``ConfigError`` naming the field. The package ships the one fitted on the whole ground truth
(``search/predictor.json``, made by ``python benchmarks/bench_scores.py --write-predictor``); a
study uses it with ``--score predictor``.

Example:
    >>> p = Predictor(features=("params", "naswot"), transforms=("identity", "identity"),
    ...               weights=(0.5, 1.0), center=(6.0, 300.0), scale=(1.0, 50.0),
    ...               low=(4.0, 0.0), high=(8.0, 1000.0), settings={"batch_size": 64})
    >>> round(p.value({"params": 6.5, "naswot": 350.0}), 3)
    1.25
    >>> Predictor.from_json(p.to_json()) == p
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metablock import ConfigError

FORMAT = "metablock.predictor/1"
TRANSFORMS = ("identity", "log10")
#: Settings of :class:`search.scores.ScoreSettings` a predictor may fix for its features.
FEATURE_SETTINGS = ("dataset", "batch_size", "resolution", "resolution_scale")
DEFAULT_PATH = Path(__file__).with_name("predictor.json")
#: Scores whose values span orders of magnitude enter the model as ``log10``.
LOG_FEATURES = ("grad_norm", "swap")


def _numbers(name: str, values: Any, n: int, *, positive: bool = False) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)) or len(values) != n:
        raise ConfigError(f"predictor field {name!r} must be a list of {n} numbers (one per feature); got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
            kind = "positive finite numbers" if positive else "finite numbers"
            raise ConfigError(f"predictor field {name!r} must hold {kind}; got {v!r}")
        out.append(float(v))
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Predictor:
    """A fitted linear ranking model over score features (see the module docstring).

    Args:
        features: score names (:func:`search.scores.list_scores`), one per weight.
        transforms: ``identity`` or ``log10`` per feature.
        weights: one per feature.
        center: subtracted from each transformed feature.
        scale: each centred feature is divided by it (> 0).
        low: the value of each transformed feature that stands in for ``-inf`` (its fitted minimum).
        high: the value that stands in for ``+inf`` (its fitted maximum).
        settings: how the features are computed (``dataset``, ``batch_size``, ``resolution``,
            ``resolution_scale``); the user's seed and device still apply.
        meta: what it was fitted on (free-form, for people).
    """

    features: tuple[str, ...]
    transforms: tuple[str, ...]
    weights: tuple[float, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from .scores import list_scores

        feats = self.features
        if not isinstance(feats, (list, tuple)) or not feats or not all(isinstance(f, str) for f in feats):
            raise ConfigError(f"predictor field 'features' must be a non-empty list of score names; got {feats!r}")
        valid = sorted(set(list_scores()) - {"predictor", "train"})
        for f in feats:
            if f not in valid:
                raise ConfigError(f"predictor feature {f!r} is not a score it can compute; valid: {', '.join(valid)}")
        if len(set(feats)) != len(feats):
            raise ConfigError(f"predictor features must not repeat; got {list(feats)}")
        object.__setattr__(self, "features", tuple(feats))
        n = len(feats)
        trans = self.transforms
        if not isinstance(trans, (list, tuple)) or len(trans) != n or any(t not in TRANSFORMS for t in trans):
            raise ConfigError(f"predictor field 'transforms' must list one of {TRANSFORMS} per feature; got {trans!r}")
        object.__setattr__(self, "transforms", tuple(trans))
        for name in ("weights", "center", "low", "high"):
            object.__setattr__(self, name, _numbers(name, getattr(self, name), n))
        object.__setattr__(self, "scale", _numbers("scale", self.scale, n, positive=True))
        if any(lo > hi for lo, hi in zip(self.low, self.high, strict=True)):
            raise ConfigError(f"predictor bounds must have low <= high; got low={self.low}, high={self.high}")
        if not isinstance(self.settings, Mapping):
            raise ConfigError(f"predictor field 'settings' must be a mapping; got {self.settings!r}")
        for key in self.settings:
            if key not in FEATURE_SETTINGS:
                raise ConfigError(f"unknown predictor setting {key!r}; valid: {', '.join(FEATURE_SETTINGS)}")
        if not isinstance(self.meta, Mapping):
            raise ConfigError(f"predictor field 'meta' must be a mapping; got {self.meta!r}")

    def transform(self, name: str, value: float) -> float:
        """Feature ``name``'s value after its transform, clipped and standardised."""
        k = self.features.index(name)
        if not isinstance(value, (int, float)) or math.isnan(value):
            return 0.0  # unknown: the centre
        if self.transforms[k] == "log10":
            value = math.log10(value) if value > 0 else -math.inf
        if math.isinf(value):
            value = self.low[k] if value < 0 else self.high[k]
        return (value - self.center[k]) / self.scale[k]

    def value(self, values: Mapping[str, float]) -> float:
        """The combined score of one candidate from its feature values (higher is better)."""
        missing = [f for f in self.features if f not in values]
        if missing:
            raise ConfigError(f"predictor needs the values of {missing}")
        return float(sum(w * self.transform(f, values[f]) for f, w in zip(self.features, self.weights, strict=True)))

    def score_settings(self, base: Any) -> Any:
        """``base`` (a ``ScoreSettings``) with this predictor's feature settings."""
        return replace(base, **dict(self.settings))

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else dict(v)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Predictor:
        if not isinstance(data, Mapping):
            raise ConfigError(f"a predictor must be a JSON object; got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise ConfigError(f"predictor field 'format' must be {FORMAT!r}; got {data.get('format')!r}")
        valid = {f.name for f in fields(cls)} | {"format"}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ConfigError(f"unknown predictor field(s) {unknown}; valid: {', '.join(sorted(valid))}")
        missing = sorted({"features", "transforms", "weights", "center", "scale", "low", "high"} - set(data))
        if missing:
            raise ConfigError(f"predictor is missing field(s) {missing}")
        return cls(**{k: v for k, v in data.items() if k != "format"})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Predictor:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"predictor is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> Predictor:
    return Predictor.from_json(Path(path).read_text())


def load_predictor(path: str | Path | None = None) -> Predictor:
    """A predictor from a JSON file (``None``: the one shipped with the package)."""
    p = Path(path) if path is not None else DEFAULT_PATH
    if not p.is_file():
        raise ConfigError(f"predictor file {str(p)!r} does not exist")
    try:
        return _load(str(p), p.stat().st_mtime)
    except ConfigError as exc:
        raise ConfigError(f"predictor file {str(p)!r}: {exc}") from None


# ------------------------------------------------------------------------------- fitting


def _transformed(arch: pd.DataFrame, features: Sequence[str], transforms: Sequence[str]) -> np.ndarray:
    cols = []
    for f, t in zip(features, transforms, strict=True):
        x = arch[f"score_{f}"].to_numpy(dtype=float)
        if t == "log10":
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, np.log10(np.where(x > 0, x, 1.0)), -np.inf)
        cols.append(x)
    return np.stack(cols, 1)


def fit(
    arch: pd.DataFrame,
    features: Sequence[str],
    *,
    transforms: Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    target: str = "val_acc",
    group: str = "space",
    l2: float = 1.0,
    meta: Mapping[str, Any] | None = None,
) -> Predictor:
    """Fit a predictor on per-architecture rows (columns ``score_<feature>``, ``target``, ``group``).

    Pairs are formed inside each ``group`` only; each pair's weight is its gap in ``target``.
    ``l2`` is the inverse strength of the logistic regression's L2 penalty (scikit-learn's ``C``).
    """
    from sklearn.linear_model import LogisticRegression

    features = list(features)
    if not features:
        raise ConfigError("fit needs at least one feature")
    transforms = list(transforms or ["log10" if f in LOG_FEATURES else "identity" for f in features])
    x = _transformed(arch, features, transforms)
    finite = np.where(np.isfinite(x), x, np.nan)
    low, high = np.nanmin(finite, 0), np.nanmax(finite, 0)
    x = np.where(np.isneginf(x), low, np.where(np.isposinf(x), high, x))
    center = np.nanmean(x, 0)
    scale = np.nanstd(x, 0)
    scale = np.where(scale > 0, scale, 1.0)
    z = np.nan_to_num((x - center) / scale, nan=0.0)
    y = arch[target].to_numpy(dtype=float)
    groups = arch[group].to_numpy()
    dx, dy, w = [], [], []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        for a_pos, i in enumerate(idx):
            for j in idx[a_pos + 1 :]:
                gap = y[i] - y[j]
                if gap == 0 or not math.isfinite(gap):
                    continue
                dx += [z[i] - z[j], z[j] - z[i]]
                dy += [1, 0] if gap > 0 else [0, 1]
                w += [abs(gap)] * 2
    if not dx or len(set(dy)) < 2:
        raise ConfigError("fit needs at least one pair of architectures with different accuracy in one group")
    model = LogisticRegression(C=l2, fit_intercept=False, max_iter=2000)
    model.fit(np.array(dx), np.array(dy), sample_weight=np.array(w) / np.mean(w))
    return Predictor(
        features=tuple(features),
        transforms=tuple(transforms),
        weights=tuple(float(v) for v in model.coef_[0]),
        center=tuple(float(v) for v in center),
        scale=tuple(float(v) for v in scale),
        low=tuple(float(v) for v in low),
        high=tuple(float(v) for v in high),
        settings=dict(settings or {}),
        meta=dict(meta or {}),
    )


def predict(pred: Predictor, arch: pd.DataFrame) -> np.ndarray:
    """The predictor's value for every row of ``arch`` (from its ``score_<feature>`` columns)."""
    return np.array(
        [pred.value({f: float(r[f"score_{f}"]) for f in pred.features}) for _, r in arch.iterrows()], dtype=float
    )
