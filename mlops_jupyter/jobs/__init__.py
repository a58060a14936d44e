"""Notebook jobs: templates run by papermill, recorded, gated, swept and reproduced.

``import mlops_jupyter as mj; mj.jobs.run("train", parameters={...}, gates=["auc>=0.8"])``.
Submodule names (api, job, parameters, gates, templates, runner, sweeps, reproduction,
display, executors, dask_executor, fanout, space, tuning, tune_panel) never equal a public function name, so importing one cannot shadow the other.
Heavy imports (papermill, nbclient) happen when a job runs, not on import.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "run": "mlops_jupyter.jobs.api:run",
    "prepare": "mlops_jupyter.jobs.api:prepare",
    "get_job": "mlops_jupyter.jobs.api:get_job",
    "list_jobs": "mlops_jupyter.jobs.api:list_jobs",
    "Job": "mlops_jupyter.jobs.job:Job",
    "list_templates": "mlops_jupyter.jobs.templates:discover",
    "get_template": "mlops_jupyter.jobs.templates:resolve",
    "Template": "mlops_jupyter.jobs.templates:Template",
    "inspect_parameters": "mlops_jupyter.jobs.parameters:inspect_notebook",
    "parse_gate": "mlops_jupyter.jobs.gates:parse",
    "sweep": "mlops_jupyter.jobs.sweeps:sweep",
    "Sweep": "mlops_jupyter.jobs.sweeps:Sweep",
    "reproduce": "mlops_jupyter.jobs.reproduction:reproduce",
    "Reproduction": "mlops_jupyter.jobs.reproduction:Reproduction",
    "Terminated": "mlops_jupyter.jobs.runner:Terminated",
    "tune": "mlops_jupyter.jobs.tuning:tune",
    "Tuning": "mlops_jupyter.jobs.tuning:Tuning",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mlops_jupyter.jobs' has no attribute {name!r}")
    mod_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(mod_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
