"""``from_reference``: turn an instance of a reference block into an equal ``MetaMobileBlock``.

Each converter reads the reference module's actual layers (widths, kernels, strides, norm epsilon
and momentum, activation classes), builds the :class:`BlockConfig` through the matching preset,
and copies every weight and BatchNorm buffer through an explicit key mapping. Neither torchvision
nor timm is imported here: converters are looked up by the class's module and name.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

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


#: class names of norm layers (GroupNorm, LayerNorm2d, GroupNormAct, EvoNorm2dS0, ...); BatchNorm is the one supported
_NORM_LAYER = re.compile(r"^(?!Conv)\w*Norm(\d+d)?(Act(\d+d)?)?$|^EvoNorm")


def _refuse_unexpressed(module: nn.Module) -> None:
    """Refuse a reference holding a layer whose effect no config field expresses, naming it."""
    for path, sub in module.named_modules():
        cls = type(sub).__name__
        if _NORM_LAYER.search(cls) and not isinstance(sub, nn.modules.batchnorm._BatchNorm):
            where = path or "the module itself"
            raise ConfigError(f"from_reference: norm layer {cls} at {where!r} is not supported; only BatchNorm")
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


def _se_pairs(se_name: str, fc1: str = "fc1", fc2: str = "fc2") -> list[tuple[str, str]]:
    return [("se.fc1", f"{se_name}.{fc1}"), ("se.fc2", f"{se_name}.{fc2}")]


# ------------------------------------------------------------------------------------ timm


def _timm_common(m: nn.Module, what: str) -> None:
    """Refuse the timm EfficientNet-block options no config field expresses: norm layers other than
    BatchNorm (EvoNorm, GroupNorm, LayerNorm, ...) and a dropout inside a norm layer."""
    for attr in ("bn1", "bn2", "bn3"):
        norm = getattr(m, attr, None)
        if isinstance(norm, nn.Module) and not isinstance(norm, nn.BatchNorm2d):
            raise ConfigError(
                f"from_reference: norm layer {type(norm).__name__} at {attr!r} is not supported; only BatchNorm2d"
            )
    for name, sub in m.named_modules():
        drop = getattr(sub, "drop", None)
        if isinstance(sub, nn.BatchNorm2d) and isinstance(drop, nn.Module) and not isinstance(drop, nn.Identity):
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


def _timm_head_checks(m: nn.Module, classifier: str = "classifier") -> None:
    pool = getattr(m.global_pool, "pool_type", "avg")
    if pool != "avg":
        raise ConfigError(f"from_reference: global_pool={pool!r} is not supported; only 'avg'")
    if not isinstance(getattr(m, classifier), nn.Linear):
        raise ConfigError("from_reference: a timm model without a classifier (num_classes=0) is not supported")


def _timm_name(m: nn.Module) -> str:
    cfg = getattr(m, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(m).__name__.lower())


def _timm_dropout(m: nn.Module) -> list[object]:
    rate = float(getattr(m, "drop_rate", 0.0) or 0.0)
    return [_lc(kind="dropout", p=rate)] if rate else []
