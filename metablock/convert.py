"""``convert_state_dict``: official EMO and MicroNet checkpoints onto metablock's key layout.

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


# Whole networks: the parts around the blocks (their key prefix -> ours)
EMO_NETWORK: Pairs = (
    ("stage0.0.convs.0.0", "stem.0.conv"),  # MSPatchEmb with one dilation: conv (bias) + BN
    ("stage0.0.convs.0.1", "stem.0.norm"),
    ("norm.norm", "head.0"),  # the last stage's norm (LayerNorm2d wraps an nn.LayerNorm)
    ("norm", "head.0"),
    ("head", "head.2.fc"),
)
MICRONET_NETWORK: Pairs = (
    ("features.0.stem.0.conv.0", "stem.0.conv1.conv"),  # SpatialSepConvSF: k×1 conv, BN, 1×k conv, BN
    ("features.0.stem.0.conv.1", "stem.0.conv1.norm"),
    ("features.0.stem.0.conv.2", "stem.0.conv2.conv"),
    ("features.0.stem.0.conv.3", "stem.0.conv2.norm"),
    ("classifier.0.linear.0", "head.3.fc"),  # SwishLinear: Linear, BatchNorm1d, h-swish
    ("classifier.0.linear.1", "head.3.norm_after"),
    ("classifier.2.linear.0", "head.5.fc"),
    ("classifier.2.linear.1", "head.5.norm_after"),
)

_EMO_BLOCK_KEY = re.compile(r"^(stage(\d+)\.(\d+))\.")
_MICRONET_BLOCK_KEY = re.compile(r"^(features\.(\d+))\.")


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


def _layout(model: Any) -> list[tuple[int, int]]:
    """(stage, index) of each block of a named network or NetConfig, in order."""
    from .network import NetConfig
    from .zoo import model_config

    cfg = model if isinstance(model, NetConfig) else model_config(model)
    return [(s, i) for s, depth in enumerate(cfg.stage_depths()) for i in range(depth)]


def _micronet_network(keys: Sequence[str], layout: list[tuple[int, int]]) -> dict[str, str]:
    def place(index: tuple[int, int]) -> tuple[int, int] | None:
        n = index[0] - 1  # features.0 is the stem
        if n < 0:
            return None
        if n >= len(layout):
            raise ConfigError(
                f"convert_state_dict: no block for key prefix 'features.{index[0]}' "
                f"(the target network has {len(layout)} blocks)"
            )
        return layout[n]

    return rename_network(keys, MICRONET_NETWORK, _MICRONET_BLOCK_KEY, place, micronet_block_pairs)


def _micronet(shapes: Mapping[str, tuple[int, ...]], model: Any = None) -> dict[str, str]:
    keys = list(shapes)
    if not any(k.startswith("features.") for k in keys):
        return rename(keys, micronet_block_pairs(keys))
    if model is not None:
        return _micronet_network(keys, _layout(model))
    blocks = {int(k.split(".")[1]) for k in keys if k.startswith("features.")} - {0}  # features.0: the stem
    _micronet_network(keys, [(0, i) for i in range(max(blocks, default=0))])  # every key maps somewhere
    # Our stages split where a block changes shape, which needs each block's stride: not in a state
    # dict, so take the layout of the named MicroNet whose state dict has exactly these shapes.
    from .network import build
    from .zoo import list_models, model_config

    for name in (n for n in list_models() if n.startswith("micronet_")):
        cfg = model_config(name)
        layout = _layout(cfg)
        if len(blocks) != len(layout):
            continue
        names = _micronet_network(keys, layout)
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in build(cfg).state_dict().items()}
        if len(expected) == len(keys) and all(expected.get(names[k]) == shapes[k] for k in keys):
            return names
    raise ConfigError(
        "convert_state_dict(source='micronet'): the checkpoint is none of the named MicroNets "
        f"({', '.join(n for n in list_models() if n.startswith('micronet_'))}); pass model= (a name or NetConfig)"
    )


SOURCES: dict[str, Callable[[Mapping[str, tuple[int, ...]], Any], dict[str, str]]] = {
    "emo": _emo,
    "micronet": _micronet,
}


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
