"""The job fork server: a forked ``mlops run`` is the same job as a started one, and the
server's lifetime follows its caller (closed: after its children; dead: at once)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbmaker import template

pytestmark = pytest.mark.skipif(os.name != "posix", reason="fork")


def make_nb(path: Path, body: str) -> Path:
    return template(path, "alpha = 0.5\nsleep = 0.0", body)


BODY = """
import time
import mlops_jupyter as mj
with mj.start_run(name="f", params={"alpha": alpha}):
    time.sleep(sleep)
    mj.log_metric("auc", alpha)
"""


def test_forked_job_runs_records_and_reports_exit_codes(mlops_home, tmp_path):
    from mlops_jupyter.jobs import forkserver
    from mlops_jupyter.tracking.session import get_store

    nb = make_nb(tmp_path / "f.ipynb", BODY)
    srv = forkserver.ForkServer()
    try:
        log = str(tmp_path / "a.log")
        child = srv.spawn(["run", str(nb), "-p", "alpha=0.25", "--no-progress"], dict(os.environ), log)
        assert child is not None and child.pid != srv.pid
        assert child.wait(120) == 0
        out = Path(log).read_text()
        assert "FINISHED" in out and "auc=0.25" in out  # its stdout went to the log
        (job,) = get_store().list_jobs()
        assert job.status == "FINISHED" and job.pid == child.pid
        bad = srv.spawn(["run", str(nb), "-p", "alpha=fast", "--no-progress"], dict(os.environ),
                        str(tmp_path / "b.log"))
        assert bad is not None and bad.wait(60) == 2  # usage error: exit 2, as `mlops run`
        assert "alpha" in (tmp_path / "b.log").read_text()
    finally:
        srv.close()
    assert srv._proc.wait(10) == 0


def test_sigterm_to_a_forked_job_records_killed(mlops_home, tmp_path):
    from mlops_jupyter.jobs import forkserver
    from mlops_jupyter.tracking.session import get_store

    nb = make_nb(tmp_path / "f.ipynb", BODY)
    srv = forkserver.ForkServer()
    try:
        child = srv.spawn(["run", str(nb), "-p", "sleep=60", "--no-progress"], dict(os.environ),
                          str(tmp_path / "k.log"))
        assert child is not None
        st = get_store()
        end = time.monotonic() + 90
        while time.monotonic() < end and not [j for j in st.list_jobs(status="RUNNING") if j.cells_done]:
            time.sleep(0.2)
        child.send_signal(signal.SIGTERM)
        assert child.wait(60) == 128 + signal.SIGTERM
        (job,) = st.list_jobs()
        assert job.status == "KILLED"
    finally:
        srv.close()


def test_server_whose_caller_dies_exits_and_its_watching_job_stops(mlops_home, tmp_path):
    """A caller (standing in for a Dask worker) forks a job through its server, then is
    SIGKILLed: the server exits at once and the job records itself KILLED."""
    from mlops_jupyter.tracking.session import get_store

    nb = make_nb(tmp_path / "f.ipynb", BODY)
    script = f"""
import os, sys, time
from mlops_jupyter.jobs import forkserver
srv = forkserver.server()
child = srv.spawn(["run", {str(nb)!r}, "-p", "sleep=60", "--no-progress", "--watch-parent", str(srv.pid)],
                  dict(os.environ), {str(tmp_path / "w.log")!r})
print(srv.pid, child.pid, flush=True)
time.sleep(600)
"""
    caller = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    server_pid, job_pid = map(int, caller.stdout.readline().split())
    st = get_store()
    end = time.monotonic() + 90
    while time.monotonic() < end and not [j for j in st.list_jobs(status="RUNNING") if j.cells_done]:
        time.sleep(0.2)
    caller.kill()
    caller.wait()
    end = time.monotonic() + 60
    while time.monotonic() < end and (_alive(server_pid) or _alive(job_pid)):
        time.sleep(0.2)
    assert not _alive(server_pid) and not _alive(job_pid)
    (job,) = st.list_jobs()
    assert job.status == "KILLED" and "worker process" in job.error["message"], job.error


def _alive(pid: int) -> bool:
    from mlops_jupyter._proc import is_alive

    return is_alive(pid, None)


SERVER_AND_FORKED_HELPER = """
import os, sys, time
from mlops_jupyter.jobs import forkserver
srv = forkserver.server()
srv._ready.wait(120)
helper = os.fork()  # holds the server's stdin pipe open, as multiprocessing's fork would
if helper == 0:
    time.sleep(30)
    os._exit(0)
print(srv.pid, helper, flush=True)
if sys.argv[1] == "shutdown":
    t = time.monotonic()
    forkserver.shutdown()
    print(round(time.monotonic() - t, 2), srv._proc.poll() is not None, flush=True)
    os.kill(helper, 9)
else:
    time.sleep(600)
"""


@pytest.mark.parametrize("how", ["shutdown", "caller_killed"])
def test_server_follows_its_caller_even_when_a_forked_process_holds_its_pipe(how):
    """Failed before: the server noticed neither a close nor its caller's death while a
    process forked by the caller kept the pipe open (shutdown waited 5 s and returned
    with the server alive; a killed caller left it running under init)."""
    caller = subprocess.Popen([sys.executable, "-c", SERVER_AND_FORKED_HELPER, how],
                              stdout=subprocess.PIPE, text=True)
    server_pid, helper_pid = map(int, caller.stdout.readline().split())
    try:
        if how == "shutdown":
            took, exited = caller.stdout.readline().split()
            assert exited == "True" and float(took) < 4, (took, exited)
        else:
            caller.kill()
            end = time.monotonic() + 15
            while time.monotonic() < end and _alive(server_pid):
                time.sleep(0.2)
            assert not _alive(server_pid)
    finally:
        caller.kill()
        caller.wait()
        for pid in (server_pid, helper_pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_server_not_ready_in_time_is_asked_nothing_and_stopped(monkeypatch, tmp_path):
    """Failed before: the request was written anyway, so once its imports were done the
    server forked the job beside the caller's fallback process (the job ran twice)."""
    from mlops_jupyter.jobs import forkserver

    monkeypatch.setattr(forkserver, "START_TIMEOUT", 0.0)
    srv = forkserver.ForkServer()
    try:
        assert srv.spawn(["--version"], dict(os.environ), str(tmp_path / "x.log")) is None
        assert srv._proc.wait(10) is not None  # stopped: it can never fork that job later
        assert not (tmp_path / "x.log").exists()
    finally:
        srv._abandon()
