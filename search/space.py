"""Search spaces over stage configurations of the Meta Mobile Block.

A space is data (frozen dataclasses, loadable from YAML or JSON) kept apart from the model: global
choices (input resolution, stem width, head width, activation), and per stage a stride, a depth
range, width choices and per-block choices of operator, expansion λ, kernel and SE ratio, with
attention settings (window size, head dim) that exist only for attention operators. Decoding a set
of choices gives a :class:`metablock.NetConfig`; every block comes from a named operator builder
(:data:`OPS`) that turns the choices into a ``BlockConfig`` through metablock's block presets.

Labels are flat and hierarchical: ``resolution``, ``stem.width``, ``head.width``, ``act``,
``s2.depth``, ``s2.width``, ``s2.act``, ``s2.b0.op``, ``s2.b0.exp``, ``s2.b0.kernel``,
``s2.b0.se``, ``s2.b0.window``, ``s2.b0.head_dim``. Validity holds by construction: a head dim is
offered only where it divides the stage width (its Optuna parameter is then named
``s2.b0.head_dim@w80``, one distribution per width), and :meth:`SearchSpace.check` builds every
combination once.

Example:
    >>> space = get_space("emo")
    >>> cand = space.random(seed=0)
    >>> cand.resolution in space.resolutions
    True
    >>> space.contains(metablock.model_config("emo_1m"))
    True
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import metablock
from metablock import BlockConfig, ConfigError, LayerConfig, NetConfig, presets
from metablock.config import (
    ACTIVATIONS,
    MAX_CHANNELS,
    MAX_KERNEL,
    MAX_RATIO,
    MAX_STAGE_DEPTH,
    IdentityMemo,
    canonical,
    check_data,
    load_text,
    make_divisible,
    typed,
)
from metablock.errors import unknown
from metablock.network import MAX_RESOLUTION, group_blocks
from metablock.registry import Registry

# ------------------------------------------------------------------------------- operators


@dataclass(frozen=True)
class BlockChoice:
    """Everything an operator builder needs for one block."""

    in_chs: int
    out_chs: int
    stride: int
    exp: float
    kernel: int
    se: float
    act: str
    norm_in: str
    first: bool
    head_dim: int = 16
    window: int = 7
    row: tuple[int, ...] = ()


Builder = Callable[[BlockChoice], BlockConfig]

#: block configs built by ``SearchSpace._block``, by operator (identity), choice and ``norm_eps``
_BLOCKS = IdentityMemo()


@dataclass(frozen=True)
class Operator:
    """A named operator: its builder and whether it carries attention settings."""

    build: Builder
    attention: bool = False
    description: str = ""


OPS: Registry[Operator] = Registry("operator")


def _op(name: str, *, attention: bool = False, description: str = "") -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        OPS.add(name, Operator(fn, attention, description))
        return fn

    return deco


def _with_act(cfg: BlockConfig, act: str, default: str, *names: str) -> BlockConfig:
    return cfg if act == default else cfg.replace(**dict.fromkeys(names, act))


def _v3_se(cfg: BlockConfig, se: float) -> BlockConfig:
    if not se:
        return cfg
    return cfg.replace(se_ratio=se, se_ref="hidden", se_round="floor_divisible", se_divisor=8, se_gate="hsigmoid")


@_op("ir", description="MobileNetV2 inverted residual: 1x1 expand, depthwise F, linear 1x1 (SE as in MobileNetV3)")
def _ir(b: BlockChoice) -> BlockConfig:
    cfg = presets.mobilenet_v2_ir(in_chs=b.in_chs, out_chs=b.out_chs, stride=b.stride, exp_ratio=b.exp, kernel=b.kernel)
    return _v3_se(_with_act(cfg, b.act, "relu6", "expand_act", "mixer_act"), b.se)


@_op("mbconv", description="EfficientNet MBConv: expand rounded to 8, depthwise F, SE on the block input width")
def _mbconv(b: BlockChoice) -> BlockConfig:
    cfg = presets.mbconv(
        in_chs=b.in_chs, out_chs=b.out_chs, stride=b.stride, exp_ratio=b.exp, kernel=b.kernel, se_ratio=b.se
    )
    return _with_act(cfg, b.act, "silu", "expand_act", "mixer_act", "se_act")


@_op("fused", description="EfficientNetV2 Fused-MBConv: a full kxk expansion conv (F = identity), linear 1x1")
def _fused(b: BlockChoice) -> BlockConfig:
    cfg = presets.fused_mbconv(in_chs=b.in_chs, out_chs=b.out_chs, stride=b.stride, exp_ratio=b.exp, kernel=b.kernel)
    cfg = _with_act(cfg, b.act, "silu", "expand_act")
    return cfg.replace(se_ratio=b.se, se_ref="in", se_round="floor", se_act=b.act) if b.se else cfg


def _emo(b: BlockChoice, **changes: Any) -> BlockConfig:
    args: dict[str, Any] = dict(
        dim_in=b.in_chs,
        dim_out=b.out_chs,
        norm_in=True,
        has_skip=not b.first,
        exp_ratio=b.exp,
        norm_layer={"bn": "bn_2d", "ln2d": "ln_2d"}[b.norm_in],
        act_layer=b.act,
        v_proj=True,
        dw_ks=b.kernel,
        stride=b.stride,
        se_ratio=b.se,
        dim_head=b.head_dim,
        window_size=b.window,
        attn_s=False,
        qkv_bias=True,
        attn_pre=True,
    )
    return presets.emo_block(**{**args, **changes})


@_op("irmb", description="EMO iRMB without attention: pre-norm, 1x1 expand, depthwise with inner residual, 1x1")
def _irmb(b: BlockChoice) -> BlockConfig:
    return _emo(b)


@_op("window_mhsa", attention=True, description="EMO iRMB with window MHSA cascaded with a depthwise conv")
def _irmb_attn(b: BlockChoice) -> BlockConfig:
    return _emo(b, attn_s=True)


@_op("emo_stem", description="EMO's stem block: iRMB without pre-norm, skip or expansion, with SE")
def _emo_stem(b: BlockChoice) -> BlockConfig:
    return _emo(b, norm_in=False, has_skip=False, exp_ratio=1, norm_layer="bn_2d", v_proj=False)


@_op("repvit", description="RepViT block: RepVGG-style depthwise token mixer and SE, then a GELU FFN residual")
def _repvit(b: BlockChoice) -> BlockConfig:
    if b.stride == 1 and b.in_chs == b.out_chs:
        return presets.repvit_block(chs=b.in_chs, exp_ratio=b.exp, kernel=b.kernel, use_se=b.se > 0)
    cfg = presets.repvit_down(in_chs=b.in_chs, out_chs=b.out_chs, exp_ratio=b.exp, kernel=b.kernel)
    return cfg if b.stride == 2 else cfg.replace(stride=1)


@_op("conv", description="non-depthwise inverted residual: 1x1 expand, full kxk conv F, 1x1, act after the add")
def _conv(b: BlockChoice) -> BlockConfig:
    cfg = presets.nondw_ir(in_chs=b.in_chs, out_chs=b.out_chs, stride=b.stride, exp_ratio=b.exp, kernel=b.kernel)
    cfg = _with_act(cfg, b.act, "relu", "expand_act", "mixer_act", "post_act")
    return _v3_se(cfg, b.se)


@_op("uib", description="MobileNetV4 universal inverted bottleneck, ExtraDW (depthwise before and after expand)")
def _uib(b: BlockChoice) -> BlockConfig:
    return presets._uib(b.in_chs, b.out_chs, b.stride, b.exp, b.kernel, b.kernel, act=b.act)


@_op("ghost", description="GhostNet bottleneck: ghost-module expand, depthwise F at stride 2, SE, ghost-module project")
def _ghost(b: BlockChoice) -> BlockConfig:
    hidden = max(4, make_divisible(b.in_chs * b.exp, 4))
    cfg = presets.ghost_bottleneck(
        in_chs=b.in_chs, out_chs=b.out_chs, stride=b.stride, hidden_chs=hidden, kernel=b.kernel, se_ratio=b.se
    )
    return _with_act(cfg, b.act, "relu", "expand_act")


@_op("mixconv", description="MixNet block: 1x1 expand, mixed depthwise F (kernels 3, 5, ... up to the kernel), SE")
def _mixconv(b: BlockChoice) -> BlockConfig:
    return presets.mixnet_block(
        in_chs=b.in_chs,
        out_chs=b.out_chs,
        stride=b.stride,
        exp_ratio=b.exp,
        kernels=tuple(range(3, b.kernel + 1, 2)) or (b.kernel,),
        groups=1,
        act=b.act,
        se_ratio=b.se,
    )


@_op("mqa", attention=True, description="MobileNetV4 Mobile MQA: BN, multi-query attention (keys/values at stride 2)")
def _mqa(b: BlockChoice) -> BlockConfig:
    cfg = presets.mobile_mqa(chs=b.in_chs, num_heads=max(1, b.in_chs // b.head_dim), head_dim=b.head_dim, kernel=3)
    if b.stride == 1 and b.in_chs == b.out_chs:
        return cfg
    # a block that changes the shape: a strided depthwise conv before the attention, a 1x1 projection after it
    return cfg.replace(
        out_chs=b.out_chs,
        stride=b.stride,
        pre_dw_kernel=b.kernel if b.stride > 1 else 0,
        project="pw",
        shortcut="none",
        layer_scale=None,
    )


@_op("edge", description="EfficientNet-EdgeTPU EdgeResidual (MobileNetV4 FusedIB): kxk expand, SE, linear 1x1")
def _edge(b: BlockChoice) -> BlockConfig:
    cfg = presets.edge_residual(
        in_chs=b.in_chs, out_chs=b.out_chs, stride=b.stride, exp_ratio=b.exp, kernel=b.kernel, se_ratio=b.se
    )
    return _with_act(cfg, b.act, "relu", "expand_act", "se_act")


@_op("regnet", description="RegNetY bottleneck: 1x1, kxk group conv (group width 8) F, SE, 1x1, act after the add")
def _regnet(b: BlockChoice) -> BlockConfig:
    group_width = 8 if b.out_chs % 8 == 0 else 1
    cfg = presets.regnet_y_block(
        in_chs=b.in_chs, out_chs=b.out_chs, stride=b.stride, group_width=group_width, se_ratio=b.se
    )
    cfg = cfg.replace(kernel=b.kernel) if b.kernel != cfg.kernel else cfg
    return _with_act(cfg, b.act, "relu", "expand_act", "mixer_act", "post_act")


def _groups(*widths: int) -> int:
    return next(g for g in (4, 2, 1) if all(w % g == 0 for w in widths))


@_op("shiftmax", description="MicroNet Micro-Block-B/C: grouped 1x1, factorized depthwise, dynamic shift-max")
def _shiftmax(b: BlockChoice) -> BlockConfig:
    c2 = max(1, round(b.exp))
    g = _groups(b.in_chs, b.out_chs)
    row = (b.stride, 1, b.out_chs, b.kernel, 1, c2, g, g, b.out_chs, g, g, 2, 2, 1, 1)
    return presets.micronet_block(in_chs=b.in_chs, row=row)


@_op("micro_row", description="MicroNet micro-block from the stage's configuration row (paths A, B/C, expand)")
def _micro_row(b: BlockChoice) -> BlockConfig:
    if len(b.row) != 15:
        raise ConfigError(f"operator 'micro_row' needs the stage's 15-value MicroNet row; got row={list(b.row)}")
    r = list(b.row)
    same_width = r[8] == r[2]
    r[0], r[1], r[3] = b.stride, 1, b.kernel
    if r[6] == 0:  # path A: the first group conv has as many groups as input channels
        r[7] = b.in_chs
        r[2] = b.out_chs
    elif r[10] == 0:  # the final pointwise expansion: width in * c1 * c2
        r[5] = max(1, round(b.exp))
        r[2] = b.in_chs * r[4] * r[5]
    else:  # path B / C
        r[5] = max(1, round(b.exp))
        r[2] = b.out_chs
    if same_width and r[8]:
        r[8] = r[2]
    return presets.micronet_block(in_chs=b.in_chs, row=r)


#: block presets (``metablock.presets``) that a space's operator builds, for the error that names it
_PRESET_OPERATORS = {
    "mobilenet_v2_ir": "ir",
    "mobilenet_v3_ir": "ir",
    "mobilenet_v3_ir_se": "ir",
    "mobilenet_v3_ir_hswish": "ir",
    "mobilenet_v3_ir_se_hswish": "ir",
    "fused_mbconv": "fused",
    "irmb_attn": "window_mhsa",
    "emo_mhsa": "window_mhsa",
    "nondw_ir": "conv",
    "uib_extradw": "uib",
    "mixnet_block": "mixconv",
    "edge_residual": "edge",
    "mobile_mqa": "mqa",
    "ghost_bottleneck": "ghost",
    "micro_block_a": "micro_row",
    "micro_block_b": "shiftmax",
    "micro_block_c": "shiftmax",
    "regnet_y_block": "regnet",
    "repvit_block": "repvit",
    "repvit_down": "repvit",
}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def list_operators() -> list[str]:
    """Names of the operators a space can use."""
    return OPS.names()


# ------------------------------------------------------------------------------- choosers


class Chooser(Protocol):
    """Makes one choice per label (an Optuna trial, a random generator or stored values)."""

    def categorical(self, label: str, choices: Sequence[Any]) -> Any: ...

    def integer(self, label: str, low: int, high: int) -> int: ...


class TrialChooser:
    """Choices from an Optuna trial (define-by-run)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def categorical(self, label: str, choices: Sequence[Any]) -> Any:
        return self.trial.suggest_categorical(label, list(choices))

    def integer(self, label: str, low: int, high: int) -> int:
        return int(self.trial.suggest_int(label, low, high))


class RandomChooser:
    """Uniform choices from a seeded ``random.Random`` (no global random state)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.params: dict[str, Any] = {}

    def categorical(self, label: str, choices: Sequence[Any]) -> Any:
        self.params[label] = value = self.rng.choice(list(choices))
        return value

    def integer(self, label: str, low: int, high: int) -> int:
        self.params[label] = value = self.rng.randint(low, high)
        return value


class DictChooser:
    """Choices read from stored parameters; a missing or invalid value raises ``ConfigError``."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def _get(self, label: str) -> Any:
        if label not in self.params:
            raise ConfigError(f"parameters have no value for {label!r}")
        return self.params[label]

    def categorical(self, label: str, choices: Sequence[Any]) -> Any:
        value = self._get(label)
        if value not in list(choices):
            raise ConfigError(f"parameter {label}={value!r} is not one of {list(choices)}")
        return value

    def integer(self, label: str, low: int, high: int) -> int:
        value = self._get(label)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"parameter {label}={value!r} must be an integer in [{low}, {high}]")
        return value


# ------------------------------------------------------------------------------- the space


def _tuple(name: str, value: Any, kind: Any) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        value = (value,)
    out = tuple(value)
    for v in out:
        if isinstance(v, bool) and kind is not bool or not isinstance(v, kind):
            raise ConfigError(f"{name} must hold {getattr(kind, '__name__', kind)} values; got {name}={list(out)}")
    return out


@dataclass(frozen=True, kw_only=True)
class StageSpace:
    """The choices of one stage.

    Args:
        stride: stride of the stage's first block (1 or 2).
        depth: ``(min, max)`` number of blocks, inclusive.
        widths: output width choices; empty keeps the input width.
        ops: operator choices per block (operator names: ``search.space.list_operators()``).
        first_ops: operator choices of the first block (default: ``ops``).
        exp_ratios: expansion λ choices per block.
        kernels: kernel choices per block.
        se_ratios: SE ratio choices per block (0 = off).
        acts: activation choices per stage; empty uses the space's global ``act`` choice.
        norm_in: pre-norm of operators that have one (``bn`` or ``ln2d``).
        window_sizes: attention window choices (``<= 0`` is global attention).
        head_dims: attention head-dim choices (only those dividing the block's input width are offered).
        row: a MicroNet configuration row ``(s, n, c, ks, c1, c2, g1, g2, c3, g3, g4, y1, y2, y3, r)``
            for the ``micro_row`` operator (stride, width, kernel and λ come from the choices).
    """

    stride: int = 2
    depth: tuple[int, int] = (1, 3)
    widths: tuple[int, ...] = ()
    ops: tuple[str, ...] = ("ir",)
    first_ops: tuple[str, ...] = ()
    exp_ratios: tuple[float, ...] = (4.0,)
    kernels: tuple[int, ...] = (3,)
    se_ratios: tuple[float, ...] = (0.0,)
    acts: tuple[str, ...] = ()
    norm_in: str = "bn"
    window_sizes: tuple[int, ...] = (7,)
    head_dims: tuple[int, ...] = (16,)
    row: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        conv = {
            "row": int,
            "depth": int,
            "widths": int,
            "ops": str,
            "first_ops": str,
            "exp_ratios": (int, float),
            "kernels": int,
            "se_ratios": (int, float),
            "acts": str,
            "window_sizes": int,
            "head_dims": int,
        }
        for name, kind in conv.items():
            object.__setattr__(self, name, _tuple(name, getattr(self, name), kind))
        object.__setattr__(self, "exp_ratios", tuple(float(v) for v in self.exp_ratios))
        object.__setattr__(self, "se_ratios", tuple(float(v) for v in self.se_ratios))
        if self.stride not in (1, 2):
            raise ConfigError(f"stride must be 1 or 2; got stride={self.stride!r}")
        if len(self.depth) != 2 or not 1 <= self.depth[0] <= self.depth[1] <= MAX_STAGE_DEPTH:
            raise ConfigError(
                f"depth must be [min, max] with 1 <= min <= max <= {MAX_STAGE_DEPTH}; got depth={list(self.depth)}"
            )
        for name in ("ops", "exp_ratios", "kernels", "se_ratios", "window_sizes", "head_dims"):
            if not getattr(self, name):
                raise ConfigError(f"{name} needs at least one choice; got {name}=[]")
        for name in ("ops", "first_ops"):
            for op in getattr(self, name):
                if op not in OPS and op in _PRESET_OPERATORS:
                    raise ConfigError(
                        f"{name}: {op!r} is a block preset, not an operator; the operator that builds it is "
                        f"{_PRESET_OPERATORS[op]!r} (operators: {', '.join(list_operators())})"
                    )
                if op not in OPS:
                    raise unknown(f"operator in {name}", op, OPS)
        for act in self.acts:
            if act not in ACTIVATIONS:
                raise unknown("stage act", act, ACTIVATIONS)
        if self.row and len(self.row) != 15:
            raise ConfigError(f"row needs the 15 values of a MicroNet configuration row; got row={list(self.row)}")
        if self.norm_in not in ("bn", "ln2d"):
            raise ConfigError(f"norm_in must be 'bn' or 'ln2d'; got norm_in={self.norm_in!r}")
        for name, maximum in (("widths", MAX_CHANNELS), ("kernels", MAX_KERNEL), ("head_dims", MAX_CHANNELS)):
            for v in getattr(self, name):
                if not 1 <= v <= maximum:
                    raise ConfigError(f"{name} must be in [1, {maximum}]; got {name}={list(getattr(self, name))}")
        for v in self.window_sizes:
            if abs(v) > MAX_CHANNELS:
                raise ConfigError(
                    f"window_sizes must be within ±{MAX_CHANNELS}; got window_sizes={list(self.window_sizes)}"
                )
        for v in self.kernels:
            if v % 2 == 0:
                raise ConfigError(f"kernels must be odd; got kernels={list(self.kernels)}")
        for v in self.exp_ratios:
            if not 0 < v <= MAX_RATIO:
                raise ConfigError(f"exp_ratios must be in (0, {MAX_RATIO:g}]; got exp_ratios={list(self.exp_ratios)}")
        for v in self.se_ratios:
            if not 0 <= v <= 4:
                raise ConfigError(f"se_ratios must be in [0, 4]; got se_ratios={list(self.se_ratios)}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class SearchSpace:
    """A search space: global choices, the fixed stem and head, and the stages.

    Stem and head are lists of :class:`metablock.LayerConfig` fields in which ``out_chs`` may be
    ``"stem"``, ``"stem/2"`` (the chosen stem width, or half of it) or ``"head"`` (the chosen head
    width), and ``act`` may be ``"act"`` (the chosen global activation).

    Args:
        name: the space's name.
        resolutions: input resolution choices (square inputs).
        stem_widths: stem width choices.
        head_widths: head width choices (used where the head says ``"head"``).
        acts: global activation choices (stem, head and stages without their own ``acts``).
        stem: stem layer templates.
        head: head layer templates.
        stages: the stages.
        norm_eps: when set, every block's norm epsilon.
        contains_models: named networks (``metablock.list_models()``) that are points of the space.
        description: one line on what the space is (``metablock space list`` shows it).
    """

    name: str = "custom"
    description: str = ""
    resolutions: tuple[int, ...] = (224,)
    stem_widths: tuple[int, ...] = (16,)
    head_widths: tuple[int, ...] = (0,)
    acts: tuple[str, ...] = ("relu",)
    stem: tuple[Mapping[str, Any], ...] = ({"kind": "conv", "out_chs": "stem", "kernel": 3, "stride": 2,
                                            "norm": "bn", "act": "act"},)  # fmt: skip
    head: tuple[Mapping[str, Any], ...] = ({"kind": "pool"}, {"kind": "linear", "bias": True})
    stages: tuple[StageSpace, ...] = ()
    norm_eps: float | None = None
    contains_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, kind in (("resolutions", int), ("stem_widths", int), ("head_widths", int), ("acts", str)):
            object.__setattr__(self, name, _tuple(name, getattr(self, name), kind))
            if not getattr(self, name):
                raise ConfigError(f"{name} needs at least one choice; got {name}=[]")
        object.__setattr__(self, "contains_models", _tuple("contains_models", self.contains_models, str))
        for r in self.resolutions:
            if not 32 <= r <= MAX_RESOLUTION:
                raise ConfigError(
                    f"resolutions must be in [32, {MAX_RESOLUTION}]; got resolutions={list(self.resolutions)}"
                )
        for name in ("stem_widths", "head_widths"):
            for w in getattr(self, name):
                if not (0 if name == "head_widths" else 1) <= w <= MAX_CHANNELS:
                    raise ConfigError(f"{name} must be in [1, {MAX_CHANNELS}]; got {name}={list(getattr(self, name))}")
        for act in self.acts:
            if act not in ACTIVATIONS:
                raise unknown("act", act, ACTIVATIONS)
        for name in ("stem", "head"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, Mapping) for v in value):
                raise ConfigError(f"{name} must be a list of layer mappings; got {name}={value!r}")
            object.__setattr__(self, name, tuple(dict(v) for v in value))
        if not isinstance(self.stages, (list, tuple)):
            raise ConfigError(f"stages must be a list of stage mappings; got stages={self.stages!r}")
        stages = []
        for i, s in enumerate(self.stages):
            if isinstance(s, StageSpace):
                stages.append(s)
                continue
            if not isinstance(s, Mapping):
                raise ConfigError(f"stages[{i}] must be a mapping; got {s!r}")
            valid = {f.name for f in fields(StageSpace)}
            for key in s:
                if key not in valid:
                    raise unknown(f"stages[{i}] field", key, valid)
            try:
                stages.append(StageSpace(**s))
            except ConfigError as exc:
                raise ConfigError(f"stages[{i}]: {exc}") from None
        if not stages:
            raise ConfigError("a search space needs at least one stage; got stages=[]")
        object.__setattr__(self, "stages", tuple(stages))
        for i, s in enumerate(self.stages):
            first_ops = s.first_ops or s.ops
            widths = {w: f"stages[{i}].widths" for w in s.widths} if any(OPS.get(op).attention for op in s.ops) else {}
            if any(OPS.get(op).attention for op in first_ops):
                source = self._input_source(i)
                for w in self._input_widths(i):
                    widths.setdefault(w, f"its input width, from {source}")
            for w, source in sorted(widths.items()):
                if not any(w % h == 0 for h in s.head_dims):
                    raise ConfigError(
                        f"stages[{i}].head_dims={list(s.head_dims)}: attention needs width % head_dim == 0, and "
                        f"width {w} ({source}) is divisible by none of them; add a head_dim that divides it"
                    )
        self._check_used()
        for model in self.contains_models:
            metablock.zoo.MODELS.get(model)

    def _check_used(self) -> None:
        """Refuse a field the space would ignore (a choice nothing reads, or one that changes no block):
        a sampler would spend a dimension on it and the front would collapse onto its cheapest value."""
        placeholders = {str(t.get("out_chs")) for t in (*self.stem, *self.head)}
        by_stem = any(isinstance(v, Mapping) and "by_stem" in v for t in self.stem + self.head for v in t.values())
        if self.head_widths != (0,) and "head" not in placeholders:
            raise ConfigError(
                f"head_widths={list(self.head_widths)} is not used: no head layer has out_chs: head; give a head "
                "layer out_chs: head, or leave head_widths out"
            )
        if len(self.stem_widths) > 1 and not placeholders & {"stem", "stem/2"} and not by_stem:
            raise ConfigError(
                f"stem_widths={list(self.stem_widths)} is not used: no stem layer has out_chs: stem (or stem/2); "
                "give one, or keep a single stem width"
            )
        defaults = StageSpace()
        for i, s in enumerate(self.stages):
            ops = {*s.ops, *s.first_ops}
            ignored = _fields_without_operator(ops)
            if s.first_ops and s.depth[1] == 1 and set(s.ops) - set(s.first_ops):
                ignored.append(("ops", "only the first block, which takes first_ops"))
            for name, why in ignored:
                if getattr(s, name) != getattr(defaults, name):
                    raise ConfigError(
                        f"stages[{i}].{name}={_plain(getattr(s, name))} is not used: the stage has {why} "
                        f"(ops: {sorted(ops)}); leave {name} out"
                    )
            for name, label in (("exp_ratios", "exp"), ("kernels", "kernel"), ("se_ratios", "se"), ("acts", "act")):
                values = getattr(s, name)
                if len(values) > 1 and not self._choice_changes_a_block(i, label, values):
                    raise ConfigError(
                        f"stages[{i}].{name}={_plain(values)} changes no block: none of the stage's operators "
                        f"{sorted(ops)} uses it; keep one value"
                    )

    def _choice_changes_a_block(self, index: int, label: str, values: tuple[Any, ...]) -> bool:
        """Whether some operator of stage ``index`` builds a different block for two of ``values``."""
        s = self.stages[index]
        cin = self._input_widths(index)[0]
        out = s.widths[0] if s.widths else cin
        act = (s.acts or self.acts)[0]
        for first, ops in ((True, s.first_ops or s.ops), (False, s.ops if s.depth[1] > 1 else ())):
            chs = cin if first else out
            for op in ops:
                seen = set()
                for v in values:
                    base = dict(exp=s.exp_ratios[0], kernel=s.kernels[0], se=s.se_ratios[0], act=act,
                                head_dim=(_head_dims(s, chs) or s.head_dims)[0], window=s.window_sizes[0])  # fmt: skip
                    base[label] = v
                    try:
                        cfg = OPS.get(op).build(_choice(s, chs, out, first, **base))
                    except ConfigError:
                        return True  # a value that is refused somewhere still matters
                    seen.add(json.dumps(_relevant(cfg), sort_keys=True, default=str))
                if len(seen) > 1:
                    return True
        return False

    def _input_source(self, index: int) -> str:
        for j in range(index - 1, -1, -1):
            if self.stages[j].widths:
                return f"stages[{j}].widths"
        return "stem_widths"

    def _input_widths(self, index: int) -> tuple[int, ...]:
        for s in reversed(self.stages[:index]):
            if s.widths:
                return s.widths
        return self.stem_widths

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "stages":
                v = [s.to_dict() for s in v]
            elif f.name in ("stem", "head"):
                v = [dict(x) for x in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        if not isinstance(data, Mapping):
            raise ConfigError(f"a search space must be a mapping; got {type(data).__name__}")
        check_data(dict(data), "search space")
        valid = {f.name for f in fields(cls)}
        for key in data:
            if key not in valid:
                raise unknown("SearchSpace field", key, valid)
        return cls(**data)

    def replace(self, **changes: Any) -> SearchSpace:
        valid = {f.name for f in fields(self)}
        for key in changes:
            if key not in valid:
                raise unknown("SearchSpace field", key, valid)
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ decoding
    def decode(self, chooser: Chooser) -> Candidate:
        """Make every choice through ``chooser`` and return the candidate network."""
        arch: dict[str, Any] = {}

        def cat(label: str, choices: Sequence[Any], store: str | None = None) -> Any:
            value = chooser.categorical(label, choices) if len(choices) > 1 else choices[0]
            arch[store or label] = value
            return value

        resolution = cat("resolution", self.resolutions)
        stem_w = cat("stem.width", self.stem_widths)
        head_w = cat("head.width", self.head_widths)
        act = cat("act", self.acts)
        stem = tuple(_layer(t, stem_w, head_w, act) for t in self.stem)
        head = tuple(_layer(t, stem_w, head_w, act) for t in self.head)
        chs = _stem_out(stem, 3)
        blocks: list[BlockConfig] = []
        for si, stage in enumerate(self.stages):
            p = f"s{si}"
            lo, hi = stage.depth
            depth = chooser.integer(f"{p}.depth", lo, hi) if hi > lo else lo
            arch[f"{p}.depth"] = depth
            width = cat(f"{p}.width", stage.widths) if stage.widths else chs
            arch[f"{p}.width"] = width
            stage_act = cat(f"{p}.act", stage.acts) if stage.acts else act
            for bi in range(depth):
                q = f"{p}.b{bi}"
                first = bi == 0
                op_name = cat(f"{q}.op", stage.first_ops if first and stage.first_ops else stage.ops)
                op = OPS.get(op_name)
                exp = cat(f"{q}.exp", stage.exp_ratios)
                kernel = cat(f"{q}.kernel", stage.kernels)
                se = cat(f"{q}.se", stage.se_ratios)
                head_dim, window = stage.head_dims[0], stage.window_sizes[0]
                if op.attention:
                    window = cat(f"{q}.window", stage.window_sizes)
                    dims = _head_dims(stage, chs)
                    label = f"{q}.head_dim" if dims == stage.head_dims else f"{q}.head_dim@w{chs}"
                    head_dim = cat(label, dims, store=f"{q}.head_dim")
                values = dict(exp=exp, kernel=kernel, se=se, act=stage_act, head_dim=head_dim, window=window)
                choice = _choice(stage, chs, width, first, **values)
                blocks.append(self._block(op_name, choice))
                chs = width = blocks[-1].out_chs
            arch[f"{p}.width"] = width
        net = NetConfig(
            name=f"{self.name}-candidate",
            stem=stem,
            stages=metablock.stages_from_blocks(blocks),
            head=head,
            resolution=int(resolution),
        )
        return Candidate(net=net, resolution=int(resolution), arch=arch)

    def _block(self, op_name: str, choice: BlockChoice) -> BlockConfig:
        # a pure function of the operator, the choice and the space's norm_eps: decoding draws the same
        # few thousand blocks again and again, so each is built (and validated) once
        key = typed([("op", op_name), *vars(choice).items(), ("norm_eps", self.norm_eps)])
        return _BLOCKS.get_or_make(OPS.get(op_name), lambda: self._build_block(op_name, choice), key)

    def _build_block(self, op_name: str, choice: BlockChoice) -> BlockConfig:
        try:
            cfg = OPS.get(op_name).build(choice)
            if self.norm_eps is not None and cfg.norm_eps != self.norm_eps:
                cfg = cfg.replace(norm_eps=self.norm_eps)
        except ConfigError as exc:
            raise ConfigError(f"space {self.name!r}: operator {op_name!r} with {choice}: {exc}") from None
        return cfg

    def suggest(self, trial: Any) -> Candidate:
        """The candidate chosen by an Optuna trial (define-by-run)."""
        return self.decode(TrialChooser(trial))

    def random(self, seed: int) -> Candidate:
        """A uniformly random candidate from a seeded generator."""
        chooser = RandomChooser(seed)
        cand = self.decode(chooser)
        return dataclasses.replace(cand, params=chooser.params)

    def from_params(self, params: Mapping[str, Any]) -> Candidate:
        """Rebuild the candidate of stored Optuna parameters (``trial.params``)."""
        return dataclasses.replace(self.decode(DictChooser(params)), params=dict(params))

    # ------------------------------------------------------------------ containment
    def encode(self, cfg: NetConfig, resolution: int | None = None) -> dict[str, Any] | None:
        """The parameters that make ``cfg`` a point of this space, or ``None`` if it is not one
        (at ``resolution``; default: the config's own).

        Two networks are the same point when they build the same modules: block fields that a block
        does not use (attention settings of a block without attention, say) are ignored.
        """
        resolution = cfg.resolution if resolution is None else resolution
        if resolution not in self.resolutions:
            return None
        groups = _groups_of(cfg)
        if len(groups) != len(self.stages):
            return None
        for base in itertools.product(self.stem_widths, self.head_widths, self.acts):
            params = self._encode_with(cfg, groups, resolution, *base)
            if params is not None:
                try:
                    cand = self.from_params(params)
                except ConfigError:
                    continue
                if _same_net(cand.net, cfg):
                    return params
        return None

    def _encode_with(
        self, cfg: NetConfig, groups: list[list[BlockConfig]], resolution: int, stem_w: int, head_w: int, act: str
    ) -> dict[str, Any] | None:
        params: dict[str, Any] = {}

        def put(label: str, value: Any, choices: Sequence[Any]) -> None:
            if len(choices) > 1:
                params[label] = value

        put("resolution", resolution, self.resolutions)
        put("stem.width", stem_w, self.stem_widths)
        put("head.width", head_w, self.head_widths)
        put("act", act, self.acts)
        stem = tuple(_layer(t, stem_w, head_w, act) for t in self.stem)
        head = tuple(_layer(t, stem_w, head_w, act) for t in self.head)
        if stem != cfg.stem or head != cfg.head:
            return None
        chs = _stem_out(stem, 3)
        for si, (stage, blocks) in enumerate(zip(self.stages, groups, strict=True)):
            p = f"s{si}"
            lo, hi = stage.depth
            width = blocks[0].out_chs
            if not lo <= len(blocks) <= hi or blocks[0].stride != stage.stride:
                return None
            if stage.widths and width not in stage.widths:
                return None
            if hi > lo:
                params[f"{p}.depth"] = len(blocks)
            put(f"{p}.width", width, stage.widths)
            found = None
            for stage_act in stage.acts or (act,):
                found = self._encode_blocks(stage, p, blocks, chs, stage_act)
                if found is not None:
                    put(f"{p}.act", stage_act, stage.acts)
                    break
            if found is None:
                return None
            params.update(found)
            chs = width
        return params

    def _encode_blocks(
        self, stage: StageSpace, p: str, blocks: list[BlockConfig], in_chs: int, act: str
    ) -> dict[str, Any] | None:
        params: dict[str, Any] = {}
        chs = in_chs
        for bi, target in enumerate(blocks):
            q = f"{p}.b{bi}"
            first = bi == 0
            want = _relevant(target)
            ops = stage.first_ops if first and stage.first_ops else stage.ops
            match = None
            for op_name in ops:
                op = OPS.get(op_name)
                attn = (
                    itertools.product(stage.window_sizes, _head_dims(stage, chs))
                    if op.attention
                    else [(stage.window_sizes[0], stage.head_dims[0])]
                )
                for exp, kernel, se, (window, head_dim) in itertools.product(
                    stage.exp_ratios, stage.kernels, stage.se_ratios, attn
                ):
                    out = target.out_chs if stage.widths else chs
                    choice = _choice(
                        stage, chs, out, first, exp=exp, kernel=kernel, se=se, act=act, head_dim=head_dim, window=window
                    )
                    try:
                        got = self._block(op_name, choice)
                    except ConfigError:
                        continue
                    if _relevant(got) == want:
                        match = (op_name, op, exp, kernel, se, window, head_dim)
                        break
                if match:
                    break
            if match is None:
                return None
            op_name, op, exp, kernel, se, window, head_dim = match
            for label, value, choices in (
                (f"{q}.op", op_name, ops),
                (f"{q}.exp", exp, stage.exp_ratios),
                (f"{q}.kernel", kernel, stage.kernels),
                (f"{q}.se", se, stage.se_ratios),
            ):
                if len(choices) > 1:
                    params[label] = value
            if op.attention:
                if len(stage.window_sizes) > 1:
                    params[f"{q}.window"] = window
                dims = _head_dims(stage, chs)
                if len(dims) > 1:
                    label = f"{q}.head_dim" if dims == stage.head_dims else f"{q}.head_dim@w{chs}"
                    params[label] = head_dim
            chs = target.out_chs
        return params

    def contains(self, cfg: NetConfig, resolution: int | None = None) -> bool:
        """Whether ``cfg`` (at ``resolution``) is a point of this space."""
        return self.encode(cfg, resolution) is not None

    def baselines(self) -> dict[str, dict[str, Any]]:
        """Parameters of every named network this space claims to contain, for ``study.enqueue_trial``."""
        out = {}
        for name in self.contains_models:
            params = self.encode(metablock.model_config(name), 224 if 224 in self.resolutions else self.resolutions[-1])
            if params is None:
                raise ConfigError(f"space {self.name!r} lists {name!r} in contains_models, but does not contain it")
            out[name] = params
        return out

    def check(self, seeds: Iterable[int] = range(20)) -> None:
        """Build ``BlockConfig``s for every operator/width/λ/kernel/SE combination and a few random
        candidates; raises ``ConfigError`` naming the first combination that is invalid."""
        for si, stage in enumerate(self.stages):
            in_widths = self._input_widths(si)
            widths = stage.widths or in_widths
            for op_name in {*stage.ops, *stage.first_ops}:
                op = OPS.get(op_name)
                for cin, w, exp, k, se, first in itertools.product(
                    set(in_widths) | set(widths),
                    widths,
                    stage.exp_ratios,
                    stage.kernels,
                    stage.se_ratios,
                    (True, False),
                ):
                    if not first and cin != w or op_name not in (stage.first_ops or stage.ops if first else stage.ops):
                        continue
                    for hd in _head_dims(stage, cin) if op.attention else (stage.head_dims[0],):
                        self._block(
                            op_name,
                            _choice(
                                stage,
                                cin,
                                w,
                                first,
                                exp=exp,
                                kernel=k,
                                se=se,
                                act=(stage.acts or self.acts)[0],
                                head_dim=hd,
                                window=stage.window_sizes[0],
                            ),
                        )
        for seed in seeds:
            self.random(seed)


@dataclass(frozen=True)
class Candidate:
    """A decoded point of a space: the network, its input resolution and its flat labelled choices."""

    net: NetConfig
    resolution: int
    arch: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return (self.net.in_chans, self.resolution, self.resolution)


def _choice(stage: StageSpace, in_chs: int, out_chs: int, first: bool, **values: Any) -> BlockChoice:
    """The builder input of one block of ``stage``: stride, pre-norm and row come from the stage."""
    return BlockChoice(
        in_chs=in_chs,
        out_chs=out_chs,
        stride=stage.stride if first else 1,
        norm_in=stage.norm_in,
        first=first,
        row=stage.row,
        **values,
    )


def _head_dims(stage: StageSpace, width: int) -> tuple[int, ...]:
    return tuple(h for h in stage.head_dims if width % h == 0)


def _layer(template: Mapping[str, Any], stem_w: int, head_w: int, act: str) -> LayerConfig:
    values = dict(template)
    for key, value in template.items():
        if isinstance(value, Mapping) and set(value) == {"by_stem"}:
            by_stem = value["by_stem"]
            if not isinstance(by_stem, Mapping) or not all(str(k).lstrip("-").isdigit() for k in by_stem):
                raise ConfigError(f"layer {key}.by_stem must map stem widths to values; got by_stem={by_stem!r}")
            table = {int(k): v for k, v in by_stem.items()}
            if stem_w not in table:
                raise ConfigError(f"layer {key} by_stem has no value for stem width {stem_w}; got {sorted(table)}")
            values[key] = table[stem_w]
    out = values.get("out_chs")
    if isinstance(out, str):
        sizes = {"stem": stem_w, "stem/2": stem_w // 2, "head": head_w}
        if out not in sizes:
            raise unknown("layer out_chs placeholder", out, sizes)
        values["out_chs"] = sizes[out]
    if values.get("act") == "act":
        values["act"] = act
    try:
        return LayerConfig.from_dict(values)
    except TypeError as exc:
        raise ConfigError(f"invalid layer template {dict(template)!r}: {exc}") from None


def _stem_out(stem: tuple[LayerConfig, ...], chs: int) -> int:
    for layer in stem:
        if layer.kind in ("conv", "factorized_conv"):
            chs = layer.out_chs
    return chs


def _groups_of(cfg: NetConfig) -> list[list[BlockConfig]]:
    """The network's blocks grouped as the space's stages are (a new group at every shape change)."""
    return group_blocks([b for blocks in cfg.block_configs() for b in blocks])


_ATTENTION_FIELDS = ("window_size", "head_dim", "attn_pre", "v_group", "qkv_bias", "attn_drop")
_REP_FIELDS = ("rep_scale", "rep_identity", "rep_post_norm")


def _relevant(cfg: BlockConfig) -> dict[str, Any]:
    """The fields of ``cfg`` that change the module it builds."""
    d = canonical(cfg).to_dict()
    if cfg.mixer not in ("window_mhsa", "mqa"):
        for k in _ATTENTION_FIELDS:
            d.pop(k)
    if cfg.mixer != "rep_dw":
        for k in _REP_FIELDS:
            d.pop(k)
    if cfg.expand == "none":
        for k in ("exp_ratio", "expand_act", "expand_kernel", "expand_groups", "expand_norm", "expand_bias"):
            d.pop(k)
    d["widths"] = cfg.widths()
    return d


def _same_net(a: NetConfig, b: NetConfig) -> bool:
    if a.stem != b.stem or a.head != b.head or a.in_chans != b.in_chans or a.width_mult != b.width_mult:
        return False
    ba = [_relevant(x) for s in a.block_configs() for x in s]
    bb = [_relevant(x) for s in b.block_configs() for x in s]
    return ba == bb


# ------------------------------------------------------------------------------- named spaces

SPACES: Registry[Callable[[], SearchSpace]] = Registry("search space")


def list_spaces() -> list[str]:
    """Names of the built-in spaces."""
    return SPACES.names()


def get_space(name: str | SearchSpace | Mapping[str, Any]) -> SearchSpace:
    """A built-in space by name, a space itself, or one from a mapping or a ``.yaml``/``.json`` path."""
    if isinstance(name, SearchSpace):
        return name
    if isinstance(name, Mapping):
        return SearchSpace.from_dict(name)
    if isinstance(name, (str, Path)) and str(name).endswith((".yaml", ".yml", ".json")):
        return load_space(name)
    return SPACES.get(str(name))()


def load_space(path: str | Path) -> SearchSpace:
    """Load a space from a YAML or JSON file (safe loaders only)."""

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read space file {str(path)!r}: {exc.strerror}") from None
    data = load_text(text, "json" if path.suffix == ".json" else "yaml", f"space file {str(path)!r}")
    try:
        return SearchSpace.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"space file {str(path)!r}: {exc}") from None


def _fields_without_operator(ops: Iterable[Any]) -> list[tuple[str, str]]:
    """``(field, why)`` of the stage fields that none of ``ops`` reads: the attention fields without an
    attention operator, ``row`` without ``micro_row`` (unknown names read nothing)."""
    ops = [op for op in ops if isinstance(op, str) and op in OPS]
    out = []
    if not any(OPS.get(op).attention for op in ops):
        out += [(name, "no attention operator") for name in ("window_sizes", "head_dims")]
    if "micro_row" not in ops:
        out.append(("row", "no micro_row operator"))
    return out


def without_unused(data: Mapping[str, Any]) -> dict[str, Any]:
    """A space mapping without the stage fields no operator of the stage reads (attention fields of a
    stage without attention, ``row`` without ``micro_row``): how a space stored by a study made before
    such fields were refused loads today (``SearchSpace.from_dict(without_unused(stored))``)."""
    out = dict(data)
    stages = []
    for stage in out.get("stages") or []:
        if isinstance(stage, Mapping):
            stage = dict(stage)
            ops = [*(stage.get("ops") or []), *(stage.get("first_ops") or [])]
            for name, _ in _fields_without_operator(ops):
                stage.pop(name, None)
        stages.append(stage)
    if "stages" in out:
        out["stages"] = stages
    return out


def random_config(space: str | SearchSpace, seed: int) -> NetConfig:
    """The network of a uniformly random point of ``space`` (seeded)."""
    return get_space(space).random(seed).net


#: the built-in spaces: YAML files shipped in the package, read by :func:`load_space` as users' files are
SPACE_DIR = Path(__file__).resolve().parent / "spaces"


@functools.cache
def _builtin(name: str) -> SearchSpace:
    space = load_space(SPACE_DIR / f"{name}.yaml")
    if space.name != name:
        raise ConfigError(f"built-in space file {name}.yaml names its space {space.name!r}; the names must match")
    return space


for _path in sorted(SPACE_DIR.glob("*.yaml")):
    SPACES.add(_path.stem, functools.partial(_builtin, _path.stem))


# ------------------------------------------------------------------------------- YAML templates
def _field_docs(cls: type) -> dict[str, str]:
    """``field: meaning`` from the ``Args:`` section of a dataclass docstring."""
    import inspect

    doc = inspect.getdoc(cls) or ""
    out: dict[str, str] = {}
    if "Args:" not in doc:
        return out
    current = ""
    for line in doc.split("Args:", 1)[1].splitlines():
        if not line.strip():
            continue
        stripped = line.strip()
        name, sep, text = stripped.partition(":")
        if line.startswith("    ") and not line.startswith("        ") and sep and name.isidentifier():
            current = name
            out[name] = text.strip()
        elif current:
            out[current] += " " + stripped
    return {k: re.sub(r":\w+:`([^`]*)`", r"\1", v).replace("``", "") for k, v in out.items()}


def _flow(value: Any) -> str:
    import yaml

    text = str(yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000))
    return text.removesuffix("\n...\n").strip()  # a plain scalar's document end marker


def _comment(text: str, indent: str) -> list[str]:
    import textwrap

    hang = " " * (len(text) - len(text.lstrip()) + 2)
    return [f"{indent}# {line}" for line in textwrap.wrap(text, 96 - len(indent), subsequent_indent=hang)]


def space_yaml(space: str | SearchSpace | Mapping[str, Any]) -> str:
    """A space as a commented YAML file: every field with its meaning, in the format
    :func:`load_space` reads (``load_space`` of the text gives the same space back)."""
    space = get_space(space)
    data = space.to_dict()
    top, stage_docs = _field_docs(SearchSpace), _field_docs(StageSpace)
    lines = [
        f"# Search space {space.name!r}: metablock search --space THIS_FILE.yaml",
        "# Every field is listed with its meaning; a field left out takes its default. Stem and head",
        "# layers take metablock.LayerConfig fields; out_chs may be 'stem', 'stem/2' or 'head' (the chosen",
        "# widths) and act may be 'act' (the chosen global activation).",
        *_comment(f"Operators: {', '.join(list_operators())}.", ""),
        "",
    ]
    for key, value in data.items():
        if key == "stages":
            continue
        lines += _comment(f"{key}: {top.get(key, '')}", "")
        if key in ("stem", "head"):
            lines.append(f"{key}:")
            lines += [f"  - {_flow(v)}" for v in value]
        else:
            lines.append(f"{key}: {_flow(value)}")
    lines += ["", *_comment(f"stages: {top.get('stages', '')} Each stage's fields:", "")]
    for key in data["stages"][0] if data["stages"] else ():
        lines += _comment(f"  {key}: {stage_docs.get(key, '')}", "")
    lines.append("stages:")
    for stage in data["stages"]:
        for i, (key, value) in enumerate(stage.items()):
            lines.append(f"{'  - ' if i == 0 else '    '}{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def _type_name(annotation: str) -> str:
    words = {f"tuple[{t}, ...]": f"list of {t}" for t in ("int", "str", "float")}
    words |= {"tuple[int, int]": "[min, max]", "float | None": "float or null"}
    words |= {"tuple[StageSpace, ...]": "list of stages", "tuple[Mapping[str, Any], ...]": "list of layers"}
    return words.get(annotation, annotation)


def schema_markdown() -> str:
    """README's table of a space file's fields (field, type, default, meaning), from the dataclasses."""
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for cls, prefix in ((SearchSpace, ""), (StageSpace, "stages[i].")):
        docs = _field_docs(cls)
        for f in fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            shown = "(required)" if default is dataclasses.MISSING else _flow(_plain(default))
            if f.name in ("stem", "head"):
                shown = _flow([dict(x) for x in default])
            if f.name == "stages":
                shown = "(at least one)"
            meaning = docs.get(f.name, "").replace("|", "\\|")
            rows.append(f"| `{prefix}{f.name}` | {_type_name(str(f.type))} | `{shown}` | {meaning} |")
    rows += ["", "| operator | block | builds the preset |", "|---|---|---|"]
    presets_of = {
        op: [op] * (op in presets.BLOCKS) + [p for p, o in _PRESET_OPERATORS.items() if o == op]
        for op in list_operators()
    }
    for op in list_operators():
        built = ", ".join(f"`{p}`" for p in presets_of[op]) or "—"
        rows.append(f"| `{op}` | {OPS.get(op).description} | {built} |")
    return "\n".join(rows)
