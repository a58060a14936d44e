"""The model registry: registering with context defaults, references, aliases as
compare-and-set, promotion rules, audit history, names, model cards."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.errors import ConflictError, InvalidNameError, NotFoundError, UsageError
from mlops_jupyter.models import RuleFailed


def _data(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "tenure": rng.integers(0, 60, n).astype("int64"),
        "spend": rng.normal(50, 10, n),
        "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
        "visits": pd.array(rng.integers(0, 5, n), dtype="Int64"),
    })
    X.loc[3, "visits"] = pd.NA
    y = pd.Series((X["spend"] > 50).astype(int))
    return X, y


def _clf(seed: int = 0):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    X, y = _data(seed=seed)
    return LogisticRegression().fit(X[["tenure", "spend"]], y), X[["tenure", "spend"]]


def test_register_defaults_from_the_run_and_explicit_signature(backend: str) -> None:
    clf, X = _clf()
    with mj.start_run(name="lr") as run:
        mj.log_metric("auc", 0.7)
        mj.log_metric("auc", 0.83)
        mv = mj.models.register(clf, "churn", signature=X, description="first", tags={"team": "growth"})
    assert mv.ref == "churn@v1" and mv.version == 1 and mv.run_id == run.id
    assert mv.metrics == {"auc": 0.83}
    assert mv.flavor == "sklearn" and not mv.trusted and mv.creator
    assert {"scikit-learn", "skops", "numpy", "python"} <= set(mv.requirements)
    assert mv.tags == {"team": "growth"} and mv.description == "first"
    sig = mv.input_signature
    assert sig is not None and sig.names == ["tenure", "spend"] and sig.frame
    assert [c.type for c in sig.columns] == ["integer", "float"]
    # after the run ended, the last run is still the default
    mv2 = mj.models.register(clf, "churn", metrics={"auc": 0.9})
    assert mv2.version == 2 and mv2.run_id == run.id and mv2.metrics["auc"] == 0.9
    # the estimator's own feature names give a weaker signature
    assert mv2.input_signature is not None and mv2.input_signature.names == ["tenure", "spend"]


def test_signature_dtypes_nullable_ints_and_categoricals(mlops_home) -> None:
    X, _ = _data()
    sig = mj.models.infer_signature(X)
    by = {c.name: c for c in sig.columns}
    assert by["tenure"].type == "integer" and not by["tenure"].nullable
    assert by["visits"].type == "integer" and by["visits"].nullable and by["visits"].dtype == "Int64"
    assert by["plan"].type == "category" and by["plan"].categories == ("basic", "pro")
    assert by["spend"].type == "float" and not by["spend"].nullable
    assert mj.models.Signature.from_dict(sig.to_dict()) == sig
    arr = mj.models.infer_signature(np.zeros((3, 2)))
    assert arr.names == ["x0", "x1"] and not arr.frame


def test_references_latest_version_alias_and_errors(mlops_home) -> None:
    clf, X = _clf()
    for _ in range(3):
        mj.models.register(clf, "churn", signature=X, run=False)
    assert mj.models.get("churn").version == 3
    assert mj.models.get("churn@latest").version == 3
    assert mj.models.get("churn@v2").version == 2
    mj.models.promote("churn@v2", "Production", reason="ok")  # aliases are case-insensitive
    assert mj.models.get("churn@production").version == 2
    assert mj.models.get("churn@PRODUCTION").version == 2
    with pytest.raises(NotFoundError, match=r"versions: v1, v2, v3"):
        mj.models.get("churn@v9")
    with pytest.raises(NotFoundError, match=r"aliases: production"):
        mj.models.get("churn@staging")
    with pytest.raises(NotFoundError, match=r"models: churn"):
        mj.models.get("nope@v1")
    with pytest.raises(UsageError, match=r"churn@v3"):
        mj.models.get("churn@3")
    with pytest.raises(KeyError):  # NotFoundError is a KeyError for Python users
        mj.models.get("nope")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "a b", "", "x" * 200, "a\x00b", "..", "-x"])
def test_hostile_model_names_are_refused(mlops_home, bad: str) -> None:
    clf, X = _clf()
    with pytest.raises(InvalidNameError):
        mj.models.register(clf, bad, signature=X, run=False)
    assert mj.get_store().counts()["model_versions"] == 0


def test_lookalike_unicode_names_map_to_one_model(mlops_home) -> None:
    clf, X = _clf()
    a = mj.models.register(clf, "churn", signature=X, run=False)
    b = mj.models.register(clf, "ｃｈｕｒｎ", signature=X, run=False)  # full-width letters
    assert (a.name, b.name, b.version) == ("churn", "churn", 2)
    with pytest.raises(InvalidNameError, match="letter case"):
        mj.models.register(clf, "Churn", signature=X, run=False)


@pytest.mark.parametrize("alias", ["latest", "v3", "3", "a/b"])
def test_reserved_or_unsafe_aliases_are_refused(mlops_home, alias: str) -> None:
    clf, X = _clf()
    mj.models.register(clf, "churn", signature=X, run=False)
    with pytest.raises(InvalidNameError):
        mj.models.promote("churn@v1", alias)


def test_alias_compare_and_set_and_audit(backend: str) -> None:
    clf, X = _clf()
    for auc in (0.8, 0.85, 0.9):
        mj.models.register(clf, "churn", signature=X, run=False, metrics={"auc": auc})
    mj.models.promote("churn@v1", "production", reason="first", expected_current=None)
    with pytest.raises(ConflictError, match=r"is v1, not unset"):
        mj.models.promote("churn@v2", "production", expected_current=None)
    with pytest.raises(ConflictError, match=r"is v1, not v3"):
        mj.models.promote("churn@v2", "production", expected_current="churn@v3")
    mv = mj.models.promote("churn@v2", "production", reason="better", expected_current=1)
    assert mv.aliases == ("production",)
    assert mj.models.get("churn@v1").aliases == ()
    with pytest.raises(ConflictError, match="already points"):
        mj.models.promote("churn@v2", "production")
    mj.models.demote("churn", "production", reason="incident", expected_current="v2")
    with pytest.raises(NotFoundError):
        mj.models.get("churn@production")
    events = mj.models.events("churn", "production")
    assert [(e.action, e.from_version, e.to_version, e.reason) for e in events] == [
        ("promote", None, 1, "first"), ("promote", 1, 2, "better"), ("demote", 2, None, "incident"),
    ]
    assert events[1].details["to_metrics"] == {"auc": 0.85}
    assert events[1].details["from_metrics"] == {"auc": 0.8}
    assert all(e.user for e in events)
    # failed CAS attempts left no trace in the audit log
    assert len(mj.models.events("churn")) == 3 + 3  # 3 registrations + 3 alias moves


def test_promotion_rules_are_checked_and_forcing_is_audited(backend: str) -> None:
    clf, X = _clf()
    for auc in (0.85, 0.7, 0.84, 0.9):
        mj.models.register(clf, "churn", signature=X, run=False, metrics={"auc": auc})
    mj.models.register(clf, "churn", signature=X, run=False, metrics={})  # v5: no metric
    mj.models.set_rules("churn", "production", require=["auc>=0.8"], beat="auc", reason="policy")
    assert mj.models.rules("churn") == {"production": {"require": ["auc>=0.8"], "beat": "auc"}}
    mj.models.promote("churn@v1", "production")  # no holder: beat does not apply
    with pytest.raises(RuleFailed, match=r"auc>=0.8: churn@v2 has auc=0.7"):
        mj.models.promote("churn@v2", "production")
    with pytest.raises(RuleFailed, match=r"must beat the current production \(churn@v1\)"):
        mj.models.promote("churn@v3", "production")
    with pytest.raises(RuleFailed, match=r"has no 'auc' metric"):
        mj.models.promote("churn@v5", "production")
    mj.models.promote("churn@v4", "production", reason="wins")
    mj.models.promote("churn@v2", "production", reason="rollback drill", force=True)
    hist = mj.models.history("churn", alias="production")
    assert list(hist["action"]) == ["rules", "promote", "promote", "promote"]
    assert list(hist["forced"]) == [False, False, False, True]
    assert mj.models.get("churn@production").version == 2
    with pytest.raises(UsageError, match="invalid promotion condition"):
        mj.models.set_rules("churn", "production", require=["auc >> 1"])
    mj.models.set_rules("churn", "production")  # clears
    assert mj.models.rules("churn") == {}


def test_history_answers_what_was_in_production_at_time_x(mlops_home) -> None:
    clf, X = _clf()
    for _ in range(3):
        mj.models.register(clf, "churn", signature=X, run=False)
    t0 = time.time()
    time.sleep(0.02)
    mj.models.promote("churn@v1", "production")
    time.sleep(0.02)
    t1 = time.time()
    time.sleep(0.02)
    mj.models.promote("churn@v3", "production")
    time.sleep(0.02)
    t2 = time.time()
    time.sleep(0.02)
    mj.models.demote("churn", "production")
    assert mj.models.version_at("churn@production", t0) is None
    assert mj.models.version_at("churn@production", t1).version == 1
    assert mj.models.version_at("churn@production", pd.Timestamp(t2, unit="s", tz="UTC")).version == 3
    assert mj.models.version_at("churn@production", time.time()) is None
    hist = mj.models.history("churn", "production")
    assert hist["until"].notna().tolist() == [True, True, False]
    with pytest.raises(UsageError):
        mj.models.version_at("churn@v1", t1)
    with pytest.raises(UsageError):
        mj.models.version_at("churn@production", "not a date")


def test_trust_needs_a_reason_and_is_audited(mlops_home) -> None:
    clf, X = _clf()
    mj.models.register(clf, "churn", signature=X, run=False)
    with pytest.raises(UsageError, match="reason"):
        mj.models.trust("churn@v1", reason="")
    ev = mj.models.trust("churn@v1", reason="reviewed by ana")
    assert ev.action == "trust" and mj.models.get("churn@v1").trusted
    mj.models.trust("churn@v1", reason="revoked", trusted=False)
    assert not mj.models.get("churn@v1").trusted
    assert [e.action for e in mj.models.events("churn")] == ["register", "trust", "untrust"]


def test_list_versions_and_card(mlops_home) -> None:
    clf, X = _clf()
    with mj.start_run(name="train <b>x</b>"):
        mj.log_metric("auc", 0.9)
        mj.models.register(clf, "churn", signature=X, description="<script>alert(1)</script>")
    mj.models.promote("churn@v1", "production", reason="<img src=x onerror=alert(1)>")
    df = mj.models.list_models()
    assert df.loc[0, "name"] == "churn" and df.loc[0, "versions"] == 1
    assert df.loc[0, "aliases"] == "production=v1"
    assert [v.ref for v in mj.models.versions("churn")] == ["churn@v1"]
    card = mj.models.show("churn@production")
    html = card._repr_html_()
    assert "<svg" in html and "churn@v1" in html and "@production" in html
    assert "<script>" not in html and "<img" not in html and "<b>x</b>" not in html
    d = card.to_dict()
    assert d["lineage"]["run"]["name"] == "train <b>x</b>" and d["aliases"] == ["production"]
    assert [h["action"] for h in d["history"]] == ["register", "promote"]
    assert "churn@v1" in repr(mj.models.get("churn@v1"))


def test_unsupported_objects_need_the_explicit_pickle_flavor(mlops_home) -> None:
    with pytest.raises(UsageError, match="flavor='pickle'"):
        mj.models.register({"not": "a model"}, "thing", run=False)
    with pytest.raises(UsageError, match="unknown model flavor"):
        mj.models.register({"not": "a model"}, "thing", run=False, flavor="xgboost-nope")
    assert mj.get_store().counts()["model_versions"] == 0


def test_lineage_end_to_end_dataset_run_model_alias(backend: str) -> None:
    X, y = _data()
    from sklearn.linear_model import LogisticRegression

    with mj.start_run(name="train") as run:
        dv = mj.datasets.add(X.assign(target=y), name="churn-data")
        clf = LogisticRegression().fit(X[["tenure", "spend"]], y)
        mj.log_metric("auc", 0.88)
        mv = mj.models.register(clf, "churn", signature=X[["tenure", "spend"]])
    assert mv.dataset_version_ids == (dv.id,)  # default: what the run read
    mj.models.promote(mv.ref, "production", reason="ship")
    card = mj.models.show("churn@production")
    assert [f"{d.name}@v{d.version}" for d in card.datasets] == ["churn-data@v1"]
    assert card.run.id == run.id and card.version.aliases == ("production",)
    d = card.to_dict()["lineage"]
    assert d["datasets"] == [{"ref": "churn-data@v1", "digest": dv.digest}]
    svg = card._repr_html_()
    for node in ("churn-data@v1", f"run {run.id[:8]}", "churn@v1", "@production"):
        assert node in svg
    # explicit references, outside any run; a wrong one names what exists
    mv2 = mj.models.register(clf, "churn", run=False, dataset="churn-data@v1", signature=X[["tenure", "spend"]])
    assert mv2.dataset_version_ids == (dv.id,) and mv2.run_id is None
    with pytest.raises(NotFoundError, match="churn-data@v1|v1"):
        mj.models.register(clf, "churn", run=False, dataset="churn-data@v7")
    assert len(mj.models.versions("churn")) == 2


def test_signature_defaults_to_what_autologging_saw(mlops_home, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_jupyter.tracking import autolog

    clf, X = _clf()
    record = autolog.FitRecord(estimator=clf, sample=X.head(5), run_id=None, class_name="LogisticRegression",
                               fit_time_s=0.0, n_samples=len(X), columns=list(X.columns))
    monkeypatch.setattr(autolog, "fit_of", lambda est: record if est is clf else None)
    sig = mj.models.register(clf, "churn", run=False).input_signature
    assert sig is not None and sig.source.startswith("training data (autolog")
    assert [c.type for c in sig.columns] == ["integer", "float"]
    assert sig.columns[1].nullable  # a sample cannot prove a float column never misses
    other, _ = _clf(seed=1)  # a different estimator: autolog's sample is not used for it
    assert mj.models.register(other, "churn", run=False).input_signature.source == "estimator"


def test_lineage_names_the_run_that_fitted_this_model(mlops_home) -> None:
    """Registered outside any run, a model links to the run autolog saw fit *it*, not
    merely the last run of the process."""
    from sklearn.linear_model import LogisticRegression

    from mlops_jupyter.tracking import autolog

    X, y = _data()
    X = X[["tenure", "spend"]]
    with mj.start_run("fits-a") as run_a, autolog.patched():
        a = LogisticRegression().fit(X, y)
    with mj.start_run("fits-b"), autolog.patched():
        LogisticRegression(C=0.5).fit(X, y)
    v = mj.models.register(a, "lineage")
    assert v.run_id == run_a.id
    assert v.input_signature is not None and v.input_signature.source.startswith("training data")
