"""The tuning panel: optimisation history, parameter importances, parallel coordinates.

Emitted as one Vega-Lite **v5** spec (MIME ``application/vnd.vegalite.v5+json``), which
JupyterLab 4 and Notebook 7 render offline with their built-in renderer (Altair 6 emits
v6, which they do not register), shown through the shared ``display.charts.Chart`` so a
saved notebook, nbconvert or papermill output carries the same charts as static SVG.
Beside it, an HTML summary (escaped tables and CSS bars), as its own output.
"""

from __future__ import annotations

import math
from typing import Any

VEGALITE_MIME = "application/vnd.vegalite.v5+json"
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
TRIAL_AXIS = {"tickMinStep": 1, "format": "d"}  # trials are whole numbers
MAX_PARAMS = 8  # parallel coordinates of more axes are unreadable (mlflow#3763)


def history_rows(trials: list[Any], metric: str, maximize: bool) -> list[dict[str, Any]]:
    """One row per completed trial, with the best value so far."""
    rows, best = [], None
    for t in sorted(trials, key=lambda t: t.number):
        if t.value is None or t.state != "COMPLETE":
            continue
        best = t.value if best is None else (max(best, t.value) if maximize else min(best, t.value))
        rows.append({"trial": t.number, "value": t.value, "best": best})
    return rows


def parallel_rows(trials: list[Any], metric: str, params: list[str]) -> list[dict[str, Any]]:
    """Long form: one row per (trial, axis), each axis scaled to 0..1 (categories by rank)."""
    done = [t for t in trials if t.value is not None and t.state == "COMPLETE"]
    axes = params[:MAX_PARAMS] + [metric]
    scale: dict[str, Any] = {}
    for a in axes:
        vals = [t.value if a == metric else t.params.get(a) for t in done]
        nums = [v for v in vals if isinstance(v, int | float) and not isinstance(v, bool)]
        if nums and len(nums) == len(vals):
            lo, hi = min(nums), max(nums)
            scale[a] = ("num", lo, hi)
        else:
            cats = sorted({str(v) for v in vals})
            scale[a] = ("cat", cats)
    rows = []
    for t in done:
        for a in axes:
            v = t.value if a == metric else t.params.get(a)
            s = scale[a]
            if s[0] == "num":
                pos = 0.5 if s[2] == s[1] else (float(v) - s[1]) / (s[2] - s[1])
            else:
                cats = s[1]
                pos = 0.5 if len(cats) == 1 else cats.index(str(v)) / (len(cats) - 1)
            rows.append({"trial": t.number, "axis": a, "position": pos, "raw": str(v), metric: t.value})
    return rows


def spec(result: Any) -> dict[str, Any]:
    """The whole panel as one Vega-Lite v5 spec (three views stacked)."""
    metric = result.metric
    maximize = result.direction == "maximize"
    params = sorted({k for t in result.trials for k in t.params})
    hist = history_rows(result.trials, metric, maximize)
    views: list[dict[str, Any]] = [{
        "title": "Optimisation history",
        "data": {"values": hist},
        "width": 420, "height": 180,
        "layer": [
            {"mark": {"type": "point", "filled": True},
             "encoding": {"x": {"field": "trial", "type": "quantitative", "axis": TRIAL_AXIS},
                          "y": {"field": "value", "type": "quantitative", "title": metric,
                                "scale": {"zero": False}},
                          "tooltip": [{"field": "trial"}, {"field": "value"}]}},
            {"mark": {"type": "line", "interpolate": "step-after", "color": "#c62828"},
             "encoding": {"x": {"field": "trial", "type": "quantitative", "axis": TRIAL_AXIS},
                          "y": {"field": "best", "type": "quantitative"}}},
        ],
    }]
    if result.importances:
        views.append({
            "title": "Parameter importances (fANOVA)",
            "data": {"values": [{"param": k, "importance": v} for k, v in result.importances.items()]},
            "width": 420, "height": 20 * max(1, len(result.importances)),
            "mark": "bar",
            "encoding": {"y": {"field": "param", "type": "nominal", "sort": "-x"},
                         "x": {"field": "importance", "type": "quantitative"}},
        })
    if params and hist:
        views.append({
            "title": "Parallel coordinates",
            "data": {"values": parallel_rows(result.trials, metric, params)},
            "width": 420, "height": 200,
            "mark": {"type": "line", "opacity": 0.7},
            "encoding": {
                "x": {"field": "axis", "type": "nominal", "sort": [*params[:MAX_PARAMS], metric], "title": None},
                "y": {"field": "position", "type": "quantitative", "axis": None},
                "detail": {"field": "trial", "type": "nominal"},
                "color": {"field": metric, "type": "quantitative"},
                "tooltip": [{"field": "trial"}, {"field": "axis"}, {"field": "raw"}],
            },
        })
    # each view its own colour scale: the parallel coordinates' legend is not the history's
    return {"$schema": SCHEMA, "vconcat": views, "resolve": {"scale": {"color": "independent"}}}


def html(result: Any) -> str:
    """Static fallback: summary, importances as CSS bars, the trials table."""
    from mlops_jupyter.display.html import CSS, badge, esc, fmt_value, table

    best = result.best
    parts = [f"<h4>Tune {esc(result.parent.record.name)} <code>{esc(result.parent.record.id[:8])}</code> "
             f"{badge(result.parent.record.status)}</h4>"]
    if best is not None:
        params = ", ".join(f"{esc(k)}={esc(fmt_value(v))}" for k, v in best.params.items())
        parts.append(f"<p>best {esc(result.metric)} = <b>{esc(fmt_value(best.value))}</b> "
                     f"(trial {best.number}): {params}</p>")
    if result.candidate:
        parts.append(f"<p>candidate <code>{esc(result.candidate)}</code> (registered, not promoted)</p>")
    if result.importances:
        bars = "".join(
            f"<tr><td>{esc(k)}</td><td><div style='background:#1565c0;height:10px;"
            f"width:{max(1, int(200 * v)) if math.isfinite(v) else 1}px'></div></td>"
            f"<td>{esc(fmt_value(v, 3))}</td></tr>"
            for k, v in result.importances.items())
        parts.append(f"<table class='mj-t'><tr><th>parameter</th><th colspan=2>importance</th></tr>{bars}</table>")
    params = sorted({k for t in result.trials for k in t.params})
    rows = [[t.number, t.state, t.value, *[t.params.get(p) for p in params], t.job_id[:8], t.reason]
            for t in sorted(result.trials, key=lambda t: t.number)]
    parts.append(table(["trial", "state", result.metric, *params, "job", "reason"], rows))
    return f"{CSS}<div class='mj'>{''.join(parts)}</div>"


def chart(result: Any) -> Any:
    """The spec as a shared ``display.charts.Chart``: live in a kernel, SVG when saved."""
    from mlops_jupyter.display.charts import Chart

    return Chart(spec(result), title=f"tune {result.parent.record.name}")


def mimebundle(result: Any) -> dict[str, Any]:
    """One bundle for non-IPython consumers: the HTML carries the charts as static SVG
    (JupyterLab prefers text/html to Vega-Lite, so the live spec is a second output in
    ``_ipython_display_``)."""
    return {VEGALITE_MIME: spec(result), "text/html": html(result) + chart(result).to_html(),
            "text/plain": result.summary()}
