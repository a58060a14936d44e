"""Hardening: buffered points reach the store while logging continues (background
flusher), on SIGTERM and SIGHUP, and zombie kernels count as dead."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import mlops_jupyter as mj
from mlops_jupyter import _proc


def _script(home: Path, body: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MLOPS_HOME": str(home)}
    for var in ("MLOPS_DB_URL", "MLOPS_ARTIFACTS_URL"):
        env.pop(var, None)
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(body)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=home.parent,
    )


def _points(home: Path) -> int:
    with sqlite3.connect(home / "mlops.db") as c:
        return sum(n for (n,) in c.execute("SELECT count FROM metric_summary"))


def test_slow_logging_is_flushed_in_the_background(mlops_home: Path) -> None:
    """One point per 'epoch': the store sees it within seconds, not at the end."""
    with mj.start_run() as run:
        run.log_metric("loss", 1.0)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and run.pending:
            time.sleep(0.1)
        assert run.pending == 0
        assert [p.value for p in mj.metric_history(run.id)] == [1.0]


def test_kill_9_keeps_nearly_all_points(mlops_home: Path) -> None:
    """1,000 points/s for 12 s, then SIGKILL: at most about a flush interval is lost."""
    proc = _script(mlops_home, """
        import sys, time
        import mlops_jupyter as mj
        run = mj.start_run(name="kill9")
        print("started", flush=True)
        t0 = time.monotonic(); i = 0
        while True:
            target = int((time.monotonic() - t0) * 1000)
            while i < target:
                run.log_metric("x", float(i)); i += 1
            time.sleep(0.005)
    """)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    time.sleep(12)
    proc.kill()
    proc.wait()
    kept = _points(mlops_home)
    assert kept >= 10_000, f"only {kept} of ~12,000 points survived kill -9"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_flush_buffered_points(mlops_home: Path, sig: int) -> None:
    proc = _script(mlops_home, """
        import time
        from mlops_jupyter.tracking import flusher
        flusher.INTERVAL = 3600  # only the signal can save these points
        import mlops_jupyter as mj
        run = mj.start_run(name="sig")
        for i in range(5000):
            run.log_metric("x", float(i))
        print(run.id, flush=True)
        time.sleep(60)
    """)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == -sig  # still dies of the signal
    assert _points(mlops_home) == 5000
    r = mj.get_run(run_id)
    assert r.status == "KILLED"


def test_zombie_process_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = _proc.start_time(child.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # exited, not reaped: a zombie
        fields = _proc._stat_fields(child.pid)
        if fields and fields[0] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail("child did not become a zombie")
    os.kill(child.pid, 0)  # what fooled the old check
    assert not _proc.is_alive(child.pid, started)
    child.wait()


def test_stale_run_of_zombie_kernel_is_reaped(mlops_home: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while (_proc._stat_fields(child.pid) or ["?"])[0] != "Z":
        time.sleep(0.05)
    mj.init()
    st = mj.tracking.session.get_store() if hasattr(mj, "tracking") else None
    from mlops_jupyter.tracking import session

    st = session.get_store()
    exp = st.get_or_create_experiment("default")
    run = st.create_run(experiment_id=exp.id, name="zombie", host=_proc.hostname(),
                        pid=child.pid, pid_start=_proc.start_time(child.pid))
    assert st.reap_stale_runs(force=True) == 1
    assert st.get_run(run.id).status == "KILLED"
    child.wait()


def test_kernel_flushes_on_sigterm(mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real IPython kernel holding buffered points is sent SIGTERM: they are stored."""
    import json

    from jupyter_client.manager import start_new_kernel

    spec = tmp_path / "jp" / "kernels" / "mlops-harden"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "harden", "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jp"))
    km, kc = start_new_kernel(kernel_name="mlops-harden", cwd=str(mlops_home.parent),
                              env={**os.environ, "MLOPS_HOME": str(mlops_home)})
    try:
        code = textwrap.dedent("""
            from mlops_jupyter.tracking import flusher
            flusher.INTERVAL = 3600
            import mlops_jupyter as mj
            run = mj.start_run(name="kernel")
            for i in range(3000):
                run.log_metric("x", float(i))
            print(run.id, run.pending)
        """)
        outs: list[dict] = []
        reply = kc.execute_interactive(code, timeout=60, output_hook=lambda m: outs.append(m))
        assert reply["content"]["status"] == "ok"
        text = "".join(m["content"].get("text", "") for m in outs if m["msg_type"] == "stream")
        run_id, pending = text.split()
        assert pending == "3000"
        pid = km.provisioner.pid if km.provisioner else km.kernel.pid
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert _points(mlops_home) == 3000
    assert mj.get_run(run_id).status == "KILLED"



def _in_forked_child(run: Any, log: Any) -> None:
    """Fork; the child calls ``log`` and waits (at most 8 s) until its background flusher
    has written everything, without ending the run; the parent checks it did."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            log()
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline and run.pending:
                time.sleep(0.05)
            code = 0 if run.pending == 0 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_still_flushes_in_the_background(mlops_home: Path) -> None:
    """The flusher thread does not survive a fork: the child's next logging call starts
    its own, so the child's points are written while it keeps running."""
    with mj.start_run() as run:
        run.log_metric("parent", 1.0)
        run.flush()
        # the child: log, then wait for the background flush (no run.end)
        _in_forked_child(run, lambda: [run.log_metric("child", float(i)) for i in range(5)])
        hist = mj.metric_history(run.id, ["child"])
        assert [p.value for p in hist] == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_does_not_write_the_parents_buffered_points(mlops_home: Path) -> None:
    """Failed before (review): the child's flusher wrote the points the parent had
    buffered before the fork, and the parent wrote them too: every one twice."""
    with mj.start_run() as run:
        for i in range(5):
            run.log_metric("m", float(i))  # buffered, not flushed
        # the child's own "m" point comes after the parent's steps
        _in_forked_child(run, lambda: (run.log_metric("child", 1.0), run.log_metric("m", 99.0)))
    hist = mj.metric_history(run.id, ["m"])
    assert sorted((p.step, p.value) for p in hist) == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0),
                                                       (4, 4.0), (5, 99.0)]
    assert [p.value for p in mj.metric_history(run.id, ["child"])] == [1.0]


def test_a_fast_loop_is_written_while_it_runs(mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many points waiting are written within a fraction of a second, before the tick."""
    from mlops_jupyter.tracking import flusher

    monkeypatch.setattr(flusher, "INTERVAL", 3600.0)  # no tick during the test
    monkeypatch.setattr(flusher, "EARLY_POINTS", 1000)
    with mj.start_run() as run:
        for i in range(5000):
            run.log_metric("x", float(i))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and run.pending >= 1000:
            time.sleep(0.02)
        assert run.pending < 1000
