"""Seeded random networks over several block families, for cost tests and benchmarks.

``random_net_config(seed)`` draws a small network (2–4 stages of 1–3 blocks, widths 16–64 by
default) whose stages each come from one block family: MobileNetV2/V3 inverted residuals, MBConv,
Fused-MBConv, iRMB with and without window attention, universal inverted bottlenecks, RepViT
blocks, ShuffleNetV2 units and ResNet basic blocks. The same seed gives the same network in any
process; nothing reads global random state.

Example:
    >>> cfg = random_net_config(3)
    >>> cfg == random_net_config(3)
    True
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from . import presets
from .config import BlockConfig
from .network import LayerConfig, NetConfig, stages_from_blocks

# family -> (in_chs, out_chs, stride, is_first_block, rng) -> BlockConfig
Maker = Callable[[int, int, int, bool, random.Random], BlockConfig]


def _v2(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    return presets.mobilenet_v2_ir(
        in_chs=i, out_chs=o, stride=s, exp_ratio=r.choice([1, 3, 6]), kernel=r.choice([3, 5])
    )


def _v3(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    return presets.mobilenet_v3_ir_se_hswish(
        in_chs=i, out_chs=o, stride=s, hidden_chs=None, exp_ratio=r.choice([3, 4, 6]), kernel=r.choice([3, 5])
    )


def _mbconv(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    return presets.mbconv(in_chs=i, out_chs=o, stride=s, exp_ratio=r.choice([1, 4, 6]), kernel=r.choice([3, 5]))


def _fused(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    return presets.fused_mbconv(in_chs=i, out_chs=o, stride=s, exp_ratio=r.choice([1, 2, 4]), kernel=3)


def _irmb(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    return presets.irmb(in_chs=i, out_chs=o, stride=s, exp_ratio=r.choice([2, 3, 4]), kernel=r.choice([3, 5]))


def _irmb_attn(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    if first:  # as in EMO: the block that changes the shape has no attention
        return _irmb(i, o, s, first, r)
    return presets.irmb_attn(
        in_chs=i,
        out_chs=o,
        stride=s,
        exp_ratio=r.choice([2, 3]),
        kernel=3,
        head_dim=16,
        window_size=r.choice([0, 2, 4]),
    )


def _uib(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    exp = r.choice([2, 4])
    if r.random() < 0.5:
        return presets.uib_extradw(
            in_chs=i, out_chs=o, stride=s, exp_ratio=exp, start_kernel=3, mid_kernel=r.choice([3, 5])
        )
    return presets.uib_ib(in_chs=i, out_chs=o, stride=s, exp_ratio=exp, mid_kernel=r.choice([3, 5]))


def _repvit(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    if first and (s > 1 or i != o):
        return presets.repvit_down(in_chs=i, out_chs=o, exp_ratio=2.0)
    return presets.repvit_block(chs=o, exp_ratio=2.0, use_se=r.random() < 0.5)


def _shufflenet(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    if first:
        return presets.shufflenet_v2_down(in_chs=i, out_chs=o)
    return presets.shufflenet_v2_unit(chs=o)


def _resnet(i: int, o: int, s: int, first: bool, r: random.Random) -> BlockConfig:
    return presets.resnet_basic(in_chs=i, out_chs=o, stride=s)


FAMILIES: dict[str, Maker] = {
    "mobilenet_v2": _v2,
    "mobilenet_v3": _v3,
    "mbconv": _mbconv,
    "fused_mbconv": _fused,
    "irmb": _irmb,
    "irmb_attn": _irmb_attn,
    "uib": _uib,
    "repvit": _repvit,
    "shufflenet_v2": _shufflenet,
    "resnet_basic": _resnet,
}
# families whose first block must downsample
_STRIDED = {"shufflenet_v2", "repvit"}


def list_families() -> list[str]:
    """Block families that :func:`random_net_config` draws stages from."""
    return list(FAMILIES)


def random_net_config(
    seed: int,
    *,
    families: Sequence[str] | None = None,
    widths: Sequence[int] = (16, 32, 48, 64),
    max_stages: int = 4,
    max_depth: int = 3,
    num_classes: int = 10,
) -> NetConfig:
    """A random network, the same for the same arguments.

    Args:
        seed: seeds a private ``random.Random``.
        families: block families to draw stages from (default: all of :func:`list_families`).
        widths: stage widths to draw from (multiples of 16 keep window attention valid).
        max_stages: at most this many stages (at least 2).
        max_depth: at most this many blocks per stage.
        num_classes: classifier outputs.

    Returns:
        A :class:`NetConfig` with a 3×3 stride-2 stem, the stages and a pooled linear head.
    """
    from .errors import unknown

    names = list(families or FAMILIES)
    for name in names:
        if name not in FAMILIES:
            raise unknown("block family", name, tuple(FAMILIES))
    rng = random.Random(seed)
    stem_chs = rng.choice([8, 16])
    chs = stem_chs
    blocks: list[BlockConfig] = []
    for index in range(rng.randint(2, max(2, max_stages))):
        family = rng.choice(names)
        width = rng.choice(list(widths))
        stride = 2 if family in _STRIDED or (index and rng.random() < 0.6) else 1
        for b in range(rng.randint(1, max_depth)):
            first = b == 0
            blocks.append(FAMILIES[family](chs, width, stride if first else 1, first, rng))
            chs = width
    head: tuple[LayerConfig, ...] = (LayerConfig(kind="pool"), LayerConfig(kind="linear"))
    if rng.random() < 0.5:
        act = rng.choice(["relu", "hswish", "silu"])
        head = (LayerConfig(kind="conv", out_chs=rng.choice([64, 128]), kernel=1, norm="bn", act=act), *head)
    return NetConfig(
        name=f"random_{seed}",
        stem=(
            LayerConfig(
                kind="conv", out_chs=stem_chs, kernel=3, stride=2, norm="bn", act=rng.choice(["relu", "hswish"])
            ),
        ),
        stages=stages_from_blocks(blocks),
        head=head,
        num_classes=num_classes,
    )
