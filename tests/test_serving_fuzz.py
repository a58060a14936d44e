"""Property-based fuzz of the REST API from its own OpenAPI schema (schemathesis):
whatever the paths, headers and bodies, the server never answers 5xx. Bounded in time:
a fixed number of examples per operation, no shrinking past a deadline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from sklearn.linear_model import LogisticRegression

schemathesis = pytest.importorskip("schemathesis")

from schemathesis import GenerationMode  # noqa: E402

import mlops_jupyter as mj  # noqa: E402
from mlops_jupyter.serving import BackgroundServer  # noqa: E402

TOKEN = "fuzz-token-0123456789-abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served(mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, Any]]]:
    """A real server (loopback, token) serving a pipeline with every column type."""
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    X = pd.DataFrame({
        "n": rng.integers(0, 9, 50).astype("int64"),
        "x": rng.normal(size=50),
        "c": pd.Categorical(rng.choice(["a", "b"], 50)),
        "s": rng.choice(["p", "q"], 50).astype(object),
    })
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["c", "s"]),
                                remainder="passthrough"),
        LogisticRegression(),
    ).fit(X, (X["x"] > 0).astype(int))
    mj.models.register(pipe, "churn", signature=X, run=False)
    mj.models.promote("churn@v1", "production")
    monkeypatch.setenv("MLOPS_SERVE_TOKEN", TOKEN)
    srv = BackgroundServer(["churn@production"], port=0).start()
    spec = httpx.get(srv.url + "/openapi.json", headers=AUTH).json()
    yield srv.url, spec
    srv.stop()


def _fuzz(url: str, strategy: Any, examples: int) -> int:
    seen = {"n": 0}

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case: Any) -> None:
        response = case.call(base_url=url, headers=AUTH, timeout=10)
        seen["n"] += 1
        assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
        assert "Traceback" not in response.text and "site-packages" not in response.text

    check()
    return seen["n"]


@pytest.mark.slow
def test_api_never_answers_5xx(served: tuple[str, dict[str, Any]]) -> None:
    url, spec = served
    schema = schemathesis.openapi.from_dict(spec)
    calls = 0
    ops = [r.ok() for r in schema.get_all_operations()]
    assert {op.path for op in ops} >= {"/v1/models/{name}/{ref}/predict", "/v1/models", "/health"}
    for op in ops:
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        strategies = [op.as_strategy(generation_mode=m) for m in modes]
        if "{name}" in op.path:  # also aim at the real model, so bodies reach the validator
            strategies += [op.as_strategy(generation_mode=m, path_parameters={
                "name": "churn", "ref": "production"}) for m in modes]
        for st in strategies:
            try:
                calls += _fuzz(url, st, examples=40)
            except Unsatisfiable:  # nothing to make invalid (e.g. GET /health, negative mode)
                continue
    assert calls >= 200


@pytest.mark.slow
def test_hand_written_hostile_requests_never_5xx(served: tuple[str, dict[str, Any]]) -> None:
    url = served[0]
    h = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    bodies = [b"", b"null", b"0", b'"x"', b"[]", b'{"records": null}', b'{"records": [null]}',
              b'{"columns": {"n": [1e400], "x": [1], "c": ["a"], "s": ["p"]}}',
              b'{"records": [{"n": 1, "x": 1, "c": "zz", "s": "p"}]}',  # unseen category
              b'{"records": [{"n": 1, "x": 1, "c": "a", "s": "unseen"}]}',
              b'{"records": [{"n": 1, "x": 1, "c": "a", "s": "\\ud800"}]}',
              b'\xff\xfe', b'{"records": [{"__proto__": 1}]}', b'{"records": [{"\\ud800": 1}]}']
    for body in bodies:
        for path in ("/v1/models/churn/production/predict", "/v1/models/churn/v1/predict",
                     "/v1/models/%00/x/predict", "/v1/models/churn/%2e%2e/predict"):
            r = httpx.post(url + path, content=body, headers=h, timeout=10)
            assert r.status_code < 500, (path, body, r.status_code, r.text)
