"""The ``mlops`` command line: the same verbs as the magics, for terminals, CI and cron.

Each domain keeps its commands in its own module with a ``register(subparsers)``
function; the list below is the registry. Handlers parse, call the domain, print.
Exit status: 0 success, 1 failed job/gate/check, 2 bad usage (argparse's own rule).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mlops_jupyter.errors import MlopsError

COMMAND_MODULES = [
    "mlops_jupyter.cli.tracking",
    "mlops_jupyter.cli.datasets",
    "mlops_jupyter.cli.models",
    "mlops_jupyter.cli.jobs",
    "mlops_jupyter.cli.drift",
    "mlops_jupyter.cli.monitor",
    "mlops_jupyter.cli.access",
    "mlops_jupyter.cli.interop",
    "mlops_jupyter.cli.features",
    "mlops_jupyter.cli.tune",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="MLOps from inside Jupyter: runs, datasets, models, drift and jobs.",
    )
    parser.add_argument("--home", help="the .mlops folder to use (default: found like git)")
    parser.add_argument("--db", dest="db_url", help="database URL (SQLAlchemy), e.g. postgresql+psycopg://…")
    parser.add_argument("--artifacts", dest="artifacts_url", help="artifact store URL (fsspec)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue  # a domain whose CLI has not landed yet
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if args.home or args.db_url or args.artifacts_url:
            from mlops_jupyter.tracking.session import init

            init(home=args.home, db_url=args.db_url, artifacts_url=args.artifacts_url)
        code = args.func(args)
    except MlopsError as e:
        print(f"mlops {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"mlops {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # a full disk anywhere (papermill output, SQLite): one clear line
        import errno

        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"mlops {args.command}: error: the disk is full (no space left on device): "
              f"{e.filename or ''} — free some space (`mlops doctor --clean`) and retry", file=sys.stderr)
        return 1
    return int(code or 0)


def run() -> None:
    from mlops_jupyter._fastimport import skip_iri_grammars

    skip_iri_grammars()
    sys.exit(main())
