"""scikit-learn autologging for tracked notebook cells.

While :func:`patched` is active (a ``%%mlops track`` cell, a ``%mlops track start`` run),
the ``fit`` method of every ``sklearn.base.BaseEstimator`` subclass — including classes
defined or imported *during* the window, through ``BaseEstimator.__init_subclass__`` and
an import hook on ``sklearn.base`` — is wrapped. Leaving the window restores the
original methods, so scikit-learn is untouched outside tracked code.

Only the outermost ``fit`` is logged (a Pipeline's steps and a search's candidate fits
run inside it). What is logged, into the active run:

- class (tag ``mlops.autolog.estimator``, full path in ``mlops.autolog.class``),
  ``get_params(deep=True)`` as params (estimators shown by class name), pipeline steps;
- ``fit_time_s`` and, when the training set has at most ``score_max_rows`` rows and the
  estimator is not neighbour-based, ``training_score`` (``estimator.score(X, y)``);
- the training data's shape, columns and dtypes (tags plus ``autolog/input_schema.json``);
- for ``GridSearchCV``/``RandomizedSearchCV``: ``best.<param>`` params, ``best_cv_score``,
  the full ``cv_results_`` as ``autolog/cv_results.csv`` and optionally the top
  candidates as child runs (``configure(search_children=N)``).

The first logged fit of a run writes into the run itself; refitting the same class with
the same parameters (a loop, cross-validation) only counts; a *different* model fitted in
the same run gets its own child run. Logging never breaks the user's ``fit``: a failure
is reported as one warning line. Overhead per fit is a few milliseconds plus the
training score (see tests/benchmarks/bench_magics.py) — not MLflow's seconds: no
environment inference, no model serialisation (``%mlops model register`` does that).

:func:`last_fitted` returns the most recent estimator fitted under autolog and a small
sample of its training input, for ``%mlops model register --name X`` without a variable.
"""

from __future__ import annotations

import functools
import importlib.abc
import json
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FitRecord",
    "acquire",
    "active",
    "configure",
    "last_fit",
    "last_fitted",
    "patched",
    "release",
]

SAMPLE_ROWS = 5
MAX_PARAMS = 300
MAX_PARAM_CHARS = 500


@dataclass
class Settings:
    enabled: bool = True
    training_score: bool = True
    score_max_rows: int = 50_000
    search_children: int = 0
    max_child_runs: int = 25


settings = Settings()


def configure(**changes: Any) -> Settings:
    """Change autolog settings (``enabled``, ``training_score``, ``score_max_rows``,
    ``search_children``, ``max_child_runs``); returns the settings in effect."""
    for k, v in changes.items():
        if not hasattr(settings, k):
            from mlops_jupyter.errors import UsageError

            raise UsageError(
                f"unknown autolog setting {k!r}; known: {', '.join(Settings.__dataclass_fields__)}"
            )
        setattr(settings, k, v)
    return settings


@dataclass
class FitRecord:
    """The last estimator fitted under autolog."""

    estimator: Any
    sample: Any  # first rows of the training input (DataFrame/ndarray), or None
    run_id: str | None
    class_name: str
    fit_time_s: float
    n_samples: int | None
    columns: list[str] | None


_last: FitRecord | None = None
#: estimator -> its latest fit record, so lineage can name the run that fitted *this* model
_by_estimator: weakref.WeakKeyDictionary[Any, FitRecord] = weakref.WeakKeyDictionary()


def last_fit() -> FitRecord | None:
    return _last


def fit_of(estimator: Any) -> FitRecord | None:
    """The autologged fit of ``estimator`` (its run, sample, timing), if it had one."""
    try:
        return _by_estimator.get(estimator)
    except TypeError:  # not weak-referenceable
        return None


def last_fitted() -> tuple[Any, Any] | None:
    """``(estimator, X_sample)`` of the most recent fit under autolog, or None.

    ``X_sample`` is the first few rows of the training input (same type), usable to
    infer a model signature; None when the input had no row slicing.
    """
    if _last is None:
        return None
    return _last.estimator, _last.sample


# -- the patching window ---------------------------------------------------------------

_lock = threading.RLock()
_holders = 0
_originals: dict[type, Callable[..., Any]] = {}
_hooked_base: type | None = None
_finder: _SklearnFinder | None = None
_tls = threading.local()
_warned: set[str] = set()


def active() -> bool:
    return _holders > 0


def acquire() -> None:
    """Open (or join) the autolog window; pair every call with :func:`release`."""
    global _holders, _finder
    with _lock:
        _holders += 1
        if _holders > 1:
            return
        base_mod = sys.modules.get("sklearn.base")
        if base_mod is not None:
            _install(base_mod)
        elif _finder is None:
            _finder = _SklearnFinder()
            sys.meta_path.insert(0, _finder)


def release() -> None:
    """Leave the window; the last holder restores scikit-learn."""
    global _holders
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            _uninstall()


@contextmanager
def patched() -> Iterator[None]:
    """Autolog scikit-learn fits made inside the ``with`` block (for scripts)."""
    acquire()
    try:
        yield
    finally:
        release()


def _install(base_mod: types.ModuleType) -> None:
    global _hooked_base
    base = base_mod.BaseEstimator
    if _hooked_base is None:
        def __init_subclass__(cls: type, **kwargs: Any) -> None:
            super(base, cls).__init_subclass__(**kwargs)  # type: ignore[misc]
            if _holders:
                _patch_class(cls)

        base.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]
        _hooked_base = base
    seen: set[type] = set()
    stack = [base]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
                _patch_class(sub)


def _uninstall() -> None:
    global _hooked_base, _finder
    if _finder is not None:
        try:
            sys.meta_path.remove(_finder)
        except ValueError:
            pass
        _finder = None
    for cls, orig in list(_originals.items()):
        if cls.__dict__.get("fit") is not orig:
            type.__setattr__(cls, "fit", orig)
    _originals.clear()
    if _hooked_base is not None:
        if "__init_subclass__" in _hooked_base.__dict__:
            delattr(_hooked_base, "__init_subclass__")
        _hooked_base = None


def _patch_class(cls: type) -> None:
    fit = cls.__dict__.get("fit")
    if isinstance(fit, types.FunctionType) and not getattr(fit, "_mlops_autolog", False):
        _originals[cls] = fit
        type.__setattr__(cls, "fit", _wrap(fit))


class _SklearnFinder(importlib.abc.MetaPathFinder):
    """Installs the patch as soon as ``sklearn.base`` is imported inside the window."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "sklearn.base":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            original(module)
            with _lock:
                if _holders:
                    _install(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _wrap(orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame in tracebacks
        if getattr(_tls, "depth", 0) or not settings.enabled:
            return orig(self, *args, **kwargs)
        _tls.depth = 1
        t0 = time.perf_counter()
        try:
            out = orig(self, *args, **kwargs)
        finally:
            _tls.depth = 0
        elapsed = time.perf_counter() - t0
        try:
            _tls.depth = 1  # scoring and child runs must not log themselves
            _record(self, args, kwargs, elapsed)
        except Exception as e:  # noqa: BLE001 - autolog must never break a fit
            _warn(f"autolog could not record {type(self).__name__}.fit: {type(e).__name__}: {e}")
        finally:
            _tls.depth = 0
        return out

    fit._mlops_autolog = True  # type: ignore[attr-defined]
    return fit


def _warn(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"mlops: {message}", file=sys.stderr)


# -- what a fit logs -------------------------------------------------------------------

#: run id -> {(class name, params): [run id the model was logged to, fit count]}
_models: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], list[Any]]] = {}


def _record(est: Any, args: tuple[Any, ...], kwargs: dict[str, Any], elapsed: float) -> None:
    global _last
    from mlops_jupyter.tracking import session

    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    cls = type(est)
    shape = _shape(X)
    columns = _columns(X)
    run = session.active_run()
    _last = FitRecord(
        estimator=est, sample=_sample(X), run_id=run.id if run else None,
        class_name=cls.__name__, fit_time_s=elapsed,
        n_samples=shape[0] if shape else None, columns=columns,
    )
    try:
        _by_estimator[est] = _last
    except TypeError:
        pass
    if run is None:
        return
    params = _params(est)
    models = _models.setdefault(run.id, {})
    key = (cls.__name__, tuple(sorted(params.items())))
    seen = models.get(key)
    if seen is not None:  # the same model fitted again (a loop, cross-validation)
        seen[1] += 1
        run.store.set_tags(seen[0], {"mlops.autolog.fits": str(seen[1])})
        run.store.log_metric_batches({seen[0]: [("fit_time_s", elapsed, seen[1] - 1, time.time())]})
        _last.run_id = seen[0]
        return
    if not models:  # the run's first model is logged into the run itself
        models[key] = [run.id, 1]
        _log_fit(run, est, X, y, params, shape, columns, elapsed)
        return
    if len(models) > settings.max_child_runs:
        return
    last_user_run = session._last_run_id  # a child run is not "the last run" of the user
    try:
        with session.start_run(name=cls.__name__, nested=True, capture_git=False) as child:
            _log_fit(child, est, X, y, params, shape, columns, elapsed)
    finally:
        session._last_run_id = last_user_run
    models[key] = [child.id, 1]
    _last.run_id = child.id


def _log_fit(run: Any, est: Any, X: Any, y: Any, params: dict[str, str],
             shape: tuple[int, ...] | None, columns: list[str] | None, elapsed: float) -> None:
    cls = type(est)
    _log_params_kept(run, params)
    tags = {
        "mlops.autolog.estimator": cls.__name__,
        "mlops.autolog.class": f"{cls.__module__}.{cls.__qualname__}",
    }
    steps = getattr(est, "steps", None)
    if isinstance(steps, list):
        tags["mlops.autolog.steps"] = " > ".join(f"{n}={type(s).__name__}" for n, s in steps)
    if shape:
        tags["mlops.autolog.input_shape"] = "x".join(str(d) for d in shape)
    schema = _schema(X, shape, columns)
    if schema is not None:
        text = json.dumps(schema, sort_keys=True)
        if len(text) <= 4000:
            tags["mlops.autolog.input_schema"] = text
        else:  # wide data: the full schema as an artifact (a blob write only then)
            tags["mlops.autolog.input_schema"] = "artifact:autolog/input_schema.json"
            run.log_text(text, "autolog/input_schema.json")
    run.store.set_tags(run.id, tags)  # system tags: not through the user-tag check
    run.log_metric("fit_time_s", elapsed)
    search = _search_results(est)
    if search is not None:
        _log_search(run, est, search)
    elif _score_is_cheap(est, y, shape):
        run.log_metric("training_score", float(est.score(X, y)))


def _log_params_kept(run: Any, params: dict[str, Any]) -> None:
    """Log params, keeping any value the user already gave a key (one write usually;
    the run is read only when a key clashes)."""
    from mlops_jupyter.errors import ConflictError

    try:
        run.log_params(params)
    except ConflictError:
        existing = run.store.get_run(run.id).params
        run.log_params({k: v for k, v in params.items() if k not in existing})


def _score_is_cheap(est: Any, y: Any, shape: tuple[int, ...] | None) -> bool:
    return bool(
        settings.training_score and y is not None and hasattr(est, "score")
        and shape and shape[0] <= settings.score_max_rows
        and not type(est).__module__.startswith("sklearn.neighbors")
    )


def _search_results(est: Any) -> dict[str, Any] | None:
    res = getattr(est, "cv_results_", None)
    return res if isinstance(res, dict) and hasattr(est, "best_params_") else None


def _log_search(run: Any, est: Any, results: dict[str, Any]) -> None:
    from mlops_jupyter.tracking import session

    _log_params_kept(run, {f"best.{k}": _param_text(v) for k, v in est.best_params_.items()})
    if getattr(est, "best_score_", None) is not None:
        run.log_metric("best_cv_score", float(est.best_score_))
    run.store.set_tags(run.id, {"mlops.autolog.candidates": str(len(results.get("params", [])))})
    try:
        import pandas as pd

        df = pd.DataFrame({k: list(v) for k, v in results.items()})
        run.log_text(df.to_csv(index=False), "autolog/cv_results.csv")
    except Exception as e:  # noqa: BLE001 - the summary above is already logged
        _warn(f"autolog could not store cv_results_: {e}")
    n = settings.search_children
    if n <= 0:
        return
    ranks = list(results.get("rank_test_score", []))
    order = sorted(range(len(ranks)), key=lambda i: ranks[i])[:n]
    last_user_run = session._last_run_id
    try:
        _log_candidates(results, ranks, order)
    finally:
        session._last_run_id = last_user_run


def _log_candidates(results: dict[str, Any], ranks: list[Any], order: list[int]) -> None:
    from mlops_jupyter.tracking import session

    for i in order:
        cand = {k: _param_text(v) for k, v in results["params"][i].items()}
        with session.start_run(
            name=f"candidate-{i}", params=cand, nested=True, capture_git=False
        ) as child:
            child.log_metrics({
                "mean_test_score": float(results["mean_test_score"][i]),
                "std_test_score": float(results["std_test_score"][i]),
                "rank_test_score": float(ranks[i]),
            })


def _param_text(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v if not isinstance(v, str) else v[:MAX_PARAM_CHARS]
    if hasattr(v, "get_params") and hasattr(v, "fit"):
        return type(v).__name__
    if isinstance(v, list | tuple):
        if any(hasattr(x, "fit") or isinstance(x, list | tuple) for x in v):
            return "[" + ", ".join(str(_param_text(x)) for x in v) + "]"
    if isinstance(v, type | types.FunctionType | types.BuiltinFunctionType):
        return getattr(v, "__qualname__", repr(v))
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return v.item()
    except ImportError:  # pragma: no cover
        pass
    return repr(v)[:MAX_PARAM_CHARS]


def _params(est: Any) -> dict[str, str]:
    from mlops_jupyter.tracking.values import text_value

    try:
        raw = est.get_params(deep=True)
    except Exception:  # noqa: BLE001 - a third-party estimator with a broken get_params
        return {}
    out: dict[str, str] = {}
    for k, v in list(raw.items())[:MAX_PARAMS]:
        if k in ("steps", "memory", "verbose") and k in raw:
            continue
        out[k] = text_value("parameter", k, _param_text(v))
    return out


def _shape(X: Any) -> tuple[int, ...] | None:
    shape = getattr(X, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(d, int) for d in shape):
        return shape
    try:
        return (len(X),)
    except TypeError:
        return None


def _columns(X: Any) -> list[str] | None:
    cols = getattr(X, "columns", None)
    if cols is None:
        return None
    return [str(c) for c in list(cols)[:1000]]


def _schema(X: Any, shape: tuple[int, ...] | None, columns: list[str] | None) -> dict[str, Any] | None:
    if shape is None:
        return None
    out: dict[str, Any] = {"shape": list(shape), "type": type(X).__name__}
    dtypes = getattr(X, "dtypes", None)
    if columns is not None and dtypes is not None:
        out["columns"] = [{"name": c, "dtype": str(d)} for c, d in zip(columns, list(dtypes), strict=False)]
    elif getattr(X, "dtype", None) is not None:
        out["dtype"] = str(X.dtype)
    return out


def _sample(X: Any) -> Any:
    try:
        if hasattr(X, "iloc"):
            return X.iloc[:SAMPLE_ROWS].copy()
        if hasattr(X, "shape"):
            part = X[:SAMPLE_ROWS]
            return part.copy() if hasattr(part, "copy") else part
        if isinstance(X, list):
            return X[:SAMPLE_ROWS]
    except Exception:  # noqa: BLE001 - a sample is a convenience
        return None
    return None


def _forget_run(run_id: str) -> None:
    """Drop per-run bookkeeping once a run ends."""
    _models.pop(run_id, None)
