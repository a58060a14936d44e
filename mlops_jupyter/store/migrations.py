"""Versioned schema migrations, applied under a lock by exactly one process.

A new store is created from :mod:`schema` in one go and stamped with the current
version (the usual "create all, then stamp" rule). An older store is upgraded by the
steps in ``MIGRATIONS``, in order, while every other opener waits on the lock (a file
lock beside an SQLite database, an advisory lock on PostgreSQL). A store stamped with a
newer version than this package knows is refused: writing to it could corrupt it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from mlops_jupyter.errors import SchemaVersionError, StoreError
from mlops_jupyter.store import schema
from mlops_jupyter.store.engine import Database

_PG_LOCK_KEY = 0x6D6C6F7073  # "mlops"


def _v2_drift_reports(conn: Connection) -> None:
    schema.drift_reports.create(conn, checkfirst=True)


def _v3_decisions_and_monitors(conn: Connection) -> None:
    for t in (schema.model_version_rejections, schema.monitors, schema.monitor_checks,
              schema.monitor_alerts):
        t.create(conn, checkfirst=True)


def _v4_metric_chunks(conn: Connection) -> None:
    """Points move from one row each (``metrics``) to columnar chunks, one per
    (run, key): self-contained, so it can be renumbered when merged."""
    from itertools import groupby

    from mlops_jupyter.store.sql import points

    schema.metric_chunks.create(conn, checkfirst=True)
    M = schema.metrics
    rows = conn.execute(
        select(M.c.run_id, M.c.key, M.c.value, M.c.step, M.c.timestamp)
        .order_by(M.c.run_id, M.c.key, M.c.step, M.c.timestamp)
    )
    for (run_id, key), group in groupby(rows, key=lambda r: (r[0], r[1])):
        pts = [(key, float("nan") if r[2] is None else r[2], r[3], r[4]) for r in group]
        points.insert_chunks(conn, points.chunk_rows(run_id, points.group_by_key(pts)))
    conn.execute(M.delete())


def _v5_feature_repository(conn: Connection) -> None:
    for table in (schema.feature_definitions, schema.feature_materializations,
                  schema.feature_frame_columns):
        table.create(conn, checkfirst=True)


def _v6_compact_encodings(conn: Connection) -> None:
    """No table changes: from v6 a metric chunk may store regular steps as a range (an
    empty ``steps`` blob) and a dataset or feature materialisation may be an Arrow IPC
    blob. Stamping v6 makes an older release refuse the store with "upgrade" instead of
    misreading those rows."""


#: version -> step that upgrades a store from version-1 to version
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _v2_drift_reports,
    3: _v3_decisions_and_monitors,
    4: _v4_metric_chunks,
    5: _v5_feature_repository,
    6: _v6_compact_encodings,
}


def read_version(conn: Connection) -> int | None:
    """The stamped schema version, or None for an empty database."""
    if not inspect(conn).has_table(schema.schema_info.name):
        return None
    row = conn.execute(
        select(schema.schema_info.c.value).where(schema.schema_info.c.key == "version")
    ).first()
    return int(row[0]) if row else None


def _stamp(conn: Connection, version: int) -> None:
    t = schema.schema_info
    if conn.execute(select(t.c.key).where(t.c.key == "version")).first():
        conn.execute(t.update().where(t.c.key == "version").values(value=str(version)))
    else:
        conn.execute(t.insert().values(key="version", value=str(version)))
        conn.execute(t.insert().values(key="hash", value="blake3"))
        conn.execute(t.insert().values(key="created_at", value=repr(time.time())))


def _check(version: int | None) -> bool:
    """True when the store is current; raise when it is newer than we are."""
    if version is not None and version > schema.SCHEMA_VERSION:
        raise SchemaVersionError(
            f"this store has schema version {version}, but this mlops-jupyter only "
            f"knows versions up to {schema.SCHEMA_VERSION}: upgrade mlops-jupyter "
            "(pip install -U mlops-jupyter) to use it; it was left unchanged"
        )
    return version == schema.SCHEMA_VERSION


def ensure_schema(db: Database, lock_path: Path | None) -> int:
    """Create or upgrade the schema; return the version now in force."""
    with db.read() as conn:
        if _check(read_version(conn)):
            return schema.SCHEMA_VERSION
    if db.sqlite:
        from filelock import FileLock

        if lock_path is None:
            raise StoreError("an SQLite store needs a lock file path for migrations")
        with FileLock(str(lock_path), timeout=300):
            return db.write(_migrate)
    return db.write(_migrate_pg)


def _migrate_pg(conn: Connection) -> int:
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    return _migrate(conn)


def _migrate(conn: Connection) -> int:
    version = read_version(conn)  # re-read: another process may have done it
    if _check(version):
        return schema.SCHEMA_VERSION
    if version is None:
        schema.metadata.create_all(conn)
    else:
        for step in range(version + 1, schema.SCHEMA_VERSION + 1):
            MIGRATIONS[step](conn)
    _stamp(conn, schema.SCHEMA_VERSION)
    return schema.SCHEMA_VERSION
