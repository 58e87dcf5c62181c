"""Invalid block configurations raise ConfigError naming the field, the value and what is valid."""

from __future__ import annotations

import pytest

from metablock import BlockConfig, ConfigError, ShiftMaxConfig, block_config

INVALID = [
    ({"in_chs": 96, "out_chs": 96, "expand": "pw", "mixer": "window_mhsa", "head_dim": 64}, r"head_dim=64.*96"),
    ({"in_chs": 16, "out_chs": 16, "stride": 3}, r"stride=3"),
    ({"in_chs": 15, "out_chs": 15, "shortcut": "split"}, r"out_chs=15"),
    ({"in_chs": 16, "out_chs": 32, "shortcut": "identity"}, r"shortcut='identity'.*out_chs=32"),
    ({"in_chs": 16, "out_chs": 16, "mixer": "dwconvv"}, r"mixer value 'dwconvv'.*did you mean 'dwconv'"),
    ({"in_chs": 16, "out_chs": 16, "expand_act": "swish"}, r"expand_act value 'swish'"),
    ({"in_chs": 16, "out_chs": 16, "kernel": 4}, r"kernel=4"),
    ({"in_chs": 16, "out_chs": 16, "expand_groups": 3}, r"expand_groups"),
    ({"in_chs": 16, "out_chs": 16, "project_shuffle": (3,)}, r"project_shuffle"),
    ({"in_chs": 16, "out_chs": 24, "project": "none"}, r"project='none'"),
    ({"in_chs": 16, "out_chs": 16, "drop_path": 1.5}, r"drop_path=1.5"),
    ({"in_chs": 0, "out_chs": 16}, r"in_chs=0"),
    ({"in_chs": 16, "out_chs": 16, "exp_ratio": -1}, r"exp_ratio=-1"),
    ({"in_chs": 16, "out_chs": 16, "stride": 2, "mixer": "identity"}, r"stride=2 needs a spatial part"),
    ({"in_chs": 16, "out_chs": 16, "mixer": "rep_dw", "stride": 2}, r"rep_identity.*stride"),
    ({"in_chs": 16, "out_chs": 16, "inner_skip": True, "stride": 2}, r"inner_skip"),
    ({"in_chs": 16, "out_chs": 16, "se_ratio": -0.25}, r"se_ratio=-0.25"),
    ({"in_chs": 16, "out_chs": 16, "norm": "batch"}, r"norm value 'batch'"),
    ({"in_chs": 16, "out_chs": 16, "mixer_act": ShiftMaxConfig(groups=3)}, r"mixer_act.groups"),
    ({"in_chs": 16, "out_chs": 16, "factor_mults": (2, 2)}, r"factor_mults"),
    ({"in_chs": 16, "out_chs": 16, "layer_scale": 0.0}, r"layer_scale=0.0"),
    ({"in_chs": 16, "out_chs": 16, "mixer_first": True, "mixer": "identity"}, r"mixer_first.*mixer='identity'"),
    ({"in_chs": 16, "out_chs": 16, "mixer": "dw_mixed", "mixed_kernels": (3,)}, r"two or more mixed_kernels"),
    ({"in_chs": 16, "out_chs": 16, "mixer": "dw_mixed", "mixed_kernels": (3, 4), "kernel": 4}, r"kernel=4"),
    ({"in_chs": 16, "out_chs": 16, "mixer": "dw_mixed", "mixed_kernels": (3, 5)}, r"largest.*kernel=3"),
    ({"in_chs": 16, "out_chs": 16, "mixed_kernels": (3, 5)}, r"mixed_kernels applies only to mixer='dw_mixed'"),
    ({"in_chs": 2, "out_chs": 2, "expand": "none", "mixer": "dw_mixed", "mixed_kernels": (3, 5, 7), "kernel": 7},
     r"one channel per kernel.*width 2"),
    ({"in_chs": 16, "out_chs": 16, "expand": "ghost", "ghost_ratio": 1}, r"ghost_ratio.*ghost_ratio=1"),
    ({"in_chs": 16, "out_chs": 16, "ghost_kernel": 5}, r"ghost_kernel apply only to expand='ghost'"),
    ({"in_chs": 16, "out_chs": 16, "expand": "ghost", "expand_groups": 2}, r"expand='ghost' has no groups"),
    ({"in_chs": 16, "out_chs": 16, "mixer": "mqa", "head_dim": 5, "expand": "none", "project": "none"},
     r"head_dim=5 for width 16"),
    ({"in_chs": 16, "out_chs": 16, "num_heads": 2}, r"num_heads and kv_stride apply only to mixer='mqa'"),
    ({"in_chs": 16, "out_chs": 16, "mixer": "mqa", "kv_stride": 0}, r"kv_stride=0"),
    ({"in_chs": 16, "out_chs": 16, "mixer": "mqa", "stride": 2}, r"stride=2 needs a spatial part"),
    ({"in_chs": 16, "out_chs": 16, "padding": "valid"}, r"padding value 'valid'"),
    ({"in_chs": 4, "out_chs": 4, "mixer": "dw_factorized", "factor_mults": (1, 2), "mixer_first": True},
     r"mixer_first needs F to keep the block's input width; got factor_mults=\(1, 2\)"),
    ({"in_chs": 16, "out_chs": 16, "mixer": "rep_dw", "padding": "same"}, r"padding='same' is not supported with"),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_config_raises_config_error_naming_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BlockConfig(**kwargs)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_from_dict_rejects_unknown_fields_with_closest_match() -> None:
    with pytest.raises(ConfigError, match="did you mean 'kernel'"):
        BlockConfig.from_dict({"in_chs": 8, "out_chs": 8, "kernal": 3})


def test_from_json_rejects_malformed_text() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        BlockConfig.from_json("{in_chs: 8")


def test_shift_max_round_trip_and_validation() -> None:
    cfg = block_config("micro_block_b")
    again = BlockConfig.from_dict(cfg.to_dict())
    assert isinstance(again.expand_act, ShiftMaxConfig)
    assert again == cfg
    with pytest.raises(ConfigError, match="shiftmax.fusions"):
        ShiftMaxConfig(fusions=3)
    with pytest.raises(ConfigError, match="expand_act as a mapping"):
        BlockConfig(in_chs=8, out_chs=8, expand_act={"shift": {}})


def test_configs_are_hashable_and_compare_by_value() -> None:
    a = block_config("irmb")
    b = block_config("irmb")
    assert a == b and hash(a) == hash(b)
    assert a != a.replace(kernel=5)


def test_widths_are_derived_in_one_place() -> None:
    cfg = block_config("shufflenet_v2_unit", chs=116)
    assert cfg.widths()["main_in"] == 58 and cfg.widths()["main_out"] == 58
    cfg = block_config("micro_block_a")
    w = cfg.widths()
    assert w["mixer_out"] == cfg.in_chs * cfg.factor_mults[0] * cfg.factor_mults[1]


def test_memoised_config_steps_keep_each_value_as_written() -> None:
    """``canonical`` and ``replaced`` are memoised by identity: equal configs that write a value
    differently (4 or 4.0) each get their own result, and a memo hit is the first result itself."""
    from metablock.config import canonical, replaced

    as_int = BlockConfig(in_chs=16, out_chs=16, exp_ratio=4, hidden_chs=64)
    as_float = BlockConfig(in_chs=16, out_chs=16, exp_ratio=4.0, hidden_chs=64)
    assert as_int == as_float
    a, b = canonical(as_int), canonical(as_float)
    assert a.hidden_chs is None and b.hidden_chs is None  # the derived width was dropped from both
    assert type(a.exp_ratio) is int and type(b.exp_ratio) is float
    assert canonical(as_int) is a
    r1, r2 = replaced(a, {"out_chs": 24, "exp_ratio": 6}), replaced(a, {"out_chs": 24, "exp_ratio": 6.0})
    assert type(r1.exp_ratio) is int and type(r2.exp_ratio) is float
    assert replaced(a, {"exp_ratio": 6, "out_chs": 24}) is r1  # the same changes in another order
    assert r1 == a.replace(out_chs=24, exp_ratio=6)
    with pytest.raises(ConfigError, match="stride=3"):  # errors are not memoised away
        replaced(a, {"stride": 3})
    with pytest.raises(ConfigError, match="stride=3"):
        replaced(a, {"stride": 3})
    assert replaced(a, {"expand_shuffle": [2]}).expand_shuffle == (2,)  # an unhashable value: built, not memoised
