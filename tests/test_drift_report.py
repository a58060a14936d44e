"""DriftReport: JSON round trip, frame, static HTML (escaping, size), widget."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlops_jupyter.errors import UsageError
from mlops_jupyter.monitoring import DriftReport, compute_drift

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def report() -> DriftReport:
    rng = np.random.default_rng(0)
    n = 4000
    ref = pd.DataFrame({
        "x": rng.normal(size=n),
        XSS: rng.normal(size=n),
        "k": rng.choice(["a", "b", XSS], n),
        "const": 1.0,
        "const_moves": 1.0,
        "gone": 1.0,
        "t": pd.date_range("2024-01-01", periods=n, freq="h"),
    })
    cur = pd.DataFrame({
        "x": rng.normal(0.5, size=n),
        XSS: rng.normal(1.0, size=n),
        "k": rng.choice(["a", "b", "inf", "<script>x</script>"], n),
        "const": 1.0,
        "const_moves": 3.0,
        "t": pd.date_range("2024-02-01", periods=n, freq="h"),
        "new<b>": 1,
    })
    return compute_drift(ref, cur)


def test_verdict_properties(report):
    assert report.drifted
    assert report.drifted_columns[0] == "gone"  # schema problems first
    assert set(report.drifted_columns) == {"gone", "x", XSS, "k", "const_moves", "t"}
    assert report.share == pytest.approx(6 / 7)
    assert "DRIFT" in report.summary() and "DriftReport" in repr(report)
    with pytest.raises(KeyError, match="no column 'nope'"):
        report["nope"]


def test_to_frame_one_row_per_column_sorted_by_severity(report):
    frame = report.to_frame()
    assert len(frame) == len(report.columns) == 7
    assert list(frame["column"])[0] == "gone"
    drifted = frame[frame["drifted"] & frame["schema"].isna()]
    assert list(drifted["severity"]) == sorted(drifted["severity"], reverse=True)
    assert not frame["drifted"].iloc[-1]
    assert {"ks_p_value", "js_distance", "psi", "wasserstein_norm"} <= set(frame.columns)


def test_to_dict_is_strict_json_and_round_trips(report):
    d = report.to_dict()
    text = json.dumps(d, allow_nan=False)  # raises on NaN/inf
    assert '"inf"' in text  # the schema row's severity, as a string
    back = DriftReport.from_dict(json.loads(text))
    assert back.drifted == report.drifted
    assert back.drifted_columns == report.drifted_columns
    assert back.share == report.share
    assert math.isinf(back["gone"].severity)
    assert math.isinf(back["const_moves"].stats["wasserstein_norm"])
    # a category literally called "inf" stays a string
    assert "inf" in back["k"].histogram["labels"]
    assert back.to_dict() == d
    assert back._repr_html_() == report._repr_html_()
    pd.testing.assert_frame_equal(back.to_frame(), report.to_frame())


def test_to_dict_has_no_nan_even_for_all_missing_columns():
    ref = pd.DataFrame({"a": [np.nan] * 10, "b": np.arange(10.0)})
    cur = pd.DataFrame({"a": [np.nan] * 10, "b": np.arange(10.0)})
    text = json.dumps(compute_drift(ref, cur).to_dict(), allow_nan=False)
    assert "NaN" not in text


def test_from_dict_rejects_foreign_or_newer_data(report):
    with pytest.raises(UsageError, match="not a drift report"):
        DriftReport.from_dict({"columns": []})
    d = report.to_dict()
    d["version"] = 99
    with pytest.raises(UsageError, match="newer"):
        DriftReport.from_dict(d)


def test_html_escapes_every_user_string(report):
    html = report._repr_html_()
    assert XSS not in html
    assert "<script>x</script>" not in html
    assert "new<b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "new&lt;b&gt;" in html
    assert "<svg" in html and "Schema" in html and "DRIFT" in html


def test_html_title_is_escaped():
    ref = pd.DataFrame({"x": np.arange(10.0)})
    rep = compute_drift(ref, ref, title="<b>t</b>")
    html = rep._repr_html_()
    assert "<b>t</b>" not in html and "&lt;b&gt;t&lt;/b&gt;" in html


def test_html_stays_small_for_1m_rows_by_50_columns():
    rng = np.random.default_rng(1)
    n = 1_000_000
    cats = np.array([f"cat{i}" for i in range(40)])
    ref = {}
    cur = {}
    for i in range(40):
        ref[f"num{i}"] = rng.normal(size=n)
        cur[f"num{i}"] = rng.normal(0.1 * (i % 3), size=n)
    for i in range(10):
        ref[f"cat{i}"] = cats[rng.integers(0, 40, n)]
        cur[f"cat{i}"] = cats[rng.integers(0, 40, n)]
    rep = compute_drift(pd.DataFrame(ref), pd.DataFrame(cur))
    html = rep._repr_html_()
    assert len(html.encode()) < 1_000_000, len(html)
    assert html.count("<svg") == 50
    assert len(json.dumps(rep.to_dict(), allow_nan=False)) < 1_000_000


def test_widget_panel_builds_and_filters(report):
    widgets = pytest.importorskip("ipywidgets")
    panel = report.widget()
    assert isinstance(panel, widgets.VBox)
    filt, table_out, pick, detail = panel.children
    assert XSS not in table_out.value
    filt.value = "schema"
    assert "gone" in table_out.value and "const_moves" not in table_out.value
    pick.value = "k"
    assert "chi2" in detail.value


def test_prediction_section_round_trips_and_renders(report):
    from dataclasses import replace

    rng = np.random.default_rng(2)
    pred = compute_drift(pd.DataFrame({"prediction": rng.normal(size=500)}),
                         pd.DataFrame({"prediction": rng.normal(1.0, size=500)}),
                         title="Prediction drift")
    both = replace(report, prediction=pred)
    d = json.loads(json.dumps(both.to_dict(), allow_nan=False))
    back = DriftReport.from_dict(d)
    assert back.prediction is not None and back.prediction.drifted_columns == ["prediction"]
    html = back._repr_html_()
    assert "Prediction drift" in html and html.count("<style>") == 1
