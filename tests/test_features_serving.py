"""Serving a model trained on feature-repository frames, over a real socket: by entity
keys (looked-up materialised values) and by raw source rows (computed by the same
definition code) give the same features and predictions; the skew check agrees, and
finds skew when a view cannot be computed from one key's rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlops_jupyter as mj
from mlops_jupyter.serving import BackgroundServer
from tests.test_features import entity_frame, events, write_views

ROUTE = "/v1/features/churn/v1"


@pytest.fixture
def trained(mlops_home: Path) -> dict[str, Any]:
    root = mlops_home.parent
    write_views(root)
    mj.datasets.add(events(), name="events")
    mj.features.apply()
    ent = entity_frame().iloc[[1, 2, 3, 4, 5]].reset_index(drop=True)  # every row has values
    frame = mj.features.training_frame(ent, ["customer_stats:spend", "customer_stats:n_events"])
    X = frame[["spend", "n_events"]]
    model = LogisticRegression().fit(X, frame["label"])
    mj.models.register(model, "churn", signature=X, dataset=frame.attrs["mlops_dataset"], run=False)
    return {"model": model, "root": root}


@pytest.fixture
def client(trained: dict[str, Any]) -> Iterator[httpx.Client]:
    srv = BackgroundServer(["churn@v1"], port=0).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=20) as c:
            yield c
    finally:
        srv.stop()


def source_rows(ids: list[int]) -> list[dict[str, Any]]:
    ev = events()
    ev = ev[ev["customer_id"].isin(ids)]
    return [{"customer_id": int(r.customer_id), "ts": r.ts.isoformat(), "amount": float(r.amount),
             "loaded_at": r.loaded_at.isoformat()} for r in ev.itertuples()]


def test_by_keys_and_by_raw_inputs_agree(client: httpx.Client, trained: dict[str, Any]) -> None:
    by_key = client.post(f"{ROUTE}/predict", json={"keys": [1, 2], "proba": True})
    assert by_key.status_code == 200, by_key.text
    raw = client.post(f"{ROUTE}/predict", json={"raw": {"customer_stats": source_rows([2, 1])},
                                               "keys": {"customer_id": [1, 2]}, "proba": True})
    assert raw.status_code == 200, raw.text
    a, b = by_key.json(), raw.json()
    assert a["source"] == "lookup" and b["source"] == "raw"
    # latest values: customer 1's last event (day 5), customer 2's tie winner (41.0)
    assert a["features"] == {"spend": [50.0, 41.0], "n_events": [4, 2]}
    assert b["features"] == a["features"]
    assert a["predictions"] == b["predictions"] and a["probabilities"] == b["probabilities"]
    expected = trained["model"].predict(pd.DataFrame(a["features"])[["spend", "n_events"]]).tolist()
    assert a["predictions"] == expected
    assert by_key.headers["X-Model-Version"] == "churn@v1"
    # without keys, the raw rows' keys in order of first appearance
    auto = client.post(f"{ROUTE}/predict", json={"raw": {"customer_stats": source_rows([1, 2])}}).json()
    assert auto["keys"] == {"customer_id": [1, 2]} and auto["predictions"] == a["predictions"]
    values = client.post(f"{ROUTE}/values", json={"keys": [{"customer_id": 2}]}).json()
    assert values["features"] == {"spend": [41.0], "n_events": [2]}


def test_bad_feature_requests_are_clear(client: httpx.Client) -> None:
    r = client.post(f"{ROUTE}/predict", json={"keys": [3]})  # never seen: no values to serve
    assert r.status_code == 422 and "null is not allowed" in r.json()["message"]
    r = client.post(f"{ROUTE}/predict", json={"keys": [{"user": 1}]})
    assert r.status_code == 422 and "customer_id" in r.json()["message"]
    r = client.post(f"{ROUTE}/predict", json={"rows": []})
    assert r.status_code == 422 and "accepted: keys, raw, proba" in r.json()["message"]
    r = client.post(f"{ROUTE}/predict", json={"raw": {"<script>": []}})
    assert r.status_code == 422 and "<script>" not in r.text
    r = client.post(f"{ROUTE}/predict", json={"keys": {"customer_id": [1, 2], "other": [1]}})
    assert r.status_code == 422 and "equal length" in r.json()["message"]
    r = client.post(f"{ROUTE}/predict", json={"keys": [[1, 2], {"a": 1}]})
    assert r.status_code == 422
    r = client.post(f"{ROUTE}/predict", content=b"{nope")
    assert r.status_code == 400
    r = client.post("/v1/features/other/v1/predict", json={"keys": [1]})
    assert r.status_code == 404


def test_skew_check_agrees_then_finds_raw_skew(client: httpx.Client, trained: dict[str, Any]) -> None:
    def served(keys: pd.DataFrame) -> pd.DataFrame:
        body = {"keys": {"customer_id": keys["customer_id"].tolist()}}
        return pd.DataFrame(client.post(f"{ROUTE}/values", json=body).json()["features"])

    report = mj.features.skew_check("churn@v1", sample=10, served=served)
    assert report.ok, str(report)
    assert set(report.to_frame()["path"]) == {"lookup", "raw", "served"}

    # a view whose value for one key depends on every key's rows cannot be computed from
    # one key's raw rows: the check shows the raw path differs, the lookup does not
    write_views(trained["root"], RELATIVE, name="relative.py")
    mj.features.apply()
    ent = entity_frame().iloc[[1, 2, 3, 4, 5]].reset_index(drop=True)
    frame = mj.features.training_frame(ent, ["relative:rel_spend"])
    model = LogisticRegression().fit(frame[["rel_spend"]], frame["label"])
    mj.models.register(model, "rel", signature=frame[["rel_spend"]], dataset=frame.attrs["mlops_dataset"], run=False)
    report = mj.features.skew_check("rel@v1", sample=1)
    assert not report.ok
    bad = report.to_frame().query("mismatched > 0")
    assert bad["path"].tolist() == ["raw"] and bad["feature"].tolist() == ["relative:rel_spend"]
    assert "raw: relative:rel_spend" in str(report)


RELATIVE = """
from mlops_jupyter.features import feature_view

@feature_view(entity="customer_id", timestamp="ts", source="events",
              features={"rel_spend": ("float", "amount relative to the mean of all events")})
def relative(ev):
    return ev.assign(rel_spend=ev["amount"] / ev["amount"].mean())
"""
