"""The retraining loop decides with ``mj.compare`` when the retrain spec names a holdout:
the challenger is promoted only when it is significantly better on the same holdout,
never on a difference inside the noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.errors import UsageError
from mlops_jupyter.monitors import loop


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.normal(0, 1, n), "spend": rng.normal(0, 1, n)})
    df["churned"] = (df["spend"] + rng.normal(0, 0.5, n) > 0).astype(int)
    return df


@pytest.fixture
def two_models(mlops_home):
    from sklearn.linear_model import LogisticRegression

    train = _data(1500, 0)
    mj.datasets.add(train, name="train")
    mj.datasets.add(_data(3000, 1), name="holdout")
    weak = LogisticRegression().fit(train[["tenure"]].assign(spend=0.0), train["churned"])
    strong = LogisticRegression().fit(train[["tenure", "spend"]], train["churned"])
    sig = train[["tenure", "spend"]]
    mj.models.register(weak, "churn", dataset="train@v1", signature=sig)
    mj.models.register(strong, "churn", dataset="train@v1", signature=sig)
    mj.models.register(weak, "churn", dataset="train@v1", signature=sig)  # v3 == v1
    return mj.models.get("churn@v1"), mj.models.get("churn@v2"), mj.models.get("churn@v3")


SPEC = {"metric": "auc", "min_improvement": 0.0, "holdout": "holdout@v1", "label": "churned"}


def test_significantly_better_challenger_is_promoted(two_models) -> None:
    v1, v2, _ = two_models
    d = loop.default_comparator(v1, v2, None, dict(SPEC))
    assert d.promote is True
    assert "churn@v2" in d.reason and "is better" in d.reason and "ROC AUC" in d.reason
    assert d.details["lo"] > 0 and d.details["p_value"] < 0.05


def test_no_significant_difference_keeps_the_champion(two_models) -> None:
    v1, _, v3 = two_models
    d = loop.default_comparator(v1, v3, None, dict(SPEC))
    assert d.promote is False
    assert "No significant difference" in d.reason


def test_worse_challenger_and_unreachable_gain_keep_the_champion(two_models) -> None:
    v1, v2, _ = two_models
    assert loop.default_comparator(v2, v1, None, dict(SPEC)).promote is False
    assert loop.default_comparator(v1, v2, None, {**SPEC, "min_improvement": 0.9}).promote is False


def test_a_bad_holdout_is_a_refusal_not_a_promotion(two_models) -> None:
    v1, v2, _ = two_models
    d = loop.default_comparator(v1, v2, None, {**SPEC, "holdout": "nope@v1"})
    assert d.promote is False and "comparison on nope@v1 failed" in d.reason
    d = loop.default_comparator(v1, v2, None, {**SPEC, "label": "missing"})
    assert d.promote is False


def test_monitor_add_keeps_the_holdout(two_models) -> None:
    mj.datasets.add(_data(200, 5)[["tenure", "spend"]], name="served")
    mj.models.promote("churn@v1", alias="production", reason="first")
    m = mj.monitors.add("m", model="churn@production", current="served",
                        retrain={"template": "retrain", "dataset": "train",
                                 "holdout": "holdout@v1", "label": "churned"})
    assert m.spec["retrain"]["holdout"] == "holdout@v1"
    with pytest.raises(UsageError, match="holdout"):
        mj.monitors.add("m2", model="churn@production", current="served",
                        retrain={"template": "retrain", "dataset": "train", "holdout": 3})
