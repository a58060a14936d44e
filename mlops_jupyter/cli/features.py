"""``mlops features apply|list|show|materialize`` for terminals and CI."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "features", help="feature repository: apply definitions, list the catalogue, show a view",
        description="Definitions live in features/*.py beside .mlops/; apply runs that code.",
    )
    fs = p.add_subparsers(dest="action", metavar="ACTION")
    a = fs.add_parser("apply", help="register changed feature views (runs features/*.py)")
    a.set_defaults(func=cmd_apply)
    ls = fs.add_parser("list", help="the catalogue: every feature with type, owner, freshness, models")
    ls.add_argument("--search", help="only rows containing this text")
    ls.set_defaults(func=cmd_list)
    sh = fs.add_parser("show", help="one view: its features and every applied version")
    sh.add_argument("view")
    sh.set_defaults(func=cmd_show)
    m = fs.add_parser("materialize", help="compute a view over its source (reused when unchanged)")
    m.add_argument("view")
    m.add_argument("--source", help="source dataset ref (default: latest version)")
    m.set_defaults(func=cmd_materialize)
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])


def cmd_apply(args: argparse.Namespace) -> int:
    from mlops_jupyter.features import apply

    print(apply())
    return 0


def _rows(df: Any, cols: list[str]) -> list[list[Any]]:
    return [[getattr(r, c) for c in cols] for r in df.itertuples(index=False)]


def cmd_list(args: argparse.Namespace) -> int:
    from mlops_jupyter.cli.output import print_table
    from mlops_jupyter.features import catalogue

    df = catalogue(args.search).to_frame()
    cols = ["view", "feature", "type", "version", "owner", "materialized", "models", "description"]
    print_table(cols, _rows(df, cols))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from mlops_jupyter.cli.output import print_table
    from mlops_jupyter.features import catalogue, definition, definitions

    d = definition(args.view)
    print(f"{d.view} v{d.version}: entity {d.spec['entity']}, timestamp {d.spec['timestamp']}, "
          f"source {d.spec['source']}, owner {d.owner}, file {d.path}")
    cat = catalogue().to_frame()
    cols = ["feature", "type", "description", "rows", "missing", "mean", "models"]
    print_table(cols, _rows(cat[cat["view"] == d.view], cols))
    print()
    vcols = ["version", "digest", "owner", "applied"]
    print_table(vcols, _rows(definitions(d.view), vcols))
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    from mlops_jupyter.features import materialize

    print(materialize(args.view, source=args.source))
    return 0
