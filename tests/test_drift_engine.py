"""compute_drift: verdicts on known-shift and no-shift data, every kind of column,
schema drift, and every bad input."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from mlops_jupyter.errors import MlopsError, UsageError, ValidationError
from mlops_jupyter.monitoring import compute_drift


def _normal(n, mean=0.0, seed=0):
    return np.random.default_rng(seed).normal(mean, 1.0, n)


def _cats(n, p, seed=0, labels="abc"):
    return np.random.default_rng(seed).choice(list(labels), n, p=p)


# --------------------------------------------------------------------------- verdicts
def test_mean_shift_of_02_sd_on_5k_rows_is_detected():
    ref = pd.DataFrame({"x": _normal(5000, seed=1)})
    cur = pd.DataFrame({"x": _normal(5000, 0.2, seed=2)})
    for method in ("auto", "ks", "wasserstein"):
        rep = compute_drift(ref, cur, method=method)
        assert rep["x"].drifted, method
        assert rep.drifted and rep.drifted_columns == ["x"]


def test_category_proportion_shift_is_detected():
    ref = pd.DataFrame({"k": _cats(5000, [0.5, 0.3, 0.2], seed=1)})
    cur = pd.DataFrame({"k": _cats(5000, [0.42, 0.33, 0.25], seed=2)})
    for method in ("auto", "chi2"):
        assert compute_drift(ref, cur, method=method)["k"].drifted, method


def test_same_distribution_is_rarely_flagged_at_5k():
    flagged = 0
    for seed in range(20):
        ref = pd.DataFrame({"x": _normal(5000, seed=seed), "k": _cats(5000, [0.5, 0.3, 0.2], seed)})
        cur = pd.DataFrame({"x": _normal(5000, seed=seed + 100),
                            "k": _cats(5000, [0.5, 0.3, 0.2], seed + 100)})
        rep = compute_drift(ref, cur)
        flagged += len(rep.drifted_columns)
    assert flagged <= 6  # 40 column tests at alpha 0.05: ~2 expected by chance


def test_auto_does_not_flag_unshifted_or_negligible_shift_at_1m_rows():
    n = 1_000_000
    ref = pd.DataFrame({"same": _normal(n, seed=1), "tiny": _normal(n, seed=2),
                        "k": _cats(n, [0.5, 0.3, 0.2], 3)})
    cur = pd.DataFrame({"same": _normal(n, seed=4), "tiny": _normal(n, 0.01, seed=5),
                        "k": _cats(n, [0.5, 0.3, 0.2], 6)})
    auto = compute_drift(ref, cur)
    assert auto.drifted_columns == []
    assert not auto.drifted
    # the plain test does flag the 0.01 sd shift: that is what auto guards against
    ks = compute_drift(ref, cur, columns=["tiny"], method="ks")
    assert ks["tiny"].drifted and ks["tiny"].score < 1e-6


def test_auto_catches_small_but_real_shifts_at_large_n():
    # the shifts a distance-only rule (W/JS >= 0.1) misses: 0.05 sd, a 3-point category shift
    n = 200_000
    ref = pd.DataFrame({"x": _normal(n, seed=1), "k": _cats(n, [0.3, 0.7], 2, "ab")})
    cur = pd.DataFrame({"x": _normal(n, 0.05, seed=3), "k": _cats(n, [0.33, 0.67], 4, "ab")})
    rep = compute_drift(ref, cur)
    assert set(rep.drifted_columns) == {"x", "k"}
    wide = compute_drift(ref, cur, method={"x": "wasserstein", "k": "jensenshannon"})
    assert wide.drifted_columns == []


def test_dataset_verdict_any_column_by_default_share_on_request():
    ref = pd.DataFrame({f"c{i}": _normal(3000, seed=i) for i in range(4)})
    cur = pd.DataFrame({f"c{i}": _normal(3000, 1.0 if i == 0 else 0.0, seed=i + 10)
                        for i in range(4)})
    rep = compute_drift(ref, cur)
    assert rep.drifted_columns == ["c0"] and rep.share == 0.25
    assert rep.drifted  # default: any (Holm-corrected) column drifts the table
    assert not compute_drift(ref, cur, threshold=0.5).drifted  # the older share rule
    assert compute_drift(ref, cur, threshold=0.25).drifted


def test_column_thresholds_override_method_defaults():
    ref = pd.DataFrame({"x": _normal(5000, seed=1), "y": _normal(5000, seed=2)})
    cur = pd.DataFrame({"x": _normal(5000, 0.3, seed=3), "y": _normal(5000, 0.3, seed=4)})
    rep = compute_drift(ref, cur, method="wasserstein", column_thresholds={"x": 0.5})
    assert not rep["x"].drifted and rep["x"].threshold == 0.5
    assert rep["y"].drifted and rep["y"].threshold == 0.1
    # one number applies to every column
    rep = compute_drift(ref, cur, method="wasserstein", column_thresholds=0.5)
    assert rep.drifted_columns == []


def test_method_applying_to_one_kind_uses_auto_for_the_other():
    ref = pd.DataFrame({"x": _normal(2000, seed=1), "k": _cats(2000, [0.5, 0.5], 1, "ab")})
    cur = pd.DataFrame({"x": _normal(2000, seed=2), "k": _cats(2000, [0.5, 0.5], 2, "ab")})
    rep = compute_drift(ref, cur, method="ks")
    assert rep["x"].method == "ks" and rep["k"].method == "auto"
    with pytest.raises(UsageError, match="does not apply to categorical"):
        compute_drift(ref, cur, method={"k": "ks"})
    rep = compute_drift(ref, cur, method="psi")
    assert rep["x"].method == rep["k"].method == "psi"


def test_report_sorted_by_severity():
    ref = pd.DataFrame({"a": _normal(4000, seed=1), "b": _normal(4000, seed=2),
                        "c": _normal(4000, seed=3)})
    cur = pd.DataFrame({"a": _normal(4000, 0.2, seed=4), "b": _normal(4000, 1.0, seed=5),
                        "c": _normal(4000, seed=6)})
    frame = compute_drift(ref, cur).to_frame()
    assert list(frame["column"]) == ["b", "a", "c"]
    assert list(frame["drifted"]) == [True, True, False]


# --------------------------------------------------------------------------- column kinds
def test_every_supported_dtype_has_a_result():
    n = 3000
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({
        "float": rng.normal(size=n),
        "small_int": rng.integers(0, 5, n),
        "Int64": pd.array(rng.integers(0, 100, n), dtype="Int64"),
        "bool": rng.random(n) < 0.3,
        "boolean": pd.array(rng.random(n) < 0.3, dtype="boolean"),
        "string": pd.array(rng.choice(list("abc"), n), dtype="string"),
        "category": pd.Categorical(rng.choice(list("xyz"), n)),
        "object": pd.Series(rng.choice(list("pq"), n), dtype=object),
        "datetime_tz": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris"),
        "timedelta": pd.to_timedelta(rng.integers(0, 100, n), unit="s"),
    })
    ref.loc[::7, "Int64"] = pd.NA
    ref.loc[::9, "boolean"] = pd.NA
    cur = ref.sample(frac=1, random_state=1).reset_index(drop=True)
    rep = compute_drift(ref, cur)
    kinds = {c.column: c.kind for c in rep.columns}
    assert kinds == {
        "float": "numeric", "small_int": "categorical", "Int64": "numeric",
        "bool": "categorical", "boolean": "categorical", "string": "categorical",
        "category": "categorical", "object": "categorical", "datetime_tz": "datetime",
        "timedelta": "numeric",
    }
    assert rep.drifted_columns == []  # a permutation of the same rows never drifts
    assert rep["Int64"].missing_reference == pytest.approx(1 / 7, abs=1e-3)


def test_datetime_shift_detected_and_labelled():
    ref = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=5000, freq="min")})
    cur = pd.DataFrame({"t": pd.date_range("2024-01-03", periods=5000, freq="min")})
    rep = compute_drift(ref, cur)
    assert rep["t"].drifted and rep["t"].kind == "datetime"
    assert rep["t"].histogram["datetime"] is True


def test_categorical_forced_for_integer_codes():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"code": rng.choice([100, 250, 999], 3000)})
    cur = pd.DataFrame({"code": rng.choice([100, 250, 999], 3000)})
    assert compute_drift(ref, cur)["code"].kind == "numeric"
    assert compute_drift(ref, cur, categorical=["code"])["code"].kind == "categorical"


def test_unseen_categories_reported_separately():
    ref = pd.DataFrame({"k": ["a", "b"] * 500})
    cur = pd.DataFrame({"k": ["a", "b"] * 450 + ["new"] * 80 + ["newer"] * 20})
    col = compute_drift(ref, cur)["k"]
    assert col.unseen_count == 2
    assert col.unseen_share == pytest.approx(0.1)
    assert col.unseen_examples == ["new", "newer"]


def test_high_cardinality_is_bucketed_to_top_k_plus_other():
    rng = np.random.default_rng(0)
    vocab = np.array([f"v{i}" for i in range(5000)])
    ref = pd.DataFrame({"k": rng.choice(vocab, 20_000)})
    cur = pd.DataFrame({"k": rng.choice(vocab, 20_000)})
    col = compute_drift(ref, cur)["k"]
    assert col.stats["dof"] <= 100
    assert "top 100 + other" in col.note
    assert len(col.histogram["labels"]) <= 21 and col.histogram["labels"][-1] == "(other)"
    assert not col.drifted


def test_constant_and_all_missing_columns_have_defined_results():
    n = 1000
    ref = pd.DataFrame({"const": 1.0, "const_moves": 1.0, "all_nan": np.nan,
                        "nan_now": np.arange(n, dtype=float), "obj_none": None,
                        "k_const": "a"}, index=range(n))
    cur = pd.DataFrame({"const": 1.0, "const_moves": 2.0, "all_nan": np.nan,
                        "nan_now": np.nan, "obj_none": None, "k_const": "a"}, index=range(n))
    rep = compute_drift(ref, cur)
    assert not rep["const"].drifted and rep["const"].score == 1.0
    assert rep["const_moves"].drifted
    assert not rep["all_nan"].drifted and "missing on both sides" in rep["all_nan"].note
    assert not rep["obj_none"].drifted
    assert rep["nan_now"].drifted and rep["nan_now"].missing_drifted
    assert not rep["k_const"].drifted


def test_missing_rate_change_is_reported_and_counts_when_large():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=10_000)})
    cur = pd.DataFrame({"x": rng.normal(size=10_000)})
    cur.loc[: 2999, "x"] = np.nan  # 30 % missing now, values themselves unchanged
    col = compute_drift(ref, cur)["x"]
    assert col.missing_reference == 0.0 and col.missing_current == pytest.approx(0.3)
    assert col.missing_drifted and col.drifted
    cur2 = pd.DataFrame({"x": rng.normal(size=10_000)})
    cur2.loc[:9, "x"] = np.nan  # 0.1 %: reported, not drift
    col2 = compute_drift(ref, cur2)["x"]
    assert col2.missing_current == pytest.approx(0.001) and not col2.missing_drifted


def test_infinities_count_as_missing():
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.inf] * 50})
    cur = pd.DataFrame({"x": [1.0, 2.0, 3.0, -np.inf] * 50})
    col = compute_drift(ref, cur)["x"]
    assert col.missing_reference == 0.25 and "infinite" in col.note and not col.drifted


def test_input_frames_are_not_modified():
    ref = pd.DataFrame({"x": _normal(1000, seed=1), "k": _cats(1000, [0.5, 0.5], 1, "ab")})
    cur = pd.DataFrame({"x": _normal(1000, seed=2), "k": _cats(1000, [0.5, 0.5], 2, "ab")})
    before = ref.copy(), cur.copy()
    compute_drift(ref, cur)
    pd.testing.assert_frame_equal(ref, before[0])
    pd.testing.assert_frame_equal(cur, before[1])


# --------------------------------------------------------------------------- schema drift
def test_missing_column_in_current_is_schema_drift_and_fails_verdict():
    ref = pd.DataFrame({f"c{i}": _normal(500, seed=i) for i in range(5)})
    cur = ref.drop(columns=["c3"]).copy()
    cur["extra"] = 1.0
    rep = compute_drift(ref, cur)
    assert rep["c3"].schema == "missing_in_current" and rep["c3"].drifted
    assert rep.share == 0.2 and rep.drifted  # below the share threshold, still drifted
    issues = {(s.column, s.issue, s.drifted) for s in rep.schema}
    assert ("extra", "new_in_current", False) in issues
    assert ("c3", "missing_in_current", True) in issues
    assert "extra" not in [c.column for c in rep.columns]


def test_listed_column_missing_from_reference_is_schema_drift():
    ref = pd.DataFrame({"a": _normal(100)})
    cur = pd.DataFrame({"a": _normal(100), "b": _normal(100)})
    rep = compute_drift(ref, cur, columns=["a", "b"])
    assert rep["b"].schema == "missing_in_reference" and rep.drifted


def test_changed_kind_is_schema_drift_changed_dtype_is_informational():
    ref = pd.DataFrame({"x": np.arange(100, dtype=float), "n": np.arange(100)})
    cur = pd.DataFrame({"x": [str(i) for i in range(100)], "n": np.arange(100, dtype=float)})
    rep = compute_drift(ref, cur)
    assert rep["x"].schema == "kind_changed" and rep["x"].drifted
    assert "numeric" in rep["x"].note and "categorical" in rep["x"].note
    assert rep["n"].schema is None and not rep["n"].drifted
    assert any(s.column == "n" and s.issue == "dtype_changed" and not s.drifted
               for s in rep.schema)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("ref_rows,cur_rows,match", [
    (0, 10, "reference data is empty"),
    (1, 10, "reference data has 1 row"),
    (10, 0, "current data is empty"),
])
def test_empty_and_one_row_frames_raise(ref_rows, cur_rows, match):
    ref = pd.DataFrame({"x": np.arange(ref_rows, dtype=float)})
    cur = pd.DataFrame({"x": np.arange(cur_rows, dtype=float)})
    with pytest.raises(UsageError, match=match):
        compute_drift(ref, cur)


def test_mixed_type_object_column_is_a_clear_error_naming_it():
    ref = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "mixed": pd.Series([1, "a", 2.5], dtype=object)})
    cur = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "mixed": pd.Series(["a", "b", "c"], dtype=object)})
    with pytest.raises(ValidationError, match="'mixed'.*mixes value types") as info:
        compute_drift(ref, cur)
    assert isinstance(info.value, MlopsError)
    # leaving it out works
    assert compute_drift(ref, cur, columns=["ok"]).columns[0].column == "ok"


@pytest.mark.parametrize("kwargs,match", [
    ({"columns": ["nope"]}, "unknown column 'nope'"),
    ({"threshold": 0}, "threshold"),
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": "0.5"}, "threshold"),
    ({"method": "bogus"}, "unknown drift method 'bogus'"),
    ({"method": 3}, "method must be"),
    ({"method": {"nope": "ks"}}, "neither frame"),
    ({"column_thresholds": -1}, "positive number"),
    ({"column_thresholds": {"x": "a"}}, "positive number"),
    ({"column_thresholds": {"nope": 0.1}}, "neither frame"),
    ({"categorical": ["nope"]}, "neither frame"),
    ({"columns": []}, "no columns"),
])
def test_bad_arguments_raise_usage_errors(kwargs, match):
    ref = pd.DataFrame({"x": _normal(50, seed=1)})
    cur = pd.DataFrame({"x": _normal(50, seed=2)})
    with pytest.raises(UsageError, match=match):
        compute_drift(ref, cur, **kwargs)


def test_non_frames_and_duplicate_columns_raise():
    with pytest.raises(UsageError, match="reference must be a pandas DataFrame, not list"):
        compute_drift([1, 2, 3], pd.DataFrame({"x": [1.0]}))
    dup = pd.DataFrame(np.zeros((5, 2)), columns=["a", "a"])
    with pytest.raises(UsageError, match="'a' appears more than once"):
        compute_drift(dup, dup)


def test_a_series_is_accepted_as_a_one_column_frame():
    rep = compute_drift(pd.Series(_normal(100, seed=1), name="x"),
                        pd.Series(_normal(100, seed=2), name="x"))
    assert [c.column for c in rep.columns] == ["x"]


# --------------------------------------------------------------------------- memory
def test_memory_does_not_grow_with_the_number_of_columns():
    n = 1_000_000

    def peak(k: int) -> int:
        ref = pd.DataFrame({f"c{i}": _normal(n, seed=i) for i in range(k)})
        cur = pd.DataFrame({f"c{i}": _normal(n, 0.1, seed=i + 50) for i in range(k)})
        tracemalloc.start()
        compute_drift(ref, cur)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(2), peak(12)
    column = n * 8
    assert large < 1.5 * small, (small, large)
    assert large < 40 * column  # two workers, each a few copies of one column


# --------------------------------------------------------------------------- plug-ins
def test_registered_method_with_own_function(monkeypatch):
    from mlops_jupyter.monitoring import methods as M

    monkeypatch.setattr(M, "_REGISTRY", dict(M._REGISTRY))
    M.register_method(M.DriftMethod(
        "mean_gap", frozenset({M.NUMERIC}), "mean_gap", 0.5, False, "absolute mean difference",
        func=lambda a, b: abs(float(a.mean()) - float(b.mean()))))
    with pytest.raises(UsageError, match="already registered"):
        M.register_method(M.DriftMethod("mean_gap", frozenset({M.NUMERIC}), "psi", 1.0, False))
    ref = pd.DataFrame({"x": _normal(1000, seed=1), "k": ["a", "b"] * 500})
    cur = pd.DataFrame({"x": _normal(1000, 1.0, seed=2), "k": ["a", "b"] * 500})
    rep = compute_drift(ref, cur, method="mean_gap")
    assert rep["x"].method == "mean_gap" and rep["x"].drifted
    assert rep["x"].score == pytest.approx(abs(ref["x"].mean() - cur["x"].mean()))
    assert rep["k"].method == "auto"


def test_broken_plugin_is_skipped_not_fatal(monkeypatch, caplog):
    import importlib.metadata

    from mlops_jupyter.monitoring import methods as M

    class BadEP:
        name = "broken"

        def load(self):
            raise ImportError("no such module")

    monkeypatch.setattr(M, "_plugins_loaded", False)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [BadEP()])
    with caplog.at_level("WARNING"):
        names = M.method_names()
    assert "ks" in names and "broken" not in names
    assert "broken" in caplog.text


def test_imports_stay_light():
    import subprocess
    import sys

    code = (
        "import sys, mlops_jupyter\n"
        "assert 'mlops_jupyter.monitoring' not in sys.modules\n"
        "import mlops_jupyter.monitoring\n"
        "assert 'scipy' not in sys.modules, 'scipy is imported on first use only'\n"
        "assert 'ipywidgets' not in sys.modules and 'sklearn' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
