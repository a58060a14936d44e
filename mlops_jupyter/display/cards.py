"""Static HTML cards for store entities (what a notebook shows under a cell)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from mlops_jupyter.display.html import badge, card, esc, fmt_duration, fmt_value, kv_table, table

if TYPE_CHECKING:
    from mlops_jupyter.store.entities import Run


#: a card lists at most this many params and metrics: a run logging 100,000 metric keys
#: must not write megabytes of HTML into the notebook (the rest: mj.get_run, mj.runs)
MAX_ROWS = 50


def _more(n: int) -> str:
    if n <= MAX_ROWS:
        return ""
    return f'<div class="mj-dim">… and {n - MAX_ROWS:,} more (mj.get_run(…) has them all)</div>'


def run_card(run: Run) -> str:
    duration = run.duration if run.end_time is not None else time.time() - run.start_time
    title = (
        f"Run {esc(run.name or '')} <code>{esc(run.short_id)}</code> {badge(run.status)} "
        f'<span class="mj-dim">{esc(run.experiment)} · {esc(fmt_duration(duration))}</span>'
    )
    parts = []
    if run.params:
        items = sorted(run.params.items())
        parts.append("<b>Parameters</b>" + kv_table(items[:MAX_ROWS]) + _more(len(items)))
    if run.metrics:
        rows = []
        for k, m in sorted(run.metrics.items())[:MAX_ROWS]:
            rows.append([k, m.last, m.last_step, m.min, m.max, m.count])
        parts.append(
            "<b>Metrics</b>"
            + table(["metric", "last", "step", "min", "max", "points"], rows)
            + _more(len(run.metrics))
        )
    if run.error:
        msg = f"{run.error.get('type', '')}: {run.error.get('message', '')}"
        parts.append(f'<b>Error</b><pre style="white-space:pre-wrap">{esc(msg)}</pre>')
    model = run.tags.get("mlops.autolog.estimator")
    prov = {
        "source": run.source,
        "git": (run.git_commit or "")[:12] + (" (dirty)" if run.git_dirty else ""),
        "user@host": f"{run.user or ''}@{run.host or ''}",
        "python": run.tags.get("mlops.python"),
        "job": run.job_id,
        "parent run": (run.parent_id or "")[:8] or None,
        "model": model,
        "cell": _cell_provenance(run.tags),
    }
    parts.append(
        "<details><summary>Provenance</summary>"
        + kv_table([(k, v) for k, v in prov.items() if v])
        + "</details>"
    )
    if run.user_tags:
        parts.append("<b>Tags</b>" + kv_table(sorted(run.user_tags.items())))
    return card(title, "".join(parts))


def _cell_provenance(tags: dict[str, str]) -> str | None:
    """``In[7] · out of order · missing code`` for runs of tracked notebook cells."""
    count = tags.get("mlops.cell.execution_count")
    if count is None:
        return None
    flags = [f"In[{count}]"]
    if tags.get("mlops.cell.out_of_order") == "true":
        flags.append("cells ran out of order")
    if tags.get("mlops.cell.missing_code") == "true":
        flags.append("used code no longer in the notebook")
    return " · ".join(flags)


def finite(v: float | None) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


__all__ = ["run_card", "fmt_value"]
