"""Database engines tuned for many writers: WAL, busy timeout, BEGIN IMMEDIATE, retries.

SQLite allows one writer at a time. A deferred transaction that reads and then writes
can fail with "database is locked" *without* waiting for the busy timeout (the
read-to-write upgrade cannot wait), so every write transaction here takes the write
lock up front (``BEGIN IMMEDIATE``) and is retried with backoff a bounded number of
times. Reads use deferred transactions and, under WAL, never block writers.
"""

from __future__ import annotations

import os
import random
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from mlops_jupyter.config import redact_url
from mlops_jupyter.errors import AccessDeniedError, StoreConnectionError, StoreError

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
WRITE_ATTEMPTS = 12

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _dispose_after_fork() -> None:
    # A forked child must not reuse the parent's sockets or SQLite handles.
    for eng in list(_engines):
        eng.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_dispose_after_fork)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the pragmas and transaction rules described above."""
    try:
        if is_sqlite(url):
            engine = create_engine(
                url,
                connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            )
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as e:
        raise StoreConnectionError(
            f"cannot use database URL {redact_url(url)!r}: {e}. Accepted: an SQLAlchemy URL "
            "such as sqlite:///path/mlops.db or postgresql+psycopg://user@host/db "
            "(pip install 'mlops-jupyter[postgres]')"
        ) from None
    _engines.add(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        for attempt in range(WRITE_ATTEMPTS):
            try:
                cur.execute("PRAGMA journal_mode=WAL")
                break
            except Exception:  # noqa: BLE001 - locked while another process sets WAL
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        mode = conn.get_execution_options().get("mlops_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _is_transient(err: BaseException) -> bool:
    text = str(getattr(err, "orig", err)).lower()
    return any(
        s in text
        for s in (
            "database is locked",
            "database table is locked",
            "busy",
            "could not serialize",
            "deadlock detected",
        )
    )


def _is_connect_failure(err: BaseException) -> bool:
    text = str(getattr(err, "orig", err)).lower()
    return any(
        s in text
        for s in (
            "connection refused",
            "could not connect",
            "unable to open database",
            "password authentication",
            "does not exist",
            "name or service not known",
            "connection failed",
        )
    )


class Database:
    """An engine plus the two ways this package uses it: ``read()`` and ``write()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self.engine = make_engine(url)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn
        except sa_exc.OperationalError as e:
            raise self._wrap(e) from None
        except sa_exc.ProgrammingError as e:
            raise _denied(e) or e from None

    def write(self, fn: Callable[[Connection], T], *, retry_on_conflict: bool = False) -> T:
        """Run ``fn(conn)`` in one write transaction, retried on lock contention.

        With ``retry_on_conflict``, a unique-constraint violation (two processes
        allocating the same version number on PostgreSQL) is retried as well.
        Any exception rolls the whole transaction back: nothing half-written.
        """
        delay = 0.01
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.engine.connect() as conn:
                    if self.sqlite:
                        conn = conn.execution_options(mlops_begin="IMMEDIATE")
                    with conn.begin():
                        return fn(conn)
            except sa_exc.IntegrityError:
                if retry_on_conflict and attempt < WRITE_ATTEMPTS - 1:
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 0.5)
                    continue
                raise
            except sa_exc.ProgrammingError as e:
                raise _denied(e) or e from None
            except sa_exc.OperationalError as e:
                if _is_transient(e) and attempt < WRITE_ATTEMPTS - 1:
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 1.0)
                    continue
                raise self._wrap(e) from None
        raise StoreError("unreachable")  # pragma: no cover

    def _wrap(self, e: sa_exc.OperationalError) -> StoreError:
        where = redact_url(self.url)
        if _is_connect_failure(e):
            return StoreConnectionError(f"cannot connect to the store database {where}: {_short(e)}")
        return StoreError(f"store database {where} failed: {_short(e)}")

    def dispose(self) -> None:
        self.engine.dispose()


def _denied(e: sa_exc.DBAPIError) -> AccessDeniedError | None:
    """PostgreSQL's "insufficient privilege" (SQLSTATE 42501) as one clear error: the
    database, not this client, decided (roles and GRANTs, see docs/security.md)."""
    if getattr(e.orig, "sqlstate", None) != "42501":
        return None
    return AccessDeniedError(
        f"the database refused this for your role: {_short(e)}. Ask an admin for the "
        "right role (`mlops access grant USER reader|contributor|approver|admin`; "
        "`mlops access list` shows who has which)"
    )


def _short(e: BaseException) -> str:
    orig = getattr(e, "orig", e)
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__
