"""RegNet: the group-conv bottleneck with SE (X and Y), RegNetY-400MF, torchvision's converters.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from torch import nn

from ..config import BlockConfig
from ..network import NetConfig, stages_from_blocks
from ..presets import _preset
from ..reference import (
    _cna,
    _cna_layer,
    _finish,
    _lc,
    _network,
    _norm_kwargs,
    _register,
    _se_pairs,
    act_name,
)
from ..zoo import CLASSIFIER, POOL, _conv, _model
from .resnet import resnet_bottleneck


@_preset("regnet_y_block", paper="regnet", reference="torchvision.models.regnet.ResBottleneckBlock")
def regnet_y_block(
    *, in_chs: int = 48, out_chs: int = 104, stride: int = 2, group_width: int = 8, se_ratio: float = 0.25
) -> BlockConfig:
    """RegNet's bottleneck (ratio 1): 1x1 conv, 3x3 group conv of ``out_chs // group_width`` groups
    carrying the stride, SE on a quarter of the block input width (RegNetY; 0 for RegNetX), 1x1 conv,
    ReLU after the add; a strided 1x1 conv + BN shortcut when the shape changes."""
    cfg = resnet_bottleneck(
        in_chs=in_chs, out_chs=out_chs, stride=stride, hidden_chs=out_chs, groups=out_chs // group_width
    )
    if se_ratio:
        cfg = cfg.replace(se_ratio=se_ratio, se_ref="in", se_round="round", se_act="relu", se_gate="sigmoid")
    return cfg


def regnet(name: str, depths: list[int], widths: list[int], group_width: int, se_ratio: float = 0.0) -> NetConfig:
    """A RegNet X (``se_ratio`` 0) or Y (0.25) from its resolved stage depths and widths: a 3x3 stem of
    32, then bottlenecks of ratio 1 whose 3x3 conv has ``width // group_width`` groups and carries the
    stride, SE on the block input width (Y), ReLU after the add; average pooling and a classifier."""
    blocks = []
    chs = 32
    for depth, width in zip(depths, widths, strict=True):
        for i in range(depth):
            stride = 2 if i == 0 else 1
            blocks.append(
                regnet_y_block(in_chs=chs, out_chs=width, stride=stride, group_width=group_width, se_ratio=se_ratio)
            )
            chs = width
    return NetConfig(
        name=name, stem=(_conv(32, 3, 2, "relu"),), stages=stages_from_blocks(blocks), head=(POOL, CLASSIFIER)
    )


@_model("regnet_y_400mf", reference="torchvision.models.regnet_y_400mf", paper="regnet")
def regnet_y_400mf() -> NetConfig:
    # the quantised design (depth 16, w0 48, wa 27.89, wm 2.09, group width 8) resolves to these stages
    return regnet("regnet_y_400mf", [1, 3, 6, 6], [48, 104, 208, 440], 8, se_ratio=0.25)


@_register(["torchvision.models.regnet.ResBottleneckBlock"])
def _regnet_block(m: nn.Module) -> nn.Module:
    """torchvision RegNet X/Y bottleneck: 1x1, grouped 3x3 carrying the stride, optional SE (Y), 1x1,
    projection shortcut when the shape changes, ReLU after the add."""
    f = m.f
    b = f.b[0]
    cfg = BlockConfig(
        in_chs=f.a[0].in_channels,
        out_chs=f.c[0].out_channels,
        stride=b.stride[0],
        hidden_chs=f.a[0].out_channels,
        expand="pw",
        expand_act=act_name(f.a[2]),
        mixer="conv",
        kernel=b.kernel_size[0],
        mixer_groups=b.groups,
        mixer_act=act_name(f.b[2]),
        project="pw",
        shortcut="conv" if m.proj is not None else "identity",
        post_act=act_name(m.activation),
        **_norm_kwargs(f.a[1]),
    )
    pairs = _cna("expand", "f.a") + _cna("mixer", "f.b") + _cna("project", "f.c")
    if m.proj is not None:
        pairs += [("shortcut.proj.conv", "proj.0"), ("shortcut.proj.norm", "proj.1")]
    se = getattr(f, "se", None)
    if se is not None:
        squeeze = se.fc1.out_channels  # RegNet-Y: round(se_ratio x block input width)
        cfg = cfg.replace(
            se_ratio=squeeze / cfg.in_chs,
            se_ref="in",
            se_round="round",
            se_chs=squeeze,
            se_act=act_name(se.activation),
            se_gate=act_name(se.scale_activation),
        )
        pairs += _se_pairs("f.se")
    return _finish(cfg, m, pairs)


@_register(["torchvision.models.regnet.RegNet"])
def _tv_regnet(m: nn.Module) -> nn.Module:
    """torchvision RegNet X/Y: stem conv, the bottleneck stages, pooling, classifier."""
    blocks = [b for stage in m.trunk_output for b in stage]
    head = [_lc(kind="pool"), _lc(kind="linear", bias=True)]
    pairs = [("stem.0.conv", "stem.0"), ("stem.0.norm", "stem.1"), ("head.1.fc", "fc")]
    return _network(m, "regnet", [_cna_layer(m.stem)], blocks, head, pairs)
