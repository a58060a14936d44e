"""``%mlops tune TEMPLATE --space k=SPEC ... --metric M``: the same search as ``mlops tune``.

Parses, calls :func:`mlops_jupyter.jobs.tuning.tune`, returns the :class:`Tuning`, whose
display is the panel (Vega-Lite v5, static HTML fallback).
"""

from __future__ import annotations

from typing import Any

from mlops_jupyter.magics.args import VerbParser
from mlops_jupyter.magics.registry import Verb


def _tune(shell: Any, argv: list[str], cell: str | None) -> Any:
    from mlops_jupyter.jobs import parameters, space, tuning

    p = VerbParser("tune", description="Optuna search over a template's parameters")
    p.add_argument("template")
    p.add_argument("--space", action="append", default=[], metavar="NAME=SPEC")
    p.add_argument("--metric", required=True)
    p.add_argument("--direction", default="max", choices=["max", "min"])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--executor", metavar="local|dask[:ADDRESS]")
    p.add_argument("--sampler", default="tpe", choices=["tpe", "random", "grid"])
    p.add_argument("--pruner", default="median", choices=["median", "none"])
    p.add_argument("--seed", type=int)
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--timeout", type=float)
    p.add_argument("--experiment", "-e")
    p.add_argument("--no-register", action="store_true")
    args = p.parse(argv)
    return tuning.tune(
        args.template, space.parse_pairs(args.space), args.metric, direction=args.direction,
        trials=args.trials, parameters=parameters.parse_pairs(args.param), executor=args.executor,
        parallel=args.parallel, sampler=args.sampler, pruner=args.pruner, seed=args.seed,
        timeout=args.timeout, experiment=args.experiment, register=not args.no_register,
        from_text=True,
    )


VERBS: dict[str, Verb] = {
    "tune": Verb(
        name="tune",
        summary="Optuna search over a template's typed parameters (each trial a job)",
        usage="%mlops tune TEMPLATE --space k=SPEC ... --metric M [--direction max|min] "
              "[--trials N] [--parallel N] [--executor local|dask[:ADDR]]",
        handler=_tune,
        examples=["%mlops tune train --space n_estimators=int:10..300:log "
                  "--space max_depth=int:2..12 --metric auc --trials 20"],
    ),
}
