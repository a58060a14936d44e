"""A run in progress: buffers metrics in memory and writes them in batches.

``log_metric`` is on the hot path of training loops, so its common calls are one dict
lookup, one flag test and one or two appends, with no clock read:

- Points are buffered per key in *segments*: ``array('d')`` values (8 bytes a point,
  numpy arrays at flush without conversion), plus ``array('q')`` steps once the key has
  had an explicit step, plus timestamps only for points logged with ``timestamp=``.
  Automatic steps are the points' positions, never stored (nor in the store: a chunk
  of contiguous steps is written as its first and last step).
- **Timestamps.** A segment starts with a clock reading: the exact time of its first
  point. The flusher thread *looks* every 0.1 s (``flusher.LOOK_EVERY``): it notes how
  many points each newest segment holds at that moment, and flags a segment that got
  no point since the previous look (or holds ``SEGMENT_POINTS``), so that the next
  point opens a new segment with its own exact time. A point logged 0.2 s or more after
  the previous one therefore has its exact time; in a faster loop the times are
  interpolated between the clock readings around it (the segment's start, the looks,
  the next segment's start, the flush), so they are never off by more than the gap
  between two looks (measured: median 3-4 ms, worst under 0.1 s when the loop pauses),
  and they never decrease. ``timestamp=`` is stored as given.
- The fast paths are ``log_metric(key, float|int)`` and ``log_metric(key, float|int,
  step=int)``; any other call (a new key, a timestamp, a value to convert, a step to
  check, a flagged segment) takes :meth:`ActiveRun._log`, which validates.

Buffers are written when the run ends, on ``flush()``, at the end of each notebook cell,
at interpreter exit, on SIGTERM and SIGHUP, and by a background thread
(:mod:`~mlops_jupyter.tracking.flusher`) every ``flusher.INTERVAL`` seconds while points
are pending, so a killed process loses at most that much.

Thread safety without locks in ``log_metric``: only the logging thread appends, and only
to a key's newest segment; the last-appended column bounds the complete points (see
:meth:`_Segment.complete`). A flush counts the complete points, reads the clock, copies
and writes them, then records how many were written; segments fully written that no
point can join any more are dropped. A lock keeps two flushes (the thread's and the
cell hook's) from writing twice.
"""

from __future__ import annotations

import io
import itertools
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
SEGMENT_POINTS = 1 << 16  # a segment this long is closed at the next look


class _Segment:
    """Points of one key logged in a row after one clock reading ``t0``, the exact time
    of its first point. ``t`` is None unless timestamps were given (then one a point);
    ``s`` is None for automatic steps, which are the points' positions ``start + i``.

    Only the logging thread appends to a segment, and only to its key's newest one
    (see :meth:`complete` for the order). ``done`` (points written), ``ends`` and
    ``lo`` belong to flushes.
    """

    __slots__ = ("start", "t0", "v", "s", "t", "next", "mark", "done", "ends", "lo", "seen")

    def __init__(self, start: int, t0: float, steps: bool, timed: bool, nxt: int) -> None:
        self.start = start
        self.t0 = t0
        self.v = array("d")
        self.s: Any = array("q") if steps else None
        self.t: Any = array("d") if timed else None
        self.next = nxt  # explicit steps: the next automatic step
        self.mark = False  # set by the flusher's look: the next point opens a segment
        self.done = 0
        self.ends: list[tuple[int, float]] = []  # (n, time): the first n points came before
        self.lo: tuple[int, float] = (0, t0)  # the last written point: times go on from it
        self.seen = 0  # points at the previous look

    def complete(self) -> int:
        """How many points are complete: timestamps go last; values and steps are
        appended in either order, so the shorter of them counts."""
        if self.t is not None:
            return len(self.t)
        return len(self.v) if self.s is None else min(len(self.v), len(self.s))


class _Key:
    """One metric's segments, oldest first; ``cur`` is the one being appended to."""

    __slots__ = ("segs", "cur", "auto")

    def __init__(self, auto: bool) -> None:
        self.segs: list[_Segment] = []
        self.cur: _Segment | None = None
        self.auto = auto


def _interpolated(seg: _Segment, a: int, n: int, upper: tuple[int, float]) -> Any:
    """Times of points ``a..n-1`` of an untimed segment: linear between the last written
    point (or the exact first one), the flusher's looks, and ``upper`` (a position and
    a time no point before it came after)."""
    import numpy as np

    lo_x = seg.lo[0]
    xs: list[float] = []
    ts: list[float] = []
    for x, t in sorted([seg.lo, *[e for e in list(seg.ends) if e[0] > lo_x], upper]):
        if xs and x == xs[-1]:
            continue  # one sample per position: the earliest (sorted by time within x)
        xs.append(x)
        ts.append(t)
    for i in range(len(ts) - 2, -1, -1):  # each sample bounds every point before it
        if ts[i] > ts[i + 1]:
            ts[i] = ts[i + 1]
    return np.interp(np.arange(a, n, dtype=np.float64), xs, ts)


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
        self._keys: dict[str, _Key] = {}  # every key logged in this process
        # each key's newest segment, when a plain append may go there: the fast paths
        self._auto: dict[str, _Segment] = {}  # automatic steps
        self._explicit: dict[str, _Segment] = {}  # explicit integer steps
        self._last_flush = time.monotonic()
        self._flush_lock = threading.RLock()
        self._flushing = False
        self._forked = False
        self._on_end = on_end
        heartbeat.register(self)
        flusher.ensure_started()

    # -- metrics ----------------------------------------------------------------------
    def log_metric(self, key: str, value: Any, step: int | None = None, timestamp: float | None = None) -> None:
        if timestamp is None and ((tv := type(value)) is float or tv is int):
            try:
                if step is None:
                    seg = self._auto.get(key)
                    if seg is not None and not seg.mark:
                        seg.v.append(value)  # an int too large for a float raises here
                        return
                elif type(step) is int and STEP_MIN <= step <= STEP_MAX:
                    seg = self._explicit.get(key)
                    if seg is not None and not seg.mark:
                        seg.v.append(value)  # (first: appended to nothing if it raises)
                        if step >= seg.next:
                            seg.next = step + 1
                        seg.s.append(step)
                        return
            except OverflowError:
                pass  # _log says so in words
        self._log(key, value, step, timestamp)

    def _log(self, key: str, value: Any, step: Any, timestamp: Any) -> None:
        """Every call but the fast paths: validate, open a segment if needed, append."""
        if self._forked:  # the parent's flusher thread did not survive the fork
            self._forked = False
            flusher.ensure_started()
        k = self._keys.get(key)
        if k is None:
            names.key(key, "metric name")
        v = value if type(value) is float else metric_value(key, value)
        if step is not None and (type(step) is not int or not STEP_MIN <= step <= STEP_MAX):
            step = step_value(step)
        if timestamp is not None and type(timestamp) is not float:
            timestamp = timestamp_value(timestamp)
        if k is None:
            k = self._keys[key] = _Key(auto=step is None)
        elif step is not None:
            k.auto = False  # for the rest of the run (automatic steps were positions)
        cur = k.cur
        timed = bool(timestamp)  # 0 or None: now, as it always was
        if cur is None or cur.mark or (cur.s is None) is not k.auto or (cur.t is None) is timed:
            pos = cur.start + len(cur.v) if cur is not None else 0
            nxt = pos if cur is None or cur.s is None else cur.next
            cur = _Segment(pos, _now(), steps=not k.auto, timed=timed, nxt=nxt)
            k.segs.append(cur)
            k.cur = cur
            fast, other = (self._auto, self._explicit) if k.auto else (self._explicit, self._auto)
            other.pop(key, None)
            if timed:
                fast.pop(key, None)
            else:
                fast[key] = cur
        if cur.s is not None:
            if step is None:
                step = cur.next
            if step >= cur.next:
                cur.next = step + 1
            cur.s.append(step)
        cur.v.append(v)
        if cur.t is not None:
            cur.t.append(timestamp)

    def _look(self, now: float, flag: bool = True) -> None:
        """The flusher's look, every tenth of a second: note how many points each key's
        newest segment holds by ``now`` (what times are interpolated between). A segment
        that got no point since the previous look, or holds ``SEGMENT_POINTS``, is flagged:
        the next point opens a new one, its time read exactly (so a point logged 0.1 s or
        more after the previous one has its exact time, and written points are freed)."""
        for k in list(self._keys.values()):
            seg = k.cur
            if seg is None:
                continue
            n = seg.complete()
            if n != seg.seen:
                if not seg.ends or n > seg.ends[-1][0]:
                    seg.ends.append((n, now))
                if flag:
                    seg.seen = n
                    if n >= SEGMENT_POINTS:
                        seg.mark = True
            elif flag and n:
                seg.mark = True

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's may have been held), and the
        fast paths closed so that the next call of each key restarts the flusher."""
        self._flush_lock = threading.RLock()
        self._flushing = False
        self._auto.clear()
        self._explicit.clear()
        for k in self._keys.values():
            if k.cur is not None:
                k.cur.mark = True
        self._forked = True

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None, timestamp: float | None = None) -> None:
        if not isinstance(metrics, Mapping):
            raise UsageError(f"metrics must be a mapping of name to number, got {type(metrics).__name__}")
        ts = timestamp_value(timestamp) if timestamp is not None else time.time()
        log = self._log  # one timestamp for all: never the fast paths
        for k, v in metrics.items():
            log(k, v, step, ts)

    def flush(self, timeout: float = -1) -> int:
        """Write buffered points; return how many. On failure they stay buffered.

        ``timeout`` (seconds) bounds the wait for a flush running in another thread.
        """
        if not self.pending:
            return 0
        self._look(_now(), flag=False)  # before any wait for the lock: a tight bound
        if not self._flush_lock.acquire(timeout=timeout):
            return 0
        if self._flushing:  # a signal handler interrupted this thread's own flush
            self._flush_lock.release()
            return 0
        try:
            self._flushing = True
            return self._flush_locked()
        finally:
            self._flushing = False
            self._flush_lock.release()

    def _flush_locked(self) -> int:
        import numpy as np

        todo = []  # (key, its segments, [(segment, first, end)]) of points not yet written
        for key, k in list(self._keys.items()):
            segs = list(k.segs)
            parts = [(i, seg, seg.done, n) for i, seg in enumerate(segs) if (n := seg.complete()) > seg.done]
            if parts:
                todo.append((key, k, segs, parts))
        now = _now()  # every point counted above was logged before this
        groups: dict[str, tuple[Any, Any, Any]] = {}
        written: list[tuple[_Segment, int, float]] = []
        for key, _k, segs, parts in todo:
            cols: list[tuple[Any, Any, Any]] = []
            for i, seg, a, n in parts:
                vals = np.frombuffer(seg.v[a:n], np.float64)
                steps = range(seg.start + a, seg.start + n) if seg.s is None else np.frombuffer(seg.s[a:n], np.int64)
                if seg.t is not None:
                    times = np.frombuffer(seg.t[a:n], np.float64)
                else:
                    # a later segment was opened after this one's last point: its t0 bounds them
                    upper = (len(seg.v), segs[i + 1].t0) if i + 1 < len(segs) else (n, now)
                    times = _interpolated(seg, a, n, upper)
                cols.append((steps, vals, times))
                written.append((seg, n, float(times[-1])))
            if len(cols) == 1:
                groups[key] = cols[0]
            else:  # ranges of consecutive segments join into one when they can
                steps_all: Any = cols[0][0]
                if all(isinstance(c[0], range) for c in cols) and all(
                    c[0].start == p[0].stop for p, c in itertools.pairwise(cols)
                ):
                    steps_all = range(cols[0][0].start, cols[-1][0].stop)
                else:
                    steps_all = np.concatenate([np.asarray(c[0], np.int64) for c in cols])
                groups[key] = (steps_all, np.concatenate([c[1] for c in cols]), np.concatenate([c[2] for c in cols]))
        if groups:
            self.store.log_metric_columns(self.id, groups)
        for seg, n, last in written:
            seg.done = n
            seg.lo = (n - 1, last)
            k = 0
            for x, _t in list(seg.ends):  # samples before the last written point are spent
                if x >= n:
                    break
                k += 1
            del seg.ends[:k]
        for _key, k, _segs, _parts in todo:  # drop written segments no point can join
            while len(k.segs) > 1 and k.segs[0] is not k.cur and k.segs[0].done == k.segs[0].complete():
                del k.segs[0]
        self._last_flush = time.monotonic()
        return sum(n - a for *_x, parts in todo for _i, _s, a, n in parts)

    @property
    def pending(self) -> int:
        return sum(
            seg.complete() - seg.done for k in list(self._keys.values()) for seg in list(k.segs)
        )

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
            if not self.pending:  # all written: the newest segments need not stay in memory
                self._keys, self._auto, self._explicit = {}, {}, {}
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
