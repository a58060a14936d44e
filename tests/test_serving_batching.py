"""Issue 16 over real sockets: adaptive batching keeps every answer with its own request
and fails a bad request alone; warm switches under load (zero 5xx, a tampered version
never switched to); the batch endpoint (JSON columns, Arrow IPC, Parquet) with the same
checks."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import mlops_jupyter as mj
from mlops_jupyter.serving import BackgroundServer

PREDICT = "/v1/models/ident/production/predict"


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "plan": rng.choice(["basic", "pro"], n).astype(object),
        "k": rng.integers(0, 9, n).astype("int64"),
    })


def _model(scale: float) -> Any:
    """y = scale * x (exactly, up to float error); unknown plans make the model raise."""
    X = _frame()
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="error"), ["plan"]), remainder="passthrough"),
        LinearRegression(),
    )
    return pipe.fit(X, scale * X["x"]), X


@pytest.fixture
def served(mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BackgroundServer]:
    monkeypatch.delenv("MLOPS_SERVE_TOKEN", raising=False)
    for scale in (1.0, 2.0):
        m, X = _model(scale)
        mj.models.register(m, "ident", signature=X, run=False)
    mj.models.promote("ident@v1", "production")
    srv = BackgroundServer(["ident@production"], port=0, batch_wait=0.02, refresh=0.05).start()
    yield srv
    srv.stop()


def _rows(ids: list[float], plan: str = "pro") -> dict[str, Any]:
    return {"records": [{"x": float(i), "plan": plan, "k": 1} for i in ids]}


def test_every_answer_belongs_to_its_own_request_under_concurrency(served: BackgroundServer) -> None:
    errors: list[str] = []

    def client(c_id: int) -> None:
        with httpx.Client(base_url=served.url, timeout=10) as c:
            for j in range(25):
                ids = [c_id * 1000 + j * 10 + r for r in range(1 + (j % 3))]  # 1 to 3 rows
                r = c.post(PREDICT, json=_rows(ids))
                if r.status_code != 200:
                    errors.append(r.text)
                    continue
                got = r.json()["predictions"]
                if len(got) != len(ids) or not np.allclose(got, ids, atol=1e-6):
                    errors.append(f"client {c_id}: sent {ids}, got {got}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    stats = served.server.config.app.state.batcher.status()
    assert stats["requests"] == 12 * 25
    assert stats["max_batch"] > 1 and stats["batches"] < stats["requests"]  # really batched


def test_one_bad_request_in_a_batch_fails_alone(served: BackgroundServer) -> None:
    """The model itself rejects an unknown plan (the signature lets any string through):
    the joint call fails, each request is retried alone, only the bad one gets 422."""
    app = served.server.config.app
    pred, batcher = app.state.predictor, app.state.batcher
    lm, _ = pred.route("ident", "production")
    good = [pred.check(lm, _rows([i, i + 0.5])) for i in range(5)]
    bad = pred.check(lm, _rows([7.0], plan="enterprise"))
    items = good[:2] + [bad] + good[2:]
    before = dict(batcher.stats)

    async def together() -> list[Any]:
        batcher.incoming = len(items)  # as if all were being read: they share one batch
        futs = []
        for it in items:
            batcher.incoming -= 1
            futs.append(asyncio.ensure_future(batcher.submit(lm, it)))
        return await asyncio.gather(*futs)

    answers = asyncio.run(together())
    assert batcher.stats["batches"] == before["batches"] + 1  # one joint attempt
    for it, ans in zip(items, answers, strict=True):
        if it is bad:
            assert isinstance(ans, mj.errors.ValidationError) and "could not predict" in str(ans)
        else:
            assert np.allclose(ans["predictions"], it[0]["x"])
    # and over HTTP, concurrently
    results: dict[str, int] = {}

    def post(key: str, body: dict[str, Any]) -> None:
        results[key] = httpx.post(served.url + PREDICT, json=body, timeout=10).status_code

    threads = [threading.Thread(target=post, args=(f"g{i}", _rows([i]))) for i in range(8)]
    threads.append(threading.Thread(target=post, args=("bad", _rows([1.0], plan="enterprise"))))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.pop("bad") == 422 and set(results.values()) == {200}


def _hammer(url: str, stop: threading.Event, log: list[tuple[float, int, int | None, float]],
            body: dict[str, Any]) -> None:
    with httpx.Client(timeout=10) as c:
        while not stop.is_set():
            t = time.perf_counter()
            r = c.post(url, json=body)
            lat = time.perf_counter() - t
            v = r.json().get("version") if r.status_code == 200 else None
            log.append((t, r.status_code, v, lat))


def _under_load(served: BackgroundServer, action: Any, clients: int = 4,
                until: Any = None, seconds: float = 6.0) -> list[list[Any]]:
    stop = threading.Event()
    logs: list[list[Any]] = [[] for _ in range(clients)]
    threads = [threading.Thread(target=_hammer, args=(served.url + PREDICT, stop, logs[i], _rows([1.0])))
               for i in range(clients)]
    for t in threads:
        t.start()
    while not all(any(s == 200 for _, s, _, _ in lg) for lg in logs):
        time.sleep(0.05)  # every client served before the change
    action()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until(logs)):
        time.sleep(0.1)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    return logs


def test_warm_switch_under_load_has_zero_5xx(served: BackgroundServer) -> None:
    logs = _under_load(served, lambda: mj.models.promote("ident@v2", "production"),
                       until=lambda logs: all(lg and lg[-1][2] == 2 for lg in logs))
    for lg in logs:
        statuses = {s for _, s, _, _ in lg}
        assert statuses == {200}, statuses
        versions = [v for _, _, v, _ in lg]
        assert versions[0] == 1 and versions[-1] == 2
        assert versions == sorted(versions)  # never back to the old one
    assert served.status()["serving"]["ident@production"] == "ident@v2"


def test_a_version_failing_its_hash_check_is_never_switched_to(served: BackgroundServer) -> None:
    m, X = _model(3.0)
    v3 = mj.models.register(m, "ident", signature=X, run=False)
    path = mj.get_store().blobs.local_path(v3.blob)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-10])
    logs = _under_load(served, lambda: mj.models.promote("ident@v3", "production"), seconds=2.0)
    answers = [(s, v) for lg in logs for _, s, v, _ in lg]
    assert answers and {s for s, _ in answers} == {200}
    assert {v for _, v in answers} == {1}  # never v3
    r = httpx.post(served.url + PREDICT, json=_rows([1.0])).json()
    assert r["version"] == 1 and r["fallback"] is True
    # a good version promoted afterwards is switched to
    mj.models.promote("ident@v2", "production")
    deadline = time.monotonic() + 10
    while httpx.post(served.url + PREDICT, json=_rows([1.0])).json()["version"] != 2:
        assert time.monotonic() < deadline


def test_batch_endpoint_json_arrow_parquet_with_the_same_checks(served: BackgroundServer) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    url = served.url + "/v1/models/ident/production/batch"
    X = _frame(5000)
    want = X["x"].to_numpy()
    table = pa.Table.from_pandas(X, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    arrow = sink.getvalue()
    pbuf = io.BytesIO()
    pq.write_table(table, pbuf)
    cols = {c: X[c].tolist() for c in X.columns}
    for ctype, body in [("application/vnd.apache.arrow.stream", arrow),
                        ("application/vnd.apache.parquet", pbuf.getvalue())]:
        r = httpx.post(url, content=body, headers={"content-type": ctype}, timeout=30)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["rows"] == 5000 and out["version"] == 1 and np.allclose(out["predictions"], want)
    r = httpx.post(url, json={"columns": cols}, timeout=30)
    assert r.status_code == 200 and np.allclose(r.json()["predictions"], want)
    # the same checks: wrong types, nulls, NaN, unknown and missing columns, by column
    bad = X.copy()
    bad["x"] = bad["x"].astype(str)
    bad_tables = {
        "x": pa.Table.from_pandas(bad, preserve_index=False),
        "k": table.set_column(2, "k", pa.array([None] + [1] * 4999, type=pa.int64())),
        "nan": table.set_column(0, "x", pa.array([1.0, float("nan")] + [0.0] * 4998)),
        "extra": table.append_column("zzz", pa.array([1] * 5000)),
        "missing": table.drop(["plan"]),
    }
    for key, t in bad_tables.items():
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
        r = httpx.post(url, content=sink.getvalue(), headers={"content-type": "application/vnd.apache.arrow.stream"})
        assert r.status_code == 422, (key, r.text)
        assert r.json()["error"] == "invalid_payload" and r.json()["errors"][0]["loc"][0] == "columns"
    r = httpx.post(url, content=b"not arrow", headers={"content-type": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 422 and "Arrow" in r.json()["message"]
    r = httpx.post(url, json={"columns": {**cols, "x": ["1.5"] + cols["x"][1:]}})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["columns", "x", 0]
    r = httpx.post(url, content=arrow, headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_in_process_predict_is_unchanged_by_the_fast_path(served: BackgroundServer) -> None:
    from mlops_jupyter.models.predictor import predict

    p = predict("ident@production", pd.DataFrame({"x": [2.0], "plan": ["pro"], "k": [1]}))
    assert p.version == 1 and np.allclose(p.predictions, [2.0])
