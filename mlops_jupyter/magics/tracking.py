"""Tracking verbs: ``init``, ``experiment``, ``track``, ``log``, ``runs``, ``show``,
``compare``. Each handler parses, calls the tracking API and returns what to display."""

from __future__ import annotations

import ast
import sys
from typing import Any

from mlops_jupyter.magics.args import UsageError, VerbParser, parse_kv
from mlops_jupyter.magics.registry import Verb


def _init(shell: Any, argv: list[str], cell: str | None) -> None:
    p = VerbParser("init")
    p.add_argument("--home", help="the .mlops folder to use")
    p.add_argument("--db", help="SQLAlchemy URL of the metadata database")
    p.add_argument("--artifacts", help="fsspec URL of the artifact store")
    p.add_argument("--experiment", "-e", help="also set the experiment")
    a = p.parse(argv)
    from mlops_jupyter.redact import redact
    from mlops_jupyter.tracking import session

    cfg = session.init(a.home, a.db, a.artifacts, experiment=a.experiment)
    where = str(cfg.home) if cfg.home is not None else redact(cfg.db_url)
    print(f"mlops store: {where} · experiment: {session.current_experiment()}")


def _experiment(shell: Any, argv: list[str], cell: str | None) -> None:
    p = VerbParser("experiment")
    p.add_argument("name", nargs="*", help="experiment name (spaces allowed)")
    a = p.parse(argv)
    from mlops_jupyter.tracking import session

    if a.name:
        session.set_experiment(" ".join(a.name))
    print(f"experiment: {session.current_experiment()}")


def _track_parser(form: str) -> VerbParser:
    usage = {
        "cell": "%%mlops track [NAME] [--param k=v ...] [--tag k=v ...]",
        "start": "%mlops track start [NAME] [--param k=v ...] [--tag k=v ...] [--end-on-error]",
        "stop": "%mlops track stop [--status FINISHED|FAILED|KILLED]",
    }[form]
    p = VerbParser("track", usage=usage)
    if form == "stop":
        p.add_argument("--status", default="FINISHED", type=str.upper,
                       choices=["FINISHED", "FAILED", "KILLED"])
        return p
    p.add_argument("name", nargs="?", help="run name")
    p.add_argument("--param", "-p", action="append", metavar="k=v", help="a parameter")
    p.add_argument("--tag", "-t", action="append", metavar="k=v", help="a tag")
    if form == "start":
        p.add_argument("--end-on-error", action="store_true",
                       help="end the run FAILED/KILLED when a later cell fails")
    return p


def _track(shell: Any, argv: list[str], cell: str | None) -> Any:
    from mlops_jupyter.tracking import notebook

    if cell is not None or (argv and argv[0] == "--cell-begin"):
        a = _track_parser("cell").parse(argv[1:] if cell is None else argv)
        if a.name in ("start", "stop"):
            raise UsageError(
                f"%%mlops track {a.name} is not a cell form: use %mlops track {a.name} on a line"
            )
        params, tags = parse_kv(a.param, "a parameter"), parse_kv(a.tag, "a tag")
        if cell is None:  # the transformer's first line: the body runs as the cell itself
            notebook.begin_cell(a.name, params, tags)
            return None
        return _run_cell_directly(shell, cell, a.name, params, tags)
    if not argv or argv[0] not in ("start", "stop"):
        raise UsageError(
            "%mlops track: use %%mlops track [NAME] as the first line of a cell, or "
            "%mlops track start [NAME] / %mlops track stop"
        )
    if argv[0] == "start":
        a = _track_parser("start").parse(argv[1:])
        run = notebook.start_spanning(
            a.name, parse_kv(a.param, "a parameter"), parse_kv(a.tag, "a tag"),
            end_on_error=a.end_on_error,
        )
        print(f"run {run.id[:8]} {run.name or ''} started in experiment {run.experiment!r}"
              + (" (ends on error)" if a.end_on_error else ""))
        return None
    a = _track_parser("stop").parse(argv[1:])
    run = notebook.stop_spanning(a.status)
    return run.store.get_run(run.id)


def _run_cell_directly(shell: Any, body: str, name: str | None, params: dict[str, Any],
                       tags: dict[str, Any]) -> Any:
    """``run_cell_magic('mlops', 'track ...', body)`` without the transformer."""
    __tracebackhide__ = True  # noqa: F841
    from mlops_jupyter.magics import _show_ended, state
    from mlops_jupyter.tracking import notebook

    notebook.begin_cell(name, params, tags, source=body)
    error: BaseException | None = None
    try:
        return _exec_body(shell, body)
    except BaseException as e:
        error = e
        state.user_error = e
        raise
    finally:
        try:
            ended = notebook.end_cell(error)
            if ended is not None:
                _show_ended(ended)
        except Exception as e2:  # noqa: BLE001 - never hide the user's exception
            print(f"mlops: could not end the cell's run: {type(e2).__name__}: {e2}", file=sys.stderr)


def _exec_body(shell: Any, body: str) -> Any:
    __tracebackhide__ = True  # noqa: F841
    src = "\n" + shell.transform_cell(body)  # the %%mlops line keeps line numbers exact
    from mlops_jupyter.tracking.notebook import current_count

    filename = shell.compile.cache(src, current_count(shell), raw_code="\n" + body)
    tree = ast.parse(src, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    glob, loc = shell.user_global_ns, shell.user_ns
    exec(compile(tree, filename, "exec"), glob, loc)  # noqa: S102 - the user's own cell
    if last is not None:
        return eval(compile(last, filename, "eval"), glob, loc)  # noqa: S307
    return None


def _log(shell: Any, argv: list[str], cell: str | None) -> None:
    p = VerbParser("log", usage="%mlops log k=v [k=v ...] [--step N] [--params] [--run RUN]")
    p.add_argument("pairs", nargs="+", metavar="k=v")
    p.add_argument("--step", type=int, help="step of these metric values")
    p.add_argument("--params", action="store_true", help="log parameters, not metrics")
    p.add_argument("--run", help="run id or prefix (default: the active run, else the last one)")
    a = p.parse(argv)
    if a.params and a.step is not None:
        raise UsageError("%mlops log: --step applies to metrics, not to --params")
    values = parse_kv(a.pairs, "a metric" if not a.params else "a parameter")
    from mlops_jupyter.tracking import notebook

    run_id, active = notebook.log_values(
        values, params=a.params, step=a.step, run=a.run,
    )
    what = "parameter" if a.params else "metric"
    note = "" if active else " (run already ended)"
    print(f"logged {len(values)} {what}{'s' if len(values) != 1 else ''} to run {run_id[:8]}{note}")


def _runs(shell: Any, argv: list[str], cell: str | None) -> Any:
    p = VerbParser("runs")
    p.add_argument("--experiment", "-e", help="only this experiment (default: all)")
    p.add_argument("--sort", "-s", help="metric or column to sort by (best first)")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--asc", action="store_true", help="sort ascending")
    order.add_argument("--desc", action="store_true", help="sort descending")
    p.add_argument("--filter", "-f", help="pandas query, e.g. \"metrics.auc > 0.8\"")
    p.add_argument("--limit", "-n", type=int, default=100, help="at most N runs (default 100)")
    p.add_argument("--differing", action="store_true", help="only params that differ")
    a = p.parse(argv)
    if a.limit <= 0:
        raise UsageError("%mlops runs: --limit must be a positive integer")
    from mlops_jupyter.widgets.runs import RunsView

    ascending = True if a.asc else False if a.desc else None
    return RunsView(experiment=a.experiment, sort=a.sort, ascending=ascending,
                    filter=a.filter, limit=a.limit, differing=a.differing)


def _show(shell: Any, argv: list[str], cell: str | None) -> Any:
    p = VerbParser("show")
    p.add_argument("run", nargs="?", help="run id or prefix (default: the last run)")
    a = p.parse(argv)
    from mlops_jupyter.tracking import query, session

    ref = a.run or session.last_run_id()
    if ref is None:
        raise UsageError("%mlops show: which run? give a run id or prefix (%mlops runs lists them)")
    return query.get_run(ref)


def _compare(shell: Any, argv: list[str], cell: str | None) -> Any:
    p = VerbParser("compare")
    p.add_argument("refs", nargs="+", metavar="REF")
    p.add_argument("--metrics", "-m", help="runs: comma-separated metrics to plot (default: all)")
    p.add_argument("--holdout", help="models: dataset ref, CSV/Parquet file or DataFrame variable")
    p.add_argument("--label", help="models: label column of the holdout")
    p.add_argument("--slices", help="models: comma-separated columns to break the metric down by")
    p.add_argument("--metric", help="models: metric of the verdict")
    p.add_argument("--n-boot", type=int, default=1000, help="models: bootstrap resamples")
    p.add_argument("--correction", default="holm", help="models: holm or bh")
    a = p.parse(argv)
    if len(a.refs) < 2:
        raise UsageError("%mlops compare: give at least two runs or model versions, e.g. "
                         "%mlops compare churn@v1 churn@v2 --holdout customers@v3 --label churned")
    from mlops_jupyter.comparison import compare

    holdout: Any = a.holdout
    if holdout and shell is not None and holdout in getattr(shell, "user_ns", {}):
        holdout = shell.user_ns[holdout]  # a DataFrame variable of the notebook
    metrics = [m.strip() for m in a.metrics.split(",") if m.strip()] if a.metrics else None
    return compare(*a.refs, holdout=holdout, label=a.label, slices=a.slices, metric=a.metric,
                   n_boot=a.n_boot, correction=a.correction, metrics=metrics)


VERBS: dict[str, Verb] = {
    "init": Verb(
        "init", "choose the store (default: the nearest .mlops folder)",
        "%mlops init [--home PATH] [--db URL] [--artifacts URL] [--experiment NAME]", _init,
        ["%mlops init", "%mlops init --db postgresql+psycopg://u@db/mlops --artifacts s3://b/p"],
    ),
    "experiment": Verb(
        "experiment", "set (or show) the experiment new runs go to", "%mlops experiment [NAME]",
        _experiment, ["%mlops experiment churn"],
    ),
    "track": Verb(
        "track", "run a cell inside a run, or start/stop a run spanning cells",
        "%%mlops track [NAME] [--param k=v ...] [--tag k=v ...]\n"
        "%mlops track start [NAME] [--param k=v ...] [--tag k=v ...] [--end-on-error]\n"
        "%mlops track stop [--status FINISHED|FAILED|KILLED]",
        _track,
        ["%%mlops track rf-baseline --param n_estimators=200 --tag team=churn",
         "%mlops track start sweep --end-on-error", "%mlops track stop"],
        cell=True,
    ),
    "log": Verb(
        "log", "log metrics (or --params) to the active run, else the last run",
        "%mlops log k=v [k=v ...] [--step N] [--params] [--run RUN]", _log,
        ["%mlops log auc=0.91 loss=0.23 --step 3", "%mlops log --params model=rf depth=8"],
    ),
    "runs": Verb(
        "runs", "table of runs: sortable, filterable, best metrics, differing params",
        "%mlops runs [--experiment X] [--sort METRIC] [--asc|--desc] [--filter EXPR] [--limit N] [--differing]",
        _runs,
        ["%mlops runs --sort auc --limit 20", "%mlops runs --filter \"params.model == 'rf'\" --differing"],
    ),
    "show": Verb(
        "show", "one run as a card (default: the last run)", "%mlops show [RUN]", _show,
        ["%mlops show 3fa2c1"],
    ),
    "compare": Verb(
        "compare", "model versions on one holdout (paired CIs, verdict), or runs side by side",
        "%mlops compare REF REF [...] [--holdout REF|VAR --label COL] [--slices a,b] "
        "[--metric M] [--metrics a,b]", _compare,
        ["%mlops compare churn@production churn@v7 --holdout customers@v3 --label churned",
         "%mlops compare 3fa2c1 9b07de", "%mlops compare 3fa2c1 9b07de --metrics loss"],
    ),
}
