"""Every REST route over a real socket: uvicorn started by the test on a free loopback
port. Auth, 401/404/413/422, strict payloads, hot alias reload, integrity fallback."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlops_jupyter as mj
from mlops_jupyter.errors import UsageError
from mlops_jupyter.serving import BackgroundServer, build, is_loopback

TOKEN = "s3cret-token-for-tests-0123456789"
PREDICT = "/v1/models/churn/production/predict"


def _train(flip: bool = False) -> tuple[Any, pd.DataFrame]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({
        "tenure": rng.integers(0, 60, 200).astype("int64"),
        "spend": rng.normal(50, 10, 200),
    })
    y = (X["spend"] > 50).astype(int)
    return LogisticRegression().fit(X, 1 - y if flip else y), X


@pytest.fixture
def models(mlops_home: Path) -> dict[str, Any]:
    clf, X = _train()
    clf2, _ = _train(flip=True)
    v1 = mj.models.register(clf, "churn", signature=X, run=False, metrics={"auc": 0.8})
    v2 = mj.models.register(clf2, "churn", signature=X, run=False, metrics={"auc": 0.9})
    mj.models.register(clf, "other", signature=X, run=False)
    mj.models.promote("churn@v1", "production", reason="first")
    return {"v1": v1, "v2": v2, "X": X, "home": mlops_home}


@pytest.fixture
def server(models: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[BackgroundServer]:
    monkeypatch.setenv("MLOPS_SERVE_TOKEN", TOKEN)
    srv = BackgroundServer(["churn@production"], port=0).start()
    yield srv
    srv.stop()
    assert not srv.running


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=10) as c:
        yield c


def _clean(resp: httpx.Response, home: Path | None = None) -> dict[str, Any]:
    """An error body: our shape, and no trace, path or echoed input."""
    text = resp.text
    assert "Traceback" not in text and "site-packages" not in text and ".py" not in text
    if home is not None:
        assert str(home.parent) not in text
    body = resp.json()
    assert set(body) <= {"error", "message", "errors"} and body["message"]
    return body


def rec(tenure: Any = 12, spend: Any = 55.5) -> dict[str, Any]:
    return {"tenure": tenure, "spend": spend}


def eventually(call: Any, check: Any, timeout: float = 10.0) -> Any:
    """Repeat ``call`` until ``check(result)``: references are re-resolved in the
    background (every 0.2 s), and a new version answers once loaded and warmed."""
    deadline = time.monotonic() + timeout
    while True:
        r = call()
        if check(r) or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_health_is_open_and_says_nothing(server: BackgroundServer) -> None:
    r = httpx.get(server.url + "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert "server" not in r.headers  # no version banner


@pytest.mark.parametrize("path,method", [
    ("/v1/models", "GET"), ("/v1/models/churn/production", "GET"), (PREDICT, "POST"),
    ("/openapi.json", "GET"), ("/docs", "GET"), ("/v1/models/nope/v1", "GET"),
])
def test_every_route_but_health_needs_the_token(server: BackgroundServer, models: dict[str, Any], path: str, method: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}):
        r = httpx.request(method, server.url + path, headers=headers, json={"records": [rec()]})
        assert r.status_code == 401, (path, headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert _clean(r)["error"] == "unauthorized"


def test_predict_records_and_columns_name_the_version(client: httpx.Client, models: dict[str, Any]) -> None:
    X = models["X"].head(5)
    r = client.post(PREDICT, json={"records": X.to_dict(orient="records")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "churn" and body["version"] == 1 and body["ref"] == "churn@v1"
    assert body["requested"] == "churn@production" and r.headers["x-model-version"] == "churn@v1"
    assert body["predictions"] == mj.models.load("churn@v1").predict(X).tolist()
    r = client.post(PREDICT, json={"columns": {c: X[c].tolist() for c in X.columns}, "proba": True})
    assert r.status_code == 200 and len(r.json()["probabilities"]) == 5
    assert r.json()["classes"] == [0, 1]
    r = client.post("/v1/models/churn/v2/predict", json={"records": [rec()]})
    assert r.json()["version"] == 2
    r = client.post("/v1/models/churn/latest/predict", json={"records": [rec()]})
    assert r.json()["version"] == 2


@pytest.mark.parametrize("payload,loc,msg", [
    ({"records": [rec(spend="17.99")]}, ["records", 0, "spend"], "expected a number, got string"),
    ({"records": [rec(), {"tenure": 3}]}, ["records", 1, "spend"], "field required"),
    ({"records": [{**rec(), "extra": 1}]}, ["records", 0, "extra"], "unknown field"),
    ({"records": [rec(spend=None)]}, ["records", 0, "spend"], "null is not allowed"),
    ({"records": [rec(spend=True)]}, ["records", 0, "spend"], "got boolean"),
    ({"records": [rec(tenure=1.5)]}, ["records", 0, "tenure"], "fraction"),
    ({"records": [rec(tenure=2**70)]}, ["records", 0, "tenure"], "64-bit"),
    ({"records": [rec(spend=[1])]}, ["records", 0, "spend"], "got array"),
    ({"records": ["x"]}, ["records", 0], "expected an object"),
    ({"records": {"a": 1}}, ["records"], "expected a list"),
    ({"columns": {"tenure": [1, 2], "spend": [1.0]}}, ["columns"], "different lengths"),
    ({"columns": {"tenure": 1, "spend": [1.0]}}, ["columns", "tenure"], "expected a list"),
    ({"records": []}, ["records"], "at least one row"),
    ({"records": [rec()], "columns": {}}, ["body"], "exactly one"),
    ({}, ["body"], "exactly one"),
    ([rec()], ["body"], "expected an object"),
    ({"records": [rec()], "recordz": 1}, ["body", "recordz"], "unknown field"),
    ({"records": [rec()], "proba": "yes"}, ["body", "proba"], "boolean"),
])
def test_payloads_not_matching_the_signature_get_field_level_422(
    client: httpx.Client, models: dict[str, Any], payload: Any, loc: list[Any], msg: str
) -> None:
    r = client.post(PREDICT, json=payload)
    assert r.status_code == 422, r.text
    body = _clean(r, models["home"])
    assert body["error"] == "invalid_payload"
    assert any(e["loc"] == loc and msg in e["msg"] for e in body["errors"]), body


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_refused(client: httpx.Client, token: bytes) -> None:
    r = client.post(PREDICT, content=b'{"records": [{"tenure": 1, "spend": ' + token + b"}]}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "NaN and infinity" in r.text


def test_values_are_not_echoed_back(client: httpx.Client) -> None:
    evil = "<script>alert('x')</script>"
    r = client.post(PREDICT, json={"records": [{"tenure": evil, "spend": 1.0, "a" * 500: 1}]})
    assert r.status_code == 422
    assert evil not in r.text and "a" * 100 not in r.text


def test_malformed_json_is_400_and_oversized_bodies_413(client: httpx.Client, models: dict[str, Any]) -> None:
    r = client.post(PREDICT, content=b'{"records": [', headers={"content-type": "application/json"})
    assert r.status_code == 400 and _clean(r)["error"] == "bad_json"
    r = client.post(PREDICT, content=b"[" * 100_000 + b"]" * 100_000,
                    headers={"content-type": "application/json"})
    assert r.status_code in (400, 413)
    big = json.dumps({"records": [rec()] * 40_000}).encode()
    assert len(big) > 1 << 20
    r = client.post(PREDICT, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and _clean(r)["error"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        for _ in range(40):
            yield b" " * 65536

    r = client.post(PREDICT, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_too_many_rows_is_422(models: dict[str, Any]) -> None:
    srv = BackgroundServer(["churn@production"], port=0, max_rows=3).start()
    try:
        r = httpx.post(srv.url + PREDICT, json={"records": [rec()] * 4})
        assert r.status_code == 422 and "at most 3 rows" in r.text
        assert httpx.post(srv.url + PREDICT, json={"records": [rec()] * 3}).status_code == 200
    finally:
        srv.stop()


def test_unknown_models_aliases_versions_and_routes_are_404(client: httpx.Client, models: dict[str, Any]) -> None:
    for path, needle in [
        ("/v1/models/nope/production/predict", "served: churn"),
        ("/v1/models/other/v1/predict", "not served here"),  # exists, but not served
        ("/v1/models/churn/staging/predict", "aliases: production"),
        ("/v1/models/churn/v9/predict", "versions: v1, v2"),
    ]:
        r = client.post(path, json={"records": [rec()]})
        assert r.status_code == 404, (path, r.text)
        assert needle in _clean(r, models["home"])["message"]
    r = client.post("/v1/models/churn/production/predict/../../x", json={})
    assert r.status_code in (404, 405)
    r = client.get("/v1/models/..%2F..%2Fetc/v1")
    assert r.status_code in (404, 422) and "etc" not in r.text.replace("..%2F..%2Fetc", "")
    r = client.post("/v1/models/churn/a%20b/predict", json={"records": [rec()]})
    assert r.status_code == 422 and _clean(r)["error"] == "bad_request"


def test_list_models_and_card(client: httpx.Client, models: dict[str, Any]) -> None:
    body = client.get("/v1/models").json()
    assert [m["name"] for m in body["models"]] == ["churn"]  # only what is served
    assert body["models"][0]["aliases"] == {"production": 1}
    card = client.get("/v1/models/churn/production").json()
    assert card["ref"] == "churn@v1" and card["aliases"] == ["production"]
    assert [c["name"] for c in card["signature"]["columns"]] == ["tenure", "spend"]
    assert card["digest"] == models["v1"].blob


def test_openapi_is_published(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/models/{name}/{ref}/predict" in spec["paths"]
    op = spec["paths"]["/v1/models/{name}/{ref}/predict"]["post"]
    assert "records" in op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "HTTPBearer" in json.dumps(spec["components"])


def test_promotion_is_served_without_restart(client: httpx.Client, models: dict[str, Any]) -> None:
    assert client.post(PREDICT, json={"records": [rec()]}).json()["version"] == 1
    mj.models.promote("churn@v2", "production", reason="better")
    r = eventually(lambda: client.post(PREDICT, json={"records": [rec()]}), lambda r: r.json()["version"] == 2)
    assert r.json()["version"] == 2 and r.headers["x-model-version"] == "churn@v2"
    mj.models.demote("churn", "production", reason="incident")
    r = eventually(lambda: client.post(PREDICT, json={"records": [rec()]}), lambda r: r.status_code == 404)
    assert r.status_code == 404


def test_a_tampered_new_version_is_refused_and_the_previous_keeps_serving(
    client: httpx.Client, models: dict[str, Any]
) -> None:
    clf, X = _train()
    v3 = mj.models.register(LogisticRegression(C=0.5).fit(X, (X["tenure"] > 30).astype(int)),
                            "churn", signature=X, run=False)
    assert client.post(PREDICT, json={"records": [rec()]}).json()["version"] == 1
    path = mj.get_store().blobs.local_path(v3.blob)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-10])
    mj.models.promote("churn@v3", "production", reason="looks fine")
    r = eventually(lambda: client.post(PREDICT, json={"records": [rec()]}), lambda r: "fallback" in r.json())
    assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["fallback"] is True
    r = client.post("/v1/models/churn/v3/predict", json={"records": [rec()]})
    assert r.status_code == 503
    body = _clean(r, models["home"])
    assert body["error"] == "model_unavailable" and "integrity" in body["message"]


def test_binding_beyond_loopback_needs_a_token(models: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_SERVE_TOKEN", raising=False)
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"):
        assert not is_loopback(host)
        with pytest.raises(UsageError, match="without a token"):
            build(["churn@production"], host=host, port=0)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    build(["churn@production"], host="0.0.0.0", port=0, token=TOKEN)  # allowed with a token
    with pytest.raises(UsageError, match="at least 16"):
        build(["churn@production"], host="127.0.0.1", port=0, token="short")
    with pytest.raises(KeyError):  # a typo fails at start, naming what exists
        build(["churn@prod"], port=0)
    with pytest.raises(UsageError):
        build(["churn@production"], port=70000)


def test_port_in_use_is_a_clear_error(models: dict[str, Any]) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        with pytest.raises(UsageError, match="did not start"):
            BackgroundServer(["churn@production"], port=s.getsockname()[1]).start(timeout=5)
    finally:
        s.close()


def test_in_process_predict_matches_rest(models: dict[str, Any]) -> None:
    from mlops_jupyter.models.predictor import predict

    X = models["X"].head(3)
    p = predict("churn@production", X, proba=True)
    assert p.version == 1 and p.predictions == mj.models.load("churn@v1").predict(X).tolist()
    with pytest.raises(mj.errors.ValidationError, match="expected a number"):
        predict("churn@production", [{"tenure": 1, "spend": "17.99"}])


def test_revoked_trust_stops_serving_on_the_next_request(models: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from mlops_jupyter.serving.app import create_app

    clf, X = _train()
    mj.models.register(clf, "pk", signature=X, run=False, flavor="pickle")
    mj.models.trust("pk@v1", reason="ok")
    c = TestClient(create_app(["pk@v1"]), base_url="http://127.0.0.1")
    url = "/v1/models/pk/v1/predict"
    assert c.post(url, json={"records": [rec()]}).status_code == 200
    mj.models.trust("pk@v1", reason="compromised", trusted=False)
    with pytest.raises(mj.errors.UnsafeModelError):
        mj.models.load("pk@v1")
    r = eventually(lambda: c.post(url, json={"records": [rec()]}), lambda r: r.status_code == 503)
    assert r.status_code == 503
    body = _clean(r, models["home"])
    assert body["error"] == "model_unavailable" and "trusted" in body["message"]
    assert "pk@v1" not in c.get("/v1/models").json()["status"]["loaded"]
    # trusted again: served at once, not after the refusal back-off
    mj.models.trust("pk@v1", reason="reviewed again")
    assert c.post(url, json={"records": [rec()]}).status_code == 200


def test_a_revoked_previous_version_is_no_fallback(models: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from mlops_jupyter.serving.app import create_app

    clf, X = _train()
    mj.models.register(clf, "pk", signature=X, run=False, flavor="pickle")
    mj.models.register(clf, "pk", signature=X, run=False, flavor="pickle")  # never trusted
    mj.models.trust("pk@v1", reason="ok")
    mj.models.promote("pk@v1", "production", reason="first")
    c = TestClient(create_app(["pk@production"]), base_url="http://127.0.0.1")
    url = "/v1/models/pk/production/predict"
    assert c.post(url, json={"records": [rec()]}).json()["version"] == 1
    mj.models.promote("pk@v2", "production", reason="oops")
    # v2 refused: v1 keeps serving
    r = eventually(lambda: c.post(url, json={"records": [rec()]}), lambda r: "fallback" in r.json())
    assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["fallback"] is True
    mj.models.trust("pk@v1", reason="compromised", trusted=False)
    r = eventually(lambda: c.post(url, json={"records": [rec()]}), lambda r: r.status_code == 503)
    assert r.status_code == 503 and "trusted" in _clean(r)["message"]


def test_served_inputs_become_dataset_versions_for_drift(models: dict[str, Any]) -> None:
    """--log-inputs: what was served lands as versions of a dataset, batch by batch,
    and the last batch is written when the server stops; drift can then compare it."""
    X = models["X"]
    srv = BackgroundServer(["churn@production"], port=0, log_inputs="churn-served").start()
    served_log = srv.server.config.app.state.served_log
    served_log.every_rows = 50

    def wait_versions(n: int) -> None:
        deadline = time.time() + 15
        while len(served_log.versions) < n and time.time() < deadline:
            time.sleep(0.05)

    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            for i in range(0, 60, 20):  # 60 rows: over the batch size, written while serving
                rows = X.iloc[i : i + 20].to_dict(orient="records")
                assert c.post(PREDICT, json={"records": rows}).status_code == 200
            wait_versions(1)
            assert served_log.versions == ["churn-served@v1"]
            rows = X.iloc[60:80].to_dict(orient="records")
            assert c.post(PREDICT, json={"records": rows}).status_code == 200
            bad = c.post(PREDICT, json={"records": [{"tenure": "x", "spend": 1.0}]})
            assert bad.status_code == 422  # refused requests are not logged
    finally:
        srv.stop()  # writes the last batch
    versions = mj.datasets.versions("churn-served")
    assert [v.rows for v in versions] == [60, 20]
    latest = mj.datasets.load("churn-served@latest")
    assert {"tenure", "spend", "served_prediction", "served_version", "served_at"} <= set(latest.columns)
    assert set(latest["served_version"]) == {"churn@v1"}
    report = mj.drift(X, "churn-served@v1", columns=["tenure", "spend"])
    assert [c.column for c in report.columns] == ["tenure", "spend"]


def test_served_log_name_is_checked_before_serving(models: dict[str, Any]) -> None:
    from mlops_jupyter.errors import InvalidNameError

    with pytest.raises(InvalidNameError):
        BackgroundServer(["churn@production"], port=0, log_inputs="../escape")
