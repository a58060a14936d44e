"""``mlops drift REFERENCE PATH [--fail-on-drift] [--json]`` for CI and cron."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "drift", help="compare a data file (or dataset) with a reference dataset or model",
        description="Exit status: 0 no drift (or drift without --fail-on-drift), 1 drift with "
        "--fail-on-drift, 2 bad usage.",
    )
    p.add_argument("reference", help="dataset ref (churn@v1), model:churn@production, or a file")
    p.add_argument("current", help="CSV/Parquet/JSON path or dataset ref")
    p.add_argument("--columns", help="comma-separated columns to compare")
    p.add_argument("--threshold", type=float, help="share of drifted columns for a dataset verdict (default: any column drifted, Holm-corrected)")
    p.add_argument("--method", default="auto")
    p.add_argument("--label", help="label column (model references: performance change)")
    p.add_argument("--fail-on-drift", action="store_true", help="exit 1 when drift is found")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-save", action="store_true", help="do not keep the report in the store")
    p.set_defaults(func=cmd_drift)

    p = sub.add_parser("drift-history", help="saved drift reports for a model or dataset")
    p.add_argument("subject", nargs="?", help="model:NAME, dataset:NAME or NAME")
    p.set_defaults(func=cmd_history)


def cmd_drift(args: argparse.Namespace) -> int:
    from mlops_jupyter.cli.output import print_table
    from mlops_jupyter.errors import UsageError, ValidationError
    from mlops_jupyter.monitoring.api import drift

    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    try:
        report = drift(
            args.reference, args.current, columns=columns, method=args.method,
            threshold=args.threshold, label=args.label, save=False if args.no_save else None,
        )
    except ValidationError as e:
        # unusable input is bad usage (exit 2), never mistaken for "drift found" (exit 1)
        raise UsageError(str(e)) from None
    if args.json:
        doc = report.to_dict()
        print(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False))
    else:
        print(report.summary())
        frame = report.to_frame()
        cols = [c for c in ("column", "kind", "drifted", "statistic", "score", "threshold", "note") if c in frame.columns]
        print_table(cols, frame[cols].itertuples(index=False))
        if report.prediction is not None:
            print("\n" + report.prediction.summary())
        if report.performance:
            print("\nperformance")
            for metric, v in report.performance.items():
                print(f"  {metric}: reference {v.get('reference')}, current {v.get('current')}, change {v.get('change')}")
    return 1 if (args.fail_on_drift and report.drifted) else 0


def cmd_history(args: argparse.Namespace) -> int:
    from mlops_jupyter.cli.output import print_table
    from mlops_jupyter.monitoring.api import drift_history

    df = drift_history(args.subject)
    print_table(
        ["report", "when", "subject", "reference", "current", "drifted", "share"],
        [[r.report_id[:8], r.created_at.strftime("%Y-%m-%d %H:%M"), f"{r.subject_kind}:{r.subject}", r.reference, r.current, r.drifted, r.share]
         for r in df.itertuples(index=False)],
    )
    return 0
