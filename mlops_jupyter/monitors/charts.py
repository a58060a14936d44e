"""Trend charts of a monitor's checks: a Vega-Lite v5 spec with a static SVG fallback.

JupyterLab 4 and Notebook 7 render ``application/vnd.vegalite.v5+json`` offline; papermill
and nbconvert outputs have no renderer, so the same bundle carries a small static SVG in
``text/html``. Kept tiny and separate so a shared chart module can replace it.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["chart", "TrendChart"]

VEGA_LITE = "application/vnd.vegalite.v5+json"


class TrendChart:
    def __init__(self, title: str, points: list[dict[str, Any]], y: str, threshold: float | None,
                 y_title: str) -> None:
        self.title, self.points, self.y, self.threshold, self.y_title = title, points, y, threshold, y_title

    def spec(self) -> dict[str, Any]:
        layers: list[dict[str, Any]] = [{
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {"field": "at", "type": "temporal", "title": "check"},
                "y": {"field": self.y, "type": "quantitative", "title": self.y_title},
                "color": {"field": "status", "type": "nominal"},
                "tooltip": [{"field": "at", "type": "temporal"}, {"field": self.y},
                            {"field": "status"}],
            },
        }]
        if self.threshold is not None:
            layers.append({"mark": {"type": "rule", "strokeDash": [4, 3], "color": "#c62828"},
                           "encoding": {"y": {"datum": self.threshold}}})
        return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json",
                "title": self.title, "width": 480, "height": 160,
                "data": {"values": self.points}, "layer": layers}

    def svg(self) -> str:
        from mlops_jupyter.display.html import esc

        w, h, pad = 480, 160, 28
        vals = [p[self.y] for p in self.points if isinstance(p.get(self.y), (int, float))
                and math.isfinite(p[self.y])]
        if not vals:
            return f"<div><b>{esc(self.title)}</b>: no checks yet</div>"
        lo, hi = min([*vals, self.threshold or vals[0]]), max([*vals, self.threshold or vals[0]])
        span = (hi - lo) or 1.0
        n = len(self.points)

        def xy(i: int, v: float) -> tuple[float, float]:
            x = pad + (w - 2 * pad) * (i / max(n - 1, 1))
            return x, h - pad - (h - 2 * pad) * ((v - lo) / span)

        pts = [(i, p[self.y]) for i, p in enumerate(self.points)
               if isinstance(p.get(self.y), (int, float)) and math.isfinite(p[self.y])]
        line = " ".join(f"{xy(i, v)[0]:.1f},{xy(i, v)[1]:.1f}" for i, v in pts)
        dots = "".join(
            f"<circle cx='{xy(i, v)[0]:.1f}' cy='{xy(i, v)[1]:.1f}' r='3' fill="
            f"'{'#c62828' if self.points[i].get('status') in ('drift', 'perf') else '#1565c0'}'>"
            f"<title>{esc(self.points[i].get('at'))}: {v:.4g} ({esc(self.points[i].get('status'))})</title></circle>"
            for i, v in pts)
        rule = ""
        if self.threshold is not None:
            ty = xy(0, self.threshold)[1]
            rule = (f"<line x1='{pad}' x2='{w - pad}' y1='{ty:.1f}' y2='{ty:.1f}' stroke='#c62828' "
                    "stroke-dasharray='4 3'/>")
        return (f"<div><b>{esc(self.title)}</b><br><svg width='{w}' height='{h}' "
                f"xmlns='http://www.w3.org/2000/svg' role='img'>{rule}"
                f"<polyline fill='none' stroke='#1565c0' points='{line}'/>{dots}"
                f"<text x='2' y='{pad}' font-size='10'>{hi:.3g}</text>"
                f"<text x='2' y='{h - pad}' font-size='10'>{lo:.3g}</text></svg></div>")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {VEGA_LITE: self.spec(), "text/html": self.svg(),
                "text/plain": f"<TrendChart {self.title}: {len(self.points)} checks>"}

    def _repr_html_(self) -> str:
        return self.svg()


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
