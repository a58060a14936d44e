"""Module-level logging functions that act on the active run (started on demand)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_jupyter.store.entities import Artifact
from mlops_jupyter.tracking.session import _require_run


def log_metric(key: str, value: Any, step: int | None = None, timestamp: float | None = None) -> None:
    _require_run().log_metric(key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None, timestamp: float | None = None) -> None:
    _require_run().log_metrics(metrics, step, timestamp)


def log_param(key: str, value: Any) -> None:
    _require_run().log_params({key: value})


def log_params(params: Mapping[str, Any]) -> None:
    _require_run().log_params(params)


def set_tag(key: str, value: Any) -> None:
    _require_run().set_tags({key: value})


def set_tags(tags: Mapping[str, Any]) -> None:
    _require_run().set_tags(tags)


def log_artifact(obj: Any, name: str | None = None) -> Artifact:
    return _require_run().log_artifact(obj, name)


def log_text(text: str, name: str) -> Artifact:
    return _require_run().log_text(text, name)
