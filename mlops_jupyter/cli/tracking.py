"""``mlops runs | show | compare | experiments | doctor``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
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

    p = sub.add_parser(
        "compare", help="compare model versions on a holdout (paired intervals), or runs",
        description="REF: a model ref (churn@v3, churn@production) or a run (id, prefix, name); "
                    "models and runs cannot be mixed.")
    p.add_argument("runs", nargs="+", metavar="REF")
    p.add_argument("--holdout", help="dataset ref or CSV/Parquet file to score models on")
    p.add_argument("--label", help="label column of the holdout")
    p.add_argument("--slices", help="comma-separated columns to break the metric down by")
    p.add_argument("--metric", help="metric of the verdict (default: roc_auc, accuracy or rmse)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--correction", default="holm", choices=["holm", "bh"])
    p.add_argument("--html", metavar="FILE", help="also write the full panel (with charts) to FILE")
    p.add_argument("--json", action="store_true", help="print JSON")
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
    from mlops_jupyter.comparison import Comparison, compare

    result = compare(*args.runs, holdout=args.holdout, label=args.label, slices=args.slices,
                     metric=args.metric, n_boot=args.n_boot, correction=args.correction)
    if args.html:
        from mlops_jupyter._files import write_atomic

        page = f"<!doctype html><meta charset=utf-8><title>compare</title>{result._repr_html_()}"
        write_atomic(Path(args.html), lambda tmp: tmp.write_text(page, encoding="utf-8"),
                     overwrite=True)
    if isinstance(result, Comparison):
        return _print_comparison(result, args.json)
    runs_ = result.runs
    if args.json:
        print_json(result.to_frame().to_dict("records"))
        return 0
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


def _print_comparison(c: Any, as_json: bool) -> int:
    if as_json:
        print_json({"verdict": c.verdict, "winner": c.winner, "primary": c.primary,
                    "holdout": c.holdout, "rows": c.n_rows,
                    "models": c.to_frame().to_dict("records"),
                    "deltas": c.deltas_frame().to_dict("records"),
                    "slices": c.slices_frame().to_dict("records"),
                    "disagreements": c.disagreements, "notes": c.notes})
        return 0
    print(f"{' vs '.join(c.labels)} on {c.holdout} ({c.n_rows} rows, label {c.label})")
    print(c.verdict)
    rows = []
    for m in c.metrics:
        cells = [m]
        for j in range(len(c.labels)):
            lo, hi = c.ci[j][m]
            cells.append(f"{c.point[j][m]:.4f} [{lo:.4f}, {hi:.4f}]")
        for d in (d for d in c.deltas if d.metric == m):
            cells.append(f"{d.delta:+.4f} [{d.lo:.4f}, {d.hi:.4f}] p={d.p_value:.3g}")
        rows.append(cells)
    print_table(["metric", *c.labels, *[f"delta {x}" for x in c.labels[1:]]], rows, max_width=60)
    for n in c.notes:
        print(f"note: {n}")
    if c.slices:
        print(f"\n{c.primary} by slice (challenger worse first, p {c.correction}-adjusted):")
        print_table(["slice", "rows", "baseline", "challenger", "delta", "p"], [
            [f"{r.column}={r.value}", r.n, f"{r.baseline:.4f}", f"{r.challenger:.4f}",
             f"{r.delta:+.4f}", f"{r.p_adjusted:.3g}"] for r in c.slices[:20]])
    print(f"\ndisagreements: {c.disagreements} of {c.n_rows} rows")
    if c.lineage is not None:
        d = c.lineage
        print(f"training data: {', '.join(d.datasets[0]) or '-'} | {', '.join(d.datasets[1]) or '-'}")
        for k, x, y in d.params:
            print(f"param {k}: {x} | {y}")
        for k, x, y in d.packages:
            print(f"package {k}: {x} | {y}")
        if d.code:
            print(f"code: {d.code}")
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
