"""scikit-learn autologging in process: the patch window, what is logged, robustness.

(Autologging inside real tracked notebook cells is covered in test_magics_kernel.py.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import mlops_jupyter as mj  # noqa: E402
from mlops_jupyter.tracking import autolog  # noqa: E402


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    return X, y


@pytest.fixture(autouse=True)
def _settings() -> None:
    saved = vars(autolog.settings).copy()
    yield
    autolog.configure(**saved)
    assert not autolog.active()


def test_window_patches_and_restores(mlops_home: Path, data: tuple) -> None:
    original = LogisticRegression.__dict__["fit"]
    with autolog.patched():
        assert getattr(LogisticRegression.fit, "_mlops_autolog", False)

        class Custom(ClassifierMixin, BaseEstimator):  # defined inside the window
            def fit(self, X, y):  # noqa: N803
                self.classes_ = np.unique(y)
                return self

            def predict(self, X):  # noqa: N803
                return np.zeros(len(X), dtype=int)

        assert getattr(Custom.fit, "_mlops_autolog", False)
    assert LogisticRegression.__dict__["fit"] is original
    assert not getattr(Custom.fit, "_mlops_autolog", False)
    assert "__init_subclass__" not in BaseEstimator.__dict__
    # nested windows: the patch stays until the last holder leaves
    autolog.acquire()
    autolog.acquire()
    autolog.release()
    assert getattr(LogisticRegression.fit, "_mlops_autolog", False)
    autolog.release()
    assert LogisticRegression.__dict__["fit"] is original


def test_logs_the_outer_fit_only(mlops_home: Path, data: tuple) -> None:
    X, y = data
    with mj.start_run(name="p") as run, autolog.patched():
        pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.3)).fit(X, y)
    r = mj.get_run(run.id)
    assert r.tags["mlops.autolog.estimator"] == "Pipeline"
    assert r.params["logisticregression__C"] == "0.3"
    assert r.params["standardscaler"] == "StandardScaler"
    assert r.tags["mlops.autolog.input_shape"] == "60x3"
    assert "training_score" in r.metrics and "fit_time_s" in r.metrics
    assert mj.runs(parent=run.id).empty  # the steps' fits were not logged separately
    est, sample = autolog.last_fitted()
    assert est is pipe and sample.shape == (5, 3)
    assert autolog.last_fit().run_id == run.id


def test_user_params_win_and_score_is_skipped_for_big_data(mlops_home: Path, data: tuple) -> None:
    X, y = data
    autolog.configure(score_max_rows=10)
    with mj.start_run(name="u", params={"C": "user-value"}) as run, autolog.patched():
        LogisticRegression().fit(X, y)
    r = mj.get_run(run.id)
    assert r.params["C"] == "user-value"  # never overwritten, never a conflict error
    assert "training_score" not in r.metrics


def test_fit_errors_propagate_and_logging_errors_do_not(
    mlops_home: Path, data: tuple, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    X, y = data
    with mj.start_run(name="e") as run, autolog.patched():
        with pytest.raises(ValueError, match="C"):
            LogisticRegression(C=-1).fit(X, y)
        assert mj.get_run(run.id).params == {}

        def broken(*a, **k):
            raise OSError("store unavailable")

        monkeypatch.setattr(autolog, "_log_fit", broken)
        clf = LogisticRegression().fit(X, y)  # still fits and returns the estimator
        assert hasattr(clf, "coef_")
    assert "mlops: autolog could not record LogisticRegression.fit: OSError: store unavailable" in capsys.readouterr().err


def test_without_a_run_only_remembers(mlops_home: Path, data: tuple) -> None:
    X, y = data
    with autolog.patched():
        clf = LogisticRegression().fit(X, y)
    assert autolog.last_fitted()[0] is clf
    assert autolog.last_fit().run_id is None
    assert mj.runs().empty


def test_disabled(mlops_home: Path, data: tuple) -> None:
    X, y = data
    autolog.configure(enabled=False)
    with mj.start_run(name="d") as run, autolog.patched():
        LogisticRegression().fit(X, y)
    assert "mlops.autolog.estimator" not in mj.get_run(run.id).tags
    with pytest.raises(mj.errors.UsageError, match="unknown autolog setting"):
        autolog.configure(nope=1)
