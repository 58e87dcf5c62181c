"""A study can't be mixed up: it records the settings that define it and refuses others; settings
that can be checked before the first trial are."""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_search import FAST, TINY, tiny_settings

from metablock import ConfigError
from search.driver import defining_settings, run_search
from search.scores import ScoreSettings

ROOT = Path(__file__).resolve().parents[1]


def test_resuming_with_another_space_score_or_budget_is_refused_naming_the_difference(tmp_path: Path) -> None:
    run_search(tiny_settings(tmp_path, trials=2))
    other = copy.deepcopy(TINY)
    other["name"] = "other"
    with pytest.raises(ConfigError, match=r"was made with space\.name='tiny', this command asks for 'other'"):
        run_search(tiny_settings(tmp_path, trials=3, space=other))
    widths = copy.deepcopy(TINY)
    widths["stages"][0]["widths"] = [16, 32]
    with pytest.raises(ConfigError, match=r"space\.stages\[0\]\.widths\[1\]=24, this command asks for 32"):
        run_search(tiny_settings(tmp_path, trials=3, space=widths))
    synflow = ScoreSettings(score="synflow", batch_size=4, resolution=32)
    with pytest.raises(ConfigError, match=r"score\.score='naswot', this command asks for 'synflow'"):
        run_search(tiny_settings(tmp_path, trials=3, score=synflow))
    with pytest.raises(ConfigError, match=r"max_macs=None, this command asks for 1000000"):
        run_search(tiny_settings(tmp_path, trials=3, max_macs=1e6))
    # incidental settings (trials, seed, sampler, workers, device) resume the study
    study = run_search(tiny_settings(tmp_path, trials=3, seed=5, score=dataclasses.replace(FAST, device="cpu")))
    assert len([t for t in study.trials if t.state.name == "COMPLETE"]) == 3
    assert study.user_attrs["defining"] == defining_settings(tiny_settings(tmp_path))


def test_a_study_made_before_defining_settings_were_recorded_is_checked_too(tmp_path: Path) -> None:
    study = run_search(tiny_settings(tmp_path, trials=2))
    study._storage.set_study_user_attr(study._study_id, "defining", None)  # as an older study
    attrs = dict(study.user_attrs)
    assert attrs["space"]["name"] == "tiny"
    synflow = ScoreSettings(score="synflow", batch_size=4, resolution=32)
    with pytest.raises(ConfigError, match="score.score='naswot'"):
        run_search(tiny_settings(tmp_path, trials=3, score=synflow))


def test_a_study_whose_stored_space_carries_fields_now_refused_as_unused_still_resumes_and_reports(
    tmp_path: Path,
) -> None:
    from search import plots
    from search.results import results

    study = run_search(tiny_settings(tmp_path, trials=2))
    old = copy.deepcopy(study.user_attrs["space"])
    old["stages"][0]["head_dims"] = [8, 16]  # stage 0 has no attention: refused in a space file today
    old.pop("description", None)
    defining = {**study.user_attrs["defining"], "space": old}
    study._storage.set_study_user_attr(study._study_id, "space", old)
    study._storage.set_study_user_attr(study._study_id, "defining", defining)
    with pytest.raises(ConfigError, match="head_dims"):
        from search.space import SearchSpace

        SearchSpace.from_dict(old)
    resumed = run_search(tiny_settings(tmp_path, trials=3))  # the same space, so the study resumes
    assert len([t for t in resumed.trials if t.state.name == "COMPLETE"]) == 3
    refs = plots.reference_points(results(resumed), old, compute=False)  # the stored space still loads
    assert refs.empty


def test_the_cli_refuses_a_mixed_up_resume_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "metablock.cli", "search", "--out", str(tmp_path), "--trials", "2", "--no-progress"]
    base += ["--score", "params"]
    first = subprocess.run([*base, "--space", "emo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([*base, "--space", "repvit"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert "space.name='emo', this command asks for 'repvit'" in again.stderr


def test_a_dataset_that_is_not_there_fails_before_the_first_trial(tmp_path: Path) -> None:
    score = ScoreSettings(score="train", dataset=f"imagefolder:{tmp_path / 'nope'}", batch_size=4, resolution=32)
    with pytest.raises(ConfigError, match="is not a directory"):
        run_search(tiny_settings(tmp_path, trials=2, score=score))
    assert not (tmp_path / "study.journal").exists() or (tmp_path / "study.journal").stat().st_size == 0
    (tmp_path / "one" / "a").mkdir(parents=True)
    score = ScoreSettings(score="train", dataset=f"imagefolder:{tmp_path / 'one'}", batch_size=4, resolution=32)
    with pytest.raises(ConfigError, match="needs at least two class folders"):
        run_search(tiny_settings(tmp_path, trials=2, score=score))
