"""Each SQLite write safeguard, checked on its own.

``Database.write`` has three: every write transaction starts with ``BEGIN IMMEDIATE``;
a "database is locked" error is retried with backoff; with ``retry_on_conflict`` a
unique-constraint violation is retried. The stress tests exercise them together, and
each covers for the others (a missing ``BEGIN IMMEDIATE`` turns into locked errors that
the retry then hides), so removing one of them went unnoticed. Here each is observed
directly: the statements SQLite receives, and a failure injected into one attempt.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from mlops_jupyter.errors import StoreError
from mlops_jupyter.store import engine as engine_mod
from mlops_jupyter.store.engine import Database

TABLE = "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'w.db'}")
    d.write(lambda c: c.exec_driver_sql(TABLE))
    yield d
    d.dispose()


def _statements(d: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(d.engine, "before_cursor_execute")
    def _capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()).upper())

    return seen


def _locked() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("INSERT INTO t ...", {}, sqlite3.OperationalError("database is locked"))


def _conflict() -> sa_exc.IntegrityError:
    return sa_exc.IntegrityError(
        "INSERT INTO t ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed: t.k"),
    )


def _rows(d: Database) -> list[tuple[int, str]]:
    with d.read() as c:
        return [tuple(r) for r in c.exec_driver_sql("SELECT k, v FROM t ORDER BY k")]


# -- BEGIN IMMEDIATE ----------------------------------------------------------------------
def test_write_transactions_begin_immediate_and_reads_deferred(db: Database) -> None:
    seen = _statements(db)
    db.write(lambda c: c.exec_driver_sql("INSERT INTO t VALUES (1, 'a')"))
    assert seen[0] == "BEGIN IMMEDIATE", seen
    assert "INSERT INTO T VALUES (1, 'A')" in seen
    seen.clear()
    with db.read() as c:
        c.exec_driver_sql("SELECT count(*) FROM t").scalar()
    assert seen[0] == "BEGIN DEFERRED", seen


def test_store_writes_go_through_begin_immediate(mlops_home: Path) -> None:
    """The real store, not only the helper: a run creation and a metric flush."""
    import mlops_jupyter as mj

    st = mj.get_store()
    seen = _statements(st.db)
    with mj.start_run("r"):
        mj.log_metric("m", 1.0)
    begins = [s for s in seen if s.startswith("BEGIN")]
    writes = [s for s in seen if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes and "BEGIN IMMEDIATE" in begins, seen


def test_read_then_write_transactions_do_not_fail_without_the_retry(
    db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BEGIN IMMEDIATE alone prevents the lock upgrade failure.

    Two transactions read, then write. Under a deferred BEGIN the second to write holds
    a stale snapshot and SQLite fails it at once with "database is locked" (the busy
    timeout cannot help an upgrade). With the lock retry switched off, only
    BEGIN IMMEDIATE (the second waits for the first before reading) keeps both working.
    """
    monkeypatch.setattr(engine_mod, "WRITE_ATTEMPTS", 1)
    a_read, b_read = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def tx(me: int, mine: threading.Event, other: threading.Event):  # type: ignore[no-untyped-def]
        def body(c):  # type: ignore[no-untyped-def]
            n = c.exec_driver_sql("SELECT count(*) FROM t").scalar()
            mine.set()
            other.wait(timeout=1.0)  # under IMMEDIATE the other is still waiting at BEGIN
            c.exec_driver_sql("INSERT INTO t VALUES (?, ?)", (me, f"seen {n}"))
        return body

    def run(me: int, mine: threading.Event, other: threading.Event, after: threading.Event | None) -> None:
        try:
            if after is not None:
                after.wait(timeout=5)
            db.write(tx(me, mine, other))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ta = threading.Thread(target=run, args=(1, a_read, b_read, None))
    tb = threading.Thread(target=run, args=(2, b_read, a_read, a_read))
    ta.start()
    tb.start()
    ta.join(30)
    tb.join(30)
    assert not errors, errors
    assert _rows(db) == [(1, "seen 0"), (2, "seen 1")]  # serialised: B saw A's row


# -- the retry on "database is locked" ------------------------------------------------------
def test_an_injected_lock_error_is_retried(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod.time, "sleep", lambda s: None)
    calls = []

    def body(c):  # type: ignore[no-untyped-def]
        calls.append(1)
        c.exec_driver_sql("INSERT INTO t VALUES (7, ?)", (f"attempt {len(calls)}",))
        if len(calls) < 3:
            raise _locked()  # after a write: the attempt must be rolled back
        return "done"

    assert db.write(body) == "done"
    assert len(calls) == 3
    assert _rows(db) == [(7, "attempt 3")]  # nothing left from the failed attempts


def test_lock_retry_is_bounded_and_other_errors_are_not_retried(
    db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_mod.time, "sleep", lambda s: None)
    calls = []

    def always_locked(c):  # type: ignore[no-untyped-def]
        calls.append(1)
        raise _locked()

    with pytest.raises(StoreError, match="database is locked"):
        db.write(always_locked)
    assert len(calls) == engine_mod.WRITE_ATTEMPTS
    calls.clear()

    def broken(c):  # type: ignore[no-untyped-def]
        calls.append(1)
        raise sa_exc.OperationalError("x", {}, sqlite3.OperationalError("no such table: nope"))

    with pytest.raises(StoreError, match="no such table"):
        db.write(broken)
    assert len(calls) == 1


def test_a_real_lock_is_waited_for(db: Database, tmp_path: Path) -> None:
    """Another connection holding the write lock: the write waits, then succeeds."""
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1, 'other')")
    timer = threading.Timer(0.5, lambda: (other.execute("COMMIT"), other.close()))
    timer.start()
    db.write(lambda c: c.exec_driver_sql("INSERT INTO t VALUES (2, 'mine')"))
    timer.join()
    assert _rows(db) == [(1, "other"), (2, "mine")]


# -- the retry on a unique conflict -------------------------------------------------------
def test_a_unique_conflict_is_retried_when_asked(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod.time, "sleep", lambda s: None)
    db.write(lambda c: c.exec_driver_sql("INSERT INTO t VALUES (1, 'first')"))
    calls = []

    def allocate(c):  # type: ignore[no-untyped-def]
        calls.append(1)
        # first attempt: a stale "max + 1" (another writer took it meanwhile)
        nxt = 1 if len(calls) == 1 else c.exec_driver_sql("SELECT max(k) + 1 FROM t").scalar()
        c.exec_driver_sql("INSERT INTO t VALUES (?, 'second')", (nxt,))
        return nxt

    assert db.write(allocate, retry_on_conflict=True) == 2
    assert len(calls) == 2
    assert _rows(db) == [(1, "first"), (2, "second")]


def test_a_unique_conflict_is_raised_when_not_asked(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod.time, "sleep", lambda s: None)
    calls = []

    def body(c):  # type: ignore[no-untyped-def]
        calls.append(1)
        raise _conflict()

    with pytest.raises(sa_exc.IntegrityError):
        db.write(body)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(sa_exc.IntegrityError):
        db.write(body, retry_on_conflict=True)  # bounded as well
    assert len(calls) == engine_mod.WRITE_ATTEMPTS
