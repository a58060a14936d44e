"""Plain dataclasses returned by the store: separate from table rows on purpose, so
the schema can change without changing what callers see."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

RUNNING, FINISHED, FAILED, KILLED = "RUNNING", "FINISHED", "FAILED", "KILLED"
RUN_STATUSES = (RUNNING, FINISHED, FAILED, KILLED)

# Tags set by the package itself; user tags may not use this prefix.
SYSTEM_TAG_PREFIX = "mlops."


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    created_at: float
    description: str | None = None


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    step: int
    timestamp: float


@dataclass(frozen=True)
class MetricSummary:
    key: str
    last: float
    last_step: int
    min: float
    min_step: int | None
    max: float
    max_step: int | None
    count: int


@dataclass(frozen=True)
class Artifact:
    run_id: str
    name: str
    digest: str
    size: int
    kind: str
    created_at: float


@dataclass(frozen=True)
class Run:
    id: str
    experiment_id: str
    experiment: str
    name: str | None
    status: str
    start_time: float
    end_time: float | None
    user: str | None = None
    host: str | None = None
    pid: int | None = None
    parent_id: str | None = None
    job_id: str | None = None
    source: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    error: dict[str, Any] | None = None
    ended_by: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def duration(self) -> float | None:
        if self.end_time is None:
            return None
        return self.end_time - self.start_time

    @property
    def user_tags(self) -> dict[str, str]:
        return {k: v for k, v in self.tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}

    def metric(self, key: str) -> float:
        """The latest value of a metric (NaN stays NaN)."""
        return self.metrics[key].last

    def _repr_html_(self) -> str:
        from mlops_jupyter.display.cards import run_card

        return run_card(self)

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k}={_fmt(m.last)}" for k, m in list(self.metrics.items())[:6])
        return (
            f"<Run {self.short_id} {self.name or ''!s} [{self.status}] "
            f"experiment={self.experiment!r} params={len(self.params)} metrics: {metrics}>"
        )


def _fmt(v: float) -> str:
    return "nan" if isinstance(v, float) and math.isnan(v) else f"{v:.6g}"
