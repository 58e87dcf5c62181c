"""Multi-fidelity refinement: the most promising candidates of a proxy study, trained for real.

After the proxy stage, ``refine`` picks the ``k`` most promising feasible candidates (the Pareto
front first, best score first, then the other feasible scored trials by score) and trains each with
the ground-truth recipe (:data:`search.ground_truth.RECIPE`) in a single-objective Optuna study
``<study>-refine`` in the same storage, under Optuna's :class:`~optuna.pruners.SuccessiveHalvingPruner`
(reduction factor 2, first rung at ``settings.refine_min_epochs`` epochs, default 3, then 6, 12, ...): a
candidate whose accuracy at a rung is in the lower half of those that reached that rung stops there.
No candidate is judged before the first rung: the recipe cut to 3 epochs ranks networks like a second
full training (Kendall τ 0.69 against the ground truth, ``benchmarks/results/scores.md``), cut to 1 epoch
it ranks them worse than the proxy score that picked them. A first rung at the recipe's epochs or more
trains every candidate to the end. A candidate is validated at the rungs (multiples of the first)
and at the end only. Each refine trial records the proxy trial it
trains (parameter ``trial``), its validation accuracy per epoch and, when it finishes, ``trained_acc``;
:func:`search.results.results` shows them next to the proxy results (columns ``trained_acc``,
``refine_state``, ``refine_epochs``).

Resumable: candidates already refined are skipped, a refine trial whose worker was lost is failed
and its candidate trained again.

Example:
    >>> settings = SearchSettings(space="mobilenet", trials=20, refine=3)  # doctest: +SKIP
    >>> study = run_search(settings)                                      # proxy stage, then refine
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from metablock import ConfigError, NetConfig

REFINE_SUFFIX = "-refine"


def refine_study_name(study_name: str) -> str:
    return study_name + REFINE_SUFFIX


def pick(df: pd.DataFrame, k: int) -> list[int]:
    """Trial numbers of the ``k`` most promising feasible scored candidates: the Pareto front by score,
    then the others by score; an architecture already picked (same config) is not picked again."""
    ok = df[(df["state"] == "complete") & df["feasible"].fillna(False).astype(bool) & df["score"].notna()]
    ordered = pd.concat(
        [
            ok[ok["pareto"]].sort_values("score", ascending=False),
            ok[~ok["pareto"]].sort_values("score", ascending=False),
        ]
    )
    out: list[int] = []
    seen: set[str] = set()
    for _, row in ordered.iterrows():
        if len(out) >= k:
            break
        if row["config"] in seen:
            continue
        seen.add(row["config"])
        out.append(int(row["number"]))
    return out


def refine(settings: Any, study: Any) -> Any:
    """Train ``settings.refine`` candidates of ``study`` (see the module docstring); returns the
    refine study."""
    import optuna

    from .driver import _quiet, fail_stale, make_storage
    from .ground_truth import RECIPE
    from .results import results
    from .training import train_network

    _quiet()
    k = settings.refine
    if k <= 0:
        return None
    recipe = settings.refine_recipe or RECIPE
    first_rung = min(settings.refine_min_epochs, recipe.epochs)
    df = results(study)
    chosen = pick(df, k)
    if not chosen:
        raise ConfigError(f"study {settings.study!r} has no feasible scored trial to refine")
    storage = make_storage(settings.storage_url, heartbeat_s=settings.heartbeat_s, grace_s=settings.grace_s)
    rstudy = optuna.create_study(
        storage=storage,
        study_name=refine_study_name(settings.study),
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=settings.seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=first_rung, reduction_factor=2),
        load_if_exists=True,
    )
    rstudy.set_user_attr("recipe", recipe.to_dict())
    rstudy.set_user_attr("first_rung", first_rung)
    rstudy.set_user_attr("proxy_study", settings.study)
    fail_stale(rstudy, settings.grace_s)
    from optuna.trial import TrialState

    done = {
        int(t.params["trial"])
        for t in rstudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if "trial" in t.params
    }
    rows = df.set_index("number")
    device = settings.score.resolved_device
    pending = [n for n in chosen if n not in done]
    dist = {"trial": optuna.distributions.IntDistribution(0, 10**9)}
    while pending:
        if not rstudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            rstudy.enqueue_trial({"trial": pending[0]})
        trial = rstudy.ask(dist)
        number = int(trial.params["trial"])
        if number not in pending:  # left waiting by an earlier run for a candidate no longer picked
            trial.set_user_attr("surplus", "not among the candidates to refine")
            rstudy.tell(trial, state=TrialState.FAIL)
            continue
        pending.remove(number)
        row = rows.loc[number]
        net = NetConfig.from_json(row["config"])
        trial.set_user_attr("config", json.loads(row["config"]))
        trial.set_user_attr("score", float(row["score"]))
        trial.set_user_attr("macs", float(row["macs"]))
        data_steps = _steps_per_epoch(recipe, int(row["resolution"]))
        epochs: list[int] = []

        def report(
            step: int, acc: float, trial: Any = trial, per_epoch: int = data_steps, epochs: list[int] = epochs
        ) -> None:
            epoch = max(1, round(step / per_epoch))
            epochs.append(epoch)
            trial.report(acc, epoch)
            if epoch < recipe.epochs and trial.should_prune():
                raise optuna.TrialPruned(f"accuracy {acc:.3f} after epoch {epoch}")

        try:
            result = train_network(
                net,
                recipe,
                seed=settings.seed,
                input_resolution=int(row["resolution"]),
                device=device,
                # validation only where the pruner decides (every rung is a multiple of the first), and
                # at the end: a first rung at the recipe's epochs or more validates once
                eval_every=data_steps * first_rung,
                report=report,
            )
        except optuna.TrialPruned:
            trial.set_user_attr("epochs", epochs[-1])
            rstudy.tell(trial, state=TrialState.PRUNED)
            continue
        trial.set_user_attr("epochs", recipe.epochs)
        trial.set_user_attr("trained_acc", result.val_acc)
        trial.set_user_attr("train_s", result.train_s)
        rstudy.tell(trial, result.val_acc)
    return rstudy


def _steps_per_epoch(recipe: Any, input_resolution: int) -> int:
    from .training import cached_dataset

    data = cached_dataset(recipe.dataset, recipe.train_resolution(input_resolution), recipe.data_seed, recipe.val_share)
    return max(1, len(data.train_x) // recipe.batch_size)


def refined(study: Any) -> pd.DataFrame:
    """One row per refined proxy trial: ``number``, ``trained_acc`` (NaN when pruned),
    ``refine_state`` (``complete`` or ``pruned``), ``refine_epochs`` and ``refine_last_acc``."""
    import optuna
    from optuna.trial import TrialState

    columns = ["number", "trained_acc", "refine_state", "refine_epochs", "refine_last_acc"]
    name = refine_study_name(study.study_name)
    try:
        names = [s.study_name for s in optuna.get_all_study_summaries(study._storage)]
    except Exception:  # a storage that cannot list studies has no refinement either
        return pd.DataFrame(columns=columns)
    if name not in names:
        return pd.DataFrame(columns=columns)
    rstudy = optuna.load_study(study_name=name, storage=study._storage)
    rows = []
    for t in rstudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if "trial" not in t.params:
            continue
        last = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else math.nan
        rows.append(
            {
                "number": int(t.params["trial"]),
                "trained_acc": float(t.value) if t.state == TrialState.COMPLETE and t.value is not None else math.nan,
                "refine_state": t.state.name.lower(),
                "refine_epochs": int(t.user_attrs.get("epochs", len(t.intermediate_values))),
                "refine_last_acc": last,
            }
        )
    return pd.DataFrame(rows, columns=columns).drop_duplicates("number", keep="last")
