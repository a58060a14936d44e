"""Safe model files: skops trusted types, the opt-in pickle flavor behind audited trust,
and integrity (a tampered or truncated file is refused before anything is deserialized)."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

import mlops_jupyter as mj
from mlops_jupyter.errors import IntegrityError, UnsafeModelError

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.8, 0.1]])
Y = np.array([0, 1, 0, 1])


class HomeMade(BaseEstimator, ClassifierMixin):
    """A custom estimator: skops does not trust its type by default."""

    def fit(self, X, y):  # type: ignore[no-untyped-def]
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):  # type: ignore[no-untyped-def]
        return np.zeros(len(X), dtype=int)


class Boom:
    """Unpickling this would run code: the pickle flavor must not load it untrusted."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo pwned > pwned.txt",))


def _blob_path(mv) -> str:  # type: ignore[no-untyped-def]
    p = mj.get_store().blobs.local_path(mv.blob)
    assert p is not None and p.is_file()
    return str(p)


def _write(path: str, data: bytes) -> None:
    os.chmod(path, 0o644)  # blobs are read-only (0o444)
    with open(path, "wb") as f:
        f.write(data)


def test_skops_round_trip_of_a_pipeline(mlops_home) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    mv = mj.models.register(pipe, "pipe", signature=X, run=False)
    assert mv.flavor_meta == {"format": "skops", "untrusted_types": []}
    got = mj.models.load("pipe@v1")
    assert (got.predict(X) == pipe.predict(X)).all()
    data = mj.get_store().read_blob(mv.blob)
    assert not data.startswith(b"\x80")  # a zip (skops), not a pickle stream
    assert data[:2] == b"PK"


def test_untrusted_skops_types_are_listed_and_refused_without_pickle_fallback(
    mlops_home, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.warns(UserWarning, match="HomeMade"):
        mv = mj.models.register(HomeMade().fit(X, Y), "home", signature=X, run=False)
    assert mv.flavor_meta["untrusted_types"] == [f"{HomeMade.__module__}.HomeMade"]

    def no_pickle(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("pickle must never be used for a skops model")

    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    with pytest.raises(UnsafeModelError, match=r"not trusted: .*HomeMade.*Nothing was loaded"):
        mj.models.load("home@v1")
    # explicit, per-load acceptance of the listed type
    got = mj.models.load("home@v1", trusted_types=[f"{HomeMade.__module__}.HomeMade"])
    assert isinstance(got, HomeMade)
    # or an audited trust decision on the version
    mj.models.trust("home@v1", reason="reviewed the class")
    assert isinstance(mj.models.load("home@v1"), HomeMade)


def test_pickle_flavor_loads_only_after_audited_trust(mlops_home) -> None:
    mv = mj.models.register(Boom(), "boom", flavor="pickle", run=False, signature=False)
    assert mv.flavor == "pickle" and not mv.trusted
    with pytest.raises(UnsafeModelError, match="arbitrary code"):
        mj.models.load("boom@v1")
    assert not os.path.exists("pwned.txt")
    mv = mj.models.register({"weights": [1, 2, 3]}, "plain", flavor="pickle", run=False)
    with pytest.raises(UnsafeModelError):
        mj.models.load("plain@v1")
    mj.models.trust("plain@v1", reason="our own object")
    assert mj.models.load("plain@v1") == {"weights": [1, 2, 3]}
    assert [e.action for e in mj.models.events("plain")] == ["register", "trust"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "replace"])
def test_tampered_model_file_is_refused_and_nothing_is_deserialized(
    mlops_home, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    clf = LogisticRegression().fit(X, Y)
    mv = mj.models.register(clf, "churn", signature=X, run=False)
    path = _blob_path(mv)
    data = open(path, "rb").read()
    if damage == "flip":
        bad = data[:100] + bytes([data[100] ^ 1]) + data[101:]
    elif damage == "truncate":
        bad = data[: len(data) // 2]
    else:  # a different, valid skops model under the registered name
        import skops.io as sio

        bad = sio.dumps(LogisticRegression().fit(X, 1 - Y))
    _write(path, bad)
    import skops.io as sio

    def must_not_run(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("deserialized a tampered file")

    monkeypatch.setattr(sio, "loads", must_not_run)
    monkeypatch.setattr(sio, "get_untrusted_types", must_not_run)
    with pytest.raises(IntegrityError) as err:
        mj.models.load("churn@v1")
    msg = str(err.value)
    assert mv.blob in msg and "expected" in msg and "actual" in msg
    assert "nothing was deserialized" in msg
    # trusting a version does not bypass the hash check
    mj.models.trust("churn@v1", reason="trust is for exact bytes")
    with pytest.raises(IntegrityError):
        mj.models.load("churn@v1")


def test_missing_model_file_is_an_integrity_error(mlops_home) -> None:
    mv = mj.models.register(LogisticRegression().fit(X, Y), "churn", signature=X, run=False)
    os.unlink(_blob_path(mv))
    with pytest.raises(IntegrityError, match="missing"):
        mj.models.load("churn@v1")


def test_a_file_that_is_not_skops_is_refused(mlops_home) -> None:
    # register bytes that hash-verify but are not a skops archive (e.g. a pickle)
    from mlops_jupyter.models import flavors

    st = mj.get_store()
    digest, size = st.blobs.put_bytes(pickle.dumps(Boom()))
    st.create_model_version("evil", blob=digest, size=size, flavor="sklearn", user="x",
                            flavor_meta={"untrusted_types": []})
    with pytest.raises(UnsafeModelError, match="not a readable skops file"):
        mj.models.load("evil@v1")
    assert not os.path.exists("pwned.txt")
    assert "sklearn" in flavors.flavors() and "pickle" in flavors.flavors()


def test_random_forest_loads_without_trust_thanks_to_vetted_tree_types(mlops_home) -> None:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    import mlops_jupyter as mj
    from mlops_jupyter.models.flavors import VETTED_TYPES

    X = np.random.RandomState(0).rand(60, 3)
    y = (X[:, 0] > 0.5).astype(int)
    for i, est in enumerate([RandomForestClassifier(5, random_state=0), HistGradientBoostingClassifier(max_iter=5)]):
        v = mj.models.register(est.fit(X, y), name=f"forest{i}", run=False)
        assert not v.trusted and not (set(v.flavor_meta["untrusted_types"]) & VETTED_TYPES)
        back = mj.models.load(v.ref)
        assert (back.predict(X) == est.predict(X)).all()


def test_same_model_same_bytes(mlops_home) -> None:
    """skops names members by id() and stamps times; the saved file is canonicalised so
    an identical model has an identical hash (what `mlops reproduce` compares)."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    import mlops_jupyter as mj

    X = np.random.RandomState(1).rand(80, 4)
    y = (X[:, 0] > 0.5).astype(int)
    a = mj.models.register(RandomForestClassifier(5, random_state=0).fit(X, y), name="det", run=False)
    b = mj.models.register(RandomForestClassifier(5, random_state=0).fit(X, y), name="det", run=False)
    c = mj.models.register(RandomForestClassifier(5, random_state=1).fit(X, y), name="det", run=False)
    assert a.digest == b.digest != c.digest
    assert (mj.models.load(b.ref).predict(X) == mj.models.load(a.ref).predict(X)).all()


def test_lambdas_are_refused_at_register_and_notebook_functions_explained_at_load(mlops_home) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    import mlops_jupyter as mj
    from mlops_jupyter.errors import UnsafeModelError, UsageError

    X = np.random.RandomState(0).rand(30, 2)
    y = (X[:, 0] > 0.5).astype(int)
    with pytest.raises(UsageError, match="lambda"):
        mj.models.register(make_pipeline(FunctionTransformer(lambda z: z * 2), LogisticRegression()).fit(X, y),
                           name="lam", run=False)
    assert len(mj.models.list_models()) == 0  # nothing registered
    # a function defined in the notebook (module __main__) that the loading process lacks
    import sys
    import warnings

    def double(z):  # type: ignore[no-untyped-def]
        return z * 2

    double.__module__, double.__qualname__ = "__main__", "double"
    main = sys.modules["__main__"]
    main.double = double  # type: ignore[attr-defined]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            v = mj.models.register(make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(X, y),
                                   name="nb-func", run=False)
        assert any("importable module" in str(w.message) for w in caught)
    finally:
        del main.double  # type: ignore[attr-defined]
    mj.models.trust(v.ref, reason="reviewed")
    with pytest.raises(UnsafeModelError, match="__main__.double was defined in the notebook"):
        mj.models.load(v.ref)
