"""Read-only looks into databases this package does not own (an MLflow store to import).

The interop layer must know whether a database *is* an MLflow store before it hands the
URL to MLflow: MLflow's SQL store creates its tables in any database it is pointed at,
so a mistyped path would turn the user's own file into an MLflow store. Only this
module (inside ``store/``, the one layer that speaks SQL) opens such a database, and it
never writes: SQLite files are opened with ``mode=ro``.
"""

from __future__ import annotations

from pathlib import Path

from mlops_jupyter.config import redact_url
from mlops_jupyter.errors import StoreConnectionError, UsageError


def sqlite_table_names(path: str | Path) -> set[str]:
    """Table names of an existing SQLite file, opened read-only."""
    import sqlite3
    from urllib.parse import quote

    p = Path(path)
    try:
        conn = sqlite3.connect(f"file:{quote(str(p.resolve()))}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as e:
        raise StoreConnectionError(f"cannot open {str(p)!r} as an SQLite database: {e}") from None
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as e:
        raise UsageError(f"{str(p)!r} is not an SQLite database ({e})") from None
    finally:
        conn.close()
    return {r[0] for r in rows}


def sql_table_names(url: str, timeout: float = 10.0) -> set[str]:
    """Table names of a database server's database (PostgreSQL, MySQL), read-only."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy import exc as sa_exc

    args = {"connect_timeout": int(timeout)} if url.startswith(("postgresql", "mysql")) else {}
    try:
        engine = create_engine(url, connect_args=args)
    except (ImportError, sa_exc.ArgumentError, sa_exc.NoSuchModuleError) as e:
        raise UsageError(f"cannot use database URL {redact_url(url)}: {e}") from None
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    except sa_exc.DBAPIError as e:
        first = str(getattr(e, "orig", e)).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StoreConnectionError(f"cannot reach the database {redact_url(url)}: {first}") from None
    finally:
        engine.dispose()
