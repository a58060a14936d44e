"""Charts as Vega-Lite **v5** specs (plain dicts), with a static SVG beside them.

Why this stack (docs/architecture.md, "Charts"): JupyterLab 4, Notebook 7 and VS Code
render ``application/vnd.vegalite.v5+json`` natively and offline (vega-lite 5.6 in
JupyterLab), so a live notebook gets axes, ticks, legends, tooltips and bound controls
(a metric dropdown, a slice switch) with no kernel round trip and no widget state to
lose. Altair 6 emits v6, which that renderer does not register, so the specs here are
plain dicts using features up to Vega-Lite 5.6, and altair is not needed. Saved
notebooks run by papermill/nbconvert never get a browser-rendered image, so each chart
also carries a static SVG made offline by ``vl-convert`` (imported on first render only;
about 0.15 s to import and ~0.3 s to start its engine once per process). Without
vl-convert the chart still shows live, and static outputs show its title.

Everything here is generic (no domain knowledge): other features (tuning panels,
drift) build their specs with the same helpers, so every chart looks alike and one
model/run keeps one colour everywhere (:func:`color_scale`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_jupyter.display.html import esc

__all__ = [
    "VEGALITE_MIME", "Chart", "bars", "color_scale", "concat", "dots", "heatmaps",
    "intervals", "lines", "parallel_coordinates", "render_svg", "scatter",
]

VEGALITE_MIME = "application/vnd.vegalite.v5+json"
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
#: Tableau 10: distinguishable, colour-blind friendlier than the default category10
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]
WIDTH, HEIGHT = 230, 190
_CONFIG = {
    "view": {"stroke": "#ddd"},
    "axis": {"labelFontSize": 11, "titleFontSize": 11, "grid": True, "gridColor": "#eee"},
    "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "bottom", "labelLimit": 240},
    "title": {"fontSize": 13, "anchor": "start"},
}


def color_scale(labels: Sequence[str]) -> dict[str, Any]:
    """One colour per label, the same in every chart built with this scale."""
    labels = [str(x) for x in labels]
    return {"domain": labels, "range": [PALETTE[i % len(PALETTE)] for i in range(len(labels))]}


def _color(field: str, scale: Mapping[str, Any] | None, title: str | None = None) -> dict[str, Any]:
    enc: dict[str, Any] = {"field": field, "type": "nominal", "title": title or field}
    if scale is not None:
        enc["scale"] = dict(scale)
    return enc


def _q(field: str, title: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"field": field, "type": "quantitative", "title": title or field, **kw}


def lines(data: Sequence[Mapping[str, Any]], *, x: str, y: str, color: str, title: str,
          x_title: str | None = None, y_title: str | None = None,
          scale: Mapping[str, Any] | None = None, diagonal: bool = False,
          points: bool = False, unit_domain: bool = False,
          width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
    """One line per ``color`` value (curves over steps, ROC/PR curves)."""
    dom = {"scale": {"domain": [0, 1]}} if unit_domain else {}
    layer: list[dict[str, Any]] = [{
        "mark": {"type": "line", "point": points, "interpolate": "linear"},
        "encoding": {
            "x": _q(x, x_title, **dom), "y": _q(y, y_title, **dom),
            "color": _color(color, scale),
            "tooltip": [{"field": color, "type": "nominal"}, _q(x, x_title, format=".4~g"),
                        _q(y, y_title, format=".4~g")],
        },
    }]
    if diagonal:
        layer.insert(0, {
            "data": {"values": [{"_d": 0}, {"_d": 1}]},
            "mark": {"type": "line", "strokeDash": [4, 4], "color": "#aaa"},
            "encoding": {"x": {"field": "_d", "type": "quantitative"},
                         "y": {"field": "_d", "type": "quantitative"}},
        })
    return {"title": title, "width": width, "height": height,
            "data": {"values": list(data)}, "layer": layer}


def dots(data: Sequence[Mapping[str, Any]], *, x: str, y: str, color: str, title: str,
         x_title: str | None = None, y_title: str | None = None,
         scale: Mapping[str, Any] | None = None, lo: str | None = None, hi: str | None = None,
         width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
    """Labelled dots (optionally with ``lo``..``hi`` error bars): single values per
    category, calibration bins."""
    enc = {"x": _q(x, x_title), "y": _q(y, y_title), "color": _color(color, scale)}
    layer: list[dict[str, Any]] = [{
        "mark": {"type": "point", "filled": True, "size": 60},
        "encoding": {**enc, "tooltip": [{"field": color, "type": "nominal"},
                                        _q(x, x_title, format=".4~g"), _q(y, y_title, format=".4~g")]},
    }]
    if lo and hi:
        layer.append({"mark": {"type": "rule"},
                      "encoding": {"x": _q(x, x_title), "y": _q(lo, y_title), "y2": {"field": hi},
                                   "color": _color(color, scale)}})
    return {"title": title, "width": width, "height": height, "data": {"values": list(data)},
            "layer": layer}


def scatter(data: Sequence[Mapping[str, Any]], *, x: str, y: str, color: str, title: str,
            x_title: str | None = None, y_title: str | None = None,
            scale: Mapping[str, Any] | None = None, zero_rule: str | None = None,
            identity: bool = False, width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
    """Small translucent points (residuals, predicted vs actual)."""
    layer: list[dict[str, Any]] = [{
        "mark": {"type": "circle", "size": 12, "opacity": 0.45},
        "encoding": {"x": _q(x, x_title, scale={"zero": False}),
                     "y": _q(y, y_title, scale={"zero": False}),
                     "color": _color(color, scale)},
    }]
    if zero_rule:
        layer.append({"mark": {"type": "rule", "color": "#888", "strokeDash": [4, 4]},
                      "encoding": {"y": {"datum": 0}}})
    if identity:
        layer.append({"mark": {"type": "line", "color": "#888", "strokeDash": [4, 4]},
                      "transform": [{"aggregate": [{"op": "min", "field": x, "as": "a"},
                                                   {"op": "max", "field": x, "as": "b"}]},
                                    {"fold": ["a", "b"], "as": ["_k", "_v"]}],
                      "encoding": {"x": {"field": "_v", "type": "quantitative"},
                                   "y": {"field": "_v", "type": "quantitative"}}})
    return {"title": title, "width": width, "height": height, "data": {"values": list(data)},
            "layer": layer}


def intervals(data: Sequence[Mapping[str, Any]], *, group: str, value: str, lo: str, hi: str,
              color: str, title: str, pick: str | None = None, pick_name: str = "pick",
              scale: Mapping[str, Any] | None = None, width: int = WIDTH,
              x_title: str | None = None) -> dict[str, Any]:
    """Point estimates with interval bars, one row per ``color`` value. With ``pick``
    (a field), a dropdown bound to a parameter filters to one value of that field."""
    spec: dict[str, Any] = {
        "title": title, "width": width, "data": {"values": list(data)},
        "encoding": {
            "y": {"field": color, "type": "nominal", "title": None},
            "color": _color(color, scale),
        },
        "layer": [
            {"mark": {"type": "rule", "strokeWidth": 2},
             "encoding": {"x": _q(lo, x_title or value, scale={"zero": False},
                                  axis={"tickCount": 4, "format": ".3~f"}),
                          "x2": {"field": hi}}},
            {"mark": {"type": "point", "filled": True, "size": 70},
             "encoding": {"x": _q(value, x_title or value),
                          "tooltip": [{"field": color, "type": "nominal"},
                                      _q(value, format=".4~g"), _q(lo, format=".4~g"),
                                      _q(hi, format=".4~g")]}},
        ],
    }
    if pick:
        options = sorted({str(r[pick]) for r in data}, key=[str(r[pick]) for r in data].index)
        spec["params"] = [{"name": pick_name, "value": options[0] if options else "",
                           "bind": {"input": "select", "options": options, "name": f"{pick} "}}]
        spec["transform"] = [{"filter": f"datum[{json.dumps(pick)}] == {pick_name}"}]
        spec["encoding"]["row"] = None
        del spec["encoding"]["row"]
    if group and not pick:
        spec["encoding"]["row"] = {"field": group, "type": "nominal", "title": None}
    return spec


def bars(data: Sequence[Mapping[str, Any]], *, category: str, value: str, title: str,
         color: str | None = None, scale: Mapping[str, Any] | None = None,
         pick: str | None = None, pick_name: str = "pick", sign_colors: bool = False,
         width: int = WIDTH) -> dict[str, Any]:
    """Horizontal bars (per-slice deltas, single-value metrics). ``sign_colors``:
    negative red, positive green. ``pick`` binds a dropdown as in :func:`intervals`."""
    enc: dict[str, Any] = {
        "y": {"field": category, "type": "nominal", "sort": None, "title": None},
        "x": _q(value, value),
        "tooltip": [{"field": k, "type": "nominal"} for k in dict.fromkeys(
            [category] + ([color] if color else []))] + [_q(value, format=".4~g")],
    }
    if color:
        enc["color"] = _color(color, scale)
        enc["yOffset"] = {"field": color, "type": "nominal"}
    elif sign_colors:
        enc["color"] = {"condition": {"test": f"datum[{json.dumps(value)}] < 0", "value": "#c62828"},
                        "value": "#2e7d32"}
    spec: dict[str, Any] = {"title": title, "width": width, "data": {"values": list(data)},
                            "mark": {"type": "bar"}, "encoding": enc}
    if pick:
        options = list(dict.fromkeys(str(r[pick]) for r in data))
        spec["params"] = [{"name": pick_name, "value": options[0] if options else "",
                           "bind": {"input": "select", "options": options, "name": f"{pick} "}}]
        spec["transform"] = [{"filter": f"datum[{json.dumps(pick)}] == {pick_name}"}]
    return spec


def heatmaps(data: Sequence[Mapping[str, Any]], *, x: str, y: str, value: str, facet: str,
             title: str, size: int = 150) -> dict[str, Any]:
    """Side-by-side count matrices (confusion matrices), one per ``facet`` value."""
    top = max((float(r[value]) for r in data), default=0.0)
    return {
        "title": title, "data": {"values": list(data)},
        "facet": {"column": {"field": facet, "type": "nominal", "title": None}},
        "spec": {
            "width": size, "height": size,
            "layer": [
                {"mark": "rect", "encoding": {
                    "x": {"field": x, "type": "nominal", "title": x,
                          "axis": {"grid": False, "labelAngle": 0}},
                    "y": {"field": y, "type": "nominal", "title": y, "axis": {"grid": False}},
                    "color": {"field": value, "type": "quantitative", "legend": None,
                              "scale": {"scheme": "blues"}}}},
                {"mark": {"type": "text", "fontSize": 12}, "encoding": {
                    "x": {"field": x, "type": "nominal"}, "y": {"field": y, "type": "nominal"},
                    "text": {"field": value, "type": "quantitative"},
                    "color": {"condition": {"test": f"datum[{json.dumps(value)}] > {top / 2}",
                                            "value": "#fff"}, "value": "#111"}}},
            ],
        },
    }


def parallel_coordinates(rows: Sequence[Mapping[str, Any]], dims: Sequence[str], *,
                         color: str, title: str, id_field: str = "_id",
                         width: int = 560, height: int = 220) -> dict[str, Any]:
    """Parallel coordinates: each row a line across ``dims`` (each scaled to 0..1 over
    its own range; tooltips show real values), coloured by the numeric ``color``."""
    return {
        "title": title, "width": width, "height": height, "data": {"values": list(rows)},
        "transform": [
            {"window": [{"op": "count", "as": id_field}]},
            {"fold": list(dims), "as": ["dimension", "raw"]},
            {"joinaggregate": [{"op": "min", "field": "raw", "as": "_min"},
                               {"op": "max", "field": "raw", "as": "_max"}],
             "groupby": ["dimension"]},
            {"calculate": "datum._max == datum._min ? 0.5 : "
                          "(datum.raw - datum._min) / (datum._max - datum._min)", "as": "scaled"},
        ],
        "mark": {"type": "line", "opacity": 0.6},
        "encoding": {
            "x": {"field": "dimension", "type": "nominal", "sort": list(dims), "title": None,
                  "axis": {"labelAngle": 0}},
            "y": {"field": "scaled", "type": "quantitative", "title": "scaled (min..max)",
                  "axis": {"format": ".1f"}},
            "detail": {"field": id_field, "type": "nominal"},
            "color": {"field": color, "type": "quantitative", "scale": {"scheme": "viridis"}},
            "tooltip": [{"field": "dimension", "type": "nominal"},
                        {"field": "raw", "type": "quantitative", "format": ".4~g"},
                        {"field": color, "type": "quantitative", "format": ".4~g"}],
        },
    }


def concat(specs: Sequence[Mapping[str, Any]], *, columns: int = 3, title: str | None = None
           ) -> dict[str, Any]:
    """Several specs in one chart (one render, one set of bound controls), wrapped in
    rows of ``columns``; colour scales stay independent per sub-chart unless equal."""
    specs = [dict(s) for s in specs if s]
    out: dict[str, Any] = {"$schema": SCHEMA, "config": _CONFIG}
    # bound variable parameters (dropdowns) must live at the top level of a concat
    hoisted = []
    for s in specs:
        keep = [p for p in s.get("params", []) if "select" in p]
        hoisted += [p for p in s.get("params", []) if "select" not in p]
        if keep:
            s["params"] = keep
        else:
            s.pop("params", None)
    if hoisted:
        out["params"] = hoisted
    if title:
        out["title"] = title
    if len(specs) == 1:
        out.update({k: v for k, v in specs[0].items() if k != "params"})
        return out
    out["concat"] = list(specs)
    out["columns"] = columns
    out["resolve"] = {"scale": {"color": "independent"}}
    return out


_SVG_CACHE: dict[str, str] = {}


def render_svg(spec: Mapping[str, Any]) -> str | None:
    """The static SVG of a v5 spec (vl-convert, offline), or None when unavailable."""
    key = json.dumps(spec, sort_keys=True, default=str)
    if key in _SVG_CACHE:
        return _SVG_CACHE[key]
    try:
        import vl_convert as vlc
    except ImportError:
        return None
    try:
        svg = vlc.vegalite_to_svg(json.loads(key), vl_version="5.8")
    except Exception:  # noqa: BLE001 - a static image is a fallback; the live chart remains
        return None
    if len(_SVG_CACHE) > 64:
        _SVG_CACHE.clear()
    _SVG_CACHE[key] = svg
    return svg


class Chart:
    """A chart output: the live Vega-Lite v5 spec and its static SVG in one bundle.

    Displayed on its own (never inside HTML), so JupyterLab renders the spec, and
    nbconvert/papermill outputs — which cannot run Vega — show the SVG.
    """

    def __init__(self, spec: Mapping[str, Any], title: str = "chart") -> None:
        self.spec = dict(spec)
        self.title = title

    def svg(self) -> str | None:
        return render_svg(self.spec)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {VEGALITE_MIME: self.spec, "text/plain": f"<Chart {self.title}>"}
        svg = self.svg()
        if svg:
            bundle["image/svg+xml"] = svg
        return bundle

    def to_html(self) -> str:
        """Inline static SVG (for HTML reports); the title alone without vl-convert."""
        svg = self.svg()
        if svg is None:
            return f'<div class="mj-dim">[chart: {esc(self.title)} — install vl-convert-python for static charts]</div>'
        return f'<div class="mj-chart" style="max-width:100%;overflow-x:auto">{svg}</div>'

    def __repr__(self) -> str:
        return f"<Chart {self.title}>"
