"""The closed loop end to end, on SQLite and PostgreSQL, with a model server running.

A retrain that fails promotes nothing, sends an alert and leaves the server as it was;
then drift on the served log runs the retrain template as a job on newer data, the
challenger beats the champion on the same holdout, its job is replayed in a fresh
kernel, the alias moves by its rules with the reason audited, and the running server
answers the next request with the new version. Every step is linked on the check.
"""

from __future__ import annotations

import time

import httpx
import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.serving import BackgroundServer

TOKEN = "loop-token-0123456789-abcdefghij"
PREDICT = "/v1/models/churn/production/predict"


def _data(n: int, seed: int, shift: float = 0.0, driver: str = "tenure") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.normal(shift, 1, n), "spend": rng.normal(0, 1, n)})
    df["churned"] = (df[driver] + rng.normal(0, 0.5, n) > 0).astype(int)
    return df


def _version(client: httpx.Client) -> int:
    r = client.post(PREDICT, json={"records": [{"tenure": 0.5, "spend": -0.2}]})
    assert r.status_code == 200, r.text
    return r.json()["version"]


@pytest.mark.slow
def test_drift_to_a_newly_served_model(backend, monkeypatch) -> None:
    from sklearn.linear_model import LogisticRegression

    train = _data(2000, 0)
    mj.datasets.add(train, name="churn-train")
    champion = LogisticRegression().fit(train[["tenure", "spend"]], train["churned"])
    mj.models.register(champion, "churn", dataset="churn-train@v1",
                       signature=train[["tenure", "spend"]])
    mj.models.promote("churn@v1", alias="production", reason="first")
    mj.models.set_rules("churn", "production", require=["auc>=0.7"])
    # newer labelled data: the world changed (spend now drives churn), tenure moved
    mj.datasets.add(_data(2000, 1, shift=1.0, driver="spend"), name="churn-new")
    retrain = {"template": "retrain", "dataset": "churn-new", "metric": "auc",
               "replay_tolerance": "0.5%",
               "parameters": {"model": "linear", "target": "churned", "test_size": 0.3}}

    monkeypatch.setenv("MLOPS_SERVE_TOKEN", TOKEN)
    srv = BackgroundServer(["churn@production"], port=0).start()
    try:
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=30) as client:
            assert _version(client) == 1

            # 1. a retrain that fails: nothing promoted, an alert, the server unchanged
            mj.monitors.add("broken", model="churn@production", current="churn-served",
                            alerts=["log"], retrain={**retrain, "dataset": "no-such-data@v1"})
            served = _data(1500, 2, shift=1.0).drop(columns="churned")
            mj.datasets.add(served, name="churn-served")
            bad = mj.monitors.run("broken")
            assert bad.status == "drift" and bad.loop is not None and not bad.loop.ok
            assert bad.loop.failed_step == "retrain" and not bad.loop.promoted
            kinds = {a.key.split("|")[-1]: a.status for a in mj.get_store().list_alerts()}
            assert kinds == {"drift": "sent", "retrain_failed": "sent"}
            assert mj.models.get("churn@production").version == 1
            assert _version(client) == 1

            # 2. the loop: drift -> retrain -> compare -> replay -> promote -> served
            mj.monitors.add("churn-prod", model="churn@production", current="churn-served",
                            alerts=["log"], retrain=retrain)
            res = mj.monitors.run("churn-prod")
            assert res.status == "drift" and "tenure" in res.report.drifted_columns
            assert res.loop.ok and res.loop.promoted, res.summary()
            assert [s["step"] for s in res.loop.steps] == [
                "check", "retrain", "compare", "replay", "promote", "serve"]
            assert mj.models.get("churn@production").version == 2
            # the running server switches once v2 is loaded and warmed; v1 answers meanwhile
            deadline = time.monotonic() + 30
            while (served := _version(client)) != 2:
                assert served == 1 and time.monotonic() < deadline
                time.sleep(0.05)

        # linked: check -> job -> run -> model version -> promotion (audited reason)
        h = mj.monitors.history("churn-prod").iloc[-1]
        assert h["promoted"] and h["model_version"] == 2 and h["job_id"] == res.loop.job_id
        run = mj.get_run(res.loop.run_id)
        assert run.job_id == res.loop.job_id
        assert mj.models.get("churn@v2").run_id == run.id
        event = mj.models.events("churn", "production")[-1]
        assert event.to_version == 2 and f"monitor churn-prod check {res.check_id[:8]}" in event.reason
        assert "replay within 0.5%" in event.reason
        html = res._repr_html_()
        assert html.count("<li") == 6 and "promote" in html
        # the replay registered nothing: v1 (champion) and v2 (challenger) only
        assert [v.version for v in mj.get_store().list_model_versions("churn")] == [1, 2]
    finally:
        srv.stop()
