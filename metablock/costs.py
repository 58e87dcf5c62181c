"""Costs: parameters and MACs.

MACs are counted with fvcore's ``FlopCountAnalysis``, whose convention is one multiply-add = one
"flop"; metablock calls that unit **MACs**. fvcore's own handles cover convolutions, linear layers,
matrix products, BatchNorm/LayerNorm and adaptive average pooling, and leave every other op
uncounted. metablock registers handles for the ops its blocks emit on top of those, so that no op
of a named network or block preset goes uncounted:

- ``aten::scaled_dot_product_attention``: the two matrix products (``q·kᵀ`` and ``attn·v``, as
  fvcore counts ``aten::matmul``) plus one MAC per attention weight for the scaling and one for
  the softmax (what an explicit ``(q @ kᵀ) * scale``, ``softmax``, ``@ v`` costs with these handles);
- element-wise ops (``add``, ``sub``, ``mul``, ``div``, ``neg``, ``maximum``, ``minimum`` and the
  binary ``max``): one MAC per output element (none on integer sizes, as in TensorFlow SAME
  padding) — this is the residual add, the SE gate and dynamic shift-max's ``a·x + b·shift(x)``
  and ``max``;
- activations (``relu``, ``relu6``/``hardtanh``, ``hardswish``, ``hardsigmoid``, ``silu``,
  ``gelu``, ``sigmoid``, ``tanh``, ``softmax``): one MAC per output element;
- reductions (``mean``, ``sum``, ``amax`` and ``max`` over a dim): one MAC per input element, as
  fvcore counts ``adaptive_avg_pool2d``;
- ``max_pool2d`` and ``avg_pool2d``: kernel area per output element.

The same handles are applied to any module (references included), so a preset and its reference
are compared like with like. ``convention="fvcore"`` counts with fvcore's default handles only.

Example:
    >>> import metablock
    >>> count_macs(metablock.block_config("mobilenet_v2_ir"), input_size=(24, 56, 56)) > 0
    True
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from math import prod
from typing import Any

import torch
from torch import nn

from .config import BlockConfig
from .errors import ConfigError

Handle = Callable[[list[Any], list[Any]], int]

CONVENTIONS = ("metablock", "fvcore")


def _shape(value: Any) -> list[int]:
    return list(value.type().sizes())


def _per_output(inputs: list[Any], outputs: list[Any]) -> int:
    # arithmetic on traced sizes (``2 * x.shape[1]``) shows up as ops on integer scalars: no MACs
    out = outputs[0].type()
    if out.kind() != "TensorType" or out.scalarType() in ("Long", "Int", "Short", "Char", "Byte", "Bool"):
        return 0
    return prod(_shape(outputs[0]))


def _per_input(inputs: list[Any], outputs: list[Any]) -> int:
    return prod(_shape(inputs[0]))


def _max(inputs: list[Any], outputs: list[Any]) -> int:
    # binary maximum: per output element; reduction over a dim: per input element
    second = inputs[1].type() if len(inputs) > 1 else None
    if second is not None and second.kind() == "TensorType":
        return prod(_shape(outputs[0]))
    return prod(_shape(inputs[0]))


def _int_list(value: Any) -> list[int]:
    constant = value.toIValue()
    if constant is None and value.node().kind() == "prim::ListConstruct":
        constant = [v.toIValue() for v in value.node().inputs()]
    return [int(v) for v in (constant if isinstance(constant, (list, tuple)) else [constant, constant])]


def _pool(inputs: list[Any], outputs: list[Any]) -> int:
    kernel = _int_list(inputs[1])
    area = prod(kernel) * (1 if len(kernel) > 1 else kernel[0])
    return prod(_shape(outputs[0])) * area


def _sdpa(inputs: list[Any], outputs: list[Any]) -> int:
    q, k, v = (_shape(t) for t in inputs[:3])
    batch = prod(q[:-2])
    nq, nk, d, dv = q[-2], k[-2], q[-1], v[-1]
    weights = batch * nq * nk
    return weights * d + weights * dv + 2 * weights


def _handles() -> dict[str, Handle]:
    handles: dict[str, Handle] = {}
    for name in ("add", "sub", "mul", "div", "rsub", "maximum", "minimum", "neg"):
        handles[f"aten::{name}"] = _per_output
        handles[f"aten::{name}_"] = _per_output
    for name in ("relu", "hardtanh", "hardswish", "hardsigmoid", "silu", "gelu", "sigmoid", "tanh", "softmax"):
        handles[f"aten::{name}"] = _per_output
        handles[f"aten::{name}_"] = _per_output
    for name in ("mean", "sum", "amax"):
        handles[f"aten::{name}"] = _per_input
    handles["aten::max"] = _max
    handles["aten::max_pool2d"] = _pool
    handles["aten::avg_pool2d"] = _pool
    handles["aten::scaled_dot_product_attention"] = _sdpa
    return handles


# ops that only move data (padding) or do nothing in eval mode (dropout)
IGNORED = ("aten::pad", "aten::dropout_", "aten::feature_dropout", "aten::feature_dropout_", "aten::alpha_dropout")


HANDLES = _handles()


def as_module(model_or_config: Any) -> nn.Module:
    """A module from a module, a ``BlockConfig`` or a ``NetConfig``."""
    from .block import MetaMobileBlock
    from .network import NetConfig, build

    if isinstance(model_or_config, nn.Module):
        return model_or_config
    if isinstance(model_or_config, BlockConfig):
        return MetaMobileBlock(model_or_config)
    if isinstance(model_or_config, NetConfig):
        return build(model_or_config)
    raise ConfigError(f"expected an nn.Module, BlockConfig or NetConfig; got {type(model_or_config).__name__}")


def default_input_size(model_or_config: Any, input_size: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """``input_size`` when given, else the input a network is meant for: a ``NetConfig``'s (or a built
    network's) ``input_size`` — its ``resolution`` — and ``(3, 224, 224)`` for anything else."""
    if input_size is not None:
        return tuple(input_size)
    from .network import NetConfig

    cfg = model_or_config if isinstance(model_or_config, NetConfig) else getattr(model_or_config, "cfg", None)
    return cfg.input_size if isinstance(cfg, NetConfig) else (3, 224, 224)


def count_params(model_or_config: Any) -> int:
    """Number of parameters (every ``nn.Parameter``, trainable or not)."""
    return sum(p.numel() for p in as_module(model_or_config).parameters())


def flop_analysis(
    model_or_config: Any, input_size: tuple[int, ...] | None = None, *, batch: int = 1, convention: str = "metablock"
) -> Any:
    """fvcore's ``FlopCountAnalysis`` of the module in eval mode, with metablock's handles registered."""
    from fvcore.nn import FlopCountAnalysis

    input_size = default_input_size(model_or_config, input_size)
    if convention not in CONVENTIONS:
        raise ConfigError(f"convention must be one of {CONVENTIONS}; got convention={convention!r}")
    if len(input_size) != 3 or min(input_size) < 1:
        raise ConfigError(f"input_size must be (channels, height, width) > 0; got input_size={input_size}")
    module = as_module(model_or_config)
    was_training = module.training
    module.eval()
    x = torch.zeros((batch, *input_size))
    analysis = FlopCountAnalysis(module, x)
    analysis.set_op_handle(**dict.fromkeys(IGNORED))
    if convention == "metablock":
        analysis.set_op_handle(**HANDLES)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        analysis.total()  # run the trace now, while the module is in eval mode
    module.train(was_training)
    return analysis


def count_macs(
    model_or_config: Any, input_size: tuple[int, ...] | None = None, *, batch: int = 1, convention: str = "metablock"
) -> int:
    """Multiply-accumulates of one forward pass (fvcore's "flops"), for ``batch`` inputs.

    Args:
        model_or_config: an ``nn.Module``, ``BlockConfig`` or ``NetConfig``.
        input_size: ``(channels, height, width)`` of one input; default: a network's own
            (``NetConfig.resolution``), else ``(3, 224, 224)``.
        batch: batch size.
        convention: ``metablock`` (fvcore plus the handles listed in this module's docstring) or
            ``fvcore`` (fvcore's default handles only, as published tables use).
    """
    return int(flop_analysis(model_or_config, input_size, batch=batch, convention=convention).total())


def unsupported_ops(model_or_config: Any, input_size: tuple[int, ...] | None = None) -> dict[str, int]:
    """Ops that the metablock convention leaves uncounted (should be empty for every preset)."""
    return dict(flop_analysis(model_or_config, input_size).unsupported_ops())
