"""Tuning with real kernels: pruning from logged intermediate steps, a parent run with a
child run per trial, the best model registered as a candidate and never promoted, and the
same search from the CLI and the magic. Trials run in process (local executor)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbmaker import template

from mlops_jupyter.cli import main

optuna = pytest.importorskip("optuna")

BODY = """
import time
import mlops_jupyter as mj
with mj.start_run(name="trial", params={"x": x}):
    for step in range(steps):
        mj.log_metric("score", 1 - abs(x - 0.3) - 0.01 * (steps - step), step=step)
        mj.flush()
        time.sleep(pause)
    if model_name != "-":
        import pandas as pd
        from sklearn.dummy import DummyClassifier
        X = pd.DataFrame({"f": [0.0, 1.0, 2.0, 3.0]})
        mj.models.register(DummyClassifier().fit(X, [0, 1, 0, 1]), model_name or "tiny", signature=X)
"""


def make_nb(path: Path) -> Path:
    return template(path, 'x = 0.5\nsteps = 4\npause = 0.0\nmodel_name = ""', BODY)


def store():
    from mlops_jupyter.tracking.session import get_store

    return get_store()


def test_pruned_trial_stopped_and_best_registered_as_candidate(mlops_home, tmp_path, monkeypatch):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    import mlops_jupyter as mj
    from mlops_jupyter.jobs import tuning

    # checks sparser than a fast trial's life: finished trials must still hand the pruner
    # every step (failed before: the slow trial ran on, compared with nothing)
    monkeypatch.setattr(tuning, "PRUNE_EVERY", 2.5)

    nb = make_nb(tmp_path / "t.ipynb")
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "study.journal")))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for params in ({"x": 0.3, "pause": 0.0}, {"x": 0.32, "pause": 0.0}, {"x": 0.28, "pause": 0.0},
                   {"x": 0.95, "pause": 2.0}):  # the last is poor from step 0 on, and slow
        study.enqueue_trial(params)
    res = mj.tune(str(nb), {"x": "float:0..1", "pause": [0.0, 2.0]}, "score", trials=4, parallel=1,
                  storage=storage, study_name="s", progress=False)
    states = {t.params["x"]: t.state for t in res.trials}
    assert states == {0.3: "COMPLETE", 0.32: "COMPLETE", 0.28: "COMPLETE", 0.95: "PRUNED"}, res.table()
    pruned = next(t for t in res.trials if t.state == "PRUNED")
    job = store().get_job(pruned.job_id)
    assert job.status == "KILLED" and job.error["type"] == "Pruned"
    assert 1 <= len(store().metric_history(pruned.run_id, ["score"])) < 4  # stopped early
    # one parent run, one child run per trial (the refit's run too)
    kids = [r for r in store().search_runs() if r.parent_id == res.parent_run_id]
    assert {t.run_id for t in res.trials} <= {r.id for r in kids}
    assert {r.status for r in kids if r.id != pruned.run_id} == {"FINISHED"}
    assert res.best_params == {"x": 0.3, "pause": 0.0} and res.best.number == 0
    # trials registered nothing; the refit of the best registered the candidate
    assert res.candidate == "tiny@v1"
    assert [v.version for v in mj.models.versions("tiny")] == [1]
    audit = store().model_audit("tiny")  # registered, and no alias moved: tuning never promotes
    assert [(a.action, a.alias) for a in audit] == [("register", None)]
    parent = store().get_run(res.parent_run_id)
    assert parent.tags["mlops.tune.candidate"] == "tiny@v1"
    assert parent.params["best.x"] == "0.3"
    assert res.parent.record.status == "FINISHED" and res.parent.record.details["candidate"] == "tiny@v1"
    # the panel: Vega-Lite v5 with the static fallback beside it
    bundle = res._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.vegalite.v5+json", "text/html", "text/plain"}
    titles = [v["title"] for v in bundle["application/vnd.vegalite.v5+json"]["vconcat"]]
    assert titles[0] == "Optimisation history" and titles[-1] == "Parallel coordinates"
    json.dumps(bundle)  # plain JSON all through
    # saved notebooks and exports get the same charts drawn statically, with axes
    svg = res.chart()._repr_mimebundle_()["image/svg+xml"]
    assert "Optimisation history" in svg and "Parallel coordinates" in svg and "<svg" in bundle["text/html"]


def test_cli_refuses_bad_specs_before_anything_runs(mlops_home, tmp_path, capsys):
    nb = make_nb(tmp_path / "t.ipynb")
    for space, needle in (("x=int:5..1", "LOW must be below HIGH"),
                          ("y=float:0..1", "cannot tune 'y'"),
                          ("model_name=float:0..1", "float range does not fit"),
                          ("x", "NAME=SPEC")):
        assert main(["tune", str(nb), "--space", space, "--metric", "score", "--no-progress"]) == 2
        assert needle in capsys.readouterr().err
    assert main(["tune", str(nb), "--space", "x=float:0..1", "--metric", "score",
                 "--executor", "ray"]) == 2
    assert "unknown executor 'ray'" in capsys.readouterr().err
    assert store().list_jobs() == [] and store().search_runs() == []


def test_cli_tune_runs_trials_in_parallel(mlops_home, tmp_path, capsys):
    nb = make_nb(tmp_path / "t.ipynb")
    code = main(["tune", str(nb), "--space", "x=float:0..1", "--metric", "score", "--trials", "2",
                 "--parallel", "2", "--pruner", "none", "--no-register", "--no-progress",
                 "-p", "steps=1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["trials"]) == 2 and out["candidate"] is None
    jobs = [j for j in store().list_jobs() if j.kind == "run"]
    assert len(jobs) == 2 and all(j.parent_id == out["parent"]["id"] for j in jobs)
    starts = sorted(j.start_time for j in jobs)
    ends = sorted(j.end_time for j in jobs)
    assert starts[1] < ends[0]  # both trials were running at once


def test_magic_tune_is_the_same_search(mlops_home, tmp_path):
    from IPython.core.error import UsageError
    from IPython.testing import globalipapp

    globalipapp.start_ipython()
    ip = globalipapp.get_ipython()
    ip.run_cell("%load_ext mlops_jupyter", store_history=False)
    try:
        nb = make_nb(tmp_path / "t.ipynb")
        from mlops_jupyter.magics import dispatch

        with pytest.raises(UsageError, match="choice values must be non-empty"):
            dispatch(ip, f"tune {nb} --space x=choice:0.1,,0.2 --metric score")
        res = dispatch(ip, f"tune {nb} --space x=choice:0.1,0.3 --metric score --trials 1 "
                           "--pruner none --no-register -p steps=1")
        assert res.ok and res.best.params["x"] in (0.1, 0.3)
    finally:
        ip.run_cell("%unload_ext mlops_jupyter", store_history=False)


def test_automl_template_searches_model_families(mlops_home, capsys):
    code = main(["tune", "automl", "--space", "family=choice:linear,knn", "--space",
                 "n_neighbors=int:3..9", "--metric", "auc", "--trials", "2", "--sampler", "random",
                 "--seed", "3", "--pruner", "none", "--no-register", "--no-progress", "--json",
                 "-p", "folds=2"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert all(t["state"] == "COMPLETE" and 0.5 < t["value"] <= 1 for t in out["trials"])
    run = store().get_run(out["trials"][0]["run_id"])
    steps = [p.step for p in store().metric_history(run.id, ["auc"])]
    assert steps == [0, 1, 2]  # two folds as intermediate steps, then the holdout score
    assert run.params["family"] in ("linear", "knn") and run.experiment == "automl"
