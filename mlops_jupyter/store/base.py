"""The abstract store: what every backend must offer the domain modules.

One SQL implementation (:class:`mlops_jupyter.store.sql.SqlStore`) serves SQLite and
PostgreSQL. Domains beyond tracking (datasets, models, jobs, drift) add their own
abstract mixins beside this one; :class:`AbstractStore` combines them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops_jupyter.store.entities import Artifact, Experiment, MetricPoint, Run

if TYPE_CHECKING:  # the records are defined beside their SQL; only names are needed here
    from mlops_jupyter.store.sql.datasets import CachedHash, DatasetVersionRecord, NewVersion
    from mlops_jupyter.store.sql.drift import DriftRecord
    from mlops_jupyter.store.sql.features import (
        FeatureDefinitionRecord,
        FrameColumnRecord,
        MaterializationRecord,
    )
    from mlops_jupyter.store.sql.jobs import JobRecord
    from mlops_jupyter.store.sql.models import (
        AliasCheck,
        AuditRecord,
        DatasetLineage,
        LocatedVersion,
        ModelVersionRecord,
        RegisteredModelRecord,
    )
    from mlops_jupyter.store.sql.monitors import AlertRecord, CheckRecord, MonitorRecord

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
    def log_metric_columns(self, run_id: str, groups: Mapping[str, Any]) -> int:
        """One run's buffered points, ``{key: (steps, values, timestamps)}`` arrays (steps
        may be a ``range``): the in-memory buffer's layout."""

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
    def metric_arrays(self, run_id: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """``{key: (steps, values, timestamps)}`` numpy arrays, by step then time."""

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


class DatasetStore(ABC):
    """Dataset versions, their lineage and the file-hash cache."""

    @abstractmethod
    def find_dataset_blob(self, digest: str) -> tuple[str, int | None] | None: ...

    @abstractmethod
    def find_dataset_version(self, name: str, digest: str) -> DatasetVersionRecord | None: ...

    @abstractmethod
    def create_dataset_version(self, new: NewVersion) -> tuple[DatasetVersionRecord, bool]: ...

    @abstractmethod
    def record_dataset_use(self, run_id: str, version_id: str, role: str = "input") -> None: ...

    @abstractmethod
    def get_dataset_version_by_id(self, version_id: str) -> DatasetVersionRecord: ...

    @abstractmethod
    def resolve_dataset_version(
        self, name: str, *, version: int | None = None, prefix: str | None = None,
    ) -> DatasetVersionRecord: ...

    @abstractmethod
    def list_dataset_versions(self, name: str | None = None) -> list[DatasetVersionRecord]: ...

    @abstractmethod
    def dataset_summaries(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    def dataset_lineage(self, version_id: str) -> dict[str, list[dict[str, Any]]]: ...

    @abstractmethod
    def run_dataset_versions(self, run_id: str, role: str | None = "input") -> list[DatasetVersionRecord]: ...

    @abstractmethod
    def cached_file_hashes(self, host: str, paths: Iterable[str]) -> dict[str, CachedHash]: ...

    @abstractmethod
    def remember_file_hashes(self, host: str, entries: Sequence[CachedHash]) -> None: ...



class ModelStore(ABC):
    """Registered models, versions, aliases, rules and the audit log."""

    @abstractmethod
    def get_model_version(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> ModelVersionRecord: ...

    @abstractmethod
    def get_model_version_by_id(self, version_id: str) -> ModelVersionRecord: ...

    @abstractmethod
    def locate_model_version(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> LocatedVersion: ...

    @abstractmethod
    def model_version_state(self, version_id: str) -> tuple[bool, str] | None: ...

    @abstractmethod
    def list_models(self) -> list[RegisteredModelRecord]: ...

    @abstractmethod
    def list_model_versions(self, name: str) -> list[ModelVersionRecord]: ...

    @abstractmethod
    def model_rules(self, name: str) -> dict[str, Any]: ...

    @abstractmethod
    def model_audit(self, name: str, alias: str | None = None) -> list[AuditRecord]: ...

    @abstractmethod
    def model_dataset_lineage(self, dataset_version_ids: Iterable[str]) -> list[DatasetLineage]: ...

    @abstractmethod
    def model_run_inputs(self, run_id: str) -> list[str]: ...

    @abstractmethod
    def model_versions_of_run(self, run_id: str) -> list[tuple[str, int]]: ...

    @abstractmethod
    def create_model_version(
        self, name: str, *, blob: str, size: int, flavor: str, user: str | None,
        run_id: str | None = None, flavor_meta: Mapping[str, Any] | None = None,
        signature: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None,
        requirements: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
        description: str | None = None, dataset_version_ids: Sequence[str] = (),
        model_description: str | None = None,
    ) -> ModelVersionRecord: ...

    @abstractmethod
    def move_alias(
        self, name: str, alias: str, *, version: int | None, user: str | None,
        reason: str | None, expected_current: Any = ..., check: AliasCheck | None = None,
        action: str = "promote",
    ) -> AuditRecord: ...

    @abstractmethod
    def set_model_trusted(
        self, name: str, version: int, *, trusted: bool, user: str | None, reason: str | None
    ) -> AuditRecord: ...

    @abstractmethod
    def set_model_rules(
        self, name: str, alias: str, rules: Mapping[str, Any] | None, *, user: str | None,
        reason: str | None,
    ) -> AuditRecord: ...



class JobStore(ABC):
    """Notebook jobs."""

    @abstractmethod
    def create_job(
        self, *, kind: str, template: str, name: str | None = None,
        template_digest: str | None = None, parameters: Mapping[str, Any] | None = None,
        gates: list[dict[str, Any]] | None = None, parent_id: str | None = None,
        kernel: str | None = None, timeout: float | None = None,
        output_path: str | None = None, cells_total: int | None = None,
        source_run_id: str | None = None, details: Mapping[str, Any] | None = None,
        user: str | None = None, job_id: str | None = None,
    ) -> JobRecord: ...

    @abstractmethod
    def update_job(self, job_id: str, **values: Any) -> None: ...

    @abstractmethod
    def finish_job(
        self, job_id: str, status: str, *, error: Mapping[str, Any] | None = None,
        ended_by: str = "job", **values: Any,
    ) -> JobRecord: ...

    @abstractmethod
    def resolve_job_id(self, ref: str) -> str: ...

    @abstractmethod
    def get_job(self, ref: str) -> JobRecord: ...

    @abstractmethod
    def list_jobs(
        self, *, parent_id: str | None = None, kind: str | None = None,
        status: str | None = None, limit: int | None = 100,
    ) -> list[JobRecord]: ...

    @abstractmethod
    def reap_stale_jobs(self) -> int: ...



class DriftStore(ABC):
    """Saved drift reports."""

    @abstractmethod
    def save_drift_report(
        self, *, report: bytes, drifted: bool, share: float | None, subject_kind: str | None,
        subject: str | None, reference: str | None, current: str | None, run_id: str | None,
    ) -> DriftRecord: ...

    @abstractmethod
    def list_drift_reports(self, subject_kind: str | None = None, subject: str | None = None) -> list[DriftRecord]: ...

    @abstractmethod
    def get_drift_report(self, report_id: str) -> DriftRecord: ...


class MonitorStore(ABC):
    """Monitors, their checks and alerts; rejected model versions (issue 11)."""

    @abstractmethod
    def create_monitor(self, *, name: str, model: str | None, current: str | None,
                       spec: dict[str, Any], reference: bytes | None, reference_ref: str | None,
                       replace: bool = False) -> MonitorRecord: ...

    @abstractmethod
    def get_monitor(self, name: str, *, by_id: bool = False) -> MonitorRecord: ...

    @abstractmethod
    def list_monitors(self) -> list[MonitorRecord]: ...

    @abstractmethod
    def set_monitor_watermark(self, monitor_id: str, watermark: dict[str, Any]) -> None: ...

    @abstractmethod
    def add_monitor_checks(self, checks: list[dict[str, Any]],
                           watermarks: dict[str, dict[str, Any]] | None = None) -> list[str]: ...

    @abstractmethod
    def update_monitor_check(self, check_id: str, **values: Any) -> None: ...

    @abstractmethod
    def list_monitor_checks(self, monitor_id: str, limit: int | None = None) -> list[CheckRecord]: ...

    @abstractmethod
    def record_alert(self, **values: Any) -> AlertRecord: ...

    @abstractmethod
    def last_alert_sent(self, monitor_id: str, channel: str, key: str) -> float | None: ...

    @abstractmethod
    def list_alerts(self, monitor_id: str | None = None) -> list[AlertRecord]: ...

    @abstractmethod
    def reject_model_version(self, version_id: str, *, user: str | None, reason: str,
                             source: str) -> bool: ...

    @abstractmethod
    def model_version_rejection(self, version_id: str) -> dict[str, Any] | None: ...



class FeatureStore(ABC):
    """Feature view definitions, materialisations and training-frame columns."""

    @abstractmethod
    def register_feature_definition(
        self, view: str, *, digest: str, spec: dict[str, Any], code: str | None,
        path: str | None, owner: str | None,
    ) -> tuple[FeatureDefinitionRecord, bool]: ...

    @abstractmethod
    def feature_definitions(self, view: str | None = None) -> list[FeatureDefinitionRecord]: ...

    @abstractmethod
    def feature_definition(self, view: str, version: int | None = None) -> FeatureDefinitionRecord: ...

    @abstractmethod
    def feature_definition_by_id(self, definition_id: str) -> FeatureDefinitionRecord: ...

    @abstractmethod
    def find_materialization(self, definition_id: str, source_version_id: str) -> MaterializationRecord | None: ...

    @abstractmethod
    def record_materialization(
        self, definition_id: str, source_version_id: str, dataset_version_id: str, rows: int,
    ) -> MaterializationRecord: ...

    @abstractmethod
    def list_materializations(self, definition_id: str | None = None) -> list[MaterializationRecord]: ...

    @abstractmethod
    def record_frame_columns(self, frame_version_id: str, columns: Sequence[dict[str, Any]]) -> None: ...

    @abstractmethod
    def frame_columns(self, frame_version_ids: Sequence[str]) -> list[FrameColumnRecord]: ...

    @abstractmethod
    def models_using_features(self) -> list[dict[str, Any]]: ...


class AbstractStore(
    RunStore, DatasetStore, ModelStore, JobStore, DriftStore, MonitorStore, FeatureStore, ABC
):
    """Everything the domain modules may ask of a store. A new back end implements
    these; :class:`mlops_jupyter.store.sql.SqlStore` is the one that ships."""
