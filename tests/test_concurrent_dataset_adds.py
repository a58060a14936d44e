"""Dataset adds that really overlap: processes released together at a barrier.

Processes started one after another rarely overlap (each spends most of its life
importing), so a race in version numbering or deduplication can pass such a test for
years. Here every worker does the slow part first (imports, opening the store, building
its frame), waits at a ``multiprocessing.Barrier``, and only then calls
``mj.datasets.add``: the adds run together, on SQLite and on PostgreSQL.

Same data from every worker must give one version; different data must give distinct
version numbers 1..N; no worker may see an error (an IntegrityError from two writers
picking the same number, or a "database is locked").
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from pathlib import Path

import numpy as np  # imported before forking: the workers start warm
import pandas as pd
import pytest

import mlops_jupyter as mj
import mlops_jupyter.datasets.ingest  # noqa: F401

WORKERS = 6


def _worker(barrier, queue, env: dict[str, str], seed: int, same: bool, kind: str) -> None:  # type: ignore[no-untyped-def]
    try:
        os.environ.update(env)
        from mlops_jupyter import store
        from mlops_jupyter.tracking import session

        session._reset_for_tests()
        store.reset()
        mj.get_store()  # open (and migrate) before the barrier: only the add is raced
        rng = np.random.default_rng(0 if same else seed)
        data: object = pd.DataFrame({"x": rng.normal(size=200), "k": rng.integers(0, 5, 200)})
        if kind == "file":  # the same path from every worker, or one file each
            path = Path(env["MLOPS_HOME"]).parent / ("same.csv" if same else f"part-{seed}.csv")
            if not same:
                data.to_csv(path, index=False)  # type: ignore[attr-defined]
            data = path
        barrier.wait(timeout=120)
        v = mj.datasets.add(data, name="shared")
        queue.put(("ok", seed, v.version, v.digest))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which fails the test
        queue.put(("error", seed, type(e).__name__, "".join(traceback.format_exception(e))[-2000:]))


def _race(env: dict[str, str], same: bool, kind: str) -> list[tuple[int, str]]:
    if kind == "file" and same:
        rng = np.random.default_rng(0)
        pd.DataFrame({"x": rng.normal(size=200), "k": rng.integers(0, 5, 200)}).to_csv(
            Path(env["MLOPS_HOME"]).parent / "same.csv", index=False)
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(barrier, queue, env, i, same, kind)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r for r in results if r[0] == "error"]
    assert not errors, "\n\n".join(f"worker {r[1]}: {r[2]}\n{r[3]}" for r in errors)
    return [(r[2], r[3]) for r in results]


def _env(backend: str, home: Path) -> dict[str, str]:
    env = {"MLOPS_HOME": str(home)}
    if backend == "postgres":
        env["MLOPS_DB_URL"] = os.environ["MLOPS_DB_URL"]
    return env


@pytest.mark.parametrize("kind", ["frame", "file"])
def test_same_data_at_a_barrier_gives_one_version(backend: str, mlops_home: Path, kind: str) -> None:
    got = _race(_env(backend, mlops_home), same=True, kind=kind)
    assert {v for v, _ in got} == {1}, got
    assert len({d for _, d in got}) == 1
    assert list(mj.datasets.list("shared")["ref"]) == ["shared@v1"]


@pytest.mark.parametrize("kind", ["frame", "file"])
def test_different_data_at_a_barrier_gives_distinct_versions(backend: str, mlops_home: Path, kind: str) -> None:
    got = _race(_env(backend, mlops_home), same=False, kind=kind)
    assert sorted(v for v, _ in got) == list(range(1, WORKERS + 1)), got
    assert len({d for _, d in got}) == WORKERS
    assert sorted(mj.datasets.list("shared")["ref"]) == sorted(f"shared@v{i}" for i in range(1, WORKERS + 1))


@pytest.fixture(autouse=True)
def _no_heartbeat_thread_in_children() -> None:
    """Forking copies no threads; nothing to do, but keep the parent free of an open
    store so the children do not inherit its connections."""
    from mlops_jupyter import store

    store.reset()
