"""``%mlops import mlflow SOURCE`` and ``%mlops export mlflow --to URI`` over
``mj.import_mlflow`` / ``mj.export_mlflow`` (the same calls as ``mlops import|export``)."""

from __future__ import annotations

from typing import Any

from mlops_jupyter.magics.args import UsageError, VerbParser
from mlops_jupyter.magics.registry import Verb


def _import_parser() -> VerbParser:
    p = VerbParser("import", description="bring an MLflow store in")
    p.add_argument("kind", choices=["mlflow"], help="what to import from (mlflow)")
    p.add_argument("source", help="sqlite:///mlflow.db, an mlruns/ folder, postgresql://… or http(s)://…")
    p.add_argument("--experiment", action="append", help="only this experiment (repeatable)")
    p.add_argument("--model", action="append", help="only this registered model (repeatable)")
    p.add_argument("--trust-pickle", action="store_true", help="also import pickled sklearn models (audited)")
    p.add_argument("--no-artifacts", action="store_true", help="skip run artifacts")
    return p


def _export_parser() -> VerbParser:
    p = VerbParser("export", description="write runs and models into an MLflow store")
    p.add_argument("kind", choices=["mlflow"], help="what to export to (mlflow)")
    p.add_argument("--to", required=True, help="MLflow tracking URI or mlruns/ folder")
    p.add_argument("--experiment", action="append", help="only this experiment (repeatable)")
    p.add_argument("--model", action="append", help="only this registered model (repeatable)")
    return p


def _import(shell: Any, argv: list[str], cell: str | None) -> Any:
    import mlops_jupyter as mj

    if not argv:
        raise UsageError("%mlops import: say what to import: %mlops import mlflow SOURCE")
    a = _import_parser().parse(argv)
    return mj.import_mlflow(a.source, experiments=a.experiment, models=a.model,
                            trust_pickle=a.trust_pickle, artifacts=not a.no_artifacts)


def _export(shell: Any, argv: list[str], cell: str | None) -> Any:
    import mlops_jupyter as mj

    if not argv:
        raise UsageError("%mlops export: say where to: %mlops export mlflow --to URI")
    a = _export_parser().parse(argv)
    return mj.export_mlflow(a.to, experiment=a.experiment, model=a.model)


VERBS = {
    "import": Verb(
        name="import",
        summary="import an MLflow store: experiments, runs, artifacts, registered models",
        usage="%mlops import mlflow SOURCE [--experiment X] [--model NAME] [--trust-pickle]",
        handler=_import,
        examples=["%mlops import mlflow sqlite:///mlflow.db", "%mlops import mlflow ./mlruns --experiment churn"],
    ),
    "export": Verb(
        name="export",
        summary="export runs and registered models to an MLflow store",
        usage="%mlops export mlflow --to URI [--experiment X] [--model NAME]",
        handler=_export,
        examples=["%mlops export mlflow --to sqlite:///mlflow.db --model churn"],
    ),
}
