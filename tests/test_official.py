"""EMO and MicroNet presets against fixtures recorded from the official code.

Each fixture in ``tests/fixtures`` (see its README) holds the official module's state-dict manifest,
a seed, the input shape, the official parameter count and the official outputs. The official state
dict is rebuilt with ``random_state_dict(manifest, seed)``, converted with ``convert_state_dict`` and
loaded strictly into our preset, whose outputs must then equal the recorded ones.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import metablock
from metablock.testing import random_state_dict, seeded_input

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CASES = sorted(FIXTURES.glob("*.json"))
BLOCKS = [p for p in CASES if json.loads(p.read_text())["kind"] == "block"]
NETWORKS = [p for p in CASES if json.loads(p.read_text())["kind"] == "network"]
TOLERANCE = {"block": 1e-5, "network": 1e-4}


def _load(path: Path) -> dict[str, Any]:
    fx = json.loads(path.read_text())
    fx["manifest"] = {k: (tuple(shape), dtype) for k, (shape, dtype) in fx["manifest"].items()}
    return fx


def _tensor(record: dict[str, Any]) -> torch.Tensor:
    data = np.frombuffer(base64.b64decode(record["float32_base64"]), dtype="<f4")
    return torch.from_numpy(data.copy()).reshape(record["shape"])


def _tuples(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def _ours(fx: dict[str, Any]) -> nn.Module:
    preset = fx["preset"]
    if fx["kind"] == "network":
        return metablock.create_model(preset["model"])
    if "name" in preset:
        cfg = metablock.block_config(preset["name"], **preset["kwargs"])
    else:
        builder = {"emo_block": metablock.emo_block, "micronet_block": metablock.micronet_block}[preset["fn"]]
        cfg = builder(**_tuples(preset["kwargs"]))
    return metablock.MetaMobileBlock(cfg)


def _official_state_dict(fx: dict[str, Any]) -> dict[str, torch.Tensor]:
    return random_state_dict(fx["manifest"], fx["seed"])


def _count_params(manifest: dict[str, tuple[tuple[int, ...], str]]) -> int:
    return sum(int(np.prod(shape)) for shape, _ in manifest.values())


def test_fixtures_cover_every_official_preset() -> None:
    assert len(BLOCKS) >= 20
    models = {_load(p)["preset"]["model"] for p in NETWORKS}
    assert models == {n for n in metablock.list_models() if n.startswith(("emo_", "micronet_"))}
    named = {_load(p)["preset"].get("name") for p in BLOCKS}
    assert {"irmb", "irmb_attn", "micro_block_a", "micro_block_b", "micro_block_c"} <= named


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_parameter_count_equals_official(path: Path) -> None:
    fx = _load(path)
    ours = _ours(fx)
    assert sum(p.numel() for p in ours.parameters()) == fx["params"]
    # the manifest also lists buffers (BatchNorm statistics), so it can only bound the count
    assert _count_params(fx["manifest"]) >= fx["params"]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_converted_official_weights_load_strictly(path: Path) -> None:
    fx = _load(path)
    converted = metablock.convert_state_dict(_official_state_dict(fx), source=fx["source"])
    ours = _ours(fx)
    ours.load_state_dict(converted, strict=True)
    loaded = ours.state_dict()
    for key, value in converted.items():  # same values, not only the same shapes
        assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_outputs_equal_official(path: Path) -> None:
    fx = _load(path)
    ours = _ours(fx)
    ours.load_state_dict(metablock.convert_state_dict(_official_state_dict(fx), source=fx["source"]), strict=True)
    x = seeded_input(tuple(fx["input_shape"]), fx["seed"] + 1)
    for mode in ("eval", "train"):  # the order they were recorded in
        if mode not in fx["outputs"]:
            continue
        expected = _tensor(fx["outputs"][mode])
        ours.train(mode == "train")
        with torch.no_grad():
            y = ours(x.clone())
        assert y.shape == expected.shape, mode
        diff = (y - expected).abs().max().item()
        assert diff <= TOLERANCE[fx["kind"]], f"{mode}: max abs diff {diff:.3g}"


@pytest.mark.parametrize("path", NETWORKS, ids=lambda p: p.stem)
def test_network_fixture_records_fvcore_macs(path: Path) -> None:
    fx = _load(path)
    assert fx["fvcore_macs"] > 0
    assert fx["official"]["commit"] and len(fx["official"]["commit"]) == 40


@pytest.mark.parametrize(
    "source,key",
    [
        ("emo", "attn_bias.table"),
        ("emo", "pre_head.0.weight"),
        ("emo", "stage0.0.convs.1.0.weight"),  # a second stem dilation: not in any preset
        ("micronet", "layers.2.weight"),
        ("micronet", "features.0.stem.1.weight"),
        ("micronet", "classifier.1.weight"),
    ],
)
def test_unmapped_key_raises_naming_it(source: str, key: str) -> None:
    sd = {key: torch.zeros(4)}
    if source == "emo" and not key.startswith("stage0."):
        sd["norm.weight"] = torch.ones(4)
    with pytest.raises(metablock.ConfigError, match=key.replace(".", r"\.")):
        metablock.convert_state_dict(sd, source=source)


def test_whole_emo_checkpoint_with_an_unknown_key_names_it() -> None:
    fx = _load(FIXTURES / "emo_net_emo_1m.json")
    sd = _official_state_dict(fx)
    sd["stage3.1.extra.weight"] = torch.zeros(3)
    with pytest.raises(metablock.ConfigError, match=r"stage3\.1\.extra\.weight"):
        metablock.convert_state_dict(sd, source="emo")


def test_whole_micronet_checkpoint_with_an_unknown_key_names_it() -> None:
    fx = _load(FIXTURES / "micronet_net_micronet_m0.json")
    sd = _official_state_dict(fx)
    sd["features.3.layers.9.weight"] = torch.zeros(3)
    with pytest.raises(metablock.ConfigError, match=r"features\.3\.layers\.9\.weight"):
        metablock.convert_state_dict(sd, source="micronet")


def test_whole_micronet_layout_from_model_argument() -> None:
    fx = _load(FIXTURES / "micronet_net_micronet_m1.json")
    sd = {f"module.{k}": v for k, v in _official_state_dict(fx).items()}  # as DataParallel saves it
    by_name = metablock.convert_state_dict({"state_dict": sd}, source="micronet", model="micronet_m1")
    by_shapes = metablock.convert_state_dict(sd, source="micronet")
    assert list(by_name) == list(by_shapes)
    metablock.create_model("micronet_m1").load_state_dict(by_name, strict=True)


def test_whole_micronet_that_matches_no_named_network_raises() -> None:
    fx = _load(FIXTURES / "micronet_net_micronet_m0.json")
    sd = _official_state_dict(fx)
    sd = {k: v for k, v in sd.items() if not k.startswith("features.7.")}  # drop the last block
    with pytest.raises(metablock.ConfigError, match="model="):
        metablock.convert_state_dict(sd, source="micronet")
