"""Safe loading: configs and spaces through safe loaders, checkpoints with weights_only; nothing named in
a config is imported or executed outside our registries."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_search import TINY

import metablock
from metablock import BlockConfig, ConfigError, NetConfig
from search import load_space

EVIL_YAML = "!!python/object/apply:os.system ['touch {marker}']\n"


def test_yaml_with_python_tags_is_rejected_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    text = EVIL_YAML.format(marker=marker)
    with pytest.raises(ConfigError, match="not valid YAML"):
        NetConfig.from_yaml(text)
    space = tmp_path / "space.yaml"
    space.write_text(text)
    with pytest.raises(ConfigError):
        load_space(space)
    nested = (
        metablock.model_config("mobilenet_v2").to_yaml().replace("name: mobilenet_v2", "name: !!python/name:os.system")
    )
    with pytest.raises(ConfigError, match="not valid YAML"):
        NetConfig.from_yaml(nested)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [("mixer", "os.system", "dwconv"), ("expand_act", "torch.nn.ReLU", "relu"), ("norm", "builtins.eval", "bn")],
)
def test_a_config_naming_an_unknown_operator_lists_the_valid_names(field: str, value: str, valid: str) -> None:
    with pytest.raises(ConfigError, match=rf"{field}.*{value!r}.*valid: .*{valid}"):
        BlockConfig(in_chs=8, out_chs=8, **{field: value})
    data = metablock.model_config("mobilenet_v2").to_dict()
    data["stages"][0]["block"][field] = value
    with pytest.raises(ConfigError, match="valid: "):
        NetConfig.from_dict(data)


def test_a_space_naming_an_unknown_operator_lists_the_valid_names() -> None:
    from search.space import SearchSpace

    with pytest.raises(ConfigError, match=r"'subprocess\.run'.*valid"):
        SearchSpace.from_dict({**TINY, "stages": [{**TINY["stages"][0], "ops": ["subprocess.run"]}]})


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch /tmp/metablock-owned-by-checkpoint",))


def test_checkpoints_load_tensors_only(tmp_path: Path) -> None:
    block = metablock.MetaMobileBlock(metablock.block_config("irmb", in_chs=16, out_chs=16))
    good = tmp_path / "good.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in block.state_dict().items()}}, good)
    state = metablock.load_checkpoint(good)
    assert block.load_state_dict(state, strict=True)
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": block.state_dict(), "extra": _Payload()}, evil, pickle_protocol=2)
    Path("/tmp/metablock-owned-by-checkpoint").unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="refusing to load"):
        metablock.load_checkpoint(evil)
    assert not Path("/tmp/metablock-owned-by-checkpoint").exists()
    with pytest.raises(ConfigError, match="cannot read checkpoint"):
        metablock.load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="checkpoint"):
        metablock.load_checkpoint(tmp_path / "text.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ConfigError, match="no state dict"):
        metablock.load_checkpoint(tmp_path / "list.pt")


# ------------------------------------------------------------------------------ sizes and shapes with limits
ALIAS_BOMB = """
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
name: bomb
stem: [{kind: conv, out_chs: stem, kernel: 3, stride: 2, norm: bn, act: *h}]
stages: [{depth: [1, 2]}]
"""


def test_a_huge_depth_range_in_a_space_is_refused_at_once(tmp_path: Path) -> None:
    import time

    path = tmp_path / "space.yaml"
    path.write_text("name: deep\nstages:\n  - {depth: [1, 1000000000], widths: [16]}\n")
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"stages\[0\]: depth must be \[min, max\] with 1 <= min <= max <= 1024"):
        load_space(path)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"out_chs": 10**9}, r"out_chs must be <= 65536; got out_chs=1000000000"),
        ({"exp_ratio": 1e30}, r"exp_ratio must be a number in \(0, 64\]; got exp_ratio=1e\+30"),
        ({"se_ratio": 1e308}, r"se_ratio must be in \[0, 64\]; got se_ratio=1e\+308"),
        ({"kernel": 101}, r"kernel must be <= 63; got kernel=101"),
        ({"hidden_divisor": 2**40}, r"hidden_divisor must be <= 65536"),
    ],
)
def test_sizes_past_the_documented_bounds_are_config_errors(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        metablock.block_config("mobilenet_v2_ir", in_chs=16, out_chs=16).replace(**changes)


def test_a_block_or_network_too_large_for_memory_is_refused_before_it_is_built() -> None:
    import tracemalloc

    huge = BlockConfig(in_chs=60000, out_chs=60000, expand="none", mixer="conv", kernel=31, project="none")
    tracemalloc.start()
    with pytest.raises(ConfigError, match=r"would hold about [\d,]+ parameters .* GiB of float32 weights"):
        metablock.MetaMobileBlock(huge)
    cfg = metablock.model_config("resnet50").replace(width_mult=30.0)  # about 23 billion parameters
    with pytest.raises(ConfigError, match="network 'resnet50' would hold about"):
        metablock.build(cfg)
    assert tracemalloc.get_traced_memory()[1] < 50e6
    tracemalloc.stop()


def test_a_stem_conv_whose_groups_do_not_divide_its_widths_is_a_config_error() -> None:
    data = metablock.model_config("mobilenet_v2").to_dict()
    data["stem"][0]["groups"] = 3  # divides the 3 input channels, not the 32 outputs
    with pytest.raises(ConfigError, match=r"stem\[0\]\.groups must divide the layer's input and output widths"):
        NetConfig.from_dict(data)


def test_deeply_nested_json_and_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nested deeper than 64 levels"):
        NetConfig.from_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="nested deeper than 64 levels"):
        NetConfig.from_yaml("[" * 5_000 + "]" * 5_000)
    path = tmp_path / "space.json"
    path.write_text('{"stages": ' + "[" * 50_000 + "]" * 50_000 + "}")
    with pytest.raises(ConfigError, match="nested deeper"):
        load_space(path)


def test_a_yaml_alias_bomb_under_a_stem_template_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    tracemalloc.start()
    with pytest.raises(ConfigError, match="holds more than 1,000,000 values"):
        load_space(path)
    assert tracemalloc.get_traced_memory()[1] < 100e6
    tracemalloc.stop()


def test_the_cli_reports_a_too_deep_config_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "net.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "metablock.cli", "profile", str(path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "nested deeper" in result.stderr
