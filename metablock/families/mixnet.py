"""MixNet: the MixConv inverted residual, MixNet-S, and timm's MixedConv2d slots.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from .. import presets
from ..config import BlockConfig
from ..errors import ConfigError
from ..network import NetConfig, stages_from_blocks
from ..presets import _preset, _skip
from ..reference import (
    _parts,
)
from ..zoo import CLASSIFIER, POOL, _conv, _model
from .mobilenet import mobilenet_v1_dws


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
    first = mobilenet_v1_dws(in_chs=16, out_chs=16, stride=1)
    blocks = [first.replace(project_act="none", shortcut="identity")]
    chs = 16
    for kernels, a, p, stride, e, out, se, repeats in _MIXNET_S:
        for i in range(repeats):
            s = stride if i == 0 else 1
            cfg = mixnet_block(
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
