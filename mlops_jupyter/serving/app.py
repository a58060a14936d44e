"""The REST face of the registry (FastAPI). It parses, calls the domain, and renders.

Routes (``{ref}`` is ``v3``, ``latest`` or an alias such as ``production``)::

    GET  /health                               no auth: liveness only, reveals nothing
    GET  /v1/models                            the models served here, their aliases
    GET  /v1/models/{name}/{ref}               the model card (JSON)
    POST /v1/models/{name}/{ref}/predict       {"records": [...]} or {"columns": {...}}
    POST /v1/models/{name}/{ref}/batch         columns JSON, Arrow IPC stream or Parquet
    GET  /v1/admin/status                      loaded versions, batching (admin scope)
    GET  /openapi.json, /docs                  the published schema

Hostile-input rules: bodies over ``max_body`` bytes get 413 before they are read in
full; JSON is parsed by us so NaN/Infinity tokens reach the signature check (and are
refused); every error body is ``{"error", "message", "errors"?}`` without stack traces,
file paths or echoed input; scoped bearer tokens on everything but ``/health`` when
tokens are configured; a Host allowlist and Content-Type rules (:mod:`.security`). The
hot routes are answered by :class:`~.front.Front` before FastAPI (see there).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlops_jupyter import __version__
from mlops_jupyter.errors import MlopsError
from mlops_jupyter.models import registry
from mlops_jupyter.models.predictor import Predictor
from mlops_jupyter.models.served_log import ServedLog
from mlops_jupyter.serving.batching import DEFAULT_MAX_ROWS, DEFAULT_MAX_WAIT, Batcher
from mlops_jupyter.serving.front import DEFAULT_MAX_BATCH_BODY, Front, error_for
from mlops_jupyter.serving.security import ARROW, PARQUET, HostAllowlist, TokenStore

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
                       (403, "the token lacks the scope this route needs"),
                       (415, "wrong Content-Type"),
                       (422, "payload does not match the model signature"),
                       (503, "the version failed its integrity check")]
}


def _error(status: int, code: str, message: str, errors: list[Any] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


_BATCH_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {
            "type": "object", "properties": {
                "columns": {"type": "object", "additionalProperties": {"type": "array"}},
                "proba": {"type": "boolean", "default": False}},
            "required": ["columns"], "additionalProperties": False}},
        ARROW: {"schema": {"type": "string", "format": "binary"}},
        PARQUET: {"schema": {"type": "string", "format": "binary"}},
    },
}


def create_app(
    refs: Iterable[str] | None = None, *, token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY, predictor: Predictor | None = None,
    max_rows: int | None = None, log_inputs: str | None = None,
    token_file: str | None = None, bind_host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (), batch_wait: float = DEFAULT_MAX_WAIT,
    batch_rows: int = DEFAULT_MAX_ROWS, refresh: float | None = 0.2,
    max_batch_body: int = DEFAULT_MAX_BATCH_BODY,
) -> Any:
    """The ASGI app serving ``refs``' models (None: every model in the store).

    ``log_inputs`` names a dataset that receives what was served (inputs, prediction,
    version, time) as new versions in batches; ``app.state.served_log.close()`` writes
    the last batch. ``token``/``token_file``: see :mod:`.security`; ``bind_host`` and
    ``allowed_hosts`` make the Host allowlist. ``batch_wait`` (seconds) and
    ``batch_rows`` tune adaptive batching (``batch_rows=1`` turns it off); ``refresh``
    is how often (seconds) served references are re-resolved in the background.

    Any version or alias of a served model may be requested; models not named are 404.
    """
    names = None if refs is None else sorted({registry.parse_ref(r)[0] for r in refs})
    served_log = ServedLog(log_inputs) if log_inputs else None
    pred = predictor or Predictor(
        names, served_log=served_log, refresh=refresh,
        **({} if max_rows is None else {"max_rows": max_rows}),
    )
    tokens = TokenStore(token, token_file)
    hosts = HostAllowlist(bind_host, allowed_hosts)
    batcher = Batcher(pred, batch_wait, batch_rows)
    bearer = HTTPBearer(auto_error=False, description="MLOPS_SERVE_TOKEN or a --token-file entry")

    async def auth(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        return None  # documents the scheme; enforced (with scopes) by Front

    app = FastAPI(
        title="mlops-jupyter model server", version=__version__, openapi_url=None,
        docs_url=None, redoc_url=None,
        description="Predictions from registered models; every answer names the version that served it.",
    )
    app.state.predictor = pred
    app.state.served_log = pred.served_log
    app.state.batcher = batcher
    app.state.tokens = tokens

    @app.exception_handler(MlopsError)
    async def _mlops(_r: Request, e: MlopsError) -> JSONResponse:
        status, body = error_for(e)
        return JSONResponse(body, status_code=status)

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
    def predict(name: str, ref: str) -> JSONResponse:  # answered by Front; declared for the schema
        return _error(500, "internal", "internal error (details are in the server log)")

    @app.post("/v1/models/{name}/{ref}/batch", tags=["models"], dependencies=protected,
              responses=_RESPONSES, openapi_extra={"requestBody": _BATCH_BODY},
              summary="score a large table (columns JSON, Arrow IPC stream or Parquet)")
    def batch(name: str, ref: str) -> JSONResponse:  # answered by Front; declared for the schema
        return _error(500, "internal", "internal error (details are in the server log)")

    # --- feature-repository routes (issue 14); all their logic is in serving/features.py ---
    from mlops_jupyter.serving.features import add_feature_routes

    add_feature_routes(app, pred, protected)

    @app.get("/v1/admin/status", tags=["admin"], dependencies=protected, responses=_RESPONSES,
             summary="loaded versions, refusals, batching figures (admin scope)")
    def admin_status() -> dict[str, Any]:
        return {"predictor": pred.status(), "batching": batcher.status(),
                "tokens": {"file": tokens.path is not None}}

    return Front(app, pred, tokens=tokens, hosts=hosts, batcher=batcher, max_body=max_body,
                 max_batch_body=max_batch_body)


__all__ = ["create_app", "DEFAULT_MAX_BODY"]
