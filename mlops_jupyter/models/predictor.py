"""Predicting from registered models, for REST serving and :func:`predict` (in-process).

The :class:`Predictor` is the business logic behind the REST face:

- a reference is re-resolved on every call with one indexed query, so moving an alias
  (``churn@production``) is served on the next request without a restart;
- a version is loaded once (verified: hash re-checked against the registry, flavor
  safety checks) and kept in a small LRU cache keyed by version id; the same resolving
  query returns the version's ``trusted`` flag and blob digest, so a revoked trust (or
  a changed digest) evicts the cached model on the next request and it is re-checked;
- if the version an alias now names fails its integrity or safety check, it is refused
  (and not retried for ``retry_after`` seconds) and the version that served that
  reference before keeps serving; the answer says which version served.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_jupyter.errors import (
    IntegrityError,
    MlopsError,
    NotFoundError,
    UnsafeModelError,
    UsageError,
    ValidationError,
)
from mlops_jupyter.models import payload as payload_mod
from mlops_jupyter.models import registry
from mlops_jupyter.models.entities import ModelVersion
from mlops_jupyter.models.served_log import ServedLog
from mlops_jupyter.models.signature import Signature

log = logging.getLogger("mlops_jupyter.serving")


class ModelUnavailableError(IntegrityError):
    """The version a reference names failed its checks and nothing else can serve it."""


class PredictionError(ValidationError):
    """The model itself rejected the (valid-looking) input."""


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    obj: Any
    signature: Signature | None
    loaded_at: float


@dataclass(frozen=True)
class Prediction:
    model: str
    version: int
    requested: str
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None
    fallback: bool = False  # served by the previous version: the new one was refused

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model, "version": self.version,
            "ref": f"{self.model}@v{self.version}", "requested": self.requested,
            "predictions": self.predictions,
        }
        if self.probabilities is not None:
            out["probabilities"] = self.probabilities
            out["classes"] = self.classes
        if self.fallback:
            out["fallback"] = True
        return out


class Predictor:
    """Resolves, loads (verified) and calls models. Thread-safe. With ``served_log``,
    what was served is kept as dataset versions (see :mod:`.served_log`)."""

    def __init__(
        self, names: Iterable[str] | None = None, *, cache_size: int = 8,
        retry_after: float = 30.0, max_rows: int = payload_mod.MAX_ROWS,
        served_log: ServedLog | None = None, refresh: float | None = None,
    ) -> None:
        self.served_log = served_log
        #: with ``refresh`` (seconds), references are re-resolved by a background thread
        #: and requests read the answer from memory (see :meth:`route`); without it every
        #: call re-resolves (in-process :func:`predict`, tests)
        self.refresh = refresh
        self._routes: dict[tuple[str, str], tuple[LoadedModel, bool]] = {}
        self._samples: dict[str, dict[str, list[Any]]] = {}
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self.names = None if names is None else {registry.model_name(n) for n in names}
        self.cache_size = cache_size
        self.retry_after = retry_after
        self.max_rows = max_rows
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()
        self._serving: dict[tuple[str, str], str] = {}  # (name, selector) -> version id
        # version id -> (when, why, (trusted, blob) when refused): a state change retries
        self._refused: dict[str, tuple[float, str, tuple[bool, str]]] = {}
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}

    # -- resolution -----------------------------------------------------------------
    def check_name(self, name: str) -> str:
        name = registry.model_name(name)
        if self.names is not None and name not in self.names:
            raise NotFoundError(
                f"model {name!r} is not served here; served: {', '.join(sorted(self.names))}"
            )
        return name

    def get(self, name: str, selector: str) -> tuple[LoadedModel, bool]:
        """The loaded model for ``name@selector`` and whether it is a fallback.

        The one resolving query also returns the version's ``trusted`` flag and blob
        digest, so a cached model whose trust was revoked (or whose digest changed) is
        evicted on the very next request and re-checked as if loaded for the first time.
        """
        name = self.check_name(name)
        ref = f"{name}@{selector}"
        loc = registry.locate(ref)
        vid, state = loc.id, (loc.trusted, loc.blob)
        key = (name, selector.lower())
        with self._lock:
            lm = self._loaded.get(vid)
            if lm is not None and _state(lm) != state:
                self._evict(vid, lm, state)
                lm = None
            if lm is not None:
                self._loaded.move_to_end(vid)
                self._serving[key] = vid
                return lm, False
            refused = self._refused.get(vid)
        if (refused is not None and refused[2] == state
                and time.monotonic() - refused[0] < self.retry_after):
            return self._fallback(key, ref, vid, refused[1])
        try:
            lm = self._load(vid)
        except IntegrityError as e:  # includes UnsafeModelError
            log.error("refusing to serve %s: %s", ref, e)
            why = str(e) if isinstance(e, UnsafeModelError) else "it failed its integrity check"
            with self._lock:
                self._refused[vid] = (time.monotonic(), why, state)
            return self._fallback(key, ref, vid, why)
        with self._lock:
            self._serving[key] = vid
            self._refused.pop(vid, None)
        return lm, False

    def _evict(self, vid: str, lm: LoadedModel, state: tuple[bool, str] | None) -> None:
        """Drop a cached model whose registry state changed (caller holds the lock)."""
        self._loaded.pop(vid, None)
        if state is None:
            what = "was deleted"
        elif state[1] != lm.version.blob:
            what = "changed its file digest"
        else:
            what = "had its trust " + ("granted" if state[0] else "revoked")
        log.warning("%s %s since it was loaded: evicted, re-checked before serving again",
                    lm.version.ref, what)

    def _fallback(
        self, key: tuple[str, str], ref: str, vid: str, why: str
    ) -> tuple[LoadedModel, bool]:
        with self._lock:
            prev = self._serving.get(key)
            lm = None if prev is None or prev == vid else self._loaded.get(prev)
        if lm is not None and prev is not None:
            # the previous version must still pass: re-check its trust and digest
            state = registry.version_state(prev)
            if state != _state(lm):
                with self._lock:
                    self._evict(prev, lm, state)
                lm = None
        if lm is None:
            raise ModelUnavailableError(
                f"{ref} is not served: the version it names is refused ({why}) and no "
                "earlier version of it is loaded here"
            )
        return lm, True

    def _load(self, vid: str) -> LoadedModel:
        with self._lock:
            lock = self._load_locks.setdefault(vid, threading.Lock())
        with lock:  # one load per version even under concurrent first requests
            with self._lock:
                if vid in self._loaded:
                    return self._loaded[vid]
            mv = registry.get_by_id(vid)
            obj = registry.load_version(mv)
            lm = LoadedModel(mv, obj, mv.input_signature, time.time())
            with self._lock:
                self._loaded[vid] = lm
                while len(self._loaded) > self.cache_size:
                    old, _ = self._loaded.popitem(last=False)
                    self._load_locks.pop(old, None)
            log.info("loaded %s (%s)", mv.ref, mv.blob[:12])
            return lm

    # -- warm switches ------------------------------------------------------------------
    def route(self, name: str, selector: str) -> tuple[LoadedModel, bool]:
        """What answers ``name@selector`` now. With ``refresh`` set, a dictionary read
        (the watcher thread keeps it current); the first request for a reference, or
        without ``refresh``, resolves and loads as :meth:`get` does."""
        if self.refresh is None:
            return self.get(name, selector)
        key = (name, selector)
        hit = self._routes.get(key)
        if hit is not None:
            return hit
        lm, fallback = self.get(name, selector)
        if len(self._routes) < 256:  # bounded: only references that resolved
            self._routes[key] = (lm, fallback)
        self.start_watching()
        return lm, fallback

    def peek(self, name: str, selector: str) -> tuple[LoadedModel, bool] | None:
        """The route table's answer without any I/O (None: call :meth:`route`)."""
        return self._routes.get((name, selector))

    def preload(self, refs: Iterable[str]) -> None:
        """Load, check and warm the references to serve before the first request (a ref
        that fails its checks is logged; its requests get the usual 503)."""
        for ref in refs:
            name, version, alias = registry.parse_ref(ref)
            selector = alias or ("latest" if version is None else f"v{version}")
            try:
                lm, _ = self.route(name, selector)
            except MlopsError as e:
                log.error("not preloaded: %s: %s", ref, e)
                continue
            self.warm(lm)

    def start_watching(self) -> None:
        """Start the background thread that re-resolves served references (idempotent)."""
        if self.refresh is None or self._watcher is not None:
            return
        with self._lock:
            if self._watcher is not None:
                return
            self._watcher = threading.Thread(target=self._watch, name="mlops-serve-watch", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        assert self.refresh is not None
        while not self._stop.wait(self.refresh):
            try:
                self.refresh_routes()
            except Exception as e:  # noqa: BLE001 - the watcher must survive a store hiccup
                log.warning("could not re-resolve served references: %s", e)

    def refresh_routes(self) -> None:
        """One pass: re-resolve every routed reference (one indexed query each). A moved
        alias, a changed digest or trust flag loads and warms the new answer here, off the
        request path, while the old one keeps answering; a refused version is never
        switched to (the previous one keeps serving, marked ``fallback``)."""
        for key, (cur, fallback) in list(self._routes.items()):
            name, selector = key
            try:
                loc = registry.locate(f"{name}@{selector}")
            except NotFoundError:
                self._routes.pop(key, None)  # alias removed: the next request gets a 404
                continue
            if loc.id == cur.version.id and (loc.trusted, loc.blob) == _state(cur) and not fallback:
                continue
            try:
                lm, fb = self.get(name, selector)
            except MlopsError as e:
                log.error("%s@%s cannot be served any more: %s", name, selector, e)
                self._routes.pop(key, None)  # requests now take the slow path (503)
                continue
            if lm is not cur:
                self.warm(lm)
            self._routes[key] = (lm, fb)
            if lm is not cur:
                log.warning("%s@%s now served by %s", name, selector, lm.version.ref)

    def warm(self, lm: LoadedModel) -> None:
        """One prediction before a version takes traffic: on the last row served for this
        model, or a row made from its signature. A failure is logged, not fatal."""
        if lm.signature is None:
            return
        sample = self._samples.get(lm.version.name) or _synthetic_row(lm.signature)
        try:
            _call(lm, payload_mod.to_model_input(sample, lm.signature), False)
        except Exception as e:  # noqa: BLE001 - the model may refuse a synthetic row
            log.info("warm-up prediction of %s failed: %s", lm.version.ref, e)

    # -- predicting -------------------------------------------------------------------
    def check(self, lm: LoadedModel, body: Any) -> tuple[dict[str, list[Any]], int, bool]:
        """Check a request body against ``lm``'s signature: (columns, rows, proba)."""
        proba = False
        if isinstance(body, Mapping):
            if len(body) != 1 or ("records" not in body and "columns" not in body):
                extra = set(body) - {"records", "columns", "proba"}
                if extra:
                    shown = sorted(payload_mod.safe_key(k) for k in extra)[:5]
                    raise ValidationError(
                        "unknown top-level field(s); accepted: records, columns, proba",
                        violations=[{"loc": ["body", k], "msg": "unknown field"} for k in shown],
                    )
                p = body.get("proba", False)
                if not isinstance(p, bool):
                    raise ValidationError("'proba' must be true or false",
                                          violations=[{"loc": ["body", "proba"], "msg": "expected a boolean"}])
                proba = p
        if lm.signature is None:
            raise UsageError(
                f"{lm.version.ref} has no input signature, so requests cannot be checked; "
                "register it with signature=<training data>"
            )
        cols = payload_mod.columns_of(body, lm.signature, self.max_rows)
        n = len(next(iter(cols.values()))) if cols else 0
        return cols, n, proba

    def predict_many(
        self, lm: LoadedModel, items: list[tuple[dict[str, list[Any]], int, bool]]
    ) -> list[dict[str, Any] | MlopsError]:
        """One model call for several checked requests (adaptive batching); the answers
        are split back in order. If the joint call fails, each request is retried alone,
        so one bad request fails alone."""
        if len(items) == 1:
            cols, _n, proba = items[0]
            try:
                out = _call(lm, payload_mod.to_model_input(cols, lm.signature), proba)
            except MlopsError as e:
                return [e]
            self._served(lm, cols, out["predictions"])
            return [out]
        names = lm.signature.names if lm.signature is not None else []
        joint = {c: [v for it in items for v in it[0][c]] for c in names}
        proba = any(it[2] for it in items)
        try:
            out = _call(lm, payload_mod.to_model_input(joint, lm.signature), proba, lists=False)
        except MlopsError:
            return [r for it in items for r in self.predict_many(lm, [it])]
        self._served(lm, joint, out["predictions"])
        answers: list[dict[str, Any] | MlopsError] = []
        at = 0
        for _cols, n, p in items:
            one: dict[str, Any] = {"predictions": _jsonable(out["predictions"][at:at + n])}
            if p:
                one["probabilities"] = _jsonable(out["probabilities"][at:at + n])
                one["classes"] = out["classes"]
            answers.append(one)
            at += n
        return answers

    def predict_table(self, lm: LoadedModel, kind: str, raw: bytes, *, proba: bool = False,
                      max_rows: int = 50_000_000) -> tuple[dict[str, Any], int]:
        """Score a large upload: ``kind`` is ``json`` (``{"columns": …}``), ``arrow`` or
        ``parquet``; checked column by column (:mod:`.tabular`), one model call.
        Predictions come back as numpy arrays (serialised without a Python list)."""
        from mlops_jupyter.models import tabular

        if lm.signature is None:
            raise UsageError(f"{lm.version.ref} has no input signature, so requests cannot be checked")
        if kind == "json":
            raise UsageError("use predict_many for JSON bodies")
        X, n = tabular.frame_of(tabular.read_table(kind, raw), lm.signature, max_rows)
        out = _call(lm, X, proba, lists=False)
        if self.served_log is not None and hasattr(X, "columns"):
            self._served(lm, {c: X[c] for c in X.columns}, out["predictions"])
        return out, n

    def _served(self, lm: LoadedModel, cols: dict[str, list[Any]], preds: Any) -> None:
        if self.refresh is not None:
            self._samples[lm.version.name] = {k: list(v[:1]) for k, v in cols.items()}
        if self.served_log is not None:
            try:
                self.served_log.record(cols, preds, lm.version.ref)
            except Exception as e:  # noqa: BLE001 - logging never fails a request
                log.warning("could not log served inputs: %s", e)

    def answer(self, lm: LoadedModel, fallback: bool, selector: str, out: dict[str, Any]) -> Prediction:
        return Prediction(model=lm.version.name, version=lm.version.version,
                          requested=f"{lm.version.name}@{selector}", fallback=fallback, **out)

    def predict(self, name: str, selector: str, body: Any) -> Prediction:
        lm, fallback = self.route(name, selector)
        item = self.check(lm, body)
        out = self.predict_many(lm, [item])[0]
        if isinstance(out, MlopsError):
            raise out
        return self.answer(lm, fallback, selector, out)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "loaded": [lm.version.ref for lm in self._loaded.values()],
                "serving": {f"{n}@{s}": self._loaded[v].version.ref
                            for (n, s), v in self._serving.items() if v in self._loaded},
                "refused": len(self._refused),
            }


def _state(lm: LoadedModel) -> tuple[bool, str]:
    return (lm.version.trusted, lm.version.blob)


def _call(lm: LoadedModel, X: Any, proba: bool, lists: bool = True) -> dict[str, Any]:
    """``lists=False`` keeps numpy arrays (to be sliced per request)."""
    conv = _jsonable if lists else _array
    model = lm.obj
    try:
        preds = model.predict(X)
        out: dict[str, Any] = {"predictions": conv(preds)}
        if proba:
            fn = getattr(model, "predict_proba", None)
            if fn is None:
                raise ValidationError(
                    f"{lm.version.ref} has no predict_proba",
                    violations=[{"loc": ["body", "proba"], "msg": "this model gives no probabilities"}],
                )
            out["probabilities"] = conv(fn(X))
            out["classes"] = _jsonable(getattr(model, "classes_", []))
    except MlopsError:
        raise
    except Exception as e:  # noqa: BLE001 - the model's own complaint, reported without detail
        log.warning("%s could not predict: %s: %s", lm.version.ref, type(e).__name__, e)
        raise PredictionError(
            f"the model could not predict on this input ({type(e).__name__}); the input "
            "matched the signature, so check values the model may not support",
            violations=[{"loc": ["body"], "msg": f"rejected by the model ({type(e).__name__})"}],
        ) from None
    return out


def _array(a: Any) -> Any:
    return a if hasattr(a, "tolist") else list(a)


def _jsonable(a: Any) -> Any:
    values = a.tolist() if hasattr(a, "tolist") else list(a)
    kind = getattr(getattr(a, "dtype", None), "kind", "")
    if kind in "iub" and kind:
        return values  # already plain ints/bools: nothing to clean
    if kind == "f" and bool(_np_isfinite(a)):
        return values
    return _clean(values)


def _np_isfinite(a: Any) -> Any:
    import numpy as np

    return np.isfinite(a).all()


def _synthetic_row(sig: Signature) -> dict[str, list[Any]]:
    """One plausible row for a warm-up call (typed zeros, first category)."""
    row: dict[str, list[Any]] = {}
    for c in sig.columns:
        v: Any = {"float": 0.0, "integer": 0, "boolean": False, "string": "",
                  "datetime": "2000-01-01T00:00:00", "any": 0.0}.get(c.type, None)
        if c.type == "category":
            v = c.categories[0] if c.categories else ""
        row[c.name] = [v]
    return row


def _clean(v: Any) -> Any:
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)


def predict(ref: str, data: Any, *, proba: bool = False) -> Prediction:
    """Predict in-process exactly as the REST server would: ``data`` is a DataFrame, a
    list of records or a dict of columns; it is checked against the signature first."""
    name, version, alias = registry.parse_ref(ref)
    selector = alias or ("latest" if version is None else f"v{version}")
    if hasattr(data, "to_json") and hasattr(data, "columns"):
        import json

        # through JSON, so numpy scalars and NaN arrive exactly as over REST
        body: Any = {"records": json.loads(data.to_json(orient="records", date_format="iso"))}
    elif isinstance(data, list):
        body = {"records": data}
    elif isinstance(data, Mapping) and not ({"records", "columns"} & set(data)):
        body = {"columns": dict(data)}
    else:
        body = data
    if proba and isinstance(body, Mapping):
        body = {**body, "proba": True}
    return Predictor([name]).predict(name, selector, body)


__all__ = ["Predictor", "Prediction", "LoadedModel", "ModelUnavailableError", "PredictionError", "predict"]
