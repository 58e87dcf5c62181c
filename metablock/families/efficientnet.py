"""EfficientNet, EfficientNetV2 and EfficientNet-EdgeTPU: MBConv, Fused-MBConv, EdgeResidual, compound
scaling; torchvision's blocks and timm's EfficientNet builder class (ds, ir, er, cn blocks).

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .. import presets
from ..config import BlockConfig
from ..errors import ConfigError
from ..network import NetConfig, stages_from_blocks
from ..presets import _preset, _skip
from ..reference import (
    _bn,
    _cna,
    _cna_layer,
    _drop_path,
    _finish,
    _lc,
    _network,
    _norm_kwargs,
    _parts,
    _register,
    _se_pairs,
    _timm_common,
    _timm_dropout,
    _timm_head_checks,
    _timm_name,
    _timm_se,
    act_name,
)
from ..zoo import CLASSIFIER, MODELS, POOL, _conv, _dropout, _model
from .mixnet import _dw_mixer, _is_mixed, _mixed_children, _unmixed


@_preset("mbconv", paper="efficientnet", reference="torchvision.models.efficientnet.MBConv")
def mbconv(
    *,
    in_chs: int = 24,
    out_chs: int = 24,
    stride: int = 1,
    exp_ratio: float = 6.0,
    kernel: int = 3,
    se_ratio: float = 0.25,
) -> BlockConfig:
    """MBConv: 1x1 expand (width rounded to 8), depthwise, SE on the block input width, linear 1x1, SiLU."""
    from ..config import make_divisible

    hidden = make_divisible(in_chs * exp_ratio, 8)
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        hidden_divisor=8,
        expand="none" if hidden == in_chs else "pw",
        expand_act="silu",
        mixer="dwconv",
        kernel=kernel,
        mixer_act="silu",
        se_ratio=se_ratio,
        se_ref="in",
        se_round="floor",
        se_act="silu",
        project="pw",
        shortcut=_skip(in_chs, out_chs, stride),
    )


@_preset("fused_mbconv", paper="efficientnet_v2", reference="torchvision.models.efficientnet.FusedMBConv")
def fused_mbconv(
    *, in_chs: int = 48, out_chs: int = 64, stride: int = 2, exp_ratio: float = 4.0, kernel: int = 3
) -> BlockConfig:
    """Fused-MBConv: a full k×k expansion conv (carrying the stride) then a linear 1x1; λ = 1 is one k×k conv."""
    from ..config import make_divisible

    hidden = make_divisible(in_chs * exp_ratio, 8)
    if hidden == in_chs:
        return BlockConfig(
            in_chs=in_chs,
            out_chs=out_chs,
            stride=stride,
            hidden_chs=out_chs,
            expand="fused",
            expand_kernel=kernel,
            expand_act="silu",
            mixer="identity",
            project="none",
            shortcut=_skip(in_chs, out_chs, stride),
            norm_eps=1e-3,
        )
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        hidden_divisor=8,
        expand="fused",
        expand_kernel=kernel,
        expand_act="silu",
        mixer="identity",
        project="pw",
        shortcut=_skip(in_chs, out_chs, stride),
        norm_eps=1e-3,
    )


@_preset("edge_residual", paper="efficientnet_edgetpu", reference="timm.models._efficientnet_blocks.EdgeResidual")
def edge_residual(
    *,
    in_chs: int = 24,
    out_chs: int = 32,
    stride: int = 2,
    exp_ratio: float = 4.0,
    kernel: int = 3,
    act: str = "relu",
    se_ratio: float = 0.0,
) -> BlockConfig:
    """EfficientNet-EdgeTPU's EdgeResidual (MobileNetV4's FusedIB): a full k×k expansion carrying the
    stride, optional SE (``se_ratio`` of the block input), a linear 1x1 projection; identity shortcut
    when the shape is kept."""
    cfg = BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        expand="fused",
        expand_kernel=kernel,
        expand_act=act,
        mixer="identity",
        project="pw",
        shortcut=_skip(in_chs, out_chs, stride),
    )
    if se_ratio:
        cfg = cfg.replace(se_ratio=se_ratio, se_ref="in", se_round="round", se_act=act, se_gate="sigmoid")
    return cfg


def _effnet_blocks(rows: list[tuple[Any, ...]], eps: float) -> list[BlockConfig]:
    blocks = []
    for kind, e, k, s, cin, cout, n in rows:
        for i in range(n):
            fn = fused_mbconv if kind == "fused" else mbconv
            cfg = fn(in_chs=cin if i == 0 else cout, out_chs=cout, stride=s if i == 0 else 1, exp_ratio=e, kernel=k)
            blocks.append(cfg.replace(norm_eps=eps))
    return blocks


_EFFICIENTNET_B0 = [  # kind, expansion, kernel, stride, in, out, depth (torchvision / the paper's Table 1)
    ("mb", 1, 3, 1, 32, 16, 1),
    ("mb", 6, 3, 2, 16, 24, 2),
    ("mb", 6, 5, 2, 24, 40, 2),
    ("mb", 6, 3, 2, 40, 80, 3),
    ("mb", 6, 5, 1, 80, 112, 3),
    ("mb", 6, 5, 2, 112, 192, 4),
    ("mb", 6, 3, 1, 192, 320, 1),
]


#: EfficientNet's compound scaling: (width multiplier, depth multiplier, dropout, input resolution) per
#: variant (the paper's Table 2 and section 4: B1 runs at 240 px, B2 at 260, B3 at 300)
_EFFICIENTNET_SCALES = {
    "b0": (1.0, 1.0, 0.2, 224),
    "b1": (1.0, 1.1, 0.2, 240),
    "b2": (1.1, 1.2, 0.3, 260),
    "b3": (1.2, 1.4, 0.3, 300),
}


def efficientnet(
    width_mult: float = 1.0, depth_mult: float = 1.0, dropout: float = 0.2, name: str = "", resolution: int = 224
) -> NetConfig:
    """EfficientNet-B0 scaled by compound scaling: every width by ``width_mult`` (rounded to 8), every
    stage's depth by ``depth_mult`` (rounded up), as the paper and torchvision do, and the input
    ``resolution``; the head conv is four times the last stage's width. B1-B3 are this function of
    their multipliers and resolutions."""
    cfg = NetConfig(
        name=name or "efficientnet",
        stem=(_conv(32, 3, 2, "silu"),),
        stages=stages_from_blocks(_effnet_blocks(_EFFICIENTNET_B0, 1e-5)),
        head=(_conv(1280, 1, 1, "silu"), POOL, _dropout(dropout), CLASSIFIER),
        width_mult=width_mult,
        depth_mult=depth_mult,
        resolution=resolution,
    )
    # the head conv (1280, scaled like every width) is four times the scaled last stage, as torchvision's
    if cfg.scale(1280) != 4 * cfg.scale(_EFFICIENTNET_B0[-1][5]):
        raise ConfigError(f"efficientnet: width_mult={width_mult} breaks the head = 4 x last stage rule")
    return cfg


def _register_efficientnet(variant: str) -> None:
    w, d, dropout, resolution = _EFFICIENTNET_SCALES[variant]
    name = f"efficientnet_{variant}"
    MODELS.add(
        name,
        lambda: efficientnet(w, d, dropout, name, resolution),
        reference=f"torchvision.models.{name}",
        paper=presets.PAPERS["efficientnet"],
    )


for _variant in _EFFICIENTNET_SCALES:
    _register_efficientnet(_variant)


@_model("efficientnet_v2_s", reference="torchvision.models.efficientnet_v2_s", paper="efficientnet_v2")
def efficientnet_v2_s() -> NetConfig:
    rows = [
        ("fused", 1, 3, 1, 24, 24, 2),
        ("fused", 4, 3, 2, 24, 48, 4),
        ("fused", 4, 3, 2, 48, 64, 4),
        ("mb", 4, 3, 2, 64, 128, 6),
        ("mb", 6, 3, 1, 128, 160, 9),
        ("mb", 6, 3, 2, 160, 256, 15),
    ]
    return NetConfig(
        name="efficientnet_v2_s",
        stem=(_conv(24, 3, 2, "silu", eps=1e-3),),
        stages=stages_from_blocks(_effnet_blocks(rows, 1e-3)),
        head=(_conv(1280, 1, 1, "silu", eps=1e-3), POOL, _dropout(0.2), CLASSIFIER),
    )


@_register(["torchvision.models.efficientnet.MBConv"])
def _mbconv(m: nn.Module) -> nn.Module:
    layers = list(m.block)  # type: ignore[arg-type]
    has_expand = len(layers) == 4
    idx = 1 if has_expand else 0
    dw, se, proj = layers[idx], layers[idx + 1], layers[idx + 2]
    in_chs = layers[0][0].in_channels
    hidden = dw[0].in_channels
    cfg = mbconv(
        in_chs=in_chs,
        out_chs=proj[0].out_channels,
        stride=dw[0].stride[0],
        exp_ratio=hidden / in_chs,
        kernel=dw[0].kernel_size[0],
    )
    if cfg.widths()["hidden"] != hidden:
        cfg = cfg.replace(hidden_chs=hidden, hidden_divisor=1)
    cfg = cfg.replace(
        se_chs=se.fc1.out_channels,
        expand_act=act_name(dw[2]),
        mixer_act=act_name(dw[2]),
        se_act=act_name(se.activation),
        drop_path=float(m.stochastic_depth.p),
        **_norm_kwargs(_bn(dw)),
    )
    pairs = _cna("mixer", f"block.{idx}") + _cna("project", f"block.{idx + 2}") + _se_pairs(f"block.{idx + 1}")
    if has_expand:
        pairs += _cna("expand", "block.0")
    return _finish(cfg, m, pairs)


@_register(["torchvision.models.efficientnet.FusedMBConv"])
def _fused_mbconv(m: nn.Module) -> nn.Module:
    layers = list(m.block)  # type: ignore[arg-type]
    first = layers[0]
    in_chs, kernel, stride = first[0].in_channels, first[0].kernel_size[0], first[0].stride[0]
    out_chs = layers[-1][0].out_channels
    act = act_name(first[2])
    if len(layers) == 2:
        hidden = first[0].out_channels
        cfg = fused_mbconv(in_chs=in_chs, out_chs=out_chs, stride=stride, exp_ratio=hidden / in_chs, kernel=kernel)
        if cfg.widths()["hidden"] != hidden:
            cfg = cfg.replace(hidden_chs=hidden, hidden_divisor=1)
        pairs = _cna("expand", "block.0") + _cna("project", "block.1")
    else:
        cfg = fused_mbconv(in_chs=in_chs, out_chs=out_chs, stride=stride, exp_ratio=1.0, kernel=kernel)
        pairs = _cna("expand", "block.0")
    cfg = cfg.replace(expand_act=act, drop_path=float(m.stochastic_depth.p), **_norm_kwargs(_bn(first)))
    return _finish(cfg, m, pairs)


@_register(["timm.models._efficientnet_blocks.DepthwiseSeparableConv"])
def _timm_ds(m: nn.Module) -> nn.Module:
    """timm ``ds``: depthwise conv + norm/act, optional SE, 1x1 projection (+ act with ``pw_act``)."""
    _timm_common(m, "DepthwiseSeparableConv")
    m = _unmixed(m, ["conv_pw"])
    dw, pw = m.conv_dw, m.conv_pw
    stride = (_mixed_children(dw)[0] if _is_mixed(dw) else dw).stride[0]
    pairs = _parts(project=("conv_pw", "bn2"))
    kw: dict[str, object] = {}
    _dw_mixer(dw, kw, pairs, "conv_dw", "bn1")
    cfg = BlockConfig(
        in_chs=dw.in_channels,
        out_chs=pw.out_channels,
        stride=stride,
        expand="none",
        mixer_act=act_name(m.bn1.act),
        project="pw",
        project_groups=pw.groups,
        project_act=act_name(m.bn2.act) if m.has_pw_act else "none",
        shortcut="identity" if m.has_skip else "none",
        drop_path=_drop_path(m),
        **kw,  # type: ignore[arg-type]
        **_norm_kwargs(m.bn1),
    )
    kw = {}
    _timm_se(m, kw, pairs)
    return _finish(cfg.replace(**kw), m, pairs)


@_register(["timm.models._efficientnet_blocks.InvertedResidual"])
def _timm_ir(m: nn.Module) -> nn.Module:
    """timm ``ir``: 1x1 expansion, depthwise conv, optional SE, linear 1x1 projection."""
    _timm_common(m, "InvertedResidual")
    m = _unmixed(m, ["conv_pw", "conv_pwl"])
    dw = m.conv_dw
    stride = (_mixed_children(dw)[0] if _is_mixed(dw) else dw).stride[0]
    pairs = _parts(expand=("conv_pw", "bn1"), project=("conv_pwl", "bn3"))
    kw: dict[str, object] = {}
    _dw_mixer(dw, kw, pairs, "conv_dw", "bn2")
    in_chs, hidden = m.conv_pw.in_channels, m.conv_pw.out_channels
    cfg = BlockConfig(
        in_chs=in_chs,
        out_chs=m.conv_pwl.out_channels,
        stride=stride,
        exp_ratio=hidden / in_chs,
        hidden_chs=hidden,
        expand="pw",
        expand_groups=m.conv_pw.groups,
        expand_act=act_name(m.bn1.act),
        mixer_act=act_name(m.bn2.act),
        project="pw",
        project_groups=m.conv_pwl.groups,
        shortcut="identity" if m.has_skip else "none",
        drop_path=_drop_path(m),
        **kw,  # type: ignore[arg-type]
        **_norm_kwargs(m.bn1),
    )
    kw = {}
    _timm_se(m, kw, pairs)
    return _finish(cfg.replace(**kw), m, pairs)


@_register(["timm.models._efficientnet_blocks.EdgeResidual"])
def _timm_er(m: nn.Module) -> nn.Module:
    """timm ``er`` (EfficientNet-EdgeTPU, Fused-MBConv): k×k expansion carrying the stride, optional SE,
    linear 1x1 projection."""
    _timm_common(m, "EdgeResidual")
    exp = m.conv_exp
    cfg = BlockConfig(
        in_chs=exp.in_channels,
        out_chs=m.conv_pwl.out_channels,
        stride=exp.stride[0],
        exp_ratio=exp.out_channels / exp.in_channels,
        hidden_chs=exp.out_channels,
        expand="fused",
        expand_kernel=exp.kernel_size[0],
        expand_groups=exp.groups,
        expand_act=act_name(m.bn1.act),
        mixer="identity",
        project="pw",
        shortcut="identity" if m.has_skip else "none",
        drop_path=_drop_path(m),
        **_norm_kwargs(m.bn1),
    )
    if exp.dilation[0] != 1:
        raise ConfigError(f"from_reference: EdgeResidual with dilation={exp.dilation[0]} is not supported (only 1)")
    pairs = _parts(expand=("conv_exp", "bn1"), project=("conv_pwl", "bn2"))
    kw: dict[str, object] = {}
    _timm_se(m, kw, pairs)
    return _finish(cfg.replace(**kw), m, pairs)


@_register(["timm.models._efficientnet_blocks.ConvBnAct"])
def _conv_bn_act(m: nn.Module) -> nn.Module:
    conv = m.conv
    if conv.groups != 1:
        raise ConfigError("ConvBnAct with groups != 1 is not supported")
    cfg = BlockConfig(
        in_chs=conv.in_channels,
        out_chs=conv.out_channels,
        stride=conv.stride[0],
        hidden_chs=conv.out_channels,
        expand="fused",
        expand_kernel=conv.kernel_size[0],
        expand_act=act_name(m.bn1.act),
        mixer="identity",
        project="none",
        shortcut="identity" if m.has_skip else "none",
        **_norm_kwargs(m.bn1),
    )
    return _finish(cfg, m, [("expand.conv", "conv"), ("expand.norm", "bn1")])


@_register(["timm.models.efficientnet.EfficientNet"])
def _timm_efficientnet(m: nn.Module) -> nn.Module:
    """timm's ``EfficientNet`` builder class (EfficientNet, EfficientNetV2, MobileNetV1/V2, MnasNet,
    FBNet, TinyNet, ...): stem conv, its blocks, 1x1 head conv, pooling, dropout, classifier."""
    _timm_head_checks(m)
    blocks = [b for stage in m.blocks for b in stage]
    stem = [_cna_layer(nn.Sequential(m.conv_stem, m.bn1, m.bn1.act))]
    pairs = [("stem.0.conv", "conv_stem"), ("stem.0.norm", "bn1")]
    head: list[object] = []
    if not isinstance(m.conv_head, nn.Identity):  # MobileNetV1 has none
        head.append(_cna_layer(nn.Sequential(m.conv_head, m.bn2, m.bn2.act)))
        pairs += [("head.0.conv", "conv_head"), ("head.0.norm", "bn2")]
    head += [_lc(kind="pool"), *_timm_dropout(m), _lc(kind="linear", bias=True)]
    pairs.append((f"head.{len(head) - 1}.fc", "classifier"))
    return _network(m, _timm_name(m), stem, blocks, head, pairs)
