"""mlops-jupyter: versioned data, tracked experiments, a model registry, serving, drift
and papermill jobs from inside Jupyter, on an embedded store.

The top level is light on purpose (``import mlops_jupyter`` and ``%load_ext`` must stay
fast): names are resolved on first use through :func:`__getattr__`.
"""

from __future__ import annotations

import importlib
from typing import Any

from mlops_jupyter._version import __version__
from mlops_jupyter.errors import MlopsError

# public name -> "module:attribute" (attribute None: the module itself)
_LAZY: dict[str, str] = {
    "init": "mlops_jupyter.tracking.session:init",
    "get_store": "mlops_jupyter.tracking.session:get_store",
    "set_experiment": "mlops_jupyter.tracking.session:set_experiment",
    "start_run": "mlops_jupyter.tracking.session:start_run",
    "end_run": "mlops_jupyter.tracking.session:end_run",
    "active_run": "mlops_jupyter.tracking.session:active_run",
    "flush": "mlops_jupyter.tracking.session:flush",
    "log_metric": "mlops_jupyter.tracking.api:log_metric",
    "log_metrics": "mlops_jupyter.tracking.api:log_metrics",
    "log_param": "mlops_jupyter.tracking.api:log_param",
    "log_params": "mlops_jupyter.tracking.api:log_params",
    "set_tag": "mlops_jupyter.tracking.api:set_tag",
    "set_tags": "mlops_jupyter.tracking.api:set_tags",
    "log_artifact": "mlops_jupyter.tracking.api:log_artifact",
    "log_text": "mlops_jupyter.tracking.api:log_text",
    "get_run": "mlops_jupyter.tracking.query:get_run",
    "runs": "mlops_jupyter.tracking.query:runs",
    "metric_history": "mlops_jupyter.tracking.query:metric_history",
    "errors": "mlops_jupyter.errors:",
    # domain modules, used as namespaces: mj.datasets.add(...), mj.models.register(...)
    "datasets": "mlops_jupyter.datasets:",
    "models": "mlops_jupyter.models:",
    "jobs": "mlops_jupyter.jobs:",
    "features": "mlops_jupyter.features:",
    "drift": "mlops_jupyter.monitoring.api:drift",
    "drift_history": "mlops_jupyter.monitoring.api:drift_history",
    "monitors": "mlops_jupyter.monitors:",
    "import_mlflow": "mlops_jupyter.interop.mlflow_import:import_mlflow",
    "export_mlflow": "mlops_jupyter.interop.mlflow_export:export_mlflow",
    "tune": "mlops_jupyter.jobs.tuning:tune",
    "compare": "mlops_jupyter.comparison.api:compare",
}

__all__ = ["__version__", "MlopsError", "load_ipython_extension", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mlops_jupyter' has no attribute {name!r}")
    mod_name, _, attr = target.partition(":")
    mod = importlib.import_module(mod_name)
    value = getattr(mod, attr) if attr else mod
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mlops_jupyter``: register the ``%mlops`` magics."""
    from mlops_jupyter.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from mlops_jupyter.magics import unload_ipython_extension as _unload

    _unload(ipython)
