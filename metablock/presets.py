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

from .config import BlockConfig
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


# --------------------------------------------------------------------------------- MobileNet


# ------------------------------------------------------------------------------ EfficientNet


# ------------------------------------------------------------------------------- ShuffleNet


# ---------------------------------------------------------------------------------------- EMO


# ----------------------------------------------------------------------------------- MicroNet


# ------------------------------------------------------------------------------------- RepViT


# -------------------------------------------------------------------------------- MobileNetV4


# ----------------------------------------------------------------------------------- GhostNet


# ------------------------------------------------------------------------------------- MixNet


# ---------------------------------------------------------------------- RegNet, EdgeResidual


# ------------------------------------------------------------------------------- other forms


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
    "list_blocks",
]


def presets_markdown() -> str:
    """The Markdown table of block presets (name, paper, reference) that README.md shows."""
    lines = ["| preset | paper | reference |", "|---|---|---|"]
    for name in list_blocks():
        info = BLOCKS.meta[name]
        title, url = info["paper"].rsplit(", ", 1)
        lines.append(f"| `{name}` | [{title}]({url}) | {info['reference']} |")
    return "\n".join(lines)


def __getattr__(name: str) -> Any:
    """``presets.mbconv`` and the like: the preset functions (and helpers) of the family modules."""
    from . import families

    return families.lookup(name, "metablock.presets")
