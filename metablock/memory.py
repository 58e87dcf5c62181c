"""Peak activation memory of an inference forward pass.

Method: the module runs once in eval mode under ``torch.no_grad`` with a
``TorchDispatchMode`` that sees every ATen op. Each tensor an op returns is charged to its storage
the first time the storage is seen, and the storage is released when the last tensor object that
refers to it is garbage collected (views and in-place results share their base's storage, so they
cost nothing extra). The estimate is the largest sum of live storages at any point, the input
included; parameters and buffers are not activations and are never charged.

What it leaves out: scratch buffers that a kernel allocates and frees inside one op (oneDNN
convolution workspaces, the blocks of a fused attention kernel) and the allocator's rounding. So it
sits at or a little below what the allocator reports: within 30% of the measured peak on the named
networks, usually within 12% (``tests/test_memory.py`` checks it against the profiler's allocation
timeline). Activations grow linearly with the batch; the estimate does too.

Example:
    >>> import metablock
    >>> cfg = metablock.block_config("mobilenet_v2_ir", in_chs=16, out_chs=16)
    >>> estimate_memory(cfg, input_size=(16, 32, 32)) > 16 * 32 * 32 * 4
    True
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .errors import ConfigError


class LiveTensorTracker(TorchDispatchMode):
    """Sum of the storages of live op results, and its peak (see the module docstring)."""

    def __init__(self, ignore: set[int] | None = None) -> None:
        super().__init__()
        self.ignore = ignore or set()
        self.live: dict[int, list[int]] = {}  # storage pointer -> [bytes, tensor objects alive]
        self.tracked: dict[int, int] = {}  # id(tensor) -> storage pointer
        self.current = 0
        self.peak = 0

    def track(self, tensor: torch.Tensor) -> None:
        """Charge ``tensor``'s storage (once per storage) until the tensor object is collected."""
        if id(tensor) in self.tracked:
            return
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr in self.ignore:
            return
        entry = self.live.get(ptr)
        if entry is None:
            entry = self.live[ptr] = [storage.nbytes(), 0]
            self.current += entry[0]
            self.peak = max(self.peak, self.current)
        entry[1] += 1
        self.tracked[id(tensor)] = ptr
        weakref.finalize(tensor, self._release, id(tensor), ptr)

    def _release(self, key: int, ptr: int) -> None:
        self.tracked.pop(key, None)
        entry = self.live.get(ptr)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[ptr]

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor):
                self.track(value)
        return out


def _weight_storages(module: nn.Module) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}


def peak_live_bytes(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """Peak live activation bytes of ``module`` on a zero input of ``input_shape`` (batch included).

    The module is run as it is (put it in eval mode first). Returns the peak, input included, and
    the output's shape.
    """
    tracker = LiveTensorTracker(_weight_storages(module))
    with torch.no_grad():
        x = torch.zeros(input_shape)
        tracker.track(x)
        with tracker:
            y = module(x)
        shape = tuple(y.shape)
        del x, y
    return tracker.peak, shape


def estimate_memory(model_or_config: Any, input_size: tuple[int, ...] | None = None, batch: int = 1) -> int:
    """Estimated peak activation memory, in bytes, of one inference forward pass.

    Float32 activations, eval mode, no autograd graph (what serving the model costs); the input
    tensor counts, parameters do not. See the module docstring for the method and its accuracy.

    Args:
        model_or_config: an ``nn.Module``, ``BlockConfig`` or ``NetConfig``.
        input_size: ``(channels, height, width)`` of one input; default: the network's own
            (``NetConfig.resolution``), else ``(3, 224, 224)``.
        batch: batch size.

    Returns:
        The peak number of bytes held by live activations.

    Example:
        >>> import metablock
        >>> mib = metablock.estimate_memory(metablock.model_config("mobilenet_v2"), (3, 64, 64)) / 2**20
        >>> 0.5 < mib < 5
        True
    """
    from .costs import default_input_size

    input_size = default_input_size(model_or_config, input_size)
    from .costs import as_module

    if len(input_size) != 3 or min(input_size) < 1:
        raise ConfigError(f"input_size must be (channels, height, width) > 0; got input_size={input_size}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be an integer >= 1; got batch={batch!r}")
    module = as_module(model_or_config)
    was_training = module.training
    module.eval()
    try:
        peak, _ = peak_live_bytes(module, (batch, *input_size))
    finally:
        module.train(was_training)
    return peak
