"""What every SQL mixin shares: the database, the blob store, upserts, blob rows."""

from __future__ import annotations

import gc
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from mlops_jupyter.config import StoreConfig, redact_url
from mlops_jupyter.errors import StoreError
from mlops_jupyter.store import schema
from mlops_jupyter.store.artifacts import BlobStore
from mlops_jupyter.store.engine import Database
from mlops_jupyter.store.migrations import ensure_schema


def dumps(obj: Any) -> str:
    """JSON for storage: NaN/inf become strings so PostgreSQL and strict parsers accept it."""
    return json.dumps(_json_safe(obj), sort_keys=True, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def chunks(seq: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


class SqlCore:
    """Opening, schema, and low-level helpers."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        lock_path: Path | None = None
        if config.db_url.startswith("sqlite"):
            db_path = config.db_url.split("///", 1)[-1]
            if db_path and db_path != ":memory:":
                folder = Path(db_path).parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise StoreError(
                        f"cannot create the store folder {str(folder)!r}: {e.strerror or e}"
                    ) from None
                lock_path = Path(db_path + ".lock")
        self.db = Database(config.db_url)
        self.schema_version = ensure_schema(self.db, lock_path)
        self.blobs = BlobStore(config.artifacts_url)
        self._last_reap = 0.0

    def __repr__(self) -> str:
        return (
            f"<Store db={redact_url(self.config.db_url)!r} "
            f"artifacts={redact_url(self.config.artifacts_url)!r}>"
        )

    def close(self) -> None:
        self.db.dispose()

    # -- helpers for mixins -----------------------------------------------------------
    def _upsert(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]],
        keys: Sequence[str], update: Sequence[str] = (),
    ) -> None:
        if not rows:
            return
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(table)
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: stmt.excluded[c] for c in update}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        for part in chunks(rows):
            conn.execute(stmt, list(part))

    def _register_blob(self, conn: Connection, digest: str, size: int) -> None:
        self._upsert(
            conn, schema.blobs,
            [{"digest": digest, "size": size, "created_at": time.time()}], ["digest"],
        )

    def _fetch_tuples(self, conn: Connection, stmt: Any) -> list[tuple[Any, ...]]:
        """All rows of a SELECT as plain DB-API tuples.

        For bulk reads (100,000 rows for a 10,000-run table) SQLAlchemy's Row objects
        cost more than the query itself, and pandas builds frames from tuples faster.
        The statement is still built and bound by SQLAlchemy: no SQL text by hand.
        """
        return self._fetch_raw(conn, stmt)[1]

    def _fetch_records(self, conn: Connection, stmt: Any) -> list[Any]:
        """Like :meth:`_fetch_tuples`, as named tuples (attribute access by column)."""
        from collections import namedtuple

        names, rows = self._fetch_raw(conn, stmt)
        record = namedtuple("Record", names, rename=True)  # type: ignore[misc]
        return list(map(record._make, rows))

    def _fetch_raw(self, conn: Connection, stmt: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.construct_params()
        args: Any = tuple(params[k] for k in compiled.positiontup) if compiled.positional else params
        cur = conn.connection.dbapi_connection.cursor()
        # A bulk fetch allocates ~100,000 tuples; the cyclic GC would rescan the heap
        # several times meanwhile (tuples hold no cycles), costing more than the query.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            cur.execute(str(compiled), args)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
            return names, rows if conn.dialect.name == "sqlite" else [tuple(r) for r in rows]
        finally:
            if gc_was_on:
                gc.enable()
            cur.close()

    def _paramstyle(self, conn: Connection) -> str:
        return "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def counts(self) -> dict[str, int]:
        from sqlalchemy import func

        out: dict[str, int] = {}
        with self.db.read() as conn:
            for t in (
                schema.experiments, schema.runs, schema.metrics, schema.artifacts, schema.blobs,
                schema.dataset_versions, schema.model_versions, schema.jobs, schema.drift_reports,
            ):
                out[t.name] = conn.execute(select(func.count()).select_from(t)).scalar_one()
            # "metrics" counts points: rows written before columnar chunks plus chunk sizes
            out["metrics"] += conn.execute(
                select(func.coalesce(func.sum(schema.metric_chunks.c.n), 0))
            ).scalar_one()
        return out

    def known_blobs(self) -> dict[str, int]:
        with self.db.read() as conn:
            return dict(conn.execute(select(schema.blobs.c.digest, schema.blobs.c.size)).all())

    def referenced_blobs(self) -> set[str]:
        """Blobs some row points at (artifacts, datasets, models, jobs, drift reports)."""
        cols = [
            schema.artifacts.c.digest, schema.dataset_versions.c.blob, schema.model_versions.c.blob,
            schema.jobs.c.output_blob, schema.drift_reports.c.report_blob,
        ]
        out: set[str] = set()
        with self.db.read() as conn:
            for c in cols:
                out.update(d for (d,) in conn.execute(select(c).distinct()) if d)
        return out

    def put_blob_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes and register the blob (bytes first, row after)."""
        digest, size = self.blobs.put_bytes(data)
        self.db.write(lambda conn: self._register_blob(conn, digest, size))
        return digest, size

    def put_blob_file(self, path: str | Path, digest: str | None = None) -> tuple[str, int]:
        digest, size = self.blobs.put_file(path, digest=digest)
        self.db.write(lambda conn: self._register_blob(conn, digest, size))
        return digest, size

    def read_blob(self, digest: str) -> bytes:
        return self.blobs.get_bytes(digest)

    def read_blob_view(self, digest: str) -> memoryview:
        """A large blob's bytes, verified, as a read-only view (see
        :meth:`BlobStore.get_buffer`: one read, no extra copy)."""
        return self.blobs.get_buffer(digest)

    def materialize_blob(self, digest: str, dest: str | Path, root: str | Path | None = None) -> Path:
        """Write a verified copy of a blob at ``dest``; with ``root``, never through a
        symbolic link below ``root`` (see :meth:`BlobStore.materialize`)."""
        return self.blobs.materialize(digest, dest, root=root)


def nan_out(value: float | None) -> float:
    """Stored NULL means NaN (SQLite cannot hold NaN)."""
    return math.nan if value is None else float(value)


def nan_in(value: float) -> float | None:
    return None if math.isnan(value) else value


def row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def mapping_rows(rows: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]
