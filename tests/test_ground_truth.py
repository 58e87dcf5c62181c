"""Ground truth: the MNIST dataset, the training recipe, the new scores, devices, the evaluation of
scores, the combined predictor and the ground-truth and score benchmarks end to end (tiny runs)."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import metablock
from metablock import ConfigError
from search import evaluation as ev
from search import get_space
from search import ground_truth as gt
from search.data import load_dataset, mnist
from search.predictor import Predictor, fit, load_predictor, predict
from search.scores import ScoreSettings, compute_score, list_scores, seeded_build
from search.training import Recipe, recalibrate_norms, resolve_device, train_network
from search.training import fit as train_fit

ROOT = Path(__file__).resolve().parents[1]
TINY_NET = get_space("unified").random(3).net


# ------------------------------------------------------------------------------ dataset
def test_mnist_is_the_packaged_subset_split_by_class(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dataset tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    data = mnist(resolution=24, seed=0, val_share=0.2)
    assert data.train_x.shape == (4000, 3, 24, 24) and data.val_x.shape == (1000, 3, 24, 24)
    assert data.num_classes == 10
    assert torch.equal(data.train_y.bincount(), torch.full((10,), 400))
    assert torch.equal(data.val_y.bincount(), torch.full((10,), 100))
    assert torch.equal(data.train_x[:, 0], data.train_x[:, 2])  # grey repeated to three channels
    again = mnist(resolution=24, seed=0, val_share=0.2)
    assert torch.equal(again.val_x, data.val_x) and torch.equal(again.val_y, data.val_y)
    other = mnist(resolution=24, seed=1, val_share=0.2)
    assert not torch.equal(other.val_y, data.val_y)
    held = load_dataset("mnist", resolution=32, seed=0, val_share=0.4)
    assert len(held.val_x) == 2000 and torch.equal(held.val_y.bincount(), torch.full((10,), 200))


def test_datasets_reject_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'mnsit'.*mnist"):
        load_dataset("mnsit")
    with pytest.raises(ConfigError, match="val_share"):
        load_dataset("digits", val_share=1.5)
    with pytest.raises(ConfigError, match="resolution"):
        load_dataset("digits", resolution=4)


# ------------------------------------------------------------------------------ recipe
def test_recipe_ties_the_training_resolution_to_the_searched_one() -> None:
    r = Recipe()
    assert [r.train_resolution(x) for x in (224, 192, 160)] == [32, 28, 24]
    assert Recipe(resolution=20).train_resolution(224) == 20
    assert Recipe.from_dict(gt.RECIPE.to_dict()) == gt.RECIPE
    assert "10 epochs" in gt.RECIPE.describe() and "mnist" in gt.RECIPE.describe()
    with pytest.raises(ConfigError, match="recipe optimizer"):
        Recipe(optimizer="adam")
    with pytest.raises(ConfigError, match="recipe epochs"):
        Recipe(epochs=0)
    with pytest.raises(ConfigError, match="unknown recipe field"):
        Recipe.from_dict({"epoch": 3})


def test_a_stored_recipe_is_recognised_even_after_new_fields() -> None:
    stored = gt.RECIPE.to_dict()
    stored.pop("bn_recalibrate")
    assert not gt.same_recipe(json.dumps(stored))  # the stored one had the default (0), not 1000
    assert gt.same_recipe(gt.recipe_json(gt.RECIPE))
    assert not gt.same_recipe(json.dumps({**gt.RECIPE.to_dict(), "epochs": 9}))
    assert not gt.same_recipe("{not json")


def test_norm_recalibration_gives_exact_averages() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    images = torch.randn(40, 3, 8, 8)
    net[1].running_mean.fill_(5.0)
    recalibrate_norms(net, images, batch_size=10, device="cpu")
    with torch.no_grad():
        feats = net[0](images)
    per_batch = feats.view(4, 10, 4, 6, 6).mean((1, 3, 4))  # the mean of each batch of 10
    assert torch.allclose(net[1].running_mean, per_batch.mean(0), atol=1e-5)
    assert net[1].momentum == 0.1  # restored


def test_zero_init_residual_starts_identity_branches_at_zero() -> None:
    from metablock.block import MetaMobileBlock
    from search.training import zero_init_residual

    net = seeded_build(metablock.model_config("emo_1m", num_classes=10), 0)  # projections without norms
    changed = zero_init_residual(net)
    blocks = [b for b in net.modules() if isinstance(b, MetaMobileBlock) and b.cfg.shortcut == "identity"]
    assert changed == len(blocks) > 0
    for b in blocks:
        norm = getattr(b.project, "norm", None)
        weight = norm.weight if getattr(norm, "weight", None) is not None else b.project.conv.weight
        assert float(weight.abs().sum()) == 0.0
    x = torch.randn(2, 16, 8, 8)
    block = MetaMobileBlock(metablock.block_config("mobilenet_v2_ir", in_chs=16, out_chs=16)).eval()
    zero_init_residual(block)
    assert torch.equal(block(x), x)  # a zero branch added to the identity


def test_training_learns_and_repeats_with_its_seed() -> None:
    recipe = Recipe(dataset="digits", epochs=2, batch_size=32, bn_recalibrate=200)
    net = get_space("mobilenet").random(0).net
    # bitwise repeats on the CPU (on CUDA, kernels that sum with atomics move the last bits)
    a = train_network(net, recipe, seed=0, input_resolution=160, max_steps=30, device="cpu")
    b = train_network(net, recipe, seed=0, input_resolution=160, max_steps=30, device="cpu")
    assert a.resolution == 24 and a.steps == 30
    assert a.val_acc == b.val_acc and a.train_loss == pytest.approx(b.train_loss)
    assert a.val_acc > 0.2  # ten classes: chance is 0.1
    seen: list[tuple[int, float]] = []
    model = seeded_build(net.replace(num_classes=10), 1)
    data = load_dataset("digits", resolution=24)
    train_fit(model, data, recipe, seed=1, max_steps=10, eval_every=5, report=lambda s, v: seen.append((s, v)))
    assert [s for s, _ in seen] == [5, 10]


# ------------------------------------------------------------------------------ devices
def test_devices_resolve_and_refuse_what_is_not_there() -> None:
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto") in ("cpu", "mps")
        with pytest.raises(ConfigError, match="device='cuda' but no CUDA device"):
            resolve_device("cuda")
        with pytest.raises(ConfigError, match="no CUDA device"):
            _ = ScoreSettings(device="cuda:0").resolved_device
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda, cuda:N or mps; got device='tpu'"):
        ScoreSettings(device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_search_cli_refuses_a_missing_device_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "metablock.cli", "search", "--device", "cuda", "--out", str(tmp_path), "--trials", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["metablock: error: device='cuda' but no CUDA device is available; use --device cpu or auto"]


# ------------------------------------------------------------------------------ scores
NEW_PROXIES = ["zico", "meco", "swap"]


@pytest.mark.parametrize("score", NEW_PROXIES)
def test_new_proxies_are_finite_seeded_and_ignore_the_global_rng(score: str) -> None:
    settings = ScoreSettings(score=score, batch_size=8, resolution=32, seed=3)
    torch.manual_seed(0)
    a = compute_score(seeded_build(TINY_NET, 0), settings)
    torch.manual_seed(12345)
    torch.rand(100)
    b = compute_score(seeded_build(TINY_NET, 0), settings)
    assert math.isfinite(a) and a == pytest.approx(b, rel=1e-9)
    state = torch.get_rng_state()
    compute_score(seeded_build(TINY_NET, 0), settings)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left as it was


def test_swap_counts_distinct_activation_patterns() -> None:
    # one ReLU on four "pixels" of 3 images: patterns per neuron (over images) are counted once
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(x)

    codes = torch.tensor([[1.0, -1, 1, -1], [1, -1, 1, 1], [-1, -1, -1, 1]]).view(3, 1, 2, 2)
    from search import scores

    original = scores._batch
    scores._batch = lambda settings, res: (codes, torch.zeros(3, dtype=torch.long), 10)
    try:
        value = compute_score(Net(), ScoreSettings(score="swap", batch_size=3, resolution=8))
    finally:
        scores._batch = original
    # neuron patterns over the 3 images: (1,1,0), (0,0,0), (1,1,0), (0,1,1) -> 3 distinct
    assert value == 3


def test_meco_sums_the_smallest_correlation_eigenvalues() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    net = Net()
    settings = ScoreSettings(score="meco", batch_size=2, resolution=8, dataset="digits", device="cpu")
    x, _, _ = __import__("search.scores", fromlist=["_batch"])._batch(settings, 8)
    with torch.no_grad():
        fea = net.conv(x)[0].flatten(1).double()
    expected = float(torch.linalg.eigvalsh(torch.corrcoef(fea))[0])
    # the conv's output and the whole net's output are the same map: both count, as in the official code
    assert compute_score(net, settings) == pytest.approx(2 * expected, rel=1e-6)


def test_zico_is_the_log_inverse_coefficient_of_variation() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    settings = ScoreSettings(score="zico", batch_size=4, resolution=8, dataset="digits", device="cpu")
    from search.scores import _batch

    x, y, _ = _batch(settings, 8)
    grads = []
    for part in (slice(0, 2), slice(2, 4)):
        net.zero_grad()
        nn.functional.cross_entropy(net(x[part]), y[part]).backward()
        grads.append(net[1].weight.grad.flatten().double().clone())
    g = torch.stack(grads)
    keep = g.std(0, unbiased=False) > 0
    expected = math.log(float((g.abs().mean(0)[keep] / g.std(0, unbiased=False)[keep]).sum()))
    assert compute_score(net, settings) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("shape", [(6, 40), (4, 8, 5, 5)])
def test_host_drawn_dropout_is_plain_dropout_on_the_cpu(shape: tuple[int, ...]) -> None:
    # the score's dropout and drop path draw their masks on the host: on the CPU, bit for bit the plain modules
    from metablock.layers import DropPath
    from search.scores import _HostDrawnDropout, _HostDrawnDropPath

    x = torch.randn(shape)
    for plain, host in ((nn.Dropout(0.3), _HostDrawnDropout(0.3)), (DropPath(0.4), _HostDrawnDropPath(0.4))):
        torch.manual_seed(7)
        a = plain.train()(x)
        torch.manual_seed(7)
        b = host.train()(x)
        assert torch.equal(a, b) and not torch.equal(a, x)
        assert torch.equal(host.eval()(x), x)


def test_scores_of_a_network_with_dropout_are_unchanged_on_the_cpu_and_its_modules_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from search import scores

    net = get_space("mobilenet").random(0).net  # its head has Dropout(0.2)
    values = {}
    for host in (True, False):
        if not host:
            monkeypatch.setattr(scores, "_HOST_DRAWN", {})  # the modules as built
        for name in ("grad_norm", "zico"):
            model = seeded_build(net, 0)
            settings = ScoreSettings(score=name, batch_size=8, resolution=32, device="cpu")
            values[host, name] = compute_score(model, settings, 160)
            kinds = {type(m) for m in model.modules()}
            assert nn.Dropout in kinds and not any(k.__name__.startswith("_HostDrawn") for k in kinds)
    assert values[True, "grad_norm"] == values[False, "grad_norm"]
    assert values[True, "zico"] == values[False, "zico"]
    # the dropout draws count: without them the value differs
    model = seeded_build(net, 0).apply(lambda m: setattr(m, "p", 0.0) if isinstance(m, nn.Dropout) else None)
    without = compute_score(model, ScoreSettings(score="grad_norm", batch_size=8, resolution=32, device="cpu"), 160)
    assert without != values[True, "grad_norm"]


def test_scoring_on_cuda_turns_tf32_off_and_cudnn_deterministic_then_restores_them() -> None:
    from search.scores import device_independent

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    before = (cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark)
    try:
        cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark = True, True, False, True
        with device_independent(None, "cpu"):
            assert (cudnn.allow_tf32, cudnn.deterministic) == (True, False)  # the CPU needs none of it
        with device_independent(None, "cuda:0"):
            assert (cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark) == (
                False,
                False,
                True,
                False,
            )
        assert (cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark) == (True, True, False, True)
    finally:
        cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark = before


def test_params_and_macs_baselines_are_log_counts() -> None:
    net = get_space("mobilenet").random(0).net
    model = seeded_build(net, 0)
    p = compute_score(model, ScoreSettings(score="params"), 160)
    m = compute_score(model, ScoreSettings(score="macs"), 160)
    assert p == pytest.approx(math.log10(metablock.count_params(model)))
    assert m == pytest.approx(math.log10(metablock.count_macs(net, (3, 160, 160))))
    # known costs are used as they are (no second count)
    assert compute_score(model, ScoreSettings(score="macs"), 160, costs={"macs": 1e6}) == pytest.approx(6.0)
    assert compute_score(model, ScoreSettings(score="macs"), 224) > m  # the candidate's own resolution counts


def test_every_score_is_listed() -> None:
    assert set(list_scores()) >= {
        "naswot", "synflow", "grad_norm", "zen", "zico", "meco", "swap", "params", "macs", "predictor", "train"
    }  # fmt: skip


def test_scoring_resolution_follows_the_candidate() -> None:
    tied = ScoreSettings(resolution=None, resolution_scale=2 / 7)
    assert [tied.scoring_resolution(r) for r in (224, 192, 160)] == [64, 56, 44]
    assert ScoreSettings(resolution=48).scoring_resolution(224) == 48
    with pytest.raises(ConfigError, match="resolution_scale"):
        ScoreSettings(resolution_scale=0)


# ------------------------------------------------------------------------------ evaluation
def test_rank_statistics_equal_scipys_with_and_without_ties() -> None:
    from scipy.stats import kendalltau, spearmanr

    rng = np.random.default_rng(0)
    for i in range(200):
        n = int(rng.integers(3, 40))
        x = rng.integers(0, 4, n).astype(float) if i % 2 else rng.normal(size=n)  # ties in half the cases
        y = rng.integers(0, 3, n).astype(float) if i % 3 == 0 else x + rng.normal(size=n)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        assert ev.kendall(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)
        assert ev.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_rank_statistics_and_terciles() -> None:
    assert ev.kendall([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert ev.kendall([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(ev.kendall([1, 2], [1, 2]))
    assert ev.kendall([1, 2, 3, float("nan"), 5], [1, 2, 3, 4, 5]) == pytest.approx(1.0)  # NaN pairs left out
    assert list(ev.terciles([5, 1, 9, 3, 7, 2])) == [1, 0, 2, 1, 2, 0]
    # a score that orders terciles right but is reversed inside each: pooled τ high, tercile τ -1
    df = pd.DataFrame({"space": ["a"] * 9, "macs": range(9)})
    df["val_acc"] = [0.3, 0.2, 0.1, 0.6, 0.5, 0.4, 0.9, 0.8, 0.7]
    df["score_x"] = list(range(9))
    assert ev.tercile_tau(df, "score_x") == pytest.approx(-1.0)
    assert ev.kendall(df.score_x, df.val_acc) > 0.4
    lo, hi = ev.bootstrap(df.score_x, df.val_acc, ev.kendall, n=200)
    assert lo <= ev.kendall(df.score_x, df.val_acc) <= hi


def _synthetic(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Per-architecture rows of three spaces in which accuracy follows 'good' and not 'noise'."""
    rng = np.random.default_rng(seed)
    rows = []
    for space, offset in (("a", 0.0), ("b", 50.0), ("c", -20.0)):
        for i in range(n):
            good = rng.normal()
            rows.append(
                {
                    "space": space,
                    "arch_id": f"{space}-{i}",
                    "macs": float(rng.integers(1, 100)),
                    "val_acc": 0.5 + 0.1 * good + 0.01 * rng.normal(),
                    "acc_seed0": 0.5 + 0.1 * good,
                    "acc_seed1": 0.5 + 0.1 * good + 0.02 * rng.normal(),
                    "score_naswot": offset + good,  # offsets differ by space: only the order inside counts
                    "score_params": rng.normal(),
                    "score_macs": rng.normal(),
                }
            )
    return pd.DataFrame(rows)


def test_predictor_fit_finds_the_informative_feature_and_leave_one_space_out_holds_out() -> None:
    arch = _synthetic()
    pred = fit(arch, ["naswot", "params"])
    assert pred.weights[0] > 5 * abs(pred.weights[1])
    assert pred.transform("naswot", float("-inf")) == pred.transform("naswot", pred.low[0])
    assert pred.transform("naswot", float("nan")) == 0.0
    values = arch.assign(v=predict(pred, arch))
    assert all(ev.kendall(part.v, part.val_acc) > 0.8 for _, part in values.groupby("space"))
    scored, chosen = ev.leave_one_space_out(arch, ["naswot", "params", "macs"])
    assert all(fs[0] == "naswot" for fs in chosen.values())
    # the held-out space's values do not depend on its own accuracies
    changed = arch.copy()
    changed.loc[changed.space == "a", "val_acc"] = changed.loc[changed.space == "a", "val_acc"].to_numpy()[::-1]
    rescored, _ = ev.leave_one_space_out(changed, ["naswot", "params", "macs"])
    a = scored.space == "a"
    assert np.allclose(scored.loc[a, "score_predictor"], rescored.loc[a, "score_predictor"])
    report, _ = ev.scores_report(arch, ["naswot", "params", "macs"], n_boot=50)
    assert set(report.score) == {"naswot", "params", "macs", "predictor", "ceiling"}
    pooled = report[(report.score == "predictor") & (report.space == "pooled")].iloc[0]
    assert pooled.tercile_tau > 0.5


def test_predictor_json_round_trip_and_refusals(tmp_path: Path) -> None:
    pred = fit(_synthetic(), ["naswot", "params"], settings={"batch_size": 8, "resolution": 32})
    path = tmp_path / "p.json"
    pred.save(path)
    assert load_predictor(path) == pred
    data = json.loads(path.read_text())
    bad = {
        "features": ({**data, "features": ["naswot", "magic"]}, "predictor feature 'magic' is not a score"),
        "lengths": ({**data, "weights": [1.0]}, "'weights' must be a list of 2 numbers"),
        "nan": ({**data, "center": [0.0, float("nan")]}, "'center' must hold finite numbers"),
        "setting": ({**data, "settings": {"batch": 8}}, "unknown predictor setting 'batch'"),
        "format": ({**data, "format": "other"}, "'format' must be"),
        "field": ({**data, "bias": 1.0}, r"unknown predictor field\(s\) \['bias'\]"),
    }
    for name, (payload, message) in bad.items():
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(payload))
        with pytest.raises(ConfigError, match=message):
            load_predictor(p)
    with pytest.raises(ConfigError, match="does not exist"):
        ScoreSettings(score="predictor", predictor=str(tmp_path / "missing.json"))


def test_predictor_score_combines_its_features(tmp_path: Path) -> None:
    pred = Predictor(
        features=("params", "naswot"),
        transforms=("identity", "identity"),
        weights=(2.0, 0.5),
        center=(5.0, 100.0),
        scale=(1.0, 10.0),
        low=(0.0, -1e9),
        high=(10.0, 1e9),
        settings={"batch_size": 4, "resolution": 32, "dataset": "digits"},
    )
    path = tmp_path / "p.json"
    pred.save(path)
    model = seeded_build(TINY_NET, 0)
    value = compute_score(model, ScoreSettings(score="predictor", predictor=str(path), batch_size=64), 160)
    p = compute_score(model, ScoreSettings(score="params"), 160)
    n = compute_score(model, ScoreSettings(score="naswot", batch_size=4, resolution=32, dataset="digits"), 160)
    assert value == pytest.approx(2.0 * (p - 5.0) + 0.5 * (n - 100.0) / 10.0, rel=1e-6)


def test_the_shipped_predictor_loads_and_scores() -> None:
    pred = load_predictor()
    assert pred.features and all(f in list_scores() for f in pred.features)
    value = compute_score(seeded_build(TINY_NET, 0), ScoreSettings(score="predictor"), 160)
    assert math.isfinite(value)
    # a live score of a ground-truth architecture equals the predictor applied to its stored columns
    runs = gt.load(ROOT / "benchmarks" / "results" / "ground_truth.parquet")
    row = runs[runs.space == "unified"].sort_values("macs").iloc[0]
    net = gt.stored_net(row)
    live = compute_score(seeded_build(net, 0), ScoreSettings(score="predictor", device="cpu"), net.resolution)
    stored = pred.value({f: float(row[f"score_{f}"]) for f in pred.features})
    assert live == pytest.approx(stored, rel=1e-4, abs=1e-6)


def test_the_default_score_sees_each_candidates_resolution() -> None:
    import argparse

    from search.cli import add_parser, settings_from_args

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    score = settings_from_args(parser.parse_args(["search"])).score
    assert score.score == "predictor" and score.resolution is None
    same = settings_from_args(parser.parse_args(["search", "--resolution-scale", "2/7"])).score
    assert same.resolution_scale == score.resolution_scale
    assert [score.scoring_resolution(r) for r in (224, 160)] == [64, 44]  # 2/7 of it, to a multiple of 4
    values = []
    for side in (160, 224):
        net = TINY_NET.replace(resolution=side)
        values.append(compute_score(seeded_build(net, 0), replace(score, device="cpu"), side))
    assert all(math.isfinite(v) for v in values)
    assert values[0] != pytest.approx(values[1], rel=1e-6)


# ------------------------------------------------------------------------------ benchmarks end to end
def test_ground_truth_script_runs_resumes_and_fills_new_scores(tmp_path: Path) -> None:
    out = tmp_path / "gt.parquet"
    base = [sys.executable, str(ROOT / "benchmarks" / "ground_truth.py"), "--out", str(out), "--threads", "1"]
    args = ["--spaces", "unified", "--per-space", "2", "--no-named", "--max-steps", "2", "--seeds", "0"]
    first = subprocess.run([*base, *args, "--scores", "params,naswot"], capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    df = pd.read_parquet(out)
    assert len(df) == 2 and sorted(df.arch_id.unique()) == ["unified-000", "unified-001"]
    for column in ("space", "arch_id", "config", "resolution", "seed", "val_acc", "params", "macs", "train_s"):
        assert column in df.columns, column
    assert df.val_acc.between(0, 1).all() and (df.steps == 2).all()
    assert df.score_params.notna().all() and df.score_naswot.notna().all()
    row = df.iloc[0]
    net = metablock.NetConfig.from_json(row.config)
    assert row.params == metablock.count_params(net)
    assert row.score_params == pytest.approx(math.log10(row.params))
    assert Path(str(out).replace(".parquet", ".md")).read_text().startswith("# Ground truth")
    # resumed: nothing is trained again, a new score is filled in
    again = subprocess.run([*base, *args, "--scores", "params,naswot,swap"], capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert "0 rows present" not in again.stdout and "0 trainings and 2 scorings" in again.stdout
    df2 = pd.read_parquet(out)
    assert df2.train_s.tolist() == df.train_s.tolist()
    assert df2.score_swap.notna().all()


def test_bench_scores_reports_every_score_on_a_table(tmp_path: Path) -> None:
    arch = _synthetic(n=9)
    rows = []
    for _, r in arch.iterrows():
        for seed in (0, 1):
            rows.append(
                {
                    **{k: r[k] for k in ("space", "arch_id", "macs", "score_naswot", "score_params", "score_macs")},
                    "name": "",
                    "config": "{}",
                    "arch_resolution": 224,
                    "resolution": 32,
                    "params": 1.0,
                    "seed": seed,
                    "val_acc": r[f"acc_seed{seed}"],
                    "seconds_naswot": 0.5,
                }
            )
    path = tmp_path / "gt.parquet"
    pd.DataFrame(rows).to_parquet(path)
    out = tmp_path / "scores.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scores.py"), "--gt", str(path), "--out", str(out),
         "--no-sweep", "--bootstrap", "50", "--short-epochs", ""],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    for needle in ("| naswot |", "| params |", "| macs |", "| predictor |", "| ceiling |", "held-out space"):
        assert needle in text, needle


def test_bench_scores_measures_short_training_on_the_stored_architectures(tmp_path: Path) -> None:
    """``short_train`` of ground-truth architectures: computed through the score, cached, resumed, tabled."""
    from test_bench_search import _load

    bench = _load("bench_scores")
    from search.scores import ScoreSettings, compute_score, seeded_build

    runs = pd.read_parquet(ROOT / "benchmarks" / "results" / "ground_truth.parquet")
    arch = gt.per_architecture(runs[runs.arch_id.isin(["unified-000", "unified-001", "unified-002"])])
    archs = {a.arch_id: a for a in gt.architectures(arch)}
    cache = tmp_path / "short.parquet"
    values = bench.short_train_values(arch.iloc[:2], cache, archs, (1,), "cpu")
    assert sorted(values.arch_id) == ["unified-000", "unified-001"] and values.value.between(0, 1).all()
    spec = archs["unified-000"]
    settings = ScoreSettings(score="short_train", epochs=1, dataset="mnist")
    direct = compute_score(seeded_build(spec.net, 0), settings, spec.resolution, net=spec.net)
    assert values.set_index("arch_id").value["unified-000"] == direct
    again = bench.short_train_values(arch, cache, archs, (1,), "cpu")  # only the third is trained
    assert len(again) == 3 and again.value.iloc[:2].tolist() == values.value.tolist()
    report, _ = ev.scores_report(arch, ["params", "macs"], n_boot=20)
    lines = bench.short_train_table(arch, again, report, 20)
    assert lines[2].startswith("| short_train, 1 epoch (3 archs) | ")
    assert any(line.startswith("| ceiling |") for line in lines)
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_a_resumed_ground_truth_keeps_scoring_the_stored_configs_when_the_space_changed(tmp_path: Path) -> None:
    # the committed rows were sampled before the unified space gained operators: a resume must fill new
    # scores for the architectures the rows hold, not for what the space samples under that id today
    stored = pd.read_parquet(ROOT / "benchmarks" / "results" / "ground_truth.parquet")
    row = stored[(stored.arch_id == "unified-000") & (stored.seed == 0)]
    row = row[[c for c in row.columns if not c.startswith(("score_", "seconds_"))]]
    out = tmp_path / "gt.parquet"
    row.to_parquet(out, index=False)
    net = metablock.NetConfig.from_json(row.config.iloc[0])
    assert get_space("unified").random(0).net != net  # the space samples something else now
    args = ["--spaces", "unified", "--per-space", "1", "--no-named", "--seeds", "0", "--scores", "params"]
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ground_truth.py"), "--out", str(out), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert "the stored configs are used" in run.stdout and "0 trainings and 1 scorings" in run.stdout
    df = pd.read_parquet(out)
    assert len(df) == 1 and df.score_params.iloc[0] == pytest.approx(math.log10(metablock.count_params(net)))
