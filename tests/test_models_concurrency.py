"""Many processes at once: distinct version numbers, alias compare-and-set with exactly
one winner, and an audit chain without gaps — on SQLite and on real PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import traceback
from typing import Any

import numpy as np
import pytest

import mlops_jupyter as mj

N_REGISTER = 16
N_ALIAS = 8
CTX = mp.get_context("fork")


def _model() -> Any:
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.8], [0.9, 0.2]])
    return LogisticRegression().fit(X, [0, 1, 0, 1]), X


def _child_register(barrier: Any, out: Any, i: int) -> None:
    try:
        from mlops_jupyter import store
        from mlops_jupyter.tracking import session

        session._reset_for_tests()
        store.reset()
        clf, X = _model()
        barrier.wait(timeout=60)
        mv = mj.models.register(clf, "churn", signature=X, run=False, tags={"writer": str(i)})
        out.put(("ok", i, mv.version))
    except BaseException:  # noqa: BLE001 - report to the parent
        out.put(("error", i, traceback.format_exc()))


def _child_promote(barrier: Any, out: Any, version: int, expected: Any) -> None:
    try:
        from mlops_jupyter import store
        from mlops_jupyter.errors import ConflictError
        from mlops_jupyter.tracking import session

        session._reset_for_tests()
        store.reset()
        kwargs = {} if expected == "any" else {"expected_current": expected}
        barrier.wait(timeout=60)
        try:
            mj.models.promote(f"churn@v{version}", "production", reason=f"p{version}", **kwargs)
            out.put(("ok", version, None))
        except ConflictError as e:
            out.put(("conflict", version, str(e)))
    except BaseException:  # noqa: BLE001
        out.put(("error", version, traceback.format_exc()))


def _run(target: Any, args_list: list[tuple[Any, ...]]) -> list[tuple[str, Any, Any]]:
    import skops.io  # noqa: F401 - imported once here, not 16 times on 2 cores in the children

    barrier = CTX.Barrier(len(args_list))
    out = CTX.Queue()
    procs = [CTX.Process(target=target, args=(barrier, out, *a)) for a in args_list]
    for p in procs:
        p.start()
    results = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    errors = [r for r in results if r[0] == "error"]
    assert not errors, errors[0][2]
    return results


@pytest.mark.slow
def test_sixteen_processes_registering_one_name_get_distinct_versions(backend: str) -> None:
    mj.get_store()  # create the schema first, as a user's first cell would
    results = _run(_child_register, [(i,) for i in range(N_REGISTER)])
    versions = sorted(r[2] for r in results)
    assert versions == list(range(1, N_REGISTER + 1))
    stored = mj.models.versions("churn")
    assert [v.version for v in stored] == versions
    assert sorted(v.tags["writer"] for v in stored) == sorted(str(i) for i in range(N_REGISTER))
    assert [e.action for e in mj.models.events("churn")] == ["register"] * N_REGISTER
    assert len(mj.models.list_models()) == 1


@pytest.mark.slow
def test_concurrent_alias_moves_compare_and_set_has_one_winner(backend: str) -> None:
    clf, X = _model()
    for _ in range(N_ALIAS + 1):
        mj.models.register(clf, "churn", signature=X, run=False)
    mj.models.promote("churn@v1", "production", reason="start")
    results = _run(_child_promote, [(v, 1) for v in range(2, N_ALIAS + 2)])
    winners = [r[1] for r in results if r[0] == "ok"]
    assert len(winners) == 1, results
    assert all("someone else moved it" in r[2] for r in results if r[0] == "conflict")
    assert mj.models.get("churn@production").version == winners[0]
    moves = mj.models.events("churn", "production")
    assert [(e.from_version, e.to_version) for e in moves] == [(None, 1), (1, winners[0])]


@pytest.mark.slow
def test_concurrent_unconditional_alias_moves_form_an_unbroken_audit_chain(backend: str) -> None:
    clf, X = _model()
    for _ in range(N_ALIAS + 1):
        mj.models.register(clf, "churn", signature=X, run=False)
    mj.models.promote("churn@v1", "production", reason="start")
    results = _run(_child_promote, [(v, "any") for v in range(2, N_ALIAS + 2)])
    assert all(r[0] == "ok" for r in results), results
    moves = mj.models.events("churn", "production")
    assert len(moves) == N_ALIAS + 1
    for prev, cur in zip(moves, moves[1:], strict=False):
        assert cur.from_version == prev.to_version  # no lost update between movers
    assert sorted(m.to_version for m in moves[1:]) == list(range(2, N_ALIAS + 2))
    assert mj.models.get("churn@production").version == moves[-1].to_version
