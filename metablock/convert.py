"""``convert_state_dict``: official checkpoints (EMO, MicroNet) onto metablock's key layout.

Blocks (``iRMB``, ``DYMicroBlock``) and whole networks (EMO's ``stage0``... layout, MicroNet's
``features.``... layout) are both covered. The official code of EMO (zhangzjn/EMO, ``model/emo.py``)
and MicroNet (liyunsheng13/micronet, ``backbone/micronet.py``) is not a package, so instead of
converting module instances we rename the keys of their state dicts. Renaming is by longest
matching key prefix; every key must be renamed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from .errors import ConfigError, unknown

Pairs = Sequence[tuple[str, str]]


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


def rename_network(
    keys: Sequence[str],
    outer: Pairs,
    block_key: re.Pattern[str],
    place: Callable[[tuple[int, int]], tuple[int, int] | None],
    block_pairs: Callable[[Sequence[str], str], Pairs],
) -> dict[str, str]:
    """Rename a whole network: keys matching ``block_key`` belong to a block at the official index
    its groups give, which ``place`` maps to ours (stage, index) or ``None`` for a non-block; the
    block's own keys go through ``block_pairs``, every other key through ``outer``."""
    blocks: dict[str, list[str]] = {}
    rest: list[str] = []
    targets: dict[str, tuple[int, int]] = {}
    for key in keys:
        m = block_key.match(key)
        where = place((int(m.group(2)), int(m.group(3)) if m.re.groups == 3 else 0)) if m else None
        if m is None or where is None:
            rest.append(key)
            continue
        blocks.setdefault(m.group(1), []).append(key)
        targets[m.group(1)] = where
    out = rename(rest, outer)
    for prefix, block_keys in blocks.items():
        stage, index = targets[prefix]
        pairs = block_pairs(block_keys, prefix + ".")
        out.update(rename(block_keys, pairs, prefix + ".", f"stages.{stage}.{index}."))
    return out


def _layout(model: Any) -> list[tuple[int, int]]:
    """(stage, index) of each block of a named network or NetConfig, in order."""
    from .network import NetConfig
    from .zoo import model_config

    cfg = model if isinstance(model, NetConfig) else model_config(model)
    return [(s, i) for s, depth in enumerate(cfg.stage_depths()) for i in range(depth)]


SOURCES: dict[str, Callable[[Mapping[str, tuple[int, ...]], Any], dict[str, str]]] = {}
"""Key renamers of official checkpoints by ``source`` name, added by the family modules (``emo``, ``micronet``)."""


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor], source: str, *, model: Any = None
) -> dict[str, torch.Tensor]:
    """Rename an official EMO or MicroNet state dict (block or whole network) to metablock's keys.

    Args:
        state_dict: the official model's (or block's) state dict; a ``{"model": ...}`` or
            ``{"state_dict": ...}`` wrapper and a ``module.`` prefix are removed first.
        source: ``"emo"`` or ``"micronet"``.
        model: for a whole MicroNet, the named network or ``NetConfig`` whose stage layout the keys
            follow; by default the named MicroNet (M0 to M3) with exactly the checkpoint's shapes.
            Our stages split where a block changes shape, which needs each block's stride, and a
            state dict does not record strides. Whole EMO checkpoints need no ``model``: EMO's
            stages are ours, block for block.

    Returns:
        A new dict that ``load_state_dict(..., strict=True)`` accepts on the matching
        ``MetaMobileBlock`` (from ``block_config("irmb" | "irmb_attn" | "micro_block_*")``,
        ``emo_block`` or ``micronet_block``) or named network (``create_model("emo_1m")``, ...).

    Raises:
        ConfigError: a key that no mapping covers (the message names it), or a whole MicroNet
            that matches no named network and no ``model`` was given.

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
    names = SOURCES[source]({k: tuple(v.shape) for k, v in sd.items()}, model)
    return {names[k]: v for k, v in sd.items()}


def load_checkpoint(
    path: str | Any, *, source: str | None = None, model: Any = None, map_location: str = "cpu"
) -> dict[str, torch.Tensor]:
    """Read a state dict from a checkpoint file, safely: ``torch.load(weights_only=True)``.

    Only tensors and plain containers are unpickled; a file that would run code or import classes
    on loading is refused. A ``{"model": ...}``, ``{"state_dict": ...}`` or ``{"net": ...}``
    wrapper is removed; with ``source`` (``"emo"`` or ``"micronet"``) the official keys are renamed
    with :func:`convert_state_dict`.

    Raises:
        ConfigError: the file cannot be read, is not a checkpoint, holds anything but tensors and
            containers, or holds no state dict.

    Example:
        >>> import tempfile, os, metablock
        >>> block = metablock.MetaMobileBlock(metablock.block_config("irmb"))
        >>> path = os.path.join(tempfile.mkdtemp(), "irmb.pt")
        >>> torch.save({"state_dict": block.state_dict()}, path)
        >>> _ = block.load_state_dict(load_checkpoint(path))
    """
    import pickle

    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as exc:
        raise ConfigError(f"cannot read checkpoint {str(path)!r}: {exc.strerror or exc}") from None
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"checkpoint {str(path)!r} holds objects other than tensors and containers; refusing to load it "
            f"(weights_only=True): {first}"
        ) from None
    except Exception as exc:  # not a torch file at all
        raise ConfigError(f"checkpoint {str(path)!r} is not a torch checkpoint: {type(exc).__name__}: {exc}") from None
    if isinstance(data, Mapping):
        for wrapper in ("model", "state_dict", "net"):
            if isinstance(data.get(wrapper), Mapping):
                data = data[wrapper]
                break
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ConfigError(f"checkpoint {str(path)!r} holds no state dict (a mapping of names to tensors)")
    state = {re.sub(r"^module\.", "", str(k)): v for k, v in data.items()}
    return convert_state_dict(state, source, model=model) if source is not None else state
