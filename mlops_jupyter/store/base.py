"""The abstract store: what every backend must offer the domain modules.

One SQL implementation (:class:`mlops_jupyter.store.sql.SqlStore`) serves SQLite and
PostgreSQL. Domains beyond tracking (datasets, models, jobs, drift) add their own
abstract mixins beside this one; :class:`AbstractStore` combines them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlops_jupyter.store.entities import Artifact, Experiment, MetricPoint, Run

#: one metric point as buffered: (key, value, step, timestamp)
PointTuple = tuple[str, float, int, float]


class RunStore(ABC):
    """Experiments, runs, params, tags, metrics and run artifacts."""

    @abstractmethod
    def get_or_create_experiment(self, name: str) -> Experiment: ...

    @abstractmethod
    def get_experiment(self, name: str) -> Experiment: ...

    @abstractmethod
    def list_experiments(self) -> list[Experiment]: ...

    @abstractmethod
    def create_run(self, *, experiment_id: str, name: str | None, **context: Any) -> Run: ...

    @abstractmethod
    def end_run(
        self, run_id: str, status: str, end_time: float, error: Mapping[str, Any] | None = None,
        ended_by: str = "user",
    ) -> None: ...

    @abstractmethod
    def heartbeat(self, run_ids: Sequence[str], at: float) -> None: ...

    @abstractmethod
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None: ...

    @abstractmethod
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...

    @abstractmethod
    def log_metric_batches(self, batches: Mapping[str, Sequence[PointTuple]]) -> int: ...

    @abstractmethod
    def resolve_run_id(self, ref: str) -> str: ...

    @abstractmethod
    def get_run(self, ref: str) -> Run: ...

    @abstractmethod
    def search_runs(
        self, experiment_ids: Iterable[str] | None = None, *, run_ids: Iterable[str] | None = None,
        job_id: str | None = None, parent_id: str | None = None, limit: int | None = None,
    ) -> list[Run]: ...

    @abstractmethod
    def metric_history(self, run_id: str, keys: Iterable[str] | None = None) -> list[MetricPoint]: ...

    @abstractmethod
    def put_artifact_bytes(self, run_id: str, name: str, data: bytes, kind: str) -> Artifact: ...

    @abstractmethod
    def put_artifact_file(self, run_id: str, name: str, path: str, kind: str = "file") -> Artifact: ...

    @abstractmethod
    def list_artifacts(self, run_id: str) -> list[Artifact]: ...

    @abstractmethod
    def read_artifact(self, run_id: str, name: str) -> bytes: ...

    @abstractmethod
    def reap_stale_runs(self) -> int: ...


class AbstractStore(RunStore, ABC):
    """Everything the domain modules may ask of a store."""
