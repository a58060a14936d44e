"""Trend charts of a monitor's checks, drawn like every other chart of the project.

The spec is Vega-Lite v5 (rendered live and offline by JupyterLab 4, Notebook 7 and VS
Code) and the static image comes from the shared renderer in ``display.charts``
(vl-convert), so a saved or exported notebook shows the same axes, ticks and threshold
line instead of a second, hand-drawn picture that could disagree with the live one.
"""

from __future__ import annotations

from typing import Any

from mlops_jupyter.display import charts as ch
from mlops_jupyter.display.html import esc

__all__ = ["chart", "TrendChart"]

#: statuses drawn as alarms: their dots are red in both the live and the static chart
ALARM = {"drift": "#e15759", "perf": "#e15759", "ok": "#4e79a7", "empty": "#bab0ac",
         "error": "#b07aa1"}


class TrendChart(ch.Chart):
    """One monitor's checks over time: ``y`` per check, coloured by status, with the
    alarm ``threshold`` as a dashed rule when there is one."""

    def __init__(self, title: str, points: list[dict[str, Any]], y: str, threshold: float | None,
                 y_title: str) -> None:
        self.points, self.y, self.threshold, self.y_title = points, y, threshold, y_title
        statuses = sorted({str(p.get("status")) for p in points})
        scale = {"domain": statuses, "range": [ALARM.get(s, "#76b7b2") for s in statuses]}
        tooltip = [{"field": "at", "type": "temporal", "title": "check", "format": "%Y-%m-%d %H:%M"},
                   {"field": y, "type": "quantitative", "title": y_title, "format": ".4~g"},
                   {"field": "status", "type": "nominal"}]
        layers: list[dict[str, Any]] = [
            {"mark": {"type": "line", "color": "#9aa7b4"},
             "encoding": {"x": {"field": "at", "type": "temporal", "title": "check"},
                          "y": {"field": y, "type": "quantitative", "title": y_title}}},
            {"mark": {"type": "point", "filled": True, "size": 50},
             "encoding": {"x": {"field": "at", "type": "temporal", "title": "check"},
                          "y": {"field": y, "type": "quantitative", "title": y_title},
                          "color": {"field": "status", "type": "nominal", "scale": scale},
                          "tooltip": tooltip}},
        ]
        if threshold is not None:
            layers.append({"mark": {"type": "rule", "strokeDash": [4, 3], "color": "#e15759"},
                           "encoding": {"y": {"datum": threshold}}})
        spec = ch.concat([{"title": title, "width": 480, "height": 160,
                           "data": {"values": points}, "layer": layers}])
        super().__init__(spec, title)

    def to_html(self) -> str:
        if not any(isinstance(p.get(self.y), (int, float)) for p in self.points):
            return f"<div><b>{esc(self.title)}</b>: no checks yet</div>"
        return super().to_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(include, exclude)
        bundle["text/plain"] = f"<TrendChart {self.title}: {len(self.points)} checks>"
        return bundle  # no _repr_html_: IPython would add text/html, which JupyterLab
        # prefers to Vega-Lite, and the live chart would never be drawn


def chart(name: str, column: str | None = None) -> TrendChart:
    """The trend of monitor ``name``: the share of drifted columns per check, or with
    ``column`` that column's effect size against its floor."""
    from mlops_jupyter.monitors.api import history

    df = history(name, column)
    pts = []
    for r in df.itertuples(index=False):
        p = {"at": r.at.isoformat(), "status": r.status}
        if column is None:
            p["share"] = r.share
        else:
            p["effect"] = r.effect if isinstance(r.effect, (int, float)) else None
        pts.append(p)
    if column is None:
        return TrendChart(f"monitor {name}: share of drifted columns", pts, "share", None,
                          "drifted share")
    from mlops_jupyter.monitoring.methods import AUTO

    return TrendChart(f"monitor {name}: {column} effect size", pts, "effect",
                      AUTO.numeric_floor, "effect (W/std or JS)")
