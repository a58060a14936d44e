"""`mlops serve --workers 2` (issue 13): two processes behind one port, each keeping the
guarantees: hot alias reload, hash check with fallback, Host and token checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlops_jupyter as mj

TOKEN = "workers-token-0123456789abcdef"
PREDICT = "/v1/models/churn/production/predict"
ROW = {"records": [{"a": 0.5, "b": -1.0}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_workers_each_reload_aliases_and_refuse_tampered_versions(mlops_home: Path) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 2)), columns=["a", "b"])
    for c in (1.0, 0.5, 0.25):
        mj.models.register(LogisticRegression(C=c).fit(X, X["a"] > 0), "churn", signature=X, run=False)
    mj.models.promote("churn@v1", "production")
    port = _free_port()
    env = {**os.environ, "MLOPS_HOME": str(mlops_home), "MLOPS_SERVE_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "mlops_jupyter", "serve", "churn@production",
                             "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)

        def versions(n: int = 40) -> list[tuple[int, int | None, bool]]:
            out = []
            for _ in range(n):  # a new connection each time: spread over both workers
                r = httpx.post(base + PREDICT, json=ROW, headers=auth, timeout=10)
                body = r.json()
                out.append((r.status_code, body.get("version"), body.get("fallback", False)))
            return out

        assert set(versions()) == {(200, 1, False)}
        assert httpx.post(base + PREDICT, json=ROW, timeout=10).status_code == 401
        assert httpx.post(base + PREDICT, json=ROW, headers={**auth, "Host": "evil.example"}).status_code == 400
        # tampered v3: no worker ever serves it, each falls back to v1
        v3 = mj.models.get("churn@v3")
        path = mj.get_store().blobs.local_path(v3.blob)
        os.chmod(path, 0o644)
        path.write_bytes(path.read_bytes()[:-10])
        mj.models.promote("churn@v3", "production", reason="tampered")
        time.sleep(1.5)
        assert set(versions()) == {(200, 1, True)}
        # a good promotion reaches every worker without a restart
        mj.models.promote("churn@v2", "production", reason="good")
        deadline = time.monotonic() + 20
        while set(got := versions(20)) != {(200, 2, False)}:
            assert time.monotonic() < deadline, got
            time.sleep(0.2)
        assert set(versions()) == {(200, 2, False)}
    finally:
        proc.terminate()
        proc.wait(20)
