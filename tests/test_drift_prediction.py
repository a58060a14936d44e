"""Prediction drift: score both frames with a model, compare predictions and performance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlops_jupyter.errors import UsageError, ValidationError
from mlops_jupyter.monitoring import compute_prediction_drift


def _frame(n, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1, n)
    x2 = rng.normal(0, 1, n)
    y = (x1 + 0.5 * x2 + rng.normal(0, 0.5, n) > 0).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "y": y})


@pytest.fixture(scope="module")
def clf():
    train = _frame(3000, seed=1)
    return LogisticRegression().fit(train[["x1", "x2"]], train["y"])


def test_classifier_prediction_drift_and_performance(clf):
    ref = _frame(4000, seed=2)
    cur = _frame(4000, shift=1.0, seed=3)
    rep = compute_prediction_drift(clf, ref, cur, label="y")
    assert rep.title == "Prediction drift"
    assert {c.column for c in rep.columns} == {"prediction", "proba_1"}
    assert rep["prediction"].kind == "categorical"
    assert rep["proba_1"].kind == "numeric"
    assert rep.drifted and set(rep.drifted_columns) == {"prediction", "proba_1"}
    perf = rep.performance
    assert set(perf) == {"accuracy", "f1"}
    assert 0.7 < perf["accuracy"]["reference"] <= 1.0
    assert perf["accuracy"]["change"] == pytest.approx(
        perf["accuracy"]["current"] - perf["accuracy"]["reference"])
    json.dumps(rep.to_dict(), allow_nan=False)
    assert "Model performance" in rep._repr_html_()


def test_no_shift_gives_no_prediction_drift(clf):
    rep = compute_prediction_drift(clf, _frame(4000, seed=4), _frame(4000, seed=5))
    assert not rep.drifted and rep.performance is None


def test_labels_only_in_reference_give_one_sided_performance(clf):
    ref = _frame(1000, seed=6)
    cur = _frame(1000, seed=7).drop(columns=["y"])
    perf = compute_prediction_drift(clf, ref, cur, label="y").performance
    assert perf["accuracy"]["current"] is None and perf["accuracy"]["change"] is None
    assert perf["accuracy"]["reference"] is not None


def test_regressor_reports_rmse_and_mae():
    train = _frame(2000, seed=8)
    train["t"] = 2 * train["x1"] - train["x2"]
    reg = LinearRegression().fit(train[["x1", "x2"]], train["t"])
    ref, cur = _frame(2000, seed=9), _frame(2000, shift=0.5, seed=10)
    ref["t"] = 2 * ref["x1"] - ref["x2"]
    cur["t"] = 2 * cur["x1"] - cur["x2"] + 1.0  # the relationship changed
    rep = compute_prediction_drift(reg, ref.drop(columns=["y"]), cur.drop(columns=["y"]),
                                   label="t")
    assert rep["prediction"].kind == "numeric" and rep["prediction"].drifted
    assert rep.performance["rmse"]["reference"] == pytest.approx(0.0, abs=1e-9)
    assert rep.performance["mae"]["current"] == pytest.approx(1.0, abs=1e-6)


def test_label_is_not_passed_to_a_model_without_feature_names():
    train = _frame(1000, seed=11)
    model = LogisticRegression().fit(train[["x1", "x2"]].to_numpy(), train["y"].to_numpy())
    rep = compute_prediction_drift(model, _frame(500, seed=12), _frame(500, seed=13), label="y")
    assert rep.performance["accuracy"]["reference"] > 0.7


def test_bad_inputs(clf):
    ref, cur = _frame(100, seed=1), _frame(100, seed=2)
    with pytest.raises(UsageError, match="predict"):
        compute_prediction_drift(object(), ref, cur)
    with pytest.raises(UsageError, match="label column 'nope'"):
        compute_prediction_drift(clf, ref, cur, label="nope")
    with pytest.raises(ValidationError, match="'x2'"):
        compute_prediction_drift(clf, ref, cur.drop(columns=["x2"]))
    with pytest.raises(UsageError, match="empty"):
        compute_prediction_drift(clf, ref, cur.iloc[:0])
    with pytest.raises(UsageError, match="DataFrame"):
        compute_prediction_drift(clf, ref, [1, 2])


def test_array_fitted_model_with_wrong_column_count_is_a_clear_error():
    train = _frame(500, seed=14)
    model = LogisticRegression().fit(train[["x1", "x2"]].to_numpy(), train["y"].to_numpy())
    extra = _frame(100, seed=15).assign(z=1.0)
    with pytest.raises(ValidationError, match="expects 2 features"):
        compute_prediction_drift(model, extra, extra, label="y")
