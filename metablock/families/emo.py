"""EMO: iRMB with and without window attention, the EMO networks and the official checkpoints' keys.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import presets
from ..config import BlockConfig
from ..convert import SOURCES, Pairs, rename, rename_network
from ..errors import ConfigError, unknown
from ..network import LayerConfig, NetConfig, stages_from_blocks
from ..presets import _preset
from ..zoo import CLASSIFIER, MODELS, POOL, _conv


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
        emo_block(
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
                emo_block(
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


# iRMB (model/emo.py) -> MetaMobileBlock
EMO_BLOCK: Pairs = (
    ("norm.norm", "norm_in"),  # LayerNorm2d wraps an nn.LayerNorm
    ("norm", "norm_in"),
    ("qk.conv", "attn.qk"),
    ("v.conv", "expand.conv"),
    ("conv_local.conv", "mixer.conv"),
    ("conv_local.norm", "mixer.norm"),
    ("se.conv_reduce", "se.fc1"),
    ("se.conv_expand", "se.fc2"),
    ("proj.conv", "project.conv"),
)


# Whole networks: the parts around the blocks (their key prefix -> ours)
EMO_NETWORK: Pairs = (
    ("stage0.0.convs.0.0", "stem.0.conv"),  # MSPatchEmb with one dilation: conv (bias) + BN
    ("stage0.0.convs.0.1", "stem.0.norm"),
    ("norm.norm", "head.0"),  # the last stage's norm (LayerNorm2d wraps an nn.LayerNorm)
    ("norm", "head.0"),
    ("head", "head.2.fc"),
)


_EMO_BLOCK_KEY = re.compile(r"^(stage(\d+)\.(\d+))\.")


def _emo_place(index: tuple[int, int]) -> tuple[int, int] | None:
    # stage0 holds the stem (0) and the first iRMB (1); stage i >= 1 is our stage i, block for block
    stage, block = index
    if stage == 0:
        return (0, 0) if block == 1 else None
    return stage, block


def _emo(shapes: Mapping[str, tuple[int, ...]], model: Any = None) -> dict[str, str]:
    keys = list(shapes)
    if any(k.startswith("stage0.") for k in keys):
        return rename_network(keys, EMO_NETWORK, _EMO_BLOCK_KEY, _emo_place, lambda _k, _p: EMO_BLOCK)
    return rename(keys, EMO_BLOCK)


SOURCES["emo"] = _emo
