"""Each drift statistic equals scipy's own on the same data (to 1e-9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from scipy import stats
from scipy.spatial import distance

from mlops_jupyter.monitoring import compute_drift
from mlops_jupyter.monitoring import stats as S

TOL = 1e-9


def _sorted(x):
    s, _, _ = S.sorted_finite(np.asarray(x, dtype=float))
    return s


CASES = [
    # (n1, n2, generator)
    (1000, 1500, "normal"),
    (500, 500, "ties"),
    (20_000, 13_000, "ties"),
    (3, 5, "normal"),
    (1, 1, "normal"),
    (9_999, 10_000, "normal"),  # exact p-value path
    (30_000, 30_000, "normal"),  # asymptotic path
    (200_000, 150_000, "shifted"),  # asymptotic, smirnov branch
]


@pytest.mark.parametrize("n1,n2,gen", CASES)
@pytest.mark.parametrize("chunk", [1 << 20, 64])
def test_ks_and_wasserstein_equal_scipy(n1, n2, gen, chunk, monkeypatch):
    monkeypatch.setattr(S, "_CHUNK", chunk)  # also exercise the chunked merge walk
    rng = np.random.default_rng(n1 + n2)
    if gen == "ties":
        a = rng.integers(0, 20, n1).astype(float)
        b = rng.integers(0, 21, n2).astype(float)
    elif gen == "shifted":
        a, b = rng.normal(size=n1), rng.normal(0.01, size=n2)
    else:
        a, b = rng.normal(size=n1), rng.normal(0.1, size=n2)
    sa, sb = _sorted(a), _sorted(b)
    d, w = S.ks_wasserstein_sorted(sa, sb)
    ref = stats.ks_2samp(a, b)
    assert d == pytest.approx(ref.statistic, abs=TOL)
    assert S.ks_pvalue(d, n1, n2, sa, sb) == pytest.approx(ref.pvalue, abs=TOL)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), abs=TOL)


@pytest.mark.parametrize("n1,n2", [(20_000, 15_000), (1_000_000, 1_000_000), (100_000, 30_000),
                                   (20_000, 5), (10_001, 10_001), (3_000_000, 2_000_000)])
def test_ks_pvalue_matches_scipy_across_the_range(n1, n2):
    # every branch of scipy's kstwo.sf, including the O(n) smirnov sum we vectorise
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = np.round(m * n / (m + n))
    # sqrt(n) * D across every branch; 1.48 .. 19.2 is the smirnov band we vectorise
    for z in (0.05, 0.3, 0.8, 1.2, 1.5, 1.7, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0, 19.0, 25.0):
        d = z / np.sqrt(en)
        if d >= 1:
            continue
        expected = float(np.clip(stats.kstwo.sf(d, en), 0, 1))
        assert S.ks_pvalue(d, n1, n2) == pytest.approx(expected, abs=TOL), (n1, n2, z)


@settings(max_examples=60, deadline=None)
@given(
    hst.lists(hst.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
    hst.lists(hst.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
)
def test_ks_wasserstein_property(a, b):
    sa, sb = _sorted(a), _sorted(b)
    d, w = S.ks_wasserstein_sorted(sa, sb)
    assert d == pytest.approx(stats.ks_2samp(a, b).statistic, abs=TOL)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9, abs=TOL)


def test_sorted_finite_drops_nan_and_inf_without_touching_input():
    x = np.array([3.0, np.nan, -np.inf, 1.0, np.inf, 2.0, np.nan])
    before = x.copy()
    s, n_nan, n_inf = S.sorted_finite(x)
    assert list(s) == [1.0, 2.0, 3.0]
    assert (n_nan, n_inf) == (2, 2)
    np.testing.assert_array_equal(x, before)


def test_psi_formula_and_empty_bins():
    r = np.array([50, 30, 20, 0])
    c = np.array([40, 30, 20, 10])
    rp = np.maximum(r / r.sum(), S.PSI_EPS)
    cp = np.maximum(c / c.sum(), S.PSI_EPS)
    assert S.psi(r, c) == pytest.approx(float(np.sum((cp - rp) * np.log(cp / rp))), abs=TOL)
    assert S.psi(r, r) == 0.0
    # a bin empty on both sides contributes nothing
    assert S.psi(np.array([5, 0, 5]), np.array([5, 0, 5])) == 0.0


def test_numeric_psi_uses_reference_decile_bins():
    rng = np.random.default_rng(3)
    a, b = _sorted(rng.normal(size=10_000)), _sorted(rng.normal(0.5, size=10_000))
    got = S.numeric_stats(a, b).psi
    # independent computation: reference deciles as inner edges, plus out-of-range bins
    edges = np.unique(a[(np.arange(1, 10) * a.size) // 10])
    full = np.concatenate(([-np.inf], [a[0]], edges, [np.nextafter(a[-1], np.inf)], [np.inf]))
    rc = np.histogram(a, full)[0]
    cc = np.histogram(b, full)[0]
    assert got == pytest.approx(S.psi(rc, cc), abs=TOL)
    assert got > 0.2  # half a standard deviation is a large PSI


def test_constant_reference_that_moves_shows_in_psi_and_wasserstein():
    a = _sorted(np.full(100, 5.0))
    b = _sorted(np.full(100, 7.0))
    ns = S.numeric_stats(a, b)
    assert ns.psi > 1 and ns.wasserstein_norm == float("inf") and ns.ks_statistic == 1.0
    same = S.numeric_stats(a, a)
    assert same.psi == 0.0 and same.wasserstein_norm == 0.0 and same.ks_p_value == 1.0


def test_categorical_stats_equal_scipy():
    r = np.array([500, 300, 150, 50, 0])
    c = np.array([430, 320, 170, 60, 20])
    cs = S.categorical_stats(r, c)
    keep = (r > 0) | (c > 0)
    res = stats.chi2_contingency(np.vstack((r[keep], c[keep])))
    assert cs.chi2 == pytest.approx(res.statistic, abs=TOL)
    assert cs.chi2_p_value == pytest.approx(res.pvalue, abs=TOL)
    assert cs.dof == res.dof
    assert cs.js_distance == pytest.approx(
        distance.jensenshannon(r / r.sum(), c / c.sum(), base=2), abs=TOL)


def test_chi2_is_a_contingency_test_not_goodness_of_fit():
    # two samples of the same distribution: a goodness-of-fit test that treats the
    # reference proportions as exact rejects far more often than 5 %
    rng = np.random.default_rng(11)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    rejections = 0
    for _ in range(200):
        r = rng.multinomial(400, p)
        c = rng.multinomial(400, p)
        rejections += S.categorical_stats(r, c).chi2_p_value < 0.05
    assert rejections <= 20  # ~10 expected under the null


def test_yates_correction_for_two_categories_matches_scipy():
    r, c = np.array([30, 70]), np.array([45, 55])
    assert S.categorical_stats(r, c).chi2_p_value == pytest.approx(
        stats.chi2_contingency(np.vstack((r, c))).pvalue, abs=TOL)


def test_single_category_has_defined_result():
    cs = S.categorical_stats(np.array([10]), np.array([7]))
    assert (cs.chi2, cs.chi2_p_value, cs.js_distance, cs.psi) == (0.0, 1.0, 0.0, 0.0)


def test_report_statistics_equal_scipy_end_to_end():
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.normal(size=4000), "k": rng.choice(list("abcd"), 4000)})
    cur = pd.DataFrame({"x": rng.normal(0.1, 1.1, size=3000),
                        "k": rng.choice(list("abcde"), 3000, p=[0.3, 0.3, 0.2, 0.1, 0.1])})
    ref.loc[::50, "x"] = np.nan
    rep = compute_drift(ref, cur)
    x = ref["x"].dropna().to_numpy()
    y = cur["x"].to_numpy()
    ks = stats.ks_2samp(x, y)
    sx = rep["x"].stats
    assert sx["ks_statistic"] == pytest.approx(ks.statistic, abs=TOL)
    assert sx["ks_p_value"] == pytest.approx(ks.pvalue, abs=TOL)
    assert sx["wasserstein"] == pytest.approx(stats.wasserstein_distance(x, y), abs=TOL)
    assert sx["wasserstein_norm"] == pytest.approx(
        stats.wasserstein_distance(x, y) / np.std(x), abs=TOL)
    table = pd.crosstab(
        np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref["k"], cur["k"]])
    res = stats.chi2_contingency(table.to_numpy())
    sk = rep["k"].stats
    assert sk["chi2"] == pytest.approx(res.statistic, abs=TOL)
    assert sk["chi2_p_value"] == pytest.approx(res.pvalue, abs=TOL)
    pr = table.to_numpy()[0] / len(ref)
    pc = table.to_numpy()[1] / len(cur)
    assert sk["js_distance"] == pytest.approx(distance.jensenshannon(pr, pc, base=2), abs=TOL)


@pytest.mark.parametrize("chunk", [1 << 20, 64, 5])
def test_zero_inflated_columns_take_the_run_shortcut_and_stay_exact(chunk, monkeypatch):
    monkeypatch.setattr(S, "_CHUNK", chunk)
    rng = np.random.default_rng(9)
    a = np.where(rng.random(30_000) < 0.6, 0.0, rng.exponential(size=30_000))
    b = np.where(rng.random(20_000) < 0.5, 0.0, rng.exponential(size=20_000))
    b[:3000] = 7.0  # a second long run, only in b
    d, w = S.ks_wasserstein_sorted(_sorted(a), _sorted(b))
    assert d == pytest.approx(stats.ks_2samp(a, b).statistic, abs=TOL)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), abs=TOL)


def test_mean_std_matches_numpy():
    x = np.random.default_rng(4).normal(1.7e9, 3.0, 10_000)  # epoch-seconds-like offsets
    m, sd = S.mean_std(x)
    assert m == pytest.approx(np.mean(x), rel=1e-12)
    assert sd == pytest.approx(np.std(x), rel=1e-9)
