"""``%mlops monitor add|run|list|history`` over ``mj.monitors`` (same calls as the CLI)."""

from __future__ import annotations

from typing import Any

from mlops_jupyter.magics.args import UsageError, VerbParser
from mlops_jupyter.magics.registry import Verb

USAGE = ("%mlops monitor add NAME --model REF --current DATASET [--every 1h] [--alert CH ...] "
         "[--retrain TEMPLATE --retrain-dataset REF] | run NAME | run --all | list | "
         "history NAME [--column C]")


def _add_parser() -> VerbParser:
    p = VerbParser("monitor add", description="define a monitor on a model alias")
    p.add_argument("name")
    p.add_argument("--model", required=True)
    p.add_argument("--current", required=True)
    p.add_argument("--every", default="1h")
    p.add_argument("--alert", action="append", default=[])
    p.add_argument("--cooldown", default="1h")
    p.add_argument("--label")
    p.add_argument("--labels")
    p.add_argument("--key")
    p.add_argument("--retrain")
    p.add_argument("--retrain-dataset")
    p.add_argument("--alias", default="production")
    p.add_argument("--retrain-metric", default="auc")
    p.add_argument("--retrain-holdout")
    p.add_argument("--retrain-label")
    p.add_argument("--replace", action="store_true")
    return p


def _monitor(shell: Any, argv: list[str], cell: str | None) -> Any:
    from mlops_jupyter import monitors

    if not argv or argv[0] not in ("add", "run", "list", "history"):
        raise UsageError(f"%mlops monitor: give add, run, list or history. Usage: {USAGE}")
    sub, rest = argv[0], argv[1:]
    if sub == "add":
        a = _add_parser().parse(rest)
        retrain = ({"template": a.retrain, "dataset": a.retrain_dataset, "alias": a.alias,
                    "metric": a.retrain_metric, "holdout": a.retrain_holdout,
                    "label": a.retrain_label} if a.retrain else None)
        m = monitors.add(a.name, a.model, a.current, every=a.every, alerts=a.alert,
                         cooldown=a.cooldown, label=a.label, labels=a.labels, key=a.key,
                         retrain=retrain, replace=a.replace)
        print(f"monitor {m.name} on {m.model}: {len(m.spec['columns'])} columns of {m.current}")
        return None
    if sub == "run":
        p = VerbParser("monitor run", description="check a monitor (or --all) once")
        p.add_argument("name", nargs="?")
        p.add_argument("--all", action="store_true")
        p.add_argument("--no-retrain", action="store_true")
        a = p.parse(rest)
        if a.all == bool(a.name):
            raise UsageError(f"%mlops monitor run: give a NAME or --all. Usage: {USAGE}")
        if a.all:
            return monitors.run_all(retrain=not a.no_retrain)
        return monitors.run(a.name, retrain=not a.no_retrain)
    if sub == "list":
        return monitors.list()
    p = VerbParser("monitor history", description="every check of a monitor")
    p.add_argument("name")
    p.add_argument("--column")
    p.add_argument("--chart", action="store_true", help="the trend chart instead of the table")
    a = p.parse(rest)
    return monitors.chart(a.name, a.column) if a.chart else monitors.history(a.name, a.column)


VERBS = {
    "monitor": Verb(
        name="monitor",
        summary="monitors per model alias: define, check, list, history (alerts, retraining)",
        usage=USAGE,
        handler=_monitor,
        examples=[
            "%mlops monitor add churn-prod --model churn@production --current churn-served --alert log",
            "%mlops monitor run churn-prod",
            "%mlops monitor history churn-prod --column tenure --chart",
        ],
    )
}
