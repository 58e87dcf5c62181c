"""ResNet (basic and bottleneck blocks, ResNet-50; torchvision's and timm's ResNet/ResNeXt).

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from torch import nn

from ..config import BlockConfig
from ..errors import ConfigError
from ..network import LayerConfig, NetConfig, stages_from_blocks
from ..presets import _preset
from ..reference import (
    _cna_layer,
    _drop_path,
    _finish,
    _lc,
    _network,
    _norm_kwargs,
    _parts,
    _register,
    _timm_dropout,
    _timm_head_checks,
    _timm_name,
    act_name,
)
from ..zoo import CLASSIFIER, POOL, _conv, _model


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


@_model("resnet50", reference="torchvision.models.resnet50", paper="resnet")
def resnet50() -> NetConfig:
    blocks = []
    chs = 64
    for planes, n, s in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(n):
            cfg = resnet_bottleneck(in_chs=chs, out_chs=planes * 4, stride=s if i == 0 else 1, hidden_chs=planes)
            blocks.append(cfg)
            chs = planes * 4
    return NetConfig(
        name="resnet50",
        stem=(_conv(64, 7, 2), LayerConfig(kind="maxpool", kernel=3, stride=2)),
        stages=stages_from_blocks(blocks),
        head=(POOL, CLASSIFIER),
    )


@_register(["torchvision.models.resnet.BasicBlock"])
def _resnet_basic(m: nn.Module) -> nn.Module:
    cfg = resnet_basic(
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
    cfg = resnet_bottleneck(
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
    cfg = resnet_basic(
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
    cfg = resnet_bottleneck(
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
    head = [_lc(kind="pool"), *_timm_dropout(m), _lc(kind="linear", bias=True)]
    pairs.append((f"head.{len(head) - 1}.fc", "fc"))
    return _network(m, _timm_name(m), stem, blocks, head, pairs)
