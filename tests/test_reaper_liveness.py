"""The reaper marks a run KILLED only when its process is really gone.

A run on this host is judged by its process (pid plus the process start time, so a
reused pid is not mistaken for the owner), never by its heartbeat alone: a long
computation whose heartbeat thread was starved must stay RUNNING under a forced reap.
Before these tests, breaking the liveness check (reaping every same-host run) passed
every test, because the reaper tests covered only dead processes and foreign hosts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlops_jupyter as mj
from mlops_jupyter import _proc
from mlops_jupyter.store import schema

LONG_AGO = 1_000_000.0  # a heartbeat this old is stale by any rule


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """Another live process on this host (a run's owner that is not us)."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield p
    p.kill()
    p.wait(timeout=30)


def _starve_heartbeats(st) -> None:  # type: ignore[no-untyped-def]
    st.db.write(lambda c: c.execute(schema.runs.update().values(heartbeat_at=LONG_AGO)))


def _run_for(st, pid: int, pid_start: str | None, name: str) -> str:  # type: ignore[no-untyped-def]
    exp = st.get_or_create_experiment("reaper")
    return st.create_run(
        experiment_id=exp.id, name=name, host=_proc.hostname(), pid=pid, pid_start=pid_start,
    ).id


def test_live_run_in_this_process_stays_running(backend: str, mlops_home: Path) -> None:
    with mj.start_run("long-fit") as run:
        st = mj.get_store()
        _starve_heartbeats(st)  # the kernel was busy: no beat for a long time
        assert st.reap_stale_runs(force=True) == 0
        assert st.get_run(run.id).status == "RUNNING"
        listed = mj.runs()
        assert listed.loc[listed.run_id == run.id, "status"].tolist() == ["RUNNING"]
    assert mj.get_store().get_run(run.id).status == "FINISHED"


def test_live_run_of_another_process_stays_running(
    backend: str, mlops_home: Path, sleeper: subprocess.Popen[bytes],
) -> None:
    st = mj.get_store()
    run_id = _run_for(st, sleeper.pid, _proc.start_time(sleeper.pid), "other-process")
    _starve_heartbeats(st)
    assert st.reap_stale_runs(force=True) == 0
    assert st.get_run(run_id).status == "RUNNING"


def test_reused_pid_is_not_the_owner(backend: str, mlops_home: Path, sleeper: subprocess.Popen[bytes]) -> None:
    """The pid is alive, but it belongs to a process started after the run's owner."""
    st = mj.get_store()
    started = _proc.start_time(sleeper.pid)
    assert started is not None, "this platform has no /proc start times"
    reused = _run_for(st, sleeper.pid, str(int(started) - 1), "pid-reused")
    owner = _run_for(st, sleeper.pid, started, "pid-owner")
    assert st.reap_stale_runs(force=True) == 1
    assert st.get_run(reused).status == "KILLED" and st.get_run(reused).ended_by == "reaper"
    assert st.get_run(owner).status == "RUNNING"


def test_dead_pid_is_reaped_even_with_a_fresh_heartbeat(backend: str, mlops_home: Path) -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    started = _proc.start_time(p.pid)
    p.wait(timeout=30)
    st = mj.get_store()
    run_id = _run_for(st, p.pid, started, "gone")
    st.heartbeat([run_id], time.time())
    assert st.reap_stale_runs(force=True) == 1
    assert st.get_run(run_id).status == "KILLED"


def test_is_alive_distinguishes_owner_reuse_and_death(sleeper: subprocess.Popen[bytes]) -> None:
    started = _proc.start_time(sleeper.pid)
    assert _proc.is_alive(os.getpid(), _proc.start_time(os.getpid()))
    assert _proc.is_alive(sleeper.pid, started)
    assert _proc.is_alive(sleeper.pid, None)  # no start time recorded: the pid decides
    assert not _proc.is_alive(sleeper.pid, "0")
    sleeper.kill()
    sleeper.wait(timeout=30)
    assert not _proc.is_alive(sleeper.pid, started)
