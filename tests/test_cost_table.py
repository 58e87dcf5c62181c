"""Per-block cost table: sums equal whole-network counts exactly; the cache file is shared by processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import metablock
from metablock.cost_table import Costs, CostTable, network_costs
from metablock.costs import count_macs, count_params
from metablock.memory import estimate_memory
from metablock.random_nets import list_families, random_net_config

SIZE = (3, 64, 64)


@pytest.fixture(scope="module")
def table() -> CostTable:
    return CostTable()


@pytest.mark.parametrize("name", metablock.list_models())
def test_table_sum_equals_the_whole_network_count_for_every_named_network(table: CostTable, name: str) -> None:
    cfg = metablock.model_config(name)
    costs = table.network(cfg, SIZE)
    assert costs.macs == count_macs(cfg, SIZE)
    assert costs.params == count_params(cfg)
    assert costs.macs == sum(part.macs for part in costs.stages)
    assert [p.name for p in costs.stages] == ["stem", *(f"stage{i}" for i in range(len(cfg.stages))), "head"]
    assert costs.stages[-1].out_shape == (cfg.num_classes,)


@pytest.mark.parametrize("name", ["mobilenet_v2", "emo_1m", "micronet_m0", "repvit_m0_9", "resnet50"])
def test_table_memory_equals_the_whole_network_estimate(table: CostTable, name: str) -> None:
    cfg = metablock.model_config(name)
    assert table.network(cfg, SIZE).memory == estimate_memory(cfg, SIZE)


def test_table_sum_equals_the_whole_network_count_for_200_random_networks() -> None:
    table = CostTable()
    size = (3, 32, 32)
    families = set()
    for seed in range(200):
        cfg = random_net_config(seed, widths=(16, 32), max_stages=3, max_depth=2)
        families.update(b.mixer for stage in cfg.block_configs() for b in stage)
        costs = table.network(cfg, size)
        assert (costs.macs, costs.params) == (count_macs(cfg, size), count_params(cfg)), f"seed {seed}"
    assert families >= {"dwconv", "rep_dw", "window_mhsa", "identity"}


def test_random_networks_repeat_for_a_seed_and_cover_the_families() -> None:
    assert random_net_config(7) == random_net_config(7)
    assert random_net_config(7) != random_net_config(8)
    assert len(list_families()) >= 8
    with pytest.raises(metablock.ConfigError, match="block family"):
        random_net_config(0, families=["mbconvv"])


def test_warm_queries_do_not_measure_again_and_default_table_agrees() -> None:
    table = CostTable()
    cfg = random_net_config(3)
    first = table.network(cfg, SIZE)
    misses = table.misses
    assert misses > 0
    again = table.network(metablock.NetConfig.from_json(cfg.to_json()), SIZE)
    assert again == first and table.misses == misses
    assert network_costs(cfg, SIZE) == first
    assert isinstance(first, Costs) and first.to_dict()["macs"] == first.macs


def test_bad_input_size_is_a_config_error() -> None:
    with pytest.raises(metablock.ConfigError, match="in_chans=3"):
        CostTable().network(metablock.model_config("mobilenet_v2"), (1, 64, 64))
    with pytest.raises(metablock.ConfigError, match="directory"):
        CostTable("/nonexistent/dir/costs.sqlite")


def _fill_code(path: str, seeds: list[int]) -> str:
    return (
        "import metablock; from metablock.random_nets import random_net_config\n"
        f"t = metablock.CostTable({path!r})\n"
        "kw = dict(widths=(16, 32), max_stages=2, max_depth=2)\n"
        f"c = [t.network(random_net_config(s, **kw), (3, 32, 32)) for s in {seeds}]\n"
        "print(t.misses, sum(x.macs for x in c))"
    )


def test_cache_file_is_written_by_concurrent_processes_and_read_by_a_new_one(tmp_path: Path) -> None:
    path = str(tmp_path / "costs.sqlite")
    seeds = [0, 1, 2, 3]
    # three interpreters write overlapping entries at once
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writers = [
        subprocess.Popen([sys.executable, "-c", _fill_code(path, seeds[i : i + 2])], env=env, stdout=subprocess.PIPE)
        for i in range(3)
    ]
    for w in writers:
        w.communicate(timeout=600)
    assert [w.returncode for w in writers] == [0, 0, 0]
    # a fresh interpreter answers every seed from the file without measuring anything
    code = _fill_code(path, seeds)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    expected = sum(
        count_macs(random_net_config(s, widths=(16, 32), max_stages=2, max_depth=2), (3, 32, 32)) for s in seeds
    )
    assert out == ["0", str(expected)]


def test_entries_are_stored_under_a_fingerprint_of_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import metablock.cost_table as ct

    path = str(tmp_path / "costs.sqlite")
    cfg = random_net_config(5, widths=(16,), max_stages=2, max_depth=1)
    CostTable(path).network(cfg, (3, 32, 32))
    # a file filled by other code (another fingerprint) is not trusted: everything is measured again
    monkeypatch.setattr(ct, "COST_SCHEMA", "costs-v1-other")
    table = CostTable(path)
    table.network(cfg, (3, 32, 32))
    assert table.misses > 0
    assert len(ct.code_fingerprint()) == 16
