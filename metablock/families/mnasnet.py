"""MnasNet: MnasNet-A1 1.0 (torchvision's MNASNet) and its converters.

Block presets, network presets and ``from_reference`` converters of the family, registered through
metablock's registries when :mod:`metablock.families` is imported.
"""

from __future__ import annotations

from torch import nn

from ..config import BlockConfig
from ..network import NetConfig, stages_from_blocks
from ..reference import (
    _cna_layer,
    _finish,
    _lc,
    _network,
    _norm_kwargs,
    _parts,
    _register,
    act_name,
)
from ..zoo import CLASSIFIER, POOL, _conv, _dropout, _model
from .mobilenet import mobilenet_v2_ir

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
            cfg = mobilenet_v2_ir(in_chs=chs, out_chs=out, stride=stride, exp_ratio=e, kernel=k)
            blocks.append(cfg.replace(expand_act="relu", mixer_act="relu", **bn))
            chs = out
    layer_bn = {"momentum": 1 - 0.9997}
    return NetConfig(
        name="mnasnet_100",
        stem=(_conv(32, 3, 2, "relu", **layer_bn),),
        stages=stages_from_blocks(blocks),
        head=(_conv(1280, 1, 1, "relu", **layer_bn), POOL, _dropout(0.2), CLASSIFIER),
    )


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
