"""``mlops run | templates | jobs | job show | reproduce | sweep``.

Exit status: 0 the job finished and its gates passed; 1 the job failed (cell error,
timeout, dead kernel) or a gate failed; 2 bad usage (nothing was run or recorded);
130 / 143 when SIGINT / SIGTERM stopped it (the job is recorded KILLED first).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

from mlops_jupyter.cli.output import fmt, print_json, print_kv, print_table
from mlops_jupyter.errors import ConflictError, UsageError


def _common_job_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a template parameter (repeatable); checked against the parameters cell")
    p.add_argument("--gate", action="append", default=[], metavar="EXPR",
                   help="quality gate on the job's runs, e.g. auc>=0.85 (repeatable)")
    p.add_argument("--kernel", help="kernel name (default: the notebook's kernelspec)")
    p.add_argument("--timeout", type=float, help="seconds the whole job may take")
    p.add_argument("--path", action="append", default=[], metavar="DIR",
                   help="a folder of team templates, searched first (repeatable)")
    p.add_argument("--experiment", "-e", help="experiment for the runs the notebook makes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the job as JSON")
    p.add_argument("--executor", metavar="local|dask[:ADDRESS]",
                   help="where jobs run: local (default), dask (a LocalCluster) or dask:ADDRESS")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a template notebook as a recorded job (papermill)")
    p.add_argument("template", help="template name (see `mlops templates`) or a .ipynb path")
    _common_job_args(p)
    p.add_argument("--output", "-o", help="where to write the executed notebook (.ipynb)")
    p.add_argument("--dry-run", action="store_true", help="check template and parameters, run nothing")
    p.add_argument("--parent-job", help=argparse.SUPPRESS)  # used by sweeps
    p.add_argument("--job-id", help=argparse.SUPPRESS)
    p.add_argument("--params-json", help=argparse.SUPPRESS)
    p.add_argument("--watch-parent", type=int, help=argparse.SUPPRESS)  # executors' children
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("templates", help="list templates with their parameters")
    p.add_argument("--path", action="append", default=[], metavar="DIR", help="a team template folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("jobs", help="list recorded jobs (newest first)")
    p.add_argument("--status", help="RUNNING, FINISHED, FAILED, TIMEOUT or KILLED")
    p.add_argument("--parent", help="only the jobs of this sweep")
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("job", help="one job: `mlops job show ID`")
    jsub = p.add_subparsers(dest="job_command", metavar="ACTION")
    s = jsub.add_parser("show", help="show a job, its gates, runs and output notebook")
    s.add_argument("job")
    s.add_argument("--notebook", metavar="PATH", help="also write its output notebook to PATH")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_job_show)

    p = sub.add_parser("reproduce", help="re-execute a run's template or code and compare")
    p.add_argument("run", help="run id or unique prefix")
    p.add_argument("--tolerance", help="fail (exit 1) when a metric differs by more: 0.001 or 1%%")
    p.add_argument("--ignore", action="append", default=[], metavar="METRIC",
                   help="leave METRIC out of the comparison (repeatable); timing metrics "
                   "such as fit_time_s are always left out unless --compare-timing")
    p.add_argument("--compare-timing", action="store_true",
                   help="compare timing metrics (fit_time_s, *_duration, ...) too")
    p.add_argument("--timeout", type=float)
    p.add_argument("--kernel")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("sweep", help="a grid of jobs in parallel processes, then a comparison table")
    p.add_argument("template")
    _common_job_args(p)
    p.add_argument("--parallel", type=int, default=2, help="jobs at once (default 2)")
    p.add_argument("--sort", help="metric to sort the table by (descending; prefix - for ascending)")
    p.set_defaults(func=cmd_sweep)


# -- run ------------------------------------------------------------------------------
def _print_job(job: Any) -> None:
    r = job.record
    dur = f" in {r.duration:.1f} s" if r.duration is not None else ""
    print(f"job       {r.id[:8]} {r.name} {r.status}{dur}")
    for run in job.runs:
        metrics = " ".join(f"{k}={fmt(m.last)}" for k, m in sorted(run.metrics.items())[:8])
        print(f"run       {run.id[:8]} ({run.name or 'unnamed'}, {run.experiment}) {metrics}")
        for model in _models_of_run(run.id):
            print(f"model     {model}")
    for g in r.gates:
        state = "passed" if g.get("passed") else "FAILED"
        value = f"{g.get('metric')}={fmt(g.get('value'))}" if g.get("value") is not None else g.get("reason", "")
        print(f"gate      {g.get('expr')} {state}: {value}")
    if r.error and r.error.get("type") != "GateFailed":
        from mlops_jupyter.jobs.job import _where

        print(f"error     {r.error.get('type')}{_where(r.error)}: {r.error.get('message')}")
    if r.output_path:
        print(f"notebook  {r.output_path}")


def _models_of_run(run_id: str) -> list[str]:
    from mlops_jupyter.tracking.session import get_store

    finder = getattr(get_store(), "model_versions_of_run", None)
    if finder is None:
        return []
    try:
        out = []
        for name, version in finder(run_id):
            rejected = get_store().get_model_version(name, version=version).tags.get("mlops.rejected")
            out.append(f"{name}@v{version}" + (f" (rejected: {rejected[:160]})" if rejected else ""))
        return out
    except Exception:  # noqa: BLE001 - listing is informative only
        return []


def _is_job_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def _exit_code(job: Any) -> int:
    return 0 if job.ok else 1


def _interrupted(e: BaseException) -> int:
    signum = getattr(e, "signum", signal.SIGINT)
    print(f"mlops: job stopped by {signal.Signals(signum).name}; recorded as KILLED", file=sys.stderr)
    return 128 + int(signum)


def _watch_parent(pid: int) -> None:
    """Stop this job (recorded KILLED, kernel killed) if the process that started it, a
    Dask worker, disappears: an orphaned job would run on unseen and unstoppable."""
    import os
    import threading

    from mlops_jupyter.jobs import runner

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(0.5)
        runner.STOP_REASON = "the worker process that started this job (or its job server) was lost"
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="mlops-watch-parent", daemon=True).start()


def cmd_run(args: argparse.Namespace) -> int:
    from mlops_jupyter.jobs import api, parameters, runner

    values: dict[str, Any] = parameters.parse_pairs(args.param)
    from_text = True
    if args.params_json:  # a sweep's child: typed values, validated again here
        if values:
            raise UsageError("give parameters either with -p or with --params-json")
        try:
            values = json.loads(args.params_json)
        except ValueError:
            raise UsageError("--params-json must be a JSON object") from None
        from_text = False
    for ident in (args.job_id, args.parent_job):
        if ident is not None and not _is_job_id(ident):
            raise UsageError(f"invalid job id {ident!r}")
    prep = api.prepare(args.template, values, args.gate, args.output, args.kernel, args.timeout,
                       paths=args.path or None, from_text=from_text)
    from mlops_jupyter.jobs import executors

    ex_name, _ = executors.parse(args.executor)
    if args.dry_run:
        print(f"template  {prep.name} ({prep.template})")
        print(f"kernel    {prep.kernel}")
        print_kv(sorted((f"param {k}", repr(v)) for k, v in prep.values.items()))
        print("ok: nothing was run")
        return 0
    if args.watch_parent:
        _watch_parent(args.watch_parent)
    try:
        if ex_name != "local":
            from mlops_jupyter.jobs import fanout

            if args.output:
                raise UsageError("--output applies to jobs run here; drop it with --executor")
            job = fanout.run_one(prep, args.executor, experiment=args.experiment,
                                 progress=not args.no_progress, parent_id=args.parent_job)
        else:
            job = api.execute(prep, progress=not args.no_progress, experiment=args.experiment,
                              parent_id=args.parent_job, job_id=args.job_id)
    except (runner.Terminated, KeyboardInterrupt) as e:
        return _interrupted(e)
    except ConflictError as e:
        if args.job_id is None:
            raise
        print(f"mlops run: {e}", file=sys.stderr)
        return executors.EXIT_ALREADY_STARTED
    if args.json:
        print_json(job.to_dict())
    else:
        _print_job(job)
    if not job.ok:
        print(f"mlops run: {job.describe_failure()}", file=sys.stderr)
    return _exit_code(job)


# -- templates, jobs ------------------------------------------------------------------
def cmd_templates(args: argparse.Namespace) -> int:
    from mlops_jupyter.jobs import templates

    found = templates.discover(args.path or None)
    if args.json:
        print_json([{
            "name": t.name, "path": str(t.path), "source": t.source, "description": t.description,
            "parameters": [{"name": p.name, "type": p.describe_type(), "default": p.default_text,
                            "help": p.help} for p in t.params.values()],
        } for t in found])
        return 0
    if not found:
        print("no templates found")
        return 0
    for t in found:
        print(f"{t.name}  [{t.source}]  {t.path}")
        if t.description:
            print(f"  {t.description}")
        if not t.parameters.found:
            print("  (no cell tagged 'parameters')")
        for p in t.params.values():
            help_ = f"  # {p.help}" if p.help else ""
            print(f"  -p {p.name}={p.default_text}  ({p.describe_type()}){help_}")
        print()
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from mlops_jupyter.jobs import api

    jobs = api.list_jobs(parent=args.parent, status=args.status.upper() if args.status else None,
                         limit=args.limit)
    if args.json:
        print_json([j.to_dict() for j in jobs])
        return 0
    rows = []
    for j in jobs:
        r = j.record
        progress = f"{r.cells_done or 0}/{r.cells_total}" if r.status == "RUNNING" and r.cells_total else ""
        rows.append([r.id[:8], r.name, r.kind, r.status, progress,
                     time.strftime("%Y-%m-%d %H:%M", time.localtime(r.start_time)),
                     f"{r.duration:.1f}" if r.duration is not None else "", (r.parent_id or "")[:8]])
    print_table(["job", "name", "kind", "status", "cells", "started", "seconds", "parent"], rows)
    return 0


def cmd_job_show(args: argparse.Namespace) -> int:
    from mlops_jupyter.jobs import api

    job = api.get_job(args.job)
    if args.json:
        print_json(job.to_dict())
    else:
        r = job.record
        print_kv([
            ("job", r.id), ("template", r.template), ("template hash", r.template_digest),
            ("kind", r.kind), ("status", r.status), ("kernel", r.kernel), ("user@host", f"{r.user}@{r.host}"),
            ("started", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.start_time))),
            ("duration", f"{r.duration:.2f} s" if r.duration is not None else "running"),
            ("cells", f"{r.cells_done}/{r.cells_total}"), ("parent job", r.parent_id),
            ("reproduces run", r.source_run_id),
        ])
        if r.parameters:
            print("\nparameters")
            print_kv(sorted((k, repr(v)) for k, v in r.parameters.items()))
        print()
        _print_job(job)
    if args.notebook:
        print(f"output notebook written to {job.save_notebook(args.notebook)}")
    return 0


# -- reproduce, sweep -----------------------------------------------------------------
def cmd_reproduce(args: argparse.Namespace) -> int:
    from mlops_jupyter.jobs import reproduction, runner

    try:
        rep = reproduction.reproduce(args.run, tolerance=args.tolerance, timeout=args.timeout,
                                     ignore=args.ignore, ignore_timing=not args.compare_timing,
                                     kernel=args.kernel, progress=not args.no_progress)
    except (runner.Terminated, KeyboardInterrupt) as e:
        return _interrupted(e)
    if args.json:
        print_json(rep.to_dict())
    else:
        print(rep.summary())
    return 0 if rep.ok else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    from mlops_jupyter.jobs import runner, sweeps

    grid = sweeps.parse_grid(args.param)
    try:
        sw = sweeps.sweep(args.template, grid, gates=args.gate, parallel=args.parallel,
                          kernel=args.kernel, timeout=args.timeout, paths=args.path or None,
                          experiment=args.experiment, progress=not args.no_progress, from_text=True,
                          executor=args.executor)
    except (runner.Terminated, KeyboardInterrupt) as e:
        return _interrupted(e)
    if args.json:
        print_json(sw.to_dict())
    else:
        print(sw.summary(sort=args.sort))
    return 0 if sw.ok else 1
