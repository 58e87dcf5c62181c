"""``convert_state_dict``: official EMO and MicroNet checkpoints onto metablock's key layout.

The official code of EMO (zhangzjn/EMO, ``model/emo.py``) and MicroNet (liyunsheng13/micronet,
``backbone/micronet.py``) is not a package, so instead of converting module instances we rename the
keys of their state dicts. Renaming is by longest matching key prefix; every key must be renamed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import torch

from .errors import ConfigError, unknown

Pairs = Sequence[tuple[str, str]]

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

# DYMicroBlock (backbone/micronet.py): its ``layers`` Sequential is laid out per path
_DSEP = ("conv.0", "conv1.conv"), ("conv.1", "conv1.norm"), ("conv.2", "conv2.conv"), ("conv.3", "conv2.norm")
MICRONET_BLOCK_A: Pairs = (
    *((f"layers.0.{a}", f"mixer.{b}") for a, b in _DSEP),
    ("layers.1.fc.0", "mixer.conv2.act.fc1"),
    ("layers.1.fc.2", "mixer.conv2.act.fc2"),
    ("layers.4.conv.0", "project.conv"),
    ("layers.4.conv.1", "project.norm"),
    ("layers.5.fc.0", "project.act.fc1"),
    ("layers.5.fc.2", "project.act.fc2"),
)
MICRONET_BLOCK_EXPAND: Pairs = (
    ("layers.0.conv.0", "expand.conv"),
    ("layers.0.conv.1", "expand.norm"),
    ("layers.1.fc.0", "expand.act.fc1"),
    ("layers.1.fc.2", "expand.act.fc2"),
)
_MICRONET_BC_OUTER: Pairs = (
    *MICRONET_BLOCK_EXPAND,
    ("layers.7.conv.0", "project.conv"),
    ("layers.7.conv.1", "project.norm"),
    ("layers.8.fc.0", "project.act.fc1"),
    ("layers.8.fc.2", "project.act.fc2"),
)
MICRONET_BLOCK_BC: Pairs = (
    *_MICRONET_BC_OUTER,
    *((f"layers.3.{a}", f"mixer.{b}") for a, b in _DSEP),
    ("layers.5.fc.0", "mixer.conv2.act.fc1"),
    ("layers.5.fc.2", "mixer.conv2.act.fc2"),
)
MICRONET_BLOCK_BC_DWCONV: Pairs = (  # depthsep=False: a plain depthwise conv
    *_MICRONET_BC_OUTER,
    ("layers.3.conv.0", "mixer.conv"),
    ("layers.3.conv.1", "mixer.norm"),
    ("layers.5.fc.0", "mixer.act.fc1"),
    ("layers.5.fc.2", "mixer.act.fc2"),
)


def rename(keys: Sequence[str], pairs: Pairs, prefix: str = "", new_prefix: str = "") -> dict[str, str]:
    """Map each key (below ``prefix``) through the longest matching ``(their, ours)`` prefix pair."""
    ordered = sorted(pairs, key=lambda p: -len(p[0]))
    out: dict[str, str] = {}
    for key in keys:
        rel = key[len(prefix) :]
        for theirs, ours in ordered:
            if rel.startswith(theirs + "."):
                out[key] = new_prefix + ours + rel[len(theirs) :]
                break
        else:
            raise ConfigError(f"convert_state_dict: no mapping for key {key!r}")
    return out


def micronet_block_pairs(keys: Sequence[str], prefix: str = "") -> Pairs:
    """The key pairs of one DYMicroBlock, chosen by the path its keys reveal."""
    rel = {k[len(prefix) :] for k in keys}
    if any(k.startswith("layers.0.conv.3.") for k in rel):
        return MICRONET_BLOCK_A
    if any(k.startswith("layers.3.conv.3.") for k in rel):
        return MICRONET_BLOCK_BC
    if any(k.startswith("layers.3.") for k in rel):
        return MICRONET_BLOCK_BC_DWCONV
    return MICRONET_BLOCK_EXPAND


def _emo(keys: Sequence[str]) -> dict[str, str]:
    if any(k.startswith("stage0.") for k in keys):
        raise ConfigError("convert_state_dict(source='emo'): whole-network checkpoints are not supported yet")
    return rename(keys, EMO_BLOCK)


def _micronet(keys: Sequence[str]) -> dict[str, str]:
    if any(k.startswith("features.") for k in keys):
        raise ConfigError("convert_state_dict(source='micronet'): whole-network checkpoints are not supported yet")
    return rename(keys, micronet_block_pairs(keys))


SOURCES: dict[str, Callable[[Sequence[str]], dict[str, str]]] = {"emo": _emo, "micronet": _micronet}


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Rename an official EMO or MicroNet state dict (block or whole network) to metablock's keys.

    Args:
        state_dict: the official model's (or block's) state dict; a ``{"model": ...}`` or
            ``{"state_dict": ...}`` wrapper and a ``module.`` prefix are removed first.
        source: ``"emo"`` or ``"micronet"``.

    Returns:
        A new dict that ``load_state_dict(..., strict=True)`` accepts on the matching
        ``MetaMobileBlock`` (from ``block_config("irmb" | "irmb_attn" | "micro_block_*")`` or
        ``micronet_block``) or named network.

    Example:
        >>> import metablock
        >>> block = metablock.MetaMobileBlock(metablock.block_config("irmb"))
        >>> official = {"norm.weight": torch.ones(48)}  # a fragment, for illustration
        >>> list(convert_state_dict(official, "emo"))
        ['norm_in.weight']
    """
    if source not in SOURCES:
        raise unknown("convert_state_dict source", source, SOURCES)
    for wrapper in ("model", "state_dict", "net"):
        inner = state_dict.get(wrapper) if isinstance(state_dict, Mapping) else None
        if isinstance(inner, Mapping):
            state_dict = inner
            break
    sd = {re.sub(r"^module\.", "", k): v for k, v in state_dict.items()}
    names = SOURCES[source](list(sd))
    return {names[k]: v for k, v in sd.items()}
