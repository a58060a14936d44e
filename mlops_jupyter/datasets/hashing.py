"""Content hashes for DataFrames and files: strong (BLAKE3 over all the data), fast,
and the same in every process and on every run.

DataFrame digest
    The frame is converted to Arrow (which is also what gets stored as Parquet) and
    each column's *values* are fed to one BLAKE3 hasher straight from the Arrow
    buffers, after a header carrying the column name and its logical dtype
    (:func:`mlops_jupyter.datasets.schema.dtype_name`). Nothing is sampled and no
    64-bit per-row hash is used, so two frames share a digest only if they are equal.
    Canonical forms keep the digest stable where pandas representations vary but the
    data does not:

    - values under a null are zeroed and the null mask is hashed separately (so NaN
      payloads and garbage under nulls do not matter; NaN and None are both "missing");
    - strings are hashed as (int64 lengths, UTF-8 bytes) whatever their pandas storage
      (``object``, ``str`` in pandas 3, ``string[pyarrow]``): the same text hashes the
      same under pandas 2 and 3;
    - datetimes are hashed at nanosecond resolution with their time zone;
    - row order matters (a reordered frame is different data);
    - the index is ignored unless it is *named* (``df.set_index("id")``): an unnamed
      index is a by-product of filtering, a named one is data, and named levels are
      hashed and stored like columns.

File digest
    BLAKE3 of the bytes. Files are memory-mapped and hashed by BLAKE3's own threaded
    ``update_mmap`` (measured fastest: it fans out over the whole file). When a progress
    bar is shown (from 256 MiB, or on request) the map is fed in slices of at least
    16 MiB (1/64 of the file), large enough to keep the threads busy while the bar
    advances; small files are read in one go.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

DIGEST_FORMAT = b"mlops-frame-digest/1"
SLICE = 16 << 20
PROGRESS_MIN = 256 << 20  # show a progress bar from this many bytes (auto mode)


def _hasher():  # type: ignore[no-untyped-def]
    from blake3 import blake3

    return blake3(max_threads=blake3.AUTO)


def _frame(h: Any, tag: bytes, payload: bytes | memoryview | np.ndarray) -> None:
    """Length-prefixed field, so no two different inputs produce the same stream."""
    if isinstance(payload, np.ndarray):
        payload = memoryview(np.ascontiguousarray(payload)).cast("B")
    h.update(tag + struct.pack("<Q", len(payload)))
    h.update(payload)


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """The Arrow table that is hashed and stored; named index levels become columns."""
    import pyarrow as pa

    keep_index = any(n is not None for n in df.index.names)
    return pa.Table.from_pandas(df, preserve_index=keep_index)


def frame_digest(df: pd.DataFrame, table: pa.Table | None = None) -> str:
    """The content digest of a (validated) DataFrame; see the module docstring."""
    from mlops_jupyter.datasets.schema import dtype_name

    table = table if table is not None else to_arrow(df)
    h = _hasher()
    h.update(DIGEST_FORMAT)
    h.update(struct.pack("<QQ", table.num_rows, table.num_columns))
    index_names = [n for n in df.index.names if n is not None]
    dtypes: dict[str, str] = {}
    for n in index_names:
        dtypes[str(n)] = dtype_name(df.index.get_level_values(n))
    for col in df.columns:
        dtypes[str(col)] = dtype_name(df[col])
    for i, field in enumerate(table.schema):
        _frame(h, b"N", field.name.encode("utf-8", "surrogatepass"))
        _frame(h, b"T", dtypes.get(field.name, str(field.type)).encode())
        _hash_array(h, table.column(i).combine_chunks())
    return h.hexdigest()


def fast_frame_digest(df: pd.DataFrame) -> str | None:
    """:func:`frame_digest` without converting the whole frame to Arrow, or None when
    the frame needs the full path (named index levels).

    Re-adding unchanged data is mostly re-hashing it. Numeric columns are hashed from
    their numpy buffers — making NaN a null and zero-filling under it exactly as the
    Arrow conversion does — and only the other columns go through Arrow, one
    sub-table, converted the same way. Tests compare both paths byte for byte.
    """
    import pyarrow as pa

    from mlops_jupyter.datasets.schema import dtype_name

    if any(n is not None for n in df.index.names):
        return None
    numeric: dict[int, Any] = {}
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiub":
            numeric[i] = col.to_numpy(copy=False)
    others = [i for i in range(df.shape[1]) if i not in numeric]
    sub = pa.Table.from_pandas(df.iloc[:, others], preserve_index=False) if others else None
    h = _hasher()
    h.update(DIGEST_FORMAT)
    h.update(struct.pack("<QQ", df.shape[0], df.shape[1]))
    for i in range(df.shape[1]):
        _frame(h, b"N", str(df.columns[i]).encode("utf-8", "surrogatepass"))
        _frame(h, b"T", dtype_name(df.iloc[:, i]).encode())
        if i not in numeric:
            assert sub is not None
            _hash_array(h, sub.column(others.index(i)).combine_chunks())
            continue
        vals = numeric[i]
        if vals.dtype.kind == "f":
            missing = np.isnan(vals)
            if missing.any():  # pandas' NaN is Arrow's null: mask, then zeros under it
                _frame(h, b"M", missing.view(np.uint8))
                vals = np.where(missing, vals.dtype.type(0), vals)
            else:
                h.update(b"M0")
        else:
            h.update(b"M0")
        _frame(h, b"V", vals.view(np.uint8) if vals.dtype.kind == "b" else vals)
    return h.hexdigest()


def _hash_array(h: Any, arr: pa.Array) -> None:
    import pyarrow as pa

    t = arr.type
    n = len(arr)
    if arr.null_count:
        _frame(h, b"M", arr.is_null().to_numpy(zero_copy_only=False).view(np.uint8))
    else:
        h.update(b"M0")
    if pa.types.is_dictionary(t):
        _frame(h, b"O", b"1" if t.ordered else b"0")
        _hash_array(h, arr.dictionary)
        idx = arr.indices.fill_null(0) if arr.null_count else arr.indices
        _frame(h, b"I", idx.cast(pa.int64()).to_numpy(zero_copy_only=False))
        return
    if pa.types.is_timestamp(t) or pa.types.is_duration(t):
        try:
            target = pa.timestamp("ns", t.tz) if pa.types.is_timestamp(t) else pa.duration("ns")
            arr = arr.cast(target)
        except pa.ArrowInvalid:  # beyond the nanosecond range: keep its own unit
            pass
        arr = arr.cast(pa.int64())
        t = arr.type
    if pa.types.is_boolean(t):
        vals = (arr.fill_null(False) if arr.null_count else arr).to_numpy(zero_copy_only=False)
        _frame(h, b"V", vals.view(np.uint8))
        return
    if pa.types.is_date(t) or pa.types.is_time(t):
        arr = arr.cast(pa.int32() if t.bit_width == 32 else pa.int64())
        t = arr.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        if arr.null_count:
            arr = arr.fill_null(pa.scalar(0, type=t))
        vals = arr.to_numpy(zero_copy_only=False)
        if vals.dtype.kind == "f":
            nan = np.isnan(vals)
            if nan.any():  # NaN that Arrow kept as a value (not from pandas): one bit pattern
                vals = np.where(nan, np.nan, vals)
        _frame(h, b"V", vals)
        return
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        arr = arr.cast(pa.large_string() if pa.types.is_string_view(t) else pa.large_binary())
        t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        if arr.null_count:
            arr = arr.fill_null("" if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else b"")
        bufs = arr.buffers()
        width = 8 if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type) else 4
        offsets = np.frombuffer(
            bufs[1], dtype=np.int64 if width == 8 else np.int32, count=n + 1,
            offset=arr.offset * width,
        )
        start, end = int(offsets[0]), int(offsets[-1])
        # rebased 64-bit offsets: the same whether Arrow used 32- or 64-bit offsets
        _frame(h, b"L", offsets.astype(np.int64) - start)
        data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")
        _frame(h, b"D", data[start:end])
        return
    if pa.types.is_null(t):
        _frame(h, b"Z", struct.pack("<Q", n))
        return
    # anything else (decimals, lists, structs...): Arrow's own serialisation of the column
    sink = pa.BufferOutputStream()
    batch = pa.RecordBatch.from_arrays([arr], names=["c"])
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    _frame(h, b"X", sink.getvalue())


# -- files --------------------------------------------------------------------------
def hash_path(
    path: str | os.PathLike[str], size: int | None = None, progress: bool | None = None,
    label: str | None = None,
) -> str:
    """BLAKE3 of a file, at the speed of reading it, with a progress bar on large ones.

    ``progress``: True/False forces the bar; None shows it from 256 MiB."""
    size = os.path.getsize(path) if size is None else size
    h = _hasher()
    if size == 0:
        return h.hexdigest()
    if size < SLICE:
        with open(path, "rb") as f:
            h.update(f.read())
        return h.hexdigest()
    show = progress if progress is not None else size >= PROGRESS_MIN
    if not show:  # BLAKE3 maps and fans out over the whole file itself: fastest
        h.update_mmap(os.fspath(path))
        return h.hexdigest()
    bar = _progress_bar(size, label or os.path.basename(path))
    step = max(SLICE, size // 64)  # large slices keep every core busy
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            view = memoryview(m)
            try:
                for i in range(0, len(view), step):
                    part = view[i : i + step]
                    h.update(part)
                    part.release()
                    bar.update(min(step, size - i))
            finally:
                view.release()
    finally:
        bar.close()
    return h.hexdigest()


def _progress_bar(total: int, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"hashing {label}", leave=False)


def multi_progress(total: int, label: str, enabled: bool) -> Callable[[int], None] | None:
    """A shared bar for many files (folders): returns an ``advance(nbytes)`` callback."""
    if not enabled:
        return None
    bar = _progress_bar(total, label)

    def advance(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    return advance
