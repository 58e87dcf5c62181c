"""Fuzzing configs with hypothesis: every valid config builds and trains, every invalid one raises
``ConfigError`` naming the field (never another exception type).

CI runs a few hundred examples; ``pytest -m slow`` runs thousands."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metablock
from metablock import BlockConfig, ConfigError, LayerConfig, MetaMobileBlock, NetConfig, StageConfig
from metablock.config import ACTIVATIONS, EXPANDS, MAX_CHANNELS, MIXERS, NORMS, PROJECTS, SHORTCUTS, ShiftMaxConfig

CI = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
SLOW = settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

WIDTHS = st.sampled_from([4, 8, 12, 16, 24])
ACTS = st.one_of(
    st.sampled_from([a for a in ACTIVATIONS if a != "none"] + ["none"]),
    st.builds(ShiftMaxConfig, groups=st.sampled_from([1, 2, 4]), fusions=st.sampled_from([1, 2])),
)

# a value from (mostly) the valid range of every field; many combinations are still invalid
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "in_chs": WIDTHS,
    "out_chs": WIDTHS,
    "stride": st.sampled_from([1, 2]),
    "exp_ratio": st.sampled_from([0.5, 1, 2, 3.0]),
    "hidden_chs": st.sampled_from([None, 8, 16]),
    "hidden_divisor": st.sampled_from([1, 8]),
    "expand": st.sampled_from(EXPANDS),
    "expand_kernel": st.sampled_from([1, 3]),
    "expand_groups": st.sampled_from([1, 2]),
    "expand_act": ACTS,
    "expand_shuffle": st.sampled_from([(), (2,)]),
    "mixer": st.sampled_from(MIXERS),
    "kernel": st.sampled_from([0, 1, 3, 5]),
    "dilation": st.sampled_from([1, 2]),
    "mixer_groups": st.sampled_from([1, 2]),
    "factor_mults": st.sampled_from([(1, 1), (1, 2)]),
    "mixer_act": ACTS,
    "inner_skip": st.booleans(),
    "mixer_shuffle": st.sampled_from([(), (2,)]),
    "window_size": st.sampled_from([-1, 0, 2, 3, 7]),
    "head_dim": st.sampled_from([4, 8, 16]),
    "attn_pre": st.booleans(),
    "v_group": st.booleans(),
    "rep_scale": st.sampled_from(["none", "bias", "norm"]),
    "rep_identity": st.booleans(),
    "se_ratio": st.sampled_from([0, 0.25, 0.5]),
    "se_ref": st.sampled_from(["in", "hidden"]),
    "se_round": st.sampled_from(["round", "floor", "divisible", "floor_divisible"]),
    "se_gate": st.sampled_from(["sigmoid", "hsigmoid"]),
    "project": st.sampled_from(PROJECTS),
    "project_groups": st.sampled_from([1, 2]),
    "project_act": ACTS,
    "pre_dw_kernel": st.sampled_from([0, 3]),
    "post_dw_kernel": st.sampled_from([0, 3]),
    "shortcut": st.sampled_from(SHORTCUTS),
    "post_act": ACTS,
    "norm": st.sampled_from(NORMS),
    "norm_in": st.sampled_from(NORMS),
    "layer_scale": st.sampled_from([None, 1e-2]),
    "drop_path": st.sampled_from([0.0, 0.2]),
    "mixer_first": st.booleans(),
}

# the values a fuzzed field may take that must be refused
BAD = st.one_of(
    st.none(),
    st.text(max_size=4),
    st.integers(-(2**40), -1),
    st.just(0),
    st.integers(MAX_CHANNELS + 1, 10**18),  # huge: refused by the documented bounds (or harmless)
    st.floats(1e6, 1e308),
    st.floats(-8, -1e-9) | st.sampled_from([math.nan, math.inf, -math.inf, 0.0]),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.booleans(),
)
NUMBER_FIELDS = [
    "in_chs",
    "out_chs",
    "stride",
    "exp_ratio",
    "hidden_divisor",
    "expand_kernel",
    "expand_groups",
    "dilation",
    "mixer_groups",
    "project_kernel",
    "project_groups",
    "se_divisor",
    "norm_eps",
    "norm_momentum",
    "drop_path",
    "attn_drop",
    "se_ratio",
    "se_round_limit",
    "kernel",
    "pre_dw_kernel",
    "post_dw_kernel",
    "head_dim",
    "window_size",
    "kv_stride",
    "ghost_ratio",
    "ghost_kernel",
]
NAME_FIELDS = ["expand", "mixer", "project", "shortcut", "norm", "norm_in", "se_ref", "se_round", "se_gate", "se_act"]


def _train_step(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    module.train()
    y = module(x)
    y = y[0] if isinstance(y, (tuple, list)) else y
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    for p in module.parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all()
    return y


def _valid_block(data: st.DataObject) -> BlockConfig | None:
    chosen = {k: data.draw(v, label=k) for k, v in FIELDS.items() if data.draw(st.booleans(), label=f"set {k}")}
    chosen.setdefault("in_chs", data.draw(WIDTHS, label="in_chs"))
    chosen.setdefault("out_chs", data.draw(WIDTHS, label="out_chs"))
    try:
        return BlockConfig(**chosen)
    except ConfigError as exc:
        assert str(exc), chosen
        return None


def _check_block(data: st.DataObject) -> None:
    cfg = _valid_block(data)
    if cfg is None:
        return
    torch.manual_seed(0)
    size = data.draw(st.sampled_from([16, 17, 32]), label="size")
    block = MetaMobileBlock(cfg)
    y = _train_step(block, torch.randn(2, cfg.in_chs, size, size))
    assert y.shape[:2] == (2, cfg.out_chs)
    assert BlockConfig.from_json(cfg.to_json()) == cfg


@CI
@given(st.data())
def test_random_block_configs_build_and_train_or_raise_config_error(data: st.DataObject) -> None:
    _check_block(data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_random_block_configs_many(data: st.DataObject) -> None:
    _check_block(data)


def _preset_block(data: st.DataObject, in_chs: int, out_chs: int, stride: int) -> BlockConfig | None:
    name = data.draw(st.sampled_from(metablock.list_blocks()), label="preset")
    try:
        return metablock.block_config(name, in_chs=in_chs, out_chs=out_chs, stride=stride)
    except ConfigError:
        return None


def _check_bad_field(data: st.DataObject) -> None:
    base = metablock.block_config("mobilenet_v2_ir", in_chs=16, out_chs=16)
    name = data.draw(st.sampled_from(NUMBER_FIELDS + NAME_FIELDS), label="field")
    value = data.draw(BAD, label="value")
    try:
        cfg = base.replace(**{name: value})
    except ConfigError as exc:
        assert name in str(exc), (name, value, str(exc))
        return
    # accepted: it must then be a legal value of the field that builds and runs
    assert not isinstance(value, (str, list, dict, type(None))) or name in NAME_FIELDS, (name, value)
    _train_step(MetaMobileBlock(cfg), torch.randn(2, cfg.in_chs, 16, 16))


@CI
@given(st.data())
def test_invalid_field_values_raise_config_error_naming_the_field(data: st.DataObject) -> None:
    _check_bad_field(data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_invalid_field_values_many(data: st.DataObject) -> None:
    _check_bad_field(data)


# ------------------------------------------------------------------------------ networks
def _net(data: st.DataObject) -> NetConfig | None:
    stem = data.draw(st.sampled_from([8, 16]), label="stem")
    stages, chs = [], stem
    for i in range(data.draw(st.integers(1, 3), label="stages")):
        out, stride = data.draw(WIDTHS, label=f"s{i}.width"), data.draw(st.sampled_from([1, 2]), label=f"s{i}.stride")
        block = _preset_block(data, chs, out, stride)
        if block is None:
            return None
        depth = data.draw(st.integers(1, 2), label=f"s{i}.depth")
        stages.append(StageConfig(block=block, depth=depth, out_chs=out, stride=stride))
        chs = out
    try:
        return NetConfig(
            stem=(LayerConfig(kind="conv", out_chs=stem, kernel=3, stride=2, norm="bn", act="relu"),),
            stages=tuple(stages),
            head=(LayerConfig(kind="pool"), LayerConfig(kind="linear", bias=True)),
            num_classes=data.draw(st.sampled_from([1, 5]), label="classes"),
            width_mult=data.draw(st.sampled_from([1.0, 0.5, 1.5]), label="width_mult"),
            drop_path_rate=data.draw(st.sampled_from([0.0, 0.1]), label="drop_path_rate"),
        )
    except ConfigError as exc:
        assert str(exc)
        return None


def _check_net(data: st.DataObject) -> None:
    cfg = _net(data)
    if cfg is None:
        return
    torch.manual_seed(0)
    size = data.draw(st.sampled_from([16, 32]), label="size")
    y = _train_step(metablock.build(cfg), torch.randn(2, 3, size, size))
    assert y.shape == (2, cfg.num_classes)
    assert NetConfig.from_json(cfg.to_json()) == cfg
    assert NetConfig.from_yaml(cfg.to_yaml()) == cfg


@CI
@given(st.data())
def test_random_networks_build_and_train(data: st.DataObject) -> None:
    _check_net(data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_random_networks_many(data: st.DataObject) -> None:
    _check_net(data)


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.integers(10**6, 10**18)  # huge widths, depths, kernels, resolutions
    | st.floats(-10, 10)
    | st.floats(1e6, 1e308)  # huge ratios
    | st.sampled_from([math.nan, math.inf, _deep(200), [1, 10**9]])  # nested; a huge depth range
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _replace_somewhere(data: st.DataObject, good: Any) -> Any:
    """``good`` with one value somewhere in its nested dicts and lists replaced by junk."""
    path: list[Any] = []
    node: Any = good
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans(), label="deeper"):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))), label="key")
        path.append(key)
        node = node[key]
    target: Any = good
    for key in path[:-1]:
        target = target[key]
    junk = data.draw(JUNK, label="junk")
    if not path:
        return junk
    target[path[-1]] = junk
    return good


def _check_junk_net(data: st.DataObject) -> None:
    good = NetConfig(
        stem=(LayerConfig(kind="conv", out_chs=8, stride=2, norm="bn", act="relu"),),
        stages=(StageConfig(block=metablock.block_config("mbconv", in_chs=8, out_chs=8), depth=1, out_chs=8),),
        head=(LayerConfig(kind="pool"), LayerConfig(kind="linear")),
        num_classes=3,
    ).to_dict()
    good = _replace_somewhere(data, good)
    try:
        cfg = NetConfig.from_dict(good)
    except ConfigError as exc:
        assert str(exc)
        return
    _train_step(metablock.build(cfg), torch.randn(1, cfg.in_chans, 16, 16))


@CI
@given(st.data())
def test_junk_in_network_dicts_raises_config_error_only(data: st.DataObject) -> None:
    _check_junk_net(data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_junk_in_network_dicts_many(data: st.DataObject) -> None:
    _check_junk_net(data)


def test_fuzzed_fields_exist() -> None:
    names = {f.name for f in dataclasses.fields(BlockConfig)}
    assert set(FIELDS) | set(NUMBER_FIELDS) | set(NAME_FIELDS) <= names
    assert math.isfinite(1.0)


# ------------------------------------------------------------------------------ search spaces
def _check_junk_space(data: st.DataObject) -> None:
    from search.space import SearchSpace, get_space

    name = data.draw(st.sampled_from(["emo", "mobilenet", "unified", "micronet"]), label="space")
    spec = _replace_somewhere(data, json.loads(json.dumps(get_space(name).to_dict())))
    try:
        space = SearchSpace.from_dict(spec)
        for seed in range(2):
            cand = space.random(seed)
            assert cand.net.estimate_params() > 0
    except ConfigError as exc:
        assert str(exc)


@CI
@given(st.data())
def test_junk_in_space_dicts_raises_config_error_only(data: st.DataObject) -> None:
    _check_junk_space(data)


# ------------------------------------------------------------------------------ slow: many cases, bounded
@pytest.fixture
def per_case_limit() -> Any:
    """A per-case time limit (SIGALRM) and, at the end, a bound on the process's peak memory."""
    import resource
    import signal

    def alarm(*_: Any) -> None:
        raise TimeoutError("a fuzz case ran longer than 30 s")

    previous = signal.signal(signal.SIGALRM, alarm)

    def run(fn: Any, data: st.DataObject) -> None:
        signal.alarm(30)
        try:
            fn(data)
        finally:
            signal.alarm(0)

    yield run
    signal.signal(signal.SIGALRM, previous)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak < 8 * 2**30, f"peak memory {peak / 2**30:.1f} GiB"


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_junk_in_space_dicts_many(data: st.DataObject, per_case_limit: Any) -> None:
    per_case_limit(_check_junk_space, data)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_junk_everywhere_many_bounded(data: st.DataObject, per_case_limit: Any) -> None:
    check = data.draw(st.sampled_from([_check_bad_field, _check_junk_net, _check_block]), label="kind")
    per_case_limit(check, data)
