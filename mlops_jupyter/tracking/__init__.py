"""Runs, params, metrics, tags, artifacts and the context each run records."""

from mlops_jupyter.tracking.active import ActiveRun
from mlops_jupyter.tracking.query import get_run, metric_history, runs
from mlops_jupyter.tracking.session import (
    active_run,
    current_experiment,
    end_run,
    flush,
    get_store,
    init,
    last_run_id,
    set_experiment,
    start_run,
)

__all__ = [
    "ActiveRun",
    "active_run",
    "current_experiment",
    "end_run",
    "flush",
    "get_run",
    "get_store",
    "init",
    "last_run_id",
    "metric_history",
    "runs",
    "set_experiment",
    "start_run",
]
