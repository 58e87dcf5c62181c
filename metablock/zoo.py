"""Named networks as ``NetConfig`` presets built only from Meta Mobile Block stages.

Each network is written as its reference defines it (block by block) and grouped into stages with
:func:`metablock.network.stages_from_blocks`.

Example:
    >>> import metablock
    >>> "emo_1m" in metablock.list_models()
    True
    >>> model = metablock.create_model("mobilenet_v2", num_classes=10)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import presets
from .config import BlockConfig
from .errors import ConfigError
from .network import LayerConfig, MetaNet, NetConfig, build, stages_from_blocks
from .registry import Registry

ModelFn = Callable[[], NetConfig]
MODELS: Registry[ModelFn] = Registry("model")


def _model(name: str, *, reference: str, paper: str) -> Callable[[ModelFn], ModelFn]:
    return MODELS.register(name, reference=reference, paper=presets.PAPERS[paper])


def list_models() -> list[str]:
    """Names of every named network."""
    return MODELS.names()


def model_info(name: str) -> dict[str, str]:
    MODELS.get(name)
    return dict(MODELS.meta[name])


def model_config(name: str, **overrides: Any) -> NetConfig:
    """The :class:`NetConfig` of a named network; ``overrides`` replace top-level fields
    (``num_classes``, ``in_chans``, ``width_mult``, ``drop_path_rate``, ...)."""
    cfg = MODELS.get(name)()
    return cfg.replace(**overrides) if overrides else cfg


def create_model(name: str, *, num_classes: int = 1000, features_only: bool = False, **overrides: Any) -> MetaNet:
    """Build a named network.

    Args:
        name: one of :func:`list_models`.
        num_classes: classifier outputs.
        features_only: return feature maps at strides 4, 8, 16, 32 instead of logits.
        **overrides: other top-level ``NetConfig`` fields.

    Example:
        >>> m = create_model("repvit_m0_9", features_only=True)
        >>> m.feature_strides()
        [4, 8, 16, 32]
    """
    return build(model_config(name, num_classes=num_classes, **overrides), features_only=features_only)


def _conv(out: int, kernel: int = 3, stride: int = 1, act: str = "relu", **kw: Any) -> LayerConfig:
    return LayerConfig(kind="conv", out_chs=out, kernel=kernel, stride=stride, norm=kw.pop("norm", "bn"), act=act, **kw)


POOL = LayerConfig(kind="pool")


def _dropout(p: float) -> LayerConfig:
    return LayerConfig(kind="dropout", p=p)


CLASSIFIER = LayerConfig(kind="linear", bias=True)


# ---------------------------------------------------------------------------- MobileNetV1
_V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]


@_model("mobilenet_v1", reference="timm mobilenetv1_100", paper="mobilenet_v1")
def mobilenet_v1() -> NetConfig:
    """MobileNetV1 at width 1.0 as timm's ``mobilenetv1_100`` builds it (Table 1 of the paper, with
    ReLU6): a 3x3 stem of 32, thirteen depthwise-separable blocks, average pooling, a classifier."""
    blocks = []
    chs = 32
    for out, stride in _V1:
        blocks.append(presets.mobilenet_v1_dws(in_chs=chs, out_chs=out, stride=stride, act="relu6"))
        chs = out
    return NetConfig(
        name="mobilenet_v1",
        stem=(_conv(32, 3, 2, "relu6"),),
        stages=stages_from_blocks(blocks),
        head=(POOL, CLASSIFIER),
    )


# ------------------------------------------------------------------------------- PP-LCNet
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
        cfg = presets.mobilenet_v1_dws(in_chs=chs, out_chs=out, stride=stride, kernel=kernel, act="hswish")
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


# ---------------------------------------------------------------------------- MobileNetV2
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
            blocks.append(presets.mobilenet_v2_ir(in_chs=chs, out_chs=c, stride=s if i == 0 else 1, exp_ratio=t))
            chs = c
    return NetConfig(
        name="mobilenet_v2",
        stem=(_conv(32, 3, 2, "relu6"),),
        stages=stages_from_blocks(blocks),
        head=(_conv(1280, 1, 1, "relu6"), POOL, _dropout(0.2), CLASSIFIER),
    )


# ---------------------------------------------------------------------------- MobileNetV3
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


def _mobilenet_v3(name: str, rows: list[tuple[Any, ...]], last: int) -> NetConfig:
    blocks = [presets._mobilenet_v3(i, o, s, e, 1.0, k, a, se) for i, k, e, o, se, a, s in rows]
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
    return _mobilenet_v3("mobilenet_v3_large", _V3_LARGE, 1280)


@_model("mobilenet_v3_small", reference="torchvision.models.mobilenet_v3_small", paper="mobilenet_v3")
def mobilenet_v3_small() -> NetConfig:
    return _mobilenet_v3("mobilenet_v3_small", _V3_SMALL, 1024)


# -------------------------------------------------------------------------------- RegNet
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
                presets.regnet_y_block(
                    in_chs=chs, out_chs=width, stride=stride, group_width=group_width, se_ratio=se_ratio
                )
            )
            chs = width
    return NetConfig(
        name=name, stem=(_conv(32, 3, 2, "relu"),), stages=stages_from_blocks(blocks), head=(POOL, CLASSIFIER)
    )


@_model("regnet_y_400mf", reference="torchvision.models.regnet_y_400mf", paper="regnet")
def regnet_y_400mf() -> NetConfig:
    # the quantised design (depth 16, w0 48, wa 27.89, wm 2.09, group width 8) resolves to these stages
    return regnet("regnet_y_400mf", [1, 3, 6, 6], [48, 104, 208, 440], 8, se_ratio=0.25)


# ---------------------------------------------------------------------------- MNASNet
_MNASNET_A = [  # expansion, kernel, stride, out, repeats (MnasNet-B1 of the paper; torchvision mnasnet1_0)
    (3, 3, 2, 24, 3),
    (3, 5, 2, 40, 3),
    (6, 5, 2, 80, 3),
    (6, 3, 1, 96, 2),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]


@_model("mnasnet_100", reference="torchvision.models.mnasnet1_0", paper="mnasnet")
def mnasnet_100() -> NetConfig:
    """MnasNet-B1 at width 1.0 as torchvision builds it: 3x3 stem of 32, a depthwise-separable block to
    16 without skip, inverted residuals (ReLU) with a skip wherever the shape is kept, a 1x1 head of
    1280, dropout 0.2. BatchNorm momentum 1 - 0.9997 (TensorFlow's decay)."""
    bn = {"norm_momentum": 1 - 0.9997}
    blocks = [
        BlockConfig(in_chs=32, out_chs=16, expand="none", mixer="dwconv", kernel=3, project="pw", shortcut="none", **bn)
    ]
    chs = 16
    for e, k, s, out, n in _MNASNET_A:
        for i in range(n):
            stride = s if i == 0 else 1
            cfg = presets.mobilenet_v2_ir(in_chs=chs, out_chs=out, stride=stride, exp_ratio=e, kernel=k)
            blocks.append(cfg.replace(expand_act="relu", mixer_act="relu", **bn))
            chs = out
    layer_bn = {"momentum": 1 - 0.9997}
    return NetConfig(
        name="mnasnet_100",
        stem=(_conv(32, 3, 2, "relu", **layer_bn),),
        stages=stages_from_blocks(blocks),
        head=(_conv(1280, 1, 1, "relu", **layer_bn), POOL, _dropout(0.2), CLASSIFIER),
    )


# --------------------------------------------------------------------------- EfficientNet
def _effnet_blocks(rows: list[tuple[Any, ...]], eps: float) -> list[BlockConfig]:
    blocks = []
    for kind, e, k, s, cin, cout, n in rows:
        for i in range(n):
            fn = presets.fused_mbconv if kind == "fused" else presets.mbconv
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
#: EfficientNet's compound scaling: (width multiplier, depth multiplier, dropout) per variant
_EFFICIENTNET_SCALES = {"b0": (1.0, 1.0, 0.2), "b1": (1.0, 1.1, 0.2), "b2": (1.1, 1.2, 0.3), "b3": (1.2, 1.4, 0.3)}


def efficientnet(width_mult: float = 1.0, depth_mult: float = 1.0, dropout: float = 0.2, name: str = "") -> NetConfig:
    """EfficientNet-B0 scaled by compound scaling: every width by ``width_mult`` (rounded to 8) and
    every stage's depth by ``depth_mult`` (rounded up), as the paper and torchvision do; the head conv
    is four times the last stage's width. B1-B3 are this function of their multipliers."""
    cfg = NetConfig(
        name=name or "efficientnet",
        stem=(_conv(32, 3, 2, "silu"),),
        stages=stages_from_blocks(_effnet_blocks(_EFFICIENTNET_B0, 1e-5)),
        head=(_conv(1280, 1, 1, "silu"), POOL, _dropout(dropout), CLASSIFIER),
        width_mult=width_mult,
        depth_mult=depth_mult,
    )
    # the head conv (1280, scaled like every width) is four times the scaled last stage, as torchvision's
    if cfg.scale(1280) != 4 * cfg.scale(_EFFICIENTNET_B0[-1][5]):
        raise ConfigError(f"efficientnet: width_mult={width_mult} breaks the head = 4 x last stage rule")
    return cfg


def _register_efficientnet(variant: str) -> None:
    w, d, dropout = _EFFICIENTNET_SCALES[variant]
    name = f"efficientnet_{variant}"
    MODELS.add(
        name,
        lambda: efficientnet(w, d, dropout, name),
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


# ----------------------------------------------------------------------------- ShuffleNet
@_model("shufflenet_v2_x1_0", reference="torchvision.models.shufflenet_v2_x1_0", paper="shufflenet_v2")
def shufflenet_v2_x1_0() -> NetConfig:
    blocks = []
    chs = 24
    for out, n in [(116, 4), (232, 8), (464, 4)]:
        blocks.append(presets.shufflenet_v2_down(in_chs=chs, out_chs=out))
        blocks += [presets.shufflenet_v2_unit(chs=out) for _ in range(n - 1)]
        chs = out
    return NetConfig(
        name="shufflenet_v2_x1_0",
        stem=(_conv(24, 3, 2), LayerConfig(kind="maxpool", kernel=3, stride=2)),
        stages=stages_from_blocks(blocks),
        head=(_conv(1024, 1, 1), POOL, CLASSIFIER),
    )


# -------------------------------------------------------------------------------- ResNet
@_model("resnet50", reference="torchvision.models.resnet50", paper="resnet")
def resnet50() -> NetConfig:
    blocks = []
    chs = 64
    for planes, n, s in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(n):
            cfg = presets.resnet_bottleneck(
                in_chs=chs, out_chs=planes * 4, stride=s if i == 0 else 1, hidden_chs=planes
            )
            blocks.append(cfg)
            chs = planes * 4
    return NetConfig(
        name="resnet50",
        stem=(_conv(64, 7, 2), LayerConfig(kind="maxpool", kernel=3, stride=2)),
        stages=stages_from_blocks(blocks),
        head=(POOL, CLASSIFIER),
    )


# ----------------------------------------------------------------------------------- EMO
_EMO = {  # depths, embed dims, exp ratios, dim heads (official model/emo.py)
    "emo_1m": ([2, 2, 8, 3], [32, 48, 80, 168], [2.0, 2.5, 3.0, 3.5], [16, 16, 20, 21], 0.04036),
    "emo_2m": ([3, 3, 9, 3], [32, 48, 120, 200], [2.0, 2.5, 3.0, 3.5], [16, 16, 20, 20], 0.05),
    "emo_5m": ([3, 3, 9, 3], [48, 72, 160, 288], [2.0, 3.0, 4.0, 4.0], [24, 24, 32, 32], 0.05),
    "emo_6m": ([3, 3, 9, 3], [48, 72, 160, 320], [2.0, 3.0, 4.0, 5.0], [16, 24, 20, 32], 0.05),
}


def emo_network(
    name: str,
    depths: list[int],
    dims: list[int],
    ratios: list[float],
    heads: list[int],
    *,
    stem_dim: int = 24,
    norms: tuple[str, ...] = ("bn_2d", "bn_2d", "ln_2d", "ln_2d"),
    acts: tuple[str, ...] = ("silu", "silu", "gelu", "gelu"),
    kernels: tuple[int, ...] = (3, 3, 5, 5),
    attention: tuple[bool, ...] = (False, False, True, True),
    window_size: int = 7,
    drop_path: float = 0.0,
) -> NetConfig:
    """An EMO network from the official constructor's arguments (``model/emo.py``).

    The stem is a strided 3x3 conv with bias and BatchNorm followed by an iRMB without pre-norm,
    skip or expansion but with SE (ratio 1); the first block of each stage doubles λ, strides and has
    neither skip nor attention; the head is the last stage's norm, average pooling and a linear layer.
    """
    blocks = [
        presets.emo_block(
            dim_in=stem_dim,
            dim_out=stem_dim,
            norm_in=False,
            has_skip=False,
            exp_ratio=1,
            norm_layer=norms[0],
            act_layer=acts[0],
            v_proj=False,
            dw_ks=kernels[0],
            se_ratio=1,
            dim_head=heads[0],
            window_size=window_size,
            attn_s=False,
            qkv_bias=True,
            attn_pre=True,
        )
    ]
    chs = stem_dim
    for i, depth in enumerate(depths):
        for j in range(depth):
            first = j == 0
            blocks.append(
                presets.emo_block(
                    dim_in=chs,
                    dim_out=dims[i],
                    norm_in=True,
                    has_skip=not first,
                    exp_ratio=ratios[i] * (2 if first else 1),
                    norm_layer=norms[i],
                    act_layer=acts[i],
                    v_proj=True,
                    dw_ks=kernels[i],
                    stride=2 if first else 1,
                    dim_head=heads[i],
                    window_size=window_size,
                    attn_s=attention[i] and not first,
                    qkv_bias=True,
                    attn_pre=True,
                )
            )
            chs = dims[i]
    norm = {"bn_2d": "bn", "ln_2d": "ln2d"}[norms[-1]]
    return NetConfig(
        name=name,
        stem=(_conv(stem_dim, kernels[0], 2, "none", bias=True, eps=1e-6),),
        stages=stages_from_blocks(blocks),
        head=(LayerConfig(kind="norm", norm=norm, eps=1e-6), POOL, CLASSIFIER),
        drop_path_rate=drop_path,
        drop_path_start=1,  # the official schedule spreads over the stages' blocks, not the stem iRMB
    )


def _register_emo(key: str) -> None:
    depths, dims, ratios, heads, dp = _EMO[key]
    MODELS.add(
        key,
        lambda: emo_network(key, depths, dims, ratios, heads),
        reference=f"zhangzjn/EMO model/emo.py {key.upper()}",
        paper=presets.PAPERS["emo"],
    )


for _key in _EMO:
    _register_emo(_key)


# ------------------------------------------------------------------------------ MicroNet
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
            blocks.append(presets.micronet_block(in_chs=chs, row=r, init_a=init_a, init_b=init_b))
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


# -------------------------------------------------------------------------------- RepViT
_REPVIT = {
    # repvit_m0_6 exists only in the official code (THU-MIG/RepViT model/repvit.py): its block list
    # regrouped as timm groups the others (each stage's last block is the next downsample's pre-block)
    "repvit_m0_6": ((40, 80, 160, 320), (1, 1, 8, 1)),
    "repvit_m0_9": ((48, 96, 192, 384), (2, 2, 14, 2)),
    "repvit_m1_0": ((56, 112, 224, 448), (2, 2, 14, 2)),
    "repvit_m1_1": ((64, 128, 256, 512), (2, 2, 12, 2)),
    "repvit_m1_5": ((64, 128, 256, 512), (4, 4, 24, 4)),
    "repvit_m2_3": ((80, 160, 320, 640), (6, 6, 34, 2)),
}


def repvit_network(
    name: str,
    dims: tuple[int, ...],
    depths: tuple[int, ...],
    *,
    mlp_ratio: float = 2.0,
    kernel: int = 3,
    legacy: bool = False,
    distillation: bool = True,
) -> NetConfig:
    """A RepViT as timm builds it: a two-conv stem, stages whose first block (after stage 0) is a
    stride-1 block without SE followed by the stride-2 block, SE on every other block, and a
    BatchNorm + Linear classifier (two of them, averaged, with ``distillation``)."""
    blocks: list[BlockConfig] = []
    chs = dims[0]
    for i, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
        if i:
            blocks.append(
                presets.repvit_block(chs=chs, exp_ratio=mlp_ratio, kernel=kernel, use_se=False, legacy=legacy)
            )
            blocks.append(presets.repvit_down(in_chs=chs, out_chs=dim, exp_ratio=mlp_ratio, kernel=kernel))
        for j in range(depth):
            blocks.append(
                presets.repvit_block(chs=dim, exp_ratio=mlp_ratio, kernel=kernel, use_se=j % 2 == 0, legacy=legacy)
            )
        chs = dim
    head_kind = "distilled_linear" if distillation else "linear"
    return NetConfig(
        name=name,
        stem=(_conv(dims[0] // 2, 3, 2, "gelu"), _conv(dims[0], 3, 2, "none")),
        stages=stages_from_blocks(blocks),
        head=(POOL, LayerConfig(kind=head_kind, bias=True, norm="bn_before")),
    )


def _register_repvit(key: str) -> None:
    dims, depths = _REPVIT[key]
    ref = "THU-MIG/RepViT model/repvit.py repvit_m0_6" if key == "repvit_m0_6" else f"timm {key}"
    MODELS.add(key, lambda: repvit_network(key, dims, depths), reference=ref, paper=presets.PAPERS["repvit"])


for _key in _REPVIT:
    _register_repvit(_key)


# --------------------------------------------------------------------------- MobileNetV4
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
    """MobileNetV4's FusedIB (EfficientNet-EdgeTPU's EdgeResidual): a k×k expansion carrying the
    stride, then a linear 1x1 projection."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        expand="fused",
        expand_kernel=kernel,
        expand_act="relu",
        mixer="identity",
        project="pw",
        shortcut=presets._skip(in_chs, out_chs, stride),
    )


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
            blocks.append(presets._uib(chs, c, s if i == 0 else 1, float(e), a, k))
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
            blocks.append(presets.mobile_mqa(chs=out, num_heads=heads, head_dim=head_dim, kv_stride=kv_stride))
            continue
        a, k, s, e, c, r = row
        for i in range(r):
            blocks.append(presets._uib(chs, c, s if i == 0 else 1, float(e), a, k, layer_scale=1e-5))
            chs = c
    blocks.append(_cn(chs, 960, 1, 1))
    return NetConfig(
        name="mobilenetv4_hybrid_medium",
        stem=(_conv(32, 3, 2),),
        stages=stages_from_blocks(blocks),
        head=(POOL, LayerConfig(kind="linear", out_chs=1280, bias=False, norm="bn_after", act="relu"), CLASSIFIER),
    )


# ------------------------------------------------------------------------------- GhostNet
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
        cfg = presets.ghost_bottleneck(
            in_chs=chs, out_chs=out, stride=stride, hidden_chs=hidden, kernel=kernel, se_ratio=se
        )
        blocks.append(presets.explicit_se(cfg))
        chs = out
    blocks.append(_cn(chs, 960, 1, 1))
    return NetConfig(
        name="ghostnet_100",
        stem=(_conv(16, 3, 2),),
        stages=stages_from_blocks(blocks),
        head=(POOL, LayerConfig(kind="linear", out_chs=1280, bias=True, act="relu"), _dropout(0.2), CLASSIFIER),
    )


# --------------------------------------------------------------------------------- MixNet
_MIXNET_S = [  # kernels, expansion groups, projection groups, stride, expansion, out, SE ratio, repeats
    ((3,), 2, 2, 2, 6, 24, 0, 1), ((3,), 2, 2, 1, 3, 24, 0, 1),
    ((3, 5, 7), 1, 1, 2, 6, 40, 0.5, 1), ((3, 5), 2, 2, 1, 6, 40, 0.5, 3),
    ((3, 5, 7), 1, 2, 2, 6, 80, 0.25, 1), ((3, 5), 1, 2, 1, 6, 80, 0.25, 2),
    ((3, 5, 7), 2, 2, 1, 6, 120, 0.5, 1), ((3, 5, 7, 9), 2, 2, 1, 3, 120, 0.5, 2),
    ((3, 5, 7, 9, 11), 1, 1, 2, 6, 200, 0.5, 1), ((3, 5, 7, 9), 1, 2, 1, 6, 200, 0.5, 2),
]  # fmt: skip


@_model("mixnet_s", reference="timm mixnet_s", paper="mixnet")
def mixnet_s() -> NetConfig:
    """MixNet-S (the paper's Figure 7, timm's arch definition): a 3x3 stem of 16, a depthwise-separable
    block, inverted residuals with mixed depthwise kernels and grouped 1x1 convs (ReLU in the first
    two stages, SiLU with SE on a share of the block input after), a 1x1 conv of 1536, pooling, a
    classifier (timm builds it without dropout unless asked)."""
    first = presets.mobilenet_v1_dws(in_chs=16, out_chs=16, stride=1)
    blocks = [first.replace(project_act="none", shortcut="identity")]
    chs = 16
    for kernels, a, p, stride, e, out, se, repeats in _MIXNET_S:
        for i in range(repeats):
            s = stride if i == 0 else 1
            cfg = presets.mixnet_block(
                in_chs=chs,
                out_chs=out,
                stride=s,
                exp_ratio=float(e),
                kernels=kernels,
                act="silu" if se else "relu",
                se_ratio=se,
            )
            cfg = cfg.replace(expand_groups=a, project_groups=p)
            blocks.append(presets.explicit_se(cfg))
            chs = out
    return NetConfig(
        name="mixnet_s",
        stem=(_conv(16, 3, 2),),
        stages=stages_from_blocks(blocks),
        head=(_conv(1536, 1, 1), POOL, CLASSIFIER),
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
            blocks.append(presets._uib(chs, c, s if i == 0 else 1, float(e), a, k))
            chs = c
    blocks.append(_cn(chs, 960, 1, 1))
    return NetConfig(
        name="mobilenetv4_conv_small",
        stem=(_conv(32, 3, 2),),
        stages=stages_from_blocks(blocks),
        head=(POOL, LayerConfig(kind="linear", out_chs=1280, bias=False, norm="bn_after", act="relu"), CLASSIFIER),
    )


__all__ = ["MODELS", "ConfigError", "create_model", "list_models", "model_config", "model_info"]
