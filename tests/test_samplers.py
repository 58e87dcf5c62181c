"""The driver's GP sampler learns the budget from over-budget draws (search.samplers)."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from search.driver import _quiet, make_sampler
from search.samplers import BudgetAwareGPSampler, _WithOverBudget

BUDGET = 120  # "macs" of a toy candidate (a, b): a * b


def _draw(study: optuna.Study) -> None:
    """One draw as the driver records it: constraint set first; over budget -> PRUNED, unscored."""
    trial = study.ask()
    a, b = trial.suggest_int("a", 0, 40), trial.suggest_int("b", 0, 40)
    macs = a * b
    trial.set_user_attr("macs", macs)
    trial.set_constraint("macs", macs - BUDGET)
    if macs > BUDGET:
        trial.set_user_attr("status", "over_budget")
        study.tell(trial, state=TrialState.PRUNED)
    else:  # the score grows with size: the best candidates lie at the budget
        study.tell(trial, [a + 1.1 * b, macs])


def _study(sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    _quiet()
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.set_metric_names(["score", "macs"])
    return study


def _scored(study: optuna.Study) -> int:
    return sum(t.state == TrialState.COMPLETE for t in study.trials)


def test_gp_learns_the_budget_from_over_budget_draws_where_optunas_gp_keeps_proposing_over_it() -> None:
    samplers = (optuna.samplers.GPSampler, BudgetAwareGPSampler)
    plain, aware = (_study(cls(seed=0, n_startup_trials=5)) for cls in samplers)
    for study in (plain, aware):
        while _scored(study) < 15 and len(study.trials) < 40:
            _draw(study)
    assert _scored(aware) == 15 and len(aware.trials) <= 25  # measured: 15 scored in 22 draws
    assert _scored(plain) < 10  # Optuna's own: the same 40 draws score 5 (its random start)


def test_gp_sees_each_over_budget_draw_as_a_complete_infeasible_point_and_the_study_is_unchanged() -> None:
    study = _study(optuna.samplers.RandomSampler(seed=1))
    while _scored(study) < 4 or len(study.trials) - _scored(study) < 3:
        _draw(study)
    before = [(t.state, t.values, t.constraints) for t in study.trials]
    seen = _WithOverBudget(study, {})._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
    scored = [t for t in study.trials if t.state == TrialState.COMPLETE]
    over = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert len(seen) == len(scored) + len(over) and all(t.state == TrialState.COMPLETE for t in seen)
    mean_score = sum(t.values[0] for t in scored) / len(scored)
    views = {t.number: t for t in seen[len(scored) :]}
    for t in over:
        view = views[t.number]
        assert view.params == t.params and view.constraints == t.constraints and view.constraints["macs"] > 0
        assert view.values == pytest.approx([mean_score, t.user_attrs["macs"]])  # the real cost; the mean score
    assert [(t.state, t.values, t.constraints) for t in study.trials] == before
    view = _WithOverBudget(study, {})  # read by any of the study's ways, the same trials
    assert [t.number for t in view.trials] == [t.number for t in view.get_trials(states=None)]
    assert len(view.trials) == len(study.trials) + len(over)
    # asked for pruned trials only, GP's view adds nothing
    assert len(_WithOverBudget(study, {})._get_trials(deepcopy=False, states=(TrialState.PRUNED,))) == len(over)


def test_the_driver_runs_gp_as_the_budget_aware_sampler() -> None:
    assert type(make_sampler("gp", seed=0, n_objectives=2)) is BudgetAwareGPSampler


def test_gp_sees_at_most_as_many_over_budget_draws_as_scored_trials_the_latest() -> None:
    study = _study(optuna.samplers.RandomSampler(seed=2))
    while _scored(study) < 3 or len(study.trials) - _scored(study) < _scored(study) + 3:
        _draw(study)
    scored = _scored(study)
    seen = _WithOverBudget(study, {})._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    over = [t.number for t in study.trials if t.state == TrialState.PRUNED]
    assert len(over) > scored and [t.number for t in seen[scored:]] == over[-scored:]


def test_one_gp_sampler_shared_by_two_studies_shows_each_its_own_draws() -> None:
    shared: dict = {}
    for seed in (3, 4):  # the same trial numbers, other draws
        study = _study(optuna.samplers.RandomSampler(seed=seed))
        while _scored(study) < 2 or len(study.trials) - _scored(study) < 6:
            _draw(study)
        seen = _WithOverBudget(study, shared)._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        pruned = {t.number: t for t in study.trials if t.state == TrialState.PRUNED}
        views = seen[_scored(study) :]
        assert views and all(view.params == pruned[view.number].params for view in views)
