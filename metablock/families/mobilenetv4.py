"""MobileNetV4: universal inverted bottlenecks, FusedIB, Mobile MQA, the conv and hybrid networks, timm's converters.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .. import presets
from ..config import BlockConfig
from ..errors import ConfigError
from ..network import LayerConfig, NetConfig, stages_from_blocks
from ..presets import _preset, _skip
from ..reference import (
    _drop_path,
    _finish,
    _norm_kwargs,
    _parts,
    _register,
    _se_pairs,
    act_name,
)
from ..zoo import CLASSIFIER, MODELS, POOL, _conv, _model
from .efficientnet import edge_residual


def _uib(
    in_chs: int,
    out_chs: int,
    stride: int,
    exp_ratio: float,
    start: int,
    mid: int,
    act: str = "relu",
    layer_scale: float | None = None,
    end: int = 0,
) -> BlockConfig:
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        hidden_divisor=8,
        pre_dw_kernel=start,
        post_dw_kernel=end,
        expand="pw",
        expand_act=act,
        mixer="dwconv" if mid else "identity",
        kernel=mid or 3,
        mixer_act=act,
        project="pw",
        shortcut=_skip(in_chs, out_chs, stride),
        layer_scale=layer_scale,
    )


_UIB_REF = "timm.models._efficientnet_blocks.UniversalInvertedResidual"


@_preset("uib_extradw", paper="mobilenet_v4", reference=_UIB_REF)
def uib_extradw(
    *,
    in_chs: int = 64,
    out_chs: int = 96,
    stride: int = 2,
    exp_ratio: float = 4.0,
    start_kernel: int = 3,
    mid_kernel: int = 5,
) -> BlockConfig:
    """Universal inverted bottleneck, ExtraDW: depthwise before the expansion and after it."""
    return _uib(in_chs, out_chs, stride, exp_ratio, start_kernel, mid_kernel)


@_preset("uib_convnext", paper="mobilenet_v4", reference=_UIB_REF)
def uib_convnext(
    *, in_chs: int = 96, out_chs: int = 96, stride: int = 1, exp_ratio: float = 4.0, start_kernel: int = 3
) -> BlockConfig:
    """Universal inverted bottleneck, ConvNext-like: depthwise before the expansion only."""
    return _uib(in_chs, out_chs, stride, exp_ratio, start_kernel, 0)


@_preset("uib_ib", paper="mobilenet_v4", reference=_UIB_REF)
def uib_ib(
    *, in_chs: int = 96, out_chs: int = 96, stride: int = 1, exp_ratio: float = 4.0, mid_kernel: int = 3
) -> BlockConfig:
    """Universal inverted bottleneck, IB: the classic inverted bottleneck."""
    return _uib(in_chs, out_chs, stride, exp_ratio, 0, mid_kernel)


@_preset("uib_ffn", paper="mobilenet_v4", reference=_UIB_REF)
def uib_ffn(*, in_chs: int = 96, out_chs: int = 96, exp_ratio: float = 2.0) -> BlockConfig:
    """Universal inverted bottleneck, FFN: 1x1 expand, 1x1 project, no depthwise conv."""
    return _uib(in_chs, out_chs, 1, exp_ratio, 0, 0)


@_preset("mobile_mqa", paper="mobilenet_v4", reference="timm.models._efficientnet_blocks.MobileAttention")
def mobile_mqa(
    *,
    chs: int = 160,
    num_heads: int = 4,
    head_dim: int = 64,
    kv_stride: int = 2,
    kernel: int = 3,
    layer_scale: float | None = 1e-5,
) -> BlockConfig:
    """Mobile MQA block of MobileNetV4 hybrids: BatchNorm, multi-query attention (``num_heads`` query
    heads, one shared key and value head of ``head_dim``; keys and values downsampled by a strided
    depthwise conv + BN when ``kv_stride`` > 1), 1x1 output projection, layer scale, identity shortcut."""
    return BlockConfig(
        in_chs=chs,
        out_chs=chs,
        expand="none",
        mixer="mqa",
        num_heads=num_heads,
        head_dim=head_dim,
        kv_stride=kv_stride,
        kernel=kernel,
        qkv_bias=False,
        project="none",
        norm_in="bn",
        layer_scale=layer_scale,
        shortcut="identity",
    )


def _cn(in_chs: int, out_chs: int, kernel: int, stride: int) -> BlockConfig:
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        hidden_chs=out_chs,
        expand="fused",
        expand_kernel=kernel,
        expand_act="relu",
        mixer="identity",
        project="none",
    )


def _er(in_chs: int, out_chs: int, kernel: int, stride: int, exp_ratio: float) -> BlockConfig:
    """MobileNetV4's FusedIB: EfficientNet-EdgeTPU's EdgeResidual (a k×k expansion carrying the stride,
    then a linear 1x1 projection)."""
    return edge_residual(in_chs=in_chs, out_chs=out_chs, stride=stride, exp_ratio=exp_ratio, kernel=kernel)


#: MobileNetV4 conv medium and large (the paper's Tables 11 and 12, timm's arch definitions):
#: the FusedIB stem block, then UIB rows of (start dw, mid dw, stride, expansion, out, repeats)
_MNV4 = {
    "mobilenetv4_conv_medium": (
        32,
        (48, 3, 2, 4.0),
        [
            (3, 5, 2, 4, 80, 1), (3, 3, 1, 2, 80, 1),
            (3, 5, 2, 6, 160, 1), (3, 3, 1, 4, 160, 2), (3, 5, 1, 4, 160, 1), (3, 3, 1, 4, 160, 1),
            (3, 0, 1, 4, 160, 1), (0, 0, 1, 2, 160, 1), (3, 0, 1, 4, 160, 1),
            (5, 5, 2, 6, 256, 1), (5, 5, 1, 4, 256, 1), (3, 5, 1, 4, 256, 2), (0, 0, 1, 4, 256, 1),
            (3, 0, 1, 4, 256, 1), (3, 5, 1, 2, 256, 1), (5, 5, 1, 4, 256, 1), (0, 0, 1, 4, 256, 2),
            (5, 0, 1, 2, 256, 1),
        ],
    ),
    "mobilenetv4_conv_large": (
        24,
        (48, 3, 2, 4.0),
        [
            (3, 5, 2, 4, 96, 1), (3, 3, 1, 4, 96, 1),
            (3, 5, 2, 4, 192, 1), (3, 3, 1, 4, 192, 3), (3, 5, 1, 4, 192, 1), (5, 3, 1, 4, 192, 5),
            (3, 0, 1, 4, 192, 1),
            (5, 5, 2, 4, 512, 4), (5, 0, 1, 4, 512, 1), (5, 3, 1, 4, 512, 1), (5, 0, 1, 4, 512, 2),
            (5, 3, 1, 4, 512, 1), (5, 5, 1, 4, 512, 1), (5, 0, 1, 4, 512, 3),
        ],
    ),
}  # fmt: skip


def mobilenetv4_conv(name: str) -> NetConfig:
    """MobileNetV4 conv medium or large: a 3x3 stem, a FusedIB block, UIB blocks (ExtraDW, IB,
    ConvNeXt and FFN forms), a 1x1 conv of 960, pooling, a 1280 linear with BatchNorm and ReLU."""
    stem, (er_out, er_k, er_s, er_e), rows = _MNV4[name]
    blocks = [_er(stem, er_out, er_k, er_s, er_e)]
    chs = er_out
    for a, k, s, e, c, r in rows:
        for i in range(r):
            blocks.append(_uib(chs, c, s if i == 0 else 1, float(e), a, k))
            chs = c
    blocks.append(_cn(chs, 960, 1, 1))
    return NetConfig(
        name=name,
        stem=(_conv(stem, 3, 2),),
        stages=stages_from_blocks(blocks),
        head=(POOL, LayerConfig(kind="linear", out_chs=1280, bias=False, norm="bn_after", act="relu"), CLASSIFIER),
    )


for _name in _MNV4:
    MODELS.add(
        _name,
        (lambda n=_name: mobilenetv4_conv(n)),
        reference=f"timm {_name}",
        paper=presets.PAPERS["mobilenet_v4"],
    )


#: MobileNetV4 hybrid medium (the paper's Table 13, timm's arch definition): after the FusedIB block,
#: UIB rows of (start dw, mid dw, stride, expansion, out, repeats) and Mobile MQA rows of
#: ("mqa", heads, head dim, key/value stride, out)
_MNV4_HYBRID_MEDIUM: list[tuple[Any, ...]] = [
    (3, 5, 2, 4, 80, 1), (3, 3, 1, 2, 80, 1),
    (3, 5, 2, 6, 160, 1), (0, 0, 1, 2, 160, 1), (3, 3, 1, 4, 160, 1), (3, 5, 1, 4, 160, 1),
    ("mqa", 4, 64, 2, 160), (3, 3, 1, 4, 160, 1), ("mqa", 4, 64, 2, 160), (3, 0, 1, 4, 160, 1),
    ("mqa", 4, 64, 2, 160), (3, 3, 1, 4, 160, 1), ("mqa", 4, 64, 2, 160), (3, 0, 1, 4, 160, 1),
    (5, 5, 2, 6, 256, 1), (5, 5, 1, 4, 256, 1), (3, 5, 1, 4, 256, 2), (0, 0, 1, 2, 256, 1),
    (3, 5, 1, 2, 256, 1), (0, 0, 1, 2, 256, 1), (0, 0, 1, 4, 256, 1),
    ("mqa", 4, 64, 1, 256), (3, 0, 1, 4, 256, 1), ("mqa", 4, 64, 1, 256), (5, 5, 1, 4, 256, 1),
    ("mqa", 4, 64, 1, 256), (5, 0, 1, 4, 256, 1), ("mqa", 4, 64, 1, 256), (5, 0, 1, 4, 256, 1),
]  # fmt: skip


@_model("mobilenetv4_hybrid_medium", reference="timm mobilenetv4_hybrid_medium", paper="mobilenet_v4")
def mobilenetv4_hybrid_medium() -> NetConfig:
    """MobileNetV4 hybrid medium: MobileNetV4 conv medium's layout with Mobile MQA blocks (4 heads of
    64, keys and values downsampled by 2 at stride 16) in its last two stages, layer scale (1e-5) on
    every UIB and MQA block."""
    blocks = [_er(32, 48, 3, 2, 4.0)]
    chs = 48
    for row in _MNV4_HYBRID_MEDIUM:
        if row[0] == "mqa":
            _, heads, head_dim, kv_stride, out = row
            blocks.append(mobile_mqa(chs=out, num_heads=heads, head_dim=head_dim, kv_stride=kv_stride))
            continue
        a, k, s, e, c, r = row
        for i in range(r):
            blocks.append(_uib(chs, c, s if i == 0 else 1, float(e), a, k, layer_scale=1e-5))
            chs = c
    blocks.append(_cn(chs, 960, 1, 1))
    return NetConfig(
        name="mobilenetv4_hybrid_medium",
        stem=(_conv(32, 3, 2),),
        stages=stages_from_blocks(blocks),
        head=(POOL, LayerConfig(kind="linear", out_chs=1280, bias=False, norm="bn_after", act="relu"), CLASSIFIER),
    )


@_model("mobilenetv4_conv_small", reference="timm mobilenetv4_conv_small", paper="mobilenet_v4")
def mobilenetv4_conv_small() -> NetConfig:
    blocks = [_cn(32, 32, 3, 2), _cn(32, 32, 1, 1), _cn(32, 96, 3, 2), _cn(96, 64, 1, 1)]
    chs = 64
    # (start dw, mid dw, stride, expansion, out, repeats)
    for a, k, s, e, c, r in [
        (5, 5, 2, 3, 96, 1),
        (0, 3, 1, 2, 96, 4),
        (3, 0, 1, 4, 96, 1),
        (3, 3, 2, 6, 128, 1),
        (5, 5, 1, 4, 128, 1),
        (0, 5, 1, 4, 128, 1),
        (0, 5, 1, 3, 128, 1),
        (0, 3, 1, 4, 128, 2),
    ]:
        for i in range(r):
            blocks.append(_uib(chs, c, s if i == 0 else 1, float(e), a, k))
            chs = c
    blocks.append(_cn(chs, 960, 1, 1))
    return NetConfig(
        name="mobilenetv4_conv_small",
        stem=(_conv(32, 3, 2),),
        stages=stages_from_blocks(blocks),
        head=(POOL, LayerConfig(kind="linear", out_chs=1280, bias=False, norm="bn_after", act="relu"), CLASSIFIER),
    )


@_register(["timm.models._efficientnet_blocks.UniversalInvertedResidual"])
def _uir(m: nn.Module) -> nn.Module:
    exp = m.pw_exp
    in_chs, hidden = exp.conv.in_channels, exp.conv.out_channels
    out_chs = m.pw_proj.conv.out_channels
    start = 0 if isinstance(m.dw_start, nn.Identity) else m.dw_start.conv.kernel_size[0]
    mid = 0 if isinstance(m.dw_mid, nn.Identity) else m.dw_mid.conv.kernel_size[0]
    end = 0 if isinstance(m.dw_end, nn.Identity) else m.dw_end.conv.kernel_size[0]
    for part in (m.dw_start, m.dw_mid, m.dw_end):
        if not isinstance(part, nn.Identity) and part.conv.groups != part.conv.in_channels:
            raise ConfigError("UniversalInvertedResidual with group_size != 1 (non-depthwise) is not supported")
    stride = max([p.conv.stride[0] for p in (m.dw_start, m.dw_mid, m.dw_end) if not isinstance(p, nn.Identity)] or [1])
    act = act_name(exp.bn.act)
    ls = None if isinstance(m.layer_scale, nn.Identity) else 1e-5  # init value only; gamma is copied
    cfg = _uib(in_chs, out_chs, stride, hidden / in_chs, start, mid, act=act, layer_scale=ls, end=end)
    kw: dict[str, object] = dict(hidden_chs=hidden, **_norm_kwargs(exp.bn))
    kw["shortcut"] = "identity" if m.has_skip else "none"
    if mid:
        kw["dilation"] = m.dw_mid.conv.dilation[0]  # start/end convs with dilation are refused by geometry
    pairs = [
        ("expand.conv", "pw_exp.conv"),
        ("expand.norm", "pw_exp.bn"),
        ("project.conv", "pw_proj.conv"),
        ("project.norm", "pw_proj.bn"),
        ("pre_dw.conv", "dw_start.conv"),
        ("pre_dw.norm", "dw_start.bn"),
        ("mixer.conv", "dw_mid.conv"),
        ("mixer.norm", "dw_mid.bn"),
        ("post_dw.conv", "dw_end.conv"),
        ("post_dw.norm", "dw_end.bn"),
        ("layer_scale.gamma", "layer_scale.gamma"),
    ]
    if not isinstance(m.se, nn.Identity):
        kw.update(se_chs=m.se.conv_reduce.out_channels, se_act=act_name(m.se.act1), se_gate=act_name(m.se.gate))
        pairs += _se_pairs("se", "conv_reduce", "conv_expand")
    kw["drop_path"] = _drop_path(m)
    return _finish(cfg.replace(**kw), m, pairs)


@_register(["timm.models._efficientnet_blocks.MobileAttention"])
def _mobile_attention(m: nn.Module) -> nn.Module:
    """timm MobileNetV4 attention block with multi-query attention (Mobile MQA)."""
    attn = m.attn
    if type(attn).__name__ != "MultiQueryAttention2d":
        raise ConfigError(
            f"from_reference: use_multi_query=False ({type(attn).__name__}, multi-head attention) has no "
            "equivalent yet; only Mobile MQA"
        )
    if m.conv_cpe_dw is not None:
        raise ConfigError("from_reference: use_cpe=True (a conditional position encoding conv) has no equivalent yet")
    if attn.has_query_strides:
        raise ConfigError(
            f"from_reference: query_strides={tuple(attn.query_strides)} (query downsampling and bilinear "
            "upsampling) has no equivalent yet"
        )
    drop = attn.output.drop.p if hasattr(attn.output, "drop") else 0.0
    if drop:
        raise ConfigError(f"from_reference: proj_drop={drop} (dropout after the output projection) is not supported")
    in_chs, out_chs = attn.query.proj.in_channels, attn.output.proj.out_channels
    if in_chs != out_chs:
        raise ConfigError(
            f"from_reference: Mobile MQA from {in_chs} to {out_chs} channels is not supported (only equal)"
        )
    kv_stride = attn.kv_stride
    kernel = attn.key.down_conv.kernel_size[0] if kv_stride > 1 else 3
    ls = None if isinstance(m.layer_scale, nn.Identity) else 1e-5  # init value only; gamma is copied
    cfg = mobile_mqa(
        chs=in_chs, num_heads=attn.num_heads, head_dim=attn.key_dim, kv_stride=kv_stride, kernel=kernel, layer_scale=ls
    )
    if attn.value_dim != attn.key_dim:
        raise ConfigError(
            f"from_reference: value_dim={attn.value_dim} differs from key_dim={attn.key_dim}; only equal ones "
            "are supported"
        )
    biases = {c.bias is not None for c in (attn.query.proj, attn.key.proj, attn.value.proj, attn.output.proj)}
    if len(biases) > 1:
        raise ConfigError("from_reference: Mobile MQA with bias on some projections only is not supported")
    cfg = cfg.replace(
        qkv_bias=biases.pop(),
        attn_drop=float(attn.attn_drop.p),
        shortcut="identity" if m.has_skip else "none",
        drop_path=_drop_path(m),
        **_norm_kwargs(m.norm),
    )
    pairs = [
        ("norm_in", "norm"),
        ("mixer.query", "attn.query.proj"),
        ("mixer.key", "attn.key.proj"),
        ("mixer.value", "attn.value.proj"),
        ("mixer.proj", "attn.output.proj"),
        ("layer_scale.gamma", "layer_scale.gamma"),
    ]
    if kv_stride > 1:
        pairs += _parts(
            **{
                "mixer.key_down": ("attn.key.down_conv", "attn.key.norm"),
                "mixer.value_down": ("attn.value.down_conv", "attn.value.norm"),
            }
        )
    return _finish(cfg, m, pairs)
