"""metablock's networks and searched configs through timm's own factory (``import metablock.timm``)."""

from __future__ import annotations

import json

import pytest
import torch

import metablock
from metablock import ConfigError

timm = pytest.importorskip("timm")
import metablock.timm as mtimm  # noqa: E402  (after the skip: registers the models)


def test_every_named_network_is_a_timm_model_without_weights():
    names = timm.list_models("metablock_*")
    assert {f"metablock_{n}" for n in metablock.list_models()} <= set(names)
    assert "metablock_config" in names
    assert not [n for n in timm.list_models(pretrained=True) if n.startswith("metablock_")]
    with pytest.raises(ConfigError, match="no pretrained weights"):
        timm.create_model("metablock_emo_1m", pretrained=True)


def test_timm_create_model_builds_the_same_network_as_metablock():
    torch.manual_seed(0)
    ours = metablock.create_model("mobilenet_v2", num_classes=7, drop_path_rate=0.1)
    theirs = timm.create_model("metablock_mobilenet_v2", num_classes=7, drop_path_rate=0.1)
    assert theirs.cfg == ours.cfg
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(ours.eval()(x), theirs.eval()(x))
    assert theirs.num_classes == 7


def test_timm_data_config_reads_the_networks_own_resolution():
    from timm.data import resolve_data_config

    model = timm.create_model("metablock_efficientnet_b1")
    assert resolve_data_config({}, model=model)["input_size"] == model.cfg.input_size
    assert timm.models.get_pretrained_cfg("metablock_efficientnet_b1").input_size == model.cfg.input_size
    assert model.cfg.input_size != (3, 224, 224)  # B1 is 240 px, so this can fail


def test_feature_info_describes_exactly_the_returned_maps():
    model = timm.create_model("metablock_repvit_m0_9", features_only=True, out_indices=(1, 3))
    maps = model(torch.randn(1, 3, 96, 96))
    info = model.feature_info
    assert len(info) == len(maps) == 2
    assert info.channels() == [m.shape[1] for m in maps]
    assert info.reduction() == [96 // m.shape[-1] for m in maps] == [8, 32]
    names = dict(model.named_modules())
    for name, m in zip(info.module_name(), maps, strict=True):  # the named module produces that map
        seen = []
        hook = names[name].register_forward_hook(lambda _m, _i, out, seen=seen: seen.append(out))
        model(torch.randn(1, 3, 96, 96))
        hook.remove()
        assert seen[0].shape == m.shape
    assert info.get_dicts(keys=("num_chs",), idx=0) == {"num_chs": maps[0].shape[1]}
    full = metablock.create_model("repvit_m0_9")
    assert len(full.feature_info) == 4  # the four maps, not one entry per block
    assert full.feature_info.reduction() == [4, 8, 16, 32]


def test_any_config_file_is_a_timm_model(tmp_path):
    cfg = metablock.model_config("emo_1m").replace(name="searched", resolution=160, num_classes=5)
    path = tmp_path / "trial_0005.json"
    path.write_text(json.dumps(cfg.to_dict()))
    model = timm.create_model("metablock_config", config=str(path))
    assert model.cfg == cfg
    assert model.pretrained_cfg["input_size"] == (3, 160, 160)
    name = mtimm.register("my_net", path)
    assert name == "metablock_my_net" and name in timm.list_models("metablock_my*")
    assert timm.models.get_pretrained_cfg(name).input_size == (3, 160, 160)
    again = timm.create_model(name, num_classes=3)
    assert again.cfg == cfg.replace(num_classes=3)
    assert again(torch.randn(1, 3, 64, 64)).shape == (1, 3)
    with pytest.raises(ConfigError, match="config="):
        timm.create_model("metablock_config")
    with pytest.raises(ConfigError, match="name must be a Python identifier"):
        mtimm.register("my net", path)


def test_timm_checkpoint_path_and_bad_arguments(tmp_path):
    ours = metablock.create_model("lcnet_100", num_classes=4)
    path = tmp_path / "w.pth"
    torch.save(ours.state_dict(), path)
    loaded = timm.create_model("metablock_lcnet_100", num_classes=4, checkpoint_path=str(path))
    for key, value in ours.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(ConfigError, match="unknown NetConfig field 'global_pool'"):
        timm.create_model("metablock_lcnet_100", global_pool="max")
    with pytest.raises(ConfigError, match="drop_rate"):
        timm.create_model("metablock_lcnet_100", drop_rate=0.3)
