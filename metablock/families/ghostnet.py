"""GhostNet: the ghost bottleneck (ghost modules, depthwise-separable shortcut), GhostNet 1.0x, timm's converters.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from torch import nn

from .. import presets
from ..config import BlockConfig
from ..errors import ConfigError
from ..network import LayerConfig, NetConfig, stages_from_blocks
from ..presets import _preset
from ..reference import (
    _cna_layer,
    _finish,
    _lc,
    _network,
    _norm_kwargs,
    _parts,
    _register,
    _timm_dropout,
    _timm_head_checks,
    _timm_name,
    _timm_se,
    act_name,
)
from ..zoo import CLASSIFIER, POOL, _conv, _dropout, _model
from .mobilenetv4 import _cn


@_preset("ghost_bottleneck", paper="ghostnet", reference="timm.models.ghostnet.GhostBottleneck")
def ghost_bottleneck(
    *,
    in_chs: int = 40,
    out_chs: int = 80,
    stride: int = 2,
    hidden_chs: int = 240,
    kernel: int = 3,
    se_ratio: float = 0.0,
) -> BlockConfig:
    """Ghost bottleneck: a ghost module expands (ReLU), a depthwise conv + BN (no activation) only at
    stride 2, SE (hard-sigmoid gate, squeeze width a multiple of 4), a linear ghost module projects;
    the shortcut is the identity, or a depthwise conv + BN and a 1x1 conv + BN when the shape changes.
    ``kernel`` is that of the two depthwise convs; a block with neither keeps the default 3."""
    shortcut = "identity" if stride == 1 and in_chs == out_chs else "dw_conv"
    if stride == 1 and shortcut == "identity":
        kernel = 3  # used by no part: one config per block
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=hidden_chs / in_chs,
        hidden_chs=hidden_chs,
        expand="ghost",
        expand_act="relu",
        mixer="dwconv" if stride > 1 else "identity",
        kernel=kernel,
        mixer_act="none",
        se_ratio=se_ratio,
        se_round="divisible",
        se_divisor=4,
        se_act="relu",
        se_gate="hsigmoid",
        project="ghost",
        shortcut=shortcut,
    )


_GHOSTNET = [  # kernel, hidden, out, SE ratio, stride (GhostNet Table 1; timm ghostnet_100)
    (3, 16, 16, 0, 1), (3, 48, 24, 0, 2), (3, 72, 24, 0, 1), (5, 72, 40, 0.25, 2), (5, 120, 40, 0.25, 1),
    (3, 240, 80, 0, 2), (3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1),
    (3, 672, 112, 0.25, 1), (5, 672, 160, 0.25, 2), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1),
    (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1),
]  # fmt: skip


@_model("ghostnet_100", reference="timm ghostnet_100", paper="ghostnet")
def ghostnet_100() -> NetConfig:
    """GhostNet 1.0x: a 3x3 stem of 16, sixteen ghost bottlenecks, a 1x1 conv of 960, pooling, a 1x1
    conv of 1280 with bias and ReLU on the pooled features, dropout 0.2, a classifier."""
    blocks = []
    chs = 16
    for kernel, hidden, out, se, stride in _GHOSTNET:
        cfg = ghost_bottleneck(in_chs=chs, out_chs=out, stride=stride, hidden_chs=hidden, kernel=kernel, se_ratio=se)
        blocks.append(presets.explicit_se(cfg))
        chs = out
    blocks.append(_cn(chs, 960, 1, 1))
    return NetConfig(
        name="ghostnet_100",
        stem=(_conv(16, 3, 2),),
        stages=stages_from_blocks(blocks),
        head=(POOL, LayerConfig(kind="linear", out_chs=1280, bias=True, act="relu"), _dropout(0.2), CLASSIFIER),
    )


def _ghost_module(g: nn.Module, slot: str, their: str) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """A timm GhostNet ghost module: its ratio, cheap kernel, activation and key pairs."""
    if type(g).__name__ != "GhostModule":
        raise ConfigError(
            f"from_reference: {their} is a {type(g).__name__}: GhostNetV2's DFC attention (mode='attn') has no "
            "equivalent; only GhostNet's ghost module"
        )
    primary, cheap = g.primary_conv[0], g.cheap_operation[0]
    if primary.kernel_size != (1, 1) or primary.stride != (1, 1):
        raise ConfigError(f"from_reference: a ghost module with a {primary.kernel_size} primary conv is not supported")
    if cheap.out_channels % primary.out_channels:
        raise ConfigError(f"from_reference: {their}'s cheap conv is not a whole multiple of its primary conv")
    ratio = cheap.out_channels // primary.out_channels + 1
    if act_name(g.primary_conv[2]) != act_name(g.cheap_operation[2]):
        raise ConfigError(f"from_reference: {their}'s primary and cheap convs have different activations")
    kw = {"ghost_ratio": ratio, "ghost_kernel": cheap.kernel_size[0]}
    pairs = _parts(
        **{
            f"{slot}.primary": (f"{their}.primary_conv.0", f"{their}.primary_conv.1"),
            f"{slot}.cheap": (f"{their}.cheap_operation.0", f"{their}.cheap_operation.1"),
        }
    )
    return kw, pairs


@_register(["timm.models.ghostnet.GhostBottleneck"])
def _ghost_bottleneck(m: nn.Module) -> nn.Module:
    """timm GhostNet bottleneck: ghost module (ReLU), depthwise conv + BN at stride 2, SE, linear
    ghost module; identity or depthwise-separable (dw + BN, 1x1 + BN) shortcut."""
    g1, g2 = m.ghost1, m.ghost2
    kw1, pairs = _ghost_module(g1, "expand", "ghost1")
    kw2, pairs2 = _ghost_module(g2, "project", "ghost2")
    if kw1 != kw2:
        raise ConfigError(f"from_reference: the two ghost modules differ ({kw1} vs {kw2}); one setting is supported")
    pairs += pairs2
    in_chs, hidden, out_chs = g1.primary_conv[0].in_channels, g1.out_chs, g2.out_chs
    stride, kernel = 1, 3
    if m.conv_dw is not None:
        stride, kernel = m.conv_dw.stride[0], m.conv_dw.kernel_size[0]
        pairs += [("mixer.conv", "conv_dw"), ("mixer.norm", "bn_dw")]
    shortcut = "identity"
    if len(m.shortcut):
        shortcut = "dw_conv"
        kernel = m.shortcut[0].kernel_size[0]
        pairs += _parts(
            **{"shortcut.proj.0": ("shortcut.0", "shortcut.1"), "shortcut.proj.1": ("shortcut.2", "shortcut.3")}
        )
    cfg = ghost_bottleneck(in_chs=in_chs, out_chs=out_chs, stride=stride, hidden_chs=hidden, kernel=kernel)
    cfg = cfg.replace(
        shortcut=shortcut, expand_act=act_name(g1.primary_conv[2]), project_act=act_name(g2.primary_conv[2]), **kw1
    )
    cfg = cfg.replace(**_norm_kwargs(g1.primary_conv[1]))
    se_kw: dict[str, object] = {}
    _timm_se(m, se_kw, pairs)
    if se_kw:  # the reference stores the squeeze width only
        cfg = presets.explicit_se(cfg.replace(se_chs=se_kw.pop("se_chs"))).replace(**se_kw)
    return _finish(cfg, m, pairs)


@_register(["timm.models.ghostnet.GhostNet"])
def _timm_ghostnet(m: nn.Module) -> nn.Module:
    """timm GhostNet (v1): stem conv, ghost bottlenecks, a 1x1 conv stage, pooling, a 1x1 head conv with
    bias and ReLU on the pooled features, dropout, classifier."""
    _timm_head_checks(m)
    blocks = [b for stage in m.blocks for b in stage]
    for b in blocks:
        if type(b).__name__ == "GhostBottleneckV3":
            raise ConfigError(
                "from_reference: GhostNetV3 (re-parameterisable ghost modules with extra training branches) has no "
                "equivalent yet"
            )
    stem = [_cna_layer(nn.Sequential(m.conv_stem, m.bn1, m.act1))]
    head = [
        _lc(kind="pool"),
        _lc(kind="linear", out_chs=m.conv_head.out_channels, bias=m.conv_head.bias is not None, act=act_name(m.act2)),
        *_timm_dropout(m),
        _lc(kind="linear", bias=True),
    ]
    pairs = [
        ("stem.0.conv", "conv_stem"),
        ("stem.0.norm", "bn1"),
        ("head.1.fc", "conv_head"),
        (f"head.{len(head) - 1}.fc", "classifier"),
    ]
    return _network(m, _timm_name(m), stem, blocks, head, pairs)
