"""Monitors: definition, windowed checks on a binned reference, history and charts,
delayed labels, and the same actions from the CLI, the magic and the scheduler."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.cli import main
from mlops_jupyter.errors import ConflictError, NotFoundError, UsageError


def _frame(n: int, seed: int, shift: float = 0.0, label: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.normal(shift, 1, n), "spend": rng.normal(0, 1, n),
                       "plan": rng.choice(["a", "b", "c"], n)})
    if label:
        df["churned"] = (df["tenure"] + rng.normal(0, 1, n) > 0).astype(int)
    return df


@pytest.fixture
def model(mlops_home):
    from sklearn.linear_model import LogisticRegression

    train = _frame(3000, 0)
    mj.datasets.add(train, name="train")
    clf = LogisticRegression().fit(train[["tenure", "spend"]], train["churned"])
    mj.models.register(clf, "churn", dataset="train@v1")
    mj.models.promote("churn@v1", alias="production", reason="t")
    return clf


def _serve(clf, n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    df = _frame(n, seed, shift, label=False)
    df["served_prediction"] = clf.predict(df[["tenure", "spend"]])
    df["cid"] = [f"c{seed}-{i}" for i in range(n)]
    mj.datasets.add(df, name="served")
    return df


def test_windows_label_and_history(model, monkeypatch) -> None:
    m = mj.monitors.add("churn-prod", model="churn@production", current="served")
    assert m.spec["columns"] == ["tenure", "spend"] and m.spec["label"] == "churned"
    assert m.reference_ref.startswith("churn@v1 (trained on train@v1)")
    # a check never rereads the training data: the binned profile is all it needs
    import mlops_jupyter.monitoring.api as drift_api

    monkeypatch.setattr(drift_api, "_resolve", lambda *a, **k: pytest.fail("reread reference"))
    assert mj.monitors.run("churn-prod").status == "empty"  # nothing served yet
    _serve(model, 2000, 1)
    _serve(model, 2000, 2)
    ok = mj.monitors.run("churn-prod")  # both new versions, one window; no label: no drift
    assert ok.status == "ok" and ok.rows == 4000, ok.summary()
    assert mj.monitors.run("churn-prod").status == "empty"  # the watermark moved
    _serve(model, 2000, 3, shift=1.0)
    bad = mj.monitors.run("churn-prod")
    assert bad.status == "drift" and bad.report.drifted_columns == ["tenure"]
    assert bad.report.prediction_drifted  # the served predictions moved too
    h = mj.monitors.history("churn-prod")
    assert list(h["status"]) == ["empty", "ok", "empty", "drift"] and h["rows"].iloc[-1] == 2000
    col = mj.monitors.history("churn-prod", column="tenure")
    assert list(col["column_drifted"].iloc[[1, 3]]) == [False, True]
    # every check with data is in drift history too
    assert list(mj.drift_history("model:churn")["drifted"]) == [False, True]
    with pytest.raises(NotFoundError, match="columns: spend, tenure"):
        mj.monitors.history("churn-prod", column="nope")
    bundle = mj.monitors.chart("churn-prod", "tenure")._repr_mimebundle_()
    spec = bundle["application/vnd.vegalite.v5+json"]
    assert spec["$schema"].endswith("v5.json") and len(spec["data"]["values"]) == 4
    rule = [la for la in spec["layer"] if la["mark"]["type"] == "rule"]
    assert rule and rule[0]["encoding"]["y"]["datum"] > 0  # the effect-size floor
    svg = bundle["image/svg+xml"]  # the static chart comes from the shared renderer, with axes
    assert svg.startswith("<svg") and "effect" in svg and "check" in svg
    assert "<svg" in mj.monitors.chart("churn-prod").to_html()


def test_performance_with_delayed_labels(model) -> None:
    mj.monitors.add("perf", model="churn@production", current="served", labels="labels",
                    key="cid", metric="accuracy", max_drop=0.05)
    served = _serve(model, 2000, 4)
    truth = (served["tenure"] > 0).astype(int)
    mj.datasets.add(pd.DataFrame({"cid": served["cid"], "churned": 1 - truth}), name="labels")
    res = mj.monitors.run("perf")
    assert res.status == "perf" and res.performance["degraded"], res.summary()
    assert res.performance["rows"] == 2000 and res.performance["current"] < 0.3


def test_definition_errors(model) -> None:
    with pytest.raises(NotFoundError):
        mj.monitors.add("x", model="nope@production", current="served")
    with pytest.raises(UsageError, match="duration"):
        mj.monitors.add("x", model="churn@production", current="served", every="often")
    with pytest.raises(UsageError, match="alert channel"):
        mj.monitors.add("x", model="churn@production", current="served", alerts=["pager"])
    with pytest.raises(UsageError, match="key="):
        mj.monitors.add("x", model="churn@production", current="served", labels="l")
    with pytest.raises(UsageError, match="dataset"):
        mj.monitors.add("x", model="churn@production", current="served", retrain="retrain")
    mj.monitors.add("x", model="churn@production", current="served")
    with pytest.raises(ConflictError, match="replace"):
        mj.monitors.add("x", model="churn@production", current="served")
    mj.monitors.add("x", model="churn@production", current="served", replace=True)
    assert list(mj.monitors.list()["name"]) == ["x"]
    with pytest.raises(NotFoundError, match="monitors: x"):
        mj.monitors.run("y")


def test_cli_run_all_exit_codes_and_watch(model, capsys, tmp_path) -> None:
    assert main(["monitor", "add", "a", "--model", "churn@production", "--current", "served",
                 "--every", "1s"]) == 0
    assert main(["monitor", "add", "b", "--model", "churn@production", "--current", "served",
                 "--alert", "webhook:ftp://x"]) == 2
    _serve(model, 1500, 5)
    assert main(["monitor", "run", "--all", "--fail-on-drift", "--workers", "2"]) == 0
    assert list(mj.monitors.history("a")["status"]) == ["ok"]  # computed in a worker process
    _serve(model, 1500, 6, shift=1.0)
    assert main(["monitor", "run", "--all", "--fail-on-drift"]) == 1
    out = capsys.readouterr().out
    assert "DRIFT" in out and "1 monitors checked: 1 need attention" in out
    assert main(["monitor", "run"]) == 2
    assert main(["monitor", "list"]) == 0
    assert main(["monitor", "history", "a", "--html", str(tmp_path / "c.html")]) == 0
    assert "<svg" in (tmp_path / "c.html").read_text()
    _serve(model, 1500, 7)
    assert main(["monitor", "watch", "--max-runs", "1"]) == 0  # APScheduler, one check
    assert list(mj.monitors.history("a")["status"])[-1] == "ok"


def test_magic_monitor() -> None:
    from IPython.testing import globalipapp

    globalipapp.start_ipython()
    ip = globalipapp.get_ipython()
    ip.run_line_magic("load_ext", "mlops_jupyter")
    from IPython.core.error import UsageError as IPyUsageError

    with pytest.raises(IPyUsageError, match="add, run, list or history"):
        ip.run_line_magic("mlops", "monitor frobnicate")


def test_magic_monitor_calls_the_api(model) -> None:
    from IPython.testing import globalipapp

    globalipapp.start_ipython()
    ip = globalipapp.get_ipython()
    ip.run_line_magic("load_ext", "mlops_jupyter")
    ip.run_line_magic("mlops", "monitor add m1 --model churn@production --current served")
    _serve(model, 1500, 8, shift=1.0)
    res = ip.run_line_magic("mlops", "monitor run m1")
    assert res.status == "drift" and "DRIFT" in res._repr_html_()
    assert len(ip.run_line_magic("mlops", "monitor history m1")) == 1
    assert json.loads(json.dumps(ip.run_line_magic("mlops", "monitor history m1 --chart").spec))
