"""Access control enforced by PostgreSQL itself: two real database logins, one a
contributor whose promotion the database refuses, one an approver. SQLite is single
user and says so."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter import store
from mlops_jupyter.cli import main
from mlops_jupyter.errors import AccessDeniedError, NotFoundError, UsageError

ROLES = ("reader", "contributor", "approver", "admin")


def _clf():  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    return LogisticRegression().fit(X, (X["a"] > 0).astype(int))


def _admin(dbname: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={dbname}", autocommit=True)


@pytest.fixture
def logins(pg_url: str, mlops_home: Path) -> Iterator[tuple[str, str, str]]:
    """(owner URL, contributor login, approver login): LOGIN roles with unique names,
    dropped afterwards with everything granted to them and the store's group roles."""
    dbname = pg_url.rsplit("/", 1)[1]
    tag = uuid.uuid4().hex[:10]
    alice, bob = f"alice_{tag}", f"bob_{tag}"
    with _admin(dbname) as c:
        for u in (alice, bob):
            c.execute(f'CREATE ROLE "{u}" LOGIN')
    yield pg_url, alice, bob
    store.reset()
    with _admin(dbname) as c:
        roles = [alice, bob] + [f"{dbname[:48]}_{r}" for r in ROLES]
        existing = [r for (r,) in c.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (roles,))]
        for r in existing:
            c.execute(f'DROP OWNED BY "{r}"')
    with _admin("postgres") as c:
        c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        for r in existing:
            c.execute(f'DROP ROLE IF EXISTS "{r}"')


def _as(url: str, user: str) -> str:
    return url.replace("postgres@", f"{user}@", 1)


def test_database_refuses_the_contributors_promotion(
    logins: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    owner, alice, bob = logins
    monkeypatch.setenv("MLOPS_DB_URL", owner)
    mj.init()
    assert main(["access", "grant", alice, "contributor"]) == 0
    assert main(["access", "grant", bob, "approver"]) == 0
    capsys.readouterr()
    assert main(["access", "list", "--json"]) == 0
    import json

    listed = json.loads(capsys.readouterr().out)
    assert {"user": alice, "role": "contributor"} in listed and {"user": bob, "role": "approver"} in listed

    monkeypatch.setenv("MLOPS_USER", "mallory")  # claims mean nothing on PostgreSQL
    store.reset()
    mj.init(db_url=_as(owner, alice))
    with mj.start_run("alice-run") as run:
        mj.log_metric("auc", 0.9)
    assert mj.get_run(run.id).user == alice
    mv = mj.models.register(_clf(), "churn")
    assert mv.creator == alice
    with pytest.raises(AccessDeniedError, match="refused"):
        mj.models.promote("churn@v1", "production", reason="ship it", force=True)
    with pytest.raises(AccessDeniedError):
        mj.models.trust("churn@v1", reason="looks fine")
    with pytest.raises(AccessDeniedError):
        mj.models.set_rules("churn", "production", require=["auc>=0.5"])
    # bypassing the client entirely: raw SQL as alice is refused too
    import psycopg

    dbname = owner.rsplit("/", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port=5432 user={alice} dbname={dbname}") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("UPDATE model_versions SET trusted = true")
    with psycopg.connect(f"host=127.0.0.1 port=5432 user={alice} dbname={dbname}") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM audit_log")
    with pytest.raises(NotFoundError):  # nothing moved
        mj.models.get("churn@production")

    store.reset()
    mj.init(db_url=_as(owner, bob))
    mj.models.promote("churn@v1", "production", reason="reviewed")
    st = mj.get_store()
    from sqlalchemy import text

    with st.db.read() as conn:
        who = dict(conn.execute(text('SELECT action, "user" FROM audit_log')).all())
    assert who["register"] == alice and who["promote"] == bob
    assert mj.models.get("churn@production").version == 1


def test_sqlite_store_is_single_user(mlops_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mj.init()
    assert main(["access", "grant", "someone", "approver"]) == 2
    assert "single-user" in capsys.readouterr().err
    from mlops_jupyter.tracking import access

    assert access.whoami() is None
    with pytest.raises(UsageError, match="single-user"):
        access.list_access()
