"""``POST /v1/models/{name}/{ref}/batch``: score a large table in one call.

Bodies: ``application/json`` (``{"columns": {...}, "proba"?: bool}``, the same checks
as ``/predict`` but up to ``max_batch_rows`` rows), ``application/vnd.apache.arrow.stream``
(an Arrow IPC stream or file) or ``application/vnd.apache.parquet``. Binary uploads are
checked per column on the Arrow data (:mod:`mlops_jupyter.models.tabular`), never row by
row. The answer is JSON with the predictions as one array (serialised from numpy by
orjson). Runs in a worker thread, so /predict traffic keeps flowing meanwhile.
"""

from __future__ import annotations

from typing import Any

from mlops_jupyter.errors import ValidationError
from mlops_jupyter.models.predictor import LoadedModel, Predictor
from mlops_jupyter.serving import jsonio
from mlops_jupyter.serving.security import ARROW, JSON, PARQUET


def _plain(a: Any) -> Any:
    """numpy numbers go to orjson as they are; anything else as a list."""
    kind = getattr(getattr(a, "dtype", None), "kind", "O")
    if kind in "iufb" and getattr(a, "ndim", 0) in (1, 2):
        import numpy as np

        return np.ascontiguousarray(a)
    return a.tolist() if hasattr(a, "tolist") else list(a)


def score(predictor: Predictor, lm: LoadedModel, ref: str, fallback: bool, media: str,
          raw: bytes, max_rows: int, proba: bool = False) -> tuple[bytes, int]:
    if media == JSON:
        try:
            body = jsonio.loads(raw)
        except jsonio.BadJSON:
            raise ValidationError("the body is not valid JSON",
                                  violations=[{"loc": ["body"], "msg": "not valid JSON"}]) from None
        if not isinstance(body, dict) or "columns" not in body or "records" in body:
            raise ValidationError("the batch body is {\"columns\": {name: [values]}}",
                                  violations=[{"loc": ["body", "columns"], "msg": "field required"}])
        item = _check_json(lm, body, max_rows)
        out = predictor.predict_many(lm, [item])[0]
        if isinstance(out, BaseException):
            raise out
        n = item[1]
    else:
        kind = "arrow" if media == ARROW else "parquet" if media == PARQUET else ""
        out, n = predictor.predict_table(lm, kind, raw, proba=proba, max_rows=max_rows)
    v = lm.version
    resp: dict[str, Any] = {"model": v.name, "version": v.version, "ref": f"{v.name}@v{v.version}",
                            "requested": f"{v.name}@{ref}", "rows": n,
                            "predictions": _plain(out["predictions"])}
    if "probabilities" in out:
        resp["probabilities"] = _plain(out["probabilities"])
        resp["classes"] = out["classes"] if isinstance(out["classes"], list) else _plain(out["classes"])
    if fallback:
        resp["fallback"] = True
    return jsonio.dumps(resp), n


def _check_json(lm: LoadedModel, body: Any, max_rows: int) -> Any:
    from mlops_jupyter.errors import UsageError
    from mlops_jupyter.models import payload

    proba = body.get("proba", False)
    extra = set(body) - {"columns", "proba"}
    if extra or not isinstance(proba, bool):
        raise ValidationError("the batch body takes 'columns' and optionally 'proba' (true/false)",
                              violations=[{"loc": ["body"], "msg": "accepted fields: columns, proba"}])
    if lm.signature is None:
        raise UsageError(f"{lm.version.ref} has no input signature, so requests cannot be checked")
    cols = payload.columns_of({"columns": body["columns"]}, lm.signature, max_rows)
    n = len(next(iter(cols.values()))) if cols else 0
    return cols, n, proba


__all__ = ["score"]
