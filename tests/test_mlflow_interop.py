"""Round trips with real MLflow: MLflow's client writes a store, we import it, we export
it to a fresh MLflow store, and MLflow's client (and ``mlflow.pyfunc.load_model``) reads
it back. Locally the MLflow tests skip when MLflow is not installed; in CI (CI=true) a
missing MLflow is a failure, as a missing PostgreSQL is."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

N_POINTS = 10_000
BASE_MS = 1_600_000_000_000  # 2020-09-13: the original times must survive


@pytest.fixture(scope="session")
def mlflow_mod() -> Any:
    try:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        import mlflow
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"MLflow is required in CI for the round-trip tests: {e}")
        pytest.skip("MLflow is not installed (pip install 'mlops-jupyter[mlflow]') — "
                    "the MLflow round-trip tests need real MLflow")
    return mlflow


def _training() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


def build_source(mlflow: Any, uri: str, workdir: Path, *, pickled: bool = True,
                 n_points: int = N_POINTS) -> dict[str, Any]:
    """An MLflow store as users make them: nested runs, a 10,000-point history,
    artifacts, a registered model with an alias (and one saved as a pickle)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param
    from sklearn.linear_model import LogisticRegression

    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    eid = c.create_experiment("churn", artifact_location=(workdir / "mlartifacts").as_uri())
    parent = c.create_run(eid, start_time=BASE_MS, run_name="sweep",
                          tags={"team": "risk", "mlflow.user": "ana"})
    pid = parent.info.run_id
    c.log_batch(pid, params=[Param("grid", "C=0.1,1")])
    children = []
    for i, C in enumerate((0.1, 1.0)):
        r = c.create_run(eid, start_time=BASE_MS + 1000 * (i + 1), run_name=f"C={C}",
                         tags={"mlflow.parentRunId": pid, "note": "ünïcode ✓"})
        rid = r.info.run_id
        c.log_batch(rid, params=[Param("C", str(C)), Param("penalty", "l2")])
        n = n_points if i == 0 else 100  # one long history is the point; the other is short
        points = [Metric("loss", 1.0 / (s + 1) + i, BASE_MS + 10 * s, s) for s in range(n)]
        points.append(Metric("loss", float("nan"), BASE_MS + 10 * n, n))
        for k in range(0, len(points), 1000):
            c.log_batch(rid, metrics=points[k:k + 1000])
        c.log_metric(rid, "auc", 0.8 + i / 10, timestamp=BASE_MS + 5, step=0)
        children.append(rid)
    (workdir / "notes").mkdir(parents=True, exist_ok=True)
    (workdir / "notes" / "readme.txt").write_text("what this sweep was for\n")
    (workdir / "weights.bin").write_bytes(bytes(range(256)) * 40)
    c.log_artifact(children[0], str(workdir / "notes" / "readme.txt"), "notes")
    c.log_artifact(children[0], str(workdir / "weights.bin"))
    c.set_terminated(children[0], "FINISHED", end_time=BASE_MS + 60_000)
    c.set_terminated(children[1], "FAILED", end_time=BASE_MS + 61_000)

    X, y = _training()
    model = LogisticRegression(C=1.0).fit(X, y)
    # MLflow's fluent API (and, on a file store, some registry calls) use the default
    # tracking URI: point it at this store while building, then back
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):
        with mlflow.start_run(run_id=pid):
            mlflow.sklearn.log_model(model, name="model", registered_model_name="churn",
                                     pip_requirements=["scikit-learn"])
            if pickled:
                mlflow.sklearn.log_model(model, name="pickled", registered_model_name="churn-pickled",
                                         pip_requirements=["scikit-learn"],
                                         serialization_format="cloudpickle")
        c.set_terminated(pid, "FINISHED", end_time=BASE_MS + 70_000)
        c.update_registered_model("churn", description="who will leave")
        c.update_model_version("churn", "1", description="first, baseline")
        c.set_model_version_tag("churn", "1", "validated", "yes")
        c.set_registered_model_alias("churn", "production", "1")
        if pickled:  # a stage, as MLflow 2 users promoted models
            c.transition_model_version_stage("churn-pickled", "1", "Staging")
    return {"uri": uri, "parent": pid, "children": children, "model": model, "X": X,
            "experiment_id": eid, "n_points": n_points}


@pytest.fixture(scope="module")
def sqlite_source(mlflow_mod: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("mlflow-sqlite")
    return build_source(mlflow_mod, f"sqlite:///{d / 'mlflow.db'}", d)


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_imported(src: dict[str, Any], *, check_model: bool = True) -> None:
    """Every run, param, tag, time, metric point and artifact equals MLflow's."""
    from mlflow import MlflowClient

    import mlops_jupyter as mj

    c = MlflowClient(tracking_uri=src["uri"], registry_uri=src["uri"])
    st = mj.get_store()
    for rid in [src["parent"], *src["children"]]:
        theirs = c.get_run(rid)
        ours = st.get_run(rid)  # the MLflow id is kept
        assert ours.name == theirs.info.run_name
        assert ours.experiment == "churn"
        assert ours.status == theirs.info.status
        assert round(ours.start_time * 1000) == theirs.info.start_time
        assert round(ours.end_time * 1000) == theirs.info.end_time
        assert ours.params == theirs.data.params
        assert ours.tags == theirs.data.tags
        assert ours.parent_id == theirs.data.tags.get("mlflow.parentRunId")
        for key in theirs.data.metrics:
            want = sorted((m.step, m.timestamp, m.value) for m in c.get_metric_history(rid, key))
            got = sorted((p.step, round(p.timestamp * 1000), p.value) for p in st.metric_history(rid, [key]))
            assert len(got) == len(want)
            assert all(g[:2] == w[:2] and _same_float(g[2], w[2]) for g, w in zip(got, want, strict=True))
    assert len(st.metric_history(src["children"][0], ["loss"])) == src["n_points"] + 1
    arts = {a.name: st.read_artifact(src["children"][0], a.name) for a in st.list_artifacts(src["children"][0])}
    assert arts == {
        "notes/readme.txt": b"what this sweep was for\n",
        "weights.bin": bytes(range(256)) * 40,
    }
    if check_model:
        mv = mj.models.get("churn@production")
        assert mv.version == 1
        assert mv.description == "first, baseline"
        assert mv.tags["validated"] == "yes"
        assert mv.run_id == src["parent"]
        assert {m.name: m.description for m in st.list_models()}["churn"] == "who will leave"
        loaded = mj.models.load("churn@production")
        assert np.array_equal(loaded.predict(src["X"]), src["model"].predict(src["X"]))
        assert np.allclose(loaded.predict_proba(src["X"]), src["model"].predict_proba(src["X"]))


def _counts() -> tuple[int, int, int]:
    import mlops_jupyter as mj

    st = mj.get_store()
    runs = st.search_runs()
    points = sum(m.count for r in runs for m in r.metrics.values())
    versions = sum(len(st.list_model_versions(m.name)) for m in st.list_models())
    return len(runs), points, versions


def test_import_sqlite_every_value_equal_and_twice_adds_nothing(sqlite_source: dict[str, Any], mlops_home: Path) -> None:
    import mlops_jupyter as mj

    report = mj.import_mlflow(sqlite_source["uri"], progress=False)
    assert report.runs == 3 and report.runs_present == 0
    assert report.metric_points == (N_POINTS + 2) + (100 + 2)
    assert report.model_versions == ["churn@v1"]
    assert "churn@production -> v1" in report.aliases
    assert_imported(sqlite_source)
    # the pickled model was refused, with a message that says why and what to do
    refused = [line for line in report.not_carried if "churn-pickled" in line]
    assert refused and "cloudpickle" in refused[0] and "--trust-pickle" in refused[0]
    with pytest.raises(mj.errors.NotFoundError):
        mj.models.get("churn-pickled")
    assert "churn-pickled" in str(report)

    before = _counts()
    again = mj.import_mlflow(sqlite_source["uri"], progress=False)
    assert again.runs == 0 and again.runs_present == 3
    assert again.model_versions == [] and again.model_versions_present == 1
    assert again.aliases == []
    assert _counts() == before


def test_import_pickle_only_with_trust_and_audited(sqlite_source: dict[str, Any], mlops_home: Path) -> None:
    import mlops_jupyter as mj

    report = mj.import_mlflow(sqlite_source["uri"], models=["churn-pickled"], progress=False,
                              trust_pickle=True)
    assert report.model_versions == ["churn-pickled@v1"]
    mv = mj.models.get("churn-pickled@v1")
    assert mv.flavor == "sklearn"  # re-saved as skops, not kept as a pickle
    assert mv.tags["mlflow.stage"] == "Staging"
    assert mj.models.get("churn-pickled@staging").version == 1  # the stage became an alias
    audit = mj.models.history("churn-pickled")
    trust = audit[audit["action"] == "trust"]
    assert len(trust) == 1 and "cloudpickle" in trust["reason"].iloc[0]
    X = sqlite_source["X"]
    assert np.array_equal(mj.models.load("churn-pickled@v1").predict(X), sqlite_source["model"].predict(X))


def test_export_to_fresh_mlflow_store_reads_back(sqlite_source: dict[str, Any], mlops_home: Path,
                                                tmp_path: Path, mlflow_mod: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    import mlops_jupyter as mj

    mj.import_mlflow(sqlite_source["uri"], models=["churn"], progress=False)
    target = f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}"
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path / "out")  # MLflow puts a SQLite store's artifacts in ./mlruns
    report = mj.export_mlflow(target, progress=False)
    assert report.runs == 3 and report.model_versions == ["churn/1"], report.not_carried

    src = MlflowClient(tracking_uri=sqlite_source["uri"])
    out = MlflowClient(tracking_uri=target, registry_uri=target)
    exp = out.get_experiment_by_name("churn")
    runs = {r.data.tags["mlops.run_id"]: r for r in out.search_runs([exp.experiment_id])}
    assert set(runs) == {sqlite_source["parent"], *sqlite_source["children"]}
    for old_id, new in runs.items():
        old = src.get_run(old_id)
        assert new.info.run_name == old.info.run_name
        assert new.info.status == old.info.status
        assert new.info.start_time == old.info.start_time
        assert new.info.end_time == old.info.end_time
        assert new.data.params == old.data.params
        for k, v in old.data.tags.items():
            if k == "mlflow.parentRunId":
                assert runs[v].info.run_id == new.data.tags[k]
            elif k != "mlflow.log-model.history":
                assert new.data.tags[k] == v, k
        for key in old.data.metrics:
            want = sorted((m.step, m.timestamp, m.value) for m in src.get_metric_history(old_id, key))
            got = sorted((m.step, m.timestamp, m.value) for m in out.get_metric_history(new.info.run_id, key))
            assert len(got) == len(want)
            assert all(g[:2] == w[:2] and _same_float(g[2], w[2]) for g, w in zip(got, want, strict=True))
    child = runs[sqlite_source["children"][0]].info.run_id
    d = Path(out.download_artifacts(child, "", str(tmp_path / "dl")))
    assert (d / "notes" / "readme.txt").read_text() == "what this sweep was for\n"
    assert (d / "weights.bin").read_bytes() == bytes(range(256)) * 40

    rm = out.get_registered_model("churn")
    assert rm.aliases == {"production": "1"} or rm.aliases == {"production": 1}
    mv = out.get_model_version("churn", "1")
    assert mv.description == "first, baseline" and mv.tags["validated"] == "yes"
    # MLflow 3 refuses to deserialise any sklearn model without this opt-in
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(target):
        loaded = mlflow_mod.pyfunc.load_model("models:/churn@production")
    X = sqlite_source["X"]
    assert np.array_equal(np.asarray(loaded.predict(X)), sqlite_source["model"].predict(X))

    again = mj.export_mlflow(target, progress=False)
    assert again.runs == 0 and again.runs_present == 3
    assert again.model_versions == [] and again.model_versions_present == 1
    assert len(out.search_runs([exp.experiment_id])) == 3
    assert len(out.search_model_versions("name = 'churn'")) == 1


def test_import_file_store(mlflow_mod: Any, mlops_home: Path, tmp_path: Path) -> None:
    import mlops_jupyter as mj

    folder = tmp_path / "mlruns"
    src = build_source(mlflow_mod, str(folder), tmp_path, pickled=False, n_points=500)
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    trap = tmp_path / "default-store.db"  # where MLflow's default URI points meanwhile
    with _use_tracking_uri(f"sqlite:///{trap}"):
        report = mj.import_mlflow(str(folder), progress=False)
    # on a file store some MLflow registry calls open the *default* store: that must
    # not become a new ./mlflow.db beside the user's notebook
    assert not trap.exists()
    assert report.runs == 3, report.not_carried
    assert_imported(src)
    assert mj.import_mlflow(folder.as_uri(), progress=False).runs_present == 3


def test_import_postgres_source(mlflow_mod: Any, mlops_home: Path, pg_url: str, tmp_path: Path) -> None:
    import mlops_jupyter as mj

    uri = pg_url.replace("postgresql+psycopg://", "postgresql://")  # as MLflow users write it
    src = build_source(mlflow_mod, pg_url, tmp_path, pickled=False, n_points=500)
    src["uri"] = pg_url
    report = mj.import_mlflow(uri, progress=False)
    assert report.runs == 3, report.not_carried
    assert_imported(src)


def test_interrupted_import_is_completed_not_duplicated(sqlite_source: dict[str, Any], mlops_home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import mlops_jupyter as mj
    from mlops_jupyter.store.sql import SqlStore

    real_end = SqlStore.end_run
    calls = {"n": 0}

    def dying_end_run(self: Any, *args: Any, **kw: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the kernel dies after the points landed, one run ended
            raise KeyboardInterrupt
        real_end(self, *args, **kw)

    monkeypatch.setattr(SqlStore, "end_run", dying_end_run)
    with pytest.raises(KeyboardInterrupt):
        mj.import_mlflow(sqlite_source["uri"], models=[], progress=False)
    monkeypatch.setattr(SqlStore, "end_run", real_end)
    report = mj.import_mlflow(sqlite_source["uri"], models=["churn"], progress=False)
    assert report.runs == 2 and report.runs_present == 1  # the two left half-done, completed
    assert_imported(sqlite_source)  # every history exactly once, statuses and times right
    assert _counts()[1] == (N_POINTS + 2) + (100 + 2) + 0


def test_magics_import_and_export_in_a_kernel(sqlite_source: dict[str, Any], mlops_home: Path,
                                             tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    import json
    import sys

    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "mlops-mlflow-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mlops mlflow test", "language": "python",
    }))
    out = tmp_path / "exported" / "mlflow.db"
    out.parent.mkdir()
    cells = [
        "%load_ext mlops_jupyter",
        f"%mlops import mlflow sqlite:///{tmp_path / 'missing.db'}",
        f"%mlops import mlflow {sqlite_source['uri']} --model churn",
        "%mlops export mlflow --to ftp://example.org/mlflow",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update({"MLOPS_HOME": str(mlops_home), "JUPYTER_PATH": str(root)})
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(root)
    try:
        client = nbclient.NotebookClient(nb, kernel_name="mlops-mlflow-test", allow_errors=True,
                                         timeout=300, resources={"metadata": {"path": str(out.parent)}})
        with client.setup_kernel(env=env):
            for i in range(len(cells)):
                client.execute_cell(nb.cells[i], i)
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old

    def text(cell: Any) -> str:
        parts = []
        for o in cell.outputs:
            data = o.get("data", {})
            parts.append(o.get("text", "") + o.get("evalue", "") + str(data.get("text/html", "")))
        return "".join(parts)

    err = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.get("name") == "stderr").strip()
    assert err.startswith("UsageError: ") and "no MLflow database" in err, nb.cells[1].outputs
    assert "\n" not in err and "Traceback" not in err
    assert not [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert "runs: 3 new" in text(nb.cells[2]), text(nb.cells[2])
    assert "model versions: 1 new" in text(nb.cells[2])
    err = "".join(o.get("text", "") for o in nb.cells[3].outputs if o.get("name") == "stderr").strip()
    assert err.startswith("UsageError: %mlops export: unknown MLflow source"), nb.cells[3].outputs
    import mlops_jupyter as mj

    assert mj.models.get("churn@production").version == 1
