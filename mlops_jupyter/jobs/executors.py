"""Job executors: where the jobs of a sweep, a tune or a single ``run`` execute.

One registry, like papermill's engines: ``local`` (processes on this machine) and
``dask`` (a ``dask.distributed`` cluster; ``dask`` alone starts a ``LocalCluster``,
``dask:tcp://host:8786`` joins the user's). Third-party executors register under the
``mlops_jupyter.executors`` entry-point group, loaded lazily and guarded.

Every executor runs a job the same way: ``python -m mlops_jupyter run … --job-id ID``
in a fresh process (its own papermill, its own kernel on an IPC socket, so parallel
launches cannot race for TCP ports), writing to the shared store. The process is forked
from a warm server that imported papermill, nbformat and the store once
(``jobs.forkserver``; ``MLOPS_JOB_FORKSERVER=0`` starts each one from scratch). The driver only
submits, polls and cancels; the child records its own job row. What the driver adds:

- a child whose parent process (a Dask worker) dies stops itself and records KILLED; a
  task retried by Dask after a lost worker refuses to run the job twice (exit
  ``EXIT_ALREADY_STARTED``) and the driver records the reason ``WorkerLost``;
- cancelling (Ctrl-C, a pruned trial) asks the worker-side wrapper to SIGTERM the child,
  which records KILLED and kills its kernel.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_jupyter.errors import UsageError

EXIT_ALREADY_STARTED = 3  # `mlops run --job-id X` when X exists: a retry after a lost worker
ENV_FORKSERVER = "MLOPS_JOB_FORKSERVER"  # "0": every job process imports everything itself
ENTRY_POINT_GROUP = "mlops_jupyter.executors"
LOG_TAIL = 1500


@dataclass
class Task:
    """One job to execute: the arguments after ``python -m mlops_jupyter``."""

    job_id: str
    argv: list[str]
    env: dict[str, str]
    label: str = ""
    # the same job for in-process execution (the local executor's threads)
    prep: Any = None
    parent_id: str | None = None
    experiment: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskResult:
    """How a task ended, as the executor saw it (the job row says the rest)."""

    task: Task
    returncode: int | None
    log_tail: str = ""
    lost: str | None = None  # why the job could not finish on its worker
    cancelled: bool = False
    where: str = ""


@dataclass
class Executor:
    """Base class: ``submit`` tasks, ``poll`` for finished ones, ``cancel`` one or all."""

    name: str = "base"
    slots: int = 1
    _results: list[TaskResult] = field(default_factory=list)

    def check_store(self, config: Any) -> None:  # noqa: B027 - optional hook
        """Refuse a store the workers cannot reach (before anything is recorded)."""

    def submit(self, task: Task) -> None:
        raise NotImplementedError

    def poll(self, timeout: float = 0.2) -> list[TaskResult]:
        raise NotImplementedError

    def running(self) -> int:
        raise NotImplementedError

    def cancel(self, job_id: str) -> None:
        raise NotImplementedError

    def cancel_all(self) -> None:
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def describe(self) -> str:
        return self.name

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- the child process ------------------------------------------------------------------
def child_command(argv: list[str], watch_parent: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "mlops_jupyter", *argv]
    if watch_parent is not None:
        cmd += ["--watch-parent", str(watch_parent)]
    return cmd


def forkserver_enabled() -> bool:
    return os.environ.get(ENV_FORKSERVER, "1").strip().lower() not in ("0", "false", "no", "off")


def start_child(argv: list[str], env: Mapping[str, str], log: str, *, watch_parent: bool = False) -> Any:
    """``python -m mlops_jupyter ARGV`` as a new process writing to ``log``: forked from
    this process's warm server (``jobs.forkserver``: the imports are paid once, not per
    job), else started the usual way (``MLOPS_JOB_FORKSERVER=0``, or a server that cannot
    fork). With ``watch_parent`` the job stops itself when its parent goes (the server,
    which goes with this process). Returns a Popen-like object."""
    full = {**os.environ, **env}
    if forkserver_enabled():
        from mlops_jupyter.jobs import forkserver

        srv = forkserver.server()
        child = srv.spawn([*argv, *(["--watch-parent", str(srv.pid)] if watch_parent else [])], full, log)
        if child is not None:
            return child
    with open(log, "ab") as out:
        return subprocess.Popen(child_command(argv, watch_parent=os.getpid() if watch_parent else None),
                                stdout=out, stderr=subprocess.STDOUT, env=full)


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_TAIL))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _stop(proc: Any, grace: float = 60.0) -> None:
    """SIGTERM (the child records KILLED and kills its kernel), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


# -- local --------------------------------------------------------------------------------
class LocalExecutor(Executor):
    """Jobs as processes on this machine, ``parallel`` at a time."""

    def __init__(self, parallel: int = 2) -> None:
        super().__init__(name="local", slots=parallel)
        self._pending: list[Task] = []
        self._procs: dict[str, tuple[Task, Any, str]] = {}
        self._cancelled: set[str] = set()
        self._logdir = tempfile.mkdtemp(prefix="mlops-jobs-")

    def describe(self) -> str:
        return f"local ({self.slots} at a time)"

    def submit(self, task: Task) -> None:
        self._pending.append(task)
        self._start_pending()

    def _start_pending(self) -> None:
        while self._pending and len(self._procs) < self.slots:
            task = self._pending.pop(0)
            log = os.path.join(self._logdir, f"{task.job_id}.log")
            proc = start_child(task.argv, task.env, log)
            self._procs[task.job_id] = (task, proc, log)

    def running(self) -> int:
        return len(self._procs) + len(self._pending)

    def poll(self, timeout: float = 0.2) -> list[TaskResult]:
        end = time.monotonic() + timeout
        while True:
            out = list(self._results)
            self._results.clear()
            for jid, (task, proc, log) in list(self._procs.items()):
                if proc.poll() is None:
                    continue
                del self._procs[jid]
                out.append(TaskResult(task, proc.returncode, _tail(log), cancelled=jid in self._cancelled,
                                      where=socket.gethostname()))
            self._start_pending()
            if out or time.monotonic() >= end or not self._procs:
                return out
            time.sleep(0.05)

    def cancel(self, job_id: str) -> None:
        self._cancelled.add(job_id)
        for i, t in enumerate(self._pending):
            if t.job_id == job_id:
                del self._pending[i]
                self._results.append(TaskResult(t, None, cancelled=True))
                return
        entry = self._procs.get(job_id)
        if entry is not None and entry[1].poll() is None:
            entry[1].send_signal(signal.SIGTERM)

    def cancel_all(self) -> None:
        for t in self._pending:
            self._cancelled.add(t.job_id)
            self._results.append(TaskResult(t, None, cancelled=True))
        self._pending.clear()
        for jid, (_, proc, _) in self._procs.items():
            self._cancelled.add(jid)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def close(self) -> None:
        for _, proc, _ in self._procs.values():
            _stop(proc, grace=30)
        if forkserver_enabled():
            from mlops_jupyter.jobs import forkserver

            forkserver.shutdown()  # no process of ours outlives the sweep
        import shutil

        shutil.rmtree(self._logdir, ignore_errors=True)


class ThreadExecutor(Executor):
    """Jobs run by papermill from threads of this process, ``parallel`` at a time.

    Each job still gets its own kernel process (on IPC sockets, so parallel launches do
    not race for ports); only the papermill client runs here, which saves starting a
    Python process per job (about a second): what keeps a tuning trial's overhead
    within 10% of bare Optuna + papermill. Cancelling kills the job's kernel and records
    it KILLED (``runner.cancel``)."""

    def __init__(self, parallel: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        super().__init__(name="local", slots=parallel)
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="mlops-job")
        self._futures: dict[str, tuple[Task, Any]] = {}
        self._cancelled: set[str] = set()

    def describe(self) -> str:
        return f"local ({self.slots} at a time, in process)"

    def submit(self, task: Task) -> None:
        if task.prep is None:
            raise UsageError("the in-process executor needs a prepared job")
        self._futures[task.job_id] = (task, self._pool.submit(self._run, task))

    def _run(self, task: Task) -> int:
        from mlops_jupyter.jobs import api

        if task.job_id in self._cancelled:
            return -1
        try:
            job = api.execute(task.prep, progress=False, experiment=task.experiment,
                              parent_id=task.parent_id, job_id=task.job_id,
                              extra_env=task.extra_env)
        except BaseException:  # noqa: BLE001 - Terminated / KeyboardInterrupt after recording
            return -1
        return 0 if job.ok else 1

    def running(self) -> int:
        return len(self._futures)

    def poll(self, timeout: float = 0.2) -> list[TaskResult]:
        from concurrent.futures import FIRST_COMPLETED, wait

        out: list[TaskResult] = []
        if self._futures:
            wait([f for _, f in self._futures.values()], timeout=timeout, return_when=FIRST_COMPLETED)
        for jid, (task, fut) in list(self._futures.items()):
            if not fut.done():
                continue
            del self._futures[jid]
            try:
                rc = fut.result()
                tail = ""
            except Exception as e:  # noqa: BLE001 - reported with the job
                rc, tail = 1, f"{type(e).__name__}: {e}"
            out.append(TaskResult(task, rc, tail, cancelled=jid in self._cancelled,
                                  where=socket.gethostname()))
        return out

    def cancel(self, job_id: str) -> None:
        from mlops_jupyter.jobs import runner

        self._cancelled.add(job_id)
        entry = self._futures.get(job_id)
        if entry is not None and not entry[1].cancel():
            runner.cancel(job_id)

    def cancel_all(self) -> None:
        for jid in list(self._futures):
            self.cancel(jid)

    def close(self) -> None:
        self.cancel_all()
        self._pool.shutdown(wait=True, cancel_futures=True)


# -- registry -------------------------------------------------------------------------------
def _dask_factory(address: str | None, parallel: int) -> Executor:
    from mlops_jupyter.jobs.dask_executor import DaskExecutor

    return DaskExecutor(address, parallel)


def _local_factory(address: str | None, parallel: int) -> Executor:
    if address:
        raise UsageError(f"the local executor takes no address, got 'local:{address}'")
    return LocalExecutor(parallel)


EXECUTORS: dict[str, Callable[[str | None, int], Executor]] = {
    "local": _local_factory,
    "dask": _dask_factory,
}


def _entry_points() -> dict[str, Callable[[str | None, int], Executor]]:
    """Third-party executors; a broken one is skipped with a warning, never fatal."""
    found: dict[str, Callable[[str | None, int], Executor]] = {}
    try:
        from importlib.metadata import entry_points

        eps = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # noqa: BLE001
        return found
    for ep in eps:
        if ep.name in EXECUTORS:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception as e:  # noqa: BLE001 - one broken plug-in never breaks the rest
            import warnings

            warnings.warn(f"executor plug-in {ep.name!r} failed to load: {e}", stacklevel=2)
    return found


def parse(spec: object) -> tuple[str, str | None]:
    """``"local"``, ``"dask"`` or ``"dask:tcp://host:8786"`` -> (name, address)."""
    if spec is None:
        return "local", None
    if not isinstance(spec, str) or not spec.strip() or len(spec) > 512 or any(
        not c.isprintable() for c in spec
    ):
        raise UsageError(f"executor must be 'local', 'dask' or 'dask:ADDRESS', got {spec!r}")
    name, sep, address = spec.strip().partition(":")
    name = name.lower()
    known = {**EXECUTORS, **(_entry_points() if name not in EXECUTORS else {})}
    if name not in known:
        raise UsageError(
            f"unknown executor {name!r}; accepted: {', '.join(sorted(known))} "
            "(e.g. --executor dask or --executor dask:tcp://scheduler:8786)"
        )
    if sep and not address.strip():
        raise UsageError(f"executor {spec!r} has an empty address; write {name}:ADDRESS or {name}")
    return name, (address.strip() or None)


def get(spec: object, parallel: int = 2, *, in_process: bool = False) -> Executor:
    """An executor from its spec (see :func:`parse`). ``in_process``: the local executor
    runs jobs from threads here instead of one ``mlops run`` process each."""
    if isinstance(spec, Executor):
        return spec
    name, address = parse(spec)
    if name == "local" and in_process and not address:
        return ThreadExecutor(parallel)
    factory = EXECUTORS.get(name) or _entry_points()[name]
    return factory(address, parallel)


def store_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment that points a child at this process's store."""
    from mlops_jupyter.store import current_config

    env = dict(current_config().env())
    env.update(extra or {})
    return env
