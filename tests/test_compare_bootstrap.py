"""The comparison's bootstrap is the classic one, computed fast: each resample's ROC AUC
and average precision equal scikit-learn's on the resampled rows, and the intervals of
every metric (and of the paired differences) match a naive row-resampling bootstrap
within Monte Carlo error."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)

from mlops_jupyter.comparison import stats


def _binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(float)
    p1 = 1 / (1 + np.exp(-(1.5 * (y - 0.35) + rng.normal(0, 1, n))))
    p2 = 1 / (1 + np.exp(-(2.5 * (y - 0.35) + rng.normal(0, 1, n))))
    return y, p1, p2


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("relabelled", [False, True])
def test_each_resample_equals_sklearn_on_the_resampled_rows(ties: bool, relabelled: bool) -> None:
    y, p, _ = _binary(300, 1)
    if ties:
        p = p.round(1)  # ties among positives, among negatives and across the classes
    if relabelled:  # the layout paired_bootstrap uses for its first model (slices)
        o = np.argsort(-p, kind="stable")
        o = np.r_[o[y[o] == 1], o[y[o] != 1]]
        y, p = y[o], p[o]
    r = stats._ranking(y, p)
    assert r.take is not relabelled
    w = stats.resample_counts(len(y), 15, np.random.default_rng(5))  # odd: one spare
    assert w.shape == (8, 300, 2) and np.all(w.sum(axis=1) == 300)
    auc, ap = stats._rank_metrics(w, r)
    for k in range(15):
        rows = np.repeat(np.arange(len(y)), w[k // 2, :, k % 2].astype(int))
        assert auc[k] == pytest.approx(roc_auc_score(y[rows], p[rows]), abs=1e-6)
        assert ap[k] == pytest.approx(average_precision_score(y[rows], p[rows]), abs=1e-6)


@pytest.mark.parametrize("n", [300, 5000])  # indices + bincount below 1,000 rows; Poisson + completion above
def test_resample_counts_are_multinomial(n: int) -> None:
    from scipy.stats import binom

    rng = np.random.default_rng(11)
    w = np.concatenate([stats.resample_counts(n, 100, rng).transpose(0, 2, 1).reshape(-1, n)
                        for _ in range(4)])
    assert w.shape == (400, n) and np.all(w.sum(axis=1) == n)  # n draws, every resample
    freq = np.bincount(w.astype(int).ravel(), minlength=6)[:6] / w.size
    exp = binom.pmf(np.arange(6), n, 1 / n)  # each row's count: Binomial(n, 1/n)
    se = np.sqrt(exp * (1 - exp) / w.size)
    assert np.all(np.abs(freq - exp) < 5 * se), (freq, exp)
    # rows are exchangeable: no row or position drawn more often than chance allows
    per_row = w.mean(axis=0)
    assert abs(per_row.mean() - 1) < 1e-12 and per_row.std() < 1.5 / np.sqrt(400)


def _naive(y: np.ndarray, ps: list[np.ndarray], b: int, seed: int) -> list[dict[str, np.ndarray]]:
    """The textbook bootstrap: draw row indices, score each model with scikit-learn."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, list[float]]] = [{} for _ in ps]
    for _ in range(b):
        i = rng.integers(0, len(y), len(y))
        yy = y[i]
        for j, p in enumerate(ps):
            pp = p[i]
            pred = (pp >= 0.5).astype(float)
            pc = np.clip(pp, 1e-15, 1 - 1e-15)
            vals = {"accuracy": float((pred == yy).mean()),
                    "roc_auc": roc_auc_score(yy, pp),
                    "pr_auc": average_precision_score(yy, pp),
                    "f1": f1_score(yy, pred, zero_division=0),
                    "log_loss": float(-(yy * np.log(pc) + (1 - yy) * np.log(1 - pc)).mean()),
                    "brier": float(((pp - yy) ** 2).mean())}
            for k, v in vals.items():
                out[j].setdefault(k, []).append(v)
    return [{k: np.asarray(v) for k, v in o.items()} for o in out]


def _close(fast: np.ndarray, ref: np.ndarray, what: str) -> None:
    """Same distribution within Monte Carlo error (about 4 standard errors at 400-600
    resamples each): mean, spread and both ends of the 95% interval."""
    sd = ref.std()
    assert abs(fast.mean() - ref.mean()) < 0.25 * sd, what
    assert fast.std() == pytest.approx(sd, rel=0.2), what
    for q in (2.5, 97.5):
        assert abs(np.percentile(fast, q) - np.percentile(ref, q)) < 0.6 * sd, (what, q)


def test_intervals_match_a_naive_bootstrap_within_monte_carlo_error() -> None:
    y, p1, p2 = _binary(400, 2)
    preds = [(p1 >= 0.5).astype(float), (p2 >= 0.5).astype(float)]
    b = 600
    fast = stats.paired_bootstrap("classification", y, [p1, p2], preds, b=b, seed=3)
    ref = _naive(y, [p1, p2], b, seed=4)
    for m in ("accuracy", "roc_auc", "pr_auc", "f1", "log_loss", "brier"):
        assert len(fast.values[0][m]) == b
        for j in (0, 1):
            _close(fast.values[j][m], ref[j][m], f"{m} of model {j}")
        _close(fast.values[1][m] - fast.values[0][m], ref[1][m] - ref[0][m], f"{m} difference")


def test_regression_intervals_match_a_naive_bootstrap() -> None:
    rng = np.random.default_rng(6)
    y = 100 + rng.normal(0, 3, 500)  # far from 0: R² must not lose its precision
    a, c = y + rng.normal(0, 2, 500), y + rng.normal(0, 1.5, 500)
    b = 600
    fast = stats.paired_bootstrap("regression", y, [None, None], [a, c], b=b, seed=1)
    ref: list[dict[str, list[float]]] = [{}, {}]
    g = np.random.default_rng(2)
    for _ in range(b):
        i = g.integers(0, 500, 500)
        for j, pred in enumerate((a, c)):
            ref[j].setdefault("rmse", []).append(float(np.sqrt(((pred[i] - y[i]) ** 2).mean())))
            ref[j].setdefault("mae", []).append(mean_absolute_error(y[i], pred[i]))
            ref[j].setdefault("r2", []).append(r2_score(y[i], pred[i]))
    for m in ("rmse", "mae", "r2"):
        for j in (0, 1):
            _close(fast.values[j][m], np.asarray(ref[j][m]), f"{m} of model {j}")
        _close(fast.values[1][m] - fast.values[0][m],
               np.asarray(ref[1][m]) - np.asarray(ref[0][m]), f"{m} difference")


def test_multiclass_roc_auc_is_one_vs_rest_macro_with_a_bootstrap_interval() -> None:
    rng = np.random.default_rng(8)
    n, k = 450, 3
    y = rng.integers(0, k, n)
    logits = [rng.normal(0, 1, (n, k)) + s * np.eye(k)[y] for s in (0.8, 1.6)]
    ps = [np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) for z in logits]
    preds = [p.argmax(axis=1) for p in ps]
    for p, pr in zip(ps, preds, strict=True):
        point = stats.point_metrics("classification", y, p, pr)
        assert point["roc_auc"] == pytest.approx(
            roc_auc_score(y, p, multi_class="ovr", average="macro"), abs=1e-12)
    b = 400
    fast = stats.paired_bootstrap("classification", y, ps, preds, b=b, seed=2)
    g = np.random.default_rng(3)
    ref: list[list[float]] = [[], []]
    for _ in range(b):
        i = g.integers(0, n, n)
        for j, p in enumerate(ps):
            ref[j].append(roc_auc_score(y[i], p[i], multi_class="ovr", average="macro"))
    for j in (0, 1):
        _close(fast.values[j]["roc_auc"], np.asarray(ref[j]), f"OvR AUC of model {j}")
    _close(fast.values[1]["roc_auc"] - fast.values[0]["roc_auc"],
           np.asarray(ref[1]) - np.asarray(ref[0]), "OvR AUC difference")


def test_same_seed_same_resamples_whatever_the_threads() -> None:
    y, p1, p2 = _binary(2000, 7)
    preds = [(p1 >= 0.5).astype(float), (p2 >= 0.5).astype(float)]
    one = stats.paired_bootstrap("classification", y, [p1, p2], preds, b=101, seed=9, workers=1)
    two = stats.paired_bootstrap("classification", y, [p1, p2], preds, b=101, seed=9, workers=2)
    for j in (0, 1):
        for m, v in one.values[j].items():
            assert len(v) == 101 and np.array_equal(v, two.values[j][m]), m
