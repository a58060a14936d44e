"""A run in progress: buffers metrics in memory and writes them in batches.

``log_metric`` is on the hot path of training loops, so it only validates (once per
key), converts to float and appends a tuple. Buffers are written when the run ends,
on ``flush()``, at the end of each notebook cell, at interpreter exit, on SIGTERM and
SIGHUP, when ``MAX_BUFFER`` points wait, and by a background thread
(:mod:`~mlops_jupyter.tracking.flusher`) every ``flusher.INTERVAL`` seconds while
points are pending, so a killed process loses at most that much.

Thread safety without slowing ``log_metric``: the buffer list is never swapped. A
flush copies its first ``n`` points, writes them, then deletes exactly those ``n``
(``del list[:n]`` is one atomic operation, per column list; the timestamp column is
appended last, so its length bounds complete points); points appended meanwhile stay.
A lock keeps two flushes (the thread's and the cell hook's) from writing twice.
"""

from __future__ import annotations

import io
import os
import threading
import time
import traceback
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

MAX_BUFFER = 1_000_000
FLUSH_SECONDS = 5.0
_CHECK_EVERY = 1 << 16


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
        # the buffer, one list per column (cheaper to append than a tuple, and turned
        # into arrays at flush without unpacking tuples); ``_t`` is appended last
        self._k: list[str] = []
        self._v: list[float] = []
        self._s: list[int] = []
        self._t: list[float] = []
        self._next_step: dict[str, int] = {}
        self._countdown = _CHECK_EVERY
        self._last_flush = time.monotonic()
        self._flush_lock = threading.RLock()
        self._flushing = False
        self._on_end = on_end
        heartbeat.register(self)
        flusher.ensure_started()

    # -- metrics ----------------------------------------------------------------------
    def log_metric(self, key: str, value: Any, step: int | None = None, timestamp: float | None = None) -> None:
        nxt = self._next_step
        if key not in nxt:
            names.key(key, "metric name")
            nxt[key] = 0
        v = value if type(value) is float else metric_value(key, value)
        if step is None:
            step = nxt[key]
            nxt[key] = step + 1
        else:
            if type(step) is not int or not STEP_MIN <= step <= STEP_MAX:
                step = step_value(step)
            if step >= nxt[key]:
                nxt[key] = step + 1
        if timestamp is not None and type(timestamp) is not float:
            timestamp = timestamp_value(timestamp)
        self._k.append(key)
        self._v.append(v)
        self._s.append(step)
        self._t.append(timestamp or time.time())
        self._countdown -= 1
        if self._countdown <= 0:
            self._maybe_flush()

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None, timestamp: float | None = None) -> None:
        if not isinstance(metrics, Mapping):
            raise UsageError(f"metrics must be a mapping of name to number, got {type(metrics).__name__}")
        ts = timestamp_value(timestamp) if timestamp is not None else time.time()
        for k, v in metrics.items():
            self.log_metric(k, v, step, ts)

    def _maybe_flush(self) -> None:
        self._countdown = _CHECK_EVERY
        if len(self._t) >= MAX_BUFFER or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self, timeout: float = -1) -> int:
        """Write buffered points; return how many. On failure they stay buffered.

        ``timeout`` (seconds) bounds the wait for a flush running in another thread.
        """
        if not self._t:
            return 0
        if not self._flush_lock.acquire(timeout=timeout):
            return 0
        if self._flushing:  # a signal handler interrupted this thread's own flush
            self._flush_lock.release()
            return 0
        try:
            self._flushing = True
            # ``_t`` is appended last: the first n entries of every column are complete
            n = len(self._t)
            if n:
                cols = (self._k, self._v, self._s, self._t)
                self.store.log_metric_columns(self.id, *(c[:n] for c in cols))
                for c in cols:
                    del c[:n]  # exactly the points written; later appends stay
            self._last_flush = time.monotonic()
            return n
        finally:
            self._flushing = False
            self._flush_lock.release()

    @property
    def pending(self) -> int:
        return len(self._t)

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
