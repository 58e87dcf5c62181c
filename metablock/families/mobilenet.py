"""MobileNetV1/V2/V3 and PP-LCNet: depthwise-separable blocks, inverted residuals, their networks,
torchvision's MobileNetV2/V3 (and EfficientNet's features layout) and timm's MobileNetV3 builder
class.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..config import BlockConfig
from ..errors import ConfigError
from ..network import LayerConfig, NetConfig, stages_from_blocks
from ..presets import _preset, _skip
from ..reference import (
    _bn,
    _cna,
    _cna_layer,
    _finish,
    _lc,
    _network,
    _norm_kwargs,
    _register,
    _se_pairs,
    _timm_dropout,
    _timm_head_checks,
    _timm_name,
    act_name,
)
from ..zoo import CLASSIFIER, POOL, _conv, _dropout, _model


@_preset("mobilenet_v1_dws", paper="mobilenet_v1", reference="MobileNetV1 paper, Fig. 3 (no package reference)")
def mobilenet_v1_dws(
    *, in_chs: int = 32, out_chs: int = 64, stride: int = 1, kernel: int = 3, act: str = "relu"
) -> BlockConfig:
    """MobileNetV1 depthwise separable conv: 3x3 depthwise + BN + act, 1x1 + BN + act, no shortcut."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        expand="none",
        mixer="dwconv",
        kernel=kernel,
        mixer_act=act,
        project="pw",
        project_act=act,
    )


@_preset("mobilenet_v2_ir", paper="mobilenet_v2", reference="torchvision.models.mobilenetv2.InvertedResidual")
def mobilenet_v2_ir(
    *, in_chs: int = 24, out_chs: int = 24, stride: int = 1, exp_ratio: float = 6.0, kernel: int = 3
) -> BlockConfig:
    """MobileNetV2 inverted residual: 1x1 expand + ReLU6, depthwise + ReLU6, linear 1x1 projection."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        expand="none" if exp_ratio == 1 else "pw",
        expand_act="relu6",
        mixer="dwconv",
        kernel=kernel,
        mixer_act="relu6",
        project="pw",
        shortcut=_skip(in_chs, out_chs, stride),
    )


@_preset("mobilenet_v2_ir_expand1", paper="mobilenet_v2", reference="torchvision.models.mobilenetv2.InvertedResidual")
def mobilenet_v2_ir_expand1(*, in_chs: int = 32, out_chs: int = 16, stride: int = 1, kernel: int = 3) -> BlockConfig:
    """MobileNetV2 inverted residual with expansion ratio 1 (no expansion conv), as its first block."""
    return mobilenet_v2_ir(in_chs=in_chs, out_chs=out_chs, stride=stride, exp_ratio=1.0, kernel=kernel)


@_preset("linear_bottleneck", paper="mobilenet_v2", reference="MobileNetV2 paper, Fig. 3a (no package reference)")
def linear_bottleneck(
    *, in_chs: int = 64, out_chs: int = 64, stride: int = 1, exp_ratio: float = 0.25, kernel: int = 3
) -> BlockConfig:
    """Residual bottleneck with a linear output (λ < 1): 1x1 reduce, depthwise, linear 1x1 expand."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        expand="pw",
        expand_act="relu6",
        mixer="dwconv",
        kernel=kernel,
        mixer_act="relu6",
        project="pw",
        shortcut=_skip(in_chs, out_chs, stride),
    )


def _mobilenet_v3(
    in_chs: int,
    out_chs: int,
    stride: int,
    hidden_chs: int | None,
    exp_ratio: float,
    kernel: int,
    act: str,
    use_se: bool,
    dilation: int = 1,
) -> BlockConfig:
    hidden = hidden_chs if hidden_chs is not None else round(in_chs * exp_ratio)
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        hidden_chs=hidden,
        expand="none" if hidden == in_chs else "pw",
        expand_act=act,
        mixer="dwconv",
        kernel=kernel,
        dilation=dilation,
        mixer_act=act,
        se_ratio=0.25 if use_se else 0.0,
        se_ref="hidden",
        se_round="floor_divisible",
        se_divisor=8,
        se_act="relu",
        se_gate="hsigmoid",
        project="pw",
        shortcut=_skip(in_chs, out_chs, stride),
        norm_eps=1e-3,
        norm_momentum=0.01,
    )


_V3_REF = "torchvision.models.mobilenetv3.InvertedResidual"


@_preset("mobilenet_v3_ir", paper="mobilenet_v3", reference=_V3_REF)
def mobilenet_v3_ir(
    *,
    in_chs: int = 24,
    out_chs: int = 24,
    stride: int = 1,
    hidden_chs: int | None = 72,
    exp_ratio: float = 3.0,
    kernel: int = 3,
) -> BlockConfig:
    """MobileNetV3 inverted residual, ReLU, no SE (BN eps 1e-3, momentum 0.01 as torchvision)."""
    return _mobilenet_v3(in_chs, out_chs, stride, hidden_chs, exp_ratio, kernel, "relu", False)


@_preset("mobilenet_v3_ir_se", paper="mobilenet_v3", reference=_V3_REF)
def mobilenet_v3_ir_se(
    *,
    in_chs: int = 24,
    out_chs: int = 40,
    stride: int = 2,
    hidden_chs: int | None = 72,
    exp_ratio: float = 3.0,
    kernel: int = 5,
) -> BlockConfig:
    """MobileNetV3 inverted residual with SE (squeeze = make_divisible(hidden // 4, 8), hard-sigmoid gate)."""
    return _mobilenet_v3(in_chs, out_chs, stride, hidden_chs, exp_ratio, kernel, "relu", True)


@_preset("mobilenet_v3_ir_hswish", paper="mobilenet_v3", reference=_V3_REF)
def mobilenet_v3_ir_hswish(
    *,
    in_chs: int = 40,
    out_chs: int = 80,
    stride: int = 2,
    hidden_chs: int | None = 240,
    exp_ratio: float = 6.0,
    kernel: int = 3,
) -> BlockConfig:
    """MobileNetV3 inverted residual with h-swish, no SE."""
    return _mobilenet_v3(in_chs, out_chs, stride, hidden_chs, exp_ratio, kernel, "hswish", False)


@_preset("mobilenet_v3_ir_se_hswish", paper="mobilenet_v3", reference=_V3_REF)
def mobilenet_v3_ir_se_hswish(
    *,
    in_chs: int = 80,
    out_chs: int = 112,
    stride: int = 1,
    hidden_chs: int | None = 480,
    exp_ratio: float = 6.0,
    kernel: int = 3,
) -> BlockConfig:
    """MobileNetV3 inverted residual with SE and h-swish."""
    return _mobilenet_v3(in_chs, out_chs, stride, hidden_chs, exp_ratio, kernel, "hswish", True)


_V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]


@_model("mobilenet_v1", reference="timm mobilenetv1_100", paper="mobilenet_v1")
def mobilenet_v1() -> NetConfig:
    """MobileNetV1 at width 1.0 as timm's ``mobilenetv1_100`` builds it (Table 1 of the paper, with
    ReLU6): a 3x3 stem of 32, thirteen depthwise-separable blocks, average pooling, a classifier."""
    blocks = []
    chs = 32
    for out, stride in _V1:
        blocks.append(mobilenet_v1_dws(in_chs=chs, out_chs=out, stride=stride, act="relu6"))
        chs = out
    return NetConfig(
        name="mobilenet_v1",
        stem=(_conv(32, 3, 2, "relu6"),),
        stages=stages_from_blocks(blocks),
        head=(POOL, CLASSIFIER),
    )


_LCNET = [  # out, kernel, stride, SE (PP-LCNet Table 1 at scale 1.0; timm lcnet_100)
    (32, 3, 1, False),
    (64, 3, 2, False),
    (64, 3, 1, False),
    (128, 3, 2, False),
    (128, 3, 1, False),
    (256, 3, 2, False),
    *[(256, 5, 1, False)] * 5,
    (512, 5, 2, True),
    (512, 5, 1, True),
]


@_model("lcnet_100", reference="timm lcnet_100", paper="lcnet")
def lcnet_100() -> NetConfig:
    """PP-LCNet at scale 1.0 as timm builds it: a 3x3 stem of 16, depthwise-separable blocks with
    h-swish after both convs and no skip, SE (a quarter of the width, ReLU, hard sigmoid) in the last
    two; pooling, then a 1x1 conv of 1280 with bias and h-swish on the pooled features, a classifier."""
    blocks = []
    chs = 16
    for out, kernel, stride, se in _LCNET:
        cfg = mobilenet_v1_dws(in_chs=chs, out_chs=out, stride=stride, kernel=kernel, act="hswish")
        if se:
            cfg = cfg.replace(se_chs=chs // 4, se_act="relu", se_gate="hsigmoid")
        blocks.append(cfg)
        chs = out
    return NetConfig(
        name="lcnet_100",
        stem=(_conv(16, 3, 2, "hswish"),),
        stages=stages_from_blocks(blocks),
        head=(POOL, LayerConfig(kind="linear", out_chs=1280, bias=True, act="hswish"), CLASSIFIER),
    )


@_model("mobilenet_v2", reference="torchvision.models.mobilenet_v2", paper="mobilenet_v2")
def mobilenet_v2() -> NetConfig:
    blocks = []
    chs = 32
    for t, c, n, s in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]:
        for i in range(n):
            blocks.append(mobilenet_v2_ir(in_chs=chs, out_chs=c, stride=s if i == 0 else 1, exp_ratio=t))
            chs = c
    return NetConfig(
        name="mobilenet_v2",
        stem=(_conv(32, 3, 2, "relu6"),),
        stages=stages_from_blocks(blocks),
        head=(_conv(1280, 1, 1, "relu6"), POOL, _dropout(0.2), CLASSIFIER),
    )


_V3_LARGE = [  # in, kernel, expanded, out, SE, act, stride
    (16, 3, 16, 16, False, "relu", 1),
    (16, 3, 64, 24, False, "relu", 2),
    (24, 3, 72, 24, False, "relu", 1),
    (24, 5, 72, 40, True, "relu", 2),
    (40, 5, 120, 40, True, "relu", 1),
    (40, 5, 120, 40, True, "relu", 1),
    (40, 3, 240, 80, False, "hswish", 2),
    (80, 3, 200, 80, False, "hswish", 1),
    (80, 3, 184, 80, False, "hswish", 1),
    (80, 3, 184, 80, False, "hswish", 1),
    (80, 3, 480, 112, True, "hswish", 1),
    (112, 3, 672, 112, True, "hswish", 1),
    (112, 5, 672, 160, True, "hswish", 2),
    (160, 5, 960, 160, True, "hswish", 1),
    (160, 5, 960, 160, True, "hswish", 1),
]


_V3_SMALL = [
    (16, 3, 16, 16, True, "relu", 2),
    (16, 3, 72, 24, False, "relu", 2),
    (24, 3, 88, 24, False, "relu", 1),
    (24, 5, 96, 40, True, "hswish", 2),
    (40, 5, 240, 40, True, "hswish", 1),
    (40, 5, 240, 40, True, "hswish", 1),
    (40, 5, 120, 48, True, "hswish", 1),
    (48, 5, 144, 48, True, "hswish", 1),
    (48, 5, 288, 96, True, "hswish", 2),
    (96, 5, 576, 96, True, "hswish", 1),
    (96, 5, 576, 96, True, "hswish", 1),
]


def _mobilenet_v3_net(name: str, rows: list[tuple[Any, ...]], last: int) -> NetConfig:
    blocks = [_mobilenet_v3(i, o, s, e, 1.0, k, a, se) for i, k, e, o, se, a, s in rows]
    bn = {"eps": 1e-3, "momentum": 0.01}
    final = 6 * rows[-1][3]
    return NetConfig(
        name=name,
        stem=(_conv(16, 3, 2, "hswish", **bn),),
        stages=stages_from_blocks(blocks),
        head=(
            _conv(final, 1, 1, "hswish", **bn),
            POOL,
            LayerConfig(kind="linear", out_chs=last, bias=True, act="hswish"),
            _dropout(0.2),
            CLASSIFIER,
        ),
    )


@_model("mobilenet_v3_large", reference="torchvision.models.mobilenet_v3_large", paper="mobilenet_v3")
def mobilenet_v3_large() -> NetConfig:
    return _mobilenet_v3_net("mobilenet_v3_large", _V3_LARGE, 1280)


@_model("mobilenet_v3_small", reference="torchvision.models.mobilenet_v3_small", paper="mobilenet_v3")
def mobilenet_v3_small() -> NetConfig:
    return _mobilenet_v3_net("mobilenet_v3_small", _V3_SMALL, 1024)


@_register(["torchvision.models.mobilenetv2.InvertedResidual"])
def _mobilenet_v2(m: nn.Module) -> nn.Module:
    layers = list(m.conv)  # type: ignore[arg-type]
    has_expand = len(layers) == 4
    dw = layers[1] if has_expand else layers[0]
    pw = layers[-2]
    in_chs = layers[0][0].in_channels
    hidden, kernel, stride = dw[0].in_channels, dw[0].kernel_size[0], dw[0].stride[0]
    cfg = mobilenet_v2_ir(
        in_chs=in_chs, out_chs=pw.out_channels, stride=stride, exp_ratio=hidden / in_chs, kernel=kernel
    )
    cfg = cfg.replace(hidden_chs=hidden if has_expand else None, **_norm_kwargs(_bn(dw)))
    if cfg.shortcut != ("identity" if m.use_res_connect else "none"):
        raise ConfigError("mobilenet_v2 reference: shortcut does not follow stride 1 and equal widths")
    base = "conv.1" if has_expand else "conv.0"
    pairs = _cna("mixer", base) + [
        ("project.conv", f"conv.{len(layers) - 2}"),
        ("project.norm", f"conv.{len(layers) - 1}"),
    ]
    if has_expand:
        pairs += _cna("expand", "conv.0")
    return _finish(cfg, m, pairs)


@_register(["torchvision.models.mobilenetv3.InvertedResidual"])
def _tv_mobilenet_v3_block(m: nn.Module) -> nn.Module:
    layers = list(m.block)  # type: ignore[arg-type]
    has_expand = layers[0][0].groups == 1 and layers[0][0].kernel_size == (1, 1) and len(layers) > 2
    idx = 1 if has_expand else 0
    dw = layers[idx]
    se = layers[idx + 1] if type(layers[idx + 1]).__name__ == "SqueezeExcitation" else None
    proj = layers[-1]
    in_chs = layers[0][0].in_channels
    hidden = dw[0].in_channels
    act = act_name(dw[2])
    cfg = _mobilenet_v3(
        in_chs,
        proj[0].out_channels,
        dw[0].stride[0],
        hidden,
        1.0,
        dw[0].kernel_size[0],
        act,
        se is not None,
        dilation=dw[0].dilation[0],
    )
    kw = _norm_kwargs(_bn(dw))
    if se is not None:
        kw["se_chs"] = se.fc1.out_channels
    cfg = cfg.replace(**kw)
    if cfg.shortcut != ("identity" if m.use_res_connect else "none"):
        raise ConfigError("mobilenet_v3 reference: shortcut does not follow stride 1 and equal widths")
    pairs = _cna("mixer", f"block.{idx}") + _cna("project", f"block.{len(layers) - 1}")
    if has_expand:
        pairs += _cna("expand", "block.0")
    if se is not None:
        pairs += _se_pairs(f"block.{idx + 1}")
    return _finish(cfg, m, pairs)


@_register(
    [
        "torchvision.models.mobilenetv2.MobileNetV2",
        "torchvision.models.mobilenetv3.MobileNetV3",
        "torchvision.models.efficientnet.EfficientNet",
    ]
)
def _tv_features_net(m: nn.Module) -> nn.Module:
    feats = list(m.features)  # type: ignore[arg-type]
    blocks: list[nn.Module] = []
    for f in feats[1:-1]:
        blocks += list(f) if isinstance(f, nn.Sequential) and not hasattr(f, "use_res_connect") else [f]
    cls = list(m.classifier)  # type: ignore[arg-type]
    head: list[object] = [_cna_layer(feats[-1]), _lc(kind="pool")]
    pairs = [
        ("stem.0.conv", "features.0.0"),
        ("stem.0.norm", "features.0.1"),
        ("head.0.conv", f"features.{len(feats) - 1}.0"),
        ("head.0.norm", f"features.{len(feats) - 1}.1"),
    ]
    for i, layer in enumerate(cls):
        if isinstance(layer, nn.Linear):
            last = i == len(cls) - 1
            head.append(_lc(kind="linear", out_chs=0 if last else layer.out_features, bias=layer.bias is not None))
            pairs.append((f"head.{len(head) - 1}.fc", f"classifier.{i}"))
        elif isinstance(layer, nn.Dropout):
            head.append(_lc(kind="dropout", p=layer.p))
        else:
            prev = head[-1]
            head[-1] = prev.__class__(**{**prev.to_dict(), "act": act_name(layer)})  # type: ignore[attr-defined]
    return _network(m, type(m).__name__.lower(), [_cna_layer(feats[0])], blocks, head, pairs)


@_register(["timm.models.mobilenetv3.MobileNetV3"])
def _timm_mobilenet(m: nn.Module) -> nn.Module:
    """timm's ``MobileNetV3`` builder class (MobileNetV3, MobileNetV4, LCNet, ...): stem conv, its
    blocks, pooling, a 1x1 head conv on the pooled features (with or without a norm), classifier."""
    _timm_head_checks(m)
    blocks = [b for stage in m.blocks for b in stage]
    stem = [_cna_layer(nn.Sequential(m.conv_stem, m.bn1, m.bn1.act))]
    has_norm = not isinstance(m.norm_head, nn.Identity)
    if isinstance(m.conv_head, nn.Identity):
        raise ConfigError("from_reference: a timm MobileNetV3 without a head conv is not supported")
    act = act_name(m.norm_head.act if has_norm else m.act2)
    head = [
        _lc(kind="pool"),
        _lc(
            kind="linear",
            out_chs=m.conv_head.out_channels,
            bias=m.conv_head.bias is not None,
            norm="bn_after" if has_norm else "none",
            act=act,
            **({"eps": m.norm_head.eps} if has_norm else {}),
        ),
        *_timm_dropout(m),
        _lc(kind="linear", bias=True),
    ]
    pairs = [
        ("stem.0.conv", "conv_stem"),
        ("stem.0.norm", "bn1"),
        ("head.1.fc", "conv_head"),
        (f"head.{len(head) - 1}.fc", "classifier"),
    ]
    if has_norm:
        pairs.append(("head.1.norm_after", "norm_head"))
    return _network(m, _timm_name(m), stem, blocks, head, pairs)
