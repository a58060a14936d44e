"""``%mlops run TEMPLATE [-p k=v ...] [--gate EXPR ...]`` and friends, over mj.jobs.

The verbs parse and call :mod:`mlops_jupyter.jobs`; values given as ``-p k=v`` are text
converted with the template's declared types, exactly as on the command line, so a
notebook and CI accept the same spellings. A failed job or gate shows the job (with its
output notebook) and then raises, so "Run All" stops there like a failing cell.
"""

from __future__ import annotations

from typing import Any

from mlops_jupyter.magics.args import VerbParser
from mlops_jupyter.magics.registry import Verb


def _run_parser() -> VerbParser:
    p = VerbParser("run", description="run a template notebook as a recorded job (papermill)")
    p.add_argument("template", help="template name (see %mlops templates) or a .ipynb path")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--gate", action="append", default=[], metavar="EXPR")
    p.add_argument("--output", "-o")
    p.add_argument("--kernel")
    p.add_argument("--timeout", type=float)
    p.add_argument("--path", action="append", default=[], metavar="DIR")
    p.add_argument("--experiment", "-e")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--executor", metavar="local|dask[:ADDRESS]")
    return p


def _run(shell: Any, argv: list[str], cell: str | None) -> Any:
    from IPython.display import display

    from mlops_jupyter.jobs import api, parameters

    args = _run_parser().parse(argv)
    values = parameters.parse_pairs(args.param)
    prep = api.prepare(args.template, values, args.gate, args.output, args.kernel, args.timeout,
                       paths=args.path or None, from_text=True)
    from mlops_jupyter.jobs import executors

    if executors.parse(args.executor)[0] == "local":
        job = api.execute(prep, progress=not args.no_progress, experiment=args.experiment)
    else:
        from mlops_jupyter.jobs import fanout

        job = fanout.run_one(prep, args.executor, experiment=args.experiment,
                             progress=not args.no_progress)
    if not job.ok:
        display(job)
        job.raise_for_status()
    return job


def _templates(shell: Any, argv: list[str], cell: str | None) -> Any:
    from IPython.display import HTML

    from mlops_jupyter.jobs import display as jdisplay
    from mlops_jupyter.jobs import templates

    p = VerbParser("templates", description="list templates with their parameters")
    p.add_argument("--path", action="append", default=[], metavar="DIR")
    args = p.parse(argv)
    return HTML("".join(jdisplay.template_card(t) for t in templates.discover(args.path or None)))


def _jobs(shell: Any, argv: list[str], cell: str | None) -> Any:
    from IPython.display import HTML

    from mlops_jupyter.jobs import api
    from mlops_jupyter.jobs import display as jdisplay

    p = VerbParser("jobs", description="recorded jobs, newest first")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--status")
    args = p.parse(argv)
    return HTML(jdisplay.jobs_table(api.list_jobs(limit=args.limit, status=args.status)))


def _reproduce(shell: Any, argv: list[str], cell: str | None) -> Any:
    from mlops_jupyter.jobs import reproduction

    p = VerbParser("reproduce", description="re-execute a run's template or code and compare")
    p.add_argument("run")
    p.add_argument("--tolerance")
    p.add_argument("--timeout", type=float)
    args = p.parse(argv)
    return reproduction.reproduce(args.run, tolerance=args.tolerance, timeout=args.timeout)


def _sweep(shell: Any, argv: list[str], cell: str | None) -> Any:
    from mlops_jupyter.jobs import sweeps

    p = VerbParser("sweep", description="a grid of jobs in parallel processes")
    p.add_argument("template")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=V1,V2")
    p.add_argument("--gate", action="append", default=[], metavar="EXPR")
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--timeout", type=float)
    p.add_argument("--executor", metavar="local|dask[:ADDRESS]")
    args = p.parse(argv)
    return sweeps.sweep(args.template, sweeps.parse_grid(args.param), gates=args.gate,
                        parallel=args.parallel, timeout=args.timeout, from_text=True, progress=True,
                        executor=args.executor)


VERBS: dict[str, Verb] = {
    "run": Verb(
        name="run",
        summary="run a template notebook as a recorded, gated papermill job",
        usage="%mlops run TEMPLATE [-p k=v ...] [--gate EXPR ...] [--output PATH] [--timeout S] "
              "[--executor local|dask[:ADDR]]",
        handler=_run,
        examples=["%mlops run train -p dataset=churn@v3 -p n_estimators=300 --gate 'auc>=0.85'"],
    ),
    "templates": Verb(
        name="templates", summary="list templates with their parameters",
        usage="%mlops templates [--path DIR]", handler=_templates,
    ),
    "jobs": Verb(
        name="jobs", summary="recorded jobs, newest first",
        usage="%mlops jobs [--limit N] [--status S]", handler=_jobs,
    ),
    "reproduce": Verb(
        name="reproduce", summary="re-execute what made a run and compare metrics",
        usage="%mlops reproduce RUN [--tolerance X]", handler=_reproduce,
    ),
    "sweep": Verb(
        name="sweep", summary="a grid of template jobs in parallel processes",
        usage="%mlops sweep TEMPLATE -p k=v1,v2 ... [--parallel N] [--executor local|dask[:ADDR]]",
        handler=_sweep,
    ),
}
