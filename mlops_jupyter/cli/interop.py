"""``mlops import mlflow SOURCE`` and ``mlops export mlflow --to URI``.

Exit status: 0 done (the summary lists anything not carried over), 1 with ``--strict``
when something was not carried over, 2 bad usage (unknown source, not an MLflow store,
unreachable server, MLflow not installed).
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("import", help="bring another tool's history in (mlflow)")
    kinds = p.add_subparsers(dest="source_kind", metavar="KIND", required=True)
    m = kinds.add_parser(
        "mlflow", help="import an MLflow store: experiments, runs, artifacts, registered models",
        description="SOURCE: sqlite:///mlflow.db, an mlruns/ folder, postgresql://… or an "
        "http(s):// tracking server. Importing twice adds nothing.",
    )
    m.add_argument("source", help="MLflow tracking URI or mlruns/ folder")
    m.add_argument("--experiment", action="append", help="only this experiment (repeatable)")
    m.add_argument("--model", action="append", help="only this registered model (repeatable)")
    m.add_argument("--trust-pickle", action="store_true",
                   help="also import scikit-learn models MLflow saved as pickle (runs code from "
                   "the store; re-saved as skops, recorded in the audit log)")
    m.add_argument("--no-artifacts", action="store_true", help="skip run artifacts")
    m.add_argument("--no-progress", action="store_true", help="no progress bar")
    m.add_argument("--strict", action="store_true", help="exit 1 when anything was not carried over")
    m.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="write this store into another tool (mlflow)")
    kinds = p.add_subparsers(dest="target_kind", metavar="KIND", required=True)
    m = kinds.add_parser(
        "mlflow", help="export runs and registered models to an MLflow store",
        description="Without --experiment or --model everything is exported; with "
        "--experiment those experiments' runs; with --model those models and their runs. "
        "Exporting twice adds nothing.",
    )
    m.add_argument("--to", required=True, help="MLflow tracking URI or mlruns/ folder")
    m.add_argument("--experiment", action="append", help="only this experiment (repeatable)")
    m.add_argument("--model", action="append", help="only this registered model (repeatable)")
    m.add_argument("--no-progress", action="store_true", help="no progress bar")
    m.add_argument("--strict", action="store_true", help="exit 1 when anything was not carried over")
    m.set_defaults(func=cmd_export)


def cmd_import(args: argparse.Namespace) -> int:
    from mlops_jupyter.interop import import_mlflow

    report = import_mlflow(
        args.source, experiments=args.experiment, models=args.model,
        trust_pickle=args.trust_pickle, artifacts=not args.no_artifacts,
        progress=not args.no_progress,
    )
    print(report)
    return 1 if args.strict and report.not_carried else 0


def cmd_export(args: argparse.Namespace) -> int:
    from mlops_jupyter.interop import export_mlflow

    report = export_mlflow(
        args.to, experiment=args.experiment, model=args.model, progress=not args.no_progress,
    )
    print(report)
    return 1 if args.strict and report.not_carried else 0
