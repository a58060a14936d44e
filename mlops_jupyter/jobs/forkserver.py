"""Job processes forked from a warm server: ``mlops run`` without paying its imports.

Every executor runs a job as ``python -m mlops_jupyter run …`` in a process of its own.
Most of that process's cost is not the job: it is importing papermill, nbformat (whose
jsonschema compiles grammars at import), jupyter_client, SQLAlchemy and this package,
about 2-3 s of CPU per job, several times the work of a small notebook. A fork server
pays it once: ``python -m mlops_jupyter.jobs.forkserver`` imports those modules, then
forks one child per job, and the child runs exactly what ``python -m mlops_jupyter ARGV``
would (same argument parsing, signal handling, exit codes, atexit hooks), with the
caller's environment and working directory, its output in the job's log file.

So each job is still a fresh process with a fresh kernel; only the imports are
inherited. The server imports nothing that starts a Python thread (checked: with one it
would not fork, and the caller falls back to starting the process the usual way; the
native threads OpenBLAS and jemalloc start register their own fork handlers), opens no
store and no socket, and forks nothing but jobs.

Lifetime: the server reads requests on its stdin. When the process that started it (a
Dask worker, a sweep's driver) sends ``{"close": true}`` or closes the pipe, the server
exits once its running children have; when that process dies (checked every second, not
only at the pipe's end: a process the caller forked may still hold the pipe open), the
server exits at once, and a job child started with
``--watch-parent`` (watching the server) stops itself, recorded KILLED: the same
guarantee as a child of the worker itself.

Protocol (one JSON object per line): request ``{"id", "argv", "env", "cwd", "log"}`` or
``{"close": true}``;
replies ``{"ready": pid}`` once, ``{"id", "pid"}`` per fork, ``{"pid", "rc"}`` when a
child exits (``rc`` as :attr:`subprocess.Popen.returncode`: ``-N`` for signal N).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from mlops_jupyter._proc import is_alive

# What ``mlops run`` imports on its way to a finished job (the heavy part first).
PRELOAD = (
    "nbformat", "papermill", "papermill.engines", "papermill.iorw", "nbclient",
    "jupyter_client.manager", "jupyter_client.kernelspec", "jupyter_client.asynchronous", "IPython",
    "mlops_jupyter.cli", "mlops_jupyter.cli.jobs", "mlops_jupyter.jobs.api",
    "mlops_jupyter.jobs.runner", "mlops_jupyter.jobs.scrub", "mlops_jupyter.jobs.job",
    "mlops_jupyter.store.sql", "mlops_jupyter.store.artifacts", "mlops_jupyter.tracking.session",
    "fsspec", "psycopg", "s3fs",
)
START_TIMEOUT = 180.0  # seconds the first fork may wait for the imports (a busy machine)
FORK_TIMEOUT = 60.0  # seconds a ready server may take to answer a fork (it takes milliseconds)


# -- the server -----------------------------------------------------------------------------
def _preload() -> None:
    import importlib

    from mlops_jupyter._fastimport import skip_iri_grammars

    skip_iri_grammars()
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional extra (psycopg, s3fs) not installed
            continue
    import gc

    gc.collect()
    gc.freeze()  # children share these objects' pages instead of copying them


def _write(fd: int, msg: dict[str, Any]) -> None:
    data = (json.dumps(msg) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def serve() -> int:
    """The server's loop; in a forked child, returns that child's exit status."""
    inp = 0
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # nothing but replies reaches the caller's pipe
    os.set_inheritable(out, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the jobs, not for us
    _preload()
    if threading.active_count() > 1:  # forking a threaded process is not safe
        _write(out, {"unsafe": f"{threading.active_count()} threads after the imports"})
        return 1
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _write(out, {"ready": os.getpid()})
    parent, live, reading, buf = os.getppid(), 0, True, b""
    try:
        while True:
            if os.getppid() != parent or (not reading and live == 0):
                return 0  # our caller died (the children watch us); or closed and every child reaped
            try:
                ready, _, _ = select.select([inp, wake_r] if reading else [wake_r], [], [],
                                            1.0 if reading else 0.2)
            except InterruptedError:
                ready = []
            if wake_r in ready:
                os.read(wake_r, 4096)
            if inp in ready:
                data = os.read(inp, 1 << 16)
                reading = bool(data)  # end of input: serve the running children, then exit
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    req = json.loads(line)
                    if req.get("close"):
                        reading = False  # serve the running children, then exit
                        break
                    pid = os.fork()
                    if pid == 0:
                        for fd in (out, wake_r, wake_w):  # (stdin is replaced by the child)
                            os.close(fd)
                        return _child(req, devnull)
                    live += 1
                    _write(out, {"id": req["id"], "pid": pid})
            while live:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    live = 0
                    break
                if pid == 0:
                    break
                live -= 1
                _write(out, {"pid": pid, "rc": os.waitstatus_to_exitcode(status)})
    except BrokenPipeError:
        return 0  # our caller is gone; the children watch us and stop


def _child(req: dict[str, Any], devnull: int) -> int:
    """In the forked child: become ``python -m mlops_jupyter ARGV``; returns its exit status."""
    import runpy

    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(devnull)
    os.environ.clear()
    os.environ.update(req["env"])
    cwd = req.get("cwd")
    if cwd:
        os.chdir(cwd)
        if sys.path and os.path.isdir(sys.path[0]):
            sys.path[0] = cwd  # as `python -m` started here would have it
    sys.argv = ["mlops", *req["argv"]]
    try:
        runpy.run_module("mlops_jupyter", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return int(e.code or 0)
        print(e.code, file=sys.stderr)
        return 1
    return 0


def main() -> int:
    return serve()


# -- the caller's side ----------------------------------------------------------------------
class Child:
    """A forked job process, with the parts of :class:`subprocess.Popen` executors use."""

    def __init__(self, server: ForkServer) -> None:
        self._server = server
        self.pid = 0
        self.returncode: int | None = None
        self._started = threading.Event()
        self._exited = threading.Event()

    def _exit(self, rc: int | None) -> None:
        if self.returncode is None:
            self.returncode = rc
        self._exited.set()

    def poll(self) -> int | None:
        if not self._exited.is_set() and self._server.dead and not is_alive(self.pid, None):
            self._exit(-signal.SIGKILL)  # nobody can tell us how it ended any more
        return self.returncode if self._exited.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"job process {self.pid}", timeout or 0)
            self._exited.wait(0.5 if left is None else min(0.5, left))
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """A running fork server and the children it forked for us."""

    def __init__(self) -> None:
        self._env = dict(os.environ)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "mlops_jupyter.jobs.forkserver"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self._env,
        )
        self.pid = self._proc.pid
        self.dead = False
        self.unsafe: str | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._next = 0
        self._pending: dict[int, Child] = {}
        self._children: dict[int, Child] = {}
        threading.Thread(target=self._read, name="mlops-forkserver", daemon=True).start()

    def matches(self) -> bool:
        """Started with this environment (modules read some of it when imported)."""
        return not self.dead and self.unsafe is None and self._env == dict(os.environ)

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if "ready" in msg:
                    self._ready.set()
                elif "unsafe" in msg:
                    self.unsafe = str(msg["unsafe"])
                elif "id" in msg:
                    child = self._pending.pop(msg["id"], None)
                    if child is not None:
                        child.pid = msg["pid"]
                        self._children[child.pid] = child
                        child._started.set()
                elif "rc" in msg:  # always after that child's fork reply (one writer, in order)
                    child = self._children.pop(msg["pid"], None)
                    if child is not None:
                        child._exit(msg["rc"])
        with self._lock:
            self.dead = True
            self._ready.set()
            for child in self._pending.values():
                child._started.set()
            self._pending.clear()

    def spawn(self, argv: list[str], env: dict[str, str], log: str, cwd: str | None = None) -> Child | None:
        """Fork ``python -m mlops_jupyter ARGV``; None if this server cannot (the caller
        then starts the process itself)."""
        child = Child(self)
        if not self._ready.wait(START_TIMEOUT):
            self._abandon()  # nothing was asked of it: the caller's own process is the only one
            return None
        with self._lock:
            if self.dead or self.unsafe:
                return None
            self._next += 1
            req = {"id": self._next, "argv": argv, "env": env, "cwd": cwd or os.getcwd(), "log": log}
            self._pending[self._next] = child
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write((json.dumps(req) + "\n").encode())
                self._proc.stdin.flush()
            except (OSError, ValueError):
                self._pending.pop(self._next, None)
                return None
        if not child._started.wait(FORK_TIMEOUT):
            # a ready server that does not answer is stuck: kill it, so it can never fork
            # this request later beside the caller's fallback; a fork it answered before
            # dying still reaches us (the reader drains the pipe first)
            self._abandon()
            child._started.wait(5)
        if not child.pid:
            with self._lock:
                self._pending.pop(req["id"], None)
            return None
        return child

    def _abandon(self) -> None:
        with contextlib.suppress(OSError):
            self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5)

    def close(self) -> None:
        """Stop accepting jobs; the server exits once its running children have (told in
        so many words: a process we forked may hold the pipe open, so its end may not come)."""
        with contextlib.suppress(OSError, ValueError):
            if self._proc.stdin is not None:
                with self._lock:
                    self._proc.stdin.write(b'{"close": true}\n')
                    self._proc.stdin.flush()
                self._proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5)


_server: ForkServer | None = None
_server_lock = threading.Lock()


def server() -> ForkServer:
    """This process's fork server, started (in the background) on first use, and again
    when the environment changed or the last one died."""
    global _server
    with _server_lock:
        if _server is None or not _server.matches():
            old, _server = _server, ForkServer()
            if old is not None:
                threading.Thread(target=old.close, daemon=True).start()
        return _server


def shutdown() -> None:
    """Close this process's server (it exits once its running children have)."""
    global _server
    with _server_lock:
        old, _server = _server, None
    if old is not None:
        old.close()


def warm() -> int:
    """Start this process's server now (its imports overlap whatever comes next)."""
    return server().pid


def dask_setup(worker: Any) -> None:
    """distributed's preload hook (``preload=["mlops_jupyter.jobs.forkserver"]``): the
    worker's job server starts, and imports, while the worker itself starts."""
    warm()


def spawn(argv: list[str], env: dict[str, str], log: str) -> Child | None:
    """``python -m mlops_jupyter ARGV`` forked from this process's server (its output to
    ``log``, ``env`` as its whole environment, this working directory); None when the
    server cannot fork (the caller starts the process the usual way)."""
    try:
        return server().spawn(argv, env, log)
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
