"""Small, dependency-free HTML building blocks with escaping built in."""

from __future__ import annotations

import html as _html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CSS = """<style>
.mj{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px;color:var(--jp-ui-font-color1,#222);max-width:100%;overflow-x:auto}
.mj h4{margin:4px 0 6px 0;font-size:14px}
.mj table.mj-t{border-collapse:collapse;margin:4px 0}
.mj table.mj-t th,.mj table.mj-t td{border:1px solid var(--jp-border-color2,#ddd);padding:2px 6px;text-align:left;vertical-align:top}
.mj table.mj-t th{background:var(--jp-layout-color2,#f4f4f4)}
.mj .mj-diff{background:#fff3c4}
.mj .mj-b{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px;color:#fff}
.mj .mj-ok{background:#2e7d32}.mj .mj-bad{background:#c62828}.mj .mj-run{background:#1565c0}.mj .mj-warn{background:#ef6c00}.mj .mj-mute{background:#757575}
.mj .mj-card{border:1px solid var(--jp-border-color2,#ddd);border-radius:6px;padding:6px 10px;margin:4px 0}
.mj .mj-dim{color:var(--jp-ui-font-color2,#777)}
</style>"""

_BADGE_CLASS = {
    "FINISHED": "mj-ok",
    "OK": "mj-ok",
    "PASSED": "mj-ok",
    "NO DRIFT": "mj-ok",
    "FAILED": "mj-bad",
    "DRIFT": "mj-bad",
    "KILLED": "mj-warn",
    "RUNNING": "mj-run",
}


def esc(value: Any) -> str:
    """Escape anything for HTML text and attribute context."""
    return _html.escape("" if value is None else str(value), quote=True)


def fmt_value(value: Any, digits: int = 6) -> str:
    """A compact, stable text form for numbers and other values (not yet escaped)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def badge(text: str, kind: str | None = None) -> str:
    cls = kind or _BADGE_CLASS.get(str(text).upper(), "mj-mute")
    return f'<span class="mj-b {esc(cls)}">{esc(text)}</span>'


def table(
    columns: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    highlight: Sequence[Sequence[bool]] | None = None,
    raw_columns: Iterable[int] = (),
) -> str:
    """A table; every cell escaped except the column indexes in ``raw_columns``
    (for cells the caller built from this module's own helpers)."""
    raw = set(raw_columns)
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, v in enumerate(row):
            cls = ' class="mj-diff"' if highlight is not None and highlight[i][j] else ""
            text = v if j in raw else esc(fmt_value(v))
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="mj-t"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def kv_table(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    pairs = items.items() if isinstance(items, Mapping) else items
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(fmt_value(v))}</td></tr>" for k, v in pairs
    )
    return f'<table class="mj-t"><tbody>{rows}</tbody></table>'


def card(title_html: str, body_html: str) -> str:
    """Wrap already-built HTML in the package's card frame (callers escape their text)."""
    return f'{CSS}<div class="mj"><div class="mj-card"><h4>{title_html}</h4>{body_html}</div></div>'


def sparkline_svg(
    series: Mapping[str, Sequence[tuple[float, float]]], width: int = 320, height: int = 120
) -> str:
    """Overlaid line plot as inline SVG (small, no JavaScript, survives nbconvert).

    ``series`` maps a label to (x, y) points; non-finite points are skipped.
    """
    palette = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f"]
    pts = {
        k: [(float(x), float(y)) for x, y in v if math.isfinite(float(y)) and math.isfinite(float(x))]
        for k, v in series.items()
    }
    allp = [p for v in pts.values() for p in v]
    if not allp:
        return '<span class="mj-dim">no finite points</span>'
    xs = [p[0] for p in allp]
    ys = [p[1] for p in allp]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    dx = (x1 - x0) or 1.0
    dy = (y1 - y0) or 1.0
    pad = 4
    lines = []
    legend = []
    for i, (label, p) in enumerate(pts.items()):
        color = palette[i % len(palette)]
        coords = " ".join(
            f"{pad + (x - x0) / dx * (width - 2 * pad):.1f},{height - pad - (y - y0) / dy * (height - 2 * pad):.1f}"
            for x, y in p
        )
        if len(p) == 1:
            cx, cy = coords.split(",")
            lines.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
        else:
            lines.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>'
            )
        legend.append(f'<span style="color:{color}">&#9632; {esc(label)}</span>')
    svg = (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" style="border:1px solid #eee">{"".join(lines)}</svg>'
    )
    rng = f'<div class="mj-dim">y: {esc(fmt_value(y0, 4))} … {esc(fmt_value(y1, 4))}</div>'
    return f'<div>{svg}<div>{" ".join(legend)}</div>{rng}</div>'
