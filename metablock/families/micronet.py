"""MicroNet: micro-blocks with dynamic shift-max, the MicroNet networks and the official checkpoints' keys.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .. import presets
from ..config import Act, BlockConfig, ShiftMaxConfig
from ..convert import SOURCES, Pairs, _layout, rename, rename_network
from ..errors import ConfigError
from ..network import LayerConfig, NetConfig, stages_from_blocks
from ..presets import _preset
from ..zoo import MODELS, POOL, _dropout


def micronet_block(
    *,
    in_chs: int,
    row: tuple[int, ...] | list[int],
    init_a: tuple[float, float] = (1.0, 1.0),
    init_b: tuple[float, float] = (0.0, 0.0),
    init_ab3: tuple[float, float] = (1.0, 0.0),
    reduction: int = 8,
    act_max: float = 2.0,
    shuffle: bool = True,
    depthsep: bool = True,
) -> BlockConfig:
    """A MicroNet micro-block from one row of the official configuration tables.

    ``row`` is ``(s, n, c, ks, c1, c2, g1, g2, c3, g3, g4, y1, y2, y3, r)``: stride, repeats (ignored
    here), output width, kernel, the two channel multipliers, the two groups of the first group
    conv (``g1 = 0`` selects Micro-Block-A), the second group conv's width and groups (``g4 = 0``
    selects the final pointwise expansion), the three dynamic shift-max modes (0: ReLU6 / none,
    1: one fusion, 2: max of two fusions) and the squeeze ratio multiplier.
    """
    s, _n, c, ks, c1, c2, g1, g2, _c3, g3, g4, y1, y2, y3, r = (int(v) for v in row)
    red = reduction * r
    hidden = in_chs * c1 * c2

    def smax(y: int, groups: int, red_: int, a: tuple[float, float], b: tuple[float, float]) -> ShiftMaxConfig:
        return ShiftMaxConfig(
            groups=groups, reduction=red_, fusions=2 if y == 2 else 1, act_max=act_max, init_a=a, init_b=b
        )

    a3, b3 = (init_ab3[0], 0.0), (init_ab3[1], 0.0)
    skip = "identity" if s == 1 and in_chs == c else "none"
    if g1 == 0:  # Micro-Block-A: factorized depthwise first, then a grouped pointwise conv
        mixer_act: Act = smax(y2, g2, red, init_a, init_b) if y2 > 0 else "relu6"
        return BlockConfig(
            in_chs=in_chs,
            out_chs=c,
            stride=s,
            expand="none",
            mixer="dw_factorized",
            kernel=ks,
            factor_mults=(c1, c2),
            mixer_act=mixer_act,
            mixer_shuffle=((g2,) if shuffle else ()) + ((hidden // 2,) if shuffle and y2 != 0 else ()),
            project="pw",
            project_groups=g3,
            project_act=smax(y3, g4, red // 2, a3, b3) if y3 > 0 else "none",
            project_shuffle=((g4,) if shuffle else ()) + ((c // 2,) if shuffle and c % 2 == 0 and y3 != 0 else ()),
            shortcut=skip,
        )
    if g4 == 0:  # the final pointwise expansion
        return BlockConfig(
            in_chs=in_chs,
            out_chs=hidden,
            stride=s,
            hidden_chs=hidden,
            expand="pw",
            expand_groups=g1,
            expand_act=smax(y3, g2, red, a3, b3) if y3 > 0 else "none",
            mixer="identity",
            project="none",
            shortcut=skip,
        )
    # Micro-Block-B / -C: grouped pointwise expand, factorized depthwise, grouped pointwise project
    if shuffle and y1 != 0 and y2 != 0:
        mid_shuffle: tuple[int, ...] = (hidden // 4,)
    elif y1 == 0 and y2 == 0:
        mid_shuffle = ()
    else:
        mid_shuffle = (hidden // 2,)
    dw_groups = hidden // g2 if g2 != 1 else 1
    return BlockConfig(
        in_chs=in_chs,
        out_chs=c,
        stride=s,
        hidden_chs=hidden,
        expand="pw",
        expand_groups=g1,
        expand_act=smax(y1, g2, red, init_a, init_b) if y1 > 0 else "relu6",
        expand_shuffle=(g2,) if shuffle else (),
        mixer="dw_factorized" if depthsep else "dwconv",
        kernel=ks,
        mixer_act=smax(y2, dw_groups, red, init_a, init_b) if y2 > 0 else "relu6",
        mixer_shuffle=mid_shuffle,
        project="pw",
        project_groups=g3,
        project_act=smax(y3, g4, red // 2 if c < hidden else red, a3, b3) if y3 > 0 else "none",
        project_shuffle=((g4,) if shuffle else ()) + ((c // 2,) if shuffle and y3 != 0 else ()),
        shortcut=skip,
    )


_MICRO_REF = "liyunsheng13/micronet backbone/micronet.py DYMicroBlock"


@_preset("micro_block_a", paper="micronet", reference=_MICRO_REF)
def micro_block_a(
    *, in_chs: int = 8, row: tuple[int, ...] = (2, 1, 12, 3, 2, 2, 0, 8, 12, 4, 4, 2, 2, 1, 1)
) -> BlockConfig:
    """Micro-Block-A: micro-factorized depthwise conv (k×1, 1×k, widening) then a grouped pointwise conv,
    dynamic shift-max after each (MicroNet-M0, second block)."""
    return micronet_block(in_chs=in_chs, row=row)


@_preset("micro_block_b", paper="micronet", reference=_MICRO_REF)
def micro_block_b(
    *, in_chs: int = 16, row: tuple[int, ...] = (1, 1, 32, 5, 1, 4, 4, 4, 32, 4, 4, 2, 2, 1, 1)
) -> BlockConfig:
    """Micro-Block-B: grouped pointwise expansion, factorized depthwise, grouped pointwise projection that
    changes the width (no shortcut), dynamic shift-max after each (MicroNet-M0, fourth block)."""
    return micronet_block(in_chs=in_chs, row=row)


@_preset("micro_block_c", paper="micronet", reference=_MICRO_REF)
def micro_block_c(
    *, in_chs: int = 32, row: tuple[int, ...] = (1, 1, 32, 5, 1, 6, 8, 8, 32, 4, 4, 2, 2, 1, 2)
) -> BlockConfig:
    """Micro-Block-C: the B layout at constant width with an identity shortcut (MicroNet-M2, fifth block)."""
    return micronet_block(in_chs=in_chs, row=row)


_MICRONET = {  # rows of backbone/microconfig.py and the settings of scripts/eval_micronet_m*.sh
    "micronet_m0": dict(
        stem=4,
        groups=(2, 2),
        out=640,
        dropout=0.05,
        init_a=(1.0, 1.0),
        init_b=(0.0, 0.0),
        rows=[
            [2, 1, 8, 3, 2, 2, 0, 4, 8, 2, 2, 2, 0, 1, 1],
            [2, 1, 12, 3, 2, 2, 0, 8, 12, 4, 4, 2, 2, 1, 1],
            [2, 1, 16, 5, 2, 2, 0, 12, 16, 4, 4, 2, 2, 1, 1],
            [1, 1, 32, 5, 1, 4, 4, 4, 32, 4, 4, 2, 2, 1, 1],
            [2, 1, 64, 5, 1, 4, 8, 8, 64, 8, 8, 2, 2, 1, 1],
            [1, 1, 96, 3, 1, 4, 8, 8, 96, 8, 8, 2, 2, 1, 2],
            [1, 1, 384, 3, 1, 4, 12, 12, 0, 0, 0, 2, 2, 1, 2],
        ],
    ),
    "micronet_m1": dict(
        stem=6,
        groups=(3, 2),
        out=960,
        dropout=0.05,
        init_a=(1.0, 1.0),
        init_b=(0.0, 0.0),
        rows=[
            [2, 1, 8, 3, 2, 2, 0, 6, 8, 2, 2, 2, 0, 1, 1],
            [2, 1, 16, 3, 2, 2, 0, 8, 16, 4, 4, 2, 2, 1, 1],
            [2, 1, 16, 5, 2, 2, 0, 16, 16, 4, 4, 2, 2, 1, 1],
            [1, 1, 32, 5, 1, 6, 4, 4, 32, 4, 4, 2, 2, 1, 1],
            [2, 1, 64, 5, 1, 6, 8, 8, 64, 8, 8, 2, 2, 1, 1],
            [1, 1, 96, 3, 1, 6, 8, 8, 96, 8, 8, 2, 2, 1, 2],
            [1, 1, 576, 3, 1, 6, 12, 12, 0, 0, 0, 2, 2, 1, 2],
        ],
    ),
    "micronet_m2": dict(
        stem=8,
        groups=(4, 2),
        out=1024,
        dropout=0.1,
        init_a=(1.0, 1.0),
        init_b=(0.0, 0.0),
        rows=[
            [2, 1, 12, 3, 2, 2, 0, 8, 12, 4, 4, 2, 0, 1, 1],
            [2, 1, 16, 3, 2, 2, 0, 12, 16, 4, 4, 2, 2, 1, 1],
            [1, 1, 24, 3, 2, 2, 0, 16, 24, 4, 4, 2, 2, 1, 1],
            [2, 1, 32, 5, 1, 6, 6, 6, 32, 4, 4, 2, 2, 1, 1],
            [1, 1, 32, 5, 1, 6, 8, 8, 32, 4, 4, 2, 2, 1, 2],
            [1, 1, 64, 5, 1, 6, 8, 8, 64, 8, 8, 2, 2, 1, 2],
            [2, 1, 96, 5, 1, 6, 8, 8, 96, 8, 8, 2, 2, 1, 2],
            [1, 1, 128, 3, 1, 6, 12, 12, 128, 8, 8, 2, 2, 1, 2],
            [1, 1, 768, 3, 1, 6, 16, 16, 0, 0, 0, 2, 2, 1, 2],
        ],
    ),
    "micronet_m3": dict(
        stem=12,
        groups=(4, 3),
        out=1024,
        dropout=0.1,
        init_a=(1.0, 0.5),
        init_b=(0.0, 0.5),
        rows=[
            [2, 1, 16, 3, 2, 2, 0, 12, 16, 4, 4, 0, 2, 0, 1],
            [2, 1, 24, 3, 2, 2, 0, 16, 24, 4, 4, 0, 2, 0, 1],
            [1, 1, 24, 3, 2, 2, 0, 24, 24, 4, 4, 0, 2, 0, 1],
            [2, 1, 32, 5, 1, 6, 6, 6, 32, 4, 4, 0, 2, 0, 1],
            [1, 1, 32, 5, 1, 6, 8, 8, 32, 4, 4, 0, 2, 0, 2],
            [1, 1, 64, 5, 1, 6, 8, 8, 48, 8, 8, 0, 2, 0, 2],
            [1, 1, 80, 5, 1, 6, 8, 8, 80, 8, 8, 0, 2, 0, 2],
            [1, 1, 80, 5, 1, 6, 10, 10, 80, 8, 8, 0, 2, 0, 2],
            [2, 1, 120, 5, 1, 6, 10, 10, 120, 10, 10, 0, 2, 0, 2],
            [1, 1, 120, 5, 1, 6, 12, 12, 120, 10, 10, 0, 2, 0, 2],
            [1, 1, 144, 3, 1, 6, 12, 12, 144, 12, 12, 0, 2, 0, 2],
            [1, 1, 864, 3, 1, 6, 12, 12, 0, 0, 0, 0, 2, 0, 2],
        ],
    ),
}


def micronet_network(
    name: str,
    *,
    stem: int,
    groups: tuple[int, int],
    out: int,
    dropout: float,
    init_a: tuple[float, float],
    init_b: tuple[float, float],
    rows: list[list[int]],
) -> NetConfig:
    """A MicroNet from the official configuration table and model script settings."""
    g1, g2 = groups
    max_group = 2 if g1 * g2 == 2 * stem else 1
    blocks = []
    chs = stem
    for row in rows:
        for i in range(row[1]):
            r = list(row)
            if i:
                r[0] = 1
            blocks.append(micronet_block(in_chs=chs, row=r, init_a=init_a, init_b=init_b))
            chs = blocks[-1].out_chs
    swish = dict(bias=True, norm="bn_after", act="hswish")
    return NetConfig(
        name=name,
        stem=(
            LayerConfig(
                kind="factorized_conv",
                out_chs=stem,
                kernel=3,
                stride=2,
                factor_groups=groups,
                max_group=max_group,
                act="relu6" if max_group == 1 else "none",
            ),
        ),
        stages=stages_from_blocks(blocks),
        head=(
            LayerConfig(kind="act", act="relu6"),
            POOL,
            LayerConfig(kind="act", act="hswish"),
            LayerConfig(kind="linear", out_chs=out, **swish),
            _dropout(dropout),
            LayerConfig(kind="linear", **swish),
        ),
    )


def _register_micronet(key: str) -> None:
    MODELS.add(
        key,
        lambda: micronet_network(key, **_MICRONET[key]),  # type: ignore[arg-type]
        reference="liyunsheng13/micronet backbone/micronet.py with scripts/eval_" + key + ".sh",
        paper=presets.PAPERS["micronet"],
    )


for _key in _MICRONET:
    _register_micronet(_key)


# DYMicroBlock (backbone/micronet.py): its ``layers`` Sequential is laid out per path
_DSEP = ("conv.0", "conv1.conv"), ("conv.1", "conv1.norm"), ("conv.2", "conv2.conv"), ("conv.3", "conv2.norm")


MICRONET_BLOCK_A: Pairs = (
    *((f"layers.0.{a}", f"mixer.{b}") for a, b in _DSEP),
    ("layers.1.fc.0", "mixer.conv2.act.fc1"),
    ("layers.1.fc.2", "mixer.conv2.act.fc2"),
    ("layers.4.conv.0", "project.conv"),
    ("layers.4.conv.1", "project.norm"),
    ("layers.5.fc.0", "project.act.fc1"),
    ("layers.5.fc.2", "project.act.fc2"),
)


MICRONET_BLOCK_EXPAND: Pairs = (
    ("layers.0.conv.0", "expand.conv"),
    ("layers.0.conv.1", "expand.norm"),
    ("layers.1.fc.0", "expand.act.fc1"),
    ("layers.1.fc.2", "expand.act.fc2"),
)


_MICRONET_BC_OUTER: Pairs = (
    *MICRONET_BLOCK_EXPAND,
    ("layers.7.conv.0", "project.conv"),
    ("layers.7.conv.1", "project.norm"),
    ("layers.8.fc.0", "project.act.fc1"),
    ("layers.8.fc.2", "project.act.fc2"),
)


MICRONET_BLOCK_BC: Pairs = (
    *_MICRONET_BC_OUTER,
    *((f"layers.3.{a}", f"mixer.{b}") for a, b in _DSEP),
    ("layers.5.fc.0", "mixer.conv2.act.fc1"),
    ("layers.5.fc.2", "mixer.conv2.act.fc2"),
)


MICRONET_BLOCK_BC_DWCONV: Pairs = (  # depthsep=False: a plain depthwise conv
    *_MICRONET_BC_OUTER,
    ("layers.3.conv.0", "mixer.conv"),
    ("layers.3.conv.1", "mixer.norm"),
    ("layers.5.fc.0", "mixer.act.fc1"),
    ("layers.5.fc.2", "mixer.act.fc2"),
)


def micronet_block_pairs(keys: Sequence[str], prefix: str = "") -> Pairs:
    """The key pairs of one DYMicroBlock, chosen by the path its keys reveal."""
    rel = {k[len(prefix) :] for k in keys}
    if any(k.startswith("layers.0.conv.3.") for k in rel):
        return MICRONET_BLOCK_A
    if any(k.startswith("layers.3.conv.3.") for k in rel):
        return MICRONET_BLOCK_BC
    if any(k.startswith("layers.3.") for k in rel):
        return MICRONET_BLOCK_BC_DWCONV
    return MICRONET_BLOCK_EXPAND


MICRONET_NETWORK: Pairs = (
    ("features.0.stem.0.conv.0", "stem.0.conv1.conv"),  # SpatialSepConvSF: k×1 conv, BN, 1×k conv, BN
    ("features.0.stem.0.conv.1", "stem.0.conv1.norm"),
    ("features.0.stem.0.conv.2", "stem.0.conv2.conv"),
    ("features.0.stem.0.conv.3", "stem.0.conv2.norm"),
    ("classifier.0.linear.0", "head.3.fc"),  # SwishLinear: Linear, BatchNorm1d, h-swish
    ("classifier.0.linear.1", "head.3.norm_after"),
    ("classifier.2.linear.0", "head.5.fc"),
    ("classifier.2.linear.1", "head.5.norm_after"),
)


_MICRONET_BLOCK_KEY = re.compile(r"^(features\.(\d+))\.")


def _micronet_network(keys: Sequence[str], layout: list[tuple[int, int]]) -> dict[str, str]:
    def place(index: tuple[int, int]) -> tuple[int, int] | None:
        n = index[0] - 1  # features.0 is the stem
        if n < 0:
            return None
        if n >= len(layout):
            raise ConfigError(
                f"convert_state_dict: no block for key prefix 'features.{index[0]}' "
                f"(the target network has {len(layout)} blocks)"
            )
        return layout[n]

    return rename_network(keys, MICRONET_NETWORK, _MICRONET_BLOCK_KEY, place, micronet_block_pairs)


def _micronet(shapes: Mapping[str, tuple[int, ...]], model: Any = None) -> dict[str, str]:
    keys = list(shapes)
    if not any(k.startswith("features.") for k in keys):
        return rename(keys, micronet_block_pairs(keys))
    if model is not None:
        return _micronet_network(keys, _layout(model))
    blocks = {int(k.split(".")[1]) for k in keys if k.startswith("features.")} - {0}  # features.0: the stem
    _micronet_network(keys, [(0, i) for i in range(max(blocks, default=0))])  # every key maps somewhere
    # Our stages split where a block changes shape, which needs each block's stride: not in a state
    # dict, so take the layout of the named MicroNet whose state dict has exactly these shapes.
    from ..network import build
    from ..zoo import list_models, model_config

    for name in (n for n in list_models() if n.startswith("micronet_")):
        cfg = model_config(name)
        layout = _layout(cfg)
        if len(blocks) != len(layout):
            continue
        names = _micronet_network(keys, layout)
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in build(cfg).state_dict().items()}
        if len(expected) == len(keys) and all(expected.get(names[k]) == shapes[k] for k in keys):
            return names
    raise ConfigError(
        "convert_state_dict(source='micronet'): the checkpoint is none of the named MicroNets "
        f"({', '.join(n for n in list_models() if n.startswith('micronet_'))}); pass model= (a name or NetConfig)"
    )


SOURCES["micronet"] = _micronet
