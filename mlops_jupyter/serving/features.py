"""REST routes for models trained on feature-repository frames (parse, call, render).

::

    POST /v1/features/{name}/{ref}/predict   {"keys": ...} | {"raw": {view: [rows]}, "keys"?: ...}
    POST /v1/features/{name}/{ref}/values    {"keys": ...}   the looked-up feature values

``keys`` is ``[{"customer_id": 1}, ...]``, ``{"customer_id": [1, 2]}`` or, with one
entity column, ``[1, 2]``. By keys, the server looks up each key's latest materialised
values of the definition versions the model was trained on; with ``raw`` it computes
them from the rows sent, with the same definition code. Either way the values go
through the model's signature checks exactly like ``/v1/models/.../predict``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mlops_jupyter.errors import ValidationError
from mlops_jupyter.features import online

_ACCEPTED = {"keys", "raw", "proba"}


def _body(raw: bytes) -> dict[str, Any] | JSONResponse:
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return JSONResponse({"error": "bad_json", "message": "the body is not valid JSON"}, status_code=400)
    if not isinstance(body, dict):
        raise ValidationError("a JSON object with 'keys' or 'raw' is required",
                              violations=[{"loc": ["body"], "msg": "expected an object"}])
    extra = sorted(str(k)[:64] for k in set(body) - _ACCEPTED)
    if extra:
        raise ValidationError("unknown top-level field(s); accepted: keys, raw, proba",
                              violations=[{"loc": ["body", k], "msg": "unknown field"} for k in extra[:5]])
    if "keys" not in body and "raw" not in body:
        raise ValidationError("give 'keys' (served from materialised values) or 'raw' (computed)",
                              violations=[{"loc": ["body", "keys"], "msg": "field required"}])
    return body


def _features(model: str, body: dict[str, Any]) -> tuple[Any, Any]:
    if "raw" in body:
        return online.compute_features(model, body["raw"], keys=body.get("keys"))
    feats = online.lookup_features(model, body["keys"])
    keys = online.keys_frame(body["keys"], online.entity_columns(model))
    return keys, feats


def _predict(pred: Any, name: str, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    lm, _ = pred.get(name, ref)
    keys, feats = _features(lm.version.ref, body)
    proba = body.get("proba", False)
    # the exact version the features were computed for, even if the alias moves meanwhile
    result = pred.predict(name, f"v{lm.version.version}",
                          {"columns": online.to_json_columns(feats), "proba": proba})
    out = result.to_dict()
    out["keys"] = online.to_json_columns(keys)
    out["features"] = online.to_json_columns(feats)
    out["source"] = "raw" if "raw" in body else "lookup"
    return out


def add_feature_routes(app: FastAPI, pred: Any, protected: list[Any]) -> None:
    """Mount the feature routes on the model server (called once from ``create_app``)."""

    @app.post("/v1/features/{name}/{ref}/predict", tags=["features"], dependencies=protected,
              summary="predict from entity keys (looked up) or raw source rows (computed)")
    async def predict_features(name: str, ref: str, request: Request) -> JSONResponse:
        name = pred.check_name(name)
        body = _body(await request.body())
        if isinstance(body, JSONResponse):
            return body
        out = await run_in_threadpool(_predict, pred, name, ref, body)
        return JSONResponse(out, headers={"X-Model-Version": f"{out['model']}@v{out['version']}"})

    @app.post("/v1/features/{name}/{ref}/values", tags=["features"], dependencies=protected,
              summary="the feature values the server would use for these keys")
    async def feature_values(name: str, ref: str, request: Request) -> JSONResponse:
        name = pred.check_name(name)
        body = _body(await request.body())
        if isinstance(body, JSONResponse):
            return body

        def work() -> dict[str, Any]:
            lm, _ = pred.get(name, ref)
            keys, feats = _features(lm.version.ref, body)
            return {"model": lm.version.name, "version": lm.version.version,
                    "keys": online.to_json_columns(keys), "features": online.to_json_columns(feats)}

        return JSONResponse(await run_in_threadpool(work))
