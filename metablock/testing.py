"""Helpers for checking weight-level equivalence without shipping weights.

A *manifest* lists the keys, shapes and dtypes of a state dict. ``random_state_dict`` fills a
manifest with deterministic, well-scaled values (positive BatchNorm variances, weights scaled by
``1/sqrt(fan_in)``), so a reference implementation and a converted preset can be compared on the
same weights while only the manifest, a seed and the expected outputs are stored.

Example:
    >>> import torch
    >>> sd = random_state_dict({"conv.weight": ((8, 4, 3, 3), "float32")}, seed=0)
    >>> tuple(sd["conv.weight"].shape)
    (8, 4, 3, 3)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

Manifest = Mapping[str, tuple[tuple[int, ...], str]]


def manifest_of(state_dict: Mapping[str, torch.Tensor]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Return the manifest (key -> (shape, dtype name)) of a state dict, in its key order."""
    return {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state_dict.items()}


def random_state_dict(manifest: Manifest, seed: int) -> dict[str, torch.Tensor]:
    """Fill ``manifest`` with deterministic values drawn from a generator seeded with ``seed``.

    Values are drawn in the manifest's key order. BatchNorm ``running_var`` is in [0.5, 1.5),
    ``running_mean`` is small, ``num_batches_tracked`` is zero, tensors with two or more dimensions
    are scaled by ``1/sqrt(fan_in)`` and one-dimensional tensors named ``weight`` are near one.
    """
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, (shape, dtype_name) in manifest.items():
        dtype = getattr(torch, dtype_name)
        leaf = key.rsplit(".", 1)[-1]
        if not dtype.is_floating_point:
            out[key] = torch.zeros(shape, dtype=dtype)
            continue
        if leaf == "running_var":
            value = torch.rand(shape, generator=gen) + 0.5
        elif leaf == "running_mean":
            value = 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            value = torch.randn(shape, generator=gen) / math.sqrt(max(fan_in, 1))
        elif leaf == "weight":
            value = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            value = 0.1 * torch.randn(shape, generator=gen)
        out[key] = value.to(dtype)
    return out


def seeded_input(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """A standard-normal tensor of ``shape`` drawn from a generator seeded with ``seed``."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def calibrate_batchnorm(module: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """Set every BatchNorm's running statistics to the statistics of its input on ``x``, in one eval-mode
    pass in layer order, so every normalised activation has zero mean and unit variance on ``x``.

    With random weights and made-up statistics a deep network's activations shrink layer by layer and
    its logits hardly depend on its input; after calibration they do, so comparing two networks'
    logits compares every layer. Returns ``module`` (changed in place, left in eval mode).
    """
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]

    def hook(norm: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        inp = args[0]
        dims = [d for d in range(inp.dim()) if d != 1]
        norm.running_mean.copy_(inp.mean(dims))
        norm.running_var.copy_(inp.var(dims, unbiased=False))

    handles = [m.register_forward_pre_hook(hook) for m in norms if m.running_mean is not None]
    try:
        module.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return module
