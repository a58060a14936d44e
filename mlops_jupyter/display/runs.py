"""Static HTML for the runs table and the run comparison.

Pure rendering: callers pass the runs DataFrame (``tracking.runs()``), ``Run`` entities
and metric histories; nothing here reads the store. Every piece of user text (run names,
params, tags, metric names) goes through :func:`~mlops_jupyter.display.html.esc`, so the
HTML survives nbconvert/papermill and a name like ``<img src=x onerror=...>`` shows as text.

"Best" metric values: a metric whose name says it should go down (loss, error, mse,
mae, rmse, mape, logloss, perplexity, time, latency, …) is best at its minimum, any other
metric at its maximum (:func:`metric_direction`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops_jupyter.display.html import CSS, badge, esc, fmt_duration, fmt_value, sparkline_svg

if TYPE_CHECKING:
    import pandas as pd

    from mlops_jupyter.store.entities import Run

__all__ = ["compact_time", "compare_html", "differing_keys", "metric_direction", "runs_table_html"]

_LOWER_IS_BETTER = re.compile(
    r"(loss|error|err\b|mse|mae|rmse|mape|logloss|perplexity|time|latency|duration|distance|regret|cost)",
    re.IGNORECASE,
)
MAX_CURVE_POINTS = 400


def metric_direction(name: str) -> str:
    """``"min"`` when lower values of metric ``name`` are better, else ``"max"``."""
    return "min" if _LOWER_IS_BETTER.search(name) else "max"


def _arrow(name: str) -> str:
    return "↓" if metric_direction(name) == "min" else "↑"


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def differing_keys(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    """The keys whose value is not the same in every row (missing counts as a value)."""
    out = []
    for k in keys:
        vals = {None if _isnan(r.get(k)) else str(r.get(k)) for r in rows}
        if len(vals) > 1:
            out.append(k)
    return out


#: with more parameters than this, the runs table shows only those that differ by default
MANY_PARAMS = 8
_STICKY = (
    "<style>.mj .mj-runs-wrap{max-width:100%;max-height:520px;overflow:auto}"
    ".mj table.mj-runs{border-collapse:separate;border-spacing:0}"
    ".mj table.mj-runs thead th{position:sticky;top:0;z-index:2}"
    ".mj table.mj-runs .mj-pin0,.mj table.mj-runs .mj-pin1{position:sticky;z-index:1;"
    "background:var(--jp-layout-color1,#fff)}"
    ".mj table.mj-runs thead .mj-pin0,.mj table.mj-runs thead .mj-pin1{z-index:3;"
    "background:var(--jp-layout-color2,#f4f4f4)}"
    ".mj table.mj-runs .mj-pin0{left:0;min-width:72px}"
    ".mj table.mj-runs .mj-pin1{left:72px;max-width:180px;overflow:hidden;text-overflow:ellipsis;"
    "white-space:nowrap}"
    ".mj table.mj-runs td,.mj table.mj-runs th{white-space:nowrap;max-width:220px;"
    "overflow:hidden;text-overflow:ellipsis}</style>"
)


def compact_time(t: Any, now: float | None = None) -> str:
    """``14:03`` today, ``Dec 01 14:03`` this year, ``2025-12-01`` before."""
    if not hasattr(t, "timestamp"):
        return ""
    try:
        ts = float(t.timestamp())
    except (ValueError, OverflowError):
        return ""
    now = time.time() if now is None else now
    lt, ln = time.localtime(ts), time.localtime(now)
    if lt.tm_year == ln.tm_year and lt.tm_yday == ln.tm_yday:
        return time.strftime("%H:%M", lt)
    if lt.tm_year == ln.tm_year:
        return time.strftime("%b %d %H:%M", lt)
    return time.strftime("%Y-%m-%d", lt)


def runs_table_html(
    df: pd.DataFrame, *, differing: bool | None = None, title: str | None = None,
    note: str | None = None,
) -> str:
    """The runs table: id and name (pinned while scrolling), status, started, duration,
    the best value of each metric, then the parameters. ``differing`` None: only the
    parameters that differ when there are more than :data:`MANY_PARAMS`."""
    cols = list(df.columns)
    params = [c for c in cols if c.startswith("params.")]
    metrics = [
        c for c in cols
        if c.startswith("metrics.") and not c.endswith((".min", ".max"))
    ]
    records = df.to_dict("records")
    if differing is None:
        differing = len(params) > MANY_PARAMS and len(records) > 1
    hidden = 0
    if differing and len(records) > 1:
        kept = differing_keys(records, params)
        hidden = len(params) - len(kept)
        params = kept
    experiments = {r.get("experiment") for r in records}
    show_exp = len(experiments) > 1
    head_html = '<th class="mj-pin0">run</th><th class="mj-pin1">name</th><th>status</th>'
    head_html += ("<th>experiment</th>" if show_exp else "") + "<th>started</th><th>duration</th>"
    for m in metrics:
        name = m[8:]
        head_html += (
            f'<th title="best value over all steps ({esc(metric_direction(name))}imum)">'
            f"{esc(name)} {_arrow(name)}</th>"
        )
    head_html += "".join(f'<th title="parameter {esc(p[7:])}">{esc(p[7:])}</th>' for p in params)
    now = time.time()
    body = []
    for r in records:
        started = r.get("start_time")
        full = started.strftime("%Y-%m-%d %H:%M:%S") if hasattr(started, "strftime") else ""
        name = r.get("name") or ""
        cells = [
            f'<td class="mj-pin0"><code>{esc(str(r.get("run_id", ""))[:8])}</code></td>',
            f'<td class="mj-pin1" title="{esc(name)}">{esc(name)}</td>',
            f"<td>{badge(str(r.get('status', '')))}</td>",
        ]
        if show_exp:
            cells.append(f"<td>{esc(r.get('experiment') or '')}</td>")
        cells += [
            f'<td title="{esc(full)}">{esc(compact_time(started, now))}</td>',
            f"<td>{esc(fmt_duration(r.get('duration_s')))}</td>",
        ]
        for m in metrics:
            name_ = m[8:]
            best = r.get(f"{m}.{metric_direction(name_)}")
            last = r.get(m)
            tip = f' title="last: {esc(fmt_value(last))}"' if not _isnan(last) else ""
            cells.append(f"<td{tip}>{'' if _isnan(best) else esc(fmt_value(best))}</td>")
        for p in params:
            v = r.get(p)
            text = "" if _isnan(v) else fmt_value(v)
            cells.append(f'<td title="{esc(text)}">{esc(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = esc(title) if title else f"{len(records)} run{'s' if len(records) != 1 else ''}"
    extra = f' <span class="mj-dim">{esc(note)}</span>' if note else ""
    if not show_exp and experiments and None not in experiments:
        extra += f' <span class="mj-dim">· experiment {esc(next(iter(experiments)))}</span>'
    if differing:
        extra += ' <span class="mj-dim">· differing params only'
        extra += f" ({hidden} identical hidden)</span>" if hidden else "</span>"
    table = (
        f'<div class="mj-runs-wrap"><table class="mj-t mj-runs"><thead><tr>{head_html}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>'
    )
    if not records:
        table = '<div class="mj-dim">no runs match</div>'
    return f'{CSS}{_STICKY}<div class="mj"><h4>{caption}{extra}</h4>{table}</div>'


def _label(run: Run) -> str:
    return f"{run.short_id} {run.name or ''}".strip()


def compare_html(
    runs: Sequence[Run],
    histories: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]],
    *,
    metrics: Sequence[str] | None = None,
    differing: bool = False,
    curves: bool = True,
) -> str:
    """Runs side by side: overview, params (differences highlighted), tags, metrics
    (best run per metric highlighted) and each metric's curves overlaid."""
    head = "<th></th>" + "".join(
        f"<th><code>{esc(r.short_id)}</code> {esc(r.name or '')}</th>" for r in runs
    )
    parts = [f'<h4>Comparing {len(runs)} runs</h4>']

    def table(rows: list[tuple[str, list[str], list[bool]]]) -> str:
        body = []
        for label, cells, marks in rows:
            tds = "".join(
                (f'<td class="mj-diff">{cell}</td>' if mark else f"<td>{cell}</td>")
                for cell, mark in zip(cells, marks, strict=True)
            )
            body.append(f"<tr><th>{esc(label)}</th>{tds}</tr>")
        return f'<table class="mj-t"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'

    n = len(runs)
    overview = [
        ("status", [badge(r.status) for r in runs], [False] * n),
        ("experiment", [esc(r.experiment) for r in runs], [False] * n),
        ("started", [esc(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.start_time))) for r in runs], [False] * n),
        ("duration", [esc(fmt_duration(r.duration)) for r in runs], [False] * n),
        ("model", [esc(r.tags.get("mlops.autolog.estimator", "")) for r in runs], [False] * n),
    ]
    parts.append(table(overview))

    def kv_rows(dicts: list[dict[str, str]]) -> list[tuple[str, list[str], list[bool]]]:
        keys = sorted({k for d in dicts for k in d})
        rows = []
        for k in keys:
            vals = [d.get(k) for d in dicts]
            differs = len({v for v in vals}) > 1
            if differing and not differs:
                continue
            rows.append((k, ["" if v is None else esc(v) for v in vals], [differs] * n))
        return rows

    prow = kv_rows([r.params for r in runs])
    if prow:
        parts.append("<b>Parameters</b> <span class=\"mj-dim\">(highlighted: differs)</span>" + table(prow))
    elif differing:
        parts.append('<div class="mj-dim">no differing parameters</div>')
    trow = kv_rows([r.user_tags for r in runs])
    if trow:
        parts.append("<b>Tags</b>" + table(trow))
    keys = sorted({k for r in runs for k in r.metrics})
    if metrics:
        keys = [k for k in keys if k in set(metrics)]
    if keys:
        mrows = []
        for k in keys:
            direction = metric_direction(k)
            bests = [
                (getattr(r.metrics[k], direction) if k in r.metrics else None) for r in runs
            ]
            finite = [b for b in bests if b is not None and not math.isnan(b)]
            target = (min(finite) if direction == "min" else max(finite)) if finite else None
            cells = []
            for r, b in zip(runs, bests, strict=True):
                if k not in r.metrics:
                    cells.append("")
                    continue
                m = r.metrics[k]
                cells.append(
                    f"{esc(fmt_value(b))} <span class=\"mj-dim\">last {esc(fmt_value(m.last))}"
                    f" @{esc(m.last_step)}</span>"
                )
            marks = [b is not None and b == target and len(finite) > 1 for b in bests]
            mrows.append((f"{k} {_arrow(k)}", cells, marks))
        parts.append("<b>Metrics</b> <span class=\"mj-dim\">(best value; highlighted: best run)</span>" + table(mrows))
        charts = []
        for k in (keys if curves else []):
            series = {
                _label(r): _downsample(histories.get(r.id, {}).get(k, []))
                for r in runs if histories.get(r.id, {}).get(k)
            }
            if series:
                charts.append(
                    f'<div style="display:inline-block;margin:4px 12px 4px 0;vertical-align:top">'
                    f"<b>{esc(k)}</b>{sparkline_svg(series)}</div>"
                )
        if charts:
            parts.append("<div>" + "".join(charts) + "</div>")
    return f'{CSS}<div class="mj"><div class="mj-card">{"".join(parts)}</div></div>'


def _downsample(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    pts = list(points)
    if len(pts) <= MAX_CURVE_POINTS:
        return pts
    stride = math.ceil(len(pts) / MAX_CURVE_POINTS)
    out = pts[::stride]
    if out[-1] != pts[-1]:
        out.append(pts[-1])
    return out
