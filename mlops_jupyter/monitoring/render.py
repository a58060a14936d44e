"""Static HTML for a drift report: verdict, schema section, per-column table with small
inline SVG histograms.

Drawn only from the binned summaries a report holds, so the output has the same small
size for a thousand rows or ten million; no JavaScript, so it survives nbconvert and
papermill as is. Every piece of user text (column names, category labels, dtypes,
titles) goes through ``esc``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..display.html import badge, card, esc, fmt_duration, fmt_value, table

if TYPE_CHECKING:
    from .report import ColumnDrift, DriftReport

__all__ = ["report_html", "histogram_svg", "column_detail_html"]

REF_COLOR = "#1565c0"
CUR_COLOR = "#c62828"
#: columns drawn with a chart; beyond that the table keeps its rows but no SVG
MAX_CHARTS = 60
#: rows shown in the table; beyond that a note points to to_frame()
MAX_ROWS = 500


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _edge_text(x: float, is_dt: bool) -> str:
    if is_dt and math.isfinite(x):
        try:
            return datetime.fromtimestamp(x, tz=UTC).strftime("%Y-%m-%d %H:%M")
        except (OverflowError, OSError, ValueError):
            pass
    return fmt_value(float(x), 4)


def histogram_svg(hist: dict[str, Any] | None, width: int = 180, height: int = 44) -> str:
    """Overlaid reference (filled) and current (outlined) distributions as inline SVG."""
    if not hist:
        return ""
    ref = [float(x or 0.0) for x in hist.get("reference", [])]
    cur = [float(x or 0.0) for x in hist.get("current", [])]
    n = min(len(ref), len(cur))
    if n == 0:
        return ""
    top = max(max(ref[:n]), max(cur[:n])) or 1.0
    bw = width / n
    parts = []
    cat = hist.get("type") == "categorical"
    labels = hist.get("labels", [])
    for i in range(n):
        x = i * bw
        hr = ref[i] / top * (height - 2)
        hc = cur[i] / top * (height - 2)
        title = ""
        if cat and i < len(labels):
            title = (f"<title>{esc(labels[i])}: reference {ref[i]:.1%}, "
                     f"current {cur[i]:.1%}</title>")
        parts.append(
            f'<g>{title}<rect x="{_f(x + 0.5)}" y="{_f(height - hr)}" width="{_f(max(bw - 1, 0.5))}" '
            f'height="{_f(hr)}" fill="{REF_COLOR}" fill-opacity="0.35"/>'
            f'<rect x="{_f(x + 0.5 + bw * 0.2)}" y="{_f(height - hc)}" '
            f'width="{_f(max(bw * 0.6 - 1, 0.5))}" height="{_f(hc)}" fill="none" '
            f'stroke="{CUR_COLOR}" stroke-width="1"/></g>'
        )
    svg = (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'xmlns="http://www.w3.org/2000/svg" role="img">{"".join(parts)}</svg>')
    if cat:
        shown = ", ".join(esc(lb) for lb in labels[:4]) + (" …" if len(labels) > 4 else "")
        caption = f'<div class="mj-dim" style="font-size:10px">{shown}</div>'
    else:
        edges = hist.get("edges") or []
        is_dt = bool(hist.get("datetime"))
        if edges:
            caption = (f'<div class="mj-dim" style="font-size:10px">{esc(_edge_text(edges[0], is_dt))}'
                       f' … {esc(_edge_text(edges[-1], is_dt))}</div>')
        else:
            caption = ""
    return f"<div>{svg}{caption}</div>"


def _legend() -> str:
    return (f'<span style="color:{REF_COLOR}">&#9632; reference</span> '
            f'<span style="color:{CUR_COLOR}">&#9633; current</span>')


def _score(c: ColumnDrift) -> str:
    if c.score is None:
        return ""
    name = {"ks_p_value": "p", "chi2_p_value": "p", "wasserstein_norm": "W/std",
            "js_distance": "JS", "psi": "PSI"}.get(c.statistic or "", c.statistic or "")
    return f"{name} {fmt_value(c.score, 3)}"


def _effect(c: ColumnDrift) -> str:
    s = c.stats or {}
    if "wasserstein_norm" in s:
        return f"W/std {fmt_value(s['wasserstein_norm'], 3)} · PSI {fmt_value(s.get('psi'), 3)}"
    if "js_distance" in s:
        return f"JS {fmt_value(s['js_distance'], 3)} · PSI {fmt_value(s.get('psi'), 3)}"
    return ""


def _missing(c: ColumnDrift) -> str:
    if c.missing_reference is None:
        return ""
    text = f"{c.missing_reference:.1%} → {c.missing_current:.1%}"
    return f"<b>{esc(text)}</b>" if c.missing_drifted else esc(text)


def _unseen(c: ColumnDrift) -> str:
    if not c.unseen_count:
        return ""
    ex = ", ".join(c.unseen_examples[:3])
    return esc(f"{c.unseen_count} ({c.unseen_share:.1%} of rows): {ex}")


def _verdict(c: ColumnDrift) -> str:
    if c.schema is not None:
        return badge("SCHEMA", "mj-bad")
    return badge("DRIFT") if c.drifted else badge("OK")


def _rows(cols: list[ColumnDrift], charts_left: list[int]) -> list[list[str]]:
    rows = []
    for c in cols:
        chart = ""
        if charts_left[0] > 0 and c.histogram:
            chart = histogram_svg(c.histogram)
            charts_left[0] -= 1
        rows.append([
            f"<b>{esc(c.column)}</b>",
            esc(c.kind or ""),
            _verdict(c),
            esc(c.method),
            esc(_score(c)),
            esc(_effect(c)),
            _missing(c),
            _unseen(c),
            chart,
            esc(c.note),
        ])
    return rows


_HEAD = ["column", "kind", "verdict", "method", "score", "effect", "missing ref → cur",
         "unseen categories", "distribution", "why"]


def report_html(report: DriftReport) -> str:
    """The whole report as one self-contained HTML fragment."""
    verdict = "DRIFT" if report.drifted else "NO DRIFT"
    body = _body(report)
    if report.prediction is not None:
        pv = "DRIFT" if report.prediction.drifted else "NO DRIFT"
        body += (f"<h4>{esc(report.prediction.title)} {badge(pv)}</h4>"
                 + _body(report.prediction))
    return card(f"{esc(report.title)} {badge(verdict)}", body)


def _body(report: DriftReport) -> str:
    n_drift = sum(c.drifted for c in report.columns)
    summary = (f"{n_drift} of {len(report.columns)} columns drifted "
               f"(share {report.share:.2f}; rule: {report.rule})"
               f"{' and the schema changed' if report.schema_drifted else ''} · "
               f"reference {report.n_reference:,} rows · current {report.n_current:,} rows · "
               f"method {report.method}")
    if report.elapsed is not None:
        summary += f" · {fmt_duration(report.elapsed)}"
    body = [f"<div>{esc(summary)}</div>"]
    if report.performance:
        prow = []
        for metric, v in report.performance.items():
            if not isinstance(v, dict):
                continue
            prow.append([metric, v.get("reference"), v.get("current"), v.get("change")])
        if prow:
            body.append("<h4>Model performance</h4>")
            body.append(table(["metric", "reference", "current", "change"], prow))
    if report.schema:
        srows = [[esc(s.column), badge("DRIFT") if s.drifted else badge("INFO", "mj-mute"),
                  esc(report.schema_text(s.issue)), esc(s.dtype_reference or "—"),
                  esc(s.dtype_current or "—")] for s in report.schema]
        body.append("<h4>Schema</h4>")
        body.append(table(["column", "", "change", "reference dtype", "current dtype"], srows,
                          raw_columns=range(5)))
    ordered = report.sorted_columns()
    shown, hidden = ordered[:MAX_ROWS], len(ordered) - MAX_ROWS
    flagged = [c for c in shown if c.drifted]
    calm = [c for c in shown if not c.drifted]
    charts = [MAX_CHARTS]
    body.append(f"<div style='margin-top:6px'>{_legend()}</div>")
    if flagged:
        body.append("<h4>Drifted columns</h4>")
        body.append(table(_HEAD, _rows(flagged, charts), raw_columns=range(len(_HEAD))))
    if calm:
        inner = table(_HEAD, _rows(calm, charts), raw_columns=range(len(_HEAD)))
        open_attr = "" if flagged else " open"
        body.append(f"<details{open_attr}><summary>{len(calm)} columns without drift"
                    f"</summary>{inner}</details>")
    if hidden > 0:
        body.append(f'<div class="mj-dim">… {hidden} more columns: see report.to_frame()</div>')
    return "".join(body)


def column_detail_html(c: ColumnDrift) -> str:
    """A larger view of one column: its chart and every statistic (used by the widget)."""
    stats = [[k, v] for k, v in (c.stats or {}).items()]
    head = f"<h4>{esc(c.column)} {_verdict(c)}</h4><div>{esc(c.note)}</div>"
    chart = histogram_svg(c.histogram, width=420, height=120) if c.histogram else ""
    return head + chart + _legend() + table(["statistic", "value"], stats)
