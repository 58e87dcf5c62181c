"""Per-block cost table: a network's params, MACs and memory as a sum of memoised parts.

A block's parameters and MACs depend only on its :class:`~metablock.BlockConfig` and its input
height and width; the stem's on its layer configs, the input channels, the width multiplier and the
input size; the head's on its layer configs, its input shape, the width multiplier and the number
of classes. :class:`CostTable` measures each part once (fvcore's count with metablock's handles,
:func:`~metablock.costs.count_macs`, on the part alone, in eval mode, batch 1) and answers a whole
network by adding the parts up. The sum equals :func:`~metablock.costs.count_macs` and
:func:`~metablock.costs.count_params` of the built network exactly: the network's forward is its
stem, its blocks and its head applied in turn, with no op between them.

Each part also records its peak live activation bytes (:func:`metablock.memory.peak_live_bytes`),
so the table gives the network's peak activation memory too. While a block runs, the network
input, the stem output (the argument of the stages' ``nn.Sequential``, alive until the last stage
returns) and the input of the block's stage (likewise) stay alive besides the block's own tensors,
so the network peak is the largest of ``peak(stem)``, ``input + held + peak(block)`` over blocks
(``held`` counting the stem output and stage input when they are not the block's own input) and
``input + peak(head)``. This equals :func:`~metablock.estimate_memory` of the built network at batch 1.

Entries persist in an SQLite file in WAL mode (``CostTable(path)``), under a fingerprint of the
code that builds and counts a part (:func:`code_fingerprint`), so a file filled by another version
of metablock, torch or fvcore is never trusted: any number of processes may
read and write it at once; a part measured by one process is read by the others instead of being
traced again. ``CostTable()`` keeps entries in memory only.

Example:
    >>> import metablock
    >>> table = metablock.CostTable()
    >>> cfg = metablock.model_config("mobilenet_v2")
    >>> costs = table.network(cfg, input_size=(3, 64, 64))
    >>> costs.macs == metablock.count_macs(cfg, (3, 64, 64))
    True
    >>> [part.name for part in costs.stages][:3]
    ['stem', 'stage0', 'stage1']
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from math import prod
from pathlib import Path
from typing import Any, NamedTuple

from torch import nn

from .config import BlockConfig
from .errors import ConfigError
from .network import LayerConfig, NetConfig, StageConfig

# Modules whose code decides what a part costs. Entries are stored under a fingerprint of their
# source and of the torch and fvcore versions, so a cache file never answers for other code.
FINGERPRINTED = ("block.py", "config.py", "costs.py", "cost_table.py", "layers.py", "memory.py", "network.py")


def code_fingerprint() -> str:
    """A short hash of the modules that build and count a part, and of the torch and fvcore versions."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    import torch

    digest = hashlib.sha256(torch.__version__.encode())
    with contextlib.suppress(PackageNotFoundError):  # fvcore is a dependency; be lenient all the same
        digest.update(version("fvcore").encode())
    here = Path(__file__).resolve().parent
    for name in FINGERPRINTED:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


COST_SCHEMA = f"costs-v1-{code_fingerprint()}"
BYTES_PER_ELEMENT = 4  # float32 activations


class Entry(NamedTuple):
    """A memoised part: its parameters, MACs, peak live bytes (input included) and output shape."""

    params: int
    macs: int
    peak: int
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class PartCosts:
    """Costs of one part of a network: ``stem``, ``stage<i>`` or ``head``.

    ``memory`` is the peak activation bytes of the whole network while this part runs (batch 1).
    """

    name: str
    params: int
    macs: int
    memory: int
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class Costs:
    """Costs of one network at one input size, batch 1.

    Attributes:
        params: parameters.
        macs: multiply-accumulates of one forward pass (fvcore's "flops" with metablock's handles).
        memory: peak activation bytes of an inference forward pass (float32).
        stages: the per-part breakdown: stem, every stage, head.
    """

    params: int
    macs: int
    memory: int
    stages: tuple[PartCosts, ...]

    def by_stage(self) -> dict[str, PartCosts]:
        """The breakdown as a dict keyed by part name."""
        return {p.name: p for p in self.stages}

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "macs": self.macs,
            "memory": self.memory,
            "stages": [asdict(p) | {"out_shape": list(p.out_shape)} for p in self.stages],
        }


class Store:
    """A key/value store of JSON values in an SQLite file (WAL mode), safe for concurrent processes.

    Each process (and thread) opens its own connection; writers wait on SQLite's lock for up to
    ``timeout`` seconds; inserts of a key that exists are ignored (every process computes the same
    value for a key).
    """

    def __init__(self, path: str, *, timeout: float = 60.0) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._local = threading.local()
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ConfigError(f"cost table path: directory {directory!r} does not exist; got path={self.path!r}")
        with self._connection() as con:
            con.execute("CREATE TABLE IF NOT EXISTS entries (kind TEXT, key TEXT, value TEXT, PRIMARY KEY(kind, key))")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "pid", None) != os.getpid():
            con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con, self._local.pid = con, os.getpid()
        yield con

    def get(self, kind: str, key: str) -> Any:
        with self._connection() as con:
            row = con.execute("SELECT value FROM entries WHERE kind=? AND key=?", (kind, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, kind: str, key: str, value: Any, *, replace: bool = False) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._connection() as con:
            con.execute(f"{verb} INTO entries VALUES (?, ?, ?)", (kind, key, json.dumps(value)))

    def items(self, kind: str) -> list[tuple[str, Any]]:
        with self._connection() as con:
            rows = con.execute("SELECT key, value FROM entries WHERE kind=?", (kind,)).fetchall()
        return [(k, json.loads(v)) for k, v in rows]

    def count(self, kind: str) -> int:
        with self._connection() as con:
            return int(con.execute("SELECT COUNT(*) FROM entries WHERE kind=?", (kind,)).fetchone()[0])


def block_key(cfg: BlockConfig) -> str:
    """The persistent key of a block: its JSON with train-only fields (drop path) zeroed."""
    if cfg.drop_path:
        cfg = cfg.replace(drop_path=0.0)
    return cfg.to_json()


def _frozen(overrides: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(overrides.items()))


def _stage_key(stage: StageConfig) -> tuple[Any, ...]:
    return (
        stage.block,
        stage.depth,
        stage.out_chs,
        stage.stride,
        _frozen(stage.first),
        tuple(_frozen(o) for o in stage.overrides),
    )


def _layers_key(layers: tuple[LayerConfig, ...]) -> str:
    return json.dumps([layer.to_dict() for layer in layers])


def stem_module(cfg: NetConfig) -> nn.Sequential:
    """The stem of ``cfg`` as ``build(cfg)`` makes it."""
    from .network import _layer

    chs, layers = cfg.in_chans, []
    for layer in cfg.stem:
        module, chs = _layer(layer, chs, cfg, spatial=True)
        layers.append(module)
    return nn.Sequential(*layers)


def head_module(cfg: NetConfig, in_chs: int) -> nn.Sequential:
    """The head of ``cfg`` on ``in_chs`` channels, as ``build(cfg)`` makes it."""
    from .network import _layer

    chs, layers, spatial = in_chs, [], True
    for layer in cfg.head:
        module, chs = _layer(layer, chs, cfg, spatial=spatial)
        spatial = spatial and layer.kind != "pool"
        layers.append(module)
    return nn.Sequential(*layers)


def measure_part(module: nn.Module, in_shape: tuple[int, int, int]) -> Entry:
    """Params, MACs (batch 1), peak live bytes and output shape of one part on a ``(C, H, W)`` input."""
    from .costs import count_macs, count_params
    from .memory import peak_live_bytes

    module.eval()
    macs = count_macs(module, in_shape)
    peak, out = peak_live_bytes(module, (1, *in_shape))
    return Entry(count_params(module), macs, peak, tuple(out[1:]))


class CostTable:
    """Memoised per-part costs; a network's costs are a sum over its stem, blocks and head.

    Args:
        path: an SQLite file to persist entries in and share with other processes (created if
            missing); ``None`` keeps entries in this object only.

    Example:
        >>> import metablock
        >>> table = metablock.CostTable()
        >>> costs = table.network(metablock.model_config("emo_1m"), input_size=(3, 64, 64))
        >>> costs.params == metablock.count_params(metablock.model_config("emo_1m"))
        True
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        self.store = None if self.path is None else Store(self.path)
        self._blocks: dict[tuple[BlockConfig, int, int], Entry] = {}
        self._stems: dict[tuple[Any, ...], Entry] = {}
        self._heads: dict[tuple[Any, ...], Entry] = {}
        self._stages: dict[Any, list[BlockConfig]] = {}
        self.misses = 0  # parts measured by this object (not found in memory or in the file)

    # ------------------------------------------------------------------ parts
    def _lookup(self, kind: str, key: str, measure: Any) -> Entry:
        if self.store is not None:
            value = self.store.get(COST_SCHEMA, f"{kind}|{key}")
            if value is not None:
                return Entry(value[0], value[1], value[2], tuple(value[3]))
        entry: Entry = measure()
        self.misses += 1
        if self.store is not None:
            self.store.put(COST_SCHEMA, f"{kind}|{key}", [entry.params, entry.macs, entry.peak, list(entry.out_shape)])
        return entry

    def block(self, cfg: BlockConfig, height: int, width: int) -> Entry:
        """The entry of one block on a ``height`` × ``width`` input."""
        memo = (cfg, height, width)
        entry = self._blocks.get(memo)
        if entry is None:
            from .block import MetaMobileBlock

            key = f"{block_key(cfg)}@{height}x{width}"
            entry = self._lookup("block", key, lambda: measure_part(MetaMobileBlock(cfg), (cfg.in_chs, height, width)))
            self._blocks[memo] = entry
        return entry

    def stem(self, cfg: NetConfig, height: int, width: int) -> Entry:
        """The entry of the stem of ``cfg`` on a ``height`` × ``width`` input."""
        memo = (cfg.stem, cfg.in_chans, cfg.width_mult, height, width)
        entry = self._stems.get(memo)
        if entry is None:
            key = f"{_layers_key(cfg.stem)}|{cfg.in_chans}|{cfg.width_mult}@{height}x{width}"
            entry = self._lookup("stem", key, lambda: measure_part(stem_module(cfg), (cfg.in_chans, height, width)))
            self._stems[memo] = entry
        return entry

    def head(self, cfg: NetConfig, in_shape: tuple[int, ...]) -> Entry:
        """The entry of the head of ``cfg`` on an input of shape ``(C, H, W)``."""
        memo = (cfg.head, cfg.width_mult, cfg.num_classes, in_shape)
        entry = self._heads.get(memo)
        if entry is None:
            shape = "x".join(map(str, in_shape))
            key = f"{_layers_key(cfg.head)}|{cfg.width_mult}|{cfg.num_classes}@{shape}"
            entry = self._lookup("head", key, lambda: measure_part(head_module(cfg, in_shape[0]), in_shape))  # type: ignore[arg-type]
            self._heads[memo] = entry
        return entry

    # ------------------------------------------------------------------ networks
    def stage_blocks(self, cfg: NetConfig, stage: StageConfig, in_chs: int) -> list[BlockConfig]:
        """The resolved blocks of one stage on ``in_chs`` input channels (drop path left out), memoised."""
        try:
            memo: Any = (_stage_key(stage), in_chs, cfg.width_mult, cfg.depth_mult)
            blocks = self._stages.get(memo)
        except TypeError:  # an override value that cannot be hashed
            memo, blocks = None, None
        if blocks is None:
            alone = NetConfig(
                stem=(), stages=(stage,), head=(), in_chans=in_chs, width_mult=cfg.width_mult, depth_mult=cfg.depth_mult
            )
            blocks = alone.block_configs()[0]
            if memo is not None:
                self._stages[memo] = blocks
        return blocks

    def network(self, cfg: NetConfig, input_size: tuple[int, int, int] | None = None) -> Costs:
        """Params, MACs and peak activation memory of ``cfg`` at ``input_size``, batch 1, from the table.

        Args:
            cfg: the network.
            input_size: ``(channels, height, width)``; channels must equal ``cfg.in_chans``;
                default ``cfg.input_size`` (its ``resolution``).

        Returns:
            The :class:`Costs`, with a per-stage breakdown (``stem``, ``stage0``, …, ``head``).
        """
        if not isinstance(cfg, NetConfig):
            raise ConfigError(f"CostTable.network takes a NetConfig; got {type(cfg).__name__}")
        input_size = cfg.input_size if input_size is None else input_size
        if len(input_size) != 3 or min(input_size) < 1 or input_size[0] != cfg.in_chans:
            raise ConfigError(
                f"input_size must be (channels, height, width) > 0 with channels == in_chans={cfg.in_chans}; "
                f"got input_size={tuple(input_size)}"
            )
        x_bytes = BYTES_PER_ELEMENT * prod(input_size)
        stem = self.stem(cfg, input_size[1], input_size[2])
        parts = [PartCosts("stem", stem.params, stem.macs, stem.peak, stem.out_shape)]
        shape = stem.out_shape
        # the stem output stays alive until the last stage returns (the stages' nn.Sequential holds
        # its call argument), and so does each stage's input while the stage runs
        stem_bytes = BYTES_PER_ELEMENT * prod(shape) if cfg.stem else 0
        chs = cfg.stem_out()
        for si, stage in enumerate(cfg.stages):
            blocks = self.stage_blocks(cfg, stage, chs)
            chs = blocks[-1].out_chs
            stage_bytes = BYTES_PER_ELEMENT * prod(shape)
            params = macs = memory = 0
            for bi, block in enumerate(blocks):
                held = (stem_bytes if si or bi else 0) + (stage_bytes if si and bi else 0)
                if block.in_chs != shape[0]:
                    raise ConfigError(f"stage {si} block {bi}: in_chs={block.in_chs} but its input has {shape[0]}")
                entry = self.block(block, shape[1], shape[2])
                params += entry.params
                macs += entry.macs
                memory = max(memory, x_bytes + held + entry.peak)
                shape = entry.out_shape
            parts.append(PartCosts(f"stage{si}", params, macs, memory, shape))
        head = self.head(cfg, shape)
        parts.append(PartCosts("head", head.params, head.macs, x_bytes + head.peak, head.out_shape))
        return Costs(
            params=sum(p.params for p in parts),
            macs=sum(p.macs for p in parts),
            memory=max(p.memory for p in parts),
            stages=tuple(parts),
        )

    def __len__(self) -> int:
        return len(self._blocks) + len(self._stems) + len(self._heads)


_DEFAULT: CostTable | None = None


def network_costs(cfg: NetConfig, input_size: tuple[int, int, int] | None = None) -> Costs:
    """Costs of ``cfg`` from a process-wide in-memory :class:`CostTable`.

    Example:
        >>> import metablock
        >>> metablock.network_costs(metablock.model_config("mobilenet_v3_small"), (3, 64, 64)).params
        2542856
    """
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = CostTable()
    return _DEFAULT.network(cfg, input_size)
