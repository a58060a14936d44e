"""Metric points stored as columnar chunks (table ``metric_chunks``).

Why: one SQL row per point costs about a microsecond each to insert and to read back,
which capped durable logging near 300,000 points/s and made a 10-million-point history
take tens of seconds. A flush now groups its points by key and writes one row per key
holding three packed arrays; a history read concatenates the chunks of a key with
numpy. Summaries (last/min/max/count) are computed with numpy too and merged with one
upsert, as before. Points written by older versions (table ``metrics``, one row each)
are still read, so nothing is lost while stores are upgraded.

Steps in arithmetic progression (``0, 1, 2, …`` as ``log_metric`` numbers them, or every
tenth step) are not stored: a chunk's ``steps`` blob is then empty and the steps are
``step_min, …, step_max`` in ``n`` equal strides. Chunks whose ``steps`` blob holds
``n`` int64 values (every chunk written before this encoding) are read as before, so no
migration is needed.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from mlops_jupyter.store import schema as S

if TYPE_CHECKING:
    import numpy as np

CHUNK_POINTS = 1 << 20  # at most this many points per row (24 MiB)

Arrays = tuple["np.ndarray", "np.ndarray", "np.ndarray"]  # steps, values, timestamps


def columns(points: Sequence[Any]) -> tuple[list[str], Arrays]:
    """``(keys, (steps, values, timestamps))`` of buffered ``(key, value, step, ts)``."""
    import numpy as np

    n = len(points)
    keys = list(map(itemgetter(0), points))
    vals = np.fromiter(map(itemgetter(1), points), np.float64, n)
    steps = np.fromiter(map(itemgetter(2), points), np.int64, n)
    times = np.fromiter(map(itemgetter(3), points), np.float64, n)
    return keys, (steps, vals, times)


def group_by_key(points: Sequence[Any]) -> dict[str, Arrays]:
    """Buffered points split by key, each key's points in logging order."""
    keys, arrays = columns(points)
    return group_columns(keys, arrays)


def group_columns(keys: list[str], arrays: Arrays) -> dict[str, Arrays]:
    """Columns split by key (``keys[i]`` names point i), each in logging order."""
    import numpy as np

    steps, vals, times = arrays
    if keys.count(keys[0]) == len(keys):  # one key (the common case): identity compares
        return {keys[0]: (steps, vals, times)}
    uniq = dict.fromkeys(keys)
    index = {k: i for i, k in enumerate(uniq)}
    codes = np.fromiter(map(index.__getitem__, keys), np.int32, len(keys))
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=len(index)))[:-1]
    out = {}
    for key, part in zip(index, np.split(order, bounds), strict=True):
        out[key] = (steps[part], vals[part], times[part])
    return out


def _progression(steps: Any) -> bool:
    """True when ``steps`` (a non-empty range or int64 array) rise by one fixed stride."""
    if isinstance(steps, range):
        return steps.step > 0 or len(steps) == 1
    n = len(steps)
    if n == 1:
        return True
    first, last = int(steps[0]), int(steps[-1])
    stride = int(steps[1]) - first
    if stride <= 0 or last - first != stride * (n - 1):  # exact, in Python integers
        return False
    import numpy as np

    return bool((np.diff(steps) == stride).all())


def chunk_rows(run_id: str, groups: Mapping[str, Arrays]) -> list[dict[str, Any]]:
    rows = []
    for key, (steps, vals, times) in groups.items():
        for i in range(0, len(steps), CHUNK_POINTS):
            s = steps[i : i + CHUNK_POINTS]
            regular = _progression(s)
            rows.append({
                "run_id": run_id, "key": key, "n": len(s),
                "step_min": int(s[0]) if regular else int(s.min()),
                "step_max": int(s[-1]) if regular else int(s.max()),
                "steps": b"" if regular else _le(s, "<i8"),
                "vals": _le(vals[i : i + CHUNK_POINTS], "<f8"),
                "times": _le(times[i : i + CHUNK_POINTS], "<f8"),
            })
    return rows


def _le(a: np.ndarray, dtype: str) -> Any:
    """The little-endian bytes of ``a`` as a buffer, without a copy when already so."""
    import numpy as np

    a = np.ascontiguousarray(a, dtype=dtype)
    return memoryview(a).cast("B")


def summary(steps: Any, vals: np.ndarray, times: np.ndarray) -> tuple[Any, ...]:
    """``(last_v, last_step, last_ts, min, min_step, max, max_step, count)`` of a key's
    points: the last point is the greatest (step, timestamp), later ones winning ties;
    NaN never wins min or max (None when every value is NaN). ``steps`` may be a range."""
    import numpy as np

    if isinstance(steps, range) and (steps.step > 0 or len(steps) == 1):
        last = len(steps) - 1  # strictly increasing steps: the last point is the last step
    else:
        top = steps.max()
        cand = np.flatnonzero(steps == top)
        ts = times[cand]
        last = int(cand[np.flatnonzero(ts == ts.max())[-1]])
    finite = ~np.isnan(vals)
    if finite.any():
        if finite.all():
            i_min, i_max = int(vals.argmin()), int(vals.argmax())
        else:
            i_min, i_max = int(np.nanargmin(vals)), int(np.nanargmax(vals))
        mn, mns, mx, mxs = float(vals[i_min]), int(steps[i_min]), float(vals[i_max]), int(steps[i_max])
    else:
        mn = mns = mx = mxs = None
    return (float(vals[last]), int(steps[last]), float(times[last]), mn, mns, mx, mxs, len(steps))


def insert_chunks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(S.metric_chunks.insert(), rows)


def read_arrays(conn: Connection, run_id: str, keys: Iterable[str] | None = None) -> dict[str, Arrays]:
    """Every point of a run by key, ordered by (step, timestamp).

    Each key's arrays are allocated once (sizes from the chunks' ``n``) and filled chunk
    by chunk straight from the fetched blobs, so a long history costs one copy of its
    bytes and no Python work per point.
    """
    import numpy as np

    C = S.metric_chunks
    wanted = None if keys is None else list(keys)
    where = [C.c.run_id == run_id]
    if wanted is not None:
        where.append(C.c.key.in_(wanted))
    sizes = dict(conn.execute(select(C.c.key, func.sum(C.c.n)).where(*where).group_by(C.c.key)).all())
    M = S.metrics  # points written before columnar chunks (schema version < 3)
    q2 = select(M.c.key, M.c.value, M.c.step, M.c.timestamp).where(M.c.run_id == run_id)
    if wanted is not None:
        q2 = q2.where(M.c.key.in_(wanted))
    legacy: dict[str, list[tuple[float, int, float]]] = {}
    for key, v, step, ts in conn.execute(q2):
        legacy.setdefault(key, []).append((np.nan if v is None else v, step, ts))
    filled: dict[str, _Filling] = {
        key: _Filling(int(sizes.get(key) or 0) + len(legacy.get(key, ())))
        for key in sorted(set(sizes) | set(legacy))
    }
    q = select(C.c.key, C.c.n, C.c.step_min, C.c.step_max, C.c.steps, C.c.vals, C.c.times)
    # (key, id) is the index's own order on SQLite: ordering by id alone made it copy
    # every blob into a temporary sort first
    for key, n, lo, hi, st, va, ti in conn.execute(q.where(*where).order_by(C.c.key, C.c.id)):
        # (a chunk committed between the two queries, on PostgreSQL, makes room for itself)
        f = filled.get(key) or filled.setdefault(key, _Filling(0))
        f.add(n, lo, hi, st, va, ti)
    for key, pts in legacy.items():
        v, s, t = zip(*pts, strict=True)
        filled[key].add_arrays(np.array(s, np.int64), np.array(v, np.float64), np.array(t, np.float64))
    return {key: filled[key].result() for key in sorted(filled)}


class _Filling:
    """One key's arrays, filled chunk by chunk; knows whether the steps came sorted.

    The arrays are little-endian (what the blobs hold), so a blob is copied into its
    place through a byte view: one ``memcpy`` a chunk, whatever its size (histories of
    slow loops have many small chunks). Ranged steps are generated in place.
    """

    SMALL = 64  # a range of at most this many steps is made without numpy calls

    def __init__(self, total: int) -> None:
        import numpy as np

        self.steps = np.empty(total, "<i8")
        self.vals = np.empty(total, "<f8")
        self.times = np.empty(total, "<f8")
        self._views()
        self.at = 0
        self.last_step: int | None = None
        self.increasing = True  # every chunk a rising progression, each after the last

    def _views(self) -> None:
        self._bytes = [memoryview(x).cast("B") for x in (self.steps, self.vals, self.times)]

    def add(self, n: int, lo: int, hi: int, steps: bytes, vals: bytes, times: bytes) -> None:
        a, b = self._room(n)
        bs, bv, bt = self._bytes
        if len(steps):  # packed steps
            bs[8 * a : 8 * b] = steps
            self.increasing = False
        else:  # n steps from lo to hi in equal strides
            stride = (hi - lo) // (n - 1) if n > 1 else 1
            if n <= self.SMALL:
                bs[8 * a : 8 * b] = array("q", range(lo, hi + 1, stride)).tobytes()
            else:
                import numpy as np

                part = self.steps[a:b]
                np.multiply(np.arange(n, dtype=np.int64), stride, out=part)  # wraps, never raises
                part += lo
            if self.last_step is not None and lo <= self.last_step:
                self.increasing = False
            self.last_step = hi
        bv[8 * a : 8 * b] = vals
        bt[8 * a : 8 * b] = times
        self.at = b

    def add_arrays(self, steps: np.ndarray, vals: np.ndarray, times: np.ndarray) -> None:
        a, b = self._room(len(steps))
        self.steps[a:b], self.vals[a:b], self.times[a:b] = steps, vals, times
        self.increasing = False
        self.at = b

    def _room(self, n: int) -> tuple[int, int]:
        import numpy as np

        a, b = self.at, self.at + n
        if b > len(self.vals):
            for view in self._bytes:
                view.release()
            grow = b + len(self.vals)
            self.steps, self.vals, self.times = (
                np.concatenate([x[:a], np.empty(grow - a, x.dtype)])
                for x in (self.steps, self.vals, self.times)
            )
            self._views()
        return a, b

    def result(self) -> Arrays:
        import numpy as np

        for view in self._bytes:
            view.release()
        n = self.at  # fewer than counted only if chunks were deleted meanwhile
        # native order (a no-op on little-endian machines)
        steps = self.steps[:n].astype(np.int64, copy=False)
        vals = self.vals[:n].astype(np.float64, copy=False)
        times = self.times[:n].astype(np.float64, copy=False)
        if self.increasing:  # strictly increasing steps: already in (step, time) order
            return steps, vals, times
        return _ordered(steps, vals, times)


def _ordered(steps: np.ndarray, vals: np.ndarray, times: np.ndarray) -> Arrays:
    """Sorted by (step, timestamp), stable; a no-op check when already in order."""
    import numpy as np

    if len(steps) > 1:
        d = np.diff(steps)
        if not (d >= 0).all() or not (np.diff(times)[d == 0] >= 0).all():
            order = np.lexsort((times, steps))
            return steps[order], vals[order], times[order]
    return steps, vals, times
