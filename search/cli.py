"""``metablock search``: run (or resume) an Optuna study over a space and write its results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from metablock import ConfigError

DEFAULTS = {
    "space": "emo",
    # the best measured score and setting on the ground truth (benchmarks/results/scores.md):
    # the combined predictor, its features scored on 64 MNIST images at 2/7 of each candidate's
    # own resolution (64 px for a 224 px candidate), so the score sees the resolution it ranks
    "score": "predictor",
    "trials": 40,
    "max_macs": "300M",
    "batch_size": 64,
    "resolution": "candidate",
    "resolution_scale": 2 / 7,
    "dataset": "mnist",
}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help="search a space with Optuna under MACs/params/latency budgets",
        description="Run or resume an Optuna study over stage configurations and write its results. "
        "With no options: a small study of the 'emo' space under 300M MACs, scored with the combined "
        "predictor fitted on the project's ground truth (the best measured score).",
    )
    p.add_argument("--space", default=DEFAULTS["space"], help="space name or .yaml/.json file (default: emo)")
    p.add_argument(
        "--score",
        default=DEFAULTS["score"],
        help="naswot, synflow, grad_norm, zen, zico, meco, swap, params, macs, predictor or train "
        f"(default: {DEFAULTS['score']}, which scores its features with its own dataset, batch and "
        "resolution settings; --dataset/--batch-size/--resolution apply to the other scores)",
    )
    p.add_argument(
        "--objectives",
        default=None,
        help="comma list starting with score, e.g. score,macs (default) or score,latency_ms or score",
    )
    p.add_argument(
        "--max-macs",
        default=None,
        help=f"MACs budget, e.g. 300M; 'none' for no budget (default: {DEFAULTS['max_macs']} when neither "
        "--max-params nor --max-latency-ms is given, else none)",
    )
    p.add_argument("--max-params", default=None, help="parameter budget, e.g. 5M (default: none)")
    p.add_argument(
        "--max-latency-ms",
        default=None,
        help="latency budget in ms, measured on --device (CPU with --latency-threads threads, or CUDA) (default: none)",
    )
    p.add_argument(
        "--trials",
        type=int,
        default=DEFAULTS["trials"],
        help=f"scored trials the study should hold (default: {DEFAULTS['trials']})",
    )
    p.add_argument("--sampler", default="tpe", help="tpe, nsga2, random or gp (default: tpe)")
    p.add_argument(
        "--population",
        type=int,
        default=None,
        help="NSGA-II's population size (default: a quarter of --trials, from 8 to 50, for at least four generations)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler and of the scores (default: 0)")
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the storage (default: 1)")
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds after which no new trial starts (default: none)"
    )
    p.add_argument(
        "--heartbeat", type=float, default=10.0, help="seconds between a running trial's heartbeats (default: 10)"
    )
    p.add_argument(
        "--grace",
        type=float,
        default=120.0,
        help="seconds without a heartbeat after which a running trial is lost and retried (default: 120; "
        "must exceed two heartbeats)",
    )
    p.add_argument("--storage", default=None, help="Optuna storage URL or journal file (default: OUT/study.journal)")
    p.add_argument("--study", default="metablock", help="study name; an existing study is resumed (default: metablock)")
    p.add_argument("--out", default="runs/search", help="output directory (default: runs/search)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULTS["batch_size"],
        help=f"proxy or training batch size (default: {DEFAULTS['batch_size']})",
    )
    p.add_argument(
        "--resolution",
        default=str(DEFAULTS["resolution"]),
        help="scoring resolution: a number of pixels, or 'candidate' for --resolution-scale x each candidate's "
        f"own resolution (default: {DEFAULTS['resolution']})",
    )
    p.add_argument(
        "--resolution-scale",
        type=_number,
        default=DEFAULTS["resolution_scale"],
        help="with --resolution candidate: scoring resolution = this x the candidate's resolution "
        "(default: 2/7, i.e. 64 px for a 224 px candidate)",
    )
    p.add_argument(
        "--dataset",
        default=DEFAULTS["dataset"],
        help=f"mnist, digits, shapes or imagefolder:PATH (default: {DEFAULTS['dataset']})",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="where candidates are scored, trained and their latency measured: auto (CUDA when available), "
        "cpu, cuda, cuda:N or mps (default: auto)",
    )
    p.add_argument("--train-steps", type=int, default=60, help="optimizer steps of --score train (default: 60)")
    p.add_argument(
        "--train-epochs",
        type=int,
        default=3,
        help="epochs of --score short_train, the ground-truth recipe cut short (default: 3, the best measured)",
    )
    p.add_argument(
        "--val-images",
        type=int,
        default=0,
        help="validation images --score short_train measures on (default: 0 = all 4,500)",
    )
    p.add_argument(
        "--refine",
        type=int,
        default=0,
        help="after the proxy stage, train the K most promising candidates with the ground-truth recipe "
        "(MNIST, successive halving) and show their trained accuracy (default: 0, none)",
    )
    p.add_argument(
        "--refine-min-epochs",
        type=int,
        default=3,
        help="epochs every refined candidate trains before successive halving may stop it (default: 3; "
        "10, the recipe's epochs, trains every candidate to the end)",
    )
    p.add_argument(
        "--latency-threads",
        type=int,
        default=1,
        help="CPU threads latency is measured with, on a CPU --device (default: 1)",
    )
    p.add_argument("--no-baselines", action="store_true", help="do not enqueue the space's named networks")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list-spaces", action="store_true", help="list the built-in spaces and exit")
    p.set_defaults(func=run)

    sp = sub.add_parser(
        "space",
        help="list the built-in search spaces or print one as a commented YAML file to edit",
        description="'metablock space list' names the built-in spaces; 'metablock space show NAME' prints a "
        "space (built-in, or a .yaml/.json file) as commented YAML: every field with its meaning, in the "
        "format --space FILE.yaml reads back unchanged.",
    )
    sp.add_argument("action", choices=("list", "show"), help="list the spaces, or show one")
    sp.add_argument("name", nargs="?", default=None, help="with show: a space name or a .yaml/.json file")
    sp.add_argument("--out", default=None, help="with show: write the YAML to this file instead of printing it")
    sp.set_defaults(func=space_command)


def space_command(args: argparse.Namespace) -> int:
    from metablock import ConfigError

    from .space import get_space, list_spaces, space_yaml

    if args.action == "list":
        for name in list_spaces():
            print(f"{name:16s} {get_space(name).description}")
        return 0
    if not args.name:
        raise ConfigError("metablock space show needs a space name or file; see metablock space list")
    text = space_yaml(get_space(args.name))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def _number(text: str) -> float:
    """A number or a fraction such as ``2/7``."""
    from fractions import Fraction

    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected a number or a fraction such as 2/7; got {text!r}") from None


def _budget(text: str | None, name: str) -> float | None:
    from .driver import parse_amount

    if text is None or str(text).lower() == "none":
        return None
    return parse_amount(text, name)


def settings_from_args(args: argparse.Namespace) -> Any:
    from .driver import SearchSettings, objectives_arg
    from .scores import ScoreSettings

    if args.resolution == "candidate":
        resolution = None
    else:
        try:
            resolution = int(args.resolution)
        except ValueError:
            raise ConfigError(f"--resolution must be an integer or 'candidate'; got {args.resolution!r}") from None
    score = ScoreSettings(
        score=args.score,
        batch_size=args.batch_size,
        resolution=resolution,
        resolution_scale=args.resolution_scale,
        dataset=args.dataset,
        device=args.device,
        seed=args.seed,
        train_steps=args.train_steps,
        eval_every=max(1, args.train_steps // 4),
        epochs=args.train_epochs,
        val_images=args.val_images,
    )
    objectives = objectives_arg(args.objectives) if args.objectives else ("score", "macs")
    return SearchSettings(
        space=args.space,
        score=score,
        objectives=objectives,
        max_macs=_budget(
            args.max_macs
            if args.max_macs is not None or args.max_params is not None or args.max_latency_ms is not None
            else DEFAULTS["max_macs"],
            "--max-macs",
        ),
        max_params=_budget(args.max_params, "--max-params"),
        max_latency_ms=_budget(args.max_latency_ms, "--max-latency-ms"),
        trials=args.trials,
        sampler=args.sampler,
        population=args.population,
        seed=args.seed,
        workers=args.workers,
        timeout=args.timeout,
        heartbeat_s=args.heartbeat,
        grace_s=args.grace,
        storage=args.storage,
        study=args.study,
        out=args.out,
        baselines=not args.no_baselines,
        latency_threads=args.latency_threads,
        refine=args.refine,
        refine_min_epochs=args.refine_min_epochs,
        progress=not args.no_progress,
    )


def summary_line(df: Any) -> str:
    """``40 scored trials (38 complete, 2 failed); 23 draws over budget`` for a results table."""
    over = df["status"] == "over_budget"
    scored = df[~over & df["state"].isin(["complete", "pruned", "fail"])]
    if "reason" in scored:
        scored = scored[~((scored["state"] == "fail") & scored["reason"].isna())]  # lost or surplus
    states = scored["state"].value_counts().to_dict()
    names = {"complete": "complete", "pruned": "pruned by the pruner", "fail": "failed"}
    text = f"{len(scored)} scored trials"
    if states:
        text += " (" + ", ".join(f"{n} {names[s]}" for s, n in sorted(states.items())) + ")"
    return text + f"; {int(over.sum())} draws over budget (not scored)"


def run(args: argparse.Namespace) -> int:
    from .driver import run_search
    from .results import pareto_table, refined_table, results, write_results
    from .space import get_space, list_spaces

    if args.list_spaces:
        for name in list_spaces():
            space = get_space(name)
            models = ", ".join(space.contains_models) or "-"
            print(f"{name:16s} {len(space.stages)} stages; contains: {models}. {space.description}")
        return 0
    settings = settings_from_args(args)
    get_space(settings.space)  # fail early on a bad space
    import warnings

    from .driver import OverBudgetLimit

    with warnings.catch_warnings():  # the driver's own warnings read as one line each, when they happen
        warnings.simplefilter("always", OverBudgetLimit)
        shown = warnings.showwarning

        def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
            if issubclass(category, OverBudgetLimit):
                print(f"metablock: warning: {message}", file=sys.stderr, flush=True)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        study = run_search(settings)
    df = results(study)
    paths = write_results(df, settings.out)
    print(f"study {settings.study!r} in {settings.storage_url}: {summary_line(df)}")
    print(f"results: {paths['csv']}, {paths['parquet']}; Pareto configs: {paths['pareto']}{Path('/')}")
    print(f"\nPareto front ({', '.join(df.attrs.get('objectives', []))}):")
    print(pareto_table(df))
    if settings.refine:
        print("\nRefined with the ground-truth recipe (trained accuracy; successive halving over epochs):")
        print(refined_table(df))
    return 0
