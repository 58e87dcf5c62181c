"""Latency: measured with ``torch.utils.benchmark``, and predicted from a per-block table.

:func:`measure_latency` times one inference forward pass: the module is copied, reparameterized
(BatchNorm and RepVGG branches folded, as deployed) and put in eval mode; it runs a few warm-up
passes, then ``torch.utils.benchmark.Timer.blocked_autorange`` times blocks of runs at a fixed
thread count; the result holds the median and the interquartile range over those blocks, in
milliseconds.

:class:`LatencyTable` measures each part of a network (stem, every block at its input size, head)
once per *setting* (device, threads, batch, torch version, processor), in interleaved rounds (median
over rounds, see :meth:`LatencyTable.prefetch`), and keeps the medians, in
memory or in the same SQLite file as :class:`~metablock.CostTable`. Summed part latencies miss what
a whole network does differently (a part timed alone finds its input and weights warm in cache, and
pays Python's call overhead once per run), so :meth:`LatencyTable.calibrate` fits a linear
correction on a few measured networks: a scale and offset (``measured ≈ a · Σ parts + c``), a scale
alone (the median ratio), or also terms per part and per MiB of part inputs (``fit(..., terms=...)``;
the default, ``auto``, fits all four terms from 8 or more networks and scale and offset from
fewer); least-squares fits minimise the *relative* error, as predictions are judged by it.
:meth:`LatencyTable.predict` applies the fit, which is stored per setting.

Example:
    >>> import metablock
    >>> lat = metablock.measure_latency(metablock.model_config("mobilenet_v3_small"), (3, 64, 64), threads=1,
    ...                                 min_run_time=0.05)
    >>> lat.median_ms > 0
    True
"""

from __future__ import annotations

import copy
import math
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from .cost_table import CostTable, Store, _layers_key, block_key, code_fingerprint, head_module, stem_module
from .errors import ConfigError
from .network import NetConfig

LATENCY_SCHEMA = f"latency-v1-{code_fingerprint()}"
CALIBRATION_SCHEMA = f"latency-calibration-v1-{code_fingerprint()}"
FIT_TERMS = ("auto", "scale", "affine", "full")
FULL_FIT_MIN_NETWORKS = 8  # "auto" fits all four terms from this many networks (two per term)


@dataclass(frozen=True)
class Latency:
    """A latency measurement, in milliseconds per forward pass of one batch."""

    median_ms: float
    iqr_ms: float
    mean_ms: float
    runs: int
    batch: int
    threads: int
    device: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got device={device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got device={device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but CUDA is not available; use device='cpu'")
    return dev


def _deployed(model_or_config: Any, reparameterize: bool) -> nn.Module:
    from .costs import as_module
    from .reparam import reparameterize as fold

    module = model_or_config if isinstance(model_or_config, nn.Module) else None
    module = copy.deepcopy(module) if module is not None else as_module(model_or_config)
    module.eval()
    if reparameterize:
        fold(module)
    return module


def time_module(
    module: nn.Module,
    input_shape: tuple[int, ...],
    *,
    threads: int,
    device: torch.device,
    min_run_time: float,
    warmup: int,
) -> Latency:
    """Time ``module`` (already deployed and on ``device``) on a random input of ``input_shape``."""
    from torch.utils import benchmark

    x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                module(x)

            def run() -> None:
                with torch.inference_mode():
                    module(x)

            timer = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=threads)
            m = timer.blocked_autorange(min_run_time=min_run_time)
    finally:
        torch.set_num_threads(previous)
    times = sorted(m.times)
    return Latency(
        median_ms=m.median * 1e3,
        iqr_ms=m.iqr * 1e3,
        mean_ms=m.mean * 1e3,
        runs=m.number_per_run * len(times),
        batch=input_shape[0],
        threads=threads,
        device=str(device),
    )


def measure_latency(
    model: Any,
    input_size: tuple[int, int, int] | None = None,
    batch: int = 1,
    threads: int | None = None,
    device: str = "cpu",
    reparameterize: bool = True,
    *,
    min_run_time: float = 0.5,
    warmup: int = 5,
) -> Latency:
    """Latency of one inference forward pass, with ``torch.utils.benchmark``.

    The model is not changed: a copy is reparameterized (``reparameterize=True``, the default, as
    deployed) and timed in eval mode under ``torch.inference_mode``.

    Args:
        model: an ``nn.Module``, ``BlockConfig`` or ``NetConfig``.
        input_size: ``(channels, height, width)`` of one input; default: the network's own
            (``NetConfig.resolution``), else ``(3, 224, 224)``.
        batch: batch size.
        threads: intra-op threads while timing (default: ``torch.get_num_threads()``).
        device: ``cpu`` or ``cuda[:N]``.
        reparameterize: fold BatchNorm and RepVGG branches first.
        min_run_time: seconds of timed runs (more gives a steadier median).
        warmup: untimed passes first.

    Returns:
        A :class:`Latency` with the median and IQR in milliseconds.

    Example:
        >>> import metablock
        >>> cfg = metablock.block_config("mbconv")
        >>> metablock.measure_latency(cfg, (24, 28, 28), threads=1, min_run_time=0.05).median_ms > 0
        True
    """
    from .costs import default_input_size

    input_size = default_input_size(model, input_size)  # type: ignore[assignment]
    if len(input_size) != 3 or min(input_size) < 1:
        raise ConfigError(f"input_size must be (channels, height, width) > 0; got input_size={input_size}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be an integer >= 1; got batch={batch!r}")
    threads = torch.get_num_threads() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be an integer >= 1; got threads={threads!r}")
    if not min_run_time > 0:
        raise ConfigError(f"min_run_time must be > 0 seconds; got min_run_time={min_run_time!r}")
    dev = _check_device(device)
    module = _deployed(model, reparameterize).to(dev)
    return time_module(
        module, (batch, *input_size), threads=threads, device=dev, min_run_time=min_run_time, warmup=warmup
    )


def setting_key(*, device: str, threads: int, batch: int) -> str:
    """What a latency depends on besides the network: device, processor, threads, batch, torch version."""
    dev = _check_device(device)
    cpu = platform.processor() or platform.machine()
    hardware = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu
    return f"{dev}|{hardware}|threads={threads}|batch={batch}|torch={torch.__version__}"


@dataclass(frozen=True)
class Calibration:
    """``latency ≈ scale · Σ part ms + per_part · parts + per_mib · MiB of part inputs + offset`` (ms).

    The MiB of part inputs is the size of the activations a whole network passes from part to part,
    which a part timed alone finds warm in cache. Fitted on ``networks``.
    """

    scale: float
    per_part: float
    per_mib: float
    offset: float
    networks: int

    def apply(self, summed_ms: float, parts: int, mib: float) -> float:
        return self.scale * summed_ms + self.per_part * parts + self.per_mib * mib + self.offset


IDENTITY = Calibration(scale=1.0, per_part=0.0, per_mib=0.0, offset=0.0, networks=0)


class LatencyTable:
    """Per-part latencies and a calibrated whole-network predictor, for one setting.

    Args:
        path: an SQLite file shared with other processes (and with :class:`~metablock.CostTable`);
            ``None`` keeps everything in memory.
        device: ``cpu`` or ``cuda[:N]``.
        threads: intra-op threads (default: ``torch.get_num_threads()``).
        batch: batch size.
        min_run_time: seconds of timed runs per part, split over ``rounds``.
        rounds: interleaved rounds in which each part is timed (median over rounds); see :meth:`prefetch`.

    Example:
        >>> import metablock
        >>> table = metablock.LatencyTable(threads=1, min_run_time=0.02)
        >>> nets = [metablock.model_config(n) for n in ("mobilenet_v3_small", "micronet_m0")]
        >>> fit = table.calibrate(nets, (3, 64, 64), min_run_time=0.05)
        >>> table.predict(nets[0], (3, 64, 64)) > 0
        True
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        threads: int | None = None,
        batch: int = 1,
        min_run_time: float = 0.2,
        rounds: int = 3,
    ) -> None:
        self.device = str(_check_device(device))
        self.threads = torch.get_num_threads() if threads is None else threads
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"threads must be an integer >= 1; got threads={threads!r}")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be an integer >= 1; got batch={batch!r}")
        self.batch = batch
        if not min_run_time > 0:
            raise ConfigError(f"min_run_time must be > 0 seconds; got min_run_time={min_run_time!r}")
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ConfigError(f"rounds must be an integer >= 1; got rounds={rounds!r}")
        self.min_run_time = min_run_time
        self.rounds = rounds
        self.setting = setting_key(device=self.device, threads=self.threads, batch=batch)
        self.store = None if path is None else Store(os.fspath(path))
        self.shapes = CostTable(path)  # part input shapes come from the cost table
        self._memo: dict[str, float] = {}
        self._calibration: Calibration | None = None
        self.misses = 0

    # ------------------------------------------------------------------ parts
    def _specs(
        self, cfg: NetConfig, input_size: tuple[int, int, int] | None
    ) -> list[tuple[str, str, Any, tuple[int, ...]]]:
        """``(part name, table key, module factory, input shape)`` for the stem, every block and the head."""
        from .block import MetaMobileBlock

        input_size = cfg.input_size if input_size is None else input_size
        costs = self.shapes.network(cfg, input_size)  # validates input_size; gives every part's shape
        _, h, w = input_size
        pre = f"{self.setting}|"
        stem_key = f"stem|{_layers_key(cfg.stem)}|{cfg.in_chans}|{cfg.width_mult}@{h}x{w}"
        out: list[tuple[str, str, Any, tuple[int, ...]]] = [
            ("stem", pre + stem_key, lambda: stem_module(cfg), input_size)
        ]
        shape: tuple[int, ...] = costs.stages[0].out_shape
        chs = cfg.stem_out()
        for si, stage in enumerate(cfg.stages):
            blocks = self.shapes.stage_blocks(cfg, stage, chs)
            chs = blocks[-1].out_chs
            for bi, block in enumerate(blocks):
                key = f"block|{block_key(block)}@{shape[1]}x{shape[2]}"
                out.append((f"s{si}.b{bi}", pre + key, lambda b=block: MetaMobileBlock(b), shape))
                shape = self.shapes.block(block, shape[1], shape[2]).out_shape
        head_key = f"head|{_layers_key(cfg.head)}|{cfg.width_mult}|{cfg.num_classes}@{'x'.join(map(str, shape))}"
        out.append(("head", pre + head_key, lambda s=shape: head_module(cfg, s[0]), shape))
        return out

    def _known(self, key: str) -> float | None:
        value = self._memo.get(key)
        if value is None and self.store is not None:
            value = self.store.get(LATENCY_SCHEMA, key)
            if value is not None:
                self._memo[key] = float(value)
        return value

    def prefetch(
        self, networks: Sequence[NetConfig], input_size: tuple[int, int, int] | None = None, *, progress: bool = False
    ) -> int:
        """Time every part of ``networks`` that the table lacks, in interleaved rounds; returns how many.

        Each missing part is built once; then ``rounds`` rounds time every part in turn for
        ``min_run_time / rounds`` seconds, and a part's latency is its median over the rounds. The
        rounds spread each part's timing over the whole run, so that a slow spell of the machine
        (other jobs, clock changes) costs every part a little instead of a few parts a lot.
        """
        return self._time_missing([spec for cfg in networks for spec in self._specs(cfg, input_size)], progress)

    def _time_missing(self, specs: Sequence[tuple[str, str, Any, tuple[int, ...]]], progress: bool = False) -> int:
        todo: dict[str, tuple[Any, tuple[int, ...]]] = {}
        for _, key, make, shape in specs:
            if key not in todo and self._known(key) is None:
                todo[key] = (make, shape)
        if not todo:
            return 0
        dev = torch.device(self.device)
        modules = {key: _deployed(make(), True).to(dev) for key, (make, _) in todo.items()}
        times: dict[str, list[float]] = {key: [] for key in todo}
        for r in range(self.rounds):
            for i, (key, (_, shape)) in enumerate(todo.items()):
                lat = time_module(
                    modules[key],
                    (self.batch, *shape),
                    threads=self.threads,
                    device=dev,
                    min_run_time=self.min_run_time / self.rounds,
                    warmup=3 if r == 0 else 1,
                )
                times[key].append(lat.median_ms)
                step = max(1, len(todo) // 10)
                if progress and ((i + 1) % step == 0 or i + 1 == len(todo)):
                    _say(f"latency parts: round {r + 1}/{self.rounds}, part {i + 1}/{len(todo)}")
        for key, values in times.items():
            value = statistics.median(values)
            self._memo[key] = value
            if self.store is not None:
                self.store.put(LATENCY_SCHEMA, key, value)
        self.misses += len(todo)
        return len(todo)

    def _timed_specs(
        self, cfg: NetConfig, input_size: tuple[int, int, int] | None
    ) -> list[tuple[str, float, tuple[int, ...]]]:
        """``(part name, median ms, input shape)`` of every part, timing the missing ones first."""
        specs = self._specs(cfg, input_size)
        self._time_missing(specs)
        return [(name, float(self._memo[key]), shape) for name, key, _, shape in specs]

    def parts(self, cfg: NetConfig, input_size: tuple[int, int, int] | None = None) -> list[tuple[str, float]]:
        """``(part name, median ms)`` for the stem, every block (``s<i>.b<j>``) and the head."""
        return [(name, ms) for name, ms, _ in self._timed_specs(cfg, input_size)]

    def summed(self, cfg: NetConfig, input_size: tuple[int, int, int] | None = None) -> tuple[float, int, float]:
        """The fit's features: Σ part latencies (ms), the number of parts, the MiB of their inputs."""
        parts = self._timed_specs(cfg, input_size)
        elements = sum(math.prod(shape) for _, _, shape in parts)
        return sum(ms for _, ms, _ in parts), len(parts), elements * 4 * self.batch / 2**20

    # ------------------------------------------------------------------ calibration
    @property
    def calibration(self) -> Calibration:
        """The fitted correction for this setting (identity until :meth:`calibrate` ran)."""
        if self._calibration is None and self.store is not None:
            value = self.store.get(CALIBRATION_SCHEMA, self.setting)
            if value is not None:
                self._calibration = Calibration(**value)
        return self._calibration or IDENTITY

    def fit(
        self, summed: Sequence[tuple[float, int, float]], measured: Sequence[float], *, terms: str = "auto"
    ) -> Calibration:
        """Fit the correction from :meth:`summed` features to measured latencies, and store it.

        Args:
            summed: :meth:`summed` of each calibration network.
            measured: their measured latencies (ms).
            terms: ``auto`` (default: ``full`` from 8 or more networks, else ``affine``),
                ``affine`` (scale and offset), ``scale`` (the median ratio measured / Σ parts: one
                term, robust to a noisy measurement) or ``full`` (scale, per-part, per-MiB and
                offset; needs >= 6 networks). ``affine`` and ``full`` are least squares on the
                relative error (each row divided by its measured latency).
        """
        if terms not in FIT_TERMS:
            raise ConfigError(f"terms must be one of {FIT_TERMS}; got terms={terms!r}")
        if terms == "auto":
            terms = "full" if len(measured) >= FULL_FIT_MIN_NETWORKS else "affine"
        need = 6 if terms == "full" else 2
        if len(summed) != len(measured) or len(measured) < need:
            raise ConfigError(
                f"calibration with terms={terms!r} needs >= {need} measured networks; got {len(measured)}"
            )
        if terms == "scale":
            scale = statistics.median(m / s[0] for s, m in zip(summed, measured, strict=True))
            coef = [scale, 0.0, 0.0, 0.0]
        else:
            x = torch.tensor([[s, n, mib, 1.0] for s, n, mib in summed], dtype=torch.float64)
            y = torch.tensor(list(measured), dtype=torch.float64).unsqueeze(1)
            if not bool((y > 0).all()):
                raise ConfigError(f"measured latencies must be > 0 ms; got {list(measured)}")
            columns = [0, 3] if terms == "affine" else [0, 1, 2, 3]
            # relative error: divide each row (features and target) by the measured latency
            solution = torch.linalg.lstsq(x[:, columns] / y, torch.ones_like(y)).solution.squeeze(1).tolist()
            coef = [0.0, 0.0, 0.0, 0.0]
            for column, value in zip(columns, solution, strict=True):
                coef[column] = value
        fit = Calibration(scale=coef[0], per_part=coef[1], per_mib=coef[2], offset=coef[3], networks=len(measured))
        if not all(math.isfinite(v) for v in coef):
            raise ConfigError(f"calibration fit is not finite: {fit}")
        self._calibration = fit
        if self.store is not None:
            self.store.put(CALIBRATION_SCHEMA, self.setting, asdict(fit), replace=True)
        return fit

    def calibrate(
        self,
        networks: Sequence[NetConfig],
        input_size: tuple[int, int, int] | None = None,
        *,
        min_run_time: float = 0.5,
        rounds: int = 3,
        terms: str = "auto",
        progress: bool = False,
    ) -> Calibration:
        """Measure ``networks`` whole (``rounds`` interleaved rounds, median) and fit the correction.

        It takes about ``len(networks) * rounds * min_run_time`` seconds for the whole networks plus
        the timing of every part the table lacks (``self.min_run_time`` each); ``progress=True``
        prints a line (to stderr) per network measured and per tenth of the parts timed."""
        if progress:
            _say(f"latency calibration: {len(networks)} networks x {rounds} rounds x {min_run_time:g} s, then "
                 "their parts")  # fmt: skip
        measured = measure_networks(
            networks, input_size, batch=self.batch, threads=self.threads, device=self.device,
            min_run_time=min_run_time, rounds=rounds, progress=progress,
        )  # fmt: skip
        self.prefetch(networks, input_size, progress=progress)  # the parts, with progress; summed reads them
        fit = self.fit([self.summed(cfg, input_size) for cfg in networks], measured, terms=terms)
        if progress:
            _say(f"latency calibration: fitted {fit}")
        return fit

    def predict(self, cfg: NetConfig, input_size: tuple[int, int, int] | None = None) -> float:
        """Predicted whole-network latency in ms: the calibrated sum of part latencies."""
        return self.calibration.apply(*self.summed(cfg, input_size))


def measure_networks(
    networks: Sequence[Any],
    input_size: tuple[int, int, int] | None = None,
    *,
    batch: int = 1,
    threads: int | None = None,
    device: str = "cpu",
    min_run_time: float = 0.5,
    rounds: int = 3,
    progress: bool = False,
) -> list[float]:
    """Median latency (ms) of each network over ``rounds`` rounds that interleave the networks
    (``progress=True``: a line on stderr per network measured).

    Interleaving spreads a burst of load on a shared machine over every network instead of one.
    """
    threads = torch.get_num_threads() if threads is None else threads
    dev = _check_device(device)
    from .costs import default_input_size

    modules = [_deployed(n, True).to(dev) for n in networks]
    sizes = [default_input_size(n, input_size) for n in networks]
    results: list[list[float]] = [[] for _ in modules]
    for r in range(rounds):
        for i, module in enumerate(modules):
            lat = time_module(
                module, (batch, *sizes[i]), threads=threads, device=dev, min_run_time=min_run_time, warmup=3
            )
            results[i].append(lat.median_ms)
            if progress:
                name = getattr(networks[i], "name", type(networks[i]).__name__)
                _say(
                    f"latency: round {r + 1}/{rounds}, network {i + 1}/{len(modules)} ({name}): {lat.median_ms:.2f} ms"
                )
    return [sorted(r)[len(r) // 2] for r in results]


def _say(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)
