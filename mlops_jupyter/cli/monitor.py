"""``mlops monitor add|run|watch|list|history``: monitors from a terminal, cron or CI.

Exit status: 0; 1 with ``run --fail-on-drift`` when a check found drift or a drop in
performance (or failed); 2 bad usage.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("monitor", help="monitors: drift/performance checks per model alias, "
                       "alerts, the retraining loop")
    ms = p.add_subparsers(dest="monitor_cmd", metavar="add|run|watch|list|history")

    a = ms.add_parser("add", help="define a monitor on a model alias")
    a.add_argument("name")
    a.add_argument("--model", required=True, help="model ref it watches: churn@production")
    a.add_argument("--current", required=True, help="dataset receiving current data (e.g. the "
                   "served-input log of `mlops serve --log-inputs`)")
    a.add_argument("--every", default="1h", help="schedule for `watch`: 30s, 15m, 1h, 1d")
    a.add_argument("--alert", action="append", default=[], metavar="CHANNEL",
                   help="log | webhook:https://… | email:ADDRESS (repeatable)")
    a.add_argument("--cooldown", default="1h", help="one alert per channel and kind per cooldown")
    a.add_argument("--reference", help="reference dataset (default: the model's training data)")
    a.add_argument("--columns", help="comma-separated columns (default: the model's inputs)")
    a.add_argument("--label", help="label column (default: from the model's lineage)")
    a.add_argument("--labels", help="dataset of delayed labels, joined on --key")
    a.add_argument("--key", help="column joining delayed labels to served rows")
    a.add_argument("--metric", help="performance metric: accuracy, rmse, mae")
    a.add_argument("--max-drop", type=float, default=0.05, help="relative drop that alerts")
    a.add_argument("--retrain", metavar="TEMPLATE", help="retrain template run on drift")
    a.add_argument("--retrain-dataset", help="newer labelled data the retrain job trains on")
    a.add_argument("--alias", default="production", help="alias the loop promotes")
    a.add_argument("--retrain-metric", default="auc", help="metric challenger vs champion")
    a.add_argument("--retrain-holdout", metavar="REF",
                   help="dataset both versions are scored on by mj.compare (paired test); "
                        "default: the scores the retrain template logged")
    a.add_argument("--retrain-label", metavar="COL", help="label column of --retrain-holdout")
    a.add_argument("--min-improvement", type=float, default=0.0)
    a.add_argument("--replay-tolerance", default="1%", help="replay check tolerance")
    a.add_argument("--allow-private", action="store_true",
                   help="allow webhooks to private/loopback addresses")
    a.add_argument("--start", choices=["all", "new"], default="all",
                   help="first check reads every version of --current, or only newer ones")
    a.add_argument("--replace", action="store_true", help="redefine an existing monitor")
    a.set_defaults(func=cmd_add)

    r = ms.add_parser("run", help="check one monitor (or --all) on the data added since its last check")
    r.add_argument("name", nargs="?")
    r.add_argument("--all", action="store_true", help="every monitor once (cron, CI)")
    r.add_argument("--no-retrain", action="store_true", help="check and alert only")
    r.add_argument("--workers", type=int, help="processes computing checks with --all "
                   "(default: one per CPU up to 4, from 100 monitors on)")
    r.add_argument("--fail-on-drift", action="store_true", help="exit 1 when a check found "
                   "drift, a performance drop, or failed")
    r.set_defaults(func=cmd_run)

    w = ms.add_parser("watch", help="run monitors on their schedules in one long-lived "
                      "process (APScheduler)")
    w.add_argument("--max-runs", type=int, help="stop after this many checks (tests, demos)")
    w.set_defaults(func=cmd_watch)

    ls = ms.add_parser("list", help="every monitor and its last check")
    ls.set_defaults(func=cmd_list)

    h = ms.add_parser("history", help="every check of a monitor")
    h.add_argument("name")
    h.add_argument("--column", help="one column's score over time")
    h.add_argument("--html", metavar="FILE", help="also write the trend chart (static HTML)")
    h.set_defaults(func=cmd_history)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_add(args: argparse.Namespace) -> int:
    from mlops_jupyter import monitors

    retrain = None
    if args.retrain:
        retrain = {"template": args.retrain, "dataset": args.retrain_dataset, "alias": args.alias,
                   "metric": args.retrain_metric, "min_improvement": args.min_improvement,
                   "replay_tolerance": args.replay_tolerance,
                   "holdout": args.retrain_holdout, "label": args.retrain_label}
    cols = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    m = monitors.add(args.name, args.model, args.current, every=args.every, alerts=args.alert,
                     retrain=retrain, reference=args.reference, columns=cols, label=args.label,
                     labels=args.labels, key=args.key, metric=args.metric, max_drop=args.max_drop,
                     cooldown=args.cooldown, allow_private=args.allow_private, start=args.start,
                     replace=args.replace)
    print(f"monitor   {m.name} on {m.model}: {len(m.spec['columns'])} columns of {m.current}, "
          f"reference {m.reference_ref}, every {m.spec['every_s']:g} s"
          + (f", retrain {m.spec['retrain']['template']}" if m.spec.get("retrain") else ""))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from mlops_jupyter import monitors
    from mlops_jupyter.errors import UsageError

    if args.all == bool(args.name):
        raise UsageError("give a monitor NAME or --all (not both)")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    results = (monitors.run_all(retrain=not args.no_retrain, workers=args.workers) if args.all
               else [monitors.run(args.name, retrain=not args.no_retrain)])
    bad = 0
    for r in results:
        if args.all:
            print(f"{r.monitor:<24} {r.status.upper():<6} {r.rows:>9,} rows"
                  + (f"  {', '.join(r.report.drifted_columns[:5])}" if r.report is not None and r.drifted else "")
                  + (f"  error: {r.error}" if r.error else ""))
            if r.loop is not None:
                print(r.loop.summary())
        else:
            print(r.summary())
        bad += r.status in ("drift", "perf", "error")
    if args.all:
        print(f"{len(results)} monitors checked: {bad} need attention")
    return 1 if (args.fail_on_drift and bad) else 0


def cmd_watch(args: argparse.Namespace) -> int:
    from mlops_jupyter.monitors.watch import watch

    watch(max_runs=args.max_runs)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from mlops_jupyter import monitors
    from mlops_jupyter.cli.output import print_table

    df = monitors.list()
    print_table(["name", "model", "current", "every_s", "alerts", "retrain", "last_status"],
                df[["name", "model", "current", "every_s", "alerts", "retrain", "last_status"]]
                .itertuples(index=False))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlops_jupyter import monitors
    from mlops_jupyter.cli.output import print_table

    df = monitors.history(args.name, args.column)
    cols = ["at", "status", "rows", "share", "model_version", "promoted"]
    if args.column:
        cols += ["p_value", "effect", "column_drifted"]
    print_table(cols, [[r[c] if c != "at" else r[c].strftime("%Y-%m-%d %H:%M:%S") for c in cols]
                       for _, r in df.iterrows()])
    if args.html:
        page = monitors.chart(args.name, args.column).to_html()
        Path(args.html).write_text(f"<!doctype html><meta charset='utf-8'>{page}", encoding="utf-8")
        print(f"chart     {args.html}")
    return 0
