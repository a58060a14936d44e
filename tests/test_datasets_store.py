"""Store-level dataset behaviour on SQLite and real PostgreSQL: numbering, dedup under
concurrency, lineage, interrupted adds."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.store import schema as S


def frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(n), "x": rng.normal(size=n), "g": rng.choice(["a", "b"], n)})


def test_versions_lineage_and_inputs_of_run(backend: str) -> None:
    with mj.start_run(name="prep") as run:
        v1 = mj.datasets.add(frame(), name="sales")
        same = mj.datasets.add(frame(), name="sales")  # a re-add is still a use
        other = mj.datasets.add(frame(seed=2), name="other")
    assert same.ref == v1.ref
    with mj.start_run(name="train") as run2:
        df = mj.datasets.load("sales@v1")
        assert len(df) == 200
    assert [v.ref for v in mj.datasets.inputs_of_run(run.id)] == ["sales@v1", "other@v1"]
    assert [v.ref for v in mj.datasets.inputs_of_run(run2.id[:8])] == ["sales@v1"]
    lin = mj.datasets.lineage("sales@v1")
    assert set(lin["id"]) == {run.id, run2.id} and set(lin["kind"]) == {"run"}
    assert mj.datasets.lineage(other)["name"].tolist() == ["prep"]
    assert v1.run_id == run.id
    v2 = mj.datasets.add(frame(300), name="sales")
    assert (v2.version, v2.parent_version) == (2, 1)
    assert mj.datasets.lineage(v2).empty  # added outside a run


def test_lineage_lists_models_trained_on_a_version(backend: str) -> None:
    v = mj.datasets.add(frame(), name="train")
    st = mj.get_store()
    now = time.time()

    def tx(conn):  # what the registry writes; inserted directly to test our query
        conn.execute(S.registered_models.insert().values(id="m" * 32, name="churn", created_at=now))
        conn.execute(S.blobs.insert().values(digest="0" * 64, size=1, created_at=now))
        conn.execute(S.model_versions.insert().values(
            id="v" * 32, model_id="m" * 32, version=3, blob="0" * 64, flavor="sklearn",
            trusted=False, created_at=now,
        ))
        conn.execute(S.model_version_datasets.insert().values(
            model_version_id="v" * 32, dataset_version_id=v.id,
        ))

    st.db.write(tx)
    lin = mj.datasets.lineage("train")
    assert lin.loc[lin["kind"] == "model", "name"].tolist() == ["churn@v3"]


def _add_worker(home: str, db_url: str | None, path: str, q) -> None:  # type: ignore[no-untyped-def]
    os.environ["MLOPS_HOME"] = home
    if db_url:
        os.environ["MLOPS_DB_URL"] = db_url
    import pandas as pd

    import mlops_jupyter as mj

    df = pd.read_parquet(path)
    out = []
    for _ in range(3):
        out.append(mj.datasets.add(df, name="shared").ref)
    q.put(out)


def test_concurrent_adds_of_same_data_give_one_version(backend: str, mlops_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    frame(5000).to_parquet(path)
    mj.init()  # create the schema once, like a project does
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [
        ctx.Process(target=_add_worker, args=(str(mlops_home), os.environ.get("MLOPS_DB_URL"), str(path), q))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert {r for rs in results for r in rs} == {"shared@v1"}
    assert mj.get_store().counts()["dataset_versions"] == 1


def test_concurrent_adds_of_different_data_get_distinct_numbers(backend: str, mlops_home: Path) -> None:
    mj.init()
    code = textwrap.dedent("""
        import sys, numpy as np, pandas as pd, mlops_jupyter as mj
        seed = int(sys.argv[1])
        df = pd.DataFrame({"x": np.random.default_rng(seed).normal(size=1000)})
        print(mj.datasets.add(df, name="many").ref)
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(i)], stdout=subprocess.PIPE, text=True)
        for i in range(5)
    ]
    refs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(refs) == [f"many@v{i}" for i in range(1, 6)]


KILL_SCRIPT = textwrap.dedent("""
    import os, sys, time, numpy as np, pandas as pd
    import mlops_jupyter as mj
    from mlops_jupyter.store.sql import datasets as sqlds
    stage = sys.argv[1]
    df = pd.DataFrame({"x": np.arange(10_000) * 1.5, "s": ["v%d" % i for i in range(10_000)]})
    st = mj.get_store()
    if stage == "after_blob":
        real = sqlds.SqlDatasets.create_dataset_version
        def hang(self, new):
            print("BLOB-WRITTEN", flush=True)
            time.sleep(60)
        sqlds.SqlDatasets.create_dataset_version = hang
    elif stage == "during_blob":
        real_write = st.blobs._write_stream
        def slow(digest, src, expect=None):
            class Slow:
                def read(self, n):
                    time.sleep(0.05)
                    print("WRITING", flush=True)
                    return src.read(min(n, 4096))
            return real_write(digest, Slow(), expect)
        st.blobs._write_stream = slow
    print(mj.datasets.add(df, name="interrupted").ref, flush=True)
""")


@pytest.mark.parametrize("stage", ["during_blob", "after_blob"])
def test_kill_9_mid_add_leaves_nothing_visible_and_rerun_completes(
    backend: str, mlops_home: Path, stage: str,
) -> None:
    mj.init()
    p = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, stage], stdout=subprocess.PIPE, text=True)
    marker = "BLOB-WRITTEN" if stage == "after_blob" else "WRITING"
    assert p.stdout is not None
    for line in p.stdout:
        if marker in line:
            break
    os.kill(p.pid, signal.SIGKILL)
    p.wait(30)
    st = mj.get_store()
    assert st.counts()["dataset_versions"] == 0
    with pytest.raises(mj.errors.NotFoundError):
        mj.datasets.get("interrupted")
    out = subprocess.run([sys.executable, "-c", KILL_SCRIPT, "none"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "interrupted@v1"
    df = mj.datasets.load("interrupted")
    assert len(df) == 10_000 and df["s"].iloc[-1] == "v9999"


def test_keyboard_interrupt_during_hashing_changes_nothing(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_jupyter.datasets import hashing

    def boom(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr(hashing, "frame_digest", boom)
        m.setattr(hashing, "fast_frame_digest", boom)
        mj.datasets.add(frame(), name="ki")
    assert mj.get_store().counts()["dataset_versions"] == 0
    assert mj.datasets.add(frame(), name="ki").ref == "ki@v1"


def test_file_hash_cache_is_per_fingerprint(backend: str, tmp_path: Path) -> None:
    f = tmp_path / "d.bin"
    f.write_bytes(b"a" * 1000)
    v1 = mj.datasets.add(f, name="bin")
    # same size, same mtime, different bytes: ctime/inode still reveal the change
    st = f.stat()
    tmp = tmp_path / "d.new"
    tmp.write_bytes(b"b" * 1000)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    tmp.replace(f)
    v2 = mj.datasets.add(f, name="bin")
    assert v2.version == 2 and v2.digest != v1.digest


def _case_worker(home: str, db_url: str | None, name: str, q) -> None:  # type: ignore[no-untyped-def]
    os.environ["MLOPS_HOME"] = home
    if db_url:
        os.environ["MLOPS_DB_URL"] = db_url
    import pandas as pd

    import mlops_jupyter as mj
    from mlops_jupyter.errors import InvalidNameError

    try:
        q.put(("ok", mj.datasets.add(pd.DataFrame({"a": [1, 2, 3]}), name=name).name))
    except InvalidNameError as e:
        q.put(("refused", str(e)))


def test_racing_names_differing_in_case_leave_one_dataset(backend: str, mlops_home: Path) -> None:
    mj.init()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    names = ["Race", "race", "RACE", "rAce"]
    procs = [
        ctx.Process(target=_case_worker, args=(str(mlops_home), os.environ.get("MLOPS_DB_URL"), n, q))
        for n in names
    ]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    winners = {name for status, name in results if status == "ok"}
    assert len(winners) == 1, results
    assert all("differs only in letter case" in msg for status, msg in results if status == "refused")
    assert list(mj.datasets.list()["name"]) == list(winners)
