"""Failed decisions leave nothing promotable behind (issue 11).

- a job whose gate fails: the version it registered is rejected (never @latest, refused
  by promote, visible in its tags and the CLI);
- ``reproduce`` registers no version, yet still compares the model file by hash;
- timing metrics (``fit_time_s``) are ignored by reproduce, ``--ignore`` others, so a
  tracked cell's reproduction does not always fail.
"""

from __future__ import annotations

import pytest

import mlops_jupyter as mj
from mlops_jupyter.cli import main
from mlops_jupyter.errors import ConflictError, NotFoundError
from tests.test_jobs_exec import make_nb

FOREST = (
    "import numpy as np\nimport mlops_jupyter as mj\n"
    "from sklearn.tree import DecisionTreeClassifier\n"
    "X = np.random.RandomState(seed).rand(60, 3); y = (X[:, 0] > 0.5).astype(int)\n"
    "with mj.start_run(name='tree'):\n"
    "    clf = DecisionTreeClassifier(max_depth=2, random_state=seed).fit(X, y)\n"
    "    mj.log_metric('acc', clf.score(X, y))\n"
    "    mj.models.register(clf, name='tree')"
)


def test_gate_failure_rejects_what_the_job_registered(mlops_home, tmp_path, capsys) -> None:
    nb = make_nb(tmp_path / "t.ipynb", FOREST, params="seed = 3")
    assert main(["run", str(nb), "--gate", "acc>=0.5", "--no-progress"]) == 0
    assert main(["run", str(nb), "--gate", "acc>=1.5", "--no-progress"]) == 1
    assert "model     tree@v2 (rejected: job " in capsys.readouterr().out
    v2 = mj.models.get("tree@v2")
    assert v2.tags["mlops.rejected"].startswith("job ") and "acc>=1.5" in v2.tags["mlops.rejected"]
    assert mj.models.get("tree@latest").version == 1  # a rejected candidate is never latest
    with pytest.raises(ConflictError, match="rejected"):
        mj.models.promote("tree@v2", alias="production", reason="try")
    with pytest.raises(NotFoundError):
        mj.models.get("tree@production")


def test_reproduce_registers_no_version_but_compares_the_file(mlops_home, tmp_path, capsys) -> None:
    nb = make_nb(tmp_path / "t.ipynb", FOREST, params="seed = 3")
    assert main(["run", str(nb), "--no-progress"]) == 0
    original = mj.get_store().search_runs()[0]
    capsys.readouterr()
    assert main(["reproduce", original.id[:8], "--tolerance", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert [v.version for v in mj.get_store().list_model_versions("tree")] == [1]
    assert "tree@v1 vs tree (reproduction, not registered): file hash identical" in out, out


def test_tracked_cell_reproduces_despite_timing_metrics(mlops_home, capsys) -> None:
    code = ("import random, time\nimport mlops_jupyter as mj\n"
            "mj.log_metrics({'acc': 0.75, 'fit_time_s': time.perf_counter() % 1 + 0.001,"
            " 'noise': random.random()})\n")
    with mj.start_run(name="cell") as run:
        mj.log_metrics({"acc": 0.75, "fit_time_s": 0.0123, "noise": 0.5})
    mj.get_store().put_artifact_bytes(run.id, "code/cell.py", code.encode(), "code")
    # the timing metric differs on every run: ignored by default; noise needs --ignore
    assert main(["reproduce", run.id[:8], "--tolerance", "0", "--no-progress"]) == 1
    assert "noise" in capsys.readouterr().out
    assert main(["reproduce", run.id[:8], "--tolerance", "0", "--ignore", "noise",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "tolerance 0: passed" in out and "(ignored)" in out
    # asked to, timing is compared (and differs)
    assert main(["reproduce", run.id[:8], "--tolerance", "0", "--ignore", "noise",
                 "--compare-timing", "--no-progress"]) == 1
