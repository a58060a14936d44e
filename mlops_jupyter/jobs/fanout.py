"""Driving many jobs on an executor: progress, Ctrl-C, and honest final records.

Shared by sweeps, ``run --executor`` and tuning. The driver submits, shows a progress
bar (tqdm: a widget in a notebook, a bar on a terminal) that advances as jobs finish,
and turns SIGINT/SIGTERM into "cancel the rest": queued jobs never start, running ones
are stopped (each records itself KILLED), then :class:`Terminated` is raised.

After each task, :func:`settle` makes sure the job row tells the truth: a job whose
worker was lost is KILLED with reason ``WorkerLost``; a child that died without
finishing its row (SIGKILL, out of memory) leaves FAILED with its exit code and log tail.
Never RUNNING.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mlops_jupyter.jobs.executors import EXIT_ALREADY_STARTED, Executor, Task, TaskResult
from mlops_jupyter.jobs.runner import Terminated
from mlops_jupyter.store.sql.jobs import JOB_FAILED, JOB_KILLED, JOB_RUNNING

CANCEL_GRACE = 90.0  # seconds running jobs get to record themselves KILLED


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the driver (SIGINT already raises)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def settle(result: TaskResult) -> Any | None:
    """Fix the job row after its task ended; returns the job record (None: never started)."""
    from mlops_jupyter.errors import NotFoundError
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    jid = result.task.job_id
    try:
        rec = st.get_job(jid)
    except NotFoundError:
        return None
    lost = result.lost or (
        "Dask retried the job's task after its worker was lost" if result.returncode == EXIT_ALREADY_STARTED else None
    )
    if lost and (rec.status == JOB_RUNNING or rec.ended_by in ("signal", "reaper")) and not result.cancelled:
        return st.finish_job(jid, JOB_KILLED, ended_by="executor", error={
            "type": "WorkerLost",
            "message": f"the worker running this job was lost ({lost}); the job was not run again",
        })
    if rec.status == JOB_RUNNING:
        if result.cancelled:
            return st.finish_job(jid, JOB_KILLED, ended_by="signal",
                                 error={"type": "Cancelled", "message": "cancelled before it could finish"})
        return st.finish_job(jid, JOB_FAILED, ended_by="executor", error={
            "type": "ProcessDied",
            "message": f"the job process exited with code {result.returncode} without recording "
                       f"its end: {result.log_tail[-600:]}",
        })
    return rec


def _bar(total: int, progress: bool, desc: str) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="job", file=sys.stderr, leave=True)


def drive(
    executor: Executor,
    tasks: Sequence[Task],
    *,
    progress: bool = True,
    desc: str = "jobs",
    on_result: Callable[[TaskResult, Any], None] | None = None,
) -> list[tuple[TaskResult, Any]]:
    """Run every task; returns (result, settled job record) in finishing order.

    On Ctrl-C / SIGTERM: cancel everything, wait for running jobs to record themselves
    (at most ``CANCEL_GRACE`` s), settle them, then raise :class:`Terminated` or
    :class:`KeyboardInterrupt`."""
    done: list[tuple[TaskResult, Any]] = []
    bar = _bar(len(tasks), progress, desc)

    def collect(results: list[TaskResult]) -> None:
        for r in results:
            rec = settle(r)
            done.append((r, rec))
            if bar is not None:
                state = "cancelled" if r.cancelled else (rec.status if rec is not None else "not started")
                bar.set_postfix_str(f"{r.task.label or r.task.job_id[:8]}: {state}", refresh=False)
                bar.update(1)
            if on_result is not None:
                on_result(r, rec)

    try:
        with signals_raise():
            try:
                for t in tasks:
                    executor.submit(t)
                while len(done) < len(tasks):
                    collect(executor.poll(0.3))
            except (Terminated, KeyboardInterrupt):
                executor.cancel_all()
                end = time.monotonic() + CANCEL_GRACE
                while executor.running() and time.monotonic() < end:
                    try:
                        collect(executor.poll(0.5))
                    except (Terminated, KeyboardInterrupt):
                        continue  # a second Ctrl-C: keep stopping cleanly
                raise
    finally:
        if bar is not None:
            bar.close()
    return done


def child_argv(prep: Any, job_id: str, parent_id: str | None, experiment: str | None) -> list[str]:
    """``mlops run`` arguments that execute a prepared job as ``job_id`` in a child."""
    argv = ["run", prep.template, "--no-progress", "--job-id", job_id, "--kernel", prep.kernel,
            "--params-json", json.dumps(prep.values)]
    if parent_id:
        argv += ["--parent-job", parent_id]
    for g in prep.gates:
        argv += ["--gate", g.expr]
    if prep.timeout is not None:
        argv += ["--timeout", repr(prep.timeout)]
    if experiment:
        argv += ["--experiment", experiment]
    return argv


def make_task(prep: Any, job_id: str, parent_id: str | None, experiment: str | None,
              extra_env: dict[str, str] | None = None, label: str = "") -> Any:
    """One job as a task any executor can run (child argv, or the prepared job itself)."""
    from mlops_jupyter.jobs import executors
    from mlops_jupyter.jobs.api import ENV_JOB_ID

    extra = dict(extra_env or {})
    env = executors.store_env({ENV_JOB_ID: "", **extra})
    return executors.Task(job_id, child_argv(prep, job_id, parent_id, experiment), env,
                          label=label or " ".join(f"{k}={v!r}" for k, v in prep.values.items())[:60],
                          prep=prep, parent_id=parent_id, experiment=experiment, extra_env=extra)


def run_one(
    prep: Any, executor: Any, *, experiment: str | None = None, progress: bool = True,
    parent_id: str | None = None,
) -> Any:
    """One prepared job on an executor (``mlops run --executor dask``); returns the Job."""
    import os

    from mlops_jupyter.jobs import executors
    from mlops_jupyter.jobs.api import ENV_JOB_ID
    from mlops_jupyter.jobs.job import Job
    from mlops_jupyter.store import current_config
    from mlops_jupyter.tracking.session import get_store

    ex = executors.get(executor, 1)
    try:
        ex.check_store(current_config())
        jid = uuid.uuid4().hex
        parent_id = parent_id or os.environ.get(ENV_JOB_ID) or None
        task = make_task(prep, jid, parent_id, experiment, label=prep.name)
        [(res, rec)] = drive(ex, [task], progress=progress, desc=f"job {prep.name}")
    finally:
        if ex is not executor:
            ex.close()
    if rec is None:
        from mlops_jupyter.errors import JobError

        raise JobError(f"the job did not start on {ex.describe()}: {res.lost or res.log_tail[-600:]}")
    return Job(get_store().get_job(jid))
