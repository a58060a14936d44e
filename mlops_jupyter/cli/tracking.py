"""``mlops runs | show | compare | experiments | doctor``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from mlops_jupyter.cli.output import fmt, print_json, print_kv, print_table


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="list runs (newest first)")
    p.add_argument("--experiment", "-e", help="only this experiment")
    p.add_argument("--filter", help="pandas query, e.g. \"metrics.auc > 0.8\"")
    p.add_argument("--sort", help="column or metric name to sort by")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="show one run (id or unique prefix)")
    p.add_argument("run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("compare", help="compare runs side by side")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("experiments", help="list experiments")
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser("doctor", help="where the store is, its schema and counts")
    p.add_argument("--verify", action="store_true", help="re-hash every blob; report missing, corrupt and orphan blobs")
    p.add_argument("--clean", action="store_true",
                   help="remove leftover temporary files of killed writers, and incomplete uploads (never one a live writer holds)")
    p.add_argument("--older-than", type=float, default=3600.0, metavar="SECONDS",
                   help="with --clean: only files untouched this long (default 3600)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


def cmd_runs(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking import runs

    df = runs(experiment=args.experiment, filter=args.filter, sort=args.sort, limit=args.limit)
    if args.json:
        print(df.to_json(orient="records", date_format="iso", default_handler=str))
        return 0
    metric_cols = [c for c in df.columns if c.startswith("metrics.") and not c.endswith((".min", ".max"))]
    param_cols = [c for c in df.columns if c.startswith("params.")]
    cols = ["run_id", "name", "experiment", "status", "duration_s", *param_cols[:6], *metric_cols[:6]]
    rows = []
    for rec in df[cols].itertuples(index=False):
        r = list(rec)
        r[0] = r[0][:8]
        rows.append(r)
    headers = ["run", "name", "experiment", "status", "seconds"] + [c.split(".", 1)[1] for c in cols[5:]]
    print_table(headers, rows)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking import get_run

    run = get_run(args.run)
    if args.json:
        from dataclasses import asdict

        print_json(asdict(run))
        return 0
    print_kv([
        ("run", run.id), ("name", run.name), ("experiment", run.experiment), ("status", run.status),
        ("started", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.start_time))),
        ("duration", f"{run.duration:.2f} s" if run.duration is not None else "running"),
        ("user@host", f"{run.user}@{run.host}"), ("source", run.source),
        ("git", f"{run.git_commit or ''}{' (dirty)' if run.git_dirty else ''}"),
        ("job", run.job_id), ("parent", run.parent_id),
    ])
    if run.params:
        print("\nparameters")
        print_kv(sorted(run.params.items()))
    if run.metrics:
        print("\nmetrics")
        def shown(v: float) -> Any:
            return "nan" if v != v else v  # a logged NaN is information, not a blank

        print_table(["metric", "last", "step", "min", "max", "points"], [
            [k, shown(m.last), m.last_step, shown(m.min), shown(m.max), m.count]
            for k, m in sorted(run.metrics.items())
        ])
    if run.user_tags:
        print("\ntags")
        print_kv(sorted(run.user_tags.items()))
    if run.error:
        # stored error text is hostile: escape sequences never reach the terminal
        print(f"\nerror: {fmt(run.error.get('type'))}: {fmt(run.error.get('message'))}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking import get_run

    runs_ = [get_run(r) for r in args.runs]
    keys = sorted({k for r in runs_ for k in r.params})
    mkeys = sorted({k for r in runs_ for k in r.metrics})
    headers = ["", *[r.short_id for r in runs_]]
    rows: list[list[Any]] = [["name", *[r.name for r in runs_]], ["status", *[r.status for r in runs_]]]
    for k in keys:
        vals = [r.params.get(k) for r in runs_]
        mark = " *" if len(set(vals)) > 1 else ""
        rows.append([f"params.{k}{mark}", *vals])
    for k in mkeys:
        rows.append([f"metrics.{k}", *[r.metrics[k].last if k in r.metrics else None for r in runs_]])
    print_table(headers, rows)
    print("(* parameters that differ)")
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking.session import get_store

    exps = get_store().list_experiments()
    print_table(["name", "id", "created"], [
        [e.name, e.id[:8], time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created_at))] for e in exps
    ])
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking.doctor import clean, diagnose

    cleaned = clean(args.older_than) if args.clean else {}
    report = diagnose(verify=args.verify)
    report.update(cleaned)
    if args.json:
        print_json(report)
    else:
        print_kv([(k, v) for k, v in report.items() if not isinstance(v, dict | list)])
        for k, v in report.items():
            if isinstance(v, dict):
                print(f"\n{k}")
                print_kv(sorted(v.items()))
            elif isinstance(v, list) and v:
                print(f"\n{k} ({len(v)})")
                for item in v[:50]:
                    print(f"  {fmt(item)}")
    return 1 if report.get("problems") else 0
