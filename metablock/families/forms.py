"""Block forms without a package reference: a non-depthwise inverted residual, an inverted residual
with SE and an average-pool shortcut.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from ..config import BlockConfig
from ..presets import _preset


@_preset("nondw_ir", paper="mobilenet_v2", reference="inverted residual with a full 3x3 conv (no package reference)")
def nondw_ir(
    *, in_chs: int = 32, out_chs: int = 32, stride: int = 1, exp_ratio: float = 4.0, kernel: int = 3
) -> BlockConfig:
    """Non-depthwise inverted residual: 1x1 expand, full 3x3 conv, 1x1 project, ReLU after the add."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        expand="pw",
        expand_act="relu",
        mixer="conv",
        kernel=kernel,
        mixer_act="relu",
        project="pw",
        shortcut="identity" if stride == 1 and in_chs == out_chs else "conv",
        post_act="relu",
    )


@_preset("ir_se_avgpool", paper="senet", reference="inverted residual with SE (no package reference)")
def ir_se_avgpool(
    *,
    in_chs: int = 32,
    out_chs: int = 64,
    stride: int = 2,
    exp_ratio: float = 4.0,
    kernel: int = 3,
    act: str = "relu",
    se_ratio: float = 0.25,
) -> BlockConfig:
    """Inverted residual with SE after the depthwise conv; the shortcut is added (never multiplied):
    identity at stride 1, average pool (+ 1x1 conv + BN when the width changes) otherwise."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        expand="pw",
        expand_act=act,
        mixer="dwconv",
        kernel=kernel,
        mixer_act=act,
        se_ratio=se_ratio,
        se_ref="hidden",
        se_round="divisible",
        se_divisor=8,
        se_act="relu",
        se_gate="sigmoid",
        project="pw",
        shortcut="identity" if stride == 1 and in_chs == out_chs else "avgpool",
    )
