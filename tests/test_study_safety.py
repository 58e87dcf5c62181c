"""A study is never lost: torn and damaged journals, special files, paused and killed workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from test_reliability import _load, _settings, _worker

from metablock import ConfigError
from metablock.errors import StoppedError
from search.driver import LOST, fail_stale, make_storage, repair_journal

ROOT = Path(__file__).resolve().parents[1]


def _journal(path: Path, trials: int = 3) -> bytes:
    """A small journal: ``trials`` finished trials with user attributes, then one more record."""
    study = optuna.create_study(storage=make_storage(str(path)), study_name="metablock")
    for i in range(trials):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr("config", {"name": f"net-{i}", "widths": list(range(i + 3))})
        study.tell(trial, float(i))
    study.ask()  # the last record: a trial starts
    return path.read_bytes()


def _trials(path: Path) -> list[Any]:
    study = optuna.load_study(study_name="metablock", storage=make_storage(str(path)))
    return study.get_trials(deepcopy=False)


def _backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".damaged-*"))


def test_a_journal_torn_at_every_byte_of_its_last_record_is_repaired_and_stays_appendable(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    intact = _journal(tmp_path / "source.journal")
    start = intact.rstrip(b"\n").rfind(b"\n") + 1  # the last record: intact[start:]
    for cut in range(start + 1, len(intact) - 1):  # every partial record (not the bare missing newline)
        path = tmp_path / f"torn-{cut}.journal"
        path.write_bytes(intact[:cut])
        trials = _trials(path)  # opening repairs it
        assert path.read_bytes() == intact[:start]  # every complete record kept, the torn one cut
        (backup,) = _backups(path)
        assert backup.read_bytes() == intact[start:cut]
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
        assert [t.user_attrs["config"]["name"] for t in trials] == ["net-0", "net-1", "net-2"]
        # a later append is a record of its own: the study stays readable
        study = optuna.load_study(study_name="metablock", storage=make_storage(str(path)))
        study.tell(study.ask(), 7.0)
        again = _trials(path)
        assert len(again) == 4 and again[-1].values == [7.0]
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and "torn or unreadable record" in err and backup.name in err


def _fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    return synced


def _plain(path: Path) -> Any:
    """The study read back through Optuna's own journal backend."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return optuna.load_study(study_name="metablock", storage=JournalStorage(JournalFileBackend(str(path))))


def test_the_journal_syncs_when_a_trial_ends_not_per_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "study.journal"
    study = optuna.create_study(storage=make_storage(str(path)), study_name="metablock")
    synced = _fsyncs(monkeypatch)
    trial = study.ask()
    params = {f"x{i}": trial.suggest_int(f"x{i}", 0, 9) for i in range(20)}
    trial.set_user_attr("config", {"name": "net"})
    trial.report(0.5, step=1)
    assert synced == []  # its creation and 22 records written without a sync
    study.tell(trial, 1.0)
    assert len(synced) == 1  # its end syncs the file, and every record before it
    study.enqueue_trial({"x0": 3})
    assert len(synced) == 2  # a trial enqueued (created waiting) is the user's: it syncs
    # every record is one of Optuna's own: its own backend reads the study back whole
    back = _plain(path).get_trials(deepcopy=False)[0]
    assert back.params == params and back.user_attrs == {"config": {"name": "net"}} and back.value == 1.0
    assert back.intermediate_values == {1: 0.5}


def test_held_records_are_written_in_one_append_in_their_order(tmp_path: Path) -> None:
    import threading

    from search.driver import _held

    path = tmp_path / "study.journal"
    study = optuna.create_study(storage=make_storage(str(path)), study_name="metablock")
    trial = study.ask()
    size = path.stat().st_size
    with _held(study):
        params = {f"x{i}": trial.suggest_int(f"x{i}", 0, 9) for i in range(10)}
        trial.set_user_attr("arch", {"depth": 3})
        assert path.stat().st_size == size  # held in memory
        other = threading.Thread(target=lambda: trial.set_user_attr("heartbeat", 1.5))
        other.start()
        other.join()
        assert path.stat().st_size > size  # another thread's record (the heartbeat) is written at once
        size = path.stat().st_size
        trial.set_user_attr("status", "x")
        assert path.stat().st_size == size
        study.set_user_attr("note", "n")  # a record that must be read back: the held ones go first
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["op_code"] for r in records[-13:]] == [5] * 10 + [8, 8, 2]  # params, attrs, study attr
        trial.set_user_attr("reason", "y")
    study.tell(trial, 2.0)
    back = _plain(path).get_trials(deepcopy=False)[0]
    assert back.params == params and back.value == 2.0
    assert back.user_attrs == {"arch": {"depth": 3}, "heartbeat": 1.5, "status": "x", "reason": "y"}


def test_a_lazy_end_is_synced_by_the_next_synced_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from search.driver import _lazy

    path = tmp_path / "study.journal"
    study = optuna.create_study(storage=make_storage(str(path)), study_name="metablock")
    synced = _fsyncs(monkeypatch)
    trial = study.ask()
    with _lazy(study):
        study.tell(trial, state=TrialState.PRUNED)
    assert synced == []
    assert _plain(path).get_trials(deepcopy=False)[0].state == TrialState.PRUNED  # written, not synced
    study.tell(study.ask(), 1.0)
    assert len(synced) == 1


def test_a_last_record_missing_only_its_newline_is_kept(tmp_path: Path) -> None:
    intact = _journal(tmp_path / "source.journal")
    path = tmp_path / "s.journal"
    path.write_bytes(intact[:-1])
    assert len(_trials(path)) == 4  # the record is complete: it is kept, its newline restored
    assert path.read_bytes() == intact and not _backups(path)


@pytest.mark.parametrize(
    "garbage",
    [b"garbage\n", b"\x00" * 300, b"\xff\xfe\xfa not utf-8\n", b'{"op_code": 5, "worker', b"{}\n[1, 2]\n"],
    ids=["text-line", "nul-tail", "invalid-utf8", "partial-json", "json-not-records"],
)
def test_garbage_appended_to_a_journal_is_cut_off_with_a_backup(
    garbage: bytes, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    intact = _journal(tmp_path / "source.journal")
    path = tmp_path / "s.journal"
    path.write_bytes(intact + garbage)
    assert len(_trials(path)) == 4
    assert path.read_bytes() == intact
    (backup,) = _backups(path)
    assert backup.read_bytes() == garbage
    assert capfd.readouterr().err.count("\n") == 1


def test_damage_between_readable_records_is_refused_in_one_line(tmp_path: Path) -> None:
    intact = _journal(tmp_path / "source.journal")
    lines = intact.split(b"\n")
    path = tmp_path / "s.journal"
    path.write_bytes(b"\n".join([*lines[:2], b"\x00\xffbroken", *lines[2:]]))
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"unreadable record at line 3 of .*keep lines 1-2 \(head -n 2\)"):
        make_storage(str(path))
    assert path.read_bytes() == before and not _backups(path)  # nothing is changed
    result = _cli("report", "--storage", str(path), "--out", str(tmp_path / "report"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "line 3" in result.stderr


def test_a_file_that_is_not_a_journal_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("trial,score\n0,1.5\n")
    with pytest.raises(ConfigError, match="is not an Optuna journal"):
        make_storage(str(path))
    assert path.read_text() == "trial,score\n0,1.5\n" and not _backups(path)


@pytest.mark.parametrize("special", ["/dev/full", "fifo"])
def test_special_files_are_refused_at_once(special: str, tmp_path: Path) -> None:
    if special == "fifo":
        special = str(tmp_path / "pipe")
        os.mkfifo(special)
    elif not Path(special).exists():
        pytest.skip(f"{special} does not exist here")
    start = time.monotonic()
    result = _cli("search", "--storage", special, "--trials", "1", "--out", str(tmp_path / "out"))
    assert time.monotonic() - start < 60
    assert result.returncode == 2 and "not a regular file" in result.stderr and result.stderr.count("\n") == 1


def test_repair_works_under_the_journal_lock_and_reports_the_backup(tmp_path: Path) -> None:
    intact = _journal(tmp_path / "source.journal")
    path = tmp_path / "s.journal"
    path.write_bytes(intact + b'{"op_code": 4, "tri')
    backup = repair_journal(path)
    assert backup is not None and backup.exists() and not Path(str(path) + ".lock").exists()
    assert repair_journal(path) is None  # intact now


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "metablock.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


# ------------------------------------------------------------------------------ paused and killed workers
def test_a_worker_paused_past_the_grace_period_drops_its_trial_and_carries_on(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.journal")
    marker = tmp_path / "paused"
    settings = _settings(storage, tmp_path, trials=3, score={**_fast(), "score": "pause"}, heartbeat_s=0.5, grace_s=2.0)
    proc = _worker(settings, env={"MB_PAUSE_FILE": str(marker), "MB_PAUSE_AFTER": "1"})
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(3.0)  # no heartbeat for longer than the grace period
        study = _load(storage)
        assert fail_stale(study, grace_s=2.0) == [1]  # another process declares the trial lost
        marker.unlink()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "trial 1 was declared lost while this worker was stopped" in err
    trials = _load(storage).get_trials(deepcopy=False)
    assert trials[1].state == TrialState.FAIL and "no heartbeat" in trials[1].user_attrs[LOST]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3


def test_a_killed_worker_process_ends_the_command_with_one_line(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.journal")
    marker = tmp_path / "blocked"
    settings = _settings(storage, tmp_path, trials=4, workers=2, score={**_fast(), "score": "block"})
    proc = _worker(settings, env={"MB_BLOCK_FILE": str(marker), "MB_BLOCK_AFTER": "0"})
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # the worker process that holds a trial
    marker.write_text("done")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1
    assert "StoppedError: 1 of 2 worker(s) stopped (killed by signal 9)" in err.strip().splitlines()[-1]


def test_the_cli_prints_a_stopped_run_as_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from metablock import cli

    def stop(args: Any) -> int:
        raise StoppedError("1 of 2 worker(s) stopped (killed by signal 9); run the same command again to resume")

    parser = cli.build_parser()
    args = parser.parse_args(["search"])
    args.func = stop
    monkeypatch.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": lambda self, argv: args})())
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert err == "metablock: 1 of 2 worker(s) stopped (killed by signal 9); run the same command again to resume\n"


def test_heartbeat_and_grace_are_cli_flags() -> None:
    from metablock import cli
    from search.cli import settings_from_args

    args = cli.build_parser().parse_args(["search", "--heartbeat", "2", "--grace", "30"])
    settings = settings_from_args(args)
    assert (settings.heartbeat_s, settings.grace_s) == (2.0, 30.0)
    with pytest.raises(ConfigError, match="grace_s must exceed two heartbeats"):
        settings_from_args(cli.build_parser().parse_args(["search", "--heartbeat", "20", "--grace", "30"]))


def test_trials_failed_by_the_rdb_heartbeat_carry_the_lost_reason(tmp_path: Path) -> None:
    storage = make_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_s=1, grace_s=2)
    study = optuna.create_study(storage=storage, study_name="metablock")
    trial = study.ask()
    storage.record_heartbeat(trial._trial_id)
    time.sleep(3.5)
    assert fail_stale(study, grace_s=1000.0) == [0]  # our own rule would wait: Optuna's applies
    (frozen,) = study.get_trials(deepcopy=False)
    assert frozen.state == TrialState.FAIL and "RDB heartbeat" in frozen.user_attrs[LOST]


def _fast() -> dict[str, Any]:
    from test_search import FAST

    return json.loads(json.dumps(FAST.to_dict()))


def test_the_journal_lists_unfinished_trials_like_optunas_own(tmp_path: Path) -> None:
    """Asking for waiting or running trials (every ask does) looks only at trials that were unfinished
    or new, and answers what Optuna's own journal storage answers at every step."""
    import random

    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "study.journal"
    study = optuna.create_study(storage=make_storage(str(path)), study_name="metablock")
    plain = JournalStorage(JournalFileBackend(str(path)))
    rng = random.Random(1)
    running: list[Any] = []
    for step in range(120):
        kind = rng.choice(["ask", "run", "enqueue", "end"])
        if kind == "enqueue":
            study.enqueue_trial({"x": rng.random()}, skip_if_exists=False)
        elif kind == "end" and running:
            study.tell(running.pop(rng.randrange(len(running))), 1.0)
        else:
            trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})  # runs enqueued ones first
            running.append(trial) if kind == "run" else study.tell(trial, 0.5)
        for states in [(TrialState.WAITING,), (TrialState.RUNNING,), (TrialState.RUNNING, TrialState.WAITING)]:
            ours = study._storage.get_all_trials(study._study_id, deepcopy=False, states=states)
            theirs = plain.get_all_trials(study._study_id, deepcopy=False, states=states)
            assert [t.number for t in ours] == [t.number for t in theirs], (step, states)
        view = study._storage.numbered(study._study_id)
        assert [view[n].number for n in range(len(view))] == [t.number for t in plain.get_all_trials(0, False)]
    scanned, still = study._storage._open[study._study_id]
    unfinished = [t.number for t in plain.get_all_trials(0, False) if not t.state.is_finished()]
    assert scanned == len(study.trials) and still == unfinished and still  # only these are looked at again
