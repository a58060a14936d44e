"""Executing one notebook with papermill in a fresh kernel, and nothing left behind.

papermill does the execution (its progress bar, its output notebook saved after every
cell, its error markers). This module adds what a job needs around it:

- the kernel gets the store's environment (``MLOPS_HOME`` / ``MLOPS_DB_URL`` /
  ``MLOPS_ARTIFACTS_URL``) and ``MLOPS_JOB_ID`` through a kernel manager that merges them
  into the launch environment, so the parent's ``os.environ`` is never mutated (two jobs
  in threads cannot see each other's ids);
- a whole-job timeout: each cell gets the time that remains (nbclient's per-cell timeout
  would let ten slow cells take ten times the budget);
- SIGTERM / SIGINT while a cell runs kill the kernel's process group; nbclient then sees
  a dead kernel, papermill saves the notebook, and the job is recorded KILLED. Outside a
  cell the signal raises :class:`Terminated`. Either way no kernel outlives the job: every
  kernel this module starts is killed (by process group) in a ``finally``.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import UsageError

FINISHED, FAILED, TIMEOUT, KILLED = "FINISHED", "FAILED", "TIMEOUT", "KILLED"
# Why this process is being stopped, when something other than a user decided it (set by
# the parent watcher of an executor's child: "its Dask worker was lost"). Part of messages.
STOP_REASON: str | None = None


def _stopped(signum: int) -> str:
    text = f"stopped by {signal.Signals(signum).name}"
    return f"{text} ({STOP_REASON})" if STOP_REASON else text


class Terminated(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """The process was asked to stop (SIGTERM/SIGINT) while a job ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(_stopped(signum))
        self.signum = signum


@dataclass
class Outcome:
    """How one execution ended."""

    status: str
    nb: Any | None
    error: dict[str, Any] | None = None
    cells_done: int = 0
    cells_total: int = 0
    kernel_pids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    signum: int | None = None  # the signal that stopped it (the caller re-raises after recording)


def check_kernel(name: str) -> None:
    """A clear UsageError when no kernel ``name`` is installed (before any job starts)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        ksm.get_kernel_spec(name)
    except NoSuchKernel:
        installed = sorted(ksm.find_kernel_specs())
        raise UsageError(
            f"kernel {name!r} is not installed; installed kernels: "
            f"{', '.join(installed) or '(none)'}. Install one with "
            f"`python -m ipykernel install --user --name {name}` or pass --kernel NAME"
        ) from None


def _ipc_prefix() -> str:
    """A short socket path prefix (Unix sockets allow ~107 characters)."""
    import tempfile
    import uuid

    return os.path.join(tempfile.gettempdir(), f"mlops-k-{uuid.uuid4().hex[:12]}")


def _remove_ipc_files(prefix: str) -> None:
    import glob

    for f in glob.glob(glob.escape(prefix) + "-*"):
        try:
            os.unlink(f)
        except OSError:
            pass


def _kernel_manager_class(env: Mapping[str, str], pids: list[int], ipc: str | None = None) -> type:
    from jupyter_client.manager import AsyncKernelManager

    extra = dict(env)

    class JobKernelManager(AsyncKernelManager):  # type: ignore[misc]
        """Starts the kernel with the job's environment and remembers its pid.

        Transport encryption is on when the kernelspec supports it (ipykernel does):
        job kernels listen on localhost TCP, and other local users must not be able to
        read parameters, data or outputs off the wire."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            try:
                self.transport_encryption = "auto"
            except Exception:  # noqa: BLE001 - older jupyter_client without the trait
                pass
            if ipc is not None:
                # Unix sockets instead of TCP ports: kernels launched in parallel cannot
                # race for the same free port (papermill#511), and no port is open
                self.transport = "ipc"
                self.ip = ipc

        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            kw["env"] = {**os.environ, **(kw.get("env") or {}), **extra}
            return await super()._async_pre_start_kernel(**kw)

        async def _async_launch_kernel(self, kernel_cmd: Any, **kw: Any) -> Any:
            out = await super()._async_launch_kernel(kernel_cmd, **kw)
            proc = getattr(self.provisioner, "process", None)
            if proc is not None:
                pids.append(proc.pid)
            return out

    return JobKernelManager


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child is dead for our purpose: reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def kill_kernels(pids: list[int], sig: int = signal.SIGKILL) -> None:
    """Kill each kernel's process group (the kernel and anything it started)."""
    for pid in pids:
        if not _alive(pid):
            continue
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        except OSError:
            pass
    for pid in pids:  # reap, so no zombie is left either
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.02)


_ACTIVE: dict[str, _SignalGuard] = {}  # job id -> its guard, for cancel() from another thread


def cancel(job_id: str, signum: int = signal.SIGTERM) -> bool:
    """Stop job ``job_id`` running in this process (another thread): its kernel is killed
    and the job is recorded KILLED, as if the signal had arrived. False: not running here."""
    guard = _ACTIVE.get(job_id)
    if guard is None:
        return False
    if guard.signum is None:
        guard.signum = signum
    kill_kernels(guard.pids, signal.SIGKILL)
    return True


class _SignalGuard:
    """While installed: SIGTERM/SIGINT kill the running kernel (or raise Terminated)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.executing = False
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        first = self.signum is None
        self.signum = signum
        if self.executing and first:
            kill_kernels(self.pids, signal.SIGKILL)  # nbclient will see a dead kernel
            return
        raise Terminated(signum)

    @contextmanager
    def installed(self) -> Iterator[_SignalGuard]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signals are only delivered to the main thread
            return
        for s in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[s] = signal.signal(s, self._handler)
            except (ValueError, OSError):  # pragma: no cover - exotic embedders
                pass
        try:
            yield self
        finally:
            for s, h in self._old.items():
                signal.signal(s, h)


def _error_from_notebook(nb: Any) -> dict[str, Any] | None:
    """The first error output papermill recorded (cell index, type, message, traceback)."""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                from mlops_jupyter.redact import redact

                tb = "\n".join(out.get("traceback") or [])
                info = {
                    "type": out.get("ename") or "Error", "message": redact(str(out.get("evalue") or ""))[:2000],
                    "traceback": redact(_strip_ansi(tb))[-8000:],
                }
                if isinstance(cell.get("execution_count"), int):
                    info["execution_count"] = cell["execution_count"]
                return info
    return None


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def execute(
    nb: Any,
    output_path: Path | None,
    *,
    env: Mapping[str, str],
    kernel_name: str,
    timeout: float | None = None,
    progress: bool | dict[str, Any] = True,
    cwd: str | None = None,
    on_cell: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Run ``nb`` (already parameterized) with papermill; never raises for a cell error,
    a timeout or a dead kernel; raises :class:`Terminated` for a signal outside a cell."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    pids: list[int] = []
    guard = _SignalGuard(pids)
    total = sum(1 for c in nb.cells if c.get("cell_type") == "code")
    done = [0]
    started = time.monotonic()
    deadline = None if timeout is None else started + float(timeout)

    def remaining(cell: Any = None) -> int | None:
        if deadline is None:
            return None
        return max(1, math.ceil(deadline - time.monotonic()))

    def cell_done(cell: Any = None, cell_index: int = 0, execute_reply: Any = None) -> None:
        done[0] += 1
        if guard.signum is not None:  # cancelled from another thread while the kernel started
            kill_kernels(pids, signal.SIGKILL)
        if on_cell is not None:
            on_cell(done[0], total)

    ipc = _ipc_prefix() if os.name == "posix" else None
    job_id = env.get("MLOPS_JOB_ID") or ""
    if job_id:
        _ACTIVE[job_id] = guard
    kwargs: dict[str, Any] = {
        "kernel_manager_class": _kernel_manager_class(env, pids, ipc),
        "on_cell_executed": cell_done,
    }
    if deadline is not None:
        kwargs["timeout_func"] = remaining
    status, error, result = FINISHED, None, None
    try:
        with guard.installed():
            guard.executing = True
            try:
                result = pm.execute_notebook(
                    nb, str(output_path) if output_path else None, parameters=None,
                    kernel_name=kernel_name, progress_bar=progress, cwd=cwd,
                    start_timeout=min(60, remaining() or 60), **kwargs,
                )
            except PapermillExecutionError as e:
                status = FAILED
                error = {"type": e.ename, "message": str(e.evalue)[:2000], "cell": e.cell_index}
            except CellTimeoutError:
                status = TIMEOUT
                error = {"type": "Timeout", "message": f"the job exceeded its timeout of {timeout:g} s "
                         f"(while running code cell {done[0] + 1} of {total})"}
            except DeadKernelError as e:
                status = KILLED if guard.signum is not None else FAILED
                error = {"type": "DeadKernel", "message": f"the kernel died while running code cell "
                         f"{done[0] + 1} of {total}: {str(e)[:300]}"}
            except RuntimeError as e:
                if guard.signum is None and "timed out" not in str(e).lower():
                    raise
                status = KILLED if guard.signum is not None else TIMEOUT
                error = {"type": type(e).__name__, "message": str(e)[:500]}
            finally:
                guard.executing = False
            if guard.signum is not None:
                status = KILLED
                error = {"type": "Terminated", "message": f"{_stopped(guard.signum)} "
                         f"while running code cell {min(done[0] + 1, total)} of {total}"}
    finally:
        kill_kernels(pids)
        _ACTIVE.pop(job_id, None)
        if ipc is not None:
            _remove_ipc_files(ipc)
    out_nb = result
    if out_nb is None and output_path is not None and Path(output_path).is_file():
        import nbformat

        try:
            out_nb = nbformat.read(str(output_path), as_version=4)
        except Exception:  # noqa: BLE001 - a half-written file is still reported below
            out_nb = None
    if status == FAILED and out_nb is not None:
        error = {**(error or {}), **(_error_from_notebook(out_nb) or {})}
    return Outcome(
        status=status, nb=out_nb, error=error, cells_done=done[0], cells_total=total,
        kernel_pids=list(pids), seconds=time.monotonic() - started, signum=guard.signum,
    )
