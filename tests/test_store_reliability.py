"""What the store promises under stress: many writers, killed writers, old and new
schemas, tampered blobs, unreachable databases."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mlops_jupyter as mj
from mlops_jupyter import store
from mlops_jupyter.config import StoreConfig, resolve
from mlops_jupyter.errors import (
    IntegrityError,
    SchemaVersionError,
    StoreConnectionError,
    StoreError,
)

WORKER = textwrap.dedent(
    """
    import sys, mlops_jupyter as mj
    i, runs, points = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    mj.set_experiment("stress")
    for r in range(runs):
        with mj.start_run(f"w{i}-r{r}", params={"worker": i, "r": r}) as run:
            for s in range(points):
                mj.log_metric("loss", s * 1.0)
                if s % 50 == 0:
                    mj.flush()  # many small transactions: maximise contention
            mj.log_artifact(f"worker {i} run {r}".encode(), name="note.txt")
    print("ok")
    """
)


def _spawn(code: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(extra)
    return env


@pytest.mark.slow
def test_16_processes_write_one_sqlite_store(mlops_home: Path) -> None:
    env = _env(MLOPS_HOME=str(mlops_home))
    procs = [_spawn(WORKER, str(i), "3", "300", env=env) for i in range(16)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "locked" not in err.lower()
    df = mj.runs(experiment="stress")
    assert len(df) == 48 and set(df["status"]) == {"FINISHED"}
    assert (df["metrics.loss"] == 299.0).all()
    counts = mj.get_store().counts()
    assert counts["metrics"] == 48 * 300  # every point present
    assert counts["artifacts"] >= 48


def test_new_store_opened_by_many_processes_at_once(tmp_path: Path) -> None:
    from mlops_jupyter.store.schema import SCHEMA_VERSION

    """MLflow crashed in schema migration with 4 processes on a new DB (ANCHORS.md)."""
    home = tmp_path / "fresh" / ".mlops"
    code = "import mlops_jupyter as mj; mj.init(); mj.set_experiment('x'); print('ok')"
    procs = [_spawn(code, env=_env(MLOPS_HOME=str(home))) for _ in range(12)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    con = sqlite3.connect(home / "mlops.db")
    assert con.execute("select value from mlops_schema where key='version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert con.execute("select count(*) from experiments").fetchone()[0] == 1


def test_kill_9_leaves_store_intact_and_run_marked_killed(mlops_home: Path) -> None:
    code = textwrap.dedent(
        """
        import time, mlops_jupyter as mj
        with mj.start_run("victim") as run:
            print(run.id, flush=True)
            i = 0
            while True:
                mj.log_metric("x", i); i += 1
                if i % 1000 == 0:
                    mj.flush()
        """
    )
    p = _spawn(code, env=_env(MLOPS_HOME=str(mlops_home)))
    assert p.stdout is not None
    run_id = p.stdout.readline().strip()
    time.sleep(1.5)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    st = mj.get_store()
    got = st.get_run(run_id)  # reading reaps: the process is gone
    assert got.status == "KILLED" and got.ended_by == "reaper"
    assert got.error and got.error["type"] == "ProcessDied"
    con = sqlite3.connect(mlops_home / "mlops.db")
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    n = con.execute("select coalesce(sum(n), 0) from metric_chunks where run_id=?", (run_id,)).fetchone()[0]
    summary = con.execute("select count from metric_summary where run_id=?", (run_id,)).fetchone()[0]
    assert n > 0 and n == summary  # points and their summary committed together
    # the store keeps working
    with mj.start_run("after"):
        mj.log_metric("y", 1)


def test_heartbeat_from_other_host_goes_stale(mlops_home: Path) -> None:
    from mlops_jupyter.store import schema
    from mlops_jupyter.store.sql import runs as sql_runs

    st = mj.get_store()
    exp = st.get_or_create_experiment("default")
    run = st.create_run(experiment_id=exp.id, name="remote", host="elsewhere", pid=1)
    st.reap_stale_runs(force=True)
    assert st.get_run(run.id).status == "RUNNING"  # recent heartbeat
    old = time.time() - sql_runs.STALE_AFTER - 5
    st.db.write(lambda c: c.execute(schema.runs.update().values(heartbeat_at=old)))
    st.reap_stale_runs(force=True)
    assert st.get_run(run.id).status == "KILLED"
    st.heartbeat([run.id], time.time())  # the process was only paused: it revives
    assert st.get_run(run.id).status == "RUNNING"


def test_old_store_is_upgraded(mlops_home: Path) -> None:
    mj.init()
    with mj.start_run("kept"):
        mj.log_metric("m", 1.0)
    store.reset()
    con = sqlite3.connect(mlops_home / "mlops.db")
    con.execute("drop table drift_reports")  # what a version-1 store looked like
    con.execute("update mlops_schema set value='1' where key='version'")
    con.commit()
    con.close()
    mj.init()
    st = mj.get_store()
    from mlops_jupyter.store.schema import SCHEMA_VERSION

    assert st.schema_version == SCHEMA_VERSION
    assert st.counts()["drift_reports"] == 0
    assert len(mj.runs()) == 1  # data kept


def test_newer_store_is_refused_and_left_unchanged(mlops_home: Path) -> None:
    mj.init()
    store.reset()
    db = mlops_home / "mlops.db"
    con = sqlite3.connect(db)
    con.execute("update mlops_schema set value='99' where key='version'")
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(SchemaVersionError, match="schema version 99.*upgrade mlops-jupyter"):
        mj.init()
    assert db.read_bytes() == before


def test_tampered_and_truncated_blobs_detected(mlops_home: Path) -> None:
    with mj.start_run() as run:
        art = mj.log_artifact(b"precious bytes" * 100, name="data.bin")
    st = mj.get_store()
    path = st.blobs.local_path(art.digest)
    assert path is not None
    os.chmod(path, 0o644)
    path.write_bytes(b"evil" + path.read_bytes()[4:])
    with pytest.raises(IntegrityError, match=f"expected hash {art.digest}, actual"):
        st.read_artifact(run.id, "data.bin")
    path.write_bytes(b"precious")  # truncated
    with pytest.raises(IntegrityError):
        st.read_artifact(run.id, "data.bin")
    from mlops_jupyter.cli import main

    assert main(["doctor", "--verify"]) == 1
    path.unlink()
    report = __import__("mlops_jupyter.tracking.doctor", fromlist=["diagnose"]).diagnose(verify=True)
    assert report["missing blobs"] == [art.digest]


def test_doctor_reports_orphans_and_clean_store(mlops_home: Path, capsys) -> None:
    from mlops_jupyter.cli import main
    from mlops_jupyter.tracking.doctor import diagnose

    with mj.start_run():
        mj.log_artifact(b"abc", name="a.bin")
    assert main(["doctor", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "schema version" in out and str(mlops_home) in out
    orphan_digest, _ = mj.get_store().blobs.put_bytes(b"nobody points at me")
    report = diagnose(verify=True)
    assert report["orphan blobs (not in metadata)"] == [orphan_digest]
    assert report["problems"] == []  # an orphan wastes space but breaks nothing


def test_unreachable_database_message_hides_password(tmp_path: Path) -> None:
    cfg = StoreConfig(
        db_url="postgresql+psycopg://alice:hunter2@127.0.0.1:1/nodb",
        artifacts_url=str(tmp_path / "a"),
    )
    with pytest.raises(StoreConnectionError) as info:
        store.open_store(cfg)
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_bad_database_url(tmp_path: Path) -> None:
    with pytest.raises(StoreConnectionError, match="Accepted"):
        store.open_store(StoreConfig(db_url="nosuchdb://x", artifacts_url=str(tmp_path)))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_store_folder(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(StoreError):
        store.open_store(resolve(home=ro / "sub" / ".mlops"))


def test_store_folder_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create the store folder"):
        store.open_store(resolve(home=blocker / ".mlops"))


def test_postgres_many_processes(pg_url: str, tmp_path: Path) -> None:
    env = _env(MLOPS_DB_URL=pg_url, MLOPS_ARTIFACTS_URL=str(tmp_path / "artifacts"), MLOPS_HOME=str(tmp_path / ".mlops"))
    procs = [_spawn(WORKER, str(i), "2", "100", env=env) for i in range(6)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    st = store.open_store(StoreConfig(db_url=pg_url, artifacts_url=str(tmp_path / "artifacts")))
    assert st.counts()["metrics"] == 6 * 2 * 100
    assert st.counts()["runs"] == 12


def test_store_discovery_walks_up_like_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_jupyter.config import find_home

    monkeypatch.delenv("MLOPS_HOME", raising=False)
    proj = tmp_path / "proj"
    (proj / "a" / "b").mkdir(parents=True)
    (proj / "pyproject.toml").write_text("")
    assert find_home(proj / "a" / "b") == proj / ".mlops"  # nearest project root
    (proj / "a" / ".mlops").mkdir()
    assert find_home(proj / "a" / "b") == proj / "a" / ".mlops"  # an existing store wins
    bare = tmp_path / "bare"
    bare.mkdir()
    monkeypatch.chdir(bare)
    assert resolve().home in (bare / ".mlops", *[p / ".mlops" for p in bare.parents])
    monkeypatch.setenv("MLOPS_DB_URL", "sqlite:////tmp/x.db")
    monkeypatch.setenv("MLOPS_ARTIFACTS_URL", "memory://bucket/a")
    cfg = resolve()
    assert cfg.db_url == "sqlite:////tmp/x.db" and cfg.artifacts_url == "memory://bucket/a"


def test_fsspec_artifact_store(tmp_path: Path) -> None:
    cfg = StoreConfig(db_url=f"sqlite:///{tmp_path / 'm.db'}", artifacts_url="memory://mlops-test/artifacts")
    st = store.open_store(cfg)
    exp = st.get_or_create_experiment("e")
    run = st.create_run(experiment_id=exp.id, name="r")
    a = st.put_artifact_bytes(run.id, "x.bin", b"remote bytes")
    assert st.read_artifact(run.id, "x.bin") == b"remote bytes"
    assert st.blobs.verify(a.digest) is None
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe(f"/mlops-test/artifacts/{a.digest[:2]}/{a.digest[2:]}", b"tampered")
    with pytest.raises(IntegrityError):
        st.read_artifact(run.id, "x.bin")


def test_buffered_points_written_at_exit_and_uncaught_error_fails_run(mlops_home: Path) -> None:
    env = _env(MLOPS_HOME=str(mlops_home))
    ok = textwrap.dedent(
        """
        import mlops_jupyter as mj
        run = mj.start_run("script")          # never ended, never flushed
        for i in range(5000):
            mj.log_metric("x", i)
        """
    )
    p = subprocess.run([sys.executable, "-c", ok], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    crash = ok + "\nraise RuntimeError('boom at the end')\n"
    p = subprocess.run([sys.executable, "-c", crash], env=env, capture_output=True, text=True)
    assert p.returncode == 1 and "boom at the end" in p.stderr
    df = mj.runs()
    assert len(df) == 2
    by_status = dict(zip(df["status"], df["run_id"], strict=True))
    assert set(by_status) == {"FINISHED", "FAILED"}
    for run_id in by_status.values():
        assert mj.get_run(run_id).metrics["x"].count == 5000  # nothing acknowledged was lost
    failed = mj.get_run(by_status["FAILED"])
    assert failed.error["type"] == "RuntimeError" and failed.ended_by == "exit"


def test_failed_init_keeps_the_working_store_and_secrets_stay_hidden(mlops_home: Path, capsys) -> None:
    mj.init()
    with mj.start_run("kept"):
        pass
    with pytest.raises(StoreConnectionError) as info:
        mj.init(db_url="postgresql+psycopg://user@127.0.0.1:1/db?password=TOPSECRET")
    assert "TOPSECRET" not in str(info.value) and "password=***" in str(info.value)
    assert len(mj.runs()) == 1  # still on the store that works
    with pytest.raises(StoreError, match="needs a package|cannot open"):
        mj.init(artifacts_url="nosuchproto://bucket/x")
    assert len(mj.runs()) == 1
    cfg = StoreConfig(db_url="postgresql://u:TOPSECRET@h/db", artifacts_url="memory://k:TOPSECRET@b/x")
    assert "TOPSECRET" not in repr(cfg)
    from mlops_jupyter.cli import main

    assert main(["--db", "postgresql+psycopg://u@127.0.0.1:1/x?sslpassword=TOPSECRET", "runs"]) == 1
    err = capsys.readouterr().err
    assert "TOPSECRET" not in err and "cannot connect" in err


def test_out_of_range_steps_and_huge_values_are_refused_not_poisoning_the_buffer(mlops_home: Path) -> None:
    from mlops_jupyter.errors import UsageError

    with mj.start_run() as run:
        for i in range(5):
            mj.log_metric("good", i, step=i)
        with pytest.raises(UsageError, match="64-bit"):
            mj.log_metric("bad", 1.0, step=2**70)
        with pytest.raises(UsageError, match="too large"):
            mj.log_metric("bad", 10**400)
        with pytest.raises(UsageError, match="timestamp"):
            mj.log_metric("bad", 1.0, timestamp="yesterday")
        mj.log_metric("after", 3.0)
    got = mj.get_run(run.id)
    assert got.status == "FINISHED" and got.metrics["good"].count == 5 and got.metrics["after"].last == 3.0
    assert "bad" not in got.metrics


def test_a_run_whose_final_flush_fails_ends_failed(mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = mj.start_run("doomed")
    mj.log_metric("x", 1.0)
    st = mj.get_store()

    def broken(*args):  # type: ignore[no-untyped-def]
        raise StoreError("disk full")

    with monkeypatch.context() as m:
        m.setattr(st, "log_metric_batches", broken)
        m.setattr(st, "log_metric_columns", broken)  # the buffer's own (columnar) path
        with pytest.raises(StoreError, match="disk full"):
            run.end()
    got = mj.get_run(run.id)
    assert got.status == "FAILED" and "disk full" in got.error["message"]
