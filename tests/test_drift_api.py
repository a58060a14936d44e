"""mj.drift with dataset and model references, saved reports and their history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.errors import NotFoundError, UsageError


def _frames(shift: float = 0.0, n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "c": rng.choice(list("abc"), n)})


def test_dataset_reference_saved_and_listed(mlops_home) -> None:
    mj.datasets.add(_frames(), name="train")
    same = mj.drift("train@v1", _frames(seed=1))
    shifted = mj.drift("train", _frames(0.5, seed=2))
    assert not same.drifted and shifted.drifted and shifted.drifted_columns == ["x"]
    hist = mj.drift_history("dataset:train")
    assert list(hist["drifted"]) == [False, True]
    assert set(hist["reference"]) == {"train@v1"}
    from mlops_jupyter.monitoring.api import load_report

    back = load_report(hist["report_id"].iloc[1])
    assert back.drifted_columns == ["x"]


def test_dataframes_are_not_saved_unless_asked(mlops_home) -> None:
    mj.drift(_frames(), _frames(seed=3))
    assert len(mj.drift_history()) == 0
    mj.drift(_frames(), _frames(seed=3), save=True)
    assert len(mj.drift_history()) == 1


def test_model_reference_uses_training_data_and_adds_prediction_drift(mlops_home) -> None:
    from sklearn.linear_model import LogisticRegression

    train = _frames()
    train["y"] = (train["x"] > 0).astype(int)
    mj.datasets.add(train, name="churn-data")
    clf = LogisticRegression().fit(train[["x"]], train["y"])
    mj.models.register(clf, name="churn", dataset="churn-data@v1")
    cur = _frames(1.0, seed=5)
    cur["y"] = (cur["x"] > 0).astype(int)
    report = mj.drift("model:churn@latest", cur, label="y")
    assert report.drifted and "x" in report.drifted_columns
    assert report["y"].role == "label"  # present in the current data: compared, apart
    assert report.prediction.drifted  # predictions moved with x
    assert report.performance is not None and "accuracy" in report.performance
    assert list(mj.drift_history("model:churn")["subject_kind"]) == ["model"]


def test_reference_errors(mlops_home, tmp_path) -> None:
    with pytest.raises(NotFoundError, match="neither a dataset nor a registered model"):
        mj.drift("nothing@v1", _frames())
    with pytest.raises(UsageError, match="DataFrame, a dataset ref"):
        mj.drift(42, _frames())
    with pytest.raises(UsageError, match="no file"):
        mj.drift(_frames(), str(tmp_path / "missing" / "x.csv"))
    with pytest.raises(UsageError, match="cannot be a model"):
        mj.drift(_frames(), "model:x@v1")
    from sklearn.linear_model import LinearRegression

    df = _frames()
    mj.datasets.add(df, name="same")
    mj.models.register(LinearRegression().fit(df[["x"]], df["x"]), name="same")
    assert mj.drift("same", df).options["reference"] == "same@v1"  # the dataset reading wins
    with pytest.raises(UsageError, match="no training dataset"):
        mj.drift("model:same@v1", df)


def test_current_from_csv_path(mlops_home, tmp_path) -> None:
    p = tmp_path / "new.csv"
    _frames(0.6, seed=9).to_csv(p, index=False)
    report = mj.drift(_frames(), str(p))
    assert report.drifted_columns == ["x"]


def test_design_example_dataset_named_like_its_model(mlops_home) -> None:
    """DESIGN.md registers model churn on dataset churn@v1, then drifts churn@v1."""
    from sklearn.linear_model import LinearRegression

    df = _frames()
    mj.datasets.add(df, name="churn")
    mj.models.register(LinearRegression().fit(df[["x"]], df["x"]), name="churn", dataset="churn@v1")
    assert not mj.drift(reference="churn@v1", current=_frames(seed=4)).drifted
    assert mj.drift("model:churn@v1", _frames(seed=4)).options["reference"].startswith("churn@v1 (trained on")


def test_history_of_unknown_subject_names_what_exists(mlops_home) -> None:
    mj.datasets.add(_frames(), name="known")
    assert len(mj.drift_history("known")) == 0  # exists, no reports yet
    mj.drift("known@v1", _frames(seed=2))
    with pytest.raises(NotFoundError, match="dataset:known"):
        mj.drift_history("nope")
