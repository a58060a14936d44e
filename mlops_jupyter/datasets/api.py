"""Reading versions back: resolve references, load (verified), list, lineage.

Every read is verified: a DataFrame's Parquet blob is re-hashed before it is parsed,
and a file or folder checkout is re-hashed file by file before its path is returned,
so tampered or truncated bytes raise :class:`~mlops_jupyter.errors.IntegrityError`
instead of silently feeding a model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_jupyter.datasets.ingest import ARROW_COMPRESSION_KEY
from mlops_jupyter.datasets.version import DatasetVersion
from mlops_jupyter.errors import UsageError
from mlops_jupyter.refs import is_hash_prefix, parse_version_ref
from mlops_jupyter.store.sql.datasets import DATAFRAME, FILE, FOLDER

if TYPE_CHECKING:
    import pandas as pd

CHECKOUTS = "checkouts"
ARROW_MAGIC = b"ARROW1"  # an Arrow IPC file; anything else stored for a DataFrame is Parquet
_MARKER = ".mlops-checkout"


def _store() -> Any:
    from mlops_jupyter.tracking import session

    return session.get_store()


def get(ref: str | DatasetVersion) -> DatasetVersion:
    """The version a reference names: ``name``/``name@latest``, ``name@v3`` or
    ``name@<hash prefix>`` (6+ hex characters). Unknown references name what exists."""
    if isinstance(ref, DatasetVersion):
        return ref
    parsed = parse_version_ref(ref, kind="dataset reference")
    st = _store()
    if parsed.version is not None:
        rec = st.resolve_dataset_version(parsed.name, version=parsed.version)
    elif parsed.selector is not None:
        if not is_hash_prefix(parsed.selector.lower()):
            raise UsageError(
                f"invalid dataset reference {ref!r}: after '@' give vN, latest or at least "
                "6 hex characters of the content hash"
            )
        rec = st.resolve_dataset_version(parsed.name, prefix=parsed.selector.lower())
    else:
        rec = st.resolve_dataset_version(parsed.name)
    return DatasetVersion.from_record(rec)


def show(ref: str | DatasetVersion) -> DatasetVersion:
    """The version, whose notebook display is the EDA profile (schema, missing values,
    histograms, top categories)."""
    return get(ref)


def load(
    ref: str | DatasetVersion, *, dest: str | os.PathLike[str] | None = None,
    as_frame: bool = False,
) -> pd.DataFrame | Path:
    """A DataFrame version as a DataFrame; a file or folder version as a local path
    (a verified checkout under ``.mlops/checkouts/NAME/vN/`` or under ``dest``).

    ``as_frame=True`` reads a tabular file version (CSV, Parquet...) into a DataFrame.
    Inside a run, the version is recorded as the run's input.
    """
    v = get(ref)
    st = _store()
    if v.kind == DATAFRAME:
        out: Any = _read_frame(st, v)
    elif v.kind == FILE:
        out = _checkout_file(st, v, dest)
        if as_frame:
            from mlops_jupyter.datasets.ingest import read_table_file

            out = read_table_file(out)
    elif v.kind == FOLDER:
        if as_frame:
            raise UsageError(f"{v.ref} is a folder: as_frame applies to tabular files")
        out = _checkout_folder(st, v, dest)
    else:  # pragma: no cover - rows are written by this package only
        raise UsageError(f"{v.ref} has unknown kind {v.kind!r}")
    _record_use(st, v)
    return out


def _record_use(st: Any, v: DatasetVersion) -> None:
    from mlops_jupyter.tracking import session

    run = session.active_run()
    if run is not None:
        st.record_dataset_use(run.id, v.id, "input")


def read_frame(v: DatasetVersion) -> pd.DataFrame:
    """The frame of a dataset version record already in hand (no reference resolved
    again), read from the current store and verified against its hash."""
    return _read_frame(_store(), v)


def _read_frame(st: Any, v: DatasetVersion) -> pd.DataFrame:
    return _table(st, v).to_pandas()


def read_table(v: Any, columns: list[str] | None = None) -> Any:
    """The Arrow table of a DataFrame version record already in hand (only ``columns``,
    when given), read from the current store and verified against its hash.

    The blob is read once into memory and hashed there (no second pass over the file).
    Parquet blobs are decoded; Arrow IPC blobs (``add(..., storage="arrow")``) are used
    where they lie: their uncompressed columns are views of the verified bytes."""
    return _table(_store(), v, columns)


def _table(st: Any, v: Any, columns: list[str] | None = None) -> Any:
    import pyarrow as pa

    buf = pa.py_buffer(st.read_blob_view(v.blob))  # verified against its hash
    if buf.size >= 6 and buf[:6].to_pybytes() == ARROW_MAGIC:
        import pyarrow.ipc as ipc

        reader = ipc.open_file(buf)
        if columns is None:
            return reader.read_all()
        names = reader.schema.names
        _check_columns(v, columns, names)
        if (reader.metadata or {}).get(ARROW_COMPRESSION_KEY.encode()) == b"none":
            return reader.read_all().select(columns)  # views of the bytes: nothing to skip
        # compressed: decompress only these (Arrow copies selected fields even when plain)
        options = ipc.IpcReadOptions(included_fields=[names.index(c) for c in columns])
        return ipc.open_file(buf, options=options).read_all().select(columns)
    import pyarrow.parquet as pq

    if columns is not None:
        _check_columns(v, columns, pq.ParquetFile(pa.BufferReader(buf)).schema_arrow.names)
    return pq.read_table(pa.BufferReader(buf), columns=columns)


def _check_columns(v: Any, columns: list[str], names: list[str]) -> None:
    missing = [c for c in columns if c not in names]
    if missing:
        raise UsageError(f"{_label(v)} has no column(s) {missing}; columns: {names[:20]}")


def _label(v: Any) -> str:
    name, version = getattr(v, "name", None), getattr(v, "version", None)
    return f"{name}@v{version}" if name and version else f"dataset blob {v.blob[:12]}"


def _checkout_root(st: Any, v: DatasetVersion, dest: str | os.PathLike[str] | None) -> Path:
    if dest is not None:
        return Path(dest).expanduser()
    home = st.config.home
    base = Path(home) if home is not None else Path(tempfile.gettempdir()) / "mlops"
    return base / CHECKOUTS / v.name / f"v{v.version}"


def _checkout_file(st: Any, v: DatasetVersion, dest: str | os.PathLike[str] | None) -> Path:
    filename = Path(v.source).name if v.source else v.digest
    root = _checkout_root(st, v, dest)
    target = root if dest is not None and not Path(dest).is_dir() and Path(dest).suffix else root / filename
    if target.is_file() and not target.is_symlink() and _intact(target, v.digest):
        return target
    return st.materialize_blob(v.blob, target, root=target.parent)


def _intact(path: Path, digest: str) -> bool:
    from mlops_jupyter.datasets.hashing import hash_path

    try:
        return hash_path(path, progress=False) == digest
    except OSError:
        return False


def _linked(root: Path, target: Path) -> bool:
    """Whether any part of ``target`` below ``root`` is a symbolic link."""
    p = target
    while p != root and p != p.parent:
        if p.is_symlink():
            return True
        p = p.parent
    return False


def _checkout_folder(st: Any, v: DatasetVersion, dest: str | os.PathLike[str] | None) -> Path:
    from mlops_jupyter.names import artifact_name
    from mlops_jupyter.store.manifest import parse_manifest

    root = _checkout_root(st, v, dest)
    files = parse_manifest(st.read_blob(v.blob))
    marker = root / _MARKER
    fresh = not (marker.is_file() and marker.read_text().strip() == v.digest)
    if fresh and root.exists() and dest is None:
        shutil.rmtree(root)  # an interrupted checkout of ours: start over
    for rel, _size, digest in files:
        target = root / artifact_name(rel)  # manifest paths never escape the root
        if not fresh and target.is_file() and not _linked(root, target) and _intact(target, digest):
            continue
        st.materialize_blob(digest, target, root=root)  # never follows links below root
    if marker.is_symlink():
        marker.unlink()
    marker.write_text(v.digest + "\n")
    return root


def list_datasets(name: str | None = None) -> pd.DataFrame:
    """Datasets (one row each) or, given a name, the versions of that dataset."""
    import pandas as pd

    from mlops_jupyter.names import entity_name

    st = _store()
    if name is None:
        rows = st.dataset_summaries()
        latest = {(r.name, r.version): r for r in st.list_dataset_versions()}
        out = []
        for r in rows:
            v = latest.get((r["name"], r["latest"]))
            out.append({
                "name": r["name"], "versions": r["versions"], "latest": f"{r['name']}@v{r['latest']}",
                "kind": v.kind if v else None, "rows": v.rows if v else None,
                "columns": v.columns if v else None, "digest": v.digest[:12] if v else None,
                "updated": pd.to_datetime(r["updated_at"], unit="s"),
                "description": r["description"],
            })
        cols = ["name", "versions", "latest", "kind", "rows", "columns", "digest", "updated", "description"]
        return pd.DataFrame(out, columns=cols)
    recs = st.list_dataset_versions(entity_name(name, kind="dataset name"))
    out = [{
        "ref": f"{r.name}@v{r.version}", "version": r.version, "digest": r.digest[:12],
        "kind": r.kind, "rows": r.rows, "columns": r.columns, "size": r.size,
        "created": pd.to_datetime(r.created_at, unit="s"), "creator": r.creator,
        "parent": f"v{r.parent_version}" if r.parent_version else None,
        "run": (r.run_id or "")[:8] or None, "description": r.description,
    } for r in recs]
    return pd.DataFrame(out)


def versions(name: str) -> list[DatasetVersion]:
    """Every version of a dataset, oldest first, as objects."""
    from mlops_jupyter.names import entity_name

    return [DatasetVersion.from_record(r) for r in _store().list_dataset_versions(entity_name(name, kind="dataset name"))]


def lineage(ref: str | DatasetVersion) -> pd.DataFrame:
    """The runs that used a version (role input/output) and the model versions
    registered from it: one row each, oldest first."""
    import pandas as pd

    v = get(ref)
    found = _store().dataset_lineage(v.id)
    rows = [{
        "kind": "run", "id": r["id"], "name": r["name"], "detail": r["experiment"],
        "status": r["status"], "role": r["role"], "at": pd.to_datetime(r["created_at"], unit="s"),
    } for r in found["runs"]]
    rows += [{
        "kind": "model", "id": m["id"], "name": f"{m['name']}@v{m['version']}",
        "detail": f"run {(m['run_id'] or '')[:8]}" if m["run_id"] else None,
        "status": None, "role": "trained", "at": pd.to_datetime(m["created_at"], unit="s"),
    } for m in found["models"]]
    return pd.DataFrame(rows, columns=["kind", "id", "name", "detail", "status", "role", "at"])


def inputs_of_run(run_id: str) -> list[DatasetVersion]:
    """The dataset versions a run used as inputs (added or loaded inside it), in the
    order it first used them. Accepts a run id or unique prefix."""
    st = _store()
    rid = st.resolve_run_id(run_id)
    return [DatasetVersion.from_record(r) for r in st.run_dataset_versions(rid, role="input")]
