"""Networks as data: ``NetConfig`` (stem, stages of Meta Mobile Blocks, head) and ``build``.

A stage is a block template, a depth, a width and a first-block stride; ``first`` overrides apply to
the first block (the one that changes the shape) and ``overrides[i]`` to block ``i``. Every stage
block is a :class:`MetaMobileBlock`; stem and head are short lists of :class:`LayerConfig`.

Example:
    >>> from metablock import NetConfig, LayerConfig, StageConfig, block_config, build
    >>> cfg = NetConfig(
    ...     stem=(LayerConfig(kind="conv", out_chs=16, kernel=3, stride=2, norm="bn", act="relu"),),
    ...     stages=(StageConfig(block=block_config("mobilenet_v2_ir", in_chs=16, out_chs=16), depth=2,
    ...                         out_chs=24, stride=2),),
    ...     head=(LayerConfig(kind="pool"), LayerConfig(kind="linear")),
    ...     num_classes=10,
    ... )
    >>> build(cfg)(torch.randn(1, 3, 32, 32)).shape
    torch.Size([1, 10])
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import nn

from .block import MetaMobileBlock
from .config import (
    ACTIVATIONS,
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_KERNEL,
    MAX_RATIO,
    MAX_STAGE_DEPTH,
    PADDINGS,
    Act,
    BlockConfig,
    IdentityMemo,
    ShiftMaxConfig,
    _shiftmax_from_dict,
    canonical,
    check_data,
    check_field_types,
    check_weights_fit,
    load_text,
    make_divisible,
    replaced,
)
from .errors import ConfigError, unknown
from .layers import ChannelShuffle, ConvNormAct, create_act, create_norm, run

LAYER_KINDS = ("conv", "maxpool", "factorized_conv", "norm", "act", "pool", "dropout", "linear", "distilled_linear")
LINEAR_NORMS = ("none", "bn_before", "bn_after")


MIN_RESOLUTION = 8
MAX_RESOLUTION = 8192
#: the largest ``NetConfig.depth_mult`` (EfficientNet-L2's is 3.1)
MAX_DEPTH_MULT = 8.0


def _plain(value: Any) -> Any:
    """JSON-compatible form of config values (tuples -> lists, ShiftMaxConfig -> {'shiftmax': ...})."""
    if isinstance(value, ShiftMaxConfig):
        return {"shiftmax": value.to_dict()}
    if isinstance(value, (BlockConfig, LayerConfig, StageConfig)):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _value(value: Any) -> Any:
    if isinstance(value, Mapping) and set(value) == {"shiftmax"}:
        return _shiftmax_from_dict("act", dict(value))
    if isinstance(value, list):
        return tuple(value)
    return value


def _override(data: Mapping[str, Any]) -> dict[str, Any]:
    """Block field overrides with JSON forms turned back into config values."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"stage overrides must be mappings of BlockConfig fields; got {data!r}")
    return {k: _value(v) for k, v in data.items()}


def _check_keys(kind: str, data: Mapping[str, Any], cls: type, *, complete: bool = True) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"a {kind} must be a mapping; got {data!r}")
    valid = {f.name for f in fields(cls) if f.init}
    for key in data:
        if key not in valid:
            raise unknown(f"{kind} field", key, valid)
    required = [
        f.name
        for f in fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in data]
    if complete and missing:
        raise ConfigError(f"a {kind} needs {', '.join(missing)}; got fields {sorted(data)}")


@dataclass(frozen=True, kw_only=True)
class LayerConfig:
    """One stem or head layer.

    Kinds: ``conv`` (conv + norm + act), ``maxpool``, ``factorized_conv`` (MicroNet stem: k×1 conv
    to ``factor_groups[0]`` channels, grouped 1×k conv to their product, shuffle, then act or a
    channel max-pool over ``max_group`` channels), ``norm`` (``bn``/``ln2d`` on the feature map),
    ``act``, ``pool`` (global average, flattened), ``dropout``, ``linear`` (``out_chs=0`` means
    ``num_classes``; ``norm`` is ``bn_before`` or ``bn_after``) and ``distilled_linear`` (two
    BatchNorm1d + Linear heads whose outputs are averaged, RepViT). A ``conv`` layer's ``padding``
    is ``symmetric`` or ``same`` (TensorFlow's SAME, see :class:`metablock.BlockConfig`).
    """

    kind: str
    out_chs: int = 0
    kernel: int = 3
    stride: int = 1
    groups: int = 1
    factor_groups: tuple[int, int] = (1, 1)
    max_group: int = 1
    bias: bool = False
    norm: str = "none"
    act: Act = "none"
    p: float = 0.0
    eps: float = 1e-5
    momentum: float = 0.1
    padding: str = "symmetric"

    def __post_init__(self) -> None:
        if not isinstance(self.factor_groups, (list, tuple)) or len(self.factor_groups) != 2:
            raise ConfigError(f"layer factor_groups must be two integers; got factor_groups={self.factor_groups!r}")
        object.__setattr__(self, "factor_groups", tuple(self.factor_groups))
        if isinstance(self.act, Mapping):
            object.__setattr__(self, "act", _shiftmax_from_dict("act", dict(self.act)))
        elif not isinstance(self.act, (str, ShiftMaxConfig)):
            raise ConfigError(f"layer act must be an activation name or a shiftmax mapping; got act={self.act!r}")
        check_field_types(self)
        for g in self.factor_groups:
            if isinstance(g, bool) or not isinstance(g, int) or not 1 <= g <= MAX_CHANNELS:
                raise ConfigError(
                    f"layer factor_groups must be integers in [1, {MAX_CHANNELS}]; got "
                    f"factor_groups={self.factor_groups}"
                )
        for name in ("groups", "max_group", "out_chs"):
            low = 0 if name == "out_chs" else 1
            if not low <= getattr(self, name) <= MAX_CHANNELS:
                raise ConfigError(f"layer {name} must be in [{low}, {MAX_CHANNELS}]; got {name}={getattr(self, name)}")
        if self.kernel > MAX_KERNEL:
            raise ConfigError(f"layer kernel must be <= {MAX_KERNEL}; got kernel={self.kernel}")
        if not self.eps > 0 or not 0 <= self.momentum <= 1:
            raise ConfigError(
                f"layer eps must be > 0 and momentum in [0, 1]; got eps={self.eps}, momentum={self.momentum}"
            )
        if self.kind not in LAYER_KINDS:
            raise unknown("layer kind", self.kind, LAYER_KINDS)
        if isinstance(self.act, str) and self.act not in ACTIVATIONS:
            raise unknown("layer act", self.act, ACTIVATIONS)
        if self.kind in ("conv", "factorized_conv") and self.out_chs < 1:
            raise ConfigError(f"a {self.kind} layer needs out_chs >= 1; got out_chs={self.out_chs}")
        if self.kind == "linear" and self.norm not in LINEAR_NORMS:
            raise unknown("linear norm", self.norm, LINEAR_NORMS)
        if self.kind in ("conv", "norm") and self.norm not in ("none", "bn", "ln2d"):
            raise unknown(f"{self.kind} norm", self.norm, ("none", "bn", "ln2d"))
        if self.stride not in (1, 2) or self.kernel < 1:
            raise ConfigError(
                f"layer stride must be 1 or 2 and kernel >= 1; got stride={self.stride}, kernel={self.kernel}"
            )
        if not 0 <= self.p < 1:
            raise ConfigError(f"dropout p must be in [0, 1); got p={self.p}")
        if self.padding not in PADDINGS:
            raise unknown("layer padding", self.padding, PADDINGS)
        if self.padding != "symmetric" and self.kind != "conv":
            raise ConfigError(f"layer padding={self.padding!r} applies only to kind='conv'; got kind={self.kind!r}")
        if (
            self.kind == "factorized_conv"
            and self.factor_groups[0] * self.factor_groups[1] != self.out_chs * self.max_group
        ):
            raise ConfigError(
                f"factorized_conv needs factor_groups[0] * factor_groups[1] == out_chs * max_group; got "
                f"factor_groups={self.factor_groups}, out_chs={self.out_chs}, max_group={self.max_group}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerConfig:
        _check_keys("LayerConfig", data, cls)
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """A stage: ``depth`` blocks from one template, the first taking ``stride`` and the width change.

    Args:
        block: the template; its ``in_chs``/``out_chs``/``stride`` are replaced per block.
        depth: number of blocks.
        out_chs: stage width.
        stride: stride of the first block.
        first: field overrides for the first block.
        overrides: field overrides per block index (applied after ``first``).
    """

    block: BlockConfig
    depth: int
    out_chs: int
    stride: int = 1
    first: Mapping[str, Any] = field(default_factory=dict)
    overrides: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.block, Mapping):
            object.__setattr__(self, "block", BlockConfig.from_dict(dict(self.block)))
        if not isinstance(self.block, BlockConfig):
            raise ConfigError(f"stage block must be a block config mapping; got block={self.block!r}")
        if not isinstance(self.overrides, (list, tuple)):
            raise ConfigError(f"stage overrides must be a list of mappings; got overrides={self.overrides!r}")
        object.__setattr__(self, "overrides", tuple(_override(o) for o in self.overrides))
        object.__setattr__(self, "first", _override(self.first))
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or not 1 <= self.depth <= MAX_STAGE_DEPTH:
            raise ConfigError(f"stage depth must be an integer in [1, {MAX_STAGE_DEPTH}]; got depth={self.depth!r}")
        if self.stride not in (1, 2) or isinstance(self.stride, bool):
            raise ConfigError(f"stage stride must be 1 or 2; got stride={self.stride!r}")
        if isinstance(self.out_chs, bool) or not isinstance(self.out_chs, int) or not 1 <= self.out_chs <= MAX_CHANNELS:
            raise ConfigError(f"stage out_chs must be an integer in [1, {MAX_CHANNELS}]; got out_chs={self.out_chs!r}")
        if len(self.overrides) > self.depth:
            raise ConfigError(f"stage has {len(self.overrides)} overrides for depth={self.depth}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageConfig:
        _check_keys("StageConfig", data, cls)
        return cls(**data)


def _repeat(last: BlockConfig, width: int) -> BlockConfig:
    """A block added by ``depth_mult``: ``last`` at stride 1 on its own output width; where ``last``
    had no identity shortcut only because it changed the shape, the repeat takes one."""
    cfg = last.replace(in_chs=width, stride=1, drop_path=0.0)
    if cfg.shortcut in ("none", "conv", "avgpool") and (last.in_chs != last.out_chs or last.stride != 1):
        cfg = cfg.replace(shortcut="identity")
    return cfg


@dataclass(frozen=True, kw_only=True)
class NetConfig:
    """A whole network: stem layers, stages of Meta Mobile Blocks and head layers.

    Args:
        stem: layers before the stages.
        stages: the stages.
        head: layers after the stages (pooling and classifier included).
        name: a label.
        in_chans: input channels.
        num_classes: classifier outputs (``linear`` layers with ``out_chs=0``).
        width_mult: multiplies every stage, stem and head conv width (rounded to multiples of 8);
            1.0 keeps the widths as written.
        depth_mult: multiplies every stage's depth (rounded up, as EfficientNet's compound scaling).
            An added block repeats the stage's last written block at stride 1 with its output width
            as input; a repeat of a stage's only block, which keeps its shape, takes an identity
            shortcut (as the compound-scaled families' repeated blocks do). 1.0 keeps the depths.
        drop_path_rate: stochastic depth, rising linearly from 0 at block ``drop_path_start`` to the
            rate at the last block (blocks without a shortcut take their place in the schedule but
            no drop path).
        drop_path_start: the first block the drop-path schedule covers; the blocks before it take
            none (1 for EMO, whose stem iRMB the official code leaves out of the schedule).
        resolution: the square input resolution the network is meant for (224 for the named
            networks; a searched architecture's own). The default input of every cost
            (``count_macs``, ``network_costs``, ``estimate_memory``, ``measure_latency``,
            ``metablock profile``); the built module accepts any size.
    """

    stem: tuple[LayerConfig, ...]
    stages: tuple[StageConfig, ...]
    head: tuple[LayerConfig, ...]
    name: str = "custom"
    in_chans: int = 3
    num_classes: int = 1000
    width_mult: float = 1.0
    drop_path_rate: float = 0.0
    resolution: int = 224
    drop_path_start: int = 0
    depth_mult: float = 1.0

    def __post_init__(self) -> None:
        conv = {"stem": LayerConfig.from_dict, "head": LayerConfig.from_dict, "stages": StageConfig.from_dict}
        for name, make in conv.items():
            items = getattr(self, name)
            if not isinstance(items, (list, tuple)):
                raise ConfigError(f"NetConfig.{name} must be a list; got {type(items).__name__}")
            object.__setattr__(self, name, tuple(make(i) if isinstance(i, Mapping) else i for i in items))
            kind = StageConfig if name == "stages" else LayerConfig
            for item in getattr(self, name):
                if not isinstance(item, kind):
                    raise ConfigError(f"NetConfig.{name} items must be {kind.__name__} mappings; got {item!r}")
        check_field_types(self)
        if not self.stages:
            raise ConfigError("NetConfig.stages must hold at least one stage")
        if not 1 <= self.in_chans <= MAX_CHANNELS:
            raise ConfigError(f"in_chans must be in [1, {MAX_CHANNELS}]; got in_chans={self.in_chans}")
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise ConfigError(f"num_classes must be in [1, {MAX_CLASSES}]; got num_classes={self.num_classes}")
        if not 0 < self.width_mult <= MAX_RATIO:
            raise ConfigError(f"width_mult must be in (0, {MAX_RATIO:g}]; got width_mult={self.width_mult}")
        if not 0 <= self.drop_path_rate < 1:
            raise ConfigError(f"drop_path_rate must be in [0, 1); got drop_path_rate={self.drop_path_rate}")
        if not 0 < self.depth_mult <= MAX_DEPTH_MULT:
            raise ConfigError(f"depth_mult must be in (0, {MAX_DEPTH_MULT}]; got depth_mult={self.depth_mult}")
        depth = sum(self.stage_depths())
        if not 0 <= self.drop_path_start < depth:
            raise ConfigError(
                f"drop_path_start must be a block index in [0, {depth - 1}]; got drop_path_start={self.drop_path_start}"
            )
        if not MIN_RESOLUTION <= self.resolution <= MAX_RESOLUTION:
            raise ConfigError(
                f"resolution must be in [{MIN_RESOLUTION}, {MAX_RESOLUTION}]; got resolution={self.resolution}"
            )
        for si, depth in enumerate(self.stage_depths()):
            if depth > MAX_STAGE_DEPTH:
                raise ConfigError(
                    f"stage {si} would hold {depth} blocks after depth_mult={self.depth_mult}; at most "
                    f"{MAX_STAGE_DEPTH}"
                )
        self._check_layers("stem", self.stem, self.in_chans)
        self._check_layers("head", self.head, self.block_configs()[-1][-1].out_chs)  # validates every block

    def _check_layers(self, part: str, layers: tuple[LayerConfig, ...], chs: int) -> int:
        """Walk ``part``'s layers from ``chs`` input channels: a conv's groups must divide its widths."""
        for i, layer in enumerate(layers):
            if layer.kind == "conv":
                out = self.scale(layer.out_chs)
                if chs % layer.groups or out % layer.groups:
                    raise ConfigError(
                        f"{part}[{i}].groups must divide the layer's input and output widths ({chs}, {out}); got "
                        f"groups={layer.groups}"
                    )
                if out > MAX_CHANNELS:
                    raise ConfigError(f"{part}[{i}] width {out} after width_mult exceeds {MAX_CHANNELS}")
                chs = out
            elif layer.kind == "factorized_conv":
                chs = layer.out_chs
            elif layer.kind in ("linear", "distilled_linear"):
                chs = layer.out_chs or self.num_classes
        return chs

    def estimate_params(self) -> int:
        """The network's parameter count estimated from its widths (see ``BlockConfig.estimate_params``)."""
        blocks = [b for stage in self.block_configs() for b in stage]
        n = sum(b.estimate_params() for b in blocks)
        for layers, chs in ((self.stem, self.in_chans), (self.head, blocks[-1].out_chs)):
            for layer in layers:
                if layer.kind in ("conv", "factorized_conv"):
                    out = self.scale(layer.out_chs) if layer.kind == "conv" else layer.out_chs
                    n += chs * out * layer.kernel**2 // (layer.groups if layer.kind == "conv" else 1) + 4 * out
                    chs = out
                elif layer.kind in ("linear", "distilled_linear"):
                    out = layer.out_chs or self.num_classes
                    n += (chs + 1) * out * (2 if layer.kind == "distilled_linear" else 1)
                    chs = out
        return n

    # ---------------------------------------------------------------- derived
    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(in_chans, resolution, resolution)``: one input of the size the network is meant for."""
        return (self.in_chans, self.resolution, self.resolution)

    def stage_depths(self) -> tuple[int, ...]:
        """Each stage's number of blocks after ``depth_mult``."""
        if self.depth_mult == 1.0:
            return tuple(s.depth for s in self.stages)
        return tuple(math.ceil(s.depth * self.depth_mult) for s in self.stages)

    def scale(self, chs: int) -> int:
        """A width after the width multiplier."""
        return chs if self.width_mult == 1.0 else make_divisible(chs * self.width_mult, 8)

    def stem_out(self) -> int:
        chs = self.in_chans
        for layer in self.stem:
            if layer.kind == "conv":
                chs = self.scale(layer.out_chs)
            elif layer.kind == "factorized_conv":
                chs = layer.out_chs
        return chs

    def block_configs(self) -> list[list[BlockConfig]]:
        """Every block's resolved configuration, stage by stage (resolved once per config: validation,
        ``estimate_params`` and ``build`` all read them)."""
        cached = self.__dict__.get("_block_configs")
        if cached is None:
            cached = self._resolve_blocks()
            object.__setattr__(self, "_block_configs", cached)  # a memo, not a field: equality ignores it
        return [list(stage) for stage in cached]

    def _resolve_blocks(self) -> list[list[BlockConfig]]:
        out: list[list[BlockConfig]] = []
        chs = self.stem_out()
        depths = self.stage_depths()
        total = sum(depths) - self.drop_path_start
        index = -self.drop_path_start
        for si, stage in enumerate(self.stages):
            width = self.scale(stage.out_chs)
            blocks = []
            for i in range(depths[si]):
                changes: dict[str, Any] = {"in_chs": chs, "out_chs": width, "stride": stage.stride if i == 0 else 1}
                if i == 0:
                    changes.update(stage.first)
                if i < len(stage.overrides):
                    changes.update(stage.overrides[i])
                if self.width_mult != 1.0 and changes.get("hidden_chs", stage.block.hidden_chs):
                    changes["hidden_chs"] = self.scale(changes.get("hidden_chs", stage.block.hidden_chs))
                try:
                    if i >= stage.depth:  # added by depth_mult: the stage's last written block, repeated
                        cfg = _repeat(blocks[stage.depth - 1], width)
                    else:
                        cfg = replaced(stage.block, changes)
                except ConfigError as exc:
                    raise ConfigError(f"stage {si} block {i}: {exc}") from None
                if self.drop_path_rate and cfg.shortcut != "none" and index >= 0:
                    cfg = cfg.replace(drop_path=self.drop_path_rate * index / max(total - 1, 1))
                blocks.append(cfg)
                chs = cfg.out_chs
                index += 1
            out.append(blocks)
        return out

    # ---------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(f"a network config must be a mapping; got {type(data).__name__}")
        check_data(dict(data), "network config")
        _check_keys("NetConfig", data, cls)
        return cls(**data)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> NetConfig:
        return cls.from_dict(load_text(text, "json", "network config"))

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_yaml(cls, text: str) -> NetConfig:
        return cls.from_dict(load_text(text, "yaml", "network config"))

    def replace(self, **changes: Any) -> NetConfig:
        _check_keys("NetConfig", changes, type(self), complete=False)
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------- modules
class GlobalPool(nn.Module):
    """Global average pooling to ``(N, C)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


class FactorizedStem(nn.Module):
    """MicroNet stem: k×1 conv, grouped 1×k conv, channel shuffle, then an act or a channel max-pool."""

    def __init__(self, in_chs: int, cfg: LayerConfig, out_chs: int) -> None:
        super().__init__()
        g1, g2 = cfg.factor_groups
        k, s = cfg.kernel, cfg.stride
        self.conv1 = ConvNormAct(in_chs, g1, (k, 1), stride=(s, 1), norm="bn", eps=cfg.eps, momentum=cfg.momentum)
        self.conv2 = ConvNormAct(
            g1, g1 * g2, (1, k), stride=(1, s), groups=g1, norm="bn", eps=cfg.eps, momentum=cfg.momentum
        )
        self.shuffle = ChannelShuffle(g1 * g2, (g1,))
        self.max_group = cfg.max_group
        self.act = create_act(cfg.act, g1 * g2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.shuffle(self.conv2(self.conv1(x))))
        if self.max_group > 1:
            b, c, h, w = x.shape
            x = x.reshape(b, c // self.max_group, self.max_group, h, w).amax(2)
        return x


class LinearNormAct(nn.Module):
    """Linear layer with an optional BatchNorm1d before or after it and an activation."""

    def __init__(self, in_f: int, out_f: int, *, bias: bool, norm: str, act: Act, eps: float, momentum: float) -> None:
        super().__init__()
        self.norm_before = nn.BatchNorm1d(in_f, eps=eps, momentum=momentum) if norm == "bn_before" else nn.Identity()
        self.fc = nn.Linear(in_f, out_f, bias=bias)
        self.norm_after = nn.BatchNorm1d(out_f, eps=eps, momentum=momentum) if norm == "bn_after" else nn.Identity()
        self.act = create_act(act, out_f, inplace=True) if isinstance(act, str) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run(self.act, run(self.norm_after, self.fc(run(self.norm_before, x))))

    @torch.no_grad()
    def reparameterized(self) -> nn.Module:
        bn = self.norm_before
        if isinstance(bn, nn.BatchNorm1d):
            std = (bn.running_var + bn.eps).sqrt()
            scale = bn.weight / std
            shift = bn.bias - bn.running_mean * scale
            fc = nn.Linear(self.fc.in_features, self.fc.out_features, bias=True).to(self.fc.weight)
            fc.weight.copy_(self.fc.weight * scale)
            base = self.fc.bias if self.fc.bias is not None else torch.zeros_like(fc.bias)
            fc.bias.copy_(base + self.fc.weight @ shift)
            self.fc = fc
            self.norm_before = nn.Identity()
        bn = self.norm_after
        if isinstance(bn, nn.BatchNorm1d):
            std = (bn.running_var + bn.eps).sqrt()
            scale = bn.weight / std
            shift = bn.bias - bn.running_mean * scale
            fc = nn.Linear(self.fc.in_features, self.fc.out_features, bias=True).to(self.fc.weight)
            fc.weight.copy_(self.fc.weight * scale[:, None])
            base = self.fc.bias if self.fc.bias is not None else torch.zeros_like(fc.bias)
            fc.bias.copy_(base * scale + shift)
            self.fc = fc
            self.norm_after = nn.Identity()
        return self


class DistilledLinear(nn.Module):
    """Two ``bn_before`` linear heads (classifier and distillation) whose outputs are averaged."""

    def __init__(self, in_f: int, out_f: int, *, eps: float, momentum: float) -> None:
        super().__init__()
        kw = dict(bias=True, norm="bn_before", act="none", eps=eps, momentum=momentum)
        self.head = LinearNormAct(in_f, out_f, **kw)  # type: ignore[arg-type]
        self.head_dist = LinearNormAct(in_f, out_f, **kw)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.head(x) + self.head_dist(x)) / 2

    @torch.no_grad()
    def reparameterized(self) -> nn.Module:
        """One ``nn.Linear``: each head's BatchNorm folded into its linear, then the two averaged
        (as RepViT's official ``fuse`` and timm's do for deployment)."""
        heads = [h.reparameterized() for h in (self.head, self.head_dist)]  # type: ignore[operator]
        if not all(isinstance(h.norm_before, nn.Identity) and isinstance(h.act, nn.Identity) for h in heads):
            return self  # pragma: no cover - both heads are bn_before linears without activation
        a, b = heads[0].fc, heads[1].fc
        fc = nn.Linear(a.in_features, a.out_features, bias=True).to(a.weight)
        fc.weight.copy_((a.weight + b.weight) / 2)
        fc.bias.copy_((a.bias + b.bias) / 2)
        return fc


def _layer(cfg: LayerConfig, in_chs: int, net: NetConfig, spatial: bool) -> tuple[nn.Module, int]:
    kind = cfg.kind
    if kind == "conv":
        out = net.scale(cfg.out_chs)
        return ConvNormAct(
            in_chs,
            out,
            cfg.kernel,
            stride=cfg.stride,
            groups=cfg.groups,
            bias=cfg.bias,
            norm=cfg.norm,
            act=cfg.act,
            eps=cfg.eps,
            momentum=cfg.momentum,
            padding=cfg.padding,
        ), out
    if kind == "maxpool":
        return nn.MaxPool2d(cfg.kernel, cfg.stride, (cfg.kernel - 1) // 2), in_chs
    if kind == "factorized_conv":
        return FactorizedStem(in_chs, cfg, cfg.out_chs), cfg.out_chs
    if kind == "norm":
        if not spatial:
            return nn.BatchNorm1d(in_chs, eps=cfg.eps, momentum=cfg.momentum), in_chs
        return create_norm(cfg.norm, in_chs, cfg.eps, cfg.momentum), in_chs
    if kind == "act":
        return create_act(cfg.act, in_chs), in_chs
    if kind == "pool":
        return GlobalPool(), in_chs
    if kind == "dropout":
        return nn.Dropout(cfg.p), in_chs
    out = cfg.out_chs or net.num_classes
    if kind == "linear":
        return LinearNormAct(
            in_chs,
            out,
            bias=cfg.bias or cfg.out_chs == 0,
            norm=cfg.norm,
            act=cfg.act,
            eps=cfg.eps,
            momentum=cfg.momentum,
        ), out
    return DistilledLinear(in_chs, out, eps=cfg.eps, momentum=cfg.momentum), out


def pretrained_cfg_of(cfg: NetConfig, *, classifier: bool = True) -> dict[str, Any]:
    """timm's model description of ``cfg``: ``architecture``, ``input_size`` (the network's own
    resolution), ``num_classes``, ``mean``/``std`` (ImageNet), ``interpolation``, ``crop_pct`` and
    ``classifier`` (the last head layer's module name)."""
    return {
        "architecture": cfg.name,
        "input_size": cfg.input_size,
        "num_classes": cfg.num_classes,
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "interpolation": "bicubic",
        "crop_pct": 0.875,
        "classifier": f"head.{len(cfg.head) - 1}" if classifier and cfg.head else "",
    }


class FeatureInfo(list[dict[str, Any]]):
    """The feature maps a network returns, one dict per map (``num_chs``, ``reduction``, ``module``,
    ``index``), with timm's ``FeatureInfo`` accessors so code written for timm backbones reads it."""

    def get(self, key: str, idx: int | Sequence[int] | None = None) -> Any:
        """``key`` of every map, of map ``idx``, or of the maps ``idx``."""
        if idx is None:
            return [info[key] for info in self]
        if isinstance(idx, int):
            return self[idx][key]
        return [self[i][key] for i in idx]

    def channels(self, idx: int | Sequence[int] | None = None) -> Any:
        return self.get("num_chs", idx)

    def reduction(self, idx: int | Sequence[int] | None = None) -> Any:
        return self.get("reduction", idx)

    def module_name(self, idx: int | Sequence[int] | None = None) -> Any:
        return self.get("module", idx)

    def get_dicts(self, keys: Sequence[str] | None = None, idx: int | Sequence[int] | None = None) -> Any:
        picked = self if idx is None else [self[idx]] if isinstance(idx, int) else [self[i] for i in idx]
        out = [dict(d) if keys is None else {k: d[k] for k in keys} for d in picked]
        return out[0] if isinstance(idx, int) else out

    @property
    def out_indices(self) -> tuple[int, ...]:
        return tuple(range(len(self)))


class MetaNet(nn.Module):
    """A network built from a :class:`NetConfig`: ``stem`` → ``stages`` → ``head``."""

    def __init__(self, cfg: NetConfig, *, features_only: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.features_only = features_only
        chs = cfg.in_chans
        stem = []
        stride = 1
        for layer in cfg.stem:
            module, chs = _layer(layer, chs, cfg, spatial=True)
            stride *= layer.stride if layer.kind in ("conv", "maxpool", "factorized_conv") else 1
            stem.append(module)
        self.stem = nn.Sequential(*stem)
        stages = []
        # stride and channels after the stem and after every block, to pick feature outputs
        self.block_info: list[dict[str, Any]] = [{"module": "stem", "reduction": stride, "num_chs": chs}]
        for si, blocks in enumerate(cfg.block_configs()):
            stages.append(nn.Sequential(*(MetaMobileBlock(b) for b in blocks)))
            for bi, b in enumerate(blocks):
                stride *= b.stride
                self.block_info.append({"module": f"stages.{si}.{bi}", "reduction": stride, "num_chs": b.out_chs})
            chs = blocks[-1].out_chs
        self.stages = nn.Sequential(*stages)
        self.num_features = chs
        head = []
        spatial = True
        for layer in cfg.head:
            module, chs = _layer(layer, chs, cfg, spatial=spatial)
            if layer.kind == "pool":
                spatial = False
            head.append(module)
        self.head = nn.Sequential(*head) if not features_only else nn.Sequential()
        # the last block at each stride 4, 8, 16, 32 gives a feature map
        last: dict[int, int] = {}
        for i, info in enumerate(self.block_info):
            last[info["reduction"]] = i
        self.feature_points = [last[s] for s in (4, 8, 16, 32) if s in last]

    @property
    def num_classes(self) -> int:
        """Classifier outputs (0 for a ``features_only`` network)."""
        return 0 if self.features_only else self.cfg.num_classes

    @property
    def feature_info(self) -> FeatureInfo:
        """The feature maps :meth:`forward_features_list` returns (with ``features_only``, what the model
        returns), one entry each, as timm describes them: ``num_chs``, ``reduction`` (stride) and
        ``module`` (the module whose output it is)."""
        return FeatureInfo(dict(self.block_info[i], index=n) for n, i in enumerate(self.feature_points))

    def select_features(self, out_indices: Sequence[int]) -> None:
        """Keep only the feature maps at ``out_indices`` (indices into the strides-4/8/16/32 maps)."""
        n = len(self.feature_points)
        picked = []
        for i in out_indices:
            if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n:
                raise ConfigError(
                    f"out_indices must be integers in [{-n}, {n - 1}]; got out_indices={list(out_indices)}"
                )
            picked.append(self.feature_points[i])
        self.feature_points = picked

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        """timm's model description (:func:`pretrained_cfg_of`; no classifier when ``features_only``)."""
        return pretrained_cfg_of(self.cfg, classifier=len(self.head) > 0)

    default_cfg = pretrained_cfg

    def get_classifier(self) -> nn.Module:
        """The last head layer (the classifier)."""
        if not len(self.head):
            raise ConfigError("a features_only network has no classifier")
        return self.head[-1]

    def reset_classifier(self, num_classes: int) -> None:
        """A new, freshly initialised classifier with ``num_classes`` outputs; every other weight stays."""
        last = self.cfg.head[-1] if self.cfg.head else None
        if not len(self.head) or last is None or last.kind not in ("linear", "distilled_linear") or last.out_chs:
            raise ConfigError(
                "reset_classifier needs a head that ends in the classifier (a linear layer with out_chs=0)"
            )
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 1 <= num_classes <= MAX_CLASSES:
            raise ConfigError(f"num_classes must be an integer in [1, {MAX_CLASSES}]; got num_classes={num_classes!r}")
        old = self.head[-1]
        in_f = next(m for m in old.modules() if isinstance(m, nn.Linear)).in_features
        self.cfg = self.cfg.replace(num_classes=num_classes)
        module, _ = _layer(last, in_f, self.cfg, spatial=False)
        self.head[-1] = module.to(next(old.parameters()).device).train(self.training)

    def feature_channels(self) -> list[int]:
        """Channels of the feature maps that ``forward_features_list`` returns (strides 4, 8, 16, 32)."""
        return self.feature_info.channels()

    def feature_strides(self) -> list[int]:
        return self.feature_info.reduction()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_features_list(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at strides 4, 8, 16 and 32 (those the network reaches)."""
        x = self.stem(x)
        want = set(self.feature_points)
        out = [x] if 0 in want else []
        i = 1
        for stage in self.stages:
            for block in stage:
                x = block(x)
                if i in want:
                    out.append(x)
                i += 1
        return out

    def forward(self, x: torch.Tensor) -> Any:
        if self.features_only:
            return self.forward_features_list(x)
        return self.head(self.forward_features(x))


def build(cfg: NetConfig, *, features_only: bool = False) -> MetaNet:
    """The ``nn.Module`` of a :class:`NetConfig`.

    Args:
        cfg: the network configuration.
        features_only: return feature maps at strides 4, 8, 16 and 32 instead of logits.
    """
    if not isinstance(cfg, NetConfig):
        raise TypeError(f"build takes a NetConfig; got {type(cfg).__name__}")
    check_weights_fit(cfg.estimate_params(), f"network {cfg.name!r}")
    return MetaNet(cfg, features_only=features_only)


_PER_BLOCK = ("in_chs", "out_chs", "stride")


_FIELDS = IdentityMemo()


def _fields(cfg: BlockConfig) -> dict[str, Any]:
    """``cfg.to_dict()``, memoised by identity (read only)."""
    return _FIELDS.get_or_make(cfg, cfg.to_dict)


def _diff(cfg: BlockConfig, template: BlockConfig) -> dict[str, Any]:
    a, b = _fields(cfg), _fields(template)
    return {k: getattr(cfg, k) for k in a if k not in _PER_BLOCK and a[k] != b[k]}


def group_blocks(blocks: list[BlockConfig] | tuple[BlockConfig, ...]) -> list[list[BlockConfig]]:
    """Consecutive blocks grouped into stages: a new stage at every block that changes the shape
    (stride 2 or a new width)."""
    groups: list[list[BlockConfig]] = []
    for cfg in blocks:
        if not groups or cfg.stride > 1 or cfg.in_chs != cfg.out_chs or cfg.out_chs != groups[-1][-1].out_chs:
            groups.append([cfg])
        else:
            groups[-1].append(cfg)
    return groups


def stages_from_blocks(blocks: list[BlockConfig] | tuple[BlockConfig, ...]) -> tuple[StageConfig, ...]:
    """Group a flat list of block configs into stages.

    A new stage starts at every block that changes the shape (stride 2 or a new width). The
    template of a stage is its last block; the first block and any block that differs from the
    template keep their differences as ``first`` / ``overrides``. Blocks are put in
    :func:`~metablock.config.canonical` form; ``NetConfig.block_configs()`` gives the list back.
    """
    groups = group_blocks([canonical(b) for b in blocks])
    stages = []
    for group in groups:
        template = group[-1]
        first = _diff(group[0], template)
        overrides = [_diff(c, template) for c in group]
        overrides[0] = {}
        while overrides and not overrides[-1]:
            overrides.pop()
        stages.append(
            StageConfig(
                block=template,
                depth=len(group),
                out_chs=template.out_chs,
                stride=group[0].stride,
                first=first,
                overrides=tuple(overrides),
            )
        )
    return tuple(stages)
