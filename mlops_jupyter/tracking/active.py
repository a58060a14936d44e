"""A run in progress: buffers metrics in memory and writes them in batches.

``log_metric`` is on the hot path of training loops. Points are buffered per key in
``array('d')`` columns (8 bytes a point, turned into numpy arrays at flush without a
conversion). A key logged without explicit steps is in *auto* mode: its steps are
``s0, s0+1, …`` and are never stored in the buffer (nor in the store: a chunk of
contiguous steps is written as its first and last step). So the common call,
``log_metric(key, float)``, is one dict lookup, two appends and one clock read. A key's
first explicit step moves it to *explicit* mode for the rest of the run, where steps
are buffered too (``log_metric(key, float, step=int)`` is the second fast path). Any
other call (a new key, a timestamp, a value to convert, a step to check) takes
:meth:`ActiveRun._log`, which validates.

Each point keeps its own timestamp (``time.time()`` when logged, unless given).

Buffers are written when the run ends, on ``flush()``, at the end of each notebook cell,
at interpreter exit, on SIGTERM and SIGHUP, and by a background thread
(:mod:`~mlops_jupyter.tracking.flusher`) every ``flusher.INTERVAL`` seconds while points
are pending, so a killed process loses at most that much.

Thread safety without slowing ``log_metric``: buffers are never swapped. Columns are
appended values first, timestamps last, so ``len(t)`` bounds the complete points. A
flush copies the first ``n`` points of every key, writes them, then deletes exactly those
``n`` (``del array[:n]`` is one atomic operation); points appended meanwhile stay. A lock
keeps two flushes (the thread's and the cell hook's) from writing twice, and guards the
one change of a buffer's shape (auto to explicit mode).
"""

from __future__ import annotations

import io
import os
import threading
import time
import traceback
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_jupyter import names
from mlops_jupyter.errors import UsageError
from mlops_jupyter.redact import redact, redact_value
from mlops_jupyter.store.entities import FAILED, FINISHED, KILLED, RUN_STATUSES, Artifact, Run
from mlops_jupyter.tracking import flusher, heartbeat
from mlops_jupyter.tracking.values import (
    STEP_MAX,
    STEP_MIN,
    metric_value,
    step_value,
    text_value,
    timestamp_value,
)

if TYPE_CHECKING:
    from mlops_jupyter.store.sql import SqlStore

_now = time.time


class _KeyBuffer:
    """One metric's buffered points: values ``v``, timestamps ``t`` and, in explicit
    mode only, steps ``s``. In auto mode point ``i`` has step ``s0 + i``. ``next`` is
    the next automatic step in explicit mode (kept by the logging thread)."""

    __slots__ = ("v", "t", "s", "auto", "s0", "next")

    def __init__(self, auto: bool) -> None:
        self.v = array("d")
        self.t = array("d")
        self.s = array("q")
        self.auto = auto
        self.s0 = 0
        self.next = 0


class ActiveRun:
    """Handle on a live run. Use as a context manager, or call :meth:`end`."""

    def __init__(self, store: SqlStore, run: Run, on_end: Any = None) -> None:
        self.store = store
        self.id = run.id
        self.name = run.name
        self.experiment = run.experiment
        self.parent_id = run.parent_id
        self.ended = False
        self.implicit = False  # started by a logging call outside any run
        self.status = run.status
        self._bufs: dict[str, _KeyBuffer] = {}  # every key logged in this process
        self._auto: dict[str, _KeyBuffer] = {}  # keys in auto mode: the fast path
        self._explicit: dict[str, _KeyBuffer] = {}  # keys in explicit mode: the other one
        self._last_flush = time.monotonic()
        self._flush_lock = threading.RLock()
        self._flushing = False
        self._forked = False
        self._on_end = on_end
        heartbeat.register(self)
        flusher.ensure_started()

    # -- metrics ----------------------------------------------------------------------
    def log_metric(self, key: str, value: Any, step: int | None = None, timestamp: float | None = None) -> None:
        if timestamp is None and type(value) is float:
            if step is None:
                b = self._auto.get(key)
                if b is not None:
                    b.v.append(value)
                    b.t.append(_now())  # last: its length bounds the complete points
                    return
            elif type(step) is int and STEP_MIN <= step <= STEP_MAX:
                b = self._explicit.get(key)
                if b is not None:
                    if step >= b.next:
                        b.next = step + 1
                    b.v.append(value)
                    b.s.append(step)
                    b.t.append(_now())
                    return
        self._log(key, value, step, timestamp)

    def _log(self, key: str, value: Any, step: Any, timestamp: Any) -> None:
        """Every call but the fast paths: validate, then append (see the module doc)."""
        if self._forked:  # the parent's flusher thread did not survive the fork
            self._forked = False
            flusher.ensure_started()
        b = self._bufs.get(key)
        if b is None:
            names.key(key, "metric name")
        v = value if type(value) is float else metric_value(key, value)
        if step is not None and (type(step) is not int or not STEP_MIN <= step <= STEP_MAX):
            step = step_value(step)
        if timestamp is not None and type(timestamp) is not float:
            timestamp = timestamp_value(timestamp)
        ts = timestamp or _now()
        if b is None:
            b = self._bufs[key] = _KeyBuffer(auto=step is None)
        if b.auto:
            if step is None:
                self._auto[key] = b  # (again, after a fork closed the fast path)
                b.v.append(v)
                b.t.append(ts)
                return
            self._to_explicit(key, b)
        self._explicit[key] = b
        if step is None:
            step = b.next
        if step >= b.next:
            b.next = step + 1
        b.v.append(v)
        b.s.append(step)
        b.t.append(ts)

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's may have been held), and the
        fast paths closed so that the next call of each key restarts the flusher."""
        self._flush_lock = threading.RLock()
        self._flushing = False
        self._auto.clear()
        self._explicit.clear()
        for b in self._bufs.values():  # the parent writes the points it buffered, not us
            if b.auto:
                b.s0 += len(b.t)
            del b.v[:], b.t[:], b.s[:]
        self._forked = True

    def _to_explicit(self, key: str, b: _KeyBuffer) -> None:
        """A key in auto mode gets an explicit step: its implied steps become stored ones."""
        with self._flush_lock:
            flushing, self._flushing = self._flushing, True  # no flush from a signal now
            try:
                self._auto.pop(key, None)
                n = len(b.t)
                b.next = b.s0 + n
                b.s.extend(range(b.s0, b.s0 + n))
                b.auto = False
            finally:
                self._flushing = flushing

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None, timestamp: float | None = None) -> None:
        if not isinstance(metrics, Mapping):
            raise UsageError(f"metrics must be a mapping of name to number, got {type(metrics).__name__}")
        ts = timestamp_value(timestamp) if timestamp is not None else time.time()
        for k, v in metrics.items():
            self.log_metric(k, v, step, ts)

    def flush(self, timeout: float = -1) -> int:
        """Write buffered points; return how many. On failure they stay buffered.

        ``timeout`` (seconds) bounds the wait for a flush running in another thread.
        """
        if not self.pending:
            return 0
        if not self._flush_lock.acquire(timeout=timeout):
            return 0
        if self._flushing:  # a signal handler interrupted this thread's own flush
            self._flush_lock.release()
            return 0
        try:
            self._flushing = True
            import numpy as np

            groups: dict[str, tuple[Any, Any, Any]] = {}
            taken: list[tuple[_KeyBuffer, int]] = []
            for key, b in list(self._bufs.items()):
                n = len(b.t)  # ``t`` is appended last: the first n points are complete
                if not n:
                    continue
                steps = range(b.s0, b.s0 + n) if b.auto else np.frombuffer(b.s[:n], np.int64)
                groups[key] = (steps, np.frombuffer(b.v[:n], np.float64), np.frombuffer(b.t[:n], np.float64))
                taken.append((b, n))
            if groups:
                self.store.log_metric_columns(self.id, groups)
            for b, n in taken:  # exactly the points written; later appends stay
                del b.v[:n]
                if b.auto:
                    b.s0 += n
                else:
                    del b.s[:n]
                del b.t[:n]
            self._last_flush = time.monotonic()
            return sum(n for _b, n in taken)
        finally:
            self._flushing = False
            self._flush_lock.release()

    @property
    def pending(self) -> int:
        return sum(len(b.t) for b in list(self._bufs.values()))

    # -- params, tags, artifacts -------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.store.log_params(self.id, _texts("parameter", params))

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.store.set_tags(self.id, _texts("tag", tags, user=True))

    def log_artifact(self, obj: Any, name: str | None = None) -> Artifact:
        """Store a file, a folder, bytes, text or a matplotlib figure with this run."""
        if isinstance(obj, str | os.PathLike) and not isinstance(obj, bytes):
            path = Path(obj)
            if not path.exists():
                raise UsageError(
                    f"no file or folder at {str(path)!r}: log_artifact takes a path, bytes, "
                    "or a matplotlib figure (use log_text for a string)"
                )
            name = name or path.name
            if path.is_dir():
                return self.store.put_artifact_dir(self.id, name, path)
            if not path.is_file():
                raise UsageError(f"{str(path)!r} is not a regular file or folder")
            return self.store.put_artifact_file(self.id, name, path)
        if isinstance(obj, bytes | bytearray | memoryview):
            if not name:
                raise UsageError("log_artifact(bytes) needs name=…")
            return self.store.put_artifact_bytes(self.id, name, bytes(obj), "bytes")
        if hasattr(obj, "savefig"):  # matplotlib Figure
            buf = io.BytesIO()
            obj.savefig(buf, format="png", bbox_inches="tight")
            return self.store.put_artifact_bytes(self.id, name or "figure.png", buf.getvalue(), "figure")
        raise UsageError(
            f"cannot log a {type(obj).__name__} as an artifact: give a path, bytes, or a "
            "matplotlib figure"
        )

    def log_text(self, text: str, name: str) -> Artifact:
        return self.store.put_artifact_bytes(self.id, name, text.encode(), "text")

    # -- ending -----------------------------------------------------------------------
    def end(self, status: str = FINISHED, error: BaseException | Mapping[str, Any] | None = None,
            ended_by: str = "user") -> None:
        if self.ended:
            return
        status = status.upper()
        if status not in RUN_STATUSES or status == "RUNNING":
            raise UsageError(f"status must be one of FINISHED, FAILED, KILLED, got {status!r}")
        flush_error: BaseException | None = None
        try:
            self.flush()
        except Exception as e:  # noqa: BLE001 - still end the run; report below
            flush_error = e
            if status == FINISHED:
                # metrics the user logged are not in the store: the run did not succeed
                status, error = FAILED, e
        info = _error_info(error) if error is not None else None
        self.store.end_run(self.id, status, time.time(), info, ended_by=ended_by)
        self.ended = True
        self.status = status
        heartbeat.unregister(self)
        if self._on_end is not None:
            self._on_end(self)
        if flush_error is not None:
            raise flush_error

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.end(FINISHED)
        elif isinstance(exc, KeyboardInterrupt):
            self.end(KILLED, exc)
        elif isinstance(exc, SystemExit) and exc.code in (None, 0):
            self.end(FINISHED)
        else:
            self.end(FAILED, exc)

    # -- reading ----------------------------------------------------------------------
    @property
    def info(self) -> Run:
        """The run as stored now (buffered metrics flushed first)."""
        self.flush()
        return self.store.get_run(self.id)

    def _repr_html_(self) -> str:
        return self.info._repr_html_()

    def __repr__(self) -> str:
        state = self.status if self.ended else "RUNNING"
        return f"<ActiveRun {self.id[:8]} {self.name or ''} [{state}] experiment={self.experiment!r}>"


def _texts(kind: str, values: Mapping[str, Any], user: bool = False) -> dict[str, str]:
    if not isinstance(values, Mapping):
        raise UsageError(f"{kind}s must be a mapping of name to value, got {type(values).__name__}")
    out = {}
    for k, v in values.items():
        names.key(k, f"{kind} name")
        if user and k.startswith("mlops."):
            raise UsageError(f"tag names starting with 'mlops.' are reserved, got {k!r}")
        text = text_value(kind, k, v)
        # a parameter named like a secret (db_password, api_key) is never stored in clear
        out[k] = redact_value(k, v, text) if kind == "parameter" else text
    return out


def _error_info(error: BaseException | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(error, Mapping):
        return dict(error)
    tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {
        "type": type(error).__name__,
        "message": redact(str(error))[:4000],
        "traceback": redact(tb)[-20000:],
    }
