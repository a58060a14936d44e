"""mj.compare on model versions: statistics (paired, DeLong, McNemar, slices), the bad
inputs of issue 10, lineage diff, the same result from the magic and the CLI, and
outputs that stay static (no widget view)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

import mlops_jupyter as mj
from mlops_jupyter.cli import main
from mlops_jupyter.comparison import stats
from mlops_jupyter.errors import NotFoundError, UsageError

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _data(n: int = 1600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "plan": rng.choice(["basic", "pro", "<b>max</b>"], n)})
    df["churned"] = ((df.a + 0.9 * df.b + rng.normal(0, 0.6, n)) > 0).astype(int)
    return df


@pytest.fixture
def two_versions(mlops_home: Path) -> pd.DataFrame:
    df = _data()
    train, test = df.iloc[:1000], df.iloc[1000:]
    with mj.start_run(name="weak", params={"features": "a", "C": 1.0}):
        mj.models.register(LogisticRegression().fit(train[["a"]], train.churned), "churn",
                           signature=train[["a"]])
    with mj.start_run(name="strong", params={"features": "a,b", "C": 1.0}):
        mj.models.register(LogisticRegression().fit(train[["a", "b"]], train.churned), "churn",
                           signature=train[["a", "b"]])
    mj.models.promote("churn@v1", "production", reason="first")
    return test.reset_index(drop=True)


# -- statistics ---------------------------------------------------------------------------
def test_delong_auc_equals_sklearn_and_identical_scores_have_zero_difference() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.3).astype(float)
    p = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.25, 3000), 0, 1).round(2)  # ties
    q = rng.random(3000)
    aucs, cov = stats.delong(y, [p, q])
    assert aucs[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert aucs[1] == pytest.approx(roc_auc_score(y, q), abs=1e-12)
    assert stats.average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    same, cov2 = stats.delong(y, [p, p])
    assert cov2[0, 0] + cov2[1, 1] - 2 * cov2[0, 1] == pytest.approx(0, abs=1e-15)


def test_bootstrap_intervals_match_the_known_standard_error() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random(20_000) < 0.4).astype(float)
    p = np.clip(0.4 + 0.3 * (y - 0.4) + rng.normal(0, 0.25, 20_000), 0.001, 0.999)
    pred = (p > 0.5).astype(float)
    boot = stats.paired_bootstrap("classification", y, [p, p], [pred, pred], b=400, seed=3)
    acc = (pred == y).mean()
    se = np.sqrt(acc * (1 - acc) / len(y))
    assert np.std(boot.values[0]["accuracy"]) == pytest.approx(se, rel=0.2)
    _, cov = stats.delong(y, [p])
    assert np.std(boot.values[0]["roc_auc"]) == pytest.approx(np.sqrt(cov[0, 0]), rel=0.2)
    assert np.all(boot.values[1]["log_loss"] == boot.values[0]["log_loss"])  # paired
    point = stats.point_metrics("classification", y, p, pred)
    assert point["log_loss"] == pytest.approx(log_loss(y, p), rel=1e-9)


def test_mcnemar_holm_bh_and_clopper_pearson() -> None:
    a = np.array([True] * 10 + [False] * 2 + [True] * 50)
    b = np.array([False] * 10 + [True] * 2 + [True] * 50)
    a_only, b_only, p = stats.mcnemar(a, b)
    assert (a_only, b_only) == (10, 2) and p == pytest.approx(0.03857, abs=1e-4)
    assert stats.mcnemar(a, a)[2] == 1.0
    assert stats.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert stats.bh([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.04, 0.04])
    rows = stats.calibration_bins(np.array([0, 0, 1, 1.0]), np.array([0.05, 0.05, 0.95, 0.95]), bins=2)
    assert rows[0]["observed"] == 0 and rows[0]["lo"] == 0 and 0.8 < rows[0]["hi"] < 0.85


def test_identical_models_show_no_difference(mlops_home: Path) -> None:
    df = _data(seed=4)
    m = LogisticRegression().fit(df[["a", "b"]], df.churned)
    c = mj.compare(m, m, holdout=df, label="churned", names=["champion", "challenger"], n_boot=200)
    assert c.winner is None
    assert c.verdict.startswith("No significant difference between challenger and champion on ROC AUC: +0.000")
    d = c.delta("accuracy")
    assert d.delta == 0 and d.p_value == 1.0 and not d.significant


def test_clearly_better_model_is_significant_and_named(two_versions: pd.DataFrame) -> None:
    c = mj.compare("churn@production", "churn@v2", holdout=two_versions, label="churned",
                   slices=["plan", "b"], n_boot=300)
    assert c.winner == "churn@v2"
    d = c.delta("roc_auc")
    assert d.significant and d.lo > 0 and d.test == "DeLong"
    assert c.verdict.startswith("churn@v2 is better than churn@production (v1) on ROC AUC: +0.")
    assert "95% CI [" in c.verdict
    frame = c.to_frame()
    assert list(frame["model"]) == ["churn@production (v1)", "churn@v2"]
    assert {"roc_auc", "roc_auc_lo", "roc_auc_hi", "brier", "log_loss", "f1", "pr_auc"} <= set(frame.columns)
    weak = mj.models.load("churn@v1")
    assert frame.loc[0, "roc_auc"] == pytest.approx(
        roc_auc_score(two_versions.churned, weak.predict_proba(two_versions[["a"]])[:, 1]))
    assert c.delta("accuracy").test.startswith("exact McNemar")
    # slices: categorical by value, numeric in quartiles; challenger-worse first
    sl = c.slices_frame()
    assert set(sl["column"]) == {"plan", "b"} and len(sl) == 3 + 4
    assert sl["delta"].is_monotonic_increasing
    assert (sl["p_adjusted"] >= sl["p_value"] - 1e-12).all()
    assert c.disagreements > 0 and len(c.disagreement_rows) <= 10
    assert any("does not use b" in n for n in c.notes)  # signatures differ: what was dropped
    # lineage: params that differ, who, the training runs
    lin = c.lineage
    assert ("features", "a", "a,b") in lin.params and ("C", "1.0", "1.0") not in lin.params
    html = c.to_html()
    assert "&lt;b&gt;max&lt;/b&gt;" in html and "<b>max</b>" not in html
    assert "Why they differ" in html and "param features" in html


def test_regression_models(mlops_home: Path) -> None:
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.normal(size=800), "z": rng.normal(size=800)})
    df["y"] = 3 * df.x + df.z + rng.normal(0, 0.5, 800)
    a = LinearRegression().fit(df[["x"]], df.y)
    b = LinearRegression().fit(df[["x", "z"]], df.y)
    c = mj.compare(a, b, holdout=df, label="y", n_boot=200)
    assert c.task == "regression" and c.primary == "rmse" and c.winner == "model 2"
    assert c.delta("rmse").delta < 0 and c.delta("rmse").hi < 0
    titles = [s.get("title") for s in c.chart().spec["concat"]]
    assert "Residuals vs predicted" in titles and "Predicted vs actual" in titles


# -- bad input ----------------------------------------------------------------------------
def test_bad_inputs_each_get_one_clear_error(two_versions: pd.DataFrame) -> None:
    h = two_versions
    with pytest.raises(NotFoundError, match="churn"):
        mj.compare("churn@v9", "churn@v1", holdout=h, label="churned")
    with pytest.raises(NotFoundError, match="did you mean churn@latest"):
        mj.compare("churn", "churn@v1", holdout=h, label="churned")
    with pytest.raises(UsageError, match="no label column 'nope'; columns: a, b, plan, churned"):
        mj.compare("churn@v1", "churn@v2", holdout=h, label="nope")
    with pytest.raises(UsageError, match="at least two"):
        mj.compare("churn@v1", holdout=h, label="churned")
    with pytest.raises(UsageError, match="no holdout given and none recorded"):
        mj.compare("churn@v1", "churn@v2")
    with pytest.raises(UsageError, match="lacks column"):
        mj.compare("churn@v1", "churn@v2", holdout=h.drop(columns=["b"]), label="churned")
    reg = LinearRegression().fit(h[["a"]], h.b)
    with pytest.raises(UsageError, match="regression model with a classifier"):
        mj.compare("churn@v1", reg, holdout=h, label="churned")
    run_id = mj.runs().iloc[0]["run_id"]
    with pytest.raises(UsageError, match="cannot mix models"):
        mj.compare("churn@v1", run_id)
    with pytest.raises(UsageError, match="slice column"):
        mj.compare("churn@v1", "churn@v2", holdout=h, label="churned", slices=["nope"])
    with pytest.raises(UsageError, match="correction"):
        mj.compare("churn@v1", "churn@v2", holdout=h, label="churned", correction="sidak")


def test_holdout_recorded_at_registration_is_the_default(mlops_home: Path) -> None:
    df = _data(seed=6)
    hv = mj.datasets.add(df.iloc[1000:], name="customers-holdout")
    m1 = LogisticRegression().fit(df.iloc[:1000][["a"]], df.iloc[:1000].churned)
    m2 = LogisticRegression().fit(df.iloc[:1000][["a", "b"]], df.iloc[:1000].churned)
    mj.models.register(m1, "c2", run=False, signature=df[["a"]])
    mj.models.register(m2, "c2", run=False, signature=df[["a", "b"]],
                       tags={"holdout": hv.ref, "label": "churned"})
    c = mj.compare("c2@v1", "c2@v2", n_boot=100)
    assert c.holdout == f"{hv.ref}, recorded with c2@v2" and c.n_rows == 600


# -- faces and outputs --------------------------------------------------------------------
def test_display_is_static_html_plus_a_vegalite_v5_chart(two_versions: pd.DataFrame) -> None:
    from IPython.core.formatters import DisplayFormatter

    c = mj.compare("churn@v1", "churn@v2", holdout=two_versions, label="churned",
                   slices="plan", n_boot=100)
    spec = c.chart().spec
    assert spec["$schema"].endswith("/v5.json")
    assert {p["name"] for p in spec["params"]} == {"metric_pick", "slice_pick"}
    bundle = c.chart()._repr_mimebundle_()
    assert "application/vnd.vegalite.v5+json" in bundle and WIDGET_MIME not in bundle
    pytest.importorskip("vl_convert")
    assert bundle["image/svg+xml"].startswith("<svg")
    fmt, _ = DisplayFormatter().format(c)
    assert fmt == {}  # shown through _ipython_display_: two plain outputs


def test_same_comparison_from_magic_and_cli(two_versions: pd.DataFrame, tmp_path: Path) -> None:
    from IPython.testing import globalipapp

    from mlops_jupyter.comparison import Comparison
    from mlops_jupyter.magics import dispatch

    two_versions.to_csv(tmp_path / "holdout.csv", index=False)
    globalipapp.start_ipython()
    ip: Any = globalipapp.get_ipython()
    ip.user_ns["holdout_df"] = two_versions
    got = dispatch(ip, "compare churn@v1 churn@v2 --holdout holdout_df --label churned --n-boot 100")
    assert isinstance(got, Comparison) and got.winner == "churn@v2"
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["compare", "churn@v1", "churn@v2", "--holdout", str(tmp_path / "holdout.csv"),
                     "--label", "churned", "--n-boot", "100", "--json"])
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert doc["winner"] == "churn@v2" and doc["verdict"] == got.verdict
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["compare", "churn@v1", "nope-run"])
    assert code != 0 and "neither a model ref" in err.getvalue() and "Traceback" not in err.getvalue()


def test_multiclass_macro_f1_and_accuracy_verdict(mlops_home: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.metrics import f1_score
    from sklearn.tree import DecisionTreeClassifier

    df = load_iris(as_frame=True).frame
    x = df.drop(columns="target")
    good = LogisticRegression(max_iter=500).fit(x, df.target)
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x, df.target)
    c = mj.compare(good, stump, holdout=df, label="target", n_boot=200)
    assert c.task == "multiclass" and c.primary == "accuracy" and c.winner == "model 1"
    frame = c.to_frame()
    assert frame.loc[1, "f1"] == pytest.approx(
        f1_score(df.target, stump.predict(x), average="macro", zero_division=0))
    assert frame.loc[1, "f1_lo"] <= frame.loc[1, "f1"] <= frame.loc[1, "f1_hi"]
    assert "Confusion matrices" in [s.get("title") for s in c.chart().spec["concat"]]
    # ROC AUC one-vs-rest (macro), as scikit-learn; interval and difference by bootstrap
    assert frame.loc[0, "roc_auc"] == pytest.approx(
        roc_auc_score(df.target, good.predict_proba(x), multi_class="ovr"))
    assert frame.loc[0, "roc_auc_lo"] <= frame.loc[0, "roc_auc"] <= frame.loc[0, "roc_auc_hi"]
    assert c.delta("roc_auc").test == "paired bootstrap"
    assert "one-vs-rest" in c.to_html()
