"""``from_reference``: turn an instance of a reference block into an equal ``MetaMobileBlock``.

Each converter reads the reference module's actual layers (widths, kernels, strides, norm epsilon
and momentum, activation classes), builds the :class:`BlockConfig` through the matching preset,
and copies every weight and BatchNorm buffer through an explicit key mapping. Neither torchvision
nor timm is imported here: converters are looked up by the class's module and name.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from . import presets
from .block import MetaMobileBlock
from .config import BlockConfig, canonical
from .errors import ConfigError
from .registry import Registry

Converter = Callable[[nn.Module], nn.Module]
CONVERTERS: Registry[Converter] = Registry("reference class")

_ACT_NAMES = {
    "identity": "none",
    "relu": "relu",
    "relu6": "relu6",
    "hardswish": "hswish",
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "sigmoid": "sigmoid",
    "hardsigmoid": "hsigmoid",
    "tanh": "tanh",
}


def list_reference_classes() -> list[str]:
    """Fully qualified names of the reference classes :func:`from_reference` converts."""
    return CONVERTERS.names()


def _qualname(module: nn.Module) -> str:
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def from_reference(module: nn.Module) -> nn.Module:
    """The ``MetaMobileBlock`` (or ``MetaNet``) equal to a reference block (or network) instance,
    with every weight and buffer copied.

    Blocks: torchvision ``mobilenetv2.InvertedResidual``, ``mobilenetv3.InvertedResidual``,
    ``efficientnet.MBConv``, ``efficientnet.FusedMBConv``, ``shufflenetv2.InvertedResidual``,
    ``resnet.BasicBlock``, ``resnet.Bottleneck``, ``mnasnet._InvertedResidual`` and
    ``regnet.ResBottleneckBlock``; timm ``RepViTBlock``, ``RepVitDownsample`` (returned as
    ``nn.Sequential`` of its stride-1 pre-block and the stride-2 block), ``UniversalInvertedResidual``,
    ``ConvBnAct``, ``DepthwiseSeparableConv``, ``InvertedResidual``, ``EdgeResidual``, ResNet
    ``BasicBlock`` and ``Bottleneck``.
    Networks: torchvision ``MobileNetV2``, ``MobileNetV3``, ``EfficientNet``, ``ShuffleNetV2``,
    ``ResNet``, ``MNASNet`` and ``RegNet`` (X and Y); timm ``RepVit``, ``ResNet`` (ResNet, ResNet-D,
    ResNeXt, wide ResNets) and the ``EfficientNet`` and
    ``MobileNetV3`` builder classes (MobileNetV1/V2/V3/V4, EfficientNet/V2/Lite/EdgeTPU, MnasNet,
    FBNet, TinyNet, LCNet, ...).
    The result is in the same train/eval mode as ``module``.

    Nothing converts silently wrong: a layer no config field expresses (anti-aliasing, TF "same"
    padding at stride 2, space-to-depth, mixed or conditional convs, non-BatchNorm norms, a conv whose
    geometry the converted slot does not take) raises :class:`ConfigError` naming its path, and the
    converted module's output is compared with the reference's on a seeded input before it is returned.

    Example:
        >>> from torchvision.models.mobilenetv2 import InvertedResidual
        >>> ref = InvertedResidual(16, 24, stride=2, expand_ratio=6)
        >>> block = from_reference(ref)
        >>> block.cfg.mixer, block.cfg.stride
        ('dwconv', 2)
    """
    _refuse_unexpressed(module)
    out = _convert(module)
    out.train(module.training)
    _check_outputs(module, out, _qualname(module))
    return out


def _convert(module: nn.Module) -> nn.Module:
    """The converter's result alone (a network's blocks: the network is checked as a whole)."""
    name = _qualname(module)
    if name not in CONVERTERS:
        raise ConfigError(
            f"from_reference has no converter for {name}; supported: {', '.join(list_reference_classes())}"
        )
    return CONVERTERS.get(name)(module)


#: Reference module classes whose effect no config field expresses: (class name, attribute, why).
_UNEXPRESSED = {
    "BlurPool2d": ("aa_layer", "BlurPool2d (anti-aliased downsampling) has no equivalent in the Meta Mobile Block"),
    "Conv2dSameExport": ("pad_type", "an export-time 'same' padding layer has no equivalent; use timm's Conv2dSame"),
    "Pad": ("pad_type", "an explicit padding layer has no equivalent yet"),
    "CondConv2d": ("num_experts", "a conditionally parameterised conv (CondConv) has no equivalent"),
}


def _refuse_unexpressed(module: nn.Module) -> None:
    """Refuse a reference holding a layer whose effect no config field expresses, naming it."""
    for path, sub in module.named_modules():
        cls = type(sub).__name__
        if getattr(sub, "conv_s2d", None) is not None:
            where = path or "the module itself"
            raise ConfigError(f"from_reference: s2d=1 at {where!r}: space-to-depth has no equivalent yet")
        if path.rsplit(".", 1)[-1] == "aa" and not isinstance(sub, nn.Identity):  # timm's anti-aliasing slot
            raise ConfigError(
                f"from_reference: aa_layer={cls} at {path!r}: anti-aliased downsampling has no equivalent in "
                "the Meta Mobile Block"
            )
        if cls in _UNEXPRESSED:
            attr, why = _UNEXPRESSED[cls]
            where = path or "the module itself"
            raise ConfigError(f"from_reference: {attr}={cls} at {where!r}: {why}")


def _check_outputs(ref: nn.Module, ours: nn.Module, name: str, side: int = 32) -> None:
    """The safety net behind every converter: on one seeded input in eval mode the converted module
    must give the reference's output; if not, an attribute of the reference is not expressed in the
    config, and the conversion is refused instead of returned silently wrong."""
    cfg = getattr(ours, "cfg", None)
    if hasattr(cfg, "in_chans"):  # a network
        chs = cfg.in_chans
    else:
        chs = next(m for m in ours.modules() if isinstance(m, MetaMobileBlock)).cfg.in_chs
    param = next(ref.parameters())
    if param.dtype != torch.float32 or param.device.type != "cpu":  # compare in the converted module's form
        ref = copy.deepcopy(ref).to(device="cpu", dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, chs, side, side, generator=gen)
    modes = [(m, m.training) for m in (*ref.modules(), *ours.modules())]
    try:
        ref.eval(), ours.eval()
        with torch.no_grad():
            try:
                want = ref(x)
            except Exception as exc:  # the reference cannot take this input (e.g. a fixed size)
                warnings.warn(
                    f"from_reference: {name} could not run on a {side}x{side} check input ({exc!r}); "
                    "the conversion is returned without the output check",
                    stacklevel=3,
                )
                return
            got = ours(x)
    finally:
        for m, training in modes:
            m.training = training
    if isinstance(want, (tuple, list)):
        want = want[0]
    if isinstance(got, (tuple, list)):
        got = got[0]
    scale = float(want.abs().max()) + 1e-6
    if got.shape != want.shape:
        why = f"output shape {tuple(got.shape)} where the reference gives {tuple(want.shape)}"
    elif not torch.allclose(got, want, rtol=1e-4, atol=1e-4 * scale):
        why = f"outputs differ by up to {float((got - want).abs().max()):.3g}"
    else:
        return
    raise ConfigError(
        f"from_reference: the converted {name} does not reproduce the reference ({why}); an attribute of the "
        "reference is not expressed in the config, so the conversion is refused"
    )


# ------------------------------------------------------------------------------- helpers
def act_name(module: nn.Module | None) -> str:
    """Our activation name for an activation module instance."""
    if module is None:
        return "none"
    key = type(module).__name__.lower()
    if key not in _ACT_NAMES:
        raise ConfigError(f"activation {type(module).__name__} has no equivalent; valid: {sorted(_ACT_NAMES)}")
    if key == "gelu" and getattr(module, "approximate", "none") != "none":
        raise ConfigError("GELU(approximate='tanh') has no equivalent; only the exact GELU is supported")
    return _ACT_NAMES[key]


def _bn(module: nn.Module) -> nn.BatchNorm2d:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            return m
    raise ConfigError(f"expected a BatchNorm2d inside {type(module).__name__}")


def _norm_kwargs(bn: nn.BatchNorm2d) -> dict[str, float]:
    if not isinstance(bn, nn.BatchNorm2d):
        raise ConfigError(f"from_reference: norm layer {type(bn).__name__} is not supported; only BatchNorm2d")
    return {"norm_eps": bn.eps, "norm_momentum": 0.1 if bn.momentum is None else bn.momentum}


_CONV_GEOMETRY = ("kernel_size", "stride", "dilation", "groups", "padding", "padding_mode")


def _check_geometry(ours: nn.Module, ref: nn.Module, renamed: dict[str, str]) -> None:
    """Every conv of ours and the reference conv its weight comes from agree in kernel, stride,
    padding, dilation, groups and padding mode; a reference conv of another class is refused."""
    for key, their in renamed.items():
        if not key.endswith(".weight"):
            continue
        mine = ours.get_submodule(key[: -len(".weight")])
        if not isinstance(mine, nn.Conv2d):
            continue
        path = their[: -len(".weight")]
        theirs = ref.get_submodule(path)
        same = type(mine).__name__ == type(theirs).__name__ == "Conv2dSame"  # TensorFlow SAME on both sides
        if type(theirs) is not nn.Conv2d and not same:
            raise ConfigError(
                f"from_reference: {path!r} is a {type(theirs).__name__}, not a plain Conv2d; its padding or "
                "behaviour has no equivalent"
            )
        for attr in _CONV_GEOMETRY:
            a, b = getattr(theirs, attr), getattr(mine, attr)
            if a != b:
                raise ConfigError(
                    f"from_reference: {path!r} has {attr}={a!r} where the converted block would use {b!r}; "
                    f"{attr} {a!r} is not supported there"
                )


def load_mapped(
    block: nn.Module,
    source: dict[str, torch.Tensor],
    pairs: Sequence[tuple[str, str]],
    reference: nn.Module | None = None,
) -> None:
    """Copy ``source`` into ``block``: each of our keys is renamed through the longest matching
    ``(our_prefix, their_prefix)`` pair. Every key on both sides must be used exactly once. With
    ``reference`` (the module ``source`` comes from), the convolutions must also agree in geometry."""
    ours = block.state_dict()
    renamed: dict[str, str] = {}
    used: set[str] = set()
    new: dict[str, torch.Tensor] = {}
    ordered = sorted(pairs, key=lambda p: -len(p[0]))
    for key in ours:
        for our_prefix, their_prefix in ordered:
            if key == our_prefix or key.startswith(our_prefix + "."):
                rest = key[len(our_prefix) :]
                their = (their_prefix + rest) if their_prefix else rest.lstrip(".")
                break
        else:
            raise ConfigError(f"no key mapping for {key!r}")
        if their not in source:
            raise ConfigError(f"reference state dict has no {their!r} for {key!r}")
        value = source[their]
        if value.shape != ours[key].shape:
            if value.numel() != ours[key].numel():
                raise ConfigError(
                    f"from_reference: {their!r} has shape {tuple(value.shape)} where the converted block needs "
                    f"{tuple(ours[key].shape)}; a grouping or kernel of the reference is not supported there"
                )
            value = value.reshape(ours[key].shape)
        new[key] = value
        renamed[key] = their
        used.add(their)
    left = set(source) - used
    if left:
        raise ConfigError(f"reference keys left unmapped: {sorted(left)}")
    if reference is not None:
        _check_geometry(block, reference, renamed)
    block.load_state_dict(new, strict=True)


def _tf_same(module: nn.Module) -> bool:
    """The reference pads its strided convs TensorFlow's SAME way (timm's ``pad_type="same"``)."""
    return any(type(m).__name__ == "Conv2dSame" for m in module.modules())


def _finish(cfg: BlockConfig, module: nn.Module, pairs: Sequence[tuple[str, str]]) -> MetaMobileBlock:
    if cfg.shortcut == "none" and cfg.drop_path:  # the references drop nothing without a skip
        cfg = cfg.replace(drop_path=0.0)
    if _tf_same(module):
        cfg = cfg.replace(padding="same")
    block = MetaMobileBlock(canonical(cfg))
    load_mapped(block, module.state_dict(), pairs, reference=module)
    return block


def _cna(prefix: str, their: str, norm: str = "1") -> list[tuple[str, str]]:
    """Pairs for one of our ConvNormAct units from a torchvision Conv2dNormActivation-like layout."""
    return [(f"{prefix}.conv", f"{their}.0"), (f"{prefix}.norm", f"{their}.{norm}")]


def _parts(**slots: tuple[str, str]) -> list[tuple[str, str]]:
    """Key pairs of our ``slot.conv`` / ``slot.norm`` from the reference's ``(conv, norm)`` names."""
    return [pair for slot, (conv, norm) in slots.items() for pair in ((f"{slot}.conv", conv), (f"{slot}.norm", norm))]


def _register(qualnames: Sequence[str]) -> Callable[[Converter], Converter]:
    def deco(fn: Converter) -> Converter:
        for q in qualnames:
            CONVERTERS.add(q, fn)
        return fn

    return deco


# ----------------------------------------------------------------------------- torchvision
@_register(["torchvision.models.mobilenetv2.InvertedResidual"])
def _mobilenet_v2(m: nn.Module) -> nn.Module:
    layers = list(m.conv)  # type: ignore[arg-type]
    has_expand = len(layers) == 4
    dw = layers[1] if has_expand else layers[0]
    pw = layers[-2]
    in_chs = layers[0][0].in_channels
    hidden, kernel, stride = dw[0].in_channels, dw[0].kernel_size[0], dw[0].stride[0]
    cfg = presets.mobilenet_v2_ir(
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


def _se_pairs(se_name: str, fc1: str = "fc1", fc2: str = "fc2") -> list[tuple[str, str]]:
    return [("se.fc1", f"{se_name}.{fc1}"), ("se.fc2", f"{se_name}.{fc2}")]


@_register(["torchvision.models.mobilenetv3.InvertedResidual"])
def _mobilenet_v3(m: nn.Module) -> nn.Module:
    layers = list(m.block)  # type: ignore[arg-type]
    has_expand = layers[0][0].groups == 1 and layers[0][0].kernel_size == (1, 1) and len(layers) > 2
    idx = 1 if has_expand else 0
    dw = layers[idx]
    se = layers[idx + 1] if type(layers[idx + 1]).__name__ == "SqueezeExcitation" else None
    proj = layers[-1]
    in_chs = layers[0][0].in_channels
    hidden = dw[0].in_channels
    act = act_name(dw[2])
    cfg = presets._mobilenet_v3(
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


@_register(["torchvision.models.efficientnet.MBConv"])
def _mbconv(m: nn.Module) -> nn.Module:
    layers = list(m.block)  # type: ignore[arg-type]
    has_expand = len(layers) == 4
    idx = 1 if has_expand else 0
    dw, se, proj = layers[idx], layers[idx + 1], layers[idx + 2]
    in_chs = layers[0][0].in_channels
    hidden = dw[0].in_channels
    cfg = presets.mbconv(
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
        cfg = presets.fused_mbconv(
            in_chs=in_chs, out_chs=out_chs, stride=stride, exp_ratio=hidden / in_chs, kernel=kernel
        )
        if cfg.widths()["hidden"] != hidden:
            cfg = cfg.replace(hidden_chs=hidden, hidden_divisor=1)
        pairs = _cna("expand", "block.0") + _cna("project", "block.1")
    else:
        cfg = presets.fused_mbconv(in_chs=in_chs, out_chs=out_chs, stride=stride, exp_ratio=1.0, kernel=kernel)
        pairs = _cna("expand", "block.0")
    cfg = cfg.replace(expand_act=act, drop_path=float(m.stochastic_depth.p), **_norm_kwargs(_bn(first)))
    return _finish(cfg, m, pairs)


@_register(["torchvision.models.shufflenetv2.InvertedResidual"])
def _shufflenet(m: nn.Module) -> nn.Module:
    b2 = m.branch2
    kernel = b2[3].kernel_size[0]
    out_chs = 2 * b2[5].out_channels
    if m.stride == 1:
        cfg = presets.shufflenet_v2_unit(chs=out_chs, kernel=kernel)
        pairs: list[tuple[str, str]] = []
    else:
        cfg = presets.shufflenet_v2_down(in_chs=b2[0].in_channels, out_chs=out_chs, kernel=kernel)
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


@_register(["torchvision.models.resnet.BasicBlock"])
def _resnet_basic(m: nn.Module) -> nn.Module:
    cfg = presets.resnet_basic(
        in_chs=m.conv1.in_channels,
        out_chs=m.conv2.out_channels,
        stride=m.conv1.stride[0],
        kernel=m.conv1.kernel_size[0],
    )
    cfg = cfg.replace(shortcut="conv" if m.downsample is not None else "identity", **_norm_kwargs(m.bn1))
    pairs = [
        ("expand.conv", "conv1"),
        ("expand.norm", "bn1"),
        ("project.conv", "conv2"),
        ("project.norm", "bn2"),
        ("shortcut.proj.conv", "downsample.0"),
        ("shortcut.proj.norm", "downsample.1"),
    ]
    return _finish(cfg, m, pairs)


@_register(["torchvision.models.resnet.Bottleneck"])
def _resnet_bottleneck(m: nn.Module) -> nn.Module:
    cfg = presets.resnet_bottleneck(
        in_chs=m.conv1.in_channels,
        out_chs=m.conv3.out_channels,
        stride=m.conv2.stride[0],
        hidden_chs=m.conv1.out_channels,
        groups=m.conv2.groups,
        kernel=m.conv2.kernel_size[0],
    )
    cfg = cfg.replace(
        shortcut="conv" if m.downsample is not None else "identity", dilation=m.conv2.dilation[0], **_norm_kwargs(m.bn1)
    )
    pairs = [
        ("expand.conv", "conv1"),
        ("expand.norm", "bn1"),
        ("mixer.conv", "conv2"),
        ("mixer.norm", "bn2"),
        ("project.conv", "conv3"),
        ("project.norm", "bn3"),
        ("shortcut.proj.conv", "downsample.0"),
        ("shortcut.proj.norm", "downsample.1"),
    ]
    return _finish(cfg, m, pairs)


@_register(["torchvision.models.mnasnet._InvertedResidual"])
def _mnasnet_ir(m: nn.Module) -> nn.Module:
    """torchvision MNASNet inverted residual: 1x1 + BN + ReLU, depthwise + BN + ReLU, linear 1x1 + BN."""
    layers = list(m.layers)  # type: ignore[arg-type]
    pw, dw, pwl = layers[0], layers[3], layers[6]
    cfg = BlockConfig(
        in_chs=pw.in_channels,
        out_chs=pwl.out_channels,
        stride=dw.stride[0],
        exp_ratio=pw.out_channels / pw.in_channels,
        hidden_chs=pw.out_channels,
        expand="pw",
        expand_act=act_name(layers[2]),
        mixer="dwconv",
        kernel=dw.kernel_size[0],
        mixer_act=act_name(layers[5]),
        project="pw",
        shortcut="identity" if m.apply_residual else "none",
        **_norm_kwargs(layers[1]),
    )
    pairs = _parts(expand=("layers.0", "layers.1"), mixer=("layers.3", "layers.4"), project=("layers.6", "layers.7"))
    return _finish(cfg, m, pairs)


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


# ------------------------------------------------------------------------------------ timm
def _repvit_block_parts(m: nn.Module, prefix: str = "") -> tuple[BlockConfig, list[tuple[str, str]]]:
    tm = m.token_mixer
    legacy = bool(tm.legacy)
    chs = tm.conv.c.in_channels
    mlp = m.channel_mixer
    cfg = presets.repvit_block(
        chs=chs,
        exp_ratio=mlp.conv1.c.out_channels / chs,
        kernel=tm.conv.c.kernel_size[0],
        use_se=not isinstance(m.se, nn.Identity),
        legacy=legacy,
    )
    kw: dict[str, object] = dict(
        hidden_chs=mlp.conv1.c.out_channels, expand_act=act_name(mlp.act), **_norm_kwargs(tm.conv.bn)
    )
    p = prefix
    pairs = [
        ("mixer.conv.conv", f"{p}token_mixer.conv.c"),
        ("mixer.conv.norm", f"{p}token_mixer.conv.bn"),
        ("expand.conv", f"{p}channel_mixer.conv1.c"),
        ("expand.norm", f"{p}channel_mixer.conv1.bn"),
        ("project.conv", f"{p}channel_mixer.conv2.c"),
        ("project.norm", f"{p}channel_mixer.conv2.bn"),
    ]
    if legacy:
        pairs += [("mixer.scale.conv", f"{p}token_mixer.conv1.c"), ("mixer.scale.norm", f"{p}token_mixer.conv1.bn")]
    else:
        pairs += [("mixer.scale.conv", f"{p}token_mixer.conv1"), ("mixer.norm", f"{p}token_mixer.bn")]
    if not isinstance(m.se, nn.Identity):
        kw.update(se_chs=m.se.fc1.out_channels, se_act=act_name(m.se.act))
        pairs += _se_pairs(f"{p}se")
    return cfg.replace(**kw), pairs


@_register(["timm.models.repvit.RepViTBlock"])
def _repvit_block(m: nn.Module) -> nn.Module:
    cfg, pairs = _repvit_block_parts(m)
    return _finish(cfg, m, pairs)


@_register(["timm.models.repvit.RepVitDownsample"])
def _repvit_down(m: nn.Module) -> nn.Module:
    pre = _repvit_block(m.pre_block)
    sd = m.spatial_downsample
    cfg = presets.repvit_down(
        in_chs=sd.c.in_channels,
        out_chs=m.channel_downsample.c.out_channels,
        exp_ratio=m.ffn.conv1.c.out_channels / m.channel_downsample.c.out_channels,
        kernel=sd.c.kernel_size[0],
    )
    cfg = cfg.replace(hidden_chs=m.ffn.conv1.c.out_channels, expand_act=act_name(m.ffn.act), **_norm_kwargs(sd.bn))
    pairs = [
        ("mixer.conv", "spatial_downsample.c"),
        ("mixer.norm", "spatial_downsample.bn"),
        ("transition.conv", "channel_downsample.c"),
        ("transition.norm", "channel_downsample.bn"),
        ("expand.conv", "ffn.conv1.c"),
        ("expand.norm", "ffn.conv1.bn"),
        ("project.conv", "ffn.conv2.c"),
        ("project.norm", "ffn.conv2.bn"),
    ]
    source = {k: v for k, v in m.state_dict().items() if not k.startswith("pre_block.")}
    down = MetaMobileBlock(canonical(cfg))
    load_mapped(down, source, pairs, reference=m)
    return nn.Sequential(pre, down)


def _timm_common(m: nn.Module, what: str) -> None:
    """Refuse the timm EfficientNet-block options no config field expresses."""
    for name, sub in m.named_modules():
        drop = getattr(sub, "drop", None)
        if isinstance(drop, nn.Module) and not isinstance(drop, nn.Identity):
            raise ConfigError(f"from_reference: {what} has a dropout inside its norm at {name!r}; not supported")


def _timm_se(m: nn.Module, kw: dict[str, object], pairs: list[tuple[str, str]]) -> None:
    se = m.se
    if se is None or isinstance(se, nn.Identity):
        return
    if type(se).__name__ != "SqueezeExcite":
        raise ConfigError(f"from_reference: se_layer {type(se).__name__} is not supported; only timm SqueezeExcite")
    kw.update(se_chs=se.conv_reduce.out_channels, se_act=act_name(se.act1), se_gate=act_name(se.gate))
    pairs += _se_pairs("se", "conv_reduce", "conv_expand")


def _drop_path(m: nn.Module) -> float:
    return float(getattr(m.drop_path, "drop_prob", 0.0) or 0.0) if m.drop_path is not None else 0.0


def _is_mixed(conv: nn.Module) -> bool:
    return type(conv).__name__ == "MixedConv2d"


def _mixed_children(conv: nn.Module) -> list[nn.Conv2d]:
    return [conv[str(i)] for i in range(len(conv))]  # type: ignore[index]


def _unmix_pw(conv: nn.Module, path: str) -> nn.Module:
    """A timm MixedConv2d of 1x1 kernels (MixNet's grouped expansion or projection, ``a1.1``/``p1.1``)
    as the equal grouped 1x1 conv: exact when every group has the same input and output widths."""
    if not _is_mixed(conv):
        return conv
    parts = _mixed_children(conv)
    kernels = [c.kernel_size for c in parts]
    if any(k != (1, 1) for k in kernels):
        raise ConfigError(
            f"from_reference: kernel_size={[k[0] for k in kernels]} at {path!r}: a mixed-kernel 1x1 slot has no "
            "equivalent (only equal 1x1 channel groups, which are a grouped conv)"
        )
    ins, outs = {c.in_channels for c in parts}, {c.out_channels for c in parts}
    if len(ins) > 1 or len(outs) > 1 or any(c.bias is not None for c in parts):
        raise ConfigError(
            f"from_reference: MixedConv2d at {path!r} splits {conv.in_channels} -> {conv.out_channels} channels "
            f"into unequal groups {[c.in_channels for c in parts]} -> {[c.out_channels for c in parts]}; only "
            "equal groups (a grouped 1x1 conv) have an equivalent"
        )
    merged = nn.Conv2d(conv.in_channels, conv.out_channels, 1, groups=len(parts), bias=False)
    with torch.no_grad():
        merged.weight.copy_(torch.cat([c.weight for c in parts], dim=0))
    return merged


def _unmixed(m: nn.Module, names: Sequence[str]) -> nn.Module:
    """A copy of ``m`` whose 1x1 MixedConv2d slots among ``names`` are grouped convs."""
    if not any(_is_mixed(getattr(m, n)) for n in names):
        return m
    m = copy.deepcopy(m)
    for n in names:
        setattr(m, n, _unmix_pw(getattr(m, n), n))
    return m


def _dw_mixer(dw: nn.Module, kw: dict[str, object], pairs: list[tuple[str, str]], their: str, norm: str) -> None:
    """The depthwise slot of a timm ds/ir block: a plain depthwise conv, or MixNet's mixed depthwise conv."""
    if not _is_mixed(dw):
        kw.update(mixer="dwconv", kernel=dw.kernel_size[0], dilation=dw.dilation[0])
        pairs += _parts(mixer=(their, norm))
        return
    parts = _mixed_children(dw)
    kernels = tuple(c.kernel_size[0] for c in parts)
    for c in parts:
        if c.groups != c.in_channels or c.in_channels != c.out_channels:
            raise ConfigError(f"from_reference: MixedConv2d at {their!r} is not depthwise; only a depthwise one is")
    if len(parts) == 1:
        kw.update(mixer="dwconv", kernel=kernels[0], dilation=parts[0].dilation[0])
        pairs += [("mixer.conv", f"{their}.0"), ("mixer.norm", norm)]
        return
    kw.update(mixer="dw_mixed", kernel=max(kernels), mixed_kernels=kernels, dilation=parts[0].dilation[0])
    pairs += [(f"mixer.convs.{i}", f"{their}.{i}") for i in range(len(parts))] + [("mixer.norm", norm)]


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


def _timm_resnet_shortcut(m: nn.Module) -> tuple[str, list[tuple[str, str]]]:
    """The shortcut of a timm ResNet block: none, a strided 1x1 conv + norm, or ``avg_down`` (an
    average pool, then 1x1 conv + norm)."""
    down = m.downsample
    if down is None:
        return "identity", []
    layers = list(down)  # type: ignore[arg-type]
    if isinstance(layers[0], nn.Conv2d):
        return "conv", [("shortcut.proj.conv", "downsample.0"), ("shortcut.proj.norm", "downsample.1")]
    pool = layers[0]
    if not isinstance(pool, (nn.AvgPool2d, nn.Identity)) or (
        isinstance(pool, nn.AvgPool2d) and (not pool.ceil_mode or pool.count_include_pad)
    ):
        raise ConfigError(f"from_reference: a ResNet downsample starting with {pool!r} is not supported")
    return "avgpool", [("shortcut.proj.conv", "downsample.1"), ("shortcut.proj.norm", "downsample.2")]


def _timm_resnet_checks(m: nn.Module) -> None:
    if getattr(m, "se", None) is not None:
        raise ConfigError(
            f"from_reference: timm {type(m).__name__} with attn_layer={type(m.se).__name__}: attention after the "
            "last conv (SE-ResNet, ECA, ...) has no equivalent yet"
        )
    if not isinstance(m.drop_block, nn.Identity):
        raise ConfigError(f"from_reference: drop_block={type(m.drop_block).__name__} is not supported")


@_register(["timm.models.resnet.BasicBlock"])
def _timm_resnet_basic(m: nn.Module) -> nn.Module:
    """timm ResNet basic block: 3x3 conv carrying the stride, 3x3 conv, shortcut, activation after the add."""
    _timm_resnet_checks(m)
    shortcut, pairs = _timm_resnet_shortcut(m)
    cfg = presets.resnet_basic(
        in_chs=m.conv1.in_channels,
        out_chs=m.conv2.out_channels,
        stride=m.conv1.stride[0],
        kernel=m.conv1.kernel_size[0],
    ).replace(
        shortcut=shortcut,
        expand_act=act_name(m.act1),
        post_act=act_name(m.act2),
        drop_path=_drop_path(m),
        **_norm_kwargs(m.bn1),
    )
    pairs += _parts(expand=("conv1", "bn1"), project=("conv2", "bn2"))
    return _finish(cfg, m, pairs)


@_register(["timm.models.resnet.Bottleneck"])
def _timm_resnet_bottleneck(m: nn.Module) -> nn.Module:
    """timm ResNet / ResNeXt bottleneck: 1x1, (grouped) 3x3 carrying the stride, 1x1, shortcut,
    activation after the add."""
    _timm_resnet_checks(m)
    shortcut, pairs = _timm_resnet_shortcut(m)
    cfg = presets.resnet_bottleneck(
        in_chs=m.conv1.in_channels,
        out_chs=m.conv3.out_channels,
        stride=m.conv2.stride[0],
        hidden_chs=m.conv1.out_channels,
        groups=m.conv2.groups,
        kernel=m.conv2.kernel_size[0],
    ).replace(
        shortcut=shortcut,
        dilation=m.conv2.dilation[0],
        expand_act=act_name(m.act1),
        mixer_act=act_name(m.act2),
        post_act=act_name(m.act3),
        drop_path=_drop_path(m),
        **_norm_kwargs(m.bn1),
    )
    pairs += _parts(expand=("conv1", "bn1"), mixer=("conv2", "bn2"), project=("conv3", "bn3"))
    return _finish(cfg, m, pairs)


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
    cfg = presets._uib(in_chs, out_chs, stride, hidden / in_chs, start, mid, act=act, layer_scale=ls, end=end)
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
    cfg = presets.ghost_bottleneck(in_chs=in_chs, out_chs=out_chs, stride=stride, hidden_chs=hidden, kernel=kernel)
    cfg = cfg.replace(
        shortcut=shortcut, expand_act=act_name(g1.primary_conv[2]), project_act=act_name(g2.primary_conv[2]), **kw1
    )
    cfg = cfg.replace(**_norm_kwargs(g1.primary_conv[1]))
    se_kw: dict[str, object] = {}
    _timm_se(m, se_kw, pairs)
    if se_kw:  # the reference stores the squeeze width only
        cfg = presets.explicit_se(cfg.replace(se_chs=se_kw.pop("se_chs"))).replace(**se_kw)
    return _finish(cfg, m, pairs)


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
    cfg = presets.mobile_mqa(
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


# ------------------------------------------------------------------------------ networks
def _blocks_of(converted: nn.Module) -> list[MetaMobileBlock]:
    return [b for b in converted.modules() if isinstance(b, MetaMobileBlock)]


def _network(
    ref: nn.Module,
    name: str,
    stem: Sequence[object],
    blocks: Sequence[nn.Module],
    head: Sequence[object],
    pairs: Sequence[tuple[str, str]],
) -> nn.Module:
    """Assemble a MetaNet from converted blocks, stem/head layer configs and their key pairs."""
    from .network import NetConfig, build, stages_from_blocks

    ours = [b for m in blocks for b in _blocks_of(m if isinstance(m, MetaMobileBlock) else _convert(m))]
    classifier = [m for m in ref.modules() if isinstance(m, nn.Linear)][-1]
    cfg = NetConfig(
        name=name,
        stem=tuple(stem),
        stages=stages_from_blocks([b.cfg for b in ours]),  # type: ignore[arg-type]
        head=tuple(head),
        num_classes=classifier.out_features,
    )  # type: ignore[arg-type]
    net = build(cfg)
    flat = [b for stage in net.stages for b in stage]
    for mine, converted in zip(flat, ours, strict=True):
        mine.load_state_dict(converted.state_dict())
    edge = {k: v for k, v in ref.state_dict().items() if any(k.startswith(t + ".") for _, t in pairs)}
    sub = nn.Module()
    sub.stem, sub.head = net.stem, net.head
    load_mapped(sub, edge, pairs, reference=ref)
    net.train(ref.training)
    return net


def _cna_layer(seq: nn.Module, **kw: object) -> object:
    from .network import LayerConfig

    conv, bn = seq[0], seq[1]
    act = act_name(seq[2]) if len(seq) > 2 else "none"
    norm = _norm_kwargs(bn)
    return LayerConfig(
        kind="conv",
        out_chs=conv.out_channels,
        kernel=conv.kernel_size[0],
        stride=conv.stride[0],
        bias=conv.bias is not None,
        norm="bn",
        act=act,
        eps=norm["norm_eps"],
        momentum=norm["norm_momentum"],
        padding="same" if _tf_same(conv) else "symmetric",
        **kw,
    )  # type: ignore[arg-type]


def _lc(**kw: object) -> object:
    from .network import LayerConfig

    return LayerConfig(**kw)  # type: ignore[arg-type]


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


@_register(["torchvision.models.resnet.ResNet"])
def _tv_resnet(m: nn.Module) -> nn.Module:
    blocks = [b for s in (m.layer1, m.layer2, m.layer3, m.layer4) for b in s]
    stem = [
        _cna_layer(nn.Sequential(m.conv1, m.bn1, m.relu)),
        _lc(kind="maxpool", kernel=m.maxpool.kernel_size, stride=m.maxpool.stride),
    ]
    head = [_lc(kind="pool"), _lc(kind="linear", bias=True)]
    pairs = [("stem.0.conv", "conv1"), ("stem.0.norm", "bn1"), ("head.1.fc", "fc")]
    return _network(m, "resnet", stem, blocks, head, pairs)


@_register(["torchvision.models.mnasnet.MNASNet"])
def _tv_mnasnet(m: nn.Module) -> nn.Module:
    """torchvision MNASNet: stem conv, a depthwise-separable block without skip (written as plain
    layers there), the inverted-residual stacks, 1x1 head conv, pooling, dropout, classifier."""
    layers = list(m.layers)  # type: ignore[arg-type]
    sep = nn.Sequential(*layers[3:8])
    ds = BlockConfig(
        in_chs=layers[3].in_channels,
        out_chs=layers[6].out_channels,
        expand="none",
        mixer="dwconv",
        kernel=layers[3].kernel_size[0],
        mixer_act=act_name(layers[5]),
        project="pw",
        shortcut="none",
        **_norm_kwargs(layers[4]),
    )
    first = _finish(ds, sep, _parts(mixer=("0", "1"), project=("3", "4")))
    blocks: list[nn.Module] = [first] + [b for stack in layers[8:14] for b in stack]
    cls = list(m.classifier)  # type: ignore[arg-type]
    head = [_cna_layer(nn.Sequential(*layers[14:17])), _lc(kind="pool")]
    head += [_lc(kind="dropout", p=c.p) for c in cls if isinstance(c, nn.Dropout) and c.p]
    head.append(_lc(kind="linear", bias=True))
    pairs = [
        ("stem.0.conv", "layers.0"),
        ("stem.0.norm", "layers.1"),
        ("head.0.conv", "layers.14"),
        ("head.0.norm", "layers.15"),
        (f"head.{len(head) - 1}.fc", "classifier.1"),
    ]
    return _network(m, "mnasnet", [_cna_layer(nn.Sequential(*layers[0:3]))], blocks, head, pairs)


@_register(["torchvision.models.regnet.RegNet"])
def _tv_regnet(m: nn.Module) -> nn.Module:
    """torchvision RegNet X/Y: stem conv, the bottleneck stages, pooling, classifier."""
    blocks = [b for stage in m.trunk_output for b in stage]
    head = [_lc(kind="pool"), _lc(kind="linear", bias=True)]
    pairs = [("stem.0.conv", "stem.0"), ("stem.0.norm", "stem.1"), ("head.1.fc", "fc")]
    return _network(m, "regnet", [_cna_layer(m.stem)], blocks, head, pairs)


@_register(["timm.models.resnet.ResNet"])
def _timm_resnet(m: nn.Module) -> nn.Module:
    """timm ResNet / ResNeXt: one 7x7 or a deep 3-conv stem, max pooling, the blocks, pooling, classifier."""
    _timm_head_checks(m, "fc")
    if not isinstance(m.maxpool, nn.MaxPool2d):
        raise ConfigError(f"from_reference: stem pooling {type(m.maxpool).__name__} is not supported; only MaxPool2d")
    if isinstance(m.conv1, nn.Sequential):  # deep stem: conv-bn-act, conv-bn-act, conv (+ bn1, act1)
        c = list(m.conv1)  # type: ignore[arg-type]
        stem = [_cna_layer(nn.Sequential(*c[0:3])), _cna_layer(nn.Sequential(*c[3:6]))]
        stem.append(_cna_layer(nn.Sequential(c[6], m.bn1, m.act1)))
        pairs = [
            ("stem.0.conv", "conv1.0"),
            ("stem.0.norm", "conv1.1"),
            ("stem.1.conv", "conv1.3"),
            ("stem.1.norm", "conv1.4"),
            ("stem.2.conv", "conv1.6"),
            ("stem.2.norm", "bn1"),
        ]
    else:
        stem = [_cna_layer(nn.Sequential(m.conv1, m.bn1, m.act1))]
        pairs = [("stem.0.conv", "conv1"), ("stem.0.norm", "bn1")]
    pool = m.maxpool
    stem.append(_lc(kind="maxpool", kernel=pool.kernel_size, stride=pool.stride))
    blocks = [b for layer in (m.layer1, m.layer2, m.layer3, m.layer4) for b in layer]
    head = [_lc(kind="pool"), *_dropout(m), _lc(kind="linear", bias=True)]
    pairs.append((f"head.{len(head) - 1}.fc", "fc"))
    return _network(m, _timm_name(m), stem, blocks, head, pairs)


@_register(["timm.models.repvit.RepVit"])
def _timm_repvit(m: nn.Module) -> nn.Module:
    blocks: list[nn.Module] = []
    for stage in m.stages:
        if not isinstance(stage.downsample, nn.Identity):
            blocks.append(stage.downsample)
        blocks += list(stage.blocks)
    st = m.stem
    stem = [
        _cna_layer(nn.Sequential(st.conv1.c, st.conv1.bn, st.act1)),
        _cna_layer(nn.Sequential(st.conv2.c, st.conv2.bn)),
    ]
    distilled = bool(m.head.distillation)
    head = [_lc(kind="pool"), _lc(kind="distilled_linear" if distilled else "linear", bias=True, norm="bn_before")]
    pairs = [
        ("stem.0.conv", "stem.conv1.c"),
        ("stem.0.norm", "stem.conv1.bn"),
        ("stem.1.conv", "stem.conv2.c"),
        ("stem.1.norm", "stem.conv2.bn"),
    ]
    if distilled:
        pairs += [
            ("head.1.head.norm_before", "head.head.bn"),
            ("head.1.head.fc", "head.head.l"),
            ("head.1.head_dist.norm_before", "head.head_dist.bn"),
            ("head.1.head_dist.fc", "head.head_dist.l"),
        ]
    else:
        pairs += [("head.1.norm_before", "head.head.bn"), ("head.1.fc", "head.head.l")]
    return _network(m, "repvit", stem, blocks, head, pairs)


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
        *_dropout(m),
        _lc(kind="linear", bias=True),
    ]
    pairs = [
        ("stem.0.conv", "conv_stem"),
        ("stem.0.norm", "bn1"),
        ("head.1.fc", "conv_head"),
        (f"head.{len(head) - 1}.fc", "classifier"),
    ]
    return _network(m, _timm_name(m), stem, blocks, head, pairs)


def _timm_head_checks(m: nn.Module, classifier: str = "classifier") -> None:
    pool = getattr(m.global_pool, "pool_type", "avg")
    if pool != "avg":
        raise ConfigError(f"from_reference: global_pool={pool!r} is not supported; only 'avg'")
    if not isinstance(getattr(m, classifier), nn.Linear):
        raise ConfigError("from_reference: a timm model without a classifier (num_classes=0) is not supported")


def _timm_name(m: nn.Module) -> str:
    cfg = getattr(m, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(m).__name__.lower())


def _dropout(m: nn.Module) -> list[object]:
    rate = float(getattr(m, "drop_rate", 0.0) or 0.0)
    return [_lc(kind="dropout", p=rate)] if rate else []


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
    head += [_lc(kind="pool"), *_dropout(m), _lc(kind="linear", bias=True)]
    pairs.append((f"head.{len(head) - 1}.fc", "classifier"))
    return _network(m, _timm_name(m), stem, blocks, head, pairs)


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
        *_dropout(m),
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
