"""Static HTML for jobs and templates (survives papermill/nbconvert, escapes everything).

The job card embeds a compact rendering of the executed output notebook inside a
``<details>`` element, so the notebook a CI job produced is readable from the job's own
display without opening another file. Outputs are rendered as escaped text; only PNG
and JPEG images pass through, as base64 data URLs that were validated to be base64.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import TYPE_CHECKING, Any

from mlops_jupyter.display.html import badge, card, esc, fmt_duration, kv_table, table

if TYPE_CHECKING:
    from mlops_jupyter.jobs.job import Job
    from mlops_jupyter.jobs.templates import Template

MAX_TEXT_OUTPUT = 4000
MAX_IMAGE_B64 = 2_000_000


def _src(cell: Any) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else str(s)


def _output_html(out: Any) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        text = out.get("text", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        return f'<pre class="mj-dim">{esc(text[-MAX_TEXT_OUTPUT:])}</pre>'
    if kind == "error":
        import re

        tb = "\n".join(out.get("traceback") or [])
        tb = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", tb)
        return f'<pre style="color:#c62828">{esc(tb[-MAX_TEXT_OUTPUT:])}</pre>'
    data = out.get("data") or {}
    for mime in ("image/png", "image/jpeg"):
        raw = data.get(mime)
        if isinstance(raw, list):
            raw = "".join(raw)
        if isinstance(raw, str) and len(raw) < MAX_IMAGE_B64:
            try:
                base64.b64decode(raw.replace("\n", ""), validate=True)
            except (binascii.Error, ValueError):
                continue
            return f'<img style="max-width:480px" src="data:{mime};base64,{esc(raw.strip())}">'
    text = data.get("text/plain")
    if text is not None:
        text = "".join(text) if isinstance(text, list) else str(text)
        return f"<pre>{esc(text[:MAX_TEXT_OUTPUT])}</pre>"
    return ""


def notebook_html(nb: Any, max_cells: int = 200) -> str:
    parts = []
    for i, cell in enumerate(nb.get("cells", [])[:max_cells]):
        if cell.get("cell_type") == "markdown":
            parts.append(f'<div class="mj-dim" style="white-space:pre-wrap">{esc(_src(cell)[:2000])}</div>')
            continue
        if cell.get("cell_type") != "code":
            continue
        tags = (cell.get("metadata") or {}).get("tags") or []
        label = f"[{i}]" + (f" ({', '.join(map(str, tags))})" if tags else "")
        parts.append(
            f'<div style="margin:4px 0"><span class="mj-dim">{esc(label)}</span>'
            f'<pre style="background:var(--jp-layout-color2,#f6f6f6);padding:4px">{esc(_src(cell))}</pre>'
            + "".join(_output_html(o) for o in cell.get("outputs", []) or [])
            + "</div>"
        )
    return "".join(parts)


def job_sections(job: Job) -> tuple[str, list[tuple[str, str]]]:
    """(title, [(label, html), ...]): the job's display, shared by the static card and
    the live panel."""
    r = job.record
    duration = r.duration if r.end_time is not None else time.time() - r.start_time
    progress = ""
    if r.status == "RUNNING" and r.cells_total:
        progress = f" · cell {r.cells_done or 0}/{r.cells_total}"
    title = (
        f"Job {esc(r.name or '')} <code>{esc(r.short_id)}</code> {badge(r.status)} "
        f'<span class="mj-dim">{esc(r.kind)} · {esc(fmt_duration(duration))}{esc(progress)}</span>'
    )
    summary = []
    if r.parameters:
        summary.append("<b>Parameters</b>" + kv_table(sorted((k, repr(v)) for k, v in r.parameters.items())))
    if r.gates:
        rows = [[g.get("expr"), g.get("value"), "passed" if g.get("passed") else "FAILED",
                 g.get("reason", "")] for g in r.gates]
        summary.append("<b>Gates</b>" + table(["gate", "value", "result", "why"], rows))
    if r.error:
        from mlops_jupyter.jobs.job import _where

        msg = f"{r.error.get('type', '')}{_where(r.error)}: {r.error.get('message', '')}"
        summary.append(f'<b>Error</b><pre style="white-space:pre-wrap">{esc(msg)}</pre>')
    summary.append(kv_table([
        ("template", r.template), ("template hash", (r.template_digest or "")[:16]),
        ("kernel", r.kernel), ("output notebook", r.output_path), ("user@host", f"{r.user}@{r.host}"),
        ("parent job", (r.parent_id or "")[:8] or None),
    ]))
    try:
        runs = job.runs
    except Exception:  # noqa: BLE001 - a display must not raise
        runs = []
    runs_html = ""
    if runs:
        rows = []
        for run in runs:
            metrics = ", ".join(f"{k}={m.last:.4g}" for k, m in sorted(run.metrics.items())[:6])
            rows.append([run.short_id, run.name, run.experiment, run.status, metrics])
        runs_html = "<b>Runs</b>" + table(["run", "name", "experiment", "status", "metrics"], rows)
    notebook = ""
    if r.output_blob:
        try:
            notebook = notebook_html(job.notebook())
        except Exception as e:  # noqa: BLE001
            notebook = f"<i>cannot read the output notebook: {esc(e)}</i>"
    return title, [("Summary", "".join(summary)), ("Runs", runs_html), ("Output notebook", notebook)]


def job_card(job: Job) -> str:
    title, sections = job_sections(job)
    summary, runs_html, notebook = (html for _, html in sections)
    parts = [summary, runs_html]
    if notebook:
        parts.append(f"<details><summary>Output notebook</summary>{notebook}</details>")
    return card(title, "".join(parts))


def template_card(tpl: Template) -> str:
    title = f"Template {esc(tpl.name)} <span class=\"mj-dim\">{esc(tpl.source)} · {esc(tpl.path)}</span>"
    rows = [[p.name, p.describe_type(), p.default_text, p.help] for p in tpl.params.values()]
    body = f"<p>{esc(tpl.description)}</p>"
    if tpl.parameters.found:
        body += table(["parameter", "type", "default", "help"], rows)
    else:
        body += "<i>no cell tagged 'parameters'</i>"
    return card(title, body)


def jobs_table(jobs: list[Job]) -> str:
    rows = [[j.record.short_id, j.record.name, j.record.kind, j.record.status,
             fmt_duration(j.record.duration), j.record.output_path] for j in jobs]
    return card("Jobs", table(["job", "name", "kind", "status", "time", "output"], rows))
