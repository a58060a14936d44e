"""Monitors: stored drift/performance checks per model alias, alerts, and the closed
retraining loop (``mj.monitors``). See docs/monitoring.md."""

from mlops_jupyter.monitors.api import (
    MonitorResult,
    add,
    get,
    history,
    list_monitors,
    run,
    run_all,
)
from mlops_jupyter.monitors.charts import chart

list = list_monitors  # noqa: A001 - mj.monitors.list(), as the contract names it

__all__ = ["add", "run", "run_all", "list", "list_monitors", "history", "get", "chart",
           "MonitorResult"]
