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

__all__ = ["compare_html", "differing_keys", "metric_direction", "runs_table_html"]

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


def runs_table_html(
    df: pd.DataFrame, *, differing: bool = False, title: str | None = None,
    note: str | None = None,
) -> str:
    """The runs table: id, name, status, duration, params, best value of each metric."""
    cols = list(df.columns)
    params = [c for c in cols if c.startswith("params.")]
    metrics = [
        c for c in cols
        if c.startswith("metrics.") and not c.endswith((".min", ".max"))
    ]
    records = df.to_dict("records")
    if differing and len(records) > 1:
        params = differing_keys(records, params)
    head = ["run", "name", "status", "experiment", "started", "duration"]
    head_html = "".join(f"<th>{esc(h)}</th>" for h in head)
    head_html += "".join(f'<th title="parameter">{esc(p[7:])}</th>' for p in params)
    for m in metrics:
        name = m[8:]
        head_html += (
            f'<th title="best value over all steps ({esc(metric_direction(name))}imum)">'
            f"{esc(name)} {_arrow(name)}</th>"
        )
    body = []
    for r in records:
        started = r.get("start_time")
        started_txt = started.strftime("%Y-%m-%d %H:%M:%S") if hasattr(started, "strftime") else ""
        cells = [
            f"<td><code>{esc(str(r.get('run_id', ''))[:8])}</code></td>",
            f"<td>{esc(r.get('name') or '')}</td>",
            f"<td>{badge(str(r.get('status', '')))}</td>",
            f"<td>{esc(r.get('experiment') or '')}</td>",
            f"<td>{esc(started_txt)}</td>",
            f"<td>{esc(fmt_duration(r.get('duration_s')))}</td>",
        ]
        for p in params:
            v = r.get(p)
            cells.append(f"<td>{'' if _isnan(v) else esc(fmt_value(v))}</td>")
        for m in metrics:
            name = m[8:]
            best = r.get(f"{m}.{metric_direction(name)}")
            last = r.get(m)
            tip = f' title="last: {esc(fmt_value(last))}"' if not _isnan(last) else ""
            cells.append(f"<td{tip}>{'' if _isnan(best) else esc(fmt_value(best))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = esc(title) if title else f"{len(records)} run{'s' if len(records) != 1 else ''}"
    extra = f' <span class="mj-dim">{esc(note)}</span>' if note else ""
    if differing:
        extra += ' <span class="mj-dim">· differing params only</span>'
    table = (
        f'<table class="mj-t mj-runs"><thead><tr>{head_html}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table>'
    )
    if not records:
        table = '<div class="mj-dim">no runs match</div>'
    return f'{CSS}<div class="mj"><h4>{caption}{extra}</h4>{table}</div>'


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
