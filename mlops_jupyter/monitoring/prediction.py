"""Prediction drift: score both frames with the model, compare what it predicts.

Input drift says the data moved; prediction drift says whether the model's output
moved with it, which is what the business sees. With labels, the change in
performance says whether it matters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UsageError, ValidationError
from .engine import compute_drift
from .report import DriftReport

__all__ = ["compute_prediction_drift", "MAX_PROBA_CLASSES"]

#: classifiers with at most this many classes also get one probability column per class
MAX_PROBA_CLASSES = 10


def compute_prediction_drift(
    model: Any,
    reference_df: pd.DataFrame,
    current_df: pd.DataFrame,
    label: str | None = None,
    *,
    method: str = "auto",
    threshold: float | None = None,
) -> DriftReport:
    """Compare a model's predictions on ``reference_df`` and ``current_df``.

    Classifiers: the predicted class is compared as a category and, for up to
    ``MAX_PROBA_CLASSES`` classes, each class probability as a number (binary models:
    the positive class only). Regressors: the prediction as a number. When ``label``
    names a column present in a frame, the report's ``performance`` holds accuracy and
    F1 (classifiers) or RMSE and MAE (regressors) on each side that has it, and the
    change. The label column is never passed to the model.
    """
    if not callable(getattr(model, "predict", None)):
        raise UsageError(f"model must have a predict() method; got {type(model).__name__}")
    for side, df in (("reference", reference_df), ("current", current_df)):
        if not isinstance(df, pd.DataFrame):
            raise UsageError(f"{side}_df must be a pandas DataFrame, not {type(df).__name__}")
        if len(df) == 0:
            raise UsageError(f"the {side} data is empty (0 rows); nothing to score")
    if label is not None and label not in reference_df.columns and label not in current_df.columns:
        raise UsageError(f"label column {label!r} is in neither frame")

    classifier = _is_classifier(model)
    ref_pred = _score(model, reference_df, label, classifier, "reference")
    cur_pred = _score(model, current_df, label, classifier, "current")
    cat_cols = ["prediction"] if classifier else []
    report = compute_drift(ref_pred, cur_pred, method=method, threshold=threshold,
                           categorical=cat_cols, title="Prediction drift")
    if label is not None:
        try:
            report.performance = _performance(model, classifier, label, reference_df,
                                              current_df, ref_pred, cur_pred)
        except (TypeError, ValueError) as exc:  # a label the metrics cannot read
            report.performance = None
            report.options["performance_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return report


def _is_classifier(model: Any) -> bool:
    try:
        from sklearn.base import is_classifier

        if is_classifier(model):
            return True
    except Exception:  # not a scikit-learn estimator: fall back to duck typing
        pass
    return callable(getattr(model, "predict_proba", None)) and hasattr(model, "classes_")


def _features(model: Any, df: pd.DataFrame, label: str | None, side: str) -> Any:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [n for n in names if n not in df.columns]
        if missing:
            raise ValidationError(
                f"the {side} data lacks feature column(s) the model was trained on: "
                f"{', '.join(map(repr, missing[:10]))}", violations=missing)
        return df[list(names)]
    X = df.drop(columns=[label]) if label is not None and label in df.columns else df
    n_in = getattr(model, "n_features_in_", None)
    if isinstance(n_in, int):  # fitted on an array: pass an array, in frame order
        if X.shape[1] != n_in:
            raise ValidationError(
                f"the model expects {n_in} features but the {side} data has {X.shape[1]} "
                f"columns (after removing the label); select the feature columns first")
        return X.to_numpy()
    return X


def _score(model, df, label, classifier, side) -> pd.DataFrame:
    X = _features(model, df, label, side)
    try:
        pred = np.asarray(model.predict(X))
    except Exception as exc:
        raise ValidationError(f"the model could not score the {side} data: "
                              f"{type(exc).__name__}: {exc}") from exc
    out: dict[str, Any] = {}
    if pred.ndim == 2 and pred.shape[1] > 1:
        for j in range(pred.shape[1]):
            out[f"prediction_{j}"] = pred[:, j]
    else:
        out["prediction"] = pred.reshape(-1)
    if classifier and callable(getattr(model, "predict_proba", None)):
        classes = list(getattr(model, "classes_", []))
        if 0 < len(classes) <= MAX_PROBA_CLASSES:
            proba = np.asarray(model.predict_proba(X))
            if proba.ndim == 2 and proba.shape[1] == len(classes):
                picked = [len(classes) - 1] if len(classes) == 2 else range(len(classes))
                for j in picked:
                    out[f"proba_{classes[j]}"] = proba[:, j].astype(np.float64)
    return pd.DataFrame(out, index=df.index)


def _side_metrics(classifier: bool, model: Any, y: pd.Series, pred: pd.Series) -> dict[str, float]:
    from sklearn import metrics

    keep = y.notna().to_numpy()
    y, pred = y[keep], pred[keep]
    if len(y) == 0:
        return {}
    if classifier:
        classes = list(getattr(model, "classes_", []))
        if len(classes) == 2:
            f1 = metrics.f1_score(y, pred, average="binary", pos_label=classes[-1], zero_division=0)
        else:
            f1 = metrics.f1_score(y, pred, average="macro", zero_division=0)
        return {"accuracy": float(metrics.accuracy_score(y, pred)), "f1": float(f1)}
    err = pd.to_numeric(pred).to_numpy(dtype=float) - pd.to_numeric(y).to_numpy(dtype=float)
    return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}


def _performance(model, classifier, label, ref_df, cur_df, ref_pred, cur_pred):
    if "prediction" not in ref_pred:
        return None  # multi-output: no single prediction to score
    ref_m = (_side_metrics(classifier, model, ref_df[label], ref_pred["prediction"])
             if label in ref_df.columns else {})
    cur_m = (_side_metrics(classifier, model, cur_df[label], cur_pred["prediction"])
             if label in cur_df.columns else {})
    out: dict[str, dict[str, float | None]] = {}
    for name in dict.fromkeys([*ref_m, *cur_m]):
        r, c = ref_m.get(name), cur_m.get(name)
        change = c - r if r is not None and c is not None else None
        out[name] = {"reference": r, "current": c,
                     "change": None if change is not None and math.isnan(change) else change}
    return out
