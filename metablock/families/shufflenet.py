"""ShuffleNetV2: the split unit and the downsampling unit, ShuffleNetV2 1.0x, torchvision's converters.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from torch import nn

from ..config import BlockConfig
from ..network import LayerConfig, NetConfig, stages_from_blocks
from ..presets import _preset
from ..reference import (
    _cna_layer,
    _finish,
    _lc,
    _network,
    _norm_kwargs,
    _register,
)
from ..zoo import CLASSIFIER, POOL, _conv, _model

_SHUFFLE_REF = "torchvision.models.shufflenetv2.InvertedResidual"


@_preset("shufflenet_v2_unit", paper="shufflenet_v2", reference=_SHUFFLE_REF)
def shufflenet_v2_unit(*, chs: int = 116, kernel: int = 3) -> BlockConfig:
    """ShuffleNetV2 unit, stride 1: channel split, 1x1-dw-1x1 on one half, concat, shuffle (groups 2)."""
    return BlockConfig(
        in_chs=chs,
        out_chs=chs,
        stride=1,
        hidden_chs=chs // 2,
        expand="pw",
        expand_act="relu",
        mixer="dwconv",
        kernel=kernel,
        mixer_act="none",
        project="pw",
        project_act="relu",
        shortcut="split",
    )


@_preset("shufflenet_v2_down", paper="shufflenet_v2", reference=_SHUFFLE_REF)
def shufflenet_v2_down(*, in_chs: int = 24, out_chs: int = 116, kernel: int = 3) -> BlockConfig:
    """ShuffleNetV2 unit, stride 2: both branches see the input (the shortcut branch is dw + 1x1), concat, shuffle."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=2,
        hidden_chs=out_chs // 2,
        expand="pw",
        expand_act="relu",
        mixer="dwconv",
        kernel=kernel,
        mixer_act="none",
        project="pw",
        project_act="relu",
        shortcut="split",
    )


@_model("shufflenet_v2_x1_0", reference="torchvision.models.shufflenet_v2_x1_0", paper="shufflenet_v2")
def shufflenet_v2_x1_0() -> NetConfig:
    blocks = []
    chs = 24
    for out, n in [(116, 4), (232, 8), (464, 4)]:
        blocks.append(shufflenet_v2_down(in_chs=chs, out_chs=out))
        blocks += [shufflenet_v2_unit(chs=out) for _ in range(n - 1)]
        chs = out
    return NetConfig(
        name="shufflenet_v2_x1_0",
        stem=(_conv(24, 3, 2), LayerConfig(kind="maxpool", kernel=3, stride=2)),
        stages=stages_from_blocks(blocks),
        head=(_conv(1024, 1, 1), POOL, CLASSIFIER),
    )


@_register(["torchvision.models.shufflenetv2.InvertedResidual"])
def _shufflenet(m: nn.Module) -> nn.Module:
    b2 = m.branch2
    kernel = b2[3].kernel_size[0]
    out_chs = 2 * b2[5].out_channels
    if m.stride == 1:
        cfg = shufflenet_v2_unit(chs=out_chs, kernel=kernel)
        pairs: list[tuple[str, str]] = []
    else:
        cfg = shufflenet_v2_down(in_chs=b2[0].in_channels, out_chs=out_chs, kernel=kernel)
        pairs = [
            ("shortcut.proj.0.conv", "branch1.0"),
            ("shortcut.proj.0.norm", "branch1.1"),
            ("shortcut.proj.1.conv", "branch1.2"),
            ("shortcut.proj.1.norm", "branch1.3"),
        ]
    cfg = cfg.replace(**_norm_kwargs(b2[1]))
    pairs += [
        ("expand.conv", "branch2.0"),
        ("expand.norm", "branch2.1"),
        ("mixer.conv", "branch2.3"),
        ("mixer.norm", "branch2.4"),
        ("project.conv", "branch2.5"),
        ("project.norm", "branch2.6"),
    ]
    return _finish(cfg, m, pairs)


@_register(["torchvision.models.shufflenetv2.ShuffleNetV2"])
def _tv_shufflenet(m: nn.Module) -> nn.Module:
    blocks = [b for s in (m.stage2, m.stage3, m.stage4) for b in s]
    stem = [_cna_layer(m.conv1), _lc(kind="maxpool", kernel=m.maxpool.kernel_size, stride=m.maxpool.stride)]
    head = [_cna_layer(m.conv5), _lc(kind="pool"), _lc(kind="linear", bias=True)]
    pairs = [
        ("stem.0.conv", "conv1.0"),
        ("stem.0.norm", "conv1.1"),
        ("head.0.conv", "conv5.0"),
        ("head.0.norm", "conv5.1"),
        ("head.2.fc", "fc"),
    ]
    return _network(m, "shufflenet_v2", stem, blocks, head, pairs)
