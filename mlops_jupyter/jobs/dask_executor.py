"""The ``dask`` executor: each job a process started by a task on a Dask worker.

``dask`` alone starts a ``LocalCluster`` (one single-threaded worker process per slot,
loopback only, no dashboard port); ``dask:ADDRESS`` joins the user's scheduler. A task
never runs papermill in the worker's own process: it starts ``mlops run`` as a child
(its own kernel, its own signal handling), forked from the worker's job server
(``jobs.forkserver``, started when the executor connects, so a job does not pay
papermill's and the store's imports), and waits for it, checking every half second
whether the driver asked it to stop (a ``distributed.Event`` per job). Tasks are never
retried by us; when Dask retries one after a lost worker the child refuses to run the
job twice and the driver records why.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import subprocess
import tempfile
from typing import Any

from mlops_jupyter.errors import UsageError
from mlops_jupyter.jobs.executors import (
    Executor,
    Task,
    TaskResult,
    _stop,
    _tail,
    forkserver_enabled,
    start_child,
)

POLL = 0.5
CLOSE_TIMEOUT = 30


def _event_name(job_id: str) -> str:
    return f"mlops-stop-{job_id}"


def run_on_worker(task: Task) -> dict[str, Any]:
    """Runs on a Dask worker: the job's ``mlops run`` process, stoppable by its event."""
    from distributed import Event, get_worker

    try:
        where = get_worker().address
    except ValueError:
        where = socket.gethostname()
    event = Event(_event_name(task.job_id))
    if event.is_set():
        return {"returncode": None, "cancelled": True, "tail": "", "where": where}
    fd, log = tempfile.mkstemp(prefix="mlops-job-", suffix=".log")
    os.close(fd)
    cancelled = False
    try:
        proc = start_child(task.argv, task.env, log, watch_parent=True)
        while True:
            try:
                proc.wait(POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            try:
                stop = event.is_set()
            except Exception:  # noqa: BLE001 - scheduler briefly unreachable: keep running
                stop = False
            if stop:
                cancelled = True
                _stop(proc)
                break
        return {"returncode": proc.returncode, "cancelled": cancelled, "tail": _tail(log), "where": where}
    finally:
        try:
            os.unlink(log)
        except OSError:
            pass


def _local_hostnames() -> set[str]:
    names = {socket.gethostname(), "localhost", "127.0.0.1", "::1"}
    try:
        names.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return names


class DaskExecutor(Executor):
    """Jobs on a Dask cluster (a new LocalCluster, or the one at ``address``)."""

    def __init__(self, address: str | None = None, parallel: int = 2) -> None:
        super().__init__(name="dask")
        try:
            import distributed
        except ImportError:
            raise UsageError(
                "the dask executor needs dask.distributed: pip install 'mlops-jupyter[dask]'"
            ) from None
        self.address = address
        self._cluster = None
        warm = forkserver_enabled()
        if address is None:
            self._cluster = distributed.LocalCluster(
                n_workers=parallel, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.ERROR,
                # each worker starts its job server as it starts (forkserver.dask_setup)
                preload=["mlops_jupyter.jobs.forkserver"] if warm else [],
            )
            self.client = distributed.Client(self._cluster, set_as_default=False)
        else:
            try:
                self.client = distributed.Client(address, timeout=15, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as e:
                raise UsageError(f"cannot reach the Dask scheduler at {address!r}: {e}") from None
            if warm:
                from mlops_jupyter.jobs import forkserver

                # each worker's job server imports while the driver prepares the jobs
                self.client.run(forkserver.warm)
        info = self.client.scheduler_info()
        self.slots = max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
        self._futures: dict[str, tuple[Task, Any]] = {}

    def describe(self) -> str:
        where = self.address or "a LocalCluster"
        return f"dask on {where} ({self.slots} worker threads)"

    def worker_hosts(self) -> set[str]:
        try:
            return set(self.client.run(socket.gethostname).values())
        except Exception:  # noqa: BLE001 - no workers yet: judged by their addresses
            return {w.get("host", "") for w in self.client.scheduler_info().get("workers", {}).values()}

    def check_store(self, config: Any) -> None:
        if self._cluster is not None:
            return
        remote = sorted(self.worker_hosts() - _local_hostnames())
        if not remote:
            return
        local_db = str(config.db_url).startswith("sqlite")
        local_art = "://" not in str(config.artifacts_url) or str(config.artifacts_url).startswith("file://")
        if local_db or local_art:
            what = "a local SQLite file" if local_db else "a local artifact folder"
            raise UsageError(
                f"the store is {what}, but Dask workers run on other machines "
                f"({', '.join(remote[:5])}); they cannot write to it. Point MLOPS_DB_URL at "
                "PostgreSQL and MLOPS_ARTIFACTS_URL at object storage (s3://bucket/prefix) "
                "first; see docs/scale.md"
            )

    def submit(self, task: Task) -> None:
        # the worker needs the command line only: the prepared notebook would make it
        # import nbformat (and its jsonschema) just to unpickle it
        remote = dataclasses.replace(task, prep=None)
        fut = self.client.submit(run_on_worker, remote, key=f"mlops-job-{task.job_id}",
                                 pure=False, retries=0)
        self._futures[task.job_id] = (task, fut)

    def running(self) -> int:
        return len(self._futures)

    def poll(self, timeout: float = 0.2) -> list[TaskResult]:
        from distributed.client import _wait

        out = list(self._results)
        self._results.clear()
        futs = [f for _, f in self._futures.values()]
        if futs and not out:
            try:
                # the client is not the process default (a user's own client stays so)
                self.client.sync(_wait, futs, timeout=timeout, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
        for jid, (task, fut) in list(self._futures.items()):
            if not fut.done():
                continue
            del self._futures[jid]
            out.append(self._result(task, fut))
        return out

    def _result(self, task: Task, fut: Any) -> TaskResult:
        if fut.cancelled():
            return TaskResult(task, None, cancelled=True)
        try:
            res = fut.result()
        except Exception as e:  # noqa: BLE001 - KilledWorker, a lost scheduler, ...
            return TaskResult(task, None, lost=f"{type(e).__name__}: {str(e)[:300]}")
        return TaskResult(task, res["returncode"], res["tail"], cancelled=res["cancelled"],
                          where=res["where"])

    def cancel(self, job_id: str) -> None:
        from distributed import Event

        try:
            Event(_event_name(job_id), client=self.client).set()
        except Exception:  # noqa: BLE001 - the cluster is going away: cancel the future
            entry = self._futures.get(job_id)
            if entry is not None:
                entry[1].cancel()

    def cancel_all(self) -> None:
        for jid in list(self._futures):
            self.cancel(jid)

    def close(self) -> None:
        """Best effort: every job has been settled by now, and a cluster that lost a
        worker may take longer to shut down than its timeout (a busy machine)."""
        for _, fut in self._futures.values():
            fut.cancel()
        self._futures.clear()
        for closer in (self.client.close, getattr(self._cluster, "close", None)):
            if closer is None:
                continue
            try:
                closer(timeout=CLOSE_TIMEOUT)
            except Exception:  # noqa: BLE001 - TimeoutError, a comm already gone
                continue
