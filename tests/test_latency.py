"""Latency: behaviour only (positive finite numbers, calibration round trip, cache); nothing timed is asserted."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import metablock
from metablock.latency import Calibration, LatencyTable, measure_latency, measure_networks
from metablock.random_nets import random_net_config

SIZE = (3, 32, 32)
FAST = {"min_run_time": 0.01}


def test_measure_latency_returns_positive_finite_milliseconds_and_leaves_the_model_alone() -> None:
    model = metablock.build(metablock.model_config("repvit_m0_9")).train()
    lat = measure_latency(model, SIZE, batch=2, threads=1, **FAST)
    assert lat.median_ms > 0 and math.isfinite(lat.median_ms)
    assert lat.iqr_ms >= 0 and lat.runs >= 1
    assert (lat.batch, lat.threads, lat.device) == (2, 1, "cpu")
    assert model.training  # a copy was reparameterized, not the model
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert torch.get_num_threads() >= 1


def test_measure_latency_rejects_bad_arguments() -> None:
    cfg = metablock.block_config("mbconv")
    with pytest.raises(metablock.ConfigError, match="threads"):
        measure_latency(cfg, (24, 8, 8), threads=0)
    with pytest.raises(metablock.ConfigError, match="device"):
        measure_latency(cfg, (24, 8, 8), device="tpu")
    with pytest.raises(metablock.ConfigError, match="input_size"):
        measure_latency(cfg, (24, 8))


def test_predictor_round_trip_through_the_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "costs.sqlite"
    nets = [random_net_config(seed, max_stages=2, max_depth=1) for seed in range(4)]
    table = LatencyTable(path, threads=1, min_run_time=0.01)
    measured = measure_networks(nets, SIZE, threads=1, rounds=1, **FAST)
    assert all(m > 0 and math.isfinite(m) for m in measured)
    fit = table.fit([table.summed(n, SIZE) for n in nets], measured)
    assert isinstance(fit, Calibration) and fit.networks == 4
    predicted = [table.predict(n, SIZE) for n in nets]
    assert all(math.isfinite(p) for p in predicted)
    parts = table.parts(nets[0], SIZE)
    assert parts[0][0] == "stem" and parts[-1][0] == "head" and all(ms > 0 for _, ms in parts)

    # a new table on the same file measures nothing and predicts the same
    again = LatencyTable(path, threads=1, min_run_time=0.01)
    assert again.calibration == fit
    assert [again.predict(n, SIZE) for n in nets] == pytest.approx(predicted)
    assert again.misses == 0
    # another setting has its own entries and no calibration yet
    other = LatencyTable(path, threads=1, batch=2, min_run_time=0.01)
    assert other.calibration.networks == 0


def test_fit_needs_two_networks() -> None:
    with pytest.raises(metablock.ConfigError, match="calibration"):
        LatencyTable(threads=1).fit([(1.0, 3)], [1.0])


def test_fit_terms_are_checked_and_scale_is_the_median_ratio() -> None:
    table = LatencyTable(threads=1)
    fit = table.fit([(1.0, 3, 0.5), (2.0, 4, 0.5), (4.0, 5, 0.5)], [2.0, 3.0, 12.0], terms="scale")
    assert fit.scale == 2.0 and (fit.per_part, fit.per_mib, fit.offset) == (0.0, 0.0, 0.0)
    with pytest.raises(metablock.ConfigError, match="terms"):
        table.fit([(1.0, 3, 0.5), (2.0, 4, 0.5)], [1.0, 2.0], terms="cubic")
    with pytest.raises(metablock.ConfigError, match=">= 6"):
        table.fit([(1.0, 3, 0.5), (2.0, 4, 0.5)], [1.0, 2.0], terms="full")


def test_default_fit_is_scale_and_offset_for_few_networks_and_recovers_a_linear_law() -> None:
    table = LatencyTable(threads=1)
    summed = [(s, 10, 1.0) for s in (2.0, 5.0, 9.0, 20.0)]
    fit = table.fit(summed, [1.5 * s + 4.0 for s, _, _ in summed])
    assert fit.scale == pytest.approx(1.5) and fit.offset == pytest.approx(4.0)
    assert (fit.per_part, fit.per_mib) == (0.0, 0.0)
    assert fit.apply(10.0, 10, 1.0) == pytest.approx(19.0)
    with pytest.raises(metablock.ConfigError, match="> 0"):
        table.fit(summed, [1.0, 2.0, 0.0, 3.0])


def test_relative_least_squares_favours_small_networks_relative_error() -> None:
    # one large network off the law: a plain least-squares fit would bend towards it in absolute
    # terms; the relative fit keeps the small networks' relative errors small
    table = LatencyTable(threads=1)
    summed = [(s, 10, 1.0) for s in (1.0, 2.0, 3.0, 100.0)]
    measured = [2.0, 4.0, 6.0, 260.0]
    fit = table.fit(summed, measured)
    errors = [abs(fit.apply(*f) - m) / m for f, m in zip(summed[:3], measured[:3], strict=True)]
    assert max(errors) < 0.2


def test_prefetch_times_each_missing_part_once_in_rounds() -> None:
    nets = [random_net_config(seed, max_stages=2, max_depth=1) for seed in range(3)]
    table = LatencyTable(threads=1, min_run_time=0.003, rounds=2)
    timed = table.prefetch(nets, SIZE)
    distinct = {key for n in nets for _, key, _, _ in table._specs(n, SIZE)}
    assert timed == len(distinct) == table.misses
    assert table.prefetch(nets, SIZE) == 0  # everything known now
    assert all(ms > 0 for n in nets for _, ms in table.parts(n, SIZE))
    assert table.misses == len(distinct)
    with pytest.raises(metablock.ConfigError, match="rounds"):
        LatencyTable(threads=1, rounds=0)
    with pytest.raises(metablock.ConfigError, match="min_run_time"):
        LatencyTable(threads=1, min_run_time=0)


def test_default_fit_uses_every_term_from_eight_networks() -> None:
    table = LatencyTable(threads=1)
    summed = [(float(s), 5 + s % 3, 0.5 + s % 4) for s in range(1, 9)]
    law = [0.9 * s + 0.2 * n + 0.5 * mib + 1.0 for s, n, mib in summed]
    fit = table.fit(summed, law)
    assert (fit.scale, fit.per_part, fit.per_mib, fit.offset) == pytest.approx((0.9, 0.2, 0.5, 1.0))
    few = table.fit(summed[:7], law[:7])
    assert (few.per_part, few.per_mib) == (0.0, 0.0)


def test_calibration_reports_progress_per_network_and_part(capsys: pytest.CaptureFixture[str]) -> None:
    nets = [random_net_config(seed, max_stages=2, max_depth=1) for seed in range(3)]
    table = LatencyTable(None, threads=1, min_run_time=0.01)
    fit = table.calibrate(nets, SIZE, min_run_time=0.01, rounds=2, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("latency calibration: 3 networks x 2 rounds")
    measured = [line for line in err if line.startswith("latency: round")]
    assert len(measured) == 3 * 2 and measured[-1].startswith("latency: round 2/2, network 3/3")
    parts = [line for line in err if line.startswith("latency parts:")]
    assert parts and parts[-1].endswith(f"part {table.misses}/{table.misses}")
    assert err[-1].startswith("latency calibration: fitted") and fit.networks == 3
    table.calibrate(nets, SIZE, min_run_time=0.01, rounds=1)  # quiet by default
    assert capsys.readouterr().err == ""
