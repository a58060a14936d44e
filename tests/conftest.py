"""Shared fixtures: an isolated embedded store per test, and a real PostgreSQL database.

`mlops_home` gives every test its own `.mlops` folder and working directory and resets
the process-wide tracking state, so tests never see each other's runs. `pg_url` creates
a fresh database on the PostgreSQL server at 127.0.0.1:5432 (trust auth) and drops it
afterwards; in CI (CI=true) an unreachable server is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("MLOPS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _reset_state() -> None:
    from mlops_jupyter import store
    from mlops_jupyter.tracking import session

    session._reset_for_tests()
    store.reset()


@pytest.fixture
def mlops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / ".mlops"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOPS_HOME", str(home))
    for var in ("MLOPS_DB_URL", "MLOPS_ARTIFACTS_URL", "MLOPS_EXPERIMENT", "MLOPS_JOB_ID", "MLOPS_PARENT_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    _reset_state()
    yield home
    _reset_state()


def _pg_available() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001
        return str(e).splitlines()[0]


@pytest.fixture(scope="session")
def pg_server() -> str:
    why = _pg_available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required in CI: {why}")
        pytest.skip(f"PostgreSQL not reachable: {why}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database URL for one test."""
    import psycopg

    name = f"mlops_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    from mlops_jupyter import store

    store.reset()
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once on the embedded SQLite store and once on real PostgreSQL."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("MLOPS_DB_URL", url)
    return request.param
