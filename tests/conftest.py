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


# -- object storage: moto's S3 server on a free loopback port (issue 13) ----------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-API server (moto's server mode, what s3fs itself tests against)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"moto[server] is required in CI: {e}")
        pytest.skip(f"moto[server] not installed: {e}")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_url(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the S3 server; the environment points every process at it
    (kernels and Dask workers inherit it). Returns ``s3://bucket/artifacts``."""
    import fsspec

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_server,
                 "FSSPEC_S3_ENDPOINT_URL": s3_server}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_server})
    bucket = f"mlops-test-{uuid.uuid4().hex[:12]}"
    fs = fsspec.filesystem("s3", endpoint_url=s3_server, key="testing", secret="testing")
    fs.mkdir(bucket)
    return f"s3://{bucket}/artifacts"
