"""RepViT: the RepViT block and downsampling, the RepViT networks, timm's converters.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from torch import nn

from .. import presets
from ..block import MetaMobileBlock
from ..config import BlockConfig, canonical
from ..network import LayerConfig, NetConfig, stages_from_blocks
from ..presets import _preset
from ..reference import (
    _cna_layer,
    _finish,
    _lc,
    _network,
    _norm_kwargs,
    _register,
    _se_pairs,
    act_name,
    load_mapped,
)
from ..zoo import MODELS, POOL, _conv


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
            blocks.append(repvit_block(chs=chs, exp_ratio=mlp_ratio, kernel=kernel, use_se=False, legacy=legacy))
            blocks.append(repvit_down(in_chs=chs, out_chs=dim, exp_ratio=mlp_ratio, kernel=kernel))
        for j in range(depth):
            blocks.append(repvit_block(chs=dim, exp_ratio=mlp_ratio, kernel=kernel, use_se=j % 2 == 0, legacy=legacy))
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


def _repvit_block_parts(m: nn.Module, prefix: str = "") -> tuple[BlockConfig, list[tuple[str, str]]]:
    tm = m.token_mixer
    legacy = bool(tm.legacy)
    chs = tm.conv.c.in_channels
    mlp = m.channel_mixer
    cfg = repvit_block(
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
    cfg = repvit_down(
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
