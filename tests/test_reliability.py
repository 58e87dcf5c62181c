"""Reliability of the search: killed workers, concurrent workers on every storage, candidate faults."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from optuna.trial import TrialState
from test_search import FAST, TINY

from search.driver import FAULT, LOST, SURPLUS, SearchSettings, fail_stale, finished, run_search, stale_reason
from search.scores import SCORES, ScoreSettings, naswot

WORKER = Path(__file__).with_name("search_worker.py")
ROOT = Path(__file__).resolve().parents[1]


def _settings(storage: str, out: Path, trials: int, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = dict(
        space=TINY, score=FAST.to_dict(), trials=trials, out=str(out), storage=storage, progress=False
    )
    data.update(kw)
    return data


def _worker(settings: dict[str, Any], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(settings)],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _load(storage: str) -> Any:
    from search.driver import make_storage

    return optuna.load_study(study_name="metablock", storage=make_storage(storage))


def _check_study(study: Any, trials: int) -> None:
    """Exactly ``trials`` finished trials, consecutive unique numbers, nothing lost or left running."""
    all_trials = study.get_trials(deepcopy=False)
    assert finished(study) == trials
    assert [t.number for t in all_trials] == list(range(len(all_trials)))
    assert not [t.number for t in all_trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in all_trials:
        if t.state == TrialState.COMPLETE:
            assert t.user_attrs["status"] == "ok" and len(t.values) == 2 and "config" in t.user_attrs
        elif t.state == TrialState.FAIL:
            assert SURPLUS in t.user_attrs or FAULT in t.user_attrs or LOST in t.user_attrs, t.user_attrs


# ------------------------------------------------------------------------------ PostgreSQL
def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1 (Debian's ``postgresql`` package), stopped afterwards.

    As root the server runs as the ``postgres`` account (PostgreSQL refuses to run as root)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("no PostgreSQL driver: pip install -e '.[postgres]' (psycopg, in the test extra)")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' account to run the server")
        prefix = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="metablock-pg-"))
    if prefix:
        shutil.chown(base, user="postgres")
    data, port = base / "data", _free_port()

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(prefix + cmd, capture_output=True, text=True, timeout=120)

    started = False
    try:
        made = run([initdb, "-D", str(data), "-U", "metablock", "-A", "trust", "--no-sync"])
        if made.returncode:
            pytest.skip(f"initdb failed: {made.stderr.strip()[-300:]}")
        opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        start = run([pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "-t", "60", "start"])
        if start.returncode:
            log = (base / "log").read_text()[-300:] if (base / "log").exists() else start.stderr
            pytest.skip(f"PostgreSQL did not start: {log.strip()}")
        started = True
        created = run([_pg_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "metablock", "mb"])
        assert created.returncode == 0, created.stderr
        yield f"postgresql://metablock@127.0.0.1:{port}/mb"  # the URL form README shows
    finally:
        if started:
            run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def _storage_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "journal":
        return str(tmp_path / "study.journal")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    url: str = request.getfixturevalue("postgres_url")
    # one database for the module: a fresh study name per test keeps them apart
    return url


# ------------------------------------------------------------------------------ killed workers
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_killed_worker_s_trial_is_failed_retried_and_the_study_completes(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = _storage_url(kind, tmp_path, request)
    settings = _settings(storage, tmp_path, trials=4, score={**FAST.to_dict(), "score": "block"})
    marker = tmp_path / "blocked"
    proc = _worker(settings, env={"MB_BLOCK_FILE": str(marker), "MB_BLOCK_AFTER": "2"})
    try:
        while not marker.exists():  # the third trial is running and will not end by itself
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        study = _load(storage)
        before = {t.number: t for t in study.get_trials(deepcopy=True)}
        assert [t.state for t in before.values()] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    again = _worker(settings, env={"MB_BLOCK_FILE": str(marker)})  # the marker exists: nothing blocks now
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    study = _load(storage)
    trials = study.get_trials(deepcopy=False)
    lost = trials[2]
    assert lost.state == TrialState.FAIL and "is gone" in lost.user_attrs[LOST]
    assert lost.user_attrs["worker"].endswith(f":{proc.pid}")
    retry = [t for t in trials if t.user_attrs.get("retry_of") == 2]
    assert len(retry) == 1 and retry[0].params == lost.params and retry[0].state == TrialState.COMPLETE
    for number in (0, 1):  # completed trials are untouched
        assert trials[number].state == TrialState.COMPLETE
        assert trials[number].values == before[number].values
        assert trials[number].params == before[number].params
        assert trials[number].user_attrs["config"] == before[number].user_attrs["config"]
    _check_study(study, 4)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4


def test_the_stale_rule_for_trials_of_other_hosts_is_the_heartbeat_age(tmp_path: Path) -> None:
    from search.driver import make_storage

    study = optuna.create_study(storage=make_storage(str(tmp_path / "s.journal")), study_name="metablock")
    now = time.time()
    old, fresh, here = study.ask(), study.ask(), study.ask()
    for trial, worker, beat in (
        (old, "elsewhere:1", now - 500),
        (fresh, "elsewhere:2", now - 5),
        (here, f"{socket.gethostname()}:{os.getpid()}", now - 5),
    ):
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("heartbeat", beat)
    frozen = study.get_trials(deepcopy=False)
    assert "no heartbeat" in (stale_reason(frozen[0], grace_s=120) or "")
    assert stale_reason(frozen[1], grace_s=120) is None
    assert stale_reason(frozen[2], grace_s=120) is None  # this very process is alive
    assert fail_stale(study, grace_s=120) == [0]
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING]


# ------------------------------------------------------------------------------ concurrency
@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_four_concurrent_workers_hold_exactly_the_requested_trials(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = _storage_url(kind, tmp_path, request)
    study_name = f"four-{kind}-{os.getpid()}-{time.monotonic_ns()}"
    ready = tmp_path / "ready"
    ready.mkdir()
    trials = 8
    # four independent commands on one storage, as on four machines (each resumes the same study)
    settings = _settings(storage, tmp_path, trials=trials, study=study_name, ready_dir=str(ready), ready_count=4)
    procs = [_worker(settings) for _ in range(4)]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err.lower() and "Traceback" not in err, err
    from search.driver import make_storage

    study = optuna.load_study(study_name=study_name, storage=make_storage(storage))
    _check_study(study, trials)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    assert len(complete) == trials  # the TINY space under no budget: every candidate is scored
    assert len({t.user_attrs["worker"] for t in complete}) >= 2
    extra = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.FAIL]
    assert all(SURPLUS in t.user_attrs and not t.params for t in extra)


# ------------------------------------------------------------------------------ candidate faults
FAULTS: list[str] = []


def _faulty(model: torch.nn.Module, settings: ScoreSettings, resolution: int, report: Any = None, **kw: Any) -> float:
    """Faults in turn: NaN, infinity, an exception, out of (accelerator and host) memory, then fine."""
    order = ["nan", "inf", "error", "cuda_oom", "oom"]
    kind = order[len(FAULTS)] if len(FAULTS) < len(order) else "ok"
    FAULTS.append(kind)
    if kind == "nan":
        return float("nan")
    if kind == "inf":
        return float("inf")
    if kind == "error":
        raise RuntimeError("candidate exploded")
    if kind == "cuda_oom":
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    if kind == "oom":
        raise MemoryError("cannot allocate activations")
    return naswot(model, settings, resolution, report, **kw)


if "faulty" not in SCORES.names():
    SCORES.register("faulty")(_faulty)


def test_faulty_candidates_fail_with_their_reason_and_the_study_goes_on(tmp_path: Path) -> None:
    FAULTS.clear()
    score = ScoreSettings(score="faulty", batch_size=4, resolution=32)
    settings = SearchSettings(space=TINY, score=score, trials=7, out=str(tmp_path), progress=False)
    study = run_search(settings)
    trials = study.get_trials(deepcopy=False)
    assert finished(study) == 7 and len(trials) == 7
    reasons = [t.user_attrs.get(FAULT) for t in trials]
    assert "score naswot is nan" not in reasons  # the reason names the score that was used
    assert reasons[0] == "FloatingPointError: score faulty is nan"
    assert reasons[1] == "FloatingPointError: score faulty is inf"
    assert reasons[2] == "RuntimeError: candidate exploded"
    assert reasons[3].startswith("OutOfMemoryError: CUDA out of memory")
    assert reasons[4] == "MemoryError: cannot allocate activations"
    assert [t.state for t in trials] == [TrialState.FAIL] * 5 + [TrialState.COMPLETE] * 2
    assert all("Traceback" in t.user_attrs["traceback"] for t in trials[:5])
    # the faults count as finished: resuming does not run them again
    assert len(run_search(settings).trials) == 7
