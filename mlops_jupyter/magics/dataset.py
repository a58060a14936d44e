"""``%mlops dataset add|list|show|diff|load|validate`` over :mod:`mlops_jupyter.datasets`.

Parse, call the domain, return what the notebook should display; nothing else.
"""

from __future__ import annotations

from typing import Any

from mlops_jupyter.magics.args import UsageError, VerbParser
from mlops_jupyter.magics.registry import Verb

ACTIONS = {
    "add": "%mlops dataset add VAR_OR_PATH --name NAME [--description TEXT] [--key COL[,COL]]",
    "list": "%mlops dataset list [NAME]",
    "show": "%mlops dataset show REF [--widget]",
    "diff": "%mlops dataset diff REF REF [--key COL[,COL]] [--no-rows]",
    "load": "%mlops dataset load REF --as VAR",
    "validate": "%mlops dataset validate VAR REF [--strict] [--tolerance X] [--allow-extra]",
    "lineage": "%mlops dataset lineage REF",
}


def _parser(action: str) -> VerbParser:
    p = VerbParser("dataset", usage=ACTIONS[action], add_help=False)
    if action == "add":
        p.add_argument("source", help="a DataFrame variable, or the path of a file or folder")
        p.add_argument("--name", required=True, help="dataset name")
        p.add_argument("--description", help="what this version is")
        p.add_argument("--key", help="comma-separated key columns (for diffs)")
    elif action == "list":
        p.add_argument("name", nargs="?")
    elif action in ("show", "lineage"):
        p.add_argument("ref")
        if action == "show":
            p.add_argument("--widget", action="store_true", help="an interactive panel")
    elif action == "diff":
        p.add_argument("a")
        p.add_argument("b")
        p.add_argument("--key", help="comma-separated key columns")
        p.add_argument("--no-rows", action="store_true", help="schema and statistics only")
    elif action == "load":
        p.add_argument("ref")
        p.add_argument("--as", dest="var", required=True, help="variable to assign")
    elif action == "validate":
        p.add_argument("var", help="a DataFrame variable")
        p.add_argument("ref", help="dataset reference to validate against")
        p.add_argument("--strict", action="store_true", help="raise on any violation")
        p.add_argument("--tolerance", type=float, default=None)
        p.add_argument("--allow-extra", action="store_true")
    return p


def _keys(text: str | None) -> list[str] | None:
    return [k.strip() for k in text.split(",") if k.strip()] if text else None


def _ns(shell: Any) -> dict[str, Any]:
    return getattr(shell, "user_ns", {}) if shell is not None else {}


def _dataset(shell: Any, argv: list[str], cell: str | None) -> Any:
    from mlops_jupyter import datasets

    if not argv or argv[0] not in ACTIONS:
        got = f" {argv[0]!r}" if argv else ""
        raise UsageError(
            f"%mlops dataset: unknown action{got}; use one of {', '.join(ACTIONS)} "
            "(see %mlops help dataset)"
        )
    action, rest = argv[0], argv[1:]
    args = _parser(action).parse(rest)
    ns = _ns(shell)
    if action == "add":
        src = args.source
        obj = ns[src] if src.isidentifier() and src in ns else src
        if isinstance(obj, str) and src.isidentifier() and not _exists(src):
            raise UsageError(f"%mlops dataset add: {src!r} is neither a notebook variable nor a path")
        return datasets.add(obj, name=args.name, description=args.description, key=_keys(args.key))
    if action == "list":
        return datasets.list_datasets(args.name)
    if action == "show":
        v = datasets.show(args.ref)
        return v.panel() if args.widget else v
    if action == "lineage":
        return datasets.lineage(args.ref)
    if action == "diff":
        return datasets.diff(args.a, args.b, key=_keys(args.key), rows=not args.no_rows)
    if action == "load":
        if not args.var.isidentifier():
            raise UsageError(f"%mlops dataset load: --as needs a variable name, got {args.var!r}")
        v = datasets.get(args.ref)  # resolved once: what is printed is what was loaded
        value = datasets.load(v)
        ns[args.var] = value
        shape = f"{v.rows} rows x {v.columns} columns" if v.rows is not None else str(value)
        print(f"{args.var} = {v.ref} ({shape})")
        return None
    # validate
    if args.var not in ns:
        raise UsageError(f"%mlops dataset validate: no notebook variable named {args.var!r}")
    kwargs: dict[str, Any] = {"strict": args.strict, "allow_extra": args.allow_extra}
    if args.tolerance is not None:
        kwargs["tolerance"] = args.tolerance
    return datasets.validate(ns[args.var], args.ref, **kwargs)


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)


VERBS = {
    "dataset": Verb(
        name="dataset",
        summary="version, inspect, compare, load and validate datasets",
        usage="\n".join(ACTIONS.values()),
        handler=_dataset,
        examples=[
            "%mlops dataset add df --name churn --key customer_id",
            "%mlops dataset add data/raw.csv --name churn-raw",
            "%mlops dataset show churn@v1",
            "%mlops dataset diff churn@v1 churn@v2",
            "%mlops dataset load churn@latest --as train",
            "%mlops dataset validate new_df churn@v1 --strict",
        ],
    )
}
