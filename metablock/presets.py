"""Named blocks as preset configurations (data, not classes).

Each preset is a function of a few arguments (widths, stride, expansion, kernel, ...) that returns a
:class:`BlockConfig`. :func:`block_config` calls it and applies any remaining overrides as field
replacements, so every field stays reachable.

Example:
    >>> from metablock import block_config, list_blocks
    >>> "mbconv" in list_blocks()
    True
    >>> block_config("mbconv", in_chs=16, out_chs=24, stride=2).stride
    2
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .config import Act, BlockConfig, ShiftMaxConfig
from .errors import ConfigError, unknown
from .registry import Registry

PresetFn = Callable[..., BlockConfig]
BLOCKS: Registry[PresetFn] = Registry("block preset")

PAPERS = {
    "resnet": "Deep Residual Learning for Image Recognition, https://arxiv.org/abs/1512.03385",
    "mobilenet_v1": "MobileNets, https://arxiv.org/abs/1704.04861",
    "mobilenet_v2": "MobileNetV2: Inverted Residuals and Linear Bottlenecks, https://arxiv.org/abs/1801.04381",
    "mobilenet_v3": "Searching for MobileNetV3, https://arxiv.org/abs/1905.02244",
    "efficientnet": "EfficientNet, https://arxiv.org/abs/1905.11946",
    "efficientnet_v2": "EfficientNetV2, https://arxiv.org/abs/2104.00298",
    "shufflenet_v2": "ShuffleNet V2, https://arxiv.org/abs/1807.11164",
    "emo": "Rethinking Mobile Block for Efficient Attention-based Models (EMO), https://arxiv.org/abs/2301.01146",
    "micronet": "MicroNet: Improving Image Recognition with Extremely Low FLOPs, https://arxiv.org/abs/2108.05894",
    "repvit": "RepViT: Revisiting Mobile CNN From ViT Perspective, https://arxiv.org/abs/2307.09283",
    "mobilenet_v4": "MobileNetV4: Universal Models for the Mobile Ecosystem, https://arxiv.org/abs/2404.10518",
    "senet": "Squeeze-and-Excitation Networks, https://arxiv.org/abs/1709.01507",
    "regnet": "Designing Network Design Spaces (RegNet), https://arxiv.org/abs/2003.13678",
    "lcnet": "PP-LCNet: A Lightweight CPU Convolutional Neural Network, https://arxiv.org/abs/2109.15099",
    "mnasnet": "MnasNet: Platform-Aware Neural Architecture Search for Mobile, https://arxiv.org/abs/1807.11626",
    "ghostnet": "GhostNet: More Features from Cheap Operations, https://arxiv.org/abs/1911.11907",
    "mixnet": "MixConv: Mixed Depthwise Convolutional Kernels, https://arxiv.org/abs/1907.09595",
    "efficientnet_edgetpu": "Accelerator-aware Neural Network Design using AutoML (EfficientNet-EdgeTPU), "
    "https://arxiv.org/abs/2003.02838",
}


def _preset(name: str, *, paper: str, reference: str) -> Callable[[PresetFn], PresetFn]:
    return BLOCKS.register(name, paper=PAPERS[paper], reference=reference)


def list_blocks() -> list[str]:
    """Names of every block preset."""
    return BLOCKS.names()


def block_info(name: str) -> dict[str, str]:
    """The paper and the reference implementation of a block preset."""
    BLOCKS.get(name)
    return dict(BLOCKS.meta[name])


def block_config(name: str, **overrides: Any) -> BlockConfig:
    """The :class:`BlockConfig` of preset ``name``.

    Keyword arguments that the preset function takes (e.g. ``in_chs``, ``stride``, ``exp_ratio``)
    go to it; any other ``BlockConfig`` field is replaced afterwards.

    Example:
        >>> block_config("irmb_attn", in_chs=64, out_chs=64, head_dim=16).head_dim
        16
    """
    fn = BLOCKS.get(name)
    validate_overrides(name, overrides)
    params = inspect.signature(fn).parameters
    own = {k: v for k, v in overrides.items() if k in params}
    rest = {k: v for k, v in overrides.items() if k not in params}
    cfg = fn(**own)
    return cfg.replace(**rest) if rest else cfg


def _skip(in_chs: int, out_chs: int, stride: int, enabled: bool = True) -> str:
    return "identity" if enabled and stride == 1 and in_chs == out_chs else "none"


# ------------------------------------------------------------------------------------ ResNet
@_preset("resnet_basic", paper="resnet", reference="torchvision.models.resnet.BasicBlock")
def resnet_basic(*, in_chs: int = 64, out_chs: int = 64, stride: int = 1, kernel: int = 3) -> BlockConfig:
    """ResNet basic block: 3x3 conv, 3x3 conv, projection shortcut when the shape changes, ReLU after the add."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        hidden_chs=out_chs,
        expand="fused",
        expand_kernel=kernel,
        expand_act="relu",
        mixer="identity",
        project="conv",
        project_kernel=kernel,
        shortcut="identity" if stride == 1 and in_chs == out_chs else "conv",
        post_act="relu",
    )


@_preset("resnet_bottleneck", paper="resnet", reference="torchvision.models.resnet.Bottleneck")
def resnet_bottleneck(
    *,
    in_chs: int = 256,
    out_chs: int = 256,
    stride: int = 1,
    hidden_chs: int | None = None,
    groups: int = 1,
    kernel: int = 3,
) -> BlockConfig:
    """ResNet bottleneck (torchvision's v1.5: the stride sits in the 3x3 conv), λ = 1/4 of the output."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        hidden_chs=hidden_chs or out_chs // 4,
        expand="pw",
        expand_act="relu",
        mixer="conv",
        kernel=kernel,
        mixer_groups=groups,
        mixer_act="relu",
        project="pw",
        shortcut="identity" if stride == 1 and in_chs == out_chs else "conv",
        post_act="relu",
    )


# --------------------------------------------------------------------------------- MobileNet
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


# ------------------------------------------------------------------------------ EfficientNet
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
    from .config import make_divisible

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
    from .config import make_divisible

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


# ------------------------------------------------------------------------------- ShuffleNet
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


# ---------------------------------------------------------------------------------------- EMO
def _irmb(
    *,
    in_chs: int,
    out_chs: int,
    stride: int,
    exp_ratio: float,
    kernel: int,
    act: str,
    norm_in: str,
    skip: bool,
    se_ratio: float,
    attention: bool,
    head_dim: int,
    window_size: int,
    attn_pre: bool,
    v_group: bool,
    qkv_bias: bool = True,
) -> BlockConfig:
    has_skip = skip and stride == 1 and in_chs == out_chs
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        hidden_chs=int(in_chs * exp_ratio),
        norm_in=norm_in,
        expand="pw",
        expand_norm=False,
        expand_bias=qkv_bias,
        expand_act=act,
        mixer="window_mhsa" if attention else "dwconv",
        kernel=kernel,
        mixer_act="silu",
        inner_skip=has_skip,
        window_size=window_size,
        head_dim=head_dim,
        attn_pre=attn_pre,
        v_group=v_group,
        qkv_bias=qkv_bias,
        se_ratio=se_ratio,
        se_ref="hidden",
        se_round="round",
        se_act=act,
        project="pw",
        project_norm=False,
        shortcut="identity" if has_skip else "none",
        norm_eps=1e-6,
    )


@_preset("irmb", paper="emo", reference="zhangzjn/EMO model/emo.py iRMB (attn_s=False)")
def irmb(
    *,
    in_chs: int = 48,
    out_chs: int = 48,
    stride: int = 1,
    exp_ratio: float = 2.0,
    kernel: int = 3,
    act: str = "silu",
    norm_in: str = "bn",
    skip: bool = True,
    se_ratio: float = 0.0,
) -> BlockConfig:
    """iRMB without attention: pre-norm, 1x1 expand + act, depthwise + BN + SiLU with an inner residual, 1x1."""
    return _irmb(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        kernel=kernel,
        act=act,
        norm_in=norm_in,
        skip=skip,
        se_ratio=se_ratio,
        attention=False,
        head_dim=16,
        window_size=7,
        attn_pre=False,
        v_group=False,
    )


@_preset("irmb_attn", paper="emo", reference="zhangzjn/EMO model/emo.py iRMB (attn_s=True)")
def irmb_attn(
    *,
    in_chs: int = 80,
    out_chs: int = 80,
    stride: int = 1,
    exp_ratio: float = 3.0,
    kernel: int = 5,
    act: str = "gelu",
    norm_in: str = "ln2d",
    head_dim: int = 20,
    window_size: int = 7,
    attn_pre: bool = True,
    v_group: bool = False,
    se_ratio: float = 0.0,
    skip: bool = True,
) -> BlockConfig:
    """iRMB with window attention (strided windows, padded) cascaded with the depthwise conv."""
    return _irmb(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        kernel=kernel,
        act=act,
        norm_in=norm_in,
        skip=skip,
        se_ratio=se_ratio,
        attention=True,
        head_dim=head_dim,
        window_size=window_size,
        attn_pre=attn_pre,
        v_group=v_group,
    )


@_preset("emo_mhsa", paper="emo", reference="EMO paper, Fig. 2 (MMB with F = MHSA)")
def emo_mhsa(*, chs: int = 64, head_dim: int = 16, window_size: int = 0, norm_in: str = "ln2d") -> BlockConfig:
    """Multi-head self-attention as a Meta Mobile Block: λ = 1, F = (window) MHSA, no depthwise conv."""
    return BlockConfig(
        in_chs=chs,
        out_chs=chs,
        norm_in=norm_in,
        expand="pw",
        expand_norm=False,
        expand_bias=True,
        expand_act="none",
        mixer="window_mhsa",
        kernel=0,
        window_size=window_size,
        head_dim=head_dim,
        project="pw",
        project_norm=False,
        project_bias=True,
        shortcut="identity",
        norm_eps=1e-6,
    )


@_preset("emo_ffn", paper="emo", reference="EMO paper, Fig. 2 (MMB with F = identity)")
def emo_ffn(*, chs: int = 64, exp_ratio: float = 4.0, act: str = "gelu", norm_in: str = "ln2d") -> BlockConfig:
    """Feed-forward network as a Meta Mobile Block: λ-expansion, F = identity, projection, residual."""
    return BlockConfig(
        in_chs=chs,
        out_chs=chs,
        exp_ratio=exp_ratio,
        norm_in=norm_in,
        expand="pw",
        expand_norm=False,
        expand_bias=True,
        expand_act=act,
        mixer="identity",
        project="pw",
        project_norm=False,
        project_bias=True,
        shortcut="identity",
        norm_eps=1e-6,
    )


# ----------------------------------------------------------------------------------- MicroNet
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


# ------------------------------------------------------------------------------------- RepViT
@_preset("repvit_block", paper="repvit", reference="timm.models.repvit.RepViTBlock")
def repvit_block(
    *, chs: int = 48, exp_ratio: float = 2.0, kernel: int = 3, use_se: bool = True, legacy: bool = False
) -> BlockConfig:
    """RepViT block, stride 1: RepVGG-style depthwise token mixer (identity inside), SE on the
    unexpanded width, then a GELU FFN residual."""
    return BlockConfig(
        in_chs=chs,
        out_chs=chs,
        exp_ratio=exp_ratio,
        mixer_first=True,
        mixer="rep_dw",
        kernel=kernel,
        rep_scale="norm" if legacy else "bias",
        rep_identity=True,
        rep_post_norm=not legacy,
        mixer_act="none",
        se_ratio=0.25 if use_se else 0.0,
        se_ref="in",
        se_round="divisible",
        se_divisor=8,
        se_round_limit=0.0,
        expand="pw",
        expand_act="gelu",
        project="pw",
        project_norm_init=0.0,  # the FFN residual starts as nothing, as in timm/official RepViT
        shortcut="identity",
    )


@_preset("repvit_down", paper="repvit", reference="timm.models.repvit.RepVitDownsample (after its pre_block)")
def repvit_down(*, in_chs: int = 48, out_chs: int = 96, exp_ratio: float = 2.0, kernel: int = 3) -> BlockConfig:
    """RepViT block, stride 2: strided depthwise conv + BN, 1x1 channel transition + BN, GELU FFN residual."""
    return BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=2,
        exp_ratio=exp_ratio,
        mixer_first=True,
        mixer="dwconv",
        kernel=kernel,
        mixer_act="none",
        expand="pw",
        expand_act="gelu",
        project="pw",
        project_norm_init=0.0,
        shortcut="identity",
    )


# -------------------------------------------------------------------------------- MobileNetV4
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


# ----------------------------------------------------------------------------------- GhostNet
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


# ------------------------------------------------------------------------------------- MixNet
@_preset("mixnet_block", paper="mixnet", reference="timm.models._efficientnet_blocks.InvertedResidual (MixedConv2d)")
def mixnet_block(
    *,
    in_chs: int = 40,
    out_chs: int = 40,
    stride: int = 1,
    exp_ratio: float = 6.0,
    kernels: tuple[int, ...] = (3, 5),
    groups: int = 2,
    act: str = "silu",
    se_ratio: float = 0.5,
) -> BlockConfig:
    """MixNet's inverted residual: a 1x1 expansion in ``groups`` channel groups, a mixed depthwise
    conv (channel groups with the kernels of ``kernels``; one kernel is a plain depthwise conv), SE
    (``se_ratio`` of the block input), a linear 1x1 projection in ``groups`` groups; identity
    shortcut when the shape is kept."""
    cfg = BlockConfig(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stride,
        exp_ratio=exp_ratio,
        expand="pw",
        expand_groups=groups,
        expand_act=act,
        mixer="dw_mixed" if len(kernels) > 1 else "dwconv",
        kernel=max(kernels),
        mixed_kernels=tuple(kernels) if len(kernels) > 1 else (),
        mixer_act=act,
        project="pw",
        project_groups=groups,
        shortcut=_skip(in_chs, out_chs, stride),
    )
    if se_ratio:
        cfg = cfg.replace(se_ratio=se_ratio, se_ref="in", se_round="round", se_act=act, se_gate="sigmoid")
    return cfg


# ---------------------------------------------------------------------- RegNet, EdgeResidual
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


# ------------------------------------------------------------------------------- other forms
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


def explicit_se(cfg: BlockConfig) -> BlockConfig:
    """``cfg`` with its squeeze width written out (``se_chs``) and the SE rounding fields at their
    defaults: the form ``from_reference`` gives for references that store only the width."""
    se = cfg.widths()["se"]
    if not se:
        return cfg
    return cfg.replace(se_ratio=0.0, se_chs=se, se_ref="hidden", se_round="round", se_divisor=8, se_round_limit=0.9)


def validate_overrides(name: str, overrides: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for override keys that are neither preset arguments nor fields."""
    fn = BLOCKS.get(name)
    params = set(inspect.signature(fn).parameters)
    fields = {f for f, spec in BlockConfig.__dataclass_fields__.items() if spec.init}
    for key in overrides:
        if key not in params and key not in fields:
            raise unknown(f"argument of block preset {name!r}", key, params | fields)


__all__ = [
    "BLOCKS",
    "ConfigError",
    "block_config",
    "block_info",
    "emo_block",
    "list_blocks",
    "micronet_block",
]


def presets_markdown() -> str:
    """The Markdown table of block presets (name, paper, reference) that README.md shows."""
    lines = ["| preset | paper | reference |", "|---|---|---|"]
    for name in list_blocks():
        info = BLOCKS.meta[name]
        title, url = info["paper"].rsplit(", ", 1)
        lines.append(f"| `{name}` | [{title}]({url}) | {info['reference']} |")
    return "\n".join(lines)


_EMO_NORMS = {"none": "none", "bn_2d": "bn", "ln_2d": "ln2d"}
_EMO_ACTS = {
    "none": "none",
    "relu": "relu",
    "relu6": "relu6",
    "silu": "silu",
    "gelu": "gelu",
    "hswish": "hswish",
    "hsigmoid": "hsigmoid",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "swish": "silu",
}


def emo_block(
    *,
    dim_in: int,
    dim_out: int,
    norm_in: bool = True,
    has_skip: bool = True,
    exp_ratio: float = 1.0,
    norm_layer: str = "bn_2d",
    act_layer: str = "relu",
    v_proj: bool = True,
    dw_ks: int = 3,
    stride: int = 1,
    dilation: int = 1,
    se_ratio: float = 0.0,
    dim_head: int = 64,
    window_size: int = 7,
    attn_s: bool = True,
    qkv_bias: bool = False,
    attn_drop: float = 0.0,
    drop: float = 0.0,
    drop_path: float = 0.0,
    v_group: bool = False,
    attn_pre: bool = False,
) -> BlockConfig:
    """The ``BlockConfig`` of an official EMO ``iRMB(...)`` call, argument for argument.

    Names and defaults follow ``model/emo.py`` of zhangzjn/EMO, so a network definition written
    against the official code converts line by line. ``drop`` (dropout before the projection) must be 0.
    """
    if norm_layer not in _EMO_NORMS:
        raise unknown("EMO norm_layer", norm_layer, _EMO_NORMS)
    if act_layer not in _EMO_ACTS:
        raise unknown("EMO act_layer", act_layer, _EMO_ACTS)
    if drop:
        raise ConfigError(f"emo_block: drop must be 0 (projection dropout is not modelled); got drop={drop}")
    skip = has_skip and dim_in == dim_out and stride == 1
    hidden = int(dim_in * exp_ratio)
    act = _EMO_ACTS[act_layer]
    expand = "pw" if (attn_s or v_proj) else "none"
    return BlockConfig(
        in_chs=dim_in,
        out_chs=dim_out,
        stride=stride,
        exp_ratio=exp_ratio if expand == "pw" else 1.0,
        hidden_chs=hidden if expand == "pw" else None,
        norm_in=_EMO_NORMS[norm_layer] if norm_in else "none",
        expand=expand,
        expand_norm=False,
        expand_bias=qkv_bias,
        expand_act=act,
        mixer="window_mhsa" if attn_s else "dwconv",
        kernel=dw_ks,
        dilation=dilation,
        mixer_act="silu",
        inner_skip=skip,
        window_size=window_size,
        head_dim=dim_head,
        attn_pre=attn_pre,
        v_group=v_group,
        qkv_bias=qkv_bias,
        attn_drop=attn_drop,
        se_ratio=se_ratio,
        se_ref="hidden",
        se_round="round",
        se_act=act,
        project="pw",
        project_norm=False,
        shortcut="identity" if skip else "none",
        norm_eps=1e-6,
        drop_path=drop_path,
    )
