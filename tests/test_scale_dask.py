"""Jobs, sweeps and tuning on a real Dask LocalCluster with 2 worker processes.

Runs land in real PostgreSQL and a real S3-API server (moto, started by the fixture);
a worker is SIGKILLed mid-job; a sweep is cancelled with Ctrl-C. Templates are tiny so
the whole module stays around a minute on 2 cores.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from nbmaker import template

pytest.importorskip("distributed")
pytest.importorskip("optuna")

TRIAL = """
import time
import mlops_jupyter as mj
with mj.start_run(name="t", params={"alpha": alpha}):
    for step in range(n):
        mj.log_metric("auc", alpha * (step + 1) / n, step=step)
        mj.flush()
        time.sleep(sleep)
    mj.log_text(f"alpha={alpha}", "note.txt")
"""


def make_nb(path: Path, body: str = TRIAL, params: str = "alpha = 0.5\nn = 2\nsleep = 0.0") -> Path:
    return template(path, params, body)


def store():
    from mlops_jupyter.tracking.session import get_store

    return get_store()


@pytest.fixture(scope="module")
def cluster(s3_server):
    """One LocalCluster(2) for the module; workers inherit the S3 endpoint settings."""
    from mlops_jupyter.jobs.dask_executor import DaskExecutor

    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_server,
                     "FSSPEC_S3_ENDPOINT_URL": s3_server}.items():
            mp.setenv(k, v)
        ex = DaskExecutor(None, 2)
    yield ex
    ex.close()


@pytest.fixture
def team_store(mlops_home, pg_url, s3_url, monkeypatch):
    """PostgreSQL metadata + S3 artifacts, as a team would run."""
    monkeypatch.setenv("MLOPS_DB_URL", pg_url)
    monkeypatch.setenv("MLOPS_ARTIFACTS_URL", s3_url)
    return s3_url


def _s3_blobs(s3_url: str) -> set[str]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(s3_url)
    fs.invalidate_cache()
    return {p.split("/")[-2] + p.split("/")[-1] for p in fs.find(root) if ".tmp-" not in p}


def test_sweep_on_dask_lands_in_postgres_and_s3(team_store, cluster, tmp_path):
    from mlops_jupyter.jobs import sweeps

    nb = make_nb(tmp_path / "t.ipynb")
    sw = sweeps.sweep(str(nb), {"alpha": [0.1, 0.5], "n": [1, 2]}, executor=cluster, progress=False)
    assert sw.ok, sw.summary()
    assert sw.parent.record.details["executor"].startswith("dask")
    st = store()
    assert st.config.db_url.startswith("postgresql")
    children = [j for j in st.list_jobs() if j.parent_id == sw.parent.record.id]
    assert len(children) == 4 and {c.status for c in children} == {"FINISHED"}
    blobs = _s3_blobs(team_store)
    for j in sw.jobs:
        assert j.record.output_blob in blobs  # the output notebook is in S3
        assert j.notebook().cells  # and reads back verified
        (run,) = j.runs
        assert st.read_artifact(run.id, "note.txt") == f"alpha={j.record.parameters['alpha']}".encode()
    assert sorted(j.metrics()["auc"] for j in sw.jobs) == [0.1, 0.1, 0.5, 0.5]


def test_tune_on_dask_lands_in_postgres_and_s3(team_store, cluster, tmp_path):
    import mlops_jupyter as mj

    nb = make_nb(tmp_path / "t.ipynb")
    res = mj.tune(str(nb), {"alpha": "float:0.01..1:log", "n": "int:1..3"}, "auc", trials=5,
                  executor=cluster, seed=1, progress=False, pruner="none")
    assert res.ok and len(res.trials) == 5
    assert all(t.state == "COMPLETE" for t in res.trials), res.table()
    st = store()
    parent = st.get_run(res.parent_run_id)
    kids = [r for r in st.search_runs() if r.parent_id == parent.id]
    assert len(kids) == 5 and {r.id for r in kids} == {t.run_id for t in res.trials}
    best = max(t.value for t in res.trials)
    assert res.best_value == best and parent.metrics["best_auc"].last == best
    assert parent.params["best.alpha"] == str(res.best_params["alpha"])
    assert res.parent.record.kind == "tune" and res.parent.record.status == "FINISHED"
    blobs = _s3_blobs(team_store)
    for t in res.trials:
        job = mj.jobs.get_job(t.job_id)
        assert job.record.output_blob in blobs and job.record.parent_id == res.parent.record.id
    bundle = res._repr_mimebundle_()
    views = bundle["application/vnd.vegalite.v5+json"]["vconcat"]
    assert [v["title"] for v in views][0] == "Optimisation history"
    assert len(views[0]["data"]["values"]) == 5
    assert "<table" in bundle["text/html"] and "Tune" in bundle["text/html"]


def _wait(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_mid_job_leaves_job_killed_with_reason(mlops_home, tmp_path):
    from mlops_jupyter.jobs import sweeps
    from mlops_jupyter.jobs.dask_executor import DaskExecutor

    nb = make_nb(tmp_path / "t.ipynb")
    ex = DaskExecutor(None, 2)  # its own cluster: a worker dies here
    killed: list[int] = []

    def killer() -> None:
        st = store()

        def slow_job_running():
            return [j for j in st.list_jobs(status="RUNNING") if j.kind == "run"
                    and j.parameters.get("sleep") == 30.0 and j.cells_done]

        (job,) = _wait(slow_job_running, 60, "the slow job to run a cell")
        key = f"mlops-job-{job.id}"
        where = _wait(lambda: [w for w, keys in ex.client.processing().items() if key in keys],
                      30, "the task on a worker")
        pids = ex.client.run(os.getpid, workers=where)
        pid = pids[where[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        sw = sweeps.sweep(str(nb), {"sleep": [0.0, 30.0]}, executor=ex, progress=False)
    finally:
        t.join(5)
        ex.close()
    assert killed
    by_sleep = {j.record.parameters["sleep"]: j.record for j in sw.jobs}
    assert by_sleep[0.0].status == "FINISHED"
    lost = by_sleep[30.0]
    assert lost.status == "KILLED" and lost.error["type"] == "WorkerLost", lost.error
    assert "worker" in lost.error["message"]
    assert sw.parent.record.status == "FAILED"
    assert not store().list_jobs(status="RUNNING")
    assert not [r for r in store().search_runs() if r.status == "RUNNING"]
    # the job's own process (and so its kernel) did not outlive its worker
    _wait(lambda: not _alive(lost.pid), 20, "the orphaned job process to stop")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_cancels_the_rest_of_a_dask_sweep(mlops_home, cluster, tmp_path):
    from mlops_jupyter.jobs import sweeps

    nb = make_nb(tmp_path / "t.ipynb")

    def interrupt() -> None:
        st = store()
        _wait(lambda: [j for j in st.list_jobs(status="RUNNING") if j.kind == "run" and j.cells_done],
              60, "a running job")
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sweeps.sweep(str(nb), {"alpha": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}, parameters={"sleep": 20.0},
                     executor=cluster, progress=False)
    assert time.monotonic() - t0 < 50  # not 3 rounds of 20 s jobs
    jobs = store().list_jobs()
    parent = [j for j in jobs if j.kind == "sweep"][0]
    children = [j for j in jobs if j.parent_id == parent.id]
    assert parent.status == "KILLED"
    assert 1 <= len(children) <= 2  # only those already running had started
    assert all(c.status == "KILLED" for c in children), [(c.status, c.error) for c in children]


def test_sqlite_store_refused_when_workers_are_elsewhere(mlops_home, cluster, tmp_path, monkeypatch):
    from mlops_jupyter.errors import UsageError
    from mlops_jupyter.jobs import sweeps
    from mlops_jupyter.jobs.dask_executor import DaskExecutor

    nb = make_nb(tmp_path / "t.ipynb")
    remote = DaskExecutor(cluster._cluster.scheduler_address, 2)  # the user's cluster, by address
    try:
        remote.check_store(store().config)  # same machine: accepted
        monkeypatch.setattr(remote, "worker_hosts", lambda: {"gpu-node-7"})
        with pytest.raises(UsageError, match="local SQLite file, but Dask workers run on other "
                                             "machines \\(gpu-node-7\\).*PostgreSQL"):
            sweeps.sweep(str(nb), {"alpha": [0.1]}, executor=remote, progress=False)
    finally:
        remote.close()
    assert store().list_jobs() == []  # nothing recorded


def test_single_job_on_dask_from_the_api(mlops_home, cluster, tmp_path):
    import mlops_jupyter as mj

    nb = make_nb(tmp_path / "t.ipynb")
    job = mj.jobs.run(str(nb), parameters={"alpha": 0.25, "n": 1}, executor=cluster, progress=False)
    assert job.ok and job.metrics() == {"auc": 0.25}
    assert job.record.pid != os.getpid()  # it ran in a process a worker started
    with pytest.raises(mj.errors.UsageError, match="unknown executor"):
        mj.jobs.run(str(nb), executor="ray")
