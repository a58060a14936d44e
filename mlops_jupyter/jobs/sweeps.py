"""``mlops sweep``: a grid of jobs run in parallel local processes under one parent job.

Every combination is validated before anything runs (a typo in one value fails the
sweep with exit 2, not after an hour). Each job runs in its own ``mlops run`` process
(its own papermill, its own kernel), so a crash in one cannot take the others down and
the store's multi-writer rules are what keep them consistent. The parent process only
schedules, forwards SIGTERM/SIGINT to its children (which record themselves KILLED and
kill their kernels), and finishes the parent record with a comparison table.
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_jupyter.errors import UsageError
from mlops_jupyter.jobs import api, executors, fanout
from mlops_jupyter.jobs.job import Job
from mlops_jupyter.jobs.parameters import check_name
from mlops_jupyter.jobs.runner import Terminated
from mlops_jupyter.store.sql.jobs import JOB_FAILED, JOB_FINISHED, JOB_KILLED

MAX_JOBS = 1000


def parse_grid(pairs: Iterable[str]) -> dict[str, list[str]]:
    """``["lr=0.1,0.01", "depth=3,5"]`` -> ``{"lr": ["0.1", "0.01"], "depth": ["3", "5"]}``."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, values = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"sweep parameter {pair!r} must be written name=v1,v2,...")
        check_name(name)
        if name in grid:
            raise UsageError(f"sweep parameter {name!r} is given twice")
        grid[name] = [v for v in values.split(",")] if values != "" else [""]
    return grid


def combinations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if not isinstance(grid, Mapping):
        raise UsageError("grid must map parameter names to lists of values")
    names = list(grid)
    lists = []
    for n in names:
        vals = grid[n]
        if isinstance(vals, str) or not isinstance(vals, Sequence) or not vals:
            raise UsageError(f"grid values of {n!r} must be a non-empty list")
        lists.append(list(vals))
    total = 1
    for vals in lists:
        total *= len(vals)
    if total > MAX_JOBS:
        raise UsageError(f"the grid has {total} combinations; at most {MAX_JOBS} per sweep")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists)]


@dataclass
class Sweep:
    """A finished sweep: the parent job and one child job per combination."""

    parent: Job
    jobs: list[Job]

    @property
    def ok(self) -> bool:
        return bool(self.jobs) and all(j.ok for j in self.jobs)

    def table(self) -> Any:
        """One row per job: parameters, status, and the main run's latest metrics."""
        import pandas as pd

        rows = []
        for j in self.jobs:
            row: dict[str, Any] = {"job": j.record.id[:8], "status": j.record.status}
            row.update({f"params.{k}": v for k, v in j.record.parameters.items()})
            row.update({f"metrics.{k}": v for k, v in j.metrics().items()})
            row["seconds"] = j.record.duration
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self, sort: str | None = None) -> str:
        rows = self._rows(sort)
        n_ok = sum(j.ok for j in self.jobs)
        head = (f"sweep {self.parent.record.id[:8]} {self.parent.record.name}: {n_ok}/{len(self.jobs)} "
                f"jobs ok ({self.parent.record.status})")
        if not rows:
            return head
        cols = list(rows[0])
        for r in rows[1:]:
            cols += [c for c in r if c not in cols]
        widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
        lines = [head, "  ".join(c.ljust(widths[c]) for c in cols),
                 "  ".join("-" * widths[c] for c in cols)]
        lines += ["  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in cols) for r in rows]
        return "\n".join(line.rstrip() for line in lines)

    def _rows(self, sort: str | None) -> list[dict[str, Any]]:
        rows = []
        for j in self.jobs:
            row: dict[str, Any] = {"job": j.record.id[:8], "status": j.record.status}
            row.update({k: v for k, v in j.record.parameters.items()})
            row.update(j.metrics())
            rows.append(row)
        if sort:
            key, desc = (sort[1:], False) if sort.startswith("-") else (sort, True)
            present = [r for r in rows if isinstance(r.get(key), int | float)]
            missing = [r for r in rows if r not in present]
            rows = sorted(present, key=lambda r: r[key], reverse=desc) + missing
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent.to_dict(), "jobs": [j.to_dict() for j in self.jobs]}

    def _repr_html_(self) -> str:
        from mlops_jupyter.display.html import badge, card, esc, table

        rows = self._rows(None)
        cols = list(rows[0]) if rows else []
        body = table(cols, [[r.get(c) for c in cols] for r in rows]) if rows else "<i>no jobs</i>"
        title = f"Sweep {esc(self.parent.record.name)} <code>{esc(self.parent.record.id[:8])}</code> {badge(self.parent.record.status)}"
        return card(title, body)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def sweep(
    template: str | os.PathLike[str],
    grid: Mapping[str, Sequence[Any]],
    *,
    parameters: Mapping[str, Any] | None = None,
    gates: Iterable[str] | str | None = None,
    parallel: int = 2,
    kernel: str | None = None,
    timeout: float | None = None,
    paths: list[str | os.PathLike[str]] | None = None,
    experiment: str | None = None,
    progress: bool = True,
    from_text: bool = False,
    executor: str | executors.Executor | None = None,
) -> Sweep:
    """Run ``template`` once per combination of ``grid`` (plus fixed ``parameters``),
    each job in its own process, on ``executor``: ``"local"`` (default: ``parallel``
    processes here), ``"dask"`` (a LocalCluster of ``parallel`` workers) or
    ``"dask:ADDRESS"`` (your cluster). Ctrl-C cancels the jobs not yet finished.
    Returns the :class:`Sweep`."""
    if isinstance(parallel, bool) or not isinstance(parallel, int) or not 1 <= parallel <= 64:
        raise UsageError(f"parallel must be an integer from 1 to 64, got {parallel!r}")
    if not isinstance(executor, executors.Executor):
        executors.parse(executor)  # a bad spec fails before any check or job
    combos = combinations(grid)
    fixed = dict(parameters or {})
    overlap = set(fixed) & set(grid)
    if overlap:
        raise UsageError(f"parameters {sorted(overlap)} are both fixed and swept")
    # validate everything first: nothing runs unless every job would start
    preps = [api.prepare(template, {**fixed, **c}, gates, None, kernel, timeout, paths=paths,
                         from_text=from_text) for c in combos]
    from mlops_jupyter.store import current_config
    from mlops_jupyter.tracking.session import get_store

    st = get_store()
    ex = executors.get(executor, parallel)
    try:
        ex.check_store(current_config())
        return _sweep(st, ex, preps, grid, fixed, timeout, parallel, experiment, progress)
    finally:
        if ex is not executor:
            ex.close()


def _sweep(
    st: Any, ex: executors.Executor, preps: list[api.Prepared], grid: Mapping[str, Sequence[Any]],
    fixed: dict[str, Any], timeout: float | None, parallel: int, experiment: str | None,
    progress: bool,
) -> Sweep:
    first = preps[0]
    digest, _ = st.put_blob_bytes(first.template_bytes)
    child_ids = [uuid.uuid4().hex for _ in preps]
    parent = st.create_job(
        kind="sweep", name=first.name, template=first.template, template_digest=digest,
        parameters={"grid": {k: list(v) for k, v in grid.items()}, "fixed": fixed},
        gates=[{"expr": g.expr} for g in first.gates], kernel=first.kernel, timeout=timeout,
        cells_total=len(preps), details={"parallel": parallel, "jobs": child_ids, "executor": ex.describe()},
        parent_id=os.environ.get(api.ENV_JOB_ID) or None,
    )
    try:
        _run_children(preps, child_ids, parent.id, ex, experiment, progress)
    except (Terminated, KeyboardInterrupt) as e:
        st.finish_job(parent.id, JOB_KILLED, ended_by="signal",
                      error={"type": "Terminated", "message": str(e) or "interrupted"})
        raise
    jobs = []
    for jid in child_ids:
        try:
            jobs.append(Job(st.get_job(jid)))
        except Exception:  # noqa: BLE001 - a child that never started has no row
            continue
    n_bad = sum(not j.ok for j in jobs) + (len(child_ids) - len(jobs))
    status = JOB_FINISHED if n_bad == 0 else JOB_FAILED
    error = None if n_bad == 0 else {"type": "SweepFailed",
                                     "message": f"{n_bad} of {len(child_ids)} jobs failed"}
    final = st.finish_job(parent.id, status, error=error, cells_done=len(jobs))
    return Sweep(Job(final), jobs)


def _run_children(
    preps: list[api.Prepared], ids: list[str], parent_id: str, ex: executors.Executor,
    experiment: str | None, progress: bool,
) -> None:
    tasks = [fanout.make_task(p, jid, parent_id, experiment) for p, jid in zip(preps, ids, strict=True)]

    def report(res: executors.TaskResult, rec: Any) -> None:
        if rec is None or rec.status in (JOB_FINISHED, "FAILED") or not res.log_tail:
            return
        if res.returncode not in (0, 1, None) and not res.cancelled:
            print(f"job {res.task.job_id[:8]} ({res.task.label}): exit {res.returncode}\n"
                  f"{res.log_tail[-600:]}", file=sys.stderr)

    fanout.drive(ex, tasks, progress=progress, desc=f"sweep {parent_id[:8]}", on_result=report)
