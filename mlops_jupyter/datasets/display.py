"""Rich displays for versions (the EDA profile), diffs and validation reports.

Static HTML first (it survives papermill and nbconvert); every piece of user text —
names, descriptions, column names, category values, paths — goes through ``esc``.
Histograms are tiny inline SVGs built from the stored profile, so showing a version
never reloads its data. ``version_panel`` wraps the same HTML in ipywidgets tabs for a
live kernel.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlops_jupyter.display.html import badge, card, esc, fmt_value, kv_table, table

if TYPE_CHECKING:
    from mlops_jupyter.datasets.diff import DatasetDiff
    from mlops_jupyter.datasets.validate import ValidationReport
    from mlops_jupyter.datasets.version import DatasetVersion

MAX_COLUMNS_SHOWN = 60


def histogram_svg(counts: list[int], width: int = 120, height: int = 28) -> str:
    """Bars for histogram counts (no axes: a glance, with exact numbers beside it)."""
    if not counts:
        return ""
    top = max(counts) or 1
    w = width / len(counts)
    bars = "".join(
        f'<rect x="{i * w:.1f}" y="{height - c / top * height:.1f}" width="{max(w - 1, 0.5):.1f}" '
        f'height="{c / top * height:.1f}" fill="#1565c0"/>'
        for i, c in enumerate(counts)
    )
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" style="background:#f7f7f7">{bars}</svg>'
    )


def _bar(frac: float, width: int = 60) -> str:
    frac = min(max(frac, 0.0), 1.0)
    return (
        f'<svg width="{width}" height="8" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="{width}" height="8" fill="#eee"/>'
        f'<rect width="{frac * width:.1f}" height="8" fill="#c62828"/></svg>'
    )


def _size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)  # pragma: no cover


def _title(v: DatasetVersion) -> str:
    return (
        f"Dataset <code>{esc(v.ref)}</code> {badge(v.kind, 'mj-run')} "
        f'<span class="mj-dim">{esc(v.short_digest)}</span>'
    )


def overview_html(v: DatasetVersion) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(v.created_at))
    items: list[tuple[str, Any]] = []
    if v.rows is not None:
        items.append(("shape", f"{v.rows} rows x {v.columns} columns"))
    items += [
        ("size", _size(v.size)), ("content hash", v.digest), ("source", v.source),
        ("created", f"{when} by {v.creator or '?'}"),
        ("parent", f"{v.name}@v{v.parent_version}" if v.parent_version else None),
        ("run", (v.run_id or "")[:8] or None), ("key", ", ".join(v.key) or None),
        ("description", v.description),
    ]
    if v.kind == "folder" and v.profile:
        exts = ", ".join(f"{k} ({n})" for k, n in v.profile.get("extensions", {}).items())
        items.append(("files", f"{v.profile.get('files')}: {exts}"))
    return kv_table([(k, val) for k, val in items if val not in (None, "")])


def schema_html(v: DatasetVersion) -> str:
    cols = (v.profile or {}).get("columns", [])
    if not cols:
        return ""
    rows = []
    for c in cols[:MAX_COLUMNS_SHOWN]:
        frac = float(c.get("null_fraction") or 0.0)
        missing = f'{_bar(frac)} {esc(c["nulls"])} ({frac:.1%})'
        rows.append([c["name"], c["dtype"], missing, c.get("n_unique"), _range_text(c)])
    note = _more(len(cols))
    return table(["column", "dtype", "missing", "distinct", "range"], rows, raw_columns=[2]) + note


def _more(n: int) -> str:
    if n <= MAX_COLUMNS_SHOWN:
        return ""
    return f'<div class="mj-dim">… {n - MAX_COLUMNS_SHOWN} more columns</div>'


def _range_text(c: dict[str, Any]) -> str:
    if c.get("min") is not None:
        return f"{fmt_value(c['min'], 4)} … {fmt_value(c['max'], 4)}"
    if c.get("top"):
        return f"{len(c['top'])} top value(s) shown below"
    return ""


def columns_html(v: DatasetVersion) -> str:
    cols = (v.profile or {}).get("columns", [])
    rows = []
    for c in cols[:MAX_COLUMNS_SHOWN]:
        if c.get("histogram"):
            h = c["histogram"]
            stats = ", ".join(
                f"{k} {fmt_value(c[k], 4)}" for k in ("mean", "std") if c.get(k) is not None
            )
            q = c.get("quantiles") or {}
            if q:
                stats += f"; median {fmt_value(q.get('p50'), 4)}"
            lo, hi = fmt_value(h["edges"][0], 4), fmt_value(h["edges"][-1], 4)
            dist = f'{histogram_svg(h["counts"])}<div class="mj-dim">{esc(lo)} … {esc(hi)}</div>'
            rows.append([c["name"], dist, stats])
        elif c.get("top") is not None:
            total = max(c.get("count") or 1, 1)
            top = c["top"][:8]
            lines = "".join(
                f"<div>{_bar(n / total, 40)} {esc(fmt_value(val))} "
                f'<span class="mj-dim">{esc(n)}</span></div>' for val, n in top
            )
            if c.get("other"):
                lines += f'<div class="mj-dim">other values: {esc(c["other"])}</div>'
            rows.append([c["name"], lines, f"{c.get('n_unique')} distinct"])
    if not rows:
        return ""
    return table(["column", "distribution", "statistics"], rows, raw_columns=[1]) + _more(len(cols))


def version_html(v: DatasetVersion) -> str:
    parts = [overview_html(v)]
    schema = schema_html(v)
    if schema:
        parts.append("<b>Schema and missing values</b>" + schema)
    cols = columns_html(v)
    if cols:
        parts.append("<details open><summary><b>Columns</b></summary>" + cols + "</details>")
    return card(_title(v), "".join(parts))


def version_panel(v: DatasetVersion) -> Any:
    """An ipywidgets Tab (Overview / Schema / Columns) holding the static HTML."""
    import ipywidgets as w

    from mlops_jupyter.display.html import CSS

    pages = [("Overview", overview_html(v)), ("Schema", schema_html(v)), ("Columns", columns_html(v))]
    pages = [(t, h) for t, h in pages if h]
    tab = w.Tab(children=[w.HTML(f'{CSS}<div class="mj">{h}</div>') for _, h in pages])
    for i, (t, _) in enumerate(pages):
        tab.set_title(i, t)
    from mlops_jupyter.display.panel import with_static

    box = w.VBox([w.HTML(f'{CSS}<div class="mj"><h4>{_title(v)}</h4></div>'), tab])
    return with_static(box, lambda: version_html(v))


def diff_html(d: DatasetDiff) -> str:
    title = (
        f"Diff <code>{esc(d.a.ref)}</code> &rarr; <code>{esc(d.b.ref)}</code> "
        + (badge("identical", "mj-ok") if d.identical else badge("changed", "mj-warn"))
    )
    summary: list[tuple[str, Any]] = []
    if d.rows_before is not None:
        delta = (d.rows_after or 0) - d.rows_before
        summary.append(("rows", f"{d.rows_before} -> {d.rows_after} ({delta:+d})"))
    if d.rows_added is not None:
        how = f"by key {', '.join(d.key)}" if d.key else "by row hash"
        changed = f", {d.rows_changed} changed" if d.rows_changed is not None else ""
        summary.append(("rows added / removed", f"+{d.rows_added} / -{d.rows_removed}{changed} ({how})"))
    summary.append(("content hash", f"{d.a.short_digest} -> {d.b.short_digest}"))
    parts = [kv_table(summary)]
    if len(d.schema_changes):
        parts.append("<b>Schema changes</b>" + table(list(d.schema_changes.columns), d.schema_changes.itertuples(index=False)))
    if len(d.stats):
        rows = [
            [r.column, r.statistic, r.before, r.after, "" if r.change is None or r.change != r.change else f"{r.change:+.1%}"]
            for r in d.stats.itertuples(index=False)
        ]
        parts.append("<b>Statistic changes</b>" + table(["column", "statistic", "before", "after", "change"], rows))
    for label, ex in (("Added rows (examples)", d.added_examples), ("Removed rows (examples)", d.removed_examples)):
        if ex is not None and len(ex):
            parts.append(f"<b>{esc(label)}</b>" + _frame_table(ex))
    if d.files is not None and len(d.files):
        parts.append("<b>Files</b>" + table(list(d.files.columns), d.files.itertuples(index=False)))
    return card(title, "".join(parts))


def _frame_table(df: Any) -> str:
    return table([str(c) for c in df.columns], df.itertuples(index=False))


def report_html(r: ValidationReport) -> str:
    title = f"Validation against <code>{esc(r.reference)}</code> " + badge("PASSED" if r.ok else "FAILED")
    info = kv_table([
        ("rows checked", r.rows), ("columns in schema", r.columns_checked),
        ("tolerance", f"{r.tolerance:g} of each seen range"), ("violations", len(r.violations)),
    ])
    body = info
    if not r.ok:
        body += table(VIOLATION_HEAD, r.violations[VIOLATION_HEAD].itertuples(index=False))
    return card(title, body)


VIOLATION_HEAD = ["column", "kind", "message", "count", "examples"]
