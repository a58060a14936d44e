"""Score every candidate model on one holdout: columns, task, classes, predictions.

Each model receives exactly the columns its signature (or ``feature_names_in_``) names;
columns of the holdout a model does not use are listed in the comparison's notes
("scored on what both accept, and say what was dropped"). A column a model needs and
the holdout lacks is an error naming both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_jupyter.comparison.resolve import Candidate
from mlops_jupyter.errors import UsageError

__all__ = ["Scored", "score_all"]


@dataclass
class Scored:
    """Predictions of every model on the holdout, in one encoding."""

    task: str  # "binary", "multiclass" or "regression"
    y: np.ndarray  # binary/multiclass: class index; regression: float
    classes: list[Any]
    probas: list[np.ndarray | None]  # binary: P(positive); multiclass: (n, k)
    preds: list[np.ndarray]  # class index or value
    columns: list[list[str]]
    notes: list[str]


def _estimator(c: Candidate) -> Any:
    if c.estimator is None:
        from mlops_jupyter.models import registry

        c.estimator = registry.load_version(c.version)
    return c.estimator


def _is_classifier(est: Any) -> bool:
    try:
        from sklearn.base import is_classifier

        if is_classifier(est):
            return True
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        pass
    return hasattr(est, "predict_proba") and hasattr(est, "classes_")


def _columns(c: Candidate, est: Any, frame: Any, label: str) -> list[str]:
    cols: list[str] | None = None
    sig = getattr(c.version, "input_signature", None) if c.version is not None else None
    if sig is not None:
        cols = list(sig.names)
    elif hasattr(est, "feature_names_in_"):
        cols = [str(x) for x in est.feature_names_in_]
    if cols is None:
        return [str(x) for x in frame.columns if x != label]
    if label in cols:
        raise UsageError(f"compare: {c.label} takes the label column {label!r} as an input")
    missing = [x for x in cols if x not in frame.columns]
    if missing:
        raise UsageError(
            f"compare: the holdout lacks column(s) {', '.join(map(repr, missing))} that "
            f"{c.label} needs; its columns: {', '.join(map(str, list(frame.columns)[:30]))}"
        )
    return cols


def score_all(cands: list[Candidate], frame: Any, label: str, extra: list[str] | None = None
              ) -> Scored:
    """Predictions of every candidate; ``extra`` columns (slices) are not reported as
    unused."""
    ests = [_estimator(c) for c in cands]
    kinds = ["classifier" if _is_classifier(e) else "regressor" for e in ests]
    if len(set(kinds)) > 1:
        pairs = ", ".join(f"{c.label} is a {k}" for c, k in zip(cands, kinds, strict=True))
        raise UsageError(f"compare: cannot compare a regression model with a classifier ({pairs})")
    cols = [_columns(c, e, frame, label) for c, e in zip(cands, ests, strict=True)]
    notes = []
    union = set().union(*map(set, cols))
    for c, cs in zip(cands, cols, strict=True):
        unused = [x for x in union if x not in cs]
        if unused:
            notes.append(f"{c.label} does not use {', '.join(sorted(unused))} (dropped for it)")
    ignored = [str(x) for x in frame.columns
               if x != label and x not in union and x not in (extra or [])]
    if ignored:
        notes.append(f"no model uses {', '.join(ignored[:20])}{' …' if len(ignored) > 20 else ''}")
    y_raw = frame[label].to_numpy()
    if kinds[0] == "regressor":
        try:
            y = y_raw.astype(np.float64)
        except (TypeError, ValueError):
            raise UsageError(f"compare: the label {label!r} is not numeric, but the models are "
                             "regressors") from None
        preds = [_predict(c, e, frame[cs]).astype(np.float64)
                 for c, e, cs in zip(cands, ests, cols, strict=True)]
        return Scored("regression", y, [], [None] * len(ests), preds, cols, notes)
    classes = [list(getattr(e, "classes_", [])) for e in ests]
    if any(not cl for cl in classes) or any(cl != classes[0] for cl in classes):
        raise UsageError("compare: the classifiers know different classes ("
                         + "; ".join(f"{c.label}: {cl}" for c, cl in zip(cands, classes, strict=True))
                         + ")")
    cl = classes[0]
    y = _class_index(cl, y_raw)
    if y is None:  # some label is not a class: name them
        index = {v: i for i, v in enumerate(cl)}
        unknown = sorted({str(v) for v in y_raw if v not in index})[:5]
        raise UsageError(f"compare: the label {label!r} holds values the models never saw "
                         f"({', '.join(unknown)}); classes: {', '.join(map(str, cl))}")
    task = "binary" if len(cl) == 2 else "multiclass"
    probas: list[np.ndarray | None] = []
    preds = []
    for c, e, cs in zip(cands, ests, cols, strict=True):
        x = frame[cs]
        if hasattr(e, "predict_proba"):
            p = np.asarray(_call(c, e.predict_proba, x), dtype=np.float64)
            probas.append(p[:, 1] if task == "binary" else p)
            preds.append(p.argmax(axis=1))
        else:
            probas.append(None)
            preds.append(np.array([index[v] for v in _predict(c, e, x)], dtype=np.int64))
    return Scored(task, y.astype(np.float64) if task == "binary" else y, cl, probas, preds,
                  cols, notes)


def _class_index(classes: list[Any], y_raw: np.ndarray) -> np.ndarray | None:
    """Each label's position in ``classes`` (vectorised), or None if one is not a class."""
    import pandas as pd

    try:
        codes = pd.Index(classes).get_indexer(pd.Index(y_raw))
    except (TypeError, ValueError):  # unorderable mixes: look them up one by one
        index = {v: i for i, v in enumerate(classes)}
        codes = np.array([index.get(v, -1) for v in y_raw], dtype=np.int64)
    return None if (codes < 0).any() else codes.astype(np.int64)


def _call(c: Candidate, fn: Any, x: Any) -> Any:
    try:
        return fn(x)
    except Exception as e:  # noqa: BLE001 - one clear line naming the model
        raise UsageError(f"compare: {c.label} could not score the holdout: "
                         f"{type(e).__name__}: {e}") from None


def _predict(c: Candidate, e: Any, x: Any) -> np.ndarray:
    return np.asarray(_call(c, e.predict, x))
