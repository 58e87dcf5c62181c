"""Optuna's GP sampler made to learn the budget from over-budget draws.

The driver ends a draw over a budget PRUNED and unscored (it takes no scored slot), with its constraint
values recorded. TPE reads such trials; Optuna's ``GPSampler`` fits its models to COMPLETE trials only,
so it never learns where the budget lies and keeps proposing candidates over it (the main job's 300M
MACs: 68 draws per scored trial). :class:`BudgetAwareGPSampler` shows its models every over-budget draw
as well, without changing the study.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from .driver import over_budget

#: objectives an over-budget draw may carry as measured costs (user attributes the driver records)
COSTS = ("macs", "params", "latency_ms")


class BudgetAwareGPSampler(optuna.samplers.GPSampler):
    """``GPSampler`` whose models also see the study's over-budget draws.

    Each over-budget draw is shown to GP as a complete trial:

    - its constraint values (how far over each budget) are the real ones, so GP's constraint models
      learn the infeasible region and its acquisition (constrained EI / EHVI) steers away from it;
    - an objective that is a cost the draw measured (``macs``, ``params``, ``latency_ms`` when timed)
      is that cost;
    - an objective it never computed (the score, an untimed latency) is the mean of the scored trials'
      values: after GP's standardisation that is its prior mean, so the draw adds no preference of its
      own, only the knowledge that the point is infeasible.

    GP's fit grows with the cube of the points it sees, so it sees at most as many over-budget draws
    as there are scored trials, the latest ones (the main job with GP draws 1.9 per scored trial; a
    study continued from random search may hold ten times more). These also count toward GP's random
    start (``n_startup_trials``). The draws are views made for GP's fit; the study and its trials
    are unchanged. Objectives are named by the study's metric names (the driver sets them to its
    objectives). Until a trial has been scored there is no mean to show, and GP sees the scored
    trials alone (as Optuna's does).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (trial number, start) -> its complete view, values set per fit; the start tells apart the
        # same number in two studies that share this sampler
        self._views: dict[tuple[int, Any], FrozenTrial] = {}

    def sample_relative(self, study: Any, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return super().sample_relative(_WithOverBudget(study, self._views), trial, search_space)


class _WithOverBudget:
    """A study as GP reads it: its trials, plus its over-budget draws as complete trials."""

    def __init__(self, study: Any, views: dict[tuple[int, Any], FrozenTrial]) -> None:
        self._study = study
        self._views = views

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        every = self._study._get_trials(deepcopy=deepcopy, states=None, use_cache=use_cache)
        chosen = [t for t in every if states is None or t.state in states]
        if states is not None and TrialState.COMPLETE not in states:
            return chosen
        scored = [t.values for t in every if t.state == TrialState.COMPLETE]
        if not scored:
            return chosen
        names = self._study.metric_names or [None] * len(scored[0])
        means = [sum(v[i] for v in scored) / len(scored) for i in range(len(names))]
        over = [t for t in every if over_budget(t) and t.constraints][-len(scored) :]
        return chosen + [self._view(t, names, means) for t in over]

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()

    def _view(self, trial: FrozenTrial, names: Sequence[str | None], means: list[float]) -> FrozenTrial:
        key = (trial.number, trial.datetime_start)
        view = self._views.get(key)
        if view is None:
            view = optuna.trial.create_trial(
                state=TrialState.COMPLETE,
                params=trial.params,
                distributions=trial.distributions,
                values=means,
                constraints=trial.constraints,
                user_attrs=trial.user_attrs,
            )
            view.number = trial.number
            self._views[key] = view
        view.values = [
            float(trial.user_attrs[n]) if n in COSTS and n in trial.user_attrs else mean
            for n, mean in zip(names, means, strict=True)
        ]
        return view
