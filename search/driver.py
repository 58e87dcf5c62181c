"""The Optuna driver: objectives, budgets, storage, samplers and worker processes.

One trial: the space turns the trial into a candidate network (define-by-run), its costs come from
metablock's per-block cost table (params, MACs in fvcore's convention, and latency when asked),
budgets are recorded with ``Trial.set_constraint`` and checked *before* anything is scored (an
over-budget candidate ends PRUNED, unscored), then the candidate is built and scored. Every trial
stores its full ``NetConfig`` JSON, its flat labelled choices and its costs as user attributes, so
any row of the results rebuilds its model.

Trial counting: ``trials`` is the number of *scored* trials the study should hold (complete, pruned
by the pruner after scoring began, or failed with a recorded fault such as a NaN score, an exception
or running out of memory). A candidate over a budget is known to be before anything is scored (the
per-block cost table answers in microseconds): it ends PRUNED with its constraint values recorded,
but it does not take a scored slot; another candidate is drawn in its place. TPE learns the
infeasible region from these records; Optuna's NSGA-II reads complete trials only (it breeds from
candidates within budget); the driver's GP (:class:`search.samplers.BudgetAwareGPSampler`) is shown
them as infeasible points, since Optuna's GPSampler alone models complete trials only.
Random search costs each draw before making a trial of it (:func:`_draw_unasked`). At most
``max_over_budget`` such draws are made in a study (default 50 per requested trial), so a budget
that excludes nearly the whole space ends the run with a warning instead of drawing forever. Running
the same command again resumes the study and tops it up to that number; trials that failed without a
recorded fault (a worker killed mid-trial) do not count, and their parameters are tried again. Any
number of processes, on any number of machines, may run the same command against one storage at
once: before each new trial a worker checks the study, and a trial asked after the study already
holds ``trials`` finished or running ones (a race between workers) is told FAIL at once,
unevaluated, with the user attribute ``surplus``; it never counts and is never retried.

Lost workers: every running trial records ``worker = "host:pid"`` and a ``heartbeat`` (Unix time)
that a background thread renews every ``heartbeat_s`` seconds; RDB storages (SQLite, PostgreSQL)
also get Optuna's own heartbeat, kept on the database clock. When a study starts or resumes, a
RUNNING trial is *stale* when its worker runs on this host and its pid is gone, or its last
heartbeat (Optuna's for RDB storages, ours for the journal) is older than ``grace_s`` seconds.
Stale trials are marked FAIL with the user attribute ``lost`` holding the reason, and their
parameters are enqueued again (the retry records ``retry_of``). Host names must differ between
machines, and machines sharing a journal file need clocks within a few seconds of each other.

Example:
    >>> settings = SearchSettings(space="mobilenet", trials=2, out="/tmp/mb-doc", progress=False,
    ...                           score=ScoreSettings(score="naswot", batch_size=4, resolution=32))
    >>> study = run_search(settings)
    >>> len(study.trials)
    2
"""

from __future__ import annotations

import dataclasses
import functools
import math
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import metablock
from metablock import ConfigError
from metablock.errors import StoppedError

from .data import check_dataset
from .scores import BUILDS_ITS_OWN, ScoreSettings, compute_score, seeded_build
from .space import Candidate, SearchSpace, get_space, without_unused
from .training import resolve_device

OBJECTIVES = {"score": "maximize", "macs": "minimize", "params": "minimize", "latency_ms": "minimize"}
SAMPLERS = ("tpe", "nsga2", "random", "gp")
FAULT = "fault"  # user attribute of a trial that failed for a reason of its own (counted as finished)
LOST = "lost"  # user attribute of a trial whose worker stopped mid-trial (not counted; retried)
SURPLUS = "surplus"  # user attribute of a trial asked past the quota by a racing worker (never evaluated)


@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    """Everything one search needs; ``metablock search`` fills it from the command line.

    Args:
        space: a built-in space name, a ``.yaml``/``.json`` space file or a ``SearchSpace``.
        score: how candidates are scored.
        objectives: ``score`` (maximised) and any of ``macs``, ``params``, ``latency_ms`` (minimised).
        max_macs: budget on MACs (fvcore convention) at the candidate's resolution; ``None`` = none.
        max_params: budget on parameters.
        max_latency_ms: budget on latency, measured on the score's device (``ScoreSettings.device``:
            CPU with ``latency_threads`` threads, or a CUDA device, timed with synchronisation).
        trials: finished trials the study should hold.
        sampler: ``tpe``, ``nsga2``, ``random`` or ``gp``.
        population: NSGA-II's population size; default (``None``): a quarter of ``trials``, from 8 to
            50, so that a study runs at least four generations (Optuna's default of 50 makes a study
            of 40 scored trials a random search: NSGA-II breeds from complete trials only).
        seed: seed of the sampler (worker ``i`` uses ``seed + i``) and of the scores.
        workers: worker processes sharing the storage.
        timeout: seconds after which no new trial is started.
        storage: an Optuna storage URL (``sqlite:///...``, ``postgresql://...``) or a journal file
            path; default: ``<out>/study.journal``.
        study: study name (resumed when it exists).
        out: output directory (journal, results, Pareto configs).
        baselines: enqueue the named networks the space contains as the first trials.
        latency_threads: threads of latency measurements.
        cost_cache: per-block cost table file shared by workers and studies; default
            :func:`default_cost_cache`.
        progress: show a progress bar.
        heartbeat_s: seconds between a running trial's heartbeats.
        grace_s: seconds without a heartbeat after which a running trial is lost.
        max_over_budget: over-budget draws allowed in the study (default: 50 per requested trial).
        refine: after the proxy stage, train this many of the most promising candidates with the
            ground-truth recipe under successive halving (:mod:`search.refine`); 0 = none.
        refine_recipe: a :class:`search.training.Recipe` for the refinement instead of the ground
            truth's (``None``).
        refine_min_epochs: the first rung of refinement's successive halving: no candidate is stopped
            before this many epochs (default 3, where the recipe cut short ranks networks like a second
            full training, see ``benchmarks/results/scores.md``); the recipe's epochs or more = every
            candidate trains to the end.
    """

    space: Any = "emo"
    score: ScoreSettings = field(default_factory=ScoreSettings)
    objectives: tuple[str, ...] = ("score", "macs")
    max_macs: float | None = None
    max_params: float | None = None
    max_latency_ms: float | None = None
    trials: int = 40
    sampler: str = "tpe"
    population: int | None = None
    seed: int = 0
    workers: int = 1
    timeout: float | None = None
    storage: str | None = None
    study: str = "metablock"
    out: str = "runs/search"
    baselines: bool = True
    latency_threads: int = 1
    cost_cache: str | None = None
    progress: bool = True
    heartbeat_s: float = 10.0
    grace_s: float = 120.0
    max_over_budget: int | None = None
    refine: int = 0
    refine_recipe: Any = None
    refine_min_epochs: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", tuple(self.objectives))
        if not self.objectives or self.objectives[0] != "score" and "score" in self.objectives:
            raise ConfigError(f"objectives must start with 'score'; got objectives={list(self.objectives)}")
        for obj in self.objectives:
            if obj not in OBJECTIVES:
                raise ConfigError(f"unknown objective {obj!r}; valid: {', '.join(OBJECTIVES)}")
        if len(set(self.objectives)) != len(self.objectives):
            raise ConfigError(f"objectives must not repeat; got objectives={list(self.objectives)}")
        for name in ("max_macs", "max_params", "max_latency_ms"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"{name} must be a number > 0; got {name}={value!r}")
        for name, low in (
            ("trials", 1),
            ("workers", 1),
            ("latency_threads", 1),
            ("max_over_budget", 0),
            ("refine", 0),
            ("refine_min_epochs", 1),
            ("population", 2),
        ):
            if name in ("max_over_budget", "population") and getattr(self, name) is None:
                continue
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}; got {name}={value!r}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}; valid: {', '.join(SAMPLERS)}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(f"timeout must be > 0 seconds; got timeout={self.timeout!r}")
        for name in ("heartbeat_s", "grace_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name} must be a number of seconds > 0; got {name}={value!r}")
        if self.grace_s <= 2 * self.heartbeat_s:
            raise ConfigError(
                f"grace_s must exceed two heartbeats; got grace_s={self.grace_s!r}, heartbeat_s={self.heartbeat_s!r}"
            )
        if not isinstance(self.study, str) or not self.study:
            raise ConfigError(f"study must be a non-empty name; got study={self.study!r}")

    @property
    def nsga2_population(self) -> int:
        """NSGA-II's population size: ``population``, or a quarter of ``trials`` from 8 to 50."""
        return self.population if self.population is not None else max(8, min(50, self.trials // 4))

    @property
    def over_budget_limit(self) -> int:
        return 50 * self.trials if self.max_over_budget is None else self.max_over_budget

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o] for o in self.objectives]

    @property
    def storage_url(self) -> str:
        return self.storage or str(Path(self.out) / "study.journal")

    @property
    def budgets(self) -> dict[str, float]:
        pairs = (("macs", self.max_macs), ("params", self.max_params), ("latency_ms", self.max_latency_ms))
        return {k: float(v) for k, v in pairs if v is not None}

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["score"] = self.score.to_dict()
        out["objectives"] = list(self.objectives)
        if self.refine_recipe is not None:
            out["refine_recipe"] = self.refine_recipe.to_dict()
        if isinstance(self.space, SearchSpace):
            out["space"] = self.space.to_dict()
        return out


# ------------------------------------------------------------------------------- storage


def make_storage(url: str, *, heartbeat_s: float = 10.0, grace_s: float = 120.0) -> Any:
    """An Optuna storage from a URL or a journal file path.

    ``sqlite:///file.db``, ``postgresql://user:pass@host/db`` and other SQLAlchemy URLs give an
    ``RDBStorage`` with Optuna's heartbeat (every ``heartbeat_s`` seconds; a trial silent for
    ``grace_s`` seconds is stale, see the module docstring). SQLite waits up to 60 s for a lock
    (unless the URL sets ``?timeout=``): it serialises writers, so it suits a few workers on one
    machine; use the journal file or PostgreSQL for more. Anything else is a path to Optuna's
    journal file (safe for many processes on one machine or on a shared file system with locks).
    """
    from optuna.storages import RDBStorage

    _quiet()
    if "://" in url:
        scheme = url.split("://", 1)[0]
        if not scheme or not scheme.replace("+", "").isalnum():
            raise ConfigError(f"storage URL {url!r} has an invalid scheme {scheme!r}")
        engine: dict[str, Any] = {"pool_pre_ping": True}
        if scheme.startswith("sqlite"):
            engine = {} if "timeout=" in url else {"connect_args": {"timeout": 60}}
        from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

        for attempt in range(4):
            try:
                return RDBStorage(
                    url,
                    heartbeat_interval=max(1, round(heartbeat_s)),
                    grace_period=max(2, round(grace_s)),
                    engine_kwargs=engine,
                )
            except (ImportError, ModuleNotFoundError) as exc:
                hint = " (pip install -e '.[postgres]' installs psycopg)" if scheme.startswith("postgresql") else ""
                raise ConfigError(
                    f"storage {url!r} needs a database driver that is not installed: {exc}{hint}"
                ) from None
            except (IntegrityError, OperationalError, ProgrammingError) as exc:
                error: Exception = exc
                racing = not isinstance(exc, OperationalError) or any(
                    word in str(exc).lower() for word in ("locked", "exists")
                )
                if not racing:  # an unreachable server, an unopenable file
                    break
                # workers starting together race to create the schema; the loser finds it made
                time.sleep(0.5 * (attempt + 1))
            except Exception as exc:  # sqlalchemy errors: unknown dialect, bad URL
                error = exc
                break
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"cannot open storage {url!r}: {first}") from None
    path = Path(url)
    if path.exists() and path.is_dir():
        raise ConfigError(f"storage {url!r} is a directory; give a journal file path or a database URL")
    if path.exists() and not path.is_file():
        raise ConfigError(
            f"storage {url!r} is not a regular file (a device, pipe or socket); give a journal file path or a "
            "database URL"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = trial_durable_journal(path)
        repair_journal(path)
        return _journal_storage_class()(backend)
    except OSError as exc:
        raise ConfigError(f"cannot open journal storage {url!r}: {exc.strerror or exc}") from None


#: Journal records written without a disk sync: a running trial's parameters, intermediate values
#: and attributes (Optuna's ``JournalOperation`` codes 5, 7, 8, 9). The record that creates a running
#: trial (code 4 without a finished or waiting state) is not synced either. Every other record (a
#: study's records, an enqueued or added trial, a trial's end) syncs the file, and with it everything
#: written before.
UNSYNCED_OPS = frozenset({5, 7, 8, 9})
_CREATE_TRIAL = 4
_RUNNING = 0


def _synced(log: dict[str, Any]) -> bool:
    """Whether appending this journal record syncs the file to disk (see :data:`UNSYNCED_OPS`)."""
    op = log.get("op_code")
    if op == _CREATE_TRIAL:
        return int(log.get("state", _RUNNING)) != _RUNNING
    return op not in UNSYNCED_OPS


def trial_durable_journal(path: str | Path) -> Any:
    """Optuna's journal file backend, synced to disk when a trial ends, not per record.

    Optuna's own backend takes its lock, opens the file, writes one record and syncs it for every
    parameter (about 35 in the main job's space) and attribute of a trial: that was most of an
    over-budget draw's time. This backend writes every record exactly as Optuna's does (one JSON
    line under the same lock file, so Optuna's backend and other workers read it as usual), but

    - syncs only after records that end a trial, add or enqueue one, or change a study. A sync writes
      the whole file's data out, so a trial recorded as finished is on disk with every record before
      it. A killed process loses nothing either way (the operating system holds what was written); a
      power cut can lose only the records of trials still running, which a resumed study redraws;
    - inside :meth:`held`, keeps the parameter and attribute records of this thread and writes them
      in one append when the block ends (or just before any other record of this thread, keeping
      the order), and does not read the file for this thread meanwhile (other workers' records are
      read at the next call after the block). The driver holds the records of one candidate's
      choices and costs: a draw is a few appends (create, choices and costs, end) instead of about
      forty-five, and one read per append instead of one per record;
    - inside :meth:`lazy`, does not sync at all: the driver ends over-budget draws there, which hold
      no scored work (a power cut may lose the last few; the next synced record writes them out).
    """
    return _journal_class()(str(path))


@functools.cache
def _journal_class() -> Any:
    import contextlib
    import json
    import threading

    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

    class TrialDurableJournal(JournalFileBackend):
        def __init__(self, file_path: str) -> None:
            self._file = file_path
            self._file_lock = JournalFileSymlinkLock(file_path)
            self._local = threading.local()  # per thread: held records (a list or None), lazy flag
            super().__init__(file_path, lock_obj=self._file_lock)

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            held = getattr(self._local, "held", None)
            if held is not None:
                if all(log.get("op_code") in UNSYNCED_OPS for log in logs):
                    held.extend(logs)
                    return
                logs = held + list(logs)  # a record that must be read back now: write in order
                held.clear()
            self._write(logs)

        def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
            if getattr(self._local, "held", None):
                # records are held: they are not in the file yet, and nothing of this thread that
                # must be read back is (a record that must be was written with them, and read)
                return []
            return super().read_logs(log_number_from)

        def _write(self, logs: list[dict[str, Any]]) -> None:
            if not logs:
                return
            text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode("utf-8")
            sync = not getattr(self._local, "lazy", False) and any(_synced(log) for log in logs)
            self._file_lock.acquire()
            try:
                with open(self._file, "ab") as f:
                    f.write(text)
                    f.flush()
                    if sync:
                        os.fsync(f.fileno())
            finally:
                self._file_lock.release()

        @contextlib.contextmanager
        def held(self) -> Any:
            """Parameter and attribute records this thread appends inside are written together."""
            if getattr(self._local, "held", None) is not None:  # nested: the outer block writes
                yield
                return
            self._local.held = []
            try:
                yield
            finally:
                logs, self._local.held = self._local.held, None
                self._write(logs)

        @contextlib.contextmanager
        def lazy(self) -> Any:
            """Records this thread appends inside are not synced to disk."""
            before = getattr(self._local, "lazy", False)
            self._local.lazy = True
            try:
                yield
            finally:
                self._local.lazy = before

    return TrialDurableJournal


@functools.cache
def _journal_storage_class() -> Any:
    """Optuna's ``JournalStorage``, with the unfinished trials of a study found without a full scan.

    Every ``study.ask()`` lists the study's WAITING trials (to run enqueued ones first), and the
    driver's census looks at trials that can still change; Optuna's journal answers both by going
    through every trial, which at 50,000 draws is most of a draw's time. A finished trial never
    changes state, so this storage keeps, per study, the numbers of the trials still unfinished at the
    last look and looks only at those and at new trials."""
    import copy

    from optuna.storages import JournalStorage

    class ByNumber:
        """A study's trials by number, read from the journal's replay without copying the list."""

        def __init__(self, ids: list[int], trials: dict[int, Any]) -> None:
            self._ids, self._trials = ids, trials

        def __len__(self) -> int:
            return len(self._ids)

        def __getitem__(self, number: int) -> Any:
            return self._trials[self._ids[number]]

    class SearchJournalStorage(JournalStorage):
        def __init__(self, backend: Any) -> None:
            super().__init__(backend)
            self._open: dict[int, tuple[int, list[int]]] = {}  # study id: (numbers looked at, unfinished ones)

        def __setstate__(self, state: dict[Any, Any]) -> None:
            super().__setstate__(state)
            self._open = {}

        def numbered(self, study_id: int) -> Any:
            """The study's trials by number after one read of the file (``len`` and ``[number]``)."""
            with self._thread_lock:
                self._sync_with_backend()
            replay = self._replay_result
            try:
                return ByNumber(replay._study_id_to_trial_ids[study_id], replay._trials)
            except AttributeError:  # an Optuna whose journal keeps its trials otherwise
                return super().get_all_trials(study_id, deepcopy=False)

        def get_all_trials(self, study_id: int, deepcopy: bool = True, states: Any = None) -> list[Any]:
            if states is None or any(state.is_finished() for state in states):
                return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)
            view = self.numbered(study_id)
            still, _ = _settle(view, *self._open.get(study_id, (0, [])))
            self._open[study_id] = (len(view), still)
            out = [view[n] for n in still if view[n].state in states]
            return copy.deepcopy(out) if deepcopy else out

    return SearchJournalStorage


def _journal_mode(study: Any, mode: str) -> Any:
    """The study's journal backend's ``held()`` or ``lazy()`` block; nothing for another storage."""
    import contextlib

    backend = getattr(getattr(study, "_storage", None), "_backend", None)
    return getattr(backend, mode)() if isinstance(backend, _journal_class()) else contextlib.nullcontext()


def _held(study: Any) -> Any:
    return _journal_mode(study, "held")


def _lazy(study: Any) -> Any:
    return _journal_mode(study, "lazy")


#: a damaged tail longer than this is refused rather than cut off (a torn record is one record)
MAX_REPAIR_BYTES = 1 << 20


def _journal_record(line: bytes) -> bool:
    """Whether one journal line (without its newline) is a readable Optuna journal record."""
    import json

    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(record, dict) and "op_code" in record


def repair_journal(path: str | Path) -> Path | None:
    """Cut a damaged tail off an Optuna journal file, keeping every complete record.

    A crash or a full disk in the middle of a write leaves a partial last record; anything appended
    after it would be glued to it, and the journal could no longer be read. So before a study is
    opened, the unreadable lines at the end (a partial record, NUL bytes, invalid UTF-8, appended
    garbage) are moved to ``<journal>.damaged-<time>`` beside it, under the journal's own lock, and
    one line on stderr says so. Returns the backup path, or ``None`` when the journal was intact.

    Raises:
        ConfigError: the file holds no journal record at all (it is not a journal), the damaged
            tail is longer than :data:`MAX_REPAIR_BYTES`, or an unreadable record sits between
            readable ones (the message says how to repair it by hand).
    """
    import sys

    from optuna.storages.journal import JournalFileSymlinkLock
    from optuna.storages.journal._file import get_lock_file

    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    with get_lock_file(JournalFileSymlinkLock(str(path))):
        data = path.read_bytes()
        if not data.endswith(b"\n") and _journal_record(data[data.rfind(b"\n") + 1 :]):
            with path.open("ab") as f:  # a whole record that lost only its newline: keep it
                f.write(b"\n")
            data += b"\n"
        lines = data.split(b"\n")
        complete = lines[:-1]  # the part after the last newline is partial (empty when intact)
        cut = len(data) - len(lines[-1])
        while complete and not _journal_record(complete[-1]):
            cut -= len(complete.pop()) + 1
        if cut == len(data):
            bad = next((i for i, line in enumerate(complete) if not _journal_record(line)), None)
            if bad is not None:
                raise ConfigError(
                    f"journal {str(path)!r} has an unreadable record at line {bad + 1} of {len(complete)}, followed by "
                    f"readable ones; keep lines 1-{bad} (head -n {bad}) or restore a backup"
                )
            return None
        if not complete:
            raise ConfigError(f"storage {str(path)!r} is not an Optuna journal: it holds no readable journal record")
        if len(data) - cut > MAX_REPAIR_BYTES:
            raise ConfigError(
                f"journal {str(path)!r} ends in {len(data) - cut} unreadable bytes after its last record (line "
                f"{len(complete)}); keep lines 1-{len(complete)} (head -n {len(complete)}) or restore a backup"
            )
        backup = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        backup.write_bytes(data[cut:])
        with path.open("r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
    print(
        f"metablock: journal {str(path)!r} ended in {len(data) - cut} bytes of a torn or unreadable record (a crash or "
        f"full disk mid-write); cut them off into {str(backup)!r}, every complete record kept",
        file=sys.stderr,
    )
    return backup


def _quiet() -> None:
    """Silence Optuna's experimental-feature warnings for the features the driver relies on."""
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    # the driver asks and tells itself and runs the heartbeat thread (see _Heartbeat)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_sampler(name: str, seed: int, n_objectives: int, population: int = 50) -> Any:
    """Optuna's sampler ``name``; ``population``: NSGA-II's population size."""
    import optuna

    _quiet()

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        from .samplers import BudgetAwareGPSampler

        return BudgetAwareGPSampler(seed=seed, warn_independent_sampling=False)
    raise ConfigError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")


def create_study(settings: SearchSettings, *, worker: int = 0) -> Any:
    """Create or load the study (same name, same storage) with the worker's sampler."""
    import optuna

    storage = make_storage(settings.storage_url, heartbeat_s=settings.heartbeat_s, grace_s=settings.grace_s)
    sampler = make_sampler(
        settings.sampler, settings.seed + worker, len(settings.objectives), population=settings.nsga2_population
    )
    study = optuna.create_study(
        storage=storage,
        study_name=settings.study,
        directions=settings.directions,  # type: ignore[arg-type]
        sampler=sampler,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        if len(settings.objectives) == 1
        else optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    if [d.name.lower() for d in study.directions] != settings.directions:
        raise ConfigError(
            f"study {settings.study!r} exists with directions {[d.name.lower() for d in study.directions]}, "
            f"but objectives={list(settings.objectives)} need {settings.directions}; use another study name"
        )
    return study


# ------------------------------------------------------------------------------- costs


class Evaluator:
    """Costs and scores of candidates (one per worker process)."""

    def __init__(self, settings: SearchSettings) -> None:
        self.settings = settings
        self.space = get_space(settings.space)
        path = Path(settings.cost_cache or default_cost_cache())
        path.parent.mkdir(parents=True, exist_ok=True)
        self._table = metablock.CostTable(path)

    def costs(self, cand: Candidate) -> dict[str, float]:
        """``params``, ``macs`` and (when an objective or budget needs it) ``latency_ms``.

        Latency is measured on the device (a second or more per candidate), so a candidate already
        over the MACs or params budget is not timed when latency is only an objective: it will not be
        scored, and no constraint needs its latency. With a latency budget every candidate is timed,
        so that each draw records every constraint the sampler ranks infeasible draws by."""
        c = self._table.network(cand.net, cand.input_size)
        out: dict[str, float] = {"params": int(c.params), "macs": int(c.macs)}
        settings = self.settings
        over = any(out[key] > budget for key, budget in settings.budgets.items() if key in out)
        if settings.max_latency_ms is not None or ("latency_ms" in settings.objectives and not over):
            lat = metablock.measure_latency(
                cand.net,
                cand.input_size,
                batch=1,
                threads=self.settings.latency_threads,
                device=self.settings.score.resolved_device,  # latency on the device the search is for
            )
            out["latency_ms"] = lat.median_ms
        return out


def default_cost_cache() -> str:
    """The per-block cost table shared by every study of this user: ``$METABLOCK_CACHE/costs.sqlite``,
    else ``$XDG_CACHE_HOME/metablock/costs.sqlite``, else ``~/.cache/metablock/costs.sqlite``."""
    root = os.environ.get("METABLOCK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "metablock"
    )
    return os.path.join(root, "costs.sqlite")


# ------------------------------------------------------------------------------- objective


class BudgetExceeded(Exception):
    """A candidate is over a budget; the trial ends PRUNED without being scored."""


def _fmt(name: str, value: float) -> str:
    if name == "macs":
        return f"{value / 1e6:.1f}M MACs"
    if name == "params":
        return f"{value / 1e6:.2f}M params"
    return f"{value:.2f} ms"


def objective(
    trial: Any, settings: SearchSettings, evaluator: Evaluator, scoring: Callable[[], Any] | None = None
) -> tuple[float, ...]:
    """Suggest, cost, check budgets, score; returns the objective values.

    ``scoring``: a context manager factory entered once the candidate is within budget, around its
    build and score (the driver's heartbeat: an over-budget draw needs none)."""
    import contextlib

    with _held(trial.study):  # a draw's choices, costs and budget checks go to storage in one write
        trial.set_user_attr("worker", _worker_id())
        trial.set_user_attr("heartbeat", time.time())
        t0 = time.perf_counter()
        cand = evaluator.space.suggest(trial)
        trial.set_user_attr("time_suggest_s", time.perf_counter() - t0)  # the sampler's share
        trial.set_user_attr("arch", cand.arch)
        trial.set_user_attr("resolution", cand.resolution)
        costs = evaluator.costs(cand)
        for key, value in costs.items():
            trial.set_user_attr(key, value)
        constraints, over = _budget_check(settings, costs)
        for key, value in constraints.items():
            trial.set_constraint(key, value)
        t1 = time.perf_counter()
        trial.set_user_attr("time_costs_s", t1 - t0)
        if over:
            # its choices (arch), costs and constraints are kept; the full config is not: most draws
            # of a tight budget are over it, and their configs would dominate the storage's size
            trial.set_user_attr("status", "over_budget")
            trial.set_user_attr("reason", "over budget: " + ", ".join(over))
            raise BudgetExceeded(", ".join(over))
        trial.set_user_attr("config", cand.net.to_dict())

    with scoring() if scoring is not None else contextlib.nullcontext():
        return _score(trial, settings, cand, costs, t1)


def _budget_check(settings: SearchSettings, costs: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """The constraint values of a candidate's costs (> 0: over that budget) and a line per budget it exceeds."""
    constraints = {key: costs[key] - budget for key, budget in settings.budgets.items()}
    over = [f"{_fmt(key, costs[key])} > {_fmt(key, settings.budgets[key])}" for key, v in constraints.items() if v > 0]
    return constraints, over


class _SamplerChooser:
    """Choices drawn by the study's sampler (its ``sample_independent``) without a trial; the
    parameters and their distributions are kept as Optuna's define-by-run would record them."""

    def __init__(self, study: Any) -> None:
        self.study = study
        self.params: dict[str, Any] = {}
        self.distributions: dict[str, Any] = {}

    def _draw(self, label: str, dist: Any) -> Any:
        value = self.study.sampler.sample_independent(self.study, None, label, dist)
        self.params[label], self.distributions[label] = value, dist
        return value

    def categorical(self, label: str, choices: Any) -> Any:
        from optuna.distributions import CategoricalDistribution

        return self._draw(label, CategoricalDistribution(list(choices)))

    def integer(self, label: str, low: int, high: int) -> int:
        from optuna.distributions import IntDistribution

        return int(self._draw(label, IntDistribution(low, high)))


def _draw_unasked(study: Any, settings: SearchSettings, evaluator: Evaluator) -> bool:
    """Random search without a trial per draw; whether the draw was over budget (and recorded).

    A random sampler's draw does not depend on the study, so the driver draws the candidate with the
    sampler itself and costs it first: one over budget is added to the study as one finished PRUNED
    record (its choices, costs, constraints and the attributes :func:`objective` gives such a draw)
    instead of a trial asked, filled record by record and told; one within budget is enqueued, and
    the next ``study.ask()`` runs it as usual. Enqueued trials already waiting (baselines, retries)
    go first: nothing is drawn while there are any."""
    import datetime

    from optuna.trial import TrialState, create_trial

    if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return False
    start = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    chooser = _SamplerChooser(study)
    try:
        cand = evaluator.space.decode(chooser)
        t_suggest = time.perf_counter() - t0
        costs = evaluator.costs(cand)
    except Exception:  # a fault of this candidate: the asked trial runs the same choices and records it
        study.enqueue_trial(chooser.params)
        return False
    constraints, over = _budget_check(settings, costs)
    if not over:
        study.enqueue_trial(chooser.params)
        return False
    attrs = {"worker": _worker_id(), "time_suggest_s": t_suggest, "arch": cand.arch, "resolution": cand.resolution}
    attrs.update(costs)
    attrs["time_costs_s"] = time.perf_counter() - t0
    attrs.update(status="over_budget", reason="over budget: " + ", ".join(over))
    record = create_trial(
        state=TrialState.PRUNED,
        params=chooser.params,
        distributions=chooser.distributions,
        user_attrs=attrs,
        constraints=constraints,
    )
    record.datetime_start, record.datetime_complete = start, datetime.datetime.now(datetime.timezone.utc)
    with _lazy(study):  # it holds no scored work: no disk sync (see trial_durable_journal)
        study.add_trial(record)
    return True


def _score(trial: Any, settings: SearchSettings, cand: Any, costs: dict[str, float], t1: float) -> tuple[float, ...]:
    """Build and score a candidate within budget (the second half of :func:`objective`)."""
    import optuna

    # a score that builds the candidate itself (short_train) takes none
    model = None if settings.score.score in BUILDS_ITS_OWN else seeded_build(cand.net, settings.seed)
    single = len(settings.objectives) == 1

    def report(step: int, value: float) -> None:
        if single:
            trial.report(value, step)
            if trial.should_prune():
                trial.set_user_attr("status", "pruned")
                raise optuna.TrialPruned(f"pruned at step {step} with accuracy {value:.3f}")

    t2 = time.perf_counter()
    score = compute_score(model, settings.score, cand.resolution, report, costs=costs, net=cand.net)
    t3 = time.perf_counter()
    trial.set_user_attr("time_build_s", t2 - t1)
    trial.set_user_attr("time_score_s", t3 - t2)
    if not math.isfinite(score):
        raise FloatingPointError(f"score {settings.score.score} is {score}")
    trial.set_user_attr("score", score)
    trial.set_user_attr("status", "ok")
    values = {"score": score, **costs}
    return tuple(float(values[o]) for o in settings.objectives)


def over_budget(trial: Any) -> bool:
    """Whether a trial was a candidate over a budget (PRUNED before scoring)."""
    # state names, not TrialState: this runs for every trial of the study after every trial
    return trial.state.name == "PRUNED" and trial.user_attrs.get("status") == "over_budget"


def counted(trial: Any) -> bool:
    """Whether a trial counts toward the study's ``trials``: it was scored (see the module docstring)."""
    state = trial.state.name
    if state == "COMPLETE":
        return True
    if state == "PRUNED":
        return trial.user_attrs.get("status") != "over_budget"
    return state == "FAIL" and FAULT in trial.user_attrs


def finished(study: Any) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False) if counted(t))


def _taken(study: Any, before: int | None = None) -> int:
    """Trials that count or may still count: finished ones and running ones (numbers < ``before``;
    with ``before``, enqueued WAITING ones too, since a worker will run them)."""
    return _census(study, before)[0]


def _census(study: Any, before: int | None = None) -> tuple[int, int]:
    """``(taken, over budget)``: :func:`_taken` and the number of over-budget draws.

    A finished trial never changes, so its share is counted once and kept on the study object with
    the numbers of the trials that were still unfinished; a check looks only at those and at trials
    new since the last one: on the journal it costs the same in a study of 50,000 draws as in one of
    100."""
    live = ("RUNNING",) if before is None else ("RUNNING", "WAITING")
    view = _numbered(study)
    memo = study.__dict__.setdefault("_metablock_census", {"scanned": 0, "open": [], "taken": 0, "over": 0})
    still, done = _settle(view, memo["scanned"], memo["open"])
    memo["taken"] += sum(1 for t in done if counted(t))
    memo["over"] += sum(1 for t in done if not counted(t) and over_budget(t))
    memo["open"], memo["scanned"] = still, len(view)
    taken, over = memo["taken"], memo["over"]
    taken += sum(1 for n in still if (before is None or n < before) and view[n].state.name in live)
    for number in range(before if before is not None else len(view), len(view)):
        t = view[number]  # finished trials from ``before`` on were counted above: take them out
        if t.state.is_finished() and counted(t):
            taken -= 1
        elif t.state.is_finished() and over_budget(t):
            over -= 1
    return taken, over


def _settle(view: Any, scanned: int, unfinished: list[int]) -> tuple[list[int], list[Any]]:
    """Look again at the trials that were ``unfinished`` and at those numbered ``scanned`` and up:
    the numbers still unfinished, and the trials finished since the last look."""
    still, done = [], []
    for number in [*unfinished, *range(scanned, len(view))]:
        t = view[number]
        if t.state.is_finished():
            done.append(t)
        else:
            still.append(number)
    return still, done


def _numbered(study: Any) -> Any:
    """The study's trials by number (``len`` and ``[number]``): the journal's without listing them all."""
    storage = study._storage
    if hasattr(storage, "numbered"):
        return storage.numbered(study._study_id)
    return study.get_trials(deepcopy=False)


class OverBudgetLimit(RuntimeWarning):
    """The study drew ``max_over_budget`` over-budget candidates before holding its trials."""


def _worker_id() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


class _Heartbeat:
    """Renews a running trial's ``heartbeat`` user attribute (and Optuna's RDB heartbeat) from a
    background thread until the trial ends."""

    def __init__(self, study: Any, trial: Any, every: float) -> None:
        import threading

        from optuna.storages._heartbeat import is_heartbeat_enabled

        self._storage = study._storage
        self._trial_id = trial._trial_id
        self._rdb = is_heartbeat_enabled(self._storage)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{trial.number}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._storage.set_trial_user_attr(self._trial_id, "heartbeat", time.time())
                if self._rdb:
                    self._storage.record_heartbeat(self._trial_id)
            except Exception:  # the trial ended meanwhile, or the storage hiccupped: try again later
                continue

    def __enter__(self) -> _Heartbeat:
        if self._rdb:
            self._storage.record_heartbeat(self._trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _pid_gone(pid: int) -> bool:
    """Whether no live process has this pid on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def stale_reason(trial: Any, grace_s: float, now: float | None = None) -> str | None:
    """Why a RUNNING trial's worker is lost, or ``None`` while it may still be alive.

    The rule (module docstring): its worker ran on this host and the pid is gone, or its last
    ``heartbeat`` (else its start) is more than ``grace_s`` seconds old.
    """
    now = time.time() if now is None else now
    worker = str(trial.user_attrs.get("worker", ""))
    host, _, pid = worker.rpartition(":")
    if host == os.uname().nodename and pid.isdigit() and int(pid) != os.getpid() and _pid_gone(int(pid)):
        return f"worker {worker} is gone"
    last = trial.user_attrs.get("heartbeat")
    if not isinstance(last, (int, float)):
        last = trial.datetime_start.timestamp() if trial.datetime_start else now
    if now - last > grace_s:
        return f"no heartbeat from worker {worker or '?'} for {now - last:.0f} s (grace {grace_s:g} s)"
    return None


def fail_stale(study: Any, grace_s: float) -> list[int]:
    """Mark stale RUNNING trials FAIL with the reason in user attribute ``lost``; returns their numbers.

    RDB storages first apply Optuna's own heartbeat rule (on the database clock)."""
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    storage = study._storage
    lost = []
    if optuna.storages._heartbeat.is_heartbeat_enabled(storage):
        # Optuna's own rule (on the database clock), applied here first so the trials carry ``lost``
        grace = storage.grace_period if getattr(storage, "grace_period", None) else grace_s
        for trial_id in storage._get_stale_trial_ids(study._study_id):
            try:
                reason = f"no RDB heartbeat for over {grace:g} s (Optuna's heartbeat rule)"
                storage.set_trial_user_attr(trial_id, LOST, reason)
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue
    optuna.storages.fail_stale_trials(study)
    for t in study.get_trials(deepcopy=False):
        if t.number in running and t.state == TrialState.FAIL and FAULT not in t.user_attrs:
            lost.append(t.number)  # failed just now by Optuna's heartbeat rule
        if t.state != TrialState.RUNNING:
            continue
        reason = stale_reason(t, grace_s)
        if reason is None:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, LOST, reason)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:  # it finished (or another process failed it) meanwhile
            continue
        lost.append(t.number)
    return lost


def run_trials(
    settings: SearchSettings,
    quota: int,
    worker: int = 0,
    deadline: float | None = None,
    callback: Callable[[Any, Any], None] | None = None,
) -> int:
    """Run up to ``quota`` trials in this process (ask/tell); ``callback(study, trial)`` follows each one.

    Stops early once the study holds ``settings.trials`` scored or running trials (other workers
    share it), or once it holds ``settings.over_budget_limit`` over-budget draws. Over-budget draws
    do not use the quota. Returns how many trials were scored here."""
    from optuna.exceptions import UpdateFinishedTrialError

    _quiet()
    study = create_study(settings, worker=worker)
    evaluator = Evaluator(settings)
    done = 0
    while done < quota and (deadline is None or time.time() < deadline):
        taken, over = _census(study)
        if taken >= settings.trials:
            break
        if over >= settings.over_budget_limit:
            break  # run_search warns
        if settings.sampler == "random" and _draw_unasked(study, settings, evaluator):
            continue  # an over-budget draw, recorded in one write
        trial = study.ask()
        try:
            scored = _run_one(study, trial, settings, evaluator)
        except UpdateFinishedTrialError:
            # this worker was paused (or cut off) past the grace period: another process declared the
            # trial lost and runs it again, so drop it and carry on with the next one
            print(
                f"metablock: trial {trial.number} was declared lost while this worker was stopped; dropped here "
                "(it runs again)",
                file=sys.stderr,
            )
            continue
        if scored is None:
            break
        done += scored
        if callback is not None:
            callback(study, trial)
    return done


def _run_one(study: Any, trial: Any, settings: SearchSettings, evaluator: Evaluator) -> bool | None:
    """Evaluate one asked trial and tell its result; whether it was scored (``None``: the study
    already held its trials, stop)."""
    import optuna
    from optuna.trial import TrialState

    if _taken(study, before=trial.number) >= settings.trials:
        trial.set_user_attr("worker", _worker_id())
        trial.set_user_attr(SURPLUS, "asked after the study held its trials; not evaluated")
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        return None
    state: Any = None
    values: Any = None
    scored = True
    try:
        # the heartbeat runs while a candidate within budget is built and scored
        values = objective(trial, settings, evaluator, lambda: _Heartbeat(study, trial, settings.heartbeat_s))
    except BudgetExceeded:
        state = TrialState.PRUNED
        scored = False
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except optuna.exceptions.UpdateFinishedTrialError:
        raise
    except KeyboardInterrupt:
        trial.set_user_attr(FAULT, "interrupted")
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise
    except Exception as exc:  # a fault of this candidate (NaN score, error, out of memory): record it
        reason = f"{type(exc).__name__}: {exc}"
        trial.set_user_attr(FAULT, reason[:500])
        trial.set_user_attr("status", "failed")
        trial.set_user_attr("traceback", traceback.format_exc()[-2000:])
        state = TrialState.FAIL
        _release_memory()
    # skip_if_finished: another process may have declared this trial lost (it then runs again)
    if state is None:
        study.tell(trial, values, skip_if_finished=True)
    elif scored:
        study.tell(trial, state=state, skip_if_finished=True)
    else:
        with _lazy(study):  # an over-budget draw holds no scored work: no disk sync of its end
            _tell_quietly(study, trial, state)
    return scored


def _tell_quietly(study: Any, trial: Any, state: Any) -> None:
    """``study.tell(trial, state=state, skip_if_finished=True)`` without the deep copy of the told
    trial that ``Study.tell`` returns (a third of an over-budget draw's tell), where Optuna allows."""
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:  # pragma: no cover - an Optuna that moved it
        study.tell(trial, state=state, skip_if_finished=True)
        return
    _tell_with_warning(study=study, trial=trial, value_or_values=None, state=state, skip_if_finished=True)


def _release_memory() -> None:
    """Free cached accelerator memory after a failed candidate (e.g. one that ran out of memory)."""
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - best effort
        pass


def _worker_main(settings: SearchSettings, quota: int, worker: int, deadline: float | None) -> None:
    import torch

    torch.set_num_threads(1)
    run_trials(settings, quota, worker, deadline)


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_search(settings: SearchSettings) -> Any:
    """Create or resume the study and run it to ``settings.trials`` scored trials, then, with
    ``settings.refine``, train the most promising candidates (:mod:`search.refine`).

    With ``workers > 1`` the trials are shared between worker processes on the same storage.
    Returns the study.
    """
    study, settings = _proxy_stage(settings)
    if settings.refine:
        from .refine import refine

        refine(settings, study)
    return study


#: the settings that define what a study's values mean; a study resumes only with the same ones
DEFINING = ("space", "objectives", "max_macs", "max_params", "max_latency_ms", "score")
#: score settings that change where or how fast a score is computed, not its value
_SCORE_INCIDENTAL = ("device",)


def defining_settings(settings: SearchSettings) -> dict[str, Any]:
    """The settings that define a study (space, objectives, budgets, the score and its settings) as
    plain JSON values; ``latency_threads`` joins them when latency is an objective or a budget."""
    d = settings.to_dict()
    d["space"] = _space_key(get_space(settings.space).to_dict())
    out = {k: d[k] for k in DEFINING}
    out["score"] = {k: v for k, v in d["score"].items() if k not in _SCORE_INCIDENTAL}
    if "latency_ms" in settings.objectives or settings.max_latency_ms is not None:
        out["latency_threads"] = settings.latency_threads
    import json

    return dict(json.loads(json.dumps(out)))


def _space_key(space: Any) -> Any:
    """A space's dict without what does not change what it samples (its description, fields a stage
    does not use): see :func:`search.space.without_unused`."""
    if not isinstance(space, dict):
        return space
    return {k: v for k, v in without_unused(space).items() if k != "description"}


def _first_difference(a: Any, b: Any, path: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else path


def _stored_defining(study: Any) -> dict[str, Any] | None:
    attrs = study.user_attrs
    if isinstance(attrs.get("defining"), dict):
        return {**attrs["defining"], "space": _space_key(attrs["defining"].get("space"))}
    if "space" in attrs and "settings" in attrs:  # a study made before ``defining`` was recorded
        old = dict(attrs["settings"])
        out = {k: old.get(k) for k in DEFINING if k != "space"}
        out["space"] = _space_key(attrs["space"])
        out["score"] = {k: v for k, v in dict(old.get("score") or {}).items() if k not in _SCORE_INCIDENTAL}
        if "latency_ms" in (old.get("objectives") or []) or old.get("max_latency_ms") is not None:
            out["latency_threads"] = old.get("latency_threads")
        return out
    return None


def check_same_study(study: Any, settings: SearchSettings) -> None:
    """Refuse to add trials to a study made with other defining settings (their values would mix)."""
    stored = _stored_defining(study)
    if stored is None or not study.get_trials(deepcopy=False):
        return
    mine = defining_settings(settings)
    where = _first_difference(stored, mine, "")
    if where is None:
        return

    def value(d: dict[str, Any]) -> str:
        v: Any = d
        for part in where.replace("[", ".[").split("."):
            if part.startswith("["):
                v = v[int(part[1:-1])] if isinstance(v, list) and int(part[1:-1]) < len(v) else None
            else:
                v = v.get(part) if isinstance(v, dict) else None
        text = repr(v.get("name") if isinstance(v, dict) and "name" in v else v)
        return text if len(text) <= 60 else text[:57] + "..."

    if where.startswith("space.") and stored["space"].get("name") != mine["space"].get("name"):
        where = "space.name"
    raise ConfigError(
        f"study {settings.study!r} in {settings.storage_url!r} was made with {where}={value(stored)}, this command "
        f"asks for {value(mine)}; resume it with its own settings, or give --study (or --out) for a new study"
    )


def _proxy_stage(settings: SearchSettings) -> tuple[Any, SearchSettings]:
    _quiet()
    Path(settings.out).mkdir(parents=True, exist_ok=True)
    space = get_space(settings.space)
    resolve_device(settings.score.device)  # a device that is not there fails before the study opens
    settings = dataclasses.replace(settings, space=space)
    check_dataset(settings.score.dataset)  # a dataset that is not there fails before the study opens
    study = create_study(settings)
    check_same_study(study, settings)
    study.set_user_attr("defining", defining_settings(settings))
    study.set_metric_names(list(settings.objectives))
    study.set_user_attr("space", space.to_dict())
    study.set_user_attr("settings", {k: v for k, v in settings.to_dict().items() if k != "space"})
    if settings.baselines and not study.trials:
        for name, params in list(space.baselines().items())[: settings.trials]:
            study.enqueue_trial(params, user_attrs={"baseline": name})
    fail_stale(study, settings.grace_s)
    retry_lost(study)
    remaining = max(0, settings.trials - _taken(study))
    if remaining == 0:
        return study, settings
    deadline = time.time() + settings.timeout if settings.timeout else None
    workers = min(settings.workers, remaining)
    bar = _progress(settings, study, remaining)
    try:
        if workers == 1:
            _run_inline(settings, remaining, deadline, bar, study)
        else:
            ctx = mp.get_context("spawn")
            procs = [
                ctx.Process(target=_worker_main, args=(settings, quota, i, deadline), daemon=False)
                for i, quota in enumerate(_split(remaining, workers))
            ]
            for p in procs:
                p.start()
            start = finished(study)
            while any(p.is_alive() for p in procs):
                time.sleep(0.5)
                if bar is not None:
                    bar.n = min(remaining, finished(study) - start)
                    bar.refresh()
            for p in procs:
                p.join()
            bad = [p.exitcode for p in procs if p.exitcode]
            if bad:
                how = ", ".join(f"killed by signal {-c}" if c < 0 else f"exit code {c}" for c in bad)
                raise StoppedError(
                    f"{len(bad)} of {len(procs)} worker(s) stopped ({how}); every finished trial is stored in "
                    f"{settings.storage_url!r}: run the same command again to resume"
                )
    finally:
        if bar is not None:
            bar.close()
    taken, over = _census(study)
    if taken < settings.trials and over >= settings.over_budget_limit:
        import warnings

        warnings.warn(
            f"study {settings.study!r} drew {over} candidates over budget (max_over_budget="
            f"{settings.over_budget_limit}) and holds {taken} of {settings.trials} scored trials: the budget "
            "excludes nearly the whole space; loosen it or narrow the space",
            OverBudgetLimit,
            stacklevel=3,
        )
    return study, settings


def retry_lost(study: Any) -> int:
    """Re-enqueue the parameters of trials that failed without a recorded fault (lost workers).

    Each lost trial is retried once per loss: the retry records ``retry_of``; surplus trials
    (never evaluated) are not retried."""
    from optuna.trial import TrialState

    retried = {t.user_attrs.get("retry_of") for t in study.get_trials(deepcopy=False)}
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if FAULT in t.user_attrs or SURPLUS in t.user_attrs or t.number in retried:
            continue
        attrs: dict[str, Any] = {"retry_of": t.number}
        if "baseline" in t.user_attrs:
            attrs["baseline"] = t.user_attrs["baseline"]
        study.enqueue_trial(t.params, user_attrs=attrs, skip_if_exists=False)
        n += 1
    return n


def _progress(settings: SearchSettings, study: Any, total: int) -> Any:
    if not settings.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{settings.study} ({settings.workers} worker(s))", unit="trial")


def _run_inline(settings: SearchSettings, quota: int, deadline: float | None, bar: Any, study: Any) -> None:
    best: list[float] = []
    drawn = [0, 0]  # all draws, over-budget draws

    def update(study: Any, trial: Any) -> None:
        if bar is None:
            return
        frozen = study._storage.get_trial(trial._trial_id)
        drawn[0] += 1
        if over_budget(frozen):
            drawn[1] += 1
        else:
            bar.update(1)
        score = frozen.user_attrs.get("score")
        if score is not None:
            best.append(score)
        text = f"best {settings.score.score}={max(best):.4g}" if best else ""
        if drawn[1]:
            text += f"{', ' if text else ''}{drawn[1]} of {drawn[0]} draws over budget"
        bar.set_postfix_str(text)

    run_trials(settings, quota, 0, deadline, update)


def parse_amount(text: str, name: str) -> float:
    """``300M``, ``1.5G``, ``250k`` or a plain number; raises ``ConfigError`` naming ``name``."""
    units = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}
    raw = str(text).strip()
    scale = units.get(raw[-1:], 1.0)
    number = raw[:-1] if raw[-1:] in units else raw
    try:
        value = float(number) * scale
    except ValueError:
        raise ConfigError(f"{name} must be a number like 300M or 1.5G; got {name}={text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be > 0; got {name}={text!r}")
    return value


def objectives_arg(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())
