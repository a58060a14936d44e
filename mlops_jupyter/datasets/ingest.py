"""``add``: turn a DataFrame, file or folder into a dataset version.

Order of work, chosen so that an add interrupted at any point (Ctrl-C, kill -9) leaves
no visible partial version and re-running it completes it:

1. validate the input and compute its content digest (nothing written);
2. if this name already has a version with that digest, return it (and record the
   use in the active run): identical data stores nothing new;
3. store the bytes as content-addressed blobs (temporary name, fsync, rename);
4. one transaction registers the blobs, numbers the version and records lineage.

Files are recognised without re-reading when their (host, path, size, mtime, ctime,
inode, device) fingerprint matches the cache written by an earlier add.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_jupyter import _proc
from mlops_jupyter.datasets import hashing
from mlops_jupyter.datasets.schema import check_frame
from mlops_jupyter.datasets.version import DatasetVersion
from mlops_jupyter.errors import UsageError
from mlops_jupyter.names import entity_name
from mlops_jupyter.store.sql.datasets import DATAFRAME, FILE, FOLDER, CachedHash, NewVersion

if TYPE_CHECKING:
    import pandas as pd

#: tabular files up to this size are read once at add time for a schema and profile
PROFILE_MAX_BYTES = 256 << 20
TABULAR_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".feather", ".arrow")
ROLES = ("input", "output")
STORAGES = ("parquet", "arrow")
#: Arrow IPC blobs are LZ4-compressed only when a sample shrinks to this fraction or less
LZ4_MAX_RATIO = 0.75
LZ4_SAMPLE_ROWS = 65_536
ARROW_COMPRESSION_KEY = "mlops.compression"  # in the Arrow IPC file footer


def add(
    obj: Any, name: str, description: str | None = None, key: str | list[str] | None = None,
    *, progress: bool | None = None, profile: bool | None = None, role: str = "input",
    storage: str = "parquet",
) -> DatasetVersion:
    """Version a DataFrame, a file or a folder under ``name``; return the version.

    Adding content this name already holds returns that version (``.created`` is
    False) and stores nothing. ``key`` names the column(s) identifying a row, used by
    :func:`diff` to report added/removed/changed rows. ``progress`` forces the hashing
    progress bar on or off (default: on from 256 MiB). ``profile``: for tabular files
    (CSV, Parquet, Feather) read them to record schema and profile (default: when under
    256 MiB). Inside a run, the version is recorded as the run's input (``role``).
    ``storage`` (DataFrames): ``"parquet"`` (default: compact, read by every tool) or
    ``"arrow"`` (Arrow IPC, read back without decoding: for large frames read often,
    such as feature materialisations). Both load the same way.
    """
    import pandas as pd

    name = entity_name(name, kind="dataset name")
    if description is not None and not isinstance(description, str):
        raise UsageError(f"description must be a string, got {type(description).__name__}")
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    keys = _keys(key)
    if storage not in STORAGES:
        raise UsageError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    if isinstance(obj, pd.DataFrame):
        return _add_frame(obj, name, description, keys, role, storage)
    if isinstance(obj, str | os.PathLike):
        path = _check_path(obj)
        if path.is_dir():
            if keys:
                raise UsageError("key= applies to DataFrames and tabular files, not folders")
            return _add_folder(path, name, description, progress, role)
        return _add_file(path, name, description, keys, progress, profile, role)
    if isinstance(obj, pd.Series):
        raise UsageError(
            "a Series cannot be versioned on its own: pass series.to_frame() (its name "
            "becomes the column name)"
        )
    raise UsageError(
        f"cannot version an object of type {type(obj).__module__}.{type(obj).__qualname__}: "
        "pass a pandas DataFrame, or the path of a file or folder"
    )


def _keys(key: str | list[str] | None) -> list[str]:
    if key is None:
        return []
    keys = [key] if isinstance(key, str) else list(key)
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise UsageError(f"key must be a column name or a list of column names, got {key!r}")
    return keys


def _context() -> tuple[Any, str | None, str | None]:
    from mlops_jupyter.tracking import session

    run = session.active_run()
    return session.get_store(), (run.id if run is not None else None), _user()


def _user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return os.environ.get("USER")


def _existing(st: Any, name: str, digest: str, run_id: str | None, role: str) -> DatasetVersion | None:
    rec = st.find_dataset_version(name, digest)
    if rec is None:
        return None
    if run_id:
        st.record_dataset_use(run_id, rec.id, role)
    return DatasetVersion.from_record(rec, created=False)


# -- DataFrames -----------------------------------------------------------------------
def _add_frame(
    df: pd.DataFrame, name: str, description: str | None, keys: list[str], role: str,
    storage: str = "parquet",
) -> DatasetVersion:

    check_frame(df)
    if keys:
        _check_keys(df, keys)
    _warn_unnamed_index(df)
    _warn_non_text_names(df)
    # numbers hash straight from numpy (the same digest); full Arrow only for a new version
    try:
        digest = hashing.fast_frame_digest(df)
    except Exception:  # noqa: BLE001 - anything odd: the full path gives the real error
        digest = None
    table = None
    if digest is None:
        table = _arrow(df)
        digest = hashing.frame_digest(df, table)
    st, run_id, user = _context()
    found = _existing(st, name, digest, run_id, role)
    if found is not None:
        return found
    if table is None:
        table = _arrow(df)
    from mlops_jupyter.datasets.profile import describe

    blob_info = st.find_dataset_blob(digest)
    if blob_info is not None and st.blobs.exists(blob_info[0]):
        blob, blob_size = blob_info[0], int(blob_info[1] or 0)
        schema, prof = describe(df, keys)
    else:
        # Parquet encoding (pyarrow, GIL released) overlaps with profiling (numpy)
        with ThreadPoolExecutor(max_workers=1) as pool:
            writing = pool.submit(_write_arrow if storage == "arrow" else _write_parquet, st, table)
            schema, prof = describe(df, keys)
            blob, blob_size = writing.result()
    new = NewVersion(
        name=name, digest=digest, kind=DATAFRAME, blob=blob, blob_size=blob_size,
        size=blob_size, rows=int(df.shape[0]), columns=int(df.shape[1]),
        schema=schema, profile=prof,
        source="DataFrame", description=description, creator=user, run_id=run_id, role=role,
    )
    rec, created = st.create_dataset_version(new)
    return DatasetVersion.from_record(rec, created=created)


def _arrow(df: pd.DataFrame) -> Any:
    import pyarrow as pa

    try:
        return hashing.to_arrow(df)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise UsageError(f"this DataFrame cannot be stored as Parquet: {e}") from None


def _warn_non_text_names(df: pd.DataFrame) -> None:
    """Parquet names columns with text: say so when 0, 1, … will load back as '0', '1'."""
    odd = [c for c in df.columns if not isinstance(c, str)]
    if odd:
        import warnings

        shown = ", ".join(f"{c!r} -> {str(c)!r}" for c in odd[:5])
        warnings.warn(
            f"column names are stored as text: {shown}{' …' if len(odd) > 5 else ''}; "
            "load() returns them as strings (rename them first to choose the names)",
            UserWarning, stacklevel=_user_stacklevel(),
        )


def _warn_unnamed_index(df: pd.DataFrame) -> None:
    """Say so when an unnamed index that carries labels is dropped.

    Only named index levels are versioned. An unnamed integer index is the usual
    leftover of filtering, sampling or concatenation and is dropped without a word; an
    unnamed index of dates, strings, floats… (or a MultiIndex) is more likely data, so
    its loss — and that re-adding the same values under another index returns the old
    version — is announced once per add.
    """
    import pandas as pd

    idx = df.index
    if any(n is not None for n in idx.names):
        return  # named levels are stored (unnamed sibling levels with them)
    if not isinstance(idx, pd.MultiIndex) and (
        pd.api.types.is_integer_dtype(idx.dtype) or len(idx) == 0
    ):
        return
    import warnings

    kind = type(idx).__name__
    warnings.warn(
        f"the DataFrame's unnamed {kind} was not versioned (only named index levels are "
        "stored, so the same values under another index are the same version). To keep "
        "it, name it (df.rename_axis('date')) or make it a column (df.reset_index()); "
        "df.reset_index(drop=True) drops it without this warning",
        UserWarning, stacklevel=_user_stacklevel(),
    )


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside this package (the user's cell)."""
    import sys

    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    f, level = sys._getframe(2), 2  # 1 is the caller of warnings.warn
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(pkg + os.sep):
        f, level = f.f_back, level + 1
    return level


def _check_keys(df: pd.DataFrame, keys: list[str]) -> None:
    names = [str(c) for c in df.columns] + [str(n) for n in df.index.names if n is not None]
    missing = [k for k in keys if k not in names]
    if missing:
        raise UsageError(f"key column(s) {missing} not in the DataFrame; columns: {names[:20]}")
    frame = df.reset_index() if any(n is not None for n in df.index.names) else df
    dup = frame.duplicated(subset=keys)
    if dup.any():
        raise UsageError(
            f"key {keys} does not identify rows: {int(dup.sum())} duplicate key value(s), "
            f"e.g. {frame.loc[dup, keys].iloc[0].tolist()}"
        )


def _write_parquet(st: Any, table: Any) -> tuple[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Dictionary-encode only text-like columns: trying it on 1,000,000 distinct floats
    # costs seconds and saves nothing. Snappy: fast, and what every reader supports.
    dict_cols = [
        f.name for f in table.schema
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        or pa.types.is_dictionary(f.type) or pa.types.is_boolean(f.type)
    ]
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy", use_dictionary=dict_cols or False)
    return st.blobs.put_bytes(memoryview(sink.getvalue()))


def _write_arrow(st: Any, table: Any) -> tuple[str, int]:
    """An Arrow IPC file, one record batch: each column is one contiguous buffer that
    a reader uses in place (no decoding, no copy). LZ4 only when a sample says it pays
    (counts, flags, repeated values): on incompressible data such as measured floats it
    saves ~4% for ~10x the write time and a copy on every read."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    table = table.combine_chunks()

    def encode(t: Any, compression: str | None) -> Any:
        opts = ipc.IpcWriteOptions(compression=compression, unify_dictionaries=True)
        meta = {ARROW_COMPRESSION_KEY: compression or "none"}  # tells readers to read in place

        def write(sink: Any) -> None:
            with ipc.new_file(sink, t.schema, options=opts, metadata=meta) as w:
                w.write_table(t)

        if compression is not None:
            sink = pa.BufferOutputStream()
            write(sink)
            return sink.getvalue()
        size = pa.MockOutputStream()  # plain: count the bytes first (no copy), then write
        write(size)  # them once into a buffer of that size, not a growing one
        buf = pa.allocate_buffer(size.size(), resizable=False)
        write(pa.FixedSizeBufferWriter(buf))
        return buf

    compression = None
    if table.num_rows > LZ4_SAMPLE_ROWS:  # eight slices spread over the rows
        step = table.num_rows // 8
        sample = pa.concat_tables([table.slice(i * step, LZ4_SAMPLE_ROWS // 8) for i in range(8)])
        if encode(sample, "lz4").size <= LZ4_MAX_RATIO * encode(sample, None).size:
            compression = "lz4"
    return st.blobs.put_bytes(memoryview(encode(table, compression)))


# -- files ----------------------------------------------------------------------------
def _check_path(obj: str | os.PathLike[str]) -> Path:
    path = Path(os.fspath(obj)).expanduser()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"no such file or folder: {str(path)!r}") from None
    except OSError as e:
        raise UsageError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise UsageError(f"cannot read folder {str(path)!r}: permission denied")
        return path
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a FIFO" if stat.S_ISFIFO(st.st_mode) else
            "a socket" if stat.S_ISSOCK(st.st_mode) else "a device or special file"
        )
        raise UsageError(f"{str(path)!r} is {kind}: only regular files and folders can be versioned")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {str(path)!r}: permission denied")
    return path


def _fingerprint(path: Path, st: os.stat_result, digest: str) -> CachedHash:
    return CachedHash(
        str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, str(st.st_ino), str(st.st_dev), digest,
    )


class _CachedHasher:
    """Hashes files, trusting the fingerprint cache for those that have not changed."""

    def __init__(self, store: Any, paths: list[Path], progress: Any = None) -> None:
        self.store = store
        self.host = _proc.hostname()
        self.cache = store.cached_file_hashes(self.host, [str(p) for p in paths]) if paths else {}
        self.fresh: list[CachedHash] = []
        self.progress = progress

    def __call__(self, path: Path, force_progress: bool | None = False) -> str:
        real = path.resolve()
        st = real.stat()
        hit = self.cache.get(str(real))
        if hit is not None and _fingerprint(real, st, hit.digest) == hit:
            if self.progress:
                self.progress(st.st_size)
            return hit.digest
        digest = hashing.hash_path(real, size=st.st_size, progress=force_progress)
        after = real.stat()
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            raise UsageError(f"{str(path)!r} changed while it was being hashed; try again")
        self.fresh.append(_fingerprint(real, st, digest))
        if self.progress:
            self.progress(st.st_size)
        return digest

    def save(self) -> None:
        if self.fresh:
            self.store.remember_file_hashes(self.host, self.fresh)
            self.fresh = []


def _add_file(
    path: Path, name: str, description: str | None, keys: list[str], progress: bool | None,
    profile: bool | None, role: str,
) -> DatasetVersion:
    from mlops_jupyter.names import artifact_name

    artifact_name(path.resolve().name)  # the checkout file takes this name: same rules
    st, run_id, user = _context()
    hasher = _CachedHasher(st, [path.resolve()])
    digest = hasher(path, force_progress=progress)
    hasher.save()
    found = _existing(st, name, digest, run_id, role)
    if found is not None:
        return found
    size = path.stat().st_size
    frame = _read_tabular(path, size, profile)
    if keys and frame is None:
        raise UsageError("key= needs a tabular file (CSV, Parquet, Feather) that can be read")
    schema = prof = None
    rows = cols = None
    if frame is not None:
        from mlops_jupyter.datasets.profile import describe

        if keys:
            _check_keys(frame, keys)
        schema, prof = describe(frame, keys)
        rows, cols = int(frame.shape[0]), int(frame.shape[1])
    if not st.blobs.exists(digest):
        st.blobs.put_file(path, digest=digest)
    new = NewVersion(
        name=name, digest=digest, kind=FILE, blob=digest, blob_size=size, size=size,
        rows=rows, columns=cols, schema=schema, profile=prof, source=str(path.resolve()),
        description=description, creator=user, run_id=run_id, role=role,
    )
    rec, created = st.create_dataset_version(new)
    return DatasetVersion.from_record(rec, created=created)


def _read_tabular(path: Path, size: int, profile: bool | None) -> pd.DataFrame | None:
    suffix = path.suffix.lower()
    wanted = profile if profile is not None else (suffix in TABULAR_SUFFIXES and size <= PROFILE_MAX_BYTES)
    if not wanted:
        return None
    try:
        frame = read_table_file(path)
        check_frame(frame, what=f"table in {path.name!r}")
        return frame
    except Exception as e:  # noqa: BLE001 - a file that is not a table is still a file
        if profile:
            raise UsageError(f"cannot read {str(path)!r} as a table for profiling: {e}") from None
        return None


def read_table_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read CSV/TSV/Parquet/Feather/JSON by extension (used by add, drift and the CLI).

    Any failure to read — missing, unreadable, empty, not text, not valid Parquet — is
    one :class:`UsageError` naming the file and what the parser said.
    """
    import pandas as pd

    p = Path(path)
    suffix = p.suffix.lower()
    readers = {
        ".parquet": pd.read_parquet, ".pq": pd.read_parquet,
        ".feather": pd.read_feather, ".arrow": pd.read_feather,
        ".tsv": lambda f: pd.read_csv(f, sep="\t"), ".csv": pd.read_csv,
        ".json": pd.read_json, ".jsonl": lambda f: pd.read_json(f, lines=True),
    }
    reader = readers.get(suffix)
    if reader is None:
        raise UsageError(
            f"cannot read {str(p)!r} as a table: use .csv, .tsv, .parquet, .feather, "
            ".json or .jsonl"
        )
    if not p.is_file():
        raise UsageError(f"no file at {str(p)!r}" if not p.exists() else f"{str(p)!r} is not a regular file")
    try:
        return reader(p)
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - pandas/pyarrow raise many types for bad files
        detail = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise UsageError(
            f"cannot read {str(p)!r} as a {suffix[1:].upper()} table: {detail}"
        ) from None


# -- folders --------------------------------------------------------------------------
def _walk_files(root: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        out.extend(Path(dirpath) / f for f in files)
    return out


def _add_folder(
    root: Path, name: str, description: str | None, progress: bool | None, role: str,
) -> DatasetVersion:
    from mlops_jupyter.store.manifest import manifest_bytes, manifest_digest, scan_folder

    st, run_id, user = _context()
    candidates = _walk_files(root)
    total = 0
    for p in candidates:
        try:
            total += p.stat().st_size
        except OSError:
            pass  # scan_folder reports unreadable entries with a clear error
    show = progress if progress is not None else total >= hashing.PROGRESS_MIN
    advance = hashing.multi_progress(total, root.name or str(root), bool(show))
    hasher = _CachedHasher(st, [p.resolve() for p in candidates], progress=advance)
    entries = scan_folder(root, hasher=hasher)
    hasher.save()
    if not entries:
        raise UsageError(f"folder {str(root)!r} holds no files: there is nothing to version")
    digest = manifest_digest(entries)
    found = _existing(st, name, digest, run_id, role)
    if found is not None:
        return found
    for e in entries:
        if not st.blobs.exists(e.digest):
            st.blobs.put_file(e.source, digest=e.digest)
    manifest = manifest_bytes(entries)
    blob, blob_size = st.blobs.put_bytes(manifest)
    size = sum(e.size for e in entries)
    exts = Counter(Path(e.path).suffix.lower() or "(none)" for e in entries)
    prof = {"format": "mlops-folder/1", "files": len(entries), "bytes": size,
            "extensions": dict(exts.most_common(20))}
    new = NewVersion(
        name=name, digest=digest, kind=FOLDER, blob=blob, blob_size=blob_size, size=size,
        rows=None, columns=None, schema=None, profile=prof, source=str(root.resolve()),
        description=description, creator=user, run_id=run_id, role=role,
        extra_blobs=sorted({(e.digest, e.size) for e in entries}),
    )
    rec, created = st.create_dataset_version(new)
    return DatasetVersion.from_record(rec, created=created)
