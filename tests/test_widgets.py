"""Runs table and comparison: static HTML (escaping, best metrics, differing params),
widget panels and the mime bundles that carry both."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import mlops_jupyter as mj
from mlops_jupyter.comparison.runs import RunsComparison
from mlops_jupyter.display.runs import (
    compare_html,
    differing_keys,
    metric_direction,
    runs_table_html,
)
from mlops_jupyter.widgets import runs as wruns
from mlops_jupyter.widgets.runs import WIDGET_MIME, CompareView, RunsView

XSS = "<img src=x onerror=alert(1)>"


def _no_raw_xss(html: str) -> None:
    assert XSS not in html
    assert "onerror=alert(1)>" not in html
    assert not re.search(r"<img\b", html)


@pytest.fixture
def three_runs(mlops_home: Path) -> list[str]:
    ids = []
    with mj.start_run(name=XSS, params={"lr": 0.1, "model": XSS, "seed": 1}, tags={"note": XSS}) as r:
        for i, v in enumerate([0.9, 0.5, 0.7]):
            r.log_metric("loss", v, step=i)
            r.log_metric("auc", 1 - v, step=i)
        ids.append(r.id)
    with mj.start_run(name="b", params={"lr": 0.2, "model": "rf", "seed": 1}) as r:
        r.log_metric("loss", 0.3)
        r.log_metric("auc", 0.6)
        ids.append(r.id)
    with mj.start_run(name="c", params={"lr": 0.2, "model": "rf", "seed": 1}) as r:
        r.log_metric("loss", 0.8)
        ids.append(r.id)
    return ids


def _has_vl() -> bool:
    import importlib.util

    return importlib.util.find_spec("vl_convert") is not None


def test_metric_direction() -> None:
    assert [metric_direction(m) for m in ("loss", "val_loss", "rmse", "error_rate", "fit_time_s", "auc", "accuracy", "f1")] == [
        "min", "min", "min", "min", "min", "max", "max", "max",
    ]


def test_runs_table_is_escaped_and_shows_best_values(three_runs: list[str]) -> None:
    df = mj.runs()
    html = runs_table_html(df)
    _no_raw_xss(html)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "loss ↓" in html and "auc ↑" in html
    row = next(tr for tr in html.split("<tr>") if three_runs[0][:8] in tr)
    assert "<td title=\"last: 0.7\">0.5</td>" in row  # best loss = min over steps
    assert "<td title=\"last: 0.3\">0.5</td>" in row  # best auc = max over steps
    assert "3 runs" in html
    # differing params only: seed is the same everywhere
    diff = runs_table_html(df, differing=True)
    assert ">seed<" in html and ">seed<" not in diff and ">lr<" in diff
    assert "no runs match" in runs_table_html(df.head(0))


def test_differing_keys() -> None:
    rows = [{"a": 1, "b": 2, "c": None}, {"a": 1, "b": 3, "c": float("nan")}, {"a": 1, "b": 2}]
    assert differing_keys(rows, ["a", "b", "c"]) == ["b"]


def test_compare_highlights_and_plots(three_runs: list[str]) -> None:
    view = CompareView(three_runs[:2])
    html = view.to_html()
    _no_raw_xss(html)
    spec = view.chart().spec  # curves are a Vega-Lite chart now, not hand-drawn SVG
    assert [c["title"] for c in spec["concat"]] == ["auc", "loss"]
    for c in spec["concat"]:  # axes titled, one colour scale shared by both charts
        enc = c["layer"][0]["encoding"]
        assert enc["x"]["title"] == "step" and enc["color"]["scale"]["domain"] == [
            f"{three_runs[0][:8]} {XSS}", f"{three_runs[1][:8]} b"]
    lr_row = next(tr for tr in html.split("<tr>") if tr.startswith("<th>lr</th>"))
    assert lr_row.count('class="mj-diff"') == 2
    seed_row = next(tr for tr in html.split("<tr>") if tr.startswith("<th>seed</th>"))
    assert "mj-diff" not in seed_row
    loss_row = next(tr for tr in html.split("<tr>") if tr.startswith("<th>loss ↓</th>"))
    assert loss_row.split("<td")[2].startswith(' class="mj-diff"')  # run b has the best loss
    only_loss = CompareView(three_runs[:2], metrics=["loss"], differing=True)
    assert only_loss.chart().spec["title"] == "loss" and "<th>seed</th>" not in only_loss.to_html()
    with pytest.raises(mj.errors.UsageError, match="no metric 'nope'"):
        CompareView(three_runs[:2], metrics=["nope"])
    with pytest.raises(mj.errors.NotFoundError):
        CompareView([three_runs[0], "ffffff0"])


def test_compare_downsamples_long_curves(mlops_home: Path) -> None:
    with mj.start_run(name="long") as r:
        for i in range(5000):
            r.log_metric("loss", 1 / (i + 1))
    run = mj.get_run(r.id)
    pts = [(float(i), 1 / (i + 1)) for i in range(5000)]
    html = compare_html([run], {run.id: {"loss": pts}})
    coords = re.search(r'points="([^"]+)"', html).group(1).split()
    assert len(coords) <= 401


def test_bundle_static_outside_a_kernel(three_runs: list[str]) -> None:
    view = RunsView(sort="loss", limit=2)
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "first 2 of 3" in bundle["text/html"] and "sorted by loss" in bundle["text/html"]
    assert list(view.df["name"]) == ["b", XSS]  # best (lowest) loss first... of the last values
    assert bundle["text/plain"].startswith("<RunsView 2 runs")


class _FakeKernelShell:
    kernel = object()


def test_bundle_static_in_a_live_kernel_widget_on_request(three_runs: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(wruns, "live_kernel", lambda: True)
    view = RunsView()
    bundle = view._repr_mimebundle_()
    # no widget view in the default display: reopened without a kernel it would be
    # "Error displaying widget: model not found"
    assert set(bundle) == {"text/plain", "text/html"}
    box = view.widget()
    wb = box._repr_mimebundle_()
    assert WIDGET_MIME in wb and "3 runs" in wb["text/html"]  # not only "VBox(...)"
    controls, filt, out = box.children
    order = controls.children[1]
    assert order.value == "best" and order.label == "best first"  # the control shows its value
    _no_raw_xss(out.value)
    diff_box = next(c for c in controls.children if getattr(c, "description", "") == "differing params only")
    diff_box.value = True
    assert ">seed<" not in out.value
    filt.value = "params.model == 'rf'"
    assert len(view.df) == 2 and XSS.replace("<", "&lt;") not in out.value
    filt.value = "params.nope > 1"  # a bad filter is shown in the panel, not raised
    assert "unknown column" in out.value
    cv = CompareView(three_runs[:2])
    pick, _diff = cv.widget().children[0].children
    pick.value = ("loss",)
    assert cv.widget().children[1].value.count("<svg") == (1 if _has_vl() else 0)


def test_views_through_the_magics(three_runs: list[str]) -> None:
    from IPython.testing import globalipapp

    from mlops_jupyter.magics import dispatch

    globalipapp.start_ipython()
    ip: Any = globalipapp.get_ipython()
    view = dispatch(ip, "runs --sort auc --limit 5 --differing")
    assert isinstance(view, RunsView) and view.differing and view.sort == "auc"
    assert list(view.df["name"])[:2] == ["b", XSS]
    cmp_ = dispatch(ip, f"compare {three_runs[0][:6]} {three_runs[1]} --metrics loss")
    assert isinstance(cmp_, RunsComparison) and cmp_.metrics == ["loss"]
    by_name = dispatch(ip, f"compare b {three_runs[0][:8]}")  # a run name: its latest run
    assert [r.name for r in by_name.runs] == ["b", XSS]
    shown = dispatch(ip, f"show {three_runs[2][:8]}")
    assert shown.name == "c"
    _no_raw_xss(mj.get_run(three_runs[0])._repr_html_())


def test_model_card_and_job_have_live_panels_from_the_same_sections(mlops_home, tmp_path) -> None:
    import ipywidgets as w
    import nbformat
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 0.2, 0.9], "b": [1.0, 0.0, 0.7, 0.1]})
    evil = "<img src=x onerror=alert(1)>"
    mj.models.register(LogisticRegression().fit(X, [0, 1, 0, 1]), "card", signature=X, run=False,
                       description=evil)
    mj.models.promote("card@v1", "production", reason=evil)
    panel = mj.models.show("card@production").widget()
    assert isinstance(panel, w.VBox)
    tab = panel.children[1]
    assert list(tab.titles) == ["Overview", "Lineage", "Signature", "History"]
    html = "".join(c.value for c in tab.children)
    assert "<img" not in html and "&lt;img" in html

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(x)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    job = mj.jobs.run(str(path), parameters={"x": 2}, progress=False)
    jtab = job.widget().children[1]
    assert list(jtab.titles) == ["Summary", "Output notebook"]  # no runs: no empty tab
    assert "print(x)" in jtab.children[1].value and "Parameters" in jtab.children[0].value


def test_single_value_metrics_are_labelled_dots_and_colours_are_shared(three_runs: list[str]) -> None:
    view = CompareView(three_runs[1:])  # runs b and c logged each metric once
    spec = view.chart().spec
    parts = spec.get("concat", [spec])
    assert [p["title"] for p in parts] == ["single-value metrics"]  # no empty line charts
    layer = parts[0]["layer"][0]
    assert layer["mark"]["type"] == "point" and layer["encoding"]["y"]["field"] == "metric"
    assert layer["encoding"]["color"]["scale"]["domain"] == [f"{three_runs[1][:8]} b",
                                                             f"{three_runs[2][:8]} c"]
    values = {(d["run"].split()[1], d["metric"]): d["value"] for d in parts[0]["data"]["values"]}
    assert values == {("b", "auc"): 0.6, ("b", "loss"): 0.3, ("c", "loss"): 0.8}


def test_runs_table_metrics_first_pinned_compact_and_differing_by_default(mlops_home: Path) -> None:
    for i in range(2):
        params = {f"p{k:02d}": (k if k != 3 else i) for k in range(12)}  # only p03 differs
        with mj.start_run(name=f"run{i}", params=params) as r:
            r.log_metric("auc", 0.5 + i / 10)
    html = runs_table_html(mj.runs())
    head = html.split("</thead>")[0]
    assert head.index("auc ↑") < head.index(">p03<")  # metrics before parameters
    assert ">p00<" not in head and "11 identical hidden" in html  # many params: differing only
    assert 'class="mj-pin0"' in head and 'class="mj-pin1"' in head and "position:sticky" in html
    assert "mj-runs-wrap" in html and "max-width:100%" in html  # bounded width, scrolls inside
    started = re.findall(r'<td title="(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)">([^<]*)</td>', html)
    assert started and all(len(short) == 5 for _, short in started)  # today: "14:03"
    assert ">p00<" in runs_table_html(mj.runs(), differing=False)


def test_widget_outputs_carry_static_html(three_runs: list[str], mlops_home: Path) -> None:
    import pandas as pd

    panel = mj.datasets.add(pd.DataFrame({"a": [1, 2]}), name="tiny").panel()
    bundle = panel._repr_mimebundle_()
    assert WIDGET_MIME in bundle and "tiny@v1" in bundle["text/html"]  # not only VBox(...)
    box = RunsView().widget()
    from IPython.core.formatters import DisplayFormatter

    # displayed, the table is a plain output and only the controls are a widget
    assert DisplayFormatter().format(box) == ({}, {})
