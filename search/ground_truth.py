"""The project's ground truth: a fixed, seeded sample of architectures trained with one recipe.

A score is only worth what its agreement with trained accuracy is worth. The ground truth is a table
with one row per (architecture, training seed): the architecture (its ``NetConfig`` JSON and the
resolution it was searched at), its costs, the validation accuracy it reached with :data:`RECIPE`,
and one ``score_<name>`` column per score at :data:`SCORE_SETTINGS` (computed once per
architecture). ``benchmarks/ground_truth.py`` trains it (resumable) into
``benchmarks/results/ground_truth.parquet``; ``benchmarks/bench_scores.py`` measures every score
against it.

The sample: for each space, ``per_space`` candidates from ``space.random(seed)`` with fixed seeds,
plus every named network the space contains (at 224 px, their published resolution).

Why this recipe: the ground truth is only useful if the differences between architectures dwarf the
noise between two training runs of one architecture. Trained on 3,000 images for 3 epochs, every
candidate reached 92-96% and two seeds ranked 24 architectures with Kendall τ 0.38 (validation noise
of ~0.5 points on 2,000 images is as large as the spread); trained on 500 images for 10 epochs and
measured on 4,500, the same architectures spread over 76-94% with seeds ~1.5 points apart. Before
that, residual branches left at PyTorch's default initialisation kept every RepViT candidate at
chance after 3 epochs (hence ``zero_init_residual``).

Example:
    >>> archs = sample_architectures(["mobilenet"], per_space=2)
    >>> [a.arch_id for a in archs]
    ['mobilenet-000', 'mobilenet-001', 'mobilenet_v2', 'efficientnet_b0']
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import metablock
from metablock import ConfigError, NetConfig

from .scores import ScoreSettings
from .space import get_space
from .training import Recipe

SPACES = ("emo", "mobilenet", "unified", "repvit")
#: The one training recipe of the ground truth: 500 MNIST training images (50 per class) and 4,500
#: validation images (stratified, fixed split), at 1/7 of the searched resolution (224 -> 32 px),
#: 10 epochs of AdamW, residual branches zero-initialised, BatchNorm statistics re-estimated after
#: training. Few training images make the task one of sample efficiency, which spreads architectures
#: apart; the large validation split keeps the measurement noise low (see the module docstring).
RECIPE = Recipe(
    dataset="mnist",
    data_seed=0,
    val_share=0.9,
    resolution_scale=1 / 7,
    epochs=10,
    batch_size=32,
    optimizer="adamw",
    lr=3e-3,
    weight_decay=0.05,
    warmup=0.1,
    augment="shift",
    shift=0.125,
    grad_clip=5.0,
    zero_init_residual=True,
    bn_recalibrate=500,
)
#: How the ``score_<name>`` columns are computed: MNIST images, 64 per batch, at 2/7 of the
#: searched resolution (64 px for a 224 px candidate).
SCORE_SETTINGS = ScoreSettings(dataset="mnist", batch_size=64, resolution=None, resolution_scale=2 / 7, seed=0)
#: The scores of the table: the training-free proxies and the two cost baselines.
SCORE_NAMES = ("naswot", "synflow", "grad_norm", "zen", "zico", "meco", "swap", "params", "macs")
KEY = ("arch_id", "seed")


@dataclass(frozen=True)
class Arch:
    """One architecture of the sample."""

    space: str
    arch_id: str
    name: str  # the named network, or "" for a sampled one
    net: NetConfig
    resolution: int  # the resolution it is searched (and costed) at


def sample_architectures(
    spaces: Sequence[str] = SPACES, *, per_space: int = 15, named: bool = True, seed: int = 0
) -> list[Arch]:
    """The fixed sample: ``per_space`` seeded random candidates of every space, then its named networks.

    Candidate ``k`` of a space comes from ``space.random(seed * 100_003 + k)``, so growing
    ``per_space`` keeps the architectures already in the sample."""
    if isinstance(per_space, bool) or not isinstance(per_space, int) or per_space < 0:
        raise ConfigError(f"per_space must be an integer >= 0; got per_space={per_space!r}")
    out: list[Arch] = []
    for name in spaces:
        space = get_space(name)
        for k in range(per_space):
            cand = space.random(seed * 100_003 + k)
            out.append(Arch(name, f"{name}-{k:03d}", "", cand.net, cand.resolution))
        if named:
            res = 224 if 224 in space.resolutions else space.resolutions[-1]
            for model in space.contains_models:
                out.append(Arch(name, model, model, metablock.model_config(model, resolution=res), res))
    return out


def interleave(archs: Iterable[Arch]) -> list[Arch]:
    """Round-robin over spaces (so a partial run covers every space), each space in sample order."""
    by_space: dict[str, list[Arch]] = {}
    for a in archs:
        by_space.setdefault(a.space, []).append(a)
    queues = list(by_space.values())
    out: list[Arch] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def load(path: str | Path) -> pd.DataFrame:
    """The ground-truth table (empty with the key columns when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=[*KEY])
    return pd.read_parquet(path)


def save(df: pd.DataFrame, path: str | Path) -> None:
    """Write the table atomically (a killed run leaves the previous file whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    df.sort_values(["space", "arch_id", "seed"]).reset_index(drop=True).to_parquet(tmp, index=False)
    tmp.replace(path)


def per_architecture(df: pd.DataFrame) -> pd.DataFrame:
    """One row per architecture: the mean ``val_acc`` over seeds (``val_acc``), each seed's accuracy
    (``acc_seed<k>``), the number of seeds, and the per-architecture columns (costs, scores)."""
    if df.empty:
        return df
    score_cols = [c for c in df.columns if c.startswith("score_")]
    fixed = ["space", "name", "config", "arch_resolution", "resolution", "params", "macs", *score_cols]
    fixed = [c for c in fixed if c in df.columns]
    grouped = df.groupby("arch_id", sort=False)
    out = grouped[fixed].first()
    out["val_acc"] = grouped["val_acc"].mean()
    out["seeds"] = grouped["seed"].nunique()
    wide = df.pivot_table(index="arch_id", columns="seed", values="val_acc")
    for seed in wide.columns:
        out[f"acc_seed{seed}"] = wide[seed]
    return out.reset_index()


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's τ-b (ties counted as neither concordant nor discordant); ``nan`` below 3 pairs."""
    from scipy.stats import kendalltau

    if len(a) < 3:
        return math.nan
    return float(kendalltau(a, b).statistic)


def seed_ceiling(df: pd.DataFrame, seeds: tuple[int, int] = (0, 1)) -> float:
    """Kendall τ between the accuracies of two training seeds over the architectures that have both:
    how well one training run ranks the architectures like another does (the best any score can do)."""
    arch = per_architecture(df)
    cols = [f"acc_seed{s}" for s in seeds]
    if arch.empty or not all(c in arch.columns for c in cols):
        return math.nan
    both = arch.dropna(subset=cols)
    return kendall_tau(both[cols[0]].tolist(), both[cols[1]].tolist())


def architectures(arch: pd.DataFrame) -> list[Arch]:
    """The architectures of a (per-architecture or per-run) table, rebuilt from their stored configs."""
    out = []
    for _, r in arch.drop_duplicates("arch_id").iterrows():
        out.append(Arch(r["space"], r["arch_id"], r["name"] or "", stored_net(r), int(r["arch_resolution"])))
    return out


def stored_net(row: Any) -> NetConfig:
    """The ``NetConfig`` of a table row, at the row's searched resolution (``arch_resolution``)."""
    data = json.loads(row["config"])
    data["resolution"] = int(row["arch_resolution"])
    return NetConfig.from_dict(data)


def config_json(net: NetConfig) -> str:
    return json.dumps(net.to_dict(), sort_keys=True)


def recipe_json(recipe: Recipe) -> str:
    return json.dumps(recipe.to_dict(), sort_keys=True)


def same_recipe(text: str, recipe: Recipe = RECIPE) -> bool:
    """Whether a stored recipe JSON describes ``recipe`` (fields added since take their defaults)."""
    try:
        return Recipe.from_dict(json.loads(text)) == recipe
    except (ConfigError, TypeError, ValueError):
        return False


def score_settings_json(settings: ScoreSettings) -> str:
    data: dict[str, Any] = settings.to_dict()
    data.pop("score", None)
    data.pop("device", None)
    return json.dumps(data, sort_keys=True)
