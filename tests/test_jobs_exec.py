"""Jobs that really execute: papermill, a fresh kernel, the store shared with it.

Failing cell, timeout, dead kernel, SIGTERM, gates (with CLI exit codes), reproduce and
a parallel sweep. Each test starts real kernels (~0.5 s each)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbmaker import template

from mlops_jupyter.cli import main

LOGGING = """
import mlops_jupyter as mj
with mj.start_run(name="t", params={"alpha": alpha}):
    mj.log_metric("auc", alpha + n / 10)
"""


def make_nb(path: Path, *bodies: str, params: str = "alpha = 0.5\nn = 3") -> Path:
    return template(path, params, *bodies)


def store():
    from mlops_jupyter.tracking.session import get_store

    return get_store()


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return False  # alive and not our child


def test_job_links_runs_stores_output_and_passes_gate(mlops_home, tmp_path, capsys):
    import mlops_jupyter as mj

    nb = make_nb(tmp_path / "t.ipynb", LOGGING)
    assert main(["run", str(nb), "-p", "alpha=0.7", "--gate", "auc>=0.9", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "gate      auc>=0.9 passed: auc=1" in out and "notebook  " in out
    job = mj.jobs.list_jobs()[0]
    assert job.status == "FINISHED" and job.parameters == {"alpha": 0.7}
    assert job.template_digest and job.cells_total == 3
    run = job.run
    assert run.job_id == job.id and run.params["alpha"] == "0.7" and run.metrics["auc"].last == pytest.approx(1.0)
    executed = job.notebook()
    assert executed.cells[1].metadata.tags == ["injected-parameters"]
    assert Path(job.output_path).is_file() and Path(job.output_path).is_relative_to(mlops_home)
    html = job._repr_html_()
    assert "Output notebook" in html and "injected-parameters" in html and "FINISHED" in html


def test_failed_gate_exits_1_naming_gate_and_value(mlops_home, tmp_path, capsys):
    nb = make_nb(tmp_path / "t.ipynb", LOGGING)
    assert main(["run", str(nb), "--gate", "auc>=0.95", "--gate", "missing<1", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "gate auc>=0.95 failed: auc=0.8" in captured.err
    assert "metric 'missing' was not logged" in captured.err
    job = store().list_jobs()[0]
    assert job.status == "FAILED" and job.error["type"] == "GateFailed"
    assert [g["passed"] for g in job.gates] == [False, False]


def test_failing_cell_fails_job_keeps_notebook_and_fails_open_run(mlops_home, tmp_path, capsys):
    body = "import mlops_jupyter as mj\nrun = mj.start_run(name='open')\nraise ValueError('boom in cell')"
    nb = make_nb(tmp_path / "t.ipynb", body, "print('never')")
    assert main(["run", str(nb), "--no-progress", "--output", "out/failed.ipynb"]) == 1
    assert "ValueError in cell [2]: boom in cell" in capsys.readouterr().err
    job = store().list_jobs()[0]
    assert job.status == "FAILED" and job.error["type"] == "ValueError" and "boom" in job.error["traceback"]
    assert job.output_blob and (tmp_path / "out" / "failed.ipynb").is_file()
    runs = store().search_runs(job_id=job.id)
    assert [r.status for r in runs] == ["FAILED"]


def test_timeout_is_recorded_and_kernel_is_gone(mlops_home, tmp_path, capsys):
    body = "import os, time\nopen('kernel.pid', 'w').write(str(os.getpid()))\ntime.sleep(60)"
    nb = make_nb(tmp_path / "t.ipynb", body)
    t0 = time.monotonic()
    assert main(["run", str(nb), "--timeout", "3", "--no-progress"]) == 1
    assert time.monotonic() - t0 < 20
    assert "exceeded its timeout of 3 s" in capsys.readouterr().err
    job = store().list_jobs()[0]
    assert job.status == "TIMEOUT" and job.output_blob
    assert _pid_gone(int((tmp_path / "kernel.pid").read_text()))


def test_dead_kernel_is_recorded(mlops_home, tmp_path):
    import mlops_jupyter as mj

    nb = make_nb(tmp_path / "t.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    job = mj.jobs.run(str(nb), progress=False)
    assert job.status == "FAILED" and job.error["type"] == "DeadKernel"
    with pytest.raises(mj.errors.JobError, match="kernel died"):
        job.raise_for_status()


def test_sigterm_records_killed_and_leaves_no_kernel(mlops_home, tmp_path):
    body = "import os, time\nopen('kernel.pid', 'w').write(str(os.getpid()))\ntime.sleep(120)"
    nb = make_nb(tmp_path / "t.ipynb", body)
    proc = subprocess.Popen([sys.executable, "-m", "mlops_jupyter", "run", str(nb), "--no-progress"],
                            cwd=tmp_path, env={**os.environ, "MLOPS_HOME": str(mlops_home)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pidfile = tmp_path / "kernel.pid"
    deadline = time.monotonic() + 60
    while not (pidfile.is_file() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    kernel_pid = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"recorded as KILLED" in err
    job = store().list_jobs()[0]
    assert job.status == "KILLED" and job.ended_by == "signal" and job.output_blob
    for _ in range(50):
        if _pid_gone(kernel_pid):
            break
        time.sleep(0.1)
    assert _pid_gone(kernel_pid), "the kernel outlived its job"


def test_reproduce_gives_identical_metrics(mlops_home, tmp_path, capsys):
    body = ("import random\nimport mlops_jupyter as mj\nrandom.seed(seed)\n"
            "with mj.start_run(name='seeded'):\n    mj.log_metric('score', random.random())")
    nb = make_nb(tmp_path / "t.ipynb", body, params="seed = 7")
    assert main(["run", str(nb), "--no-progress"]) == 0
    original = store().search_runs()[0]
    capsys.readouterr()
    nb.write_text("{}")  # the file changing afterwards must not matter: the job stored it
    assert main(["reproduce", original.id[:8], "--tolerance", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "identical metrics; tolerance 0: passed" in out
    new = [r for r in store().search_runs() if r.id != original.id][0]
    assert new.tags["mlops.reproduction_of"] == original.id
    assert new.metrics["score"].last == original.metrics["score"].last
    assert store().list_jobs()[0].kind == "reproduce"


def test_reproduce_with_tolerance_fails_when_metrics_differ(mlops_home, tmp_path, capsys):
    body = "import time\nimport mlops_jupyter as mj\nwith mj.start_run(name='clock'):\n    mj.log_metric('t', time.time())"
    nb = make_nb(tmp_path / "t.ipynb", body, params="x = 1")
    assert main(["run", str(nb), "--no-progress"]) == 0
    rid = store().search_runs()[0].id
    assert main(["reproduce", rid, "--tolerance", "1e-9", "--no-progress"]) == 1
    assert "outside tolerance" in capsys.readouterr().out
    assert main(["reproduce", rid, "--tolerance", "-1"]) == 2


def test_parallel_sweep_under_one_parent(mlops_home, tmp_path, capsys):
    nb = make_nb(tmp_path / "t.ipynb", LOGGING)
    t0 = time.monotonic()
    assert main(["sweep", str(nb), "-p", "alpha=0.1,0.5", "-p", "n=1,2", "--parallel", "2",
                 "--sort", "auc", "--no-progress"]) == 0
    elapsed = time.monotonic() - t0
    out = capsys.readouterr().out
    assert "4/4 jobs ok (FINISHED)" in out
    lines = [ln for ln in out.splitlines() if "FINISHED" in ln and ln[:1] != "s"]
    aucs = [float(ln.split()[-1]) for ln in lines]
    assert aucs == sorted(aucs, reverse=True) == [0.7, 0.6, 0.3, 0.2]
    jobs = store().list_jobs()
    parent = [j for j in jobs if j.kind == "sweep"][0]
    children = [j for j in jobs if j.parent_id == parent.id]
    assert len(children) == 4 and all(c.status == "FINISHED" for c in children)
    assert {tuple(sorted(c.parameters.items())) for c in children} == {
        (("alpha", a), ("n", n)) for a in (0.1, 0.5) for n in (1, 2)}
    assert elapsed < 60
    from mlops_jupyter.jobs import forkserver

    assert forkserver._server is None  # the jobs' fork server did not outlive the sweep


def test_sweep_validates_every_combination_first(mlops_home, tmp_path):
    nb = make_nb(tmp_path / "t.ipynb", LOGGING)
    assert main(["sweep", str(nb), "-p", "alpha=0.1,fast", "--no-progress"]) == 2
    assert store().list_jobs() == []


def test_reproduce_reports_identical_model_file(mlops_home, tmp_path, capsys):
    body = (
        "import numpy as np\nimport mlops_jupyter as mj\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "X = np.random.RandomState(seed).rand(60, 3); y = (X[:, 0] > 0.5).astype(int)\n"
        "with mj.start_run(name='forest'):\n"
        "    clf = RandomForestClassifier(5, random_state=seed).fit(X, y)\n"
        "    mj.log_metric('acc', clf.score(X, y))\n"
        "    mj.models.register(clf, name='forest')"
    )
    nb = make_nb(tmp_path / "f.ipynb", body, params="seed = 3")
    assert main(["run", str(nb), "--no-progress"]) == 0
    original = store().search_runs()[0]
    capsys.readouterr()
    assert main(["reproduce", original.id[:8], "--tolerance", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "forest@v1 vs forest (reproduction, not registered): file hash identical" in out, out


def test_job_on_postgres_links_the_kernels_runs(pg_url, mlops_home, tmp_path, monkeypatch, capsys):
    """The child kernel gets the store's URLs: its runs land in PostgreSQL, linked to the job."""
    monkeypatch.setenv("MLOPS_DB_URL", pg_url)
    from mlops_jupyter import store as store_mod

    store_mod.reset()
    body = "import mlops_jupyter as mj\nwith mj.start_run(name='pg'):\n    mj.log_metric('auc', 0.5 + alpha / 10)"
    nb = make_nb(tmp_path / "pg.ipynb", body)
    assert main(["run", str(nb), "-p", "alpha=2", "--gate", "auc>=0.7", "--no-progress"]) == 0
    import mlops_jupyter as mj

    st = mj.get_store()
    assert st.config.db_url == pg_url
    job = st.list_jobs()[0]
    runs = st.search_runs(job_id=job.id)
    assert job.status == "FINISHED" and len(runs) == 1 and runs[0].metrics["auc"].last == 0.7


def test_reproduce_of_a_failing_job_says_not_reproduced(mlops_home, tmp_path, capsys, monkeypatch):
    body = ("import os\nimport mlops_jupyter as mj\n"
            "with mj.start_run(name='fragile'):\n"
            "    assert os.environ.get('BREAK') != '1', 'the world changed'\n"
            "    mj.log_metric('m', 1.0)")
    nb = make_nb(tmp_path / "fragile.ipynb", body)
    assert main(["run", str(nb), "--no-progress"]) == 0
    rid = store().search_runs()[0].id
    capsys.readouterr()
    monkeypatch.setenv("BREAK", "1")  # the kernel inherits it
    assert main(["reproduce", rid, "--tolerance", "0", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "not reproduced: the job ended FAILED" in out and "metrics differ" not in out
