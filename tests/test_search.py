"""The search: spaces, suggest, scores, budgets, the driver, resuming, workers and results."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import torch
import yaml

import metablock
from metablock import ConfigError, NetConfig
from metablock.costs import count_macs, count_params
from search import get_space, list_spaces, load_space
from search.cli import add_parser  # noqa: F401 - the CLI module imports without optuna work
from search.driver import SearchSettings, finished, run_search
from search.results import config_of, pareto_mask, results, write_results
from search.scores import ScoreSettings, compute_score, list_scores, seeded_build
from search.space import SearchSpace, StageSpace

TINY = {
    "name": "tiny",
    "resolutions": [32, 48],
    "stem_widths": [8, 16],
    "head_widths": [0],
    "acts": ["relu", "hswish"],
    "stem": [{"kind": "conv", "out_chs": "stem", "kernel": 3, "stride": 2, "norm": "bn", "act": "act"}],
    "head": [{"kind": "pool"}, {"kind": "linear", "bias": True}],
    "stages": [
        {"stride": 2, "depth": [1, 2], "widths": [16, 24], "ops": ["ir", "mbconv", "fused"], "exp_ratios": [1, 3]},
        {
            "stride": 2,
            "depth": [1, 2],
            "widths": [32, 48],
            "ops": ["irmb", "window_mhsa", "shiftmax"],
            "first_ops": ["irmb", "ir"],
            "exp_ratios": [2, 4],
            "kernels": [3, 5],
            "se_ratios": [0, 0.25],
            "head_dims": [16, 32],
            "window_sizes": [4, 0],
        },
    ],
}

FAST = ScoreSettings(score="naswot", batch_size=4, resolution=32)


def tiny_settings(tmp_path: Path, **kw: object) -> SearchSettings:
    base: dict[str, object] = dict(space=TINY, score=FAST, trials=4, out=str(tmp_path), progress=False, seed=0)
    base.update(kw)
    return SearchSettings(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ spaces
@pytest.mark.parametrize("name", list_spaces())
def test_named_space_is_valid_and_contains_its_named_networks(name: str) -> None:
    space = get_space(name)
    space.check(seeds=range(3))
    for model in space.contains_models:
        assert space.contains(metablock.model_config(model)), model
        params = space.baselines()[model]
        rebuilt = space.from_params(params).net
        ref = metablock.model_config(model)
        assert count_params(rebuilt) == count_params(ref)


def test_every_issue_space_exists_and_the_families_are_claimed() -> None:
    assert {"mobilenet", "efficientnetv2", "emo", "repvit", "micronet", "unified"} <= set(list_spaces())
    assert {"emo_1m", "emo_2m", "emo_5m", "emo_6m"} <= set(get_space("emo").contains_models)
    assert "efficientnet_v2_s" in get_space("efficientnetv2").contains_models
    assert {"micronet_m0", "micronet_m1"} <= set(get_space("micronet").contains_models)


def test_a_network_of_another_family_is_not_contained() -> None:
    assert not get_space("emo").contains(metablock.model_config("mobilenet_v2"))
    assert not get_space("mobilenet").contains(metablock.model_config("emo_1m"))
    assert not get_space("mobilenet").contains(metablock.model_config("mobilenet_v2"), resolution=300)


@pytest.mark.parametrize("name", list_spaces())
def test_random_candidates_build_run_and_round_trip(name: str) -> None:
    space = get_space(name)
    for seed in range(2):
        cand = space.random(seed)
        again = space.from_params(cand.params)
        assert again.net == cand.net and again.resolution == cand.resolution
        assert NetConfig.from_json(cand.net.to_json()) == cand.net
        model = metablock.build(cand.net)
        out = model(torch.randn(2, 3, 64, 64))
        assert out.shape == (2, 1000) and torch.isfinite(out).all()


def test_unified_space_offers_every_operator_in_every_stage() -> None:
    space = get_space("unified")
    ops = {"ir", "mbconv", "fused", "irmb", "window_mhsa", "shiftmax", "repvit", "uib", "conv"}
    ops |= {"ghost", "mixconv", "mqa", "edge", "regnet"}
    for stage in space.stages:
        assert ops <= set(stage.ops)
    seen = set()
    for seed in range(60):
        seen |= {v for k, v in space.random(seed).arch.items() if k.endswith(".op")}
    assert ops <= seen


@pytest.mark.parametrize("op", ["ghost", "mixconv", "mqa", "edge", "regnet"])
def test_new_operators_build_in_every_position_with_exact_table_costs(op: str) -> None:
    from metablock.cost_table import CostTable
    from metablock.costs import unsupported_ops
    from search.space import OPS, BlockChoice

    table = CostTable()
    for in_chs, out_chs, stride, first in ((32, 48, 2, True), (48, 48, 1, False), (32, 64, 1, True)):
        for kernel, se in ((3, 0.0), (5, 0.25)):
            choice = BlockChoice(
                in_chs=in_chs, out_chs=out_chs, stride=stride, exp=4.0, kernel=kernel, se=se, act="relu",
                norm_in="bn", first=first, head_dim=16,
            )  # fmt: skip
            cfg = OPS.get(op).build(choice)
            assert (cfg.in_chs, cfg.out_chs, cfg.stride) == (in_chs, out_chs, stride)
            entry = table.block(cfg, 14, 14)
            assert entry.macs == metablock.count_macs(cfg, (in_chs, 14, 14))
            assert entry.params == metablock.count_params(cfg)
            assert unsupported_ops(cfg, (in_chs, 14, 14)) == {}


def test_labels_are_flat_and_attention_settings_exist_only_for_attention_blocks() -> None:
    space = get_space(TINY)
    for seed in range(30):
        arch = space.random(seed).arch
        for key, op in arch.items():
            if key.endswith(".op"):
                block = key[: -len(".op")]
                has_attn = f"{block}.head_dim" in arch
                assert has_attn == (op == "window_mhsa"), (key, op, arch)
                if has_attn:
                    assert arch[block.rsplit(".", 1)[0] + ".width"] % arch[f"{block}.head_dim"] == 0
        assert "s0.depth" in arch and "s1.b0.op" in arch


def test_space_round_trips_through_yaml(tmp_path: Path) -> None:
    space = get_space("emo")
    path = tmp_path / "emo.yaml"
    path.write_text(yaml.safe_dump(space.to_dict()))
    assert load_space(path) == space
    json_path = tmp_path / "emo.json"
    json_path.write_text(json.dumps(space.to_dict()))
    assert get_space(str(json_path)) == space


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stages": [{"stride": 3}]}, "stride"),
        ({"stages": [{"depth": [3, 1]}]}, "depth"),
        ({"stages": [{"ops": ["dwconvv"]}]}, "dwconvv"),
        ({"stages": [{"kernels": [4]}]}, "kernels"),
        ({"stages": [{"widths": [40], "ops": ["window_mhsa"], "head_dims": [32]}]}, "head_dims"),
        ({"stages": [{"widht": [40]}]}, "widht"),
        ({"resolutions": []}, "resolutions"),
        ({"acts": ["relux"]}, "relux"),
        ({"colour": 1}, "colour"),
    ],
)
def test_invalid_spaces_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        SearchSpace.from_dict({**TINY, **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # a field the space would silently ignore is refused, naming it and why
        ({"head_widths": [1024]}, r"head_widths=\[1024\] is not used: no head layer has out_chs: head"),
        (
            {"stem": [{"kind": "conv", "out_chs": 16, "kernel": 3, "stride": 2}], "stem_widths": [16, 24]},
            r"stem_widths=\[16, 24\] is not used",
        ),
        (
            {"stages": [{"ops": ["ir"], "head_dims": [8, 16]}]},
            r"stages\[0\]\.head_dims=\[8, 16\] is not used: .*no attention",
        ),
        ({"stages": [{"ops": ["ir"], "window_sizes": [3]}]}, r"stages\[0\]\.window_sizes=\[3\] is not used"),
        ({"stages": [{"ops": ["ir"], "row": list(range(15))}]}, r"stages\[0\]\.row=.* is not used: .*micro_row"),
        (
            {"stages": [{"ops": ["shiftmax"], "se_ratios": [0, 0.25]}]},
            r"stages\[0\]\.se_ratios=\[0.0, 0.25\] changes no block",
        ),
        (
            {"stages": [{"ops": ["shiftmax"], "acts": ["relu", "gelu"]}]},
            r"stages\[0\]\.acts=\['relu', 'gelu'\] changes no block",
        ),
        # a preset name where an operator belongs names the operator
        ({"stages": [{"ops": ["irmb_attn"]}]}, r"stages\[0\]: ops: 'irmb_attn' is a block preset.*'window_mhsa'"),
        ({"stages": [{"ops": ["dwconvv"]}]}, r"stages\[0\]: unknown operator in ops 'dwconvv'"),
        # a width the user did not write for that stage is named with where it comes from
        (
            {"stem_widths": [24], "stages": [{"ops": ["window_mhsa"], "widths": [32], "head_dims": [16]}]},
            r"stages\[0\]\.head_dims=\[16\]: .*width 24 \(its input width, from stem_widths\)",
        ),
    ],
)
def test_space_errors_name_what_the_user_wrote(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_dict({**TINY, **change})


def test_the_operator_named_for_a_preset_builds_that_kind_of_block() -> None:
    from search.space import _PRESET_OPERATORS, OPS, BlockChoice

    for preset, op in _PRESET_OPERATORS.items():
        ref = metablock.block_config(preset)
        row = (ref.stride, 1, ref.out_chs, ref.kernel, 1, 4, 4, 4, ref.out_chs, 4, 4, 2, 2, 1, 1)
        shape = dict(in_chs=ref.in_chs, out_chs=ref.out_chs, stride=ref.stride, kernel=ref.kernel)
        choice = BlockChoice(**shape, exp=max(1.0, ref.exp_ratio), se=0.25, act="relu", norm_in="bn", first=True,
                             head_dim=8, row=row)  # fmt: skip
        assert OPS.get(op).build(choice).mixer == ref.mixer, (preset, op)


def test_a_choice_an_operator_uses_is_accepted() -> None:
    # se_ratios with an operator that reads it, and attention fields with an attention operator, load
    SearchSpace.from_dict({**TINY, "stages": [{"ops": ["ir", "shiftmax"], "se_ratios": [0, 0.25]}]})
    SearchSpace.from_dict({**TINY, "stages": [{"ops": ["window_mhsa"], "widths": [32], "head_dims": [8, 16]}]})


def test_unreadable_space_files_raise_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_space(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_space(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unknown search space 'emoo'.*did you mean 'emo'"):
        get_space("emoo")


def test_stage_space_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="exp_ratios"):
        StageSpace(exp_ratios=(0,))


# ------------------------------------------------------------------------------ scores
@pytest.mark.parametrize("score", ["naswot", "synflow", "grad_norm", "zen"])
def test_proxies_are_finite_and_repeat_with_the_seed(score: str) -> None:
    net = get_space(TINY).random(1).net
    settings = ScoreSettings(score=score, batch_size=8, resolution=32, seed=3)
    a = compute_score(seeded_build(net, 0), settings)
    b = compute_score(seeded_build(net, 0), settings)
    assert math.isfinite(a)
    assert a == pytest.approx(b, rel=1e-9)


def test_proxies_score_windowed_attention_at_full_resolution() -> None:
    # at 224 px the window attention folds windows into the batch dimension inside the block
    net = seeded_build(metablock.model_config("emo_1m"), 0)
    for score in ("naswot", "grad_norm"):
        value = compute_score(net, ScoreSettings(score=score, batch_size=2, resolution=None), resolution=224)
        assert math.isfinite(value), score


def test_naswot_separates_a_network_from_its_collapsed_copy() -> None:
    net = metablock.build(get_space(TINY).random(2).net)
    settings = ScoreSettings(score="naswot", batch_size=8, resolution=32)
    good = compute_score(net, settings)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    assert compute_score(net, settings) < good


def test_short_training_learns_digits_and_reports_progress() -> None:
    torch.manual_seed(0)
    net = metablock.build(get_space(TINY).random(4).net.replace(num_classes=10))
    seen: list[tuple[int, float]] = []
    settings = ScoreSettings(score="train", batch_size=32, resolution=16, train_steps=60, eval_every=20, lr=0.1)
    acc = compute_score(net, settings, report=lambda s, a: seen.append((s, a)))
    assert [s for s, _ in seen] == [20, 40, 60]
    assert acc == seen[-1][1]
    assert acc > 0.3  # ten classes: chance is 0.1


def test_short_train_is_the_ground_truth_recipe_cut_short() -> None:
    """``short_train`` = the ground truth's own training (its recipe, split, initialisation and
    resolution), cut to ``epochs`` epochs and measured on the first ``val_images`` validation images."""
    from search.ground_truth import RECIPE
    from search.training import train_network

    cand = get_space(TINY).random(4)
    settings = ScoreSettings(score="short_train", epochs=1, val_images=300)
    assert settings.recipe() == dataclasses.replace(RECIPE, epochs=1)
    assert settings.scoring_resolution(224) == RECIPE.train_resolution(224) == 32
    assert settings.scoring_resolution(cand.resolution) == RECIPE.train_resolution(cand.resolution)
    seen: list[tuple[int, float]] = []
    value = compute_score(
        seeded_build(cand.net, 0), settings, cand.resolution, lambda s, a: seen.append((s, a)), net=cand.net
    )
    from search.scores import SHORT_TRAIN_SEED_OFFSET

    seed = SHORT_TRAIN_SEED_OFFSET  # settings.seed 0 + the offset: never a seed the candidate is trained with
    direct = train_network(
        cand.net, dataclasses.replace(RECIPE, epochs=1), seed=seed, input_resolution=cand.resolution, val_images=300
    )
    assert value == direct.val_acc and seen == [(direct.steps, value)]
    assert round(value * 300) == pytest.approx(value * 300)  # a share of 300 images, not of 4,500
    whole = train_network(cand.net, dataclasses.replace(RECIPE, epochs=1), seed=seed, input_resolution=cand.resolution)
    assert round(whole.val_acc * 4500) == pytest.approx(whole.val_acc * 4500)
    fixed = ScoreSettings(score="short_train", epochs=1, resolution=24)
    assert fixed.recipe().resolution == 24 and fixed.scoring_resolution(224) == 24


def test_short_train_refuses_what_it_cannot_train() -> None:
    cand = get_space(TINY).random(0)
    with pytest.raises(ConfigError, match="short_train.*NetConfig"):
        compute_score(seeded_build(cand.net, 0), ScoreSettings(score="short_train", epochs=1), cand.resolution)
    with pytest.raises(ConfigError, match="epochs must be an integer >= 1; got epochs=0"):
        ScoreSettings(score="short_train", epochs=0)
    with pytest.raises(ConfigError, match="val_images must be an integer >= 0; got val_images=-5"):
        ScoreSettings(score="short_train", val_images=-5)
    from search.training import train_network

    with pytest.raises(ConfigError, match="val_images must be an integer >= 0"):
        train_network(cand.net, ScoreSettings().recipe(), seed=0, val_images=-1)


def test_a_study_scored_by_short_training_stores_the_trained_accuracy(tmp_path: Path) -> None:
    from search.scores import SHORT_TRAIN_SEED_OFFSET
    from search.training import train_network

    score = ScoreSettings(score="short_train", epochs=1, val_images=200, seed=3)
    study = run_search(tiny_settings(tmp_path, trials=2, score=score))
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 2
    for t in done:
        net = NetConfig.from_dict(t.user_attrs["config"])
        res = t.user_attrs["resolution"]
        direct = train_network(
            net, score.recipe(), seed=3 + SHORT_TRAIN_SEED_OFFSET, input_resolution=res, val_images=200
        )
        assert t.values[0] == t.user_attrs["score"] == direct.val_acc


@pytest.mark.parametrize("name", ["emo", "mobilenet", "micronet"])
def test_memoised_blocks_equal_freshly_built_ones(name: str) -> None:
    """Decoding builds each (operator, choice) block once; every candidate's blocks equal a fresh build."""
    from search.space import _BLOCKS

    space = get_space(name)
    _BLOCKS.clear()  # (other tests decode these spaces too)
    calls: list[tuple[str, Any]] = []
    real = space._build_block
    object.__setattr__(space, "_build_block", lambda op, choice: calls.append((op, choice)) or real(op, choice))
    try:
        for seed in range(8):
            space.random(seed)
    finally:
        object.__delattr__(space, "_build_block")
    assert calls and len(calls) == len(set(calls))  # each distinct block built once, then looked up
    for op, choice in set(calls):
        hit = space._block(op, choice)
        fresh = space._build_block(op, choice)
        assert hit == fresh and hit.to_dict() == fresh.to_dict()


def test_score_settings_reject_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown score 'nasbot'"):
        ScoreSettings(score="nasbot")
    with pytest.raises(ConfigError, match="batch_size"):
        ScoreSettings(batch_size=1)
    assert set(list_scores()) >= {"naswot", "synflow", "grad_norm", "zen", "train"}


# ------------------------------------------------------------------------------ driver
def test_small_study_end_to_end(tmp_path: Path) -> None:
    budget = 3e6
    study = run_search(tiny_settings(tmp_path, trials=6, max_macs=budget))
    assert finished(study) == 6
    df = results(str(tmp_path / "study.journal"))
    assert (df["status"] == "ok").sum() == 6  # six scored trials; over-budget draws come on top
    assert len(df) == 6 + (df["status"] == "over_budget").sum()
    for col in ("number", "state", "feasible", "pareto", "score", "macs", "params", "s0.depth", "s0.b0.op", "config"):
        assert col in df.columns, col
    scored = df[df["status"] == "ok"]
    assert (scored["macs"] <= budget).all()
    over = df[df["status"] == "over_budget"]
    assert over["score"].isna().all() and (over["macs"] > budget).all() and (~over["feasible"]).all()
    assert df.loc[df["pareto"], "feasible"].all()
    assert over["config"].isna().all() and over["s0.depth"].notna().all()  # choices kept, not the full config
    for _, row in df.iterrows():  # every stored config rebuilds its model with the stored costs
        if row["status"] == "ok":
            cfg = config_of(row)
            size = (3, int(row["resolution"]), int(row["resolution"]))
            assert count_macs(cfg, size) == row["macs"]
    paths = write_results(df, tmp_path)
    assert pd.read_parquet(paths["parquet"])["number"].tolist() == df["number"].tolist()
    assert len(pd.read_csv(paths["csv"])) == len(df)
    for path in paths["pareto"].glob("trial_*.json"):
        cfg = NetConfig.from_json(path.read_text())
        row = df[df["number"] == int(path.stem.split("_")[1])].iloc[0]
        assert cfg.resolution == row["resolution"]  # the exported file carries its searched input
        assert count_macs(cfg) == row["macs"] <= budget  # so its default costs are the ones that met the budget
        metablock.build(cfg)
    assert len(list(paths["pareto"].glob("trial_*.json"))) == int(df["pareto"].sum())


def test_over_budget_draws_take_no_scored_slot_but_teach_the_sampler(tmp_path: Path) -> None:
    study = run_search(tiny_settings(tmp_path, trials=5, max_macs=6e5, sampler="tpe"))
    trials = study.get_trials(deepcopy=False)
    over = [t for t in trials if t.user_attrs.get("status") == "over_budget"]
    scored = [t for t in trials if t.user_attrs.get("status") == "ok"]
    assert len(scored) == 5 and len(over) >= 1
    for t in over:  # recorded as infeasible, with the amount over the budget, so TPE can use them
        assert t.state.name == "PRUNED" and "score" not in t.user_attrs
        assert t.constraints and max(t.constraints.values()) > 0
    assert all(max(t.constraints.values()) <= 0 for t in scored)
    # resuming with more trials draws on until the new number is scored
    again = run_search(tiny_settings(tmp_path, trials=7, max_macs=6e5, sampler="tpe"))
    assert sum(t.user_attrs.get("status") == "ok" for t in again.get_trials(deepcopy=False)) == 7


def journal_appends(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[dict[str, Any]], bool]]:
    """Record every append of the driver's journal backend: its records, and whether it synced the disk."""
    import os

    from search.driver import _journal_class

    journal = _journal_class()
    writes: list[tuple[list[dict[str, Any]], bool]] = []
    real_write, real_fsync = journal._write, os.fsync
    synced = [False]

    def write(self: Any, logs: list[dict[str, Any]]) -> None:
        synced[0] = False
        real_write(self, logs)
        writes.append((list(logs), synced[0]))

    monkeypatch.setattr(journal, "_write", write)
    monkeypatch.setattr(os, "fsync", lambda fd: synced.__setitem__(0, True) or real_fsync(fd))
    return writes


def test_an_over_budget_draw_writes_its_choices_at_once_and_never_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = journal_appends(monkeypatch)
    study = run_search(tiny_settings(tmp_path, trials=3, max_macs=6e5, sampler="tpe", seed=1))
    trials = study.get_trials(deepcopy=False)
    over = [t for t in trials if t.user_attrs.get("status") == "over_budget"]
    assert len(over) >= 2
    for t in over:
        mine = [(logs, sync) for logs, sync in writes if any(log.get("trial_id") == t._trial_id for log in logs)]
        assert not any(sync for _, sync in mine)  # no record of an over-budget draw syncs the disk
        with_params = [logs for logs, _ in mine if any(log["op_code"] == 5 for log in logs)]
        assert len(with_params) == 1  # every choice in one append, with its costs and budget checks
        attrs = {k for log in with_params[0] for k in log.get("user_attr", {})}
        assert {"worker", "heartbeat", "arch", "macs", "status", "reason"} <= attrs
        assert len(mine) == 2  # the draw (its worker, choices, costs, budget checks), its end
    scored = {t._trial_id for t in trials if t.user_attrs.get("status") == "ok"}
    ends = [sync for logs, sync in writes for log in logs if log["op_code"] == 6 and log["trial_id"] in scored]
    assert len(ends) == 3 and all(ends)  # a scored trial's end syncs


def test_random_search_records_an_over_budget_draw_as_one_record_like_an_asked_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = journal_appends(monkeypatch)
    study = run_search(tiny_settings(tmp_path / "r", trials=3, max_macs=6e5, sampler="random"))
    trials = study.get_trials(deepcopy=False)
    over = [t for t in trials if t.user_attrs.get("status") == "over_budget"]
    scored = [t for t in trials if t.user_attrs.get("status") == "ok"]
    assert len(over) >= 2 and len(scored) == 3
    records = [
        (log, sync)
        for logs, sync in writes
        for log in logs
        if log["op_code"] == 4 and log.get("user_attrs", {}).get("status") == "over_budget"
    ]
    assert len(records) == len(over) and not any(sync for _, sync in records)  # one unsynced record each
    assert all(len(logs) == 1 for logs, _ in writes if any(log in logs for log, _ in records))
    space = get_space(TINY)
    for t in over:  # what an asked over-budget draw records, and its choices rebuild its candidate
        assert t.state.name == "PRUNED" and max(t.constraints.values()) > 0
        assert space.from_params(t.params).arch == t.user_attrs["arch"]
        assert t.user_attrs["macs"] == t.constraints["macs"] + 6e5
        assert t.duration is not None and t.duration.total_seconds() > 0
        assert all(t.distributions[k] == d for s in scored for k, d in s.distributions.items() if k in t.params)
    asked = run_search(tiny_settings(tmp_path / "t", trials=3, max_macs=6e5, sampler="tpe", seed=1))
    asked_over = next(t for t in asked.trials if t.user_attrs.get("status") == "over_budget")
    assert set(over[0].user_attrs) == set(asked_over.user_attrs) - {"heartbeat"}
    again = run_search(tiny_settings(tmp_path / "r2", trials=3, max_macs=6e5, sampler="random"))
    assert [t.params for t in again.trials] == [t.params for t in trials]  # a seed repeats its draws


def test_a_random_draw_whose_costs_fail_is_recorded_as_a_fault_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import search.driver as driver

    real, calls = driver.Evaluator.costs, [0]

    def costs(self: Any, cand: Any) -> Any:
        calls[0] += 1
        if calls[0] in (1, 2):  # the unasked draw, then the asked trial of the same choices
            raise RuntimeError("cost table unavailable")
        return real(self, cand)

    monkeypatch.setattr(driver.Evaluator, "costs", costs)
    study = run_search(tiny_settings(tmp_path, trials=3, max_macs=6e5, sampler="random", baselines=False))
    first = study.trials[0]
    assert first.state.name == "FAIL" and "cost table unavailable" in first.user_attrs[driver.FAULT]
    assert finished(study) == 3  # the fault counts as finished; the study went on


def test_only_a_candidate_within_budget_runs_a_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import search.driver as driver

    beats: list[int] = []

    class Counted(driver._Heartbeat):
        def __enter__(self) -> Any:
            beats.append(self._trial_id)
            return super().__enter__()

    monkeypatch.setattr(driver, "_Heartbeat", Counted)
    study = run_search(tiny_settings(tmp_path, trials=3, max_macs=6e5, sampler="random"))
    trials = study.get_trials(deepcopy=False)
    assert sum(t.user_attrs.get("status") == "over_budget" for t in trials) >= 2
    assert sorted(beats) == sorted(t._trial_id for t in trials if t.user_attrs.get("status") == "ok")
    assert all(t.user_attrs["worker"] == driver._worker_id() for t in trials)  # over-budget draws too


def test_nsga2_population_follows_the_trials_so_a_study_breeds(tmp_path: Path) -> None:
    assert [tiny_settings(tmp_path, trials=n).nsga2_population for n in (4, 40, 120, 1000)] == [8, 10, 30, 50]
    assert tiny_settings(tmp_path, trials=40, population=12).nsga2_population == 12
    settings = tiny_settings(tmp_path, trials=6, sampler="nsga2", population=2)
    study = run_search(settings)
    assert study.sampler._population_size == 2
    key = study.sampler._get_generation_key()
    generations = [t.system_attrs[key] for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    assert len(generations) == 6 and max(generations) >= 2  # Optuna's default of 50 would stay at 0


def test_a_gp_study_with_a_budget_runs_without_warnings_and_records_its_over_budget_draws(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        study = run_search(tiny_settings(tmp_path / "a", trials=2, max_macs=6e5, sampler="gp"))
    assert finished(study) == 2
    assert all(t.constraints for t in study.trials)  # what the GP's constraint models read


def test_the_census_kept_on_the_study_counts_like_a_full_pass() -> None:
    import random

    from optuna.trial import TrialState

    from search.driver import FAULT, _census, counted, over_budget

    def full(study: Any, before: int | None) -> tuple[int, int]:
        live = ("RUNNING",) if before is None else ("RUNNING", "WAITING")
        ts = [t for t in study.get_trials(deepcopy=False) if before is None or t.number < before]
        return (
            sum(counted(t) or t.state.name in live for t in ts),
            sum(over_budget(t) and not counted(t) for t in ts),
        )

    rng = random.Random(0)
    study = optuna.create_study()
    running: list[Any] = []
    for step in range(300):
        kind = rng.choice(["ok", "over", "fault", "lost", "run", "wait", "end"])
        if kind == "end" and running:  # a running trial ends: it may be anywhere before the last
            trial = running.pop(rng.randrange(len(running)))
            study.tell(trial, 1.0)
        elif kind == "wait":
            study.enqueue_trial({}, skip_if_exists=False)
        elif kind != "end":
            trial = study.ask()
            if kind == "run":
                running.append(trial)
            elif kind == "ok":
                study.tell(trial, 1.0)
            elif kind == "over":
                trial.set_user_attr("status", "over_budget")
                study.tell(trial, state=TrialState.PRUNED)
            else:
                if kind == "fault":
                    trial.set_user_attr(FAULT, "x")
                study.tell(trial, state=TrialState.FAIL)
        before = rng.choice([None, rng.randrange(len(study.trials) + 1)])
        assert _census(study, before) == full(study, before), step


def test_a_budget_that_excludes_the_space_stops_with_a_warning(tmp_path: Path) -> None:
    from search.driver import OverBudgetLimit

    with pytest.warns(OverBudgetLimit, match="drew 4 candidates over budget"):
        study = run_search(tiny_settings(tmp_path, trials=3, max_macs=10, max_over_budget=4))
    assert len(study.trials) == 4 and finished(study) == 0


def test_refinement_trains_the_most_promising_candidates_under_successive_halving(tmp_path: Path) -> None:
    from search.refine import pick, refine_study_name
    from search.results import refined_table
    from search.training import Recipe

    recipe = Recipe(dataset="digits", epochs=2, batch_size=64, resolution=16, bn_recalibrate=100)
    settings = tiny_settings(tmp_path, trials=5, refine=3, refine_recipe=recipe, refine_min_epochs=1)
    study = run_search(settings)
    df = results(study)
    chosen = pick(df, 3)
    front = df[df["pareto"]].sort_values("score", ascending=False)["number"].tolist()
    assert chosen[: len(front)] == front[: len(chosen)]  # the front first, best score first
    refined = df[df["refine_state"].notna()]
    assert sorted(refined["number"]) == sorted(chosen)
    assert set(refined["refine_state"]) <= {"complete", "pruned"} and "complete" in set(refined["refine_state"])
    done = refined[refined["refine_state"] == "complete"]
    assert done["trained_acc"].between(0, 1).all() and (done["refine_epochs"] == 2).all()
    pruned = refined[refined["refine_state"] == "pruned"]
    assert pruned["trained_acc"].isna().all() and (pruned["refine_epochs"] < 2).all()
    rstudy = optuna.load_study(study_name=refine_study_name("metablock"), storage=study._storage)
    assert all(t.intermediate_values for t in rstudy.trials if t.state.name in ("COMPLETE", "PRUNED"))
    assert "trained_acc" in refined_table(df)
    from search.plots import plot_front

    fig = plot_front(df)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any(label.startswith(f"refined: trained accuracy ({len(chosen)})") for label in labels)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {f"{a:.3f}" for a in done["trained_acc"]} <= texts
    # resumed: nothing is trained twice, and the storage still opens without naming the study
    run_search(settings)
    assert len([t for t in rstudy.trials if t.state.name in ("COMPLETE", "PRUNED")]) == len(chosen)
    assert len(results(str(tmp_path / "study.journal"))) == len(df)


def test_refinement_judges_no_candidate_before_its_first_rung(tmp_path: Path) -> None:
    from search.refine import refine_study_name
    from search.training import Recipe

    recipe = Recipe(dataset="digits", epochs=3, batch_size=64, resolution=16, bn_recalibrate=100)

    def refine_with(first: int, folder: str) -> tuple[pd.DataFrame, optuna.Study]:
        settings = tiny_settings(tmp_path / folder, trials=6, refine=5, refine_recipe=recipe, refine_min_epochs=first)
        study = run_search(settings)
        rstudy = optuna.load_study(study_name=refine_study_name("metablock"), storage=study._storage)
        refined = results(study)
        return refined[refined["refine_state"].notna()], rstudy

    rung2, rstudy = refine_with(2, "rung2")
    assert rstudy.user_attrs["first_rung"] == 2 and len(rung2) >= 2
    pruned = rung2[rung2["refine_state"] == "pruned"]
    assert (pruned["refine_epochs"] == 2).all()  # stopped at the rung, never after epoch 1
    # a pruned candidate was in the lower half at the rung of those that reached it before it
    trials = sorted(rstudy.get_trials(deepcopy=False), key=lambda t: t.number)
    for i, t in enumerate(trials):
        if t.state.name == "PRUNED":
            earlier = [u.intermediate_values[2] for u in trials[: i + 1] if 2 in u.intermediate_values]
            assert t.intermediate_values[2] < max(earlier) or len(earlier) == 1
        assert set(t.intermediate_values) <= {2, 3}  # validated at the rung and at the end only
    # a first rung at the recipe's epochs (or more) trains every candidate to the end
    to_end, rstudy = refine_with(5, "to_end")
    assert rstudy.user_attrs["first_rung"] == 3
    assert all(set(t.intermediate_values) == {3} for t in rstudy.trials)  # one validation, at the end
    assert (to_end["refine_state"] == "complete").all() and (to_end["refine_epochs"] == 3).all()
    assert to_end["trained_acc"].between(0, 1).all() and len(to_end) == len(rung2)


def test_resuming_tops_the_same_study_up(tmp_path: Path) -> None:
    run_search(tiny_settings(tmp_path, trials=2))
    study = run_search(tiny_settings(tmp_path, trials=4))
    assert finished(study) == 4
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    again = run_search(tiny_settings(tmp_path, trials=4))
    assert len(again.trials) == 4


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random", "gp"])
def test_seeded_studies_repeat_with_every_sampler(tmp_path: Path, sampler: str) -> None:
    a = run_search(tiny_settings(tmp_path / "a", trials=3, sampler=sampler))
    b = run_search(tiny_settings(tmp_path / "b", trials=3, sampler=sampler))
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.values for t in a.trials] == [t.values for t in b.trials]


def test_two_worker_processes_share_the_journal(tmp_path: Path) -> None:
    study = run_search(tiny_settings(tmp_path, trials=4, workers=2))
    assert finished(study) == 4
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2


def test_two_random_search_workers_share_their_draws_without_losing_one(tmp_path: Path) -> None:
    study = run_search(tiny_settings(tmp_path, trials=6, workers=2, max_macs=6e5, sampler="random"))
    trials = study.get_trials(deepcopy=False)
    assert finished(study) == 6 and sum(t.user_attrs.get("status") == "ok" for t in trials) == 6
    assert not [t for t in trials if not t.state.is_finished()]  # nothing enqueued is left waiting
    assert len({t.user_attrs["worker"] for t in trials}) == 2


def test_named_networks_are_enqueued_as_baselines(tmp_path: Path) -> None:
    settings = SearchSettings(space="emo", score=FAST, trials=2, out=str(tmp_path), progress=False)
    study = run_search(settings)
    assert [t.user_attrs.get("baseline") for t in study.trials] == ["emo_1m", "emo_2m"]
    df = results(study)
    assert metablock.model_config("emo_1m") == config_of(df.iloc[0]) or get_space("emo").contains(config_of(df.iloc[0]))
    assert df.iloc[0]["params"] == count_params(metablock.model_config("emo_1m"))


def test_single_objective_training_study_can_prune(tmp_path: Path) -> None:
    score = ScoreSettings(score="train", batch_size=16, resolution=16, train_steps=4, eval_every=1)
    study = run_search(tiny_settings(tmp_path, trials=7, objectives=("score",), score=score))
    assert finished(study) == 7
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE]
    assert all(len(t.intermediate_values) >= 1 for t in study.trials if t.state.name == "COMPLETE")


def test_objective_latency_is_measured(tmp_path: Path) -> None:
    study = run_search(tiny_settings(tmp_path, trials=1, objectives=("score", "latency_ms")))
    t = study.trials[0]
    assert t.user_attrs["latency_ms"] > 0 and t.values[1] == t.user_attrs["latency_ms"]


def test_a_draw_over_the_macs_budget_is_not_timed_unless_latency_has_a_budget(tmp_path: Path) -> None:
    for name, budget in (("objective", None), ("budget", 1e4)):
        kw = dict(trials=3, max_macs=6e5, max_latency_ms=budget, objectives=("score", "latency_ms"))
        study = run_search(tiny_settings(tmp_path / name, **kw))
        trials = study.get_trials(deepcopy=False)
        over = [t for t in trials if t.user_attrs.get("status") == "over_budget"]
        scored = [t for t in trials if t.user_attrs.get("status") == "ok"]
        assert over and len(scored) == 3 and all(t.user_attrs["latency_ms"] > 0 for t in scored)
        assert all(t.user_attrs["macs"] > 6e5 for t in over)
        timed = [t for t in over if "latency_ms" in t.user_attrs]
        # a latency objective alone: the draw over the MACs budget is not timed and has no latency constraint
        assert len(timed) == (len(over) if budget else 0), name
        assert all(("latency_ms" in t.constraints) == bool(budget) for t in over)


def test_settings_reject_bad_values(tmp_path: Path) -> None:
    for kw, field in (
        ({"max_macs": -1}, "max_macs"),
        ({"max_params": 0}, "max_params"),
        ({"trials": 0}, "trials"),
        ({"sampler": "cmaes"}, "sampler"),
        ({"objectives": ("macs", "score")}, "objectives"),
        ({"objectives": ("score", "flops")}, "flops"),
        ({"workers": 0}, "workers"),
        ({"refine_min_epochs": 0}, "refine_min_epochs"),
        ({"population": 1}, "population"),
    ):
        with pytest.raises(ConfigError, match=field):
            tiny_settings(tmp_path, **kw)


def test_pareto_mask() -> None:
    rows = [[1.0, 10.0], [2.0, 10.0], [2.0, 20.0], [0.5, 1.0]]
    assert pareto_mask(rows, ["maximize", "minimize"]) == [False, True, False, True]


def test_cli_runs_a_study_and_prints_the_front(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from metablock.cli import main

    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY))
    argv = ["search", "--space", str(space), "--trials", "3", "--out", str(tmp_path), "--resolution", "32"]
    argv += ["--batch-size", "4", "--max-macs", "50M", "--no-progress", "--sampler", "random"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "score" in out
    assert (tmp_path / "results.parquet").exists()
    assert main(["search", "--max-macs", "-5", "--out", str(tmp_path)]) == 2
    assert "--max-macs" in capsys.readouterr().err
    argv = [*argv[:-1], "gp", "--out", str(tmp_path / "gp")]
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err  # GP learns the budget: nothing to warn about


# ------------------------------------------------------------------------------ spaces as YAML templates
@pytest.mark.parametrize("name", list_spaces())
def test_space_show_prints_a_commented_yaml_template_that_loads_back_unchanged(name: str, tmp_path: Path) -> None:
    from search.space import space_yaml

    text = space_yaml(name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    assert load_space(path) == get_space(name)
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    names = [f.name for f in dataclasses.fields(SearchSpace)] + [f.name for f in dataclasses.fields(StageSpace)]
    for field in names:  # every field is explained
        assert any(f"# {field}:" in c or f"#   {field}:" in c for c in comments), field


def test_built_in_spaces_are_the_shipped_yaml_files_users_write() -> None:
    from search.space import SPACE_DIR, space_yaml

    files = sorted(p.stem for p in SPACE_DIR.glob("*.yaml"))
    assert files == sorted(list_spaces()) and len(files) >= 6
    for name in files:
        path = SPACE_DIR / f"{name}.yaml"
        assert get_space(name) == load_space(path)  # the user's loader reads them
        assert get_space(name).description
        # each file is the commented template ``space show`` prints (regenerate with
        # ``metablock space show NAME --out search/spaces/NAME.yaml`` after changing a field's docs)
        assert path.read_text() == space_yaml(name), name


def test_space_command_lists_and_writes_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from metablock.cli import main

    assert main(["space", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_spaces()
    assert all(len(line.split()) > 3 for line in lines)  # each with its description
    out = tmp_path / "mine.yaml"
    assert main(["space", "show", "repvit", "--out", str(out)]) == 0
    assert load_space(out) == get_space("repvit")
    assert main(["space", "show", "nope"]) == 2
