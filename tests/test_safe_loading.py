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
