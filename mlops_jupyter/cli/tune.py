"""``mlops tune TEMPLATE --space k=SPEC ... --metric M [--direction max|min] --trials N``.

Exit status: 0 at least one trial completed; 1 none did; 2 bad usage (nothing ran);
130 / 143 when SIGINT / SIGTERM stopped it (running trials are recorded KILLED first).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlops_jupyter.cli.output import print_json


def register(sub: Any) -> None:
    p = sub.add_parser("tune", help="Optuna search over a template's parameters; each trial a job")
    p.add_argument("template", help="template name (see `mlops templates`) or a .ipynb path")
    p.add_argument("--space", action="append", default=[], metavar="NAME=SPEC", required=True,
                   help="int:10..500:log, float:1e-4..1:log or choice:a,b,c (repeatable)")
    p.add_argument("--metric", required=True, help="the metric the template logs (the last value is the score)")
    p.add_argument("--direction", default="max", choices=["max", "min"])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--parallel", type=int, default=2, help="trials at once (default 2)")
    p.add_argument("--executor", metavar="local|dask[:ADDRESS]", help="where trials run (default local)")
    p.add_argument("--sampler", default="tpe", choices=["tpe", "random", "grid"])
    p.add_argument("--pruner", default="median", choices=["median", "none"])
    p.add_argument("--seed", type=int)
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a fixed template parameter (repeatable)")
    p.add_argument("--gate", action="append", default=[], metavar="EXPR")
    p.add_argument("--kernel")
    p.add_argument("--timeout", type=float, help="seconds one trial may take")
    p.add_argument("--path", action="append", default=[], metavar="DIR")
    p.add_argument("--experiment", "-e")
    p.add_argument("--no-register", action="store_true", help="do not register the best model")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    from mlops_jupyter.cli.jobs import _interrupted
    from mlops_jupyter.jobs import parameters, runner, space, tuning

    try:
        result = tuning.tune(
            args.template, space.parse_pairs(args.space), args.metric, direction=args.direction,
            trials=args.trials, parameters=parameters.parse_pairs(args.param), executor=args.executor,
            parallel=args.parallel, sampler=args.sampler, pruner=args.pruner, seed=args.seed,
            timeout=args.timeout, gates=args.gate, kernel=args.kernel, paths=args.path or None,
            experiment=args.experiment, register=not args.no_register,
            progress=not args.no_progress, from_text=True,
        )
    except (runner.Terminated, KeyboardInterrupt) as e:
        return _interrupted(e)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.summary())
    if not result.ok:
        print(f"mlops tune: {result.parent.record.error.get('message')}", file=sys.stderr)
    return 0 if result.ok else 1
