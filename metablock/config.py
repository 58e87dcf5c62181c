"""``BlockConfig``: one frozen dataclass that describes every block of the Meta Mobile Block family.

The block computes (see :class:`metablock.MetaMobileBlock`)::

    x ─ split ─ [norm_in] ─ [pre dw] ─ [attention] ─ expand ─ F ─ [SE] ─ (+ inner skip) ─ project
      ─ [post dw] ─ [layer scale] ─ drop path ─ shortcut ─ [post act] ─ y

and, with ``mixer_first=True`` (RepViT), first ``F ─ [SE] ─ [transition 1x1]`` and then the
expand/project pair as a residual FFN. Every part can be switched off; switched-off parts become
``nn.Identity`` so one ``forward`` serves every preset.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Union

from .errors import ConfigError, unknown

ACTIVATIONS = ("none", "relu", "relu6", "hswish", "hsigmoid", "silu", "gelu", "sigmoid", "tanh")
NORMS = ("none", "bn", "ln2d")
EXPANDS = ("none", "pw", "fused", "ghost")
MIXERS = ("dwconv", "dw_factorized", "dw_mixed", "conv", "rep_dw", "window_mhsa", "mqa", "identity")
PROJECTS = ("none", "pw", "conv", "ghost")
SHORTCUTS = ("none", "identity", "conv", "avgpool", "split", "dw_conv")
SE_REFS = ("in", "hidden")
SE_ROUNDS = ("round", "floor", "divisible", "floor_divisible")
SE_GATES = ("sigmoid", "hsigmoid")
REP_SCALE = ("none", "bias", "norm")
PADDINGS = ("symmetric", "same")
SPATIAL_MIXERS = ("dwconv", "dw_factorized", "dw_mixed", "conv", "rep_dw")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below ``round_limit * value``.

    This is the rounding used by MobileNet, EfficientNet and most of their descendants.

    Example:
        >>> make_divisible(37.5, 8)
        40
    """
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < round_limit * value:
        new += divisor
    return new


@dataclass(frozen=True, kw_only=True)
class ShiftMaxConfig:
    """Dynamic shift-max activation (MicroNet, https://arxiv.org/abs/2108.05894).

    ``y = max_j (a_j(x) * x + b_j(x) * shift(x))`` over ``fusions`` (1 or 2) fusions, where
    ``shift`` moves every channel to the next position inside its group and the groups by one, and
    the coefficients come from a squeeze MLP with a hard-sigmoid gate, mapped to
    ``[-act_max, act_max]`` and offset by ``init_a`` / ``init_b``.

    Args:
        groups: number of channel groups of the circular shift (must divide the width).
        reduction: squeeze width is ``make_divisible(width // reduction, 4)``, at least 4.
        squeeze_chs: explicit squeeze width (overrides ``reduction``).
        fusions: 2 takes the max of two fusions, 1 uses a single fusion.
        act_max: half range of the coefficients.
        init_a: offsets added to the two ``a`` coefficients.
        init_b: offsets added to the two ``b`` coefficients.
    """

    groups: int = 1
    reduction: int = 8
    squeeze_chs: int | None = None
    fusions: int = 2
    act_max: float = 2.0
    init_a: tuple[float, float] = (1.0, 0.0)
    init_b: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        for name in ("init_a", "init_b"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
            ):
                raise ConfigError(f"shiftmax.{name} must be two finite numbers; got {name}={value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))
        check_field_types(self)
        _check_int("shiftmax.groups", self.groups, minimum=1, maximum=MAX_CHANNELS)
        _check_int("shiftmax.reduction", self.reduction, minimum=1, maximum=MAX_CHANNELS)
        if self.squeeze_chs is not None:
            _check_int("shiftmax.squeeze_chs", self.squeeze_chs, minimum=1, maximum=MAX_CHANNELS)
        if self.fusions not in (1, 2):
            raise ConfigError(f"shiftmax.fusions must be 1 or 2; got fusions={self.fusions!r}")
        if len(self.init_a) != 2 or len(self.init_b) != 2:
            raise ConfigError(
                f"shiftmax.init_a and shiftmax.init_b need two values each; got init_a={self.init_a}, "
                f"init_b={self.init_b}"
            )
        if not self.act_max > 0:
            raise ConfigError(f"shiftmax.act_max must be > 0; got act_max={self.act_max!r}")

    def squeeze_width(self, channels: int) -> int:
        """Width of the squeeze MLP for an input of ``channels`` channels."""
        if self.squeeze_chs is not None:
            return self.squeeze_chs
        return max(4, make_divisible(channels // self.reduction, 4))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["init_a"] = list(self.init_a)
        d["init_b"] = list(self.init_b)
        return d


Act = Union[str, ShiftMaxConfig]  # noqa: UP007 (a runtime alias; Python 3.10 has no `type` statement)


_TYPE_NAMES = {"bool": "true or false", "int": "an integer", "float": "a finite number", "str": "a string"}


@functools.cache
def _checked_fields(cls: type) -> tuple[tuple[str, str, bool], ...]:
    """``(name, base type, optional)`` of the fields of dataclass ``cls`` that ``check_field_types`` checks."""
    out = []
    for f in fields(cls):
        if not f.init:
            continue
        annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        optional = annotation.endswith("| None")
        base = annotation.removesuffix("| None").strip()
        if base in _TYPE_NAMES:
            out.append((f.name, base, optional))
    return tuple(out)


def check_field_types(obj: Any) -> None:
    """Raise ``ConfigError`` for a dataclass field whose value has the wrong type.

    Fields annotated ``bool``, ``int``, ``float`` or ``str`` (optionally ``| None``) are checked;
    ``float`` accepts integers but not NaN or infinities, and ``bool`` is never taken for a number.
    """
    for name, base, optional in _checked_fields(type(obj)):
        value = getattr(obj, name)
        if optional and value is None:
            continue
        if base == "bool":
            ok = isinstance(value, bool)
        elif base == "str":
            ok = isinstance(value, str)
        else:
            ok = isinstance(value, (int, float) if base == "float" else int) and not isinstance(value, bool)
            ok = ok and (base == "int" or math.isfinite(value))
        if not ok:
            valid = _TYPE_NAMES[base] + (" or null" if optional else "")
            raise ConfigError(f"{type(obj).__name__}.{name} must be {valid}; got {name}={value!r}")


# ------------------------------------------------------------------------------ upper bounds
#: Upper bounds that every config and search-space validator checks (``ConfigError`` past them, before
#: anything is built); far above any published mobile or residual network.
MAX_CHANNELS = 1 << 16  #: any width: block input/output/expansion/SE, stem and head layers, head dims
MAX_KERNEL = 63  #: any kernel size
MAX_STRIDE_LIKE = 64  #: dilation, key/value stride, ghost ratio, factor multipliers
MAX_RATIO = 64.0  #: exp_ratio, se_ratio, width_mult
MAX_STAGE_DEPTH = 1024  #: blocks in one stage (after depth_mult)
MAX_CLASSES = 1 << 20  #: classifier outputs
#: the largest network, in float32 weight bytes, that ``build`` makes (further capped by the memory
#: this machine has available); a config over it is refused before any weight is allocated
MAX_WEIGHT_BYTES = 64 * (1 << 30)


def _check_int(name: str, value: object, minimum: int = 0, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer; got {name.split('.')[-1]}={value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}; got {name.split('.')[-1]}={value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be <= {maximum}; got {name.split('.')[-1]}={value!r}")


def _check_choice(name: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise unknown(f"{name} value", value, valid)


def _check_act(name: str, value: object) -> None:
    if isinstance(value, ShiftMaxConfig):
        return
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be an activation name or ShiftMaxConfig; got {name}={value!r}")
    _check_choice(name, value, ACTIVATIONS)


def _check_shuffle(name: str, groups: tuple[int, ...], width: int) -> None:
    for g in groups:
        _check_int(name, g, minimum=1)
        if width % g:
            raise ConfigError(f"{name} groups must divide the width {width}; got {name}={groups}")


@dataclass(frozen=True, kw_only=True)
class BlockConfig:
    """Every setting of one Meta Mobile Block.

    Channel counts are derived in one place (:meth:`widths`): the main branch reads ``in_chs`` (half
    of it for a stride-1 ``split`` shortcut), expands to ``hidden_chs`` or
    ``round(main_in * exp_ratio)``, the operator F keeps that width (``dw_factorized`` multiplies
    it by ``factor_mults``), and the projection maps it to ``out_chs`` (half of it for ``split``).

    Args:
        in_chs: input channels.
        out_chs: output channels.
        stride: 1 or 2. It is taken by the first spatial part: a fused expansion, else a spatial
            operator F, else the leading depthwise conv, else the trailing one.
        exp_ratio: expansion ratio λ (λ < 1 gives a classic bottleneck).
        hidden_chs: explicit expanded width, for references that round differently.
        hidden_divisor: when > 1, the expanded width is ``make_divisible(main_in * exp_ratio, d)``.
        expand: ``none``, ``pw`` (1x1; grouped with ``expand_groups``), ``fused`` (full k×k) or
            ``ghost`` (GhostNet's ghost module: a 1x1 conv to ``ceil(width / ghost_ratio)`` channels
            and a cheap depthwise conv of ``ghost_kernel`` making the rest, concatenated).
        expand_kernel: kernel of a fused expansion.
        expand_groups: groups of the expansion conv.
        expand_norm: normalise after the expansion conv.
        expand_act: activation after the expansion (name or :class:`ShiftMaxConfig`).
        expand_bias: bias on the expansion conv.
        expand_shuffle: channel shuffles (group counts) applied after the expansion, in order.
        mixer: operator F: ``dwconv``, ``dw_factorized`` (k×1 then 1×k depthwise, MicroNet),
            ``dw_mixed`` (MixNet's mixed depthwise conv: channel groups with the kernels of
            ``mixed_kernels``), ``conv`` (full k×k), ``rep_dw`` (RepVGG-style multi-branch
            depthwise), ``window_mhsa`` (window attention before the expansion, cascaded with a
            depthwise conv of ``kernel`` unless ``kernel`` is 0, iRMB), ``mqa`` (MobileNetV4's Mobile
            MQA: global multi-query attention, ``num_heads`` query heads sharing one key and one
            value head of ``head_dim``, keys and values optionally downsampled by a strided
            depthwise conv of ``kernel``) or ``identity``.
        kernel: kernel size of F (0 only for ``window_mhsa`` without a depthwise conv; the largest of
            ``mixed_kernels`` for ``dw_mixed``; the key/value downsampling conv of ``mqa``).
        mixed_kernels: kernels of ``dw_mixed``'s channel groups, in channel order; the channels are
            split equally with the remainder in the first group (MixConv).
        dilation: dilation of F.
        mixer_groups: groups of a ``conv`` operator.
        factor_mults: channel multipliers of the two factorized depthwise convs.
        mixer_norm: normalise after F (BatchNorm for depthwise convs of attention blocks).
        mixer_act: activation after F.
        mixer_bias: bias on F's conv.
        inner_skip: residual around F and SE (iRMB).
        mixer_shuffle: channel shuffles after F (and SE).
        window_size: attention window; ``<= 0`` is global attention. Windows are strided grids
            (every n-th pixel) and inputs are zero-padded to a multiple of the window.
        head_dim: width of one attention head; heads = input width // head_dim (``window_mhsa``; for
            ``mqa`` the key and value width).
        num_heads: query heads of ``mqa``; None = width // head_dim.
        kv_stride: ``mqa`` downsamples keys and values by this stride (1 = not at all).
        attn_pre: attend over the input and expand afterwards (else attend over the expansion).
        v_group: the value projection is grouped by heads.
        qkv_bias: bias on the query/key conv.
        attn_drop: dropout on the attention weights.
        rep_scale: the 1x1 depthwise branch of ``rep_dw``: ``none``, ``bias`` (conv with bias) or
            ``norm`` (conv + BatchNorm).
        rep_identity: ``rep_dw`` has an identity branch.
        rep_post_norm: ``rep_dw`` normalises the sum of its branches.
        se_ratio: squeeze-excitation ratio; 0 disables SE.
        se_ref: the width the ratio refers to: ``in`` (block input) or ``hidden`` (SE input).
        se_round: ``round``, ``floor``, ``divisible`` (``make_divisible`` by ``se_divisor``) or
            ``floor_divisible`` (floor first, then ``make_divisible``).
        se_divisor: divisor of ``divisible`` rounding.
        se_round_limit: ``divisible`` rounding never goes below this share of the exact value.
        se_chs: explicit squeeze width (overrides ratio and rounding).
        se_act: activation inside SE.
        se_gate: ``sigmoid`` or ``hsigmoid``.
        project: ``none``, ``pw`` (1x1; grouped with ``project_groups``), ``conv`` (full k×k) or
            ``ghost`` (a ghost module, see ``expand``).
        project_kernel: kernel of a ``conv`` projection.
        project_groups: groups of the projection conv.
        project_norm: normalise after the projection.
        project_act: activation after the projection (also ends a ``split`` shortcut branch).
        project_bias: bias on the projection conv.
        project_shuffle: channel shuffles after the projection.
        project_norm_init: initial scale (weight) of the projection's norm; 0 starts the residual
            branch as nothing, as RepViT's FFN does (timm ``bn_weight_init=0``) and torchvision's
            ``zero_init_residual``. Only the initial weights change, not the architecture.
        pre_dw_kernel: kernel of a depthwise conv (+norm, no act) before the expansion; 0 = none.
        post_dw_kernel: kernel of a depthwise conv (+norm, no act) after the projection; 0 = none.
        shortcut: ``none``, ``identity``, ``conv`` (1x1 strided conv + norm), ``avgpool``
            (average pool, then 1x1 conv + norm if the width changes), ``split`` (ShuffleNetV2:
            channel split, concat, shuffle; at stride 2 a depthwise-separable shortcut branch) or
            ``dw_conv`` (GhostNet: a depthwise conv of ``kernel`` carrying the stride + norm, then a
            1x1 conv + norm).
        ghost_ratio: a ghost module's output is ``ghost_ratio`` times its primary conv's width.
        ghost_kernel: kernel of a ghost module's cheap depthwise conv.
        post_act: activation after the shortcut add.
        norm: normalisation used after convs: ``bn``, ``ln2d`` or ``none``.
        norm_in: pre-normalisation of the block input (iRMB): ``none``, ``bn`` or ``ln2d``.
        norm_eps: epsilon of every norm.
        norm_momentum: BatchNorm momentum.
        layer_scale: initial value of a per-channel scale on the residual branch; None = off.
        drop_path: stochastic depth rate of the residual branch (no effect without a shortcut).
        mixer_first: RepViT order: F, SE and a 1x1 transition first, then expand/project as an FFN
            with the shortcut.
        padding: ``symmetric`` (``(k - 1) // 2 * dilation`` on every side) or ``same`` (TensorFlow's
            SAME, timm's ``pad_type="same"``: the output is ``ceil(input / stride)`` and a strided conv
            pads by what the input size needs, the odd pixel on the bottom/right). The two differ only
            in strided convs.
    """

    in_chs: int
    out_chs: int
    stride: int = 1
    exp_ratio: float = 1.0
    hidden_chs: int | None = None
    hidden_divisor: int = 1

    expand: str = "pw"
    expand_kernel: int = 3
    expand_groups: int = 1
    expand_norm: bool = True
    expand_act: Act = "relu"
    expand_bias: bool = False
    expand_shuffle: tuple[int, ...] = ()

    mixer: str = "dwconv"
    kernel: int = 3
    mixed_kernels: tuple[int, ...] = ()
    dilation: int = 1
    mixer_groups: int = 1
    factor_mults: tuple[int, int] = (1, 1)
    mixer_norm: bool = True
    mixer_act: Act = "relu"
    mixer_bias: bool = False
    inner_skip: bool = False
    mixer_shuffle: tuple[int, ...] = ()

    window_size: int = 7
    head_dim: int = 32
    num_heads: int | None = None
    kv_stride: int = 1
    attn_pre: bool = False
    v_group: bool = False
    qkv_bias: bool = True
    attn_drop: float = 0.0

    rep_scale: str = "bias"
    rep_identity: bool = True
    rep_post_norm: bool = True

    se_ratio: float = 0.0
    se_ref: str = "hidden"
    se_round: str = "round"
    se_divisor: int = 8
    se_round_limit: float = 0.9
    se_chs: int | None = None
    se_act: str = "relu"
    se_gate: str = "sigmoid"

    project: str = "pw"
    project_kernel: int = 3
    project_groups: int = 1
    project_norm: bool = True
    project_act: Act = "none"
    project_bias: bool = False
    project_shuffle: tuple[int, ...] = ()
    project_norm_init: float = 1.0

    pre_dw_kernel: int = 0
    post_dw_kernel: int = 0
    ghost_ratio: int = 2
    ghost_kernel: int = 3

    shortcut: str = "none"
    post_act: Act = "none"

    norm: str = "bn"
    norm_in: str = "none"
    norm_eps: float = 1e-5
    norm_momentum: float = 0.1
    layer_scale: float | None = None
    drop_path: float = 0.0
    mixer_first: bool = False
    padding: str = "symmetric"

    _widths: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("expand_shuffle", "mixer_shuffle", "project_shuffle", "factor_mults", "mixed_kernels"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))
            else:
                raise ConfigError(f"{name} must be a list of integers; got {name}={value!r}")
        for name in ("expand_act", "mixer_act", "project_act", "post_act"):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, _shiftmax_from_dict(name, value))
        check_field_types(self)
        self._validate()

    # ------------------------------------------------------------------ derived values
    def widths(self) -> dict[str, int]:
        """Channel counts of every part: ``main_in``, ``hidden``, ``mixer_in``, ``mixer_out``,
        ``main_out``, ``se`` (0 when off) and ``heads`` (0 without attention)."""
        return dict(self._widths)

    @property
    def stride_slot(self) -> str:
        """The part that carries the stride: ``expand``, ``mixer``, ``pre_dw``, ``post_dw`` or ``none``."""
        if self.expand == "fused" and not self.mixer_first:
            return "expand"
        if self.mixer in SPATIAL_MIXERS or (self.mixer == "window_mhsa" and self.kernel > 0):
            return "mixer"
        if self.pre_dw_kernel:
            return "pre_dw"
        if self.post_dw_kernel:
            return "post_dw"
        return "none"

    @property
    def has_attention(self) -> bool:
        return self.mixer == "window_mhsa"

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        _check_int("in_chs", self.in_chs, minimum=1, maximum=MAX_CHANNELS)
        _check_int("out_chs", self.out_chs, minimum=1, maximum=MAX_CHANNELS)
        if self.stride not in (1, 2):
            raise ConfigError(f"stride must be 1 or 2; got stride={self.stride!r}")
        if not (isinstance(self.exp_ratio, (int, float)) and 0 < self.exp_ratio <= MAX_RATIO):
            raise ConfigError(f"exp_ratio must be a number in (0, {MAX_RATIO:g}]; got exp_ratio={self.exp_ratio!r}")
        if not 0 <= self.se_ratio <= MAX_RATIO:
            raise ConfigError(f"se_ratio must be in [0, {MAX_RATIO:g}]; got se_ratio={self.se_ratio!r}")
        if self.hidden_chs is not None:
            _check_int("hidden_chs", self.hidden_chs, minimum=1, maximum=MAX_CHANNELS)
        _check_choice("expand", self.expand, EXPANDS)
        _check_choice("mixer", self.mixer, MIXERS)
        _check_choice("project", self.project, PROJECTS)
        _check_choice("shortcut", self.shortcut, SHORTCUTS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("norm_in", self.norm_in, NORMS)
        _check_choice("se_ref", self.se_ref, SE_REFS)
        _check_choice("se_round", self.se_round, SE_ROUNDS)
        _check_choice("se_gate", self.se_gate, SE_GATES)
        _check_choice("se_act", self.se_act, ACTIVATIONS)
        _check_choice("rep_scale", self.rep_scale, REP_SCALE)
        for name in ("expand_act", "mixer_act", "project_act", "post_act"):
            _check_act(name, getattr(self, name))
        for name in ("expand_kernel", "project_kernel"):
            _check_int(name, getattr(self, name), minimum=1, maximum=MAX_KERNEL)
            if getattr(self, name) % 2 == 0:
                raise ConfigError(f"{name} must be odd; got {name}={getattr(self, name)}")
        for name in ("kernel", "pre_dw_kernel", "post_dw_kernel"):
            _check_int(name, getattr(self, name), minimum=0, maximum=MAX_KERNEL)
            value = getattr(self, name)
            if value and value % 2 == 0:
                raise ConfigError(f"{name} must be odd (or 0 where allowed); got {name}={value}")
        _check_int("dilation", self.dilation, minimum=1, maximum=MAX_STRIDE_LIKE)
        for name in ("expand_groups", "mixer_groups", "project_groups", "se_divisor", "hidden_divisor"):
            _check_int(name, getattr(self, name), minimum=1, maximum=MAX_CHANNELS)
        for name in ("expand_shuffle", "mixer_shuffle", "project_shuffle"):
            for g in getattr(self, name):
                _check_int(name, g, minimum=1, maximum=MAX_CHANNELS)
        if len(self.factor_mults) != 2:
            raise ConfigError(f"factor_mults needs two multipliers; got factor_mults={self.factor_mults}")
        for m in self.factor_mults:
            _check_int("factor_mults", m, minimum=1, maximum=MAX_STRIDE_LIKE)
        if self.mixer != "dw_factorized" and self.factor_mults != (1, 1):
            raise ConfigError(
                f"factor_mults applies only to mixer='dw_factorized'; got factor_mults={self.factor_mults} "
                f"with mixer={self.mixer!r}"
            )
        if self.v_group and not self.has_attention:
            raise ConfigError(
                f"v_group (value projection grouped by heads) applies only to mixer='window_mhsa'; got "
                f"v_group=True with mixer={self.mixer!r}"
            )
        self._validate_new_parts()
        _check_choice("padding", self.padding, PADDINGS)
        if self.padding == "same" and self.mixer in ("dw_factorized", "rep_dw"):
            raise ConfigError(f"padding='same' is not supported with mixer={self.mixer!r}; use 'symmetric'")
        if self.mixer in SPATIAL_MIXERS and self.kernel == 0:
            raise ConfigError(f"mixer={self.mixer!r} needs kernel >= 1; got kernel=0")
        if not 0 <= self.drop_path < 1:
            raise ConfigError(f"drop_path must be in [0, 1); got drop_path={self.drop_path!r}")
        if not 0 <= self.attn_drop < 1:
            raise ConfigError(f"attn_drop must be in [0, 1); got attn_drop={self.attn_drop!r}")
        if not self.norm_eps > 0:
            raise ConfigError(f"norm_eps must be > 0; got norm_eps={self.norm_eps!r}")
        if not 0 <= self.norm_momentum <= 1:
            raise ConfigError(f"norm_momentum must be in [0, 1]; got norm_momentum={self.norm_momentum!r}")
        if self.se_chs is not None:
            _check_int("se_chs", self.se_chs, minimum=1, maximum=MAX_CHANNELS)
        _check_int("head_dim", self.head_dim, minimum=1, maximum=MAX_CHANNELS)
        _check_int("window_size", self.window_size, minimum=-MAX_CHANNELS, maximum=MAX_CHANNELS)
        if self.layer_scale is not None and not self.layer_scale > 0:
            raise ConfigError(f"layer_scale must be > 0 or None; got layer_scale={self.layer_scale!r}")
        if self.stride > 1 and self.stride_slot == "none":
            raise ConfigError(
                f"stride={self.stride} needs a spatial part to carry it (expand='fused', a spatial mixer, "
                f"pre_dw_kernel or post_dw_kernel); got expand={self.expand!r}, mixer={self.mixer!r}"
            )
        if self.mixer == "rep_dw" and self.rep_identity and self.stride > 1:
            raise ConfigError("rep_identity needs stride 1 (an identity branch cannot downsample); got stride=2")
        if self.mixer_first:
            self._validate_mixer_first()
        self._compute_widths()

    def _validate_new_parts(self) -> None:
        """Mixed kernels (MixNet), ghost modules and the dw_conv shortcut (GhostNet), Mobile MQA."""
        if self.mixer == "dw_mixed":
            if len(self.mixed_kernels) < 2:
                raise ConfigError(
                    f"mixer='dw_mixed' needs two or more mixed_kernels (one kernel is mixer='dwconv'); got "
                    f"mixed_kernels={list(self.mixed_kernels)}"
                )
            for k in self.mixed_kernels:
                _check_int("mixed_kernels", k, minimum=1, maximum=MAX_KERNEL)
                if k % 2 == 0:
                    raise ConfigError(f"mixed_kernels must be odd; got mixed_kernels={list(self.mixed_kernels)}")
            if self.kernel != max(self.mixed_kernels):
                raise ConfigError(
                    f"mixer='dw_mixed' needs kernel equal to the largest of mixed_kernels "
                    f"({max(self.mixed_kernels)}); got kernel={self.kernel}"
                )
        elif self.mixed_kernels:
            raise ConfigError(
                f"mixed_kernels applies only to mixer='dw_mixed'; got mixed_kernels={list(self.mixed_kernels)} with "
                f"mixer={self.mixer!r}"
            )
        ghost = "ghost" in (self.expand, self.project)
        _check_int("ghost_ratio", self.ghost_ratio, minimum=2, maximum=MAX_STRIDE_LIKE)
        _check_int("ghost_kernel", self.ghost_kernel, minimum=1, maximum=MAX_KERNEL)
        if self.ghost_kernel % 2 == 0:
            raise ConfigError(f"ghost_kernel must be odd; got ghost_kernel={self.ghost_kernel}")
        if not ghost and (self.ghost_ratio, self.ghost_kernel) != (2, 3):
            raise ConfigError(
                f"ghost_ratio and ghost_kernel apply only to expand='ghost' or project='ghost'; got "
                f"ghost_ratio={self.ghost_ratio}, ghost_kernel={self.ghost_kernel} with expand={self.expand!r}, "
                f"project={self.project!r}"
            )
        for part, act in (("expand", self.expand_act), ("project", self.project_act)):
            if getattr(self, part) == "ghost" and isinstance(act, ShiftMaxConfig):
                raise ConfigError(
                    f"{part}='ghost' applies its activation to each half of the module; {part}_act must be an "
                    f"activation name, not dynamic shift-max; got {part}_act={act}"
                )
        if self.expand == "ghost" and self.expand_groups != 1:
            raise ConfigError(f"expand='ghost' has no groups; got expand_groups={self.expand_groups}")
        if self.project == "ghost" and self.project_groups != 1:
            raise ConfigError(f"project='ghost' has no groups; got project_groups={self.project_groups}")
        if self.shortcut == "dw_conv" and self.kernel < 1:
            raise ConfigError("shortcut='dw_conv' uses a depthwise conv of `kernel`; got kernel=0")
        if self.num_heads is not None:
            _check_int("num_heads", self.num_heads, minimum=1, maximum=MAX_CHANNELS)
        _check_int("kv_stride", self.kv_stride, minimum=1, maximum=MAX_STRIDE_LIKE)
        if self.mixer != "mqa" and (self.num_heads is not None or self.kv_stride != 1):
            raise ConfigError(
                f"num_heads and kv_stride apply only to mixer='mqa'; got num_heads={self.num_heads}, "
                f"kv_stride={self.kv_stride} with mixer={self.mixer!r}"
            )
        if self.mixer == "mqa" and self.kv_stride > 1 and self.kernel < 1:
            raise ConfigError(f"mqa with kv_stride={self.kv_stride} downsamples with a conv of `kernel`; got kernel=0")

    def _validate_mixer_first(self) -> None:
        if self.mixer not in SPATIAL_MIXERS:
            raise ConfigError(
                f"mixer_first needs a spatial mixer ({', '.join(SPATIAL_MIXERS)}); got mixer={self.mixer!r}"
            )
        if self.expand != "pw" or self.project != "pw":
            raise ConfigError(
                f"mixer_first needs expand='pw' and project='pw' (the FFN); got expand={self.expand!r}, "
                f"project={self.project!r}"
            )
        if self.shortcut not in ("none", "identity"):
            raise ConfigError(f"mixer_first allows shortcut 'none' or 'identity'; got shortcut={self.shortcut!r}")
        if self.norm_in != "none" or self.pre_dw_kernel or self.post_dw_kernel:
            raise ConfigError("mixer_first does not combine with norm_in, pre_dw_kernel or post_dw_kernel")
        if self.factor_mults != (1, 1):
            raise ConfigError(
                f"mixer_first needs F to keep the block's input width; got factor_mults={self.factor_mults}"
            )

    def _compute_widths(self) -> None:
        split = self.shortcut == "split"
        if self.mixer_first:
            mixer_in = self.in_chs
            main_in = self.out_chs
        else:
            mixer_in = 0
            main_in = self.in_chs // 2 if split and self.stride == 1 else self.in_chs
        main_out = self.out_chs // 2 if split else self.out_chs
        if split:
            if self.out_chs % 2:
                raise ConfigError(f"shortcut='split' needs an even out_chs; got out_chs={self.out_chs}")
            if self.stride == 1 and self.in_chs != self.out_chs:
                raise ConfigError(
                    f"shortcut='split' at stride 1 needs in_chs == out_chs; got in_chs={self.in_chs}, "
                    f"out_chs={self.out_chs}"
                )
        if self.expand == "none":
            if self.hidden_chs is not None and self.hidden_chs != main_in:
                raise ConfigError(f"expand='none' keeps the width {main_in}; got hidden_chs={self.hidden_chs}")
            if self.exp_ratio != 1:
                raise ConfigError(f"expand='none' needs exp_ratio=1; got exp_ratio={self.exp_ratio}")
            hidden = main_in
        else:
            hidden = self._hidden_width(main_in)
        if self.mixer_first:
            mixer_out = mixer_in
        else:
            mixer_in = hidden
            mixer_out = hidden * self.factor_mults[0] * self.factor_mults[1]
        if self.project == "none" and mixer_out != main_out:
            raise ConfigError(
                f"project='none' needs the width after F ({mixer_out}) to equal the output width "
                f"({main_out}); set project or change exp_ratio/hidden_chs/out_chs"
            )
        heads = 0
        if self.has_attention:
            heads = self._check_attention(main_in, hidden)
        elif self.mixer == "mqa":
            heads = self._check_mqa(hidden)
        if self.mixer == "dw_mixed" and mixer_in < len(self.mixed_kernels):
            raise ConfigError(
                f"mixer='dw_mixed' needs at least one channel per kernel; got width {mixer_in} for "
                f"mixed_kernels={list(self.mixed_kernels)}"
            )
        if self.expand != "none":
            for g_name, width_name, width in (
                ("expand_groups", "main_in", main_in),
                ("expand_groups", "hidden", hidden),
            ):
                if width % self.expand_groups:
                    raise ConfigError(
                        f"{g_name} must divide the {width_name} width {width}; got {g_name}={self.expand_groups}"
                    )
        if self.mixer == "conv" and (mixer_in % self.mixer_groups):
            raise ConfigError(f"mixer_groups must divide the width {mixer_in}; got mixer_groups={self.mixer_groups}")
        if self.project != "none":
            proj_in = hidden if self.mixer_first else mixer_out
            for width in (proj_in, main_out):
                if width % self.project_groups:
                    raise ConfigError(
                        f"project_groups must divide the widths {proj_in} and {main_out}; got "
                        f"project_groups={self.project_groups}"
                    )
        _check_shuffle("expand_shuffle", self.expand_shuffle, hidden)
        _check_shuffle("mixer_shuffle", self.mixer_shuffle, mixer_out)
        _check_shuffle("project_shuffle", self.project_shuffle, main_out)
        if self.inner_skip and (mixer_out != mixer_in or (self.stride_slot == "mixer" and self.stride > 1)):
            raise ConfigError(
                "inner_skip needs F to keep the shape (stride 1, factor_mults (1, 1)); got "
                f"stride={self.stride}, factor_mults={self.factor_mults}"
            )
        if self.shortcut == "identity" and not self.mixer_first and (self.stride != 1 or self.in_chs != self.out_chs):
            raise ConfigError(
                "shortcut='identity' needs stride 1 and in_chs == out_chs; got "
                f"stride={self.stride}, in_chs={self.in_chs}, out_chs={self.out_chs} (use 'conv', 'avgpool' or 'none')"
            )
        if self.shortcut == "avgpool" and self.stride == 1 and self.in_chs == self.out_chs:
            raise ConfigError("shortcut='avgpool' is for a stride or width change; use 'identity' here")
        se_in = mixer_out
        se_chs = self._se_width(main_in if not self.mixer_first else mixer_in, se_in)
        for name, act in (
            ("expand_act", self.expand_act),
            ("mixer_act", self.mixer_act),
            ("project_act", self.project_act),
            ("post_act", self.post_act),
        ):
            if isinstance(act, ShiftMaxConfig):
                width = {
                    "expand_act": hidden,
                    "mixer_act": mixer_out,
                    "project_act": main_out,
                    "post_act": self.out_chs,
                }[name]
                if width % act.groups:
                    raise ConfigError(f"{name}.groups must divide the width {width}; got groups={act.groups}")
        for width_name, width, names in (
            ("expansion", hidden, ("in_chs", "exp_ratio", "hidden_chs", "hidden_divisor")),
            ("operator output", mixer_out, ("factor_mults",)),
            ("SE", se_chs, ("se_ratio", "se_chs", "se_divisor", "se_round_limit")),
        ):
            if width > MAX_CHANNELS:
                got = ", ".join(f"{n}={getattr(self, n)}" for n in names)
                raise ConfigError(f"the {width_name} width {width} exceeds {MAX_CHANNELS} channels; got {got}")
        self._widths.update(
            main_in=main_in,
            hidden=hidden,
            mixer_in=mixer_in,
            mixer_out=mixer_out,
            main_out=main_out,
            se=se_chs,
            heads=heads,
        )

    def _hidden_width(self, main_in: int) -> int:
        if self.hidden_chs is not None:
            return self.hidden_chs
        if self.hidden_divisor > 1:
            return make_divisible(main_in * self.exp_ratio, self.hidden_divisor)
        return max(1, round(main_in * self.exp_ratio))

    def _check_attention(self, main_in: int, hidden: int) -> int:
        if self.mixer_first:
            raise ConfigError("window_mhsa cannot be used with mixer_first")
        if self.expand != "pw":
            raise ConfigError(f"window_mhsa needs expand='pw' (the value projection); got expand={self.expand!r}")
        _check_int("head_dim", self.head_dim, minimum=1)
        _check_int("window_size", self.window_size, minimum=-(2**31))
        if main_in % self.head_dim:
            raise ConfigError(
                f"window attention needs width % head_dim == 0; got head_dim={self.head_dim} for width {main_in}"
            )
        heads = main_in // self.head_dim
        if not self.attn_pre and hidden % heads:
            raise ConfigError(
                f"window attention over the expansion needs hidden width % heads == 0; got hidden={hidden}, "
                f"heads={heads} (head_dim={self.head_dim})"
            )
        if self.v_group and (self.expand_groups != 1):
            raise ConfigError("v_group sets the value groups itself; leave expand_groups=1")
        if self.v_group and hidden % heads:
            raise ConfigError(f"v_group needs hidden width % heads == 0; got hidden={hidden}, heads={heads}")
        return heads

    def _check_mqa(self, width: int) -> int:
        if self.mixer_first:
            raise ConfigError("mixer='mqa' cannot be used with mixer_first")
        _check_int("head_dim", self.head_dim, minimum=1)
        if self.num_heads is not None:
            return self.num_heads
        if width % self.head_dim:
            raise ConfigError(
                f"mqa without num_heads needs width % head_dim == 0 (heads = width // head_dim); got "
                f"head_dim={self.head_dim} for width {width}"
            )
        return width // self.head_dim

    def _se_width(self, block_in: int, se_in: int) -> int:
        if self.se_ratio == 0 and self.se_chs is None:
            return 0
        if self.se_chs is not None:
            return self.se_chs
        ref = block_in if self.se_ref == "in" else se_in
        value = ref * self.se_ratio
        if self.se_round == "floor":
            return max(1, math.floor(value))
        if self.se_round == "round":
            return max(1, round(value))
        if self.se_round == "floor_divisible":
            value = math.floor(value)
        return make_divisible(value, self.se_divisor, round_limit=self.se_round_limit)

    def estimate_params(self) -> int:
        """The block's parameter count estimated from its widths and kernels alone (within a small
        factor of the exact count), so that a block too large to allocate is refused before it is built."""
        w = self._widths
        main_in, hidden, mixer_out, main_out, se = w["main_in"], w["hidden"], w["mixer_out"], w["main_out"], w["se"]
        k2 = max(self.kernel, 1) ** 2
        n = 4 * (main_in + hidden + mixer_out + main_out)  # norms
        if self.expand != "none":
            area = self.expand_kernel**2 if self.expand == "fused" else 1
            n += main_in * hidden * area // self.expand_groups
        if self.mixer == "conv":
            n += w["mixer_in"] * mixer_out * k2 // self.mixer_groups
        elif self.mixer == "window_mhsa":
            n += 2 * main_in * main_in + hidden * k2
        elif self.mixer == "mqa":
            n += w["mixer_in"] * (2 * w["heads"] * self.head_dim + 2 * self.head_dim) + 2 * w["mixer_in"] * k2
        else:
            n += mixer_out * k2 * 2
        if self.project != "none":
            area = self.project_kernel**2 if self.project == "conv" else 1
            n += (hidden if self.mixer_first else mixer_out) * main_out * area // self.project_groups
        n += 2 * mixer_out * se
        if self.shortcut not in ("none", "identity"):
            n += self.in_chs * (self.out_chs + k2)
        n += main_in * self.pre_dw_kernel**2 + main_out * self.post_dw_kernel**2
        if self.mixer_first:
            n += self.in_chs * self.out_chs
        return n

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict holding every field (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if isinstance(value, ShiftMaxConfig):
                value = {"shiftmax": value.to_dict()}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlockConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ConfigError`` with the closest field."""
        if not isinstance(data, dict):
            raise ConfigError(f"a block config must be a mapping; got {type(data).__name__}")
        check_data(data, "block config")
        valid = {f.name for f in fields(cls) if f.init}
        for key in data:
            if key not in valid:
                raise unknown("BlockConfig field", key, valid)
        missing = [name for name in ("in_chs", "out_chs") if name not in data]
        if missing:
            raise ConfigError(f"a block config needs {' and '.join(missing)}; got fields {sorted(data)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BlockConfig:
        return cls.from_dict(load_text(text, "json", "block config"))

    def replace(self, **changes: Any) -> BlockConfig:
        """A copy with ``changes`` applied; unknown field names raise ``ConfigError``."""
        valid = {f.name for f in fields(self) if f.init}
        for key in changes:
            if key not in valid:
                raise unknown("BlockConfig field", key, valid)
        return dataclasses.replace(self, **changes)


def _shiftmax_from_dict(name: str, value: dict[str, Any]) -> ShiftMaxConfig:
    inner = value.get("shiftmax") if set(value) == {"shiftmax"} else None
    if not isinstance(inner, dict):
        raise ConfigError(f"{name} as a mapping must be {{'shiftmax': {{...}}}}; got {name}={value!r}")
    valid = {f.name for f in fields(ShiftMaxConfig)}
    for key in inner:
        if key not in valid:
            raise unknown(f"{name}.shiftmax field", key, valid)
    return ShiftMaxConfig(**inner)


class IdentityMemo:
    """Results of a pure function of one immutable object (and hashable extras), looked up by the
    object's identity, not its equality: configs that compare equal may still differ in how a value
    is written (``4`` or ``4.0``), and a result must come from the very object it is asked for.

    Each entry holds its object, so an identity is never reused while its entry lives; the memo is
    emptied when it holds ``size`` entries. Search spaces decode the same few thousand block configs
    over and over; this makes building a candidate's config a lookup after the first time.
    """

    def __init__(self, size: int = 1 << 14) -> None:
        self.size = size
        self._entries: dict[Any, tuple[Any, Any]] = {}

    def get(self, obj: Any, extra: Any = ()) -> Any:
        """The stored result for ``obj`` and ``extra``, or ``None``."""
        hit = self._entries.get((id(obj), extra))
        return hit[1] if hit is not None and hit[0] is obj else None

    def clear(self) -> None:
        self._entries.clear()

    def get_or_make(self, obj: Any, make: Any, extra: Any = ()) -> Any:
        """The stored result for ``obj`` and ``extra``, else ``make()`` stored; with ``extra`` ``None``
        (a key that cannot be hashed, see :func:`typed`) ``make()`` is returned unstored."""
        if extra is None:
            return make()
        hit = self.get(obj, extra)
        return hit if hit is not None else self.put(obj, make(), extra)

    def put(self, obj: Any, result: Any, extra: Any = ()) -> Any:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[(id(obj), extra)] = (obj, result)
        return result


def typed(items: Any) -> tuple[Any, ...] | None:
    """A hashable key of ``(name, value)`` pairs that tells ``4`` from ``4.0`` and ``True`` from
    ``1``, or ``None`` when a value cannot be hashed."""
    key = tuple((name, type(value), value) for name, value in items)
    try:
        hash(key)
    except TypeError:
        return None
    return key


_CANONICAL = IdentityMemo()
_REPLACED = IdentityMemo()


def replaced(cfg: BlockConfig, changes: dict[str, Any]) -> BlockConfig:
    """``cfg.replace(**changes)``, memoised by ``cfg``'s identity and the typed changes."""
    return _REPLACED.get_or_make(cfg, lambda: cfg.replace(**changes), typed(sorted(changes.items())))


def canonical(cfg: BlockConfig) -> BlockConfig:
    """``cfg`` without explicit ``hidden_chs`` / ``se_chs`` where its own rules give the same widths.

    Two configs that build the same block then compare equal, whichever way they were written.
    (Memoised by the config's identity; a config is immutable.)
    """
    return _CANONICAL.get_or_make(cfg, lambda: _canonical(cfg))


def _canonical(cfg: BlockConfig) -> BlockConfig:
    for key in ("hidden_chs", "se_chs"):
        if getattr(cfg, key) is None:
            continue
        try:
            derived = cfg.replace(**{key: None})
        except ConfigError:
            continue
        if derived.widths() == cfg.widths():
            cfg = derived
    return cfg


def available_memory() -> int | None:
    """Bytes of memory this machine has available now (Linux ``MemAvailable``), or ``None``."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_weights_fit(params: int, what: str) -> None:
    """Refuse (``ConfigError``) a module whose float32 weights would exceed :data:`MAX_WEIGHT_BYTES` or
    the memory this machine has available, before any of them is allocated."""
    need = 4 * params
    if need <= 1 << 30:  # far below any machine's memory: no need to read it (blocks are built often)
        return
    limit = MAX_WEIGHT_BYTES
    avail = available_memory()
    where = f"the {MAX_WEIGHT_BYTES / 2**30:.0f} GiB limit"
    if avail is not None and avail < limit:
        limit, where = avail, f"the {avail / 2**30:.1f} GiB of memory available"
    if need > limit:
        raise ConfigError(
            f"{what} would hold about {params:,} parameters ({need / 2**30:.1f} GiB of float32 weights), more than "
            f"{where}; reduce its widths, kernels or depths"
        )


#: the most values (mapping entries, list items, scalars) a loaded config or space may hold, counting
#: every use of a YAML alias, and the deepest nesting it may have
MAX_VALUES = 1_000_000
MAX_NESTING = 64


def check_data(data: Any, what: str) -> Any:
    """Refuse loaded data nested deeper than :data:`MAX_NESTING` or holding more than
    :data:`MAX_VALUES` values once YAML aliases are expanded (an alias bomb), in bounded time and
    memory; returns ``data``."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f"{what} holds more than {MAX_VALUES:,} values (counting YAML aliases as copies)")
        if depth > MAX_NESTING:
            raise ConfigError(f"{what} is nested deeper than {MAX_NESTING} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)
    return data


def load_text(text: str, kind: str, what: str) -> Any:
    """Parse ``text`` as ``json`` or ``yaml`` (safe loader, refusing nesting past :data:`MAX_NESTING` while
    parsing); malformed or too deep input raises ``ConfigError`` naming ``what``."""
    import yaml

    class Loader(yaml.SafeLoader):
        """PyYAML's safe loader, stopping at the nesting limit instead of recursing on."""

        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            try:
                if self.depth > MAX_NESTING:
                    raise ConfigError(f"{what} is nested deeper than {MAX_NESTING} levels")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    try:
        data = json.loads(text) if kind == "json" else yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader)
    except RecursionError:
        raise ConfigError(f"{what} is nested deeper than {MAX_NESTING} levels") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{what} is not valid {kind.upper()}: {exc}") from None
    return data  # sizes are checked by the ``from_dict`` every loader hands the data to (check_data)
