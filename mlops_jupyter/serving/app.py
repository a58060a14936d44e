"""The REST face of the registry (FastAPI). It parses, calls the domain, and renders.

Routes (``{ref}`` is ``v3``, ``latest`` or an alias such as ``production``)::

    GET  /health                               no auth: liveness only, reveals nothing
    GET  /v1/models                            the models served here, their aliases
    GET  /v1/models/{name}/{ref}               the model card (JSON)
    POST /v1/models/{name}/{ref}/predict       {"records": [...]} or {"columns": {...}}
    GET  /openapi.json, /docs                  the published schema

Hostile-input rules: bodies over ``max_body`` bytes get 413 before they are read in
full; JSON is parsed by us so NaN/Infinity tokens reach the signature check (and are
refused); every error body is ``{"error", "message", "errors"?}`` without stack traces,
file paths or echoed input; bearer-token auth on everything but ``/health`` when a token
is configured (compared in constant time).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlops_jupyter import __version__
from mlops_jupyter.errors import (
    IntegrityError,
    InvalidNameError,
    MlopsError,
    NotFoundError,
    UsageError,
    ValidationError,
)
from mlops_jupyter.models import registry
from mlops_jupyter.models.predictor import Predictor
from mlops_jupyter.models.served_log import ServedLog

log = logging.getLogger("mlops_jupyter.serving")

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB

_PREDICT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "description": "Exactly one of 'records' or 'columns'.",
        "properties": {
            "records": {"type": "array", "items": {"type": "object"},
                        "description": "one object per row: column -> value"},
            "columns": {"type": "object", "additionalProperties": {"type": "array"},
                        "description": "column -> list of values (equal lengths)"},
            "proba": {"type": "boolean", "default": False,
                      "description": "also return class probabilities"},
        },
        "additionalProperties": False,
    }}},
}
_ERR = {"type": "object", "properties": {
    "error": {"type": "string"}, "message": {"type": "string"},
    "errors": {"type": "array", "items": {"type": "object"}},
}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": desc, "content": {"application/json": {"schema": _ERR}}}
    for code, desc in [(400, "malformed JSON"), (401, "missing or wrong bearer token"),
                       (404, "unknown model, version or alias"), (413, "body too large"),
                       (422, "payload does not match the model signature"),
                       (503, "the version failed its integrity check")]
}


def _error(status: int, code: str, message: str, errors: list[Any] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes (413) — by Content-Length
    up front, or while streaming when the length is absent or lies."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    too_big = int(v) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return msg

        async def tracking_send(msg: Any) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Any, receive: Any, send: Any) -> None:
        resp = _error(413, "payload_too_large", f"request body is larger than {self.limit} bytes")
        await resp(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(
    refs: Iterable[str] | None = None, *, token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY, predictor: Predictor | None = None,
    max_rows: int | None = None, log_inputs: str | None = None,
) -> Any:
    """The ASGI app serving ``refs``' models (None: every model in the store).

    ``log_inputs`` names a dataset that receives what was served (inputs, prediction,
    version, time) as new versions in batches; ``app.state.served_log.close()`` writes
    the last batch.

    Any version or alias of a served model may be requested; models not named are 404.
    """
    names = None if refs is None else sorted({registry.parse_ref(r)[0] for r in refs})
    served_log = ServedLog(log_inputs) if log_inputs else None
    pred = predictor or Predictor(
        names, served_log=served_log, **({} if max_rows is None else {"max_rows": max_rows})
    )
    bearer = HTTPBearer(auto_error=False, description="MLOPS_SERVE_TOKEN")

    async def auth(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        given = "" if creds is None else creds.credentials
        if creds is None or not hmac.compare_digest(given.encode(), token.encode()):
            raise _Unauthorized

    app = FastAPI(
        title="mlops-jupyter model server", version=__version__, openapi_url=None,
        docs_url=None, redoc_url=None,
        description="Predictions from registered models; every answer names the version that served it.",
    )
    app.state.predictor = pred
    app.state.served_log = pred.served_log
    app.add_middleware(BodyLimit, limit=max_body)

    @app.exception_handler(_Unauthorized)
    async def _unauth(_r: Request, _e: Exception) -> JSONResponse:
        return _error(401, "unauthorized", "a valid bearer token is required",
                      headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(_TooLarge)
    async def _too_large(_r: Request, _e: Exception) -> JSONResponse:
        return _error(413, "payload_too_large", f"request body is larger than {max_body} bytes")

    @app.exception_handler(MlopsError)
    async def _mlops(_r: Request, e: MlopsError) -> JSONResponse:
        if isinstance(e, ValidationError):
            viol = e.violations if isinstance(e.violations, list) else None
            return _error(422, "invalid_payload", str(e), viol)
        if isinstance(e, NotFoundError):
            return _error(404, "not_found", str(e))
        if isinstance(e, InvalidNameError | UsageError):
            return _error(422, "bad_request", str(e))
        if isinstance(e, IntegrityError):
            return _error(503, "model_unavailable", _no_paths(str(e)))
        log.error("request failed: %s: %s", type(e).__name__, e)
        return _error(500, "internal", "internal error (details are in the server log)")

    @app.exception_handler(RequestValidationError)
    async def _rv(_r: Request, e: RequestValidationError) -> JSONResponse:
        errs = [{"loc": list(x.get("loc", ())), "msg": str(x.get("msg", ""))} for x in e.errors()[:50]]
        return _error(422, "bad_request", "request does not match the API", errs)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return _error(e.status_code, code, str(e.detail) if e.status_code != 404 else "no such route",
                      headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _any(_r: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error in a request")
        return _error(500, "internal", "internal error (details are in the server log)")

    protected = [Depends(auth)]

    @app.get("/health", tags=["meta"], summary="liveness (no auth)")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False, dependencies=protected)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=protected)
    def docs() -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="openapi.json", title=app.title)

    @app.get("/v1/models", tags=["models"], dependencies=protected, responses=_RESPONSES)
    def list_served() -> dict[str, Any]:
        df = registry.list_models()
        rows = []
        for r in df.itertuples(index=False):
            if names is None or r.name in names:
                rows.append({"name": r.name, "versions": int(r.versions),
                             "latest": None if r.latest is None else int(r.latest),
                             "aliases": registry.aliases(r.name)})
        return {"models": rows, "status": pred.status()}

    @app.get("/v1/models/{name}/{ref}", tags=["models"], dependencies=protected,
             responses=_RESPONSES, summary="model card")
    def card(name: str, ref: str) -> dict[str, Any]:
        name = pred.check_name(name)
        out = registry.show(f"{name}@{ref}").to_dict()
        if out["lineage"]["run"] is not None:
            out["lineage"]["run"].pop("source", None)  # a local path: not for the network
        return out

    @app.post("/v1/models/{name}/{ref}/predict", tags=["models"], dependencies=protected,
              responses=_RESPONSES, openapi_extra={"requestBody": _PREDICT_BODY},
              summary="predict; the answer names the exact version that served")
    async def predict(name: str, ref: str, request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            return _error(400, "bad_json", "the body is not valid JSON")
        if body is None:
            return _error(422, "invalid_payload", "a JSON body with 'records' or 'columns' is required",
                          [{"loc": ["body"], "msg": "field required"}])
        result = await run_in_threadpool(pred.predict, name, ref, body)
        return JSONResponse(result.to_dict(), headers={"X-Model-Version": f"{result.model}@v{result.version}"})

    # --- feature-repository routes (issue 14); all their logic is in serving/features.py ---
    from mlops_jupyter.serving.features import add_feature_routes

    add_feature_routes(app, pred, protected)
    return app


class _Unauthorized(Exception):
    pass


def _no_paths(text: str) -> str:
    """Drop anything after a quote that looks like a filesystem path or URL."""
    import re

    return re.sub(r"'(/|[A-Za-z]:\\|file://|s3://|gs://)[^']*'", "'…'", text)


__all__ = ["create_app", "DEFAULT_MAX_BODY"]
