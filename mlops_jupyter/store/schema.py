"""The metadata schema (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Changing a table means adding a migration in :mod:`mlops_jupyter.store.migrations`
and bumping ``SCHEMA_VERSION``. Times are UNIX seconds as floats (timezone-free and
identical on both backends); JSON documents are stored as text so both backends
behave the same.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

SCHEMA_VERSION = 6

metadata = MetaData()

ID = String(32)
NAME = String(256)

schema_info = Table(
    "mlops_schema",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.id"), nullable=False),
    Column("name", NAME),
    Column("status", String(16), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float),
    Column("heartbeat_at", Float),
    Column("ended_by", String(16)),  # user | reaper | exit
    Column("user", String(128)),
    Column("host", String(256)),
    Column("pid", Integer),
    Column("pid_start", String(32)),  # process start time, guards against pid reuse
    Column("parent_id", ID, ForeignKey("runs.id")),
    Column("job_id", ID),
    Column("source", Text),  # notebook or script path
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("error", Text),  # JSON: type, message, traceback
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_job", "job_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

# Every logged point. value NULL means NaN (SQLite cannot store NaN).
metrics = Table(
    "metrics",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

# Logged points in columnar chunks: one row per (run, key, flush) holding packed
# little-endian arrays (int64 steps, float64 values with NaN kept, float64 timestamps).
# A flush of a million points is one INSERT of 24 MB instead of a million rows, and a
# history of ten million points is read back as a few arrays (see store/sql/points.py).
# An empty ``steps`` blob means steps step_min..step_max in n equal strides (16 MB then).
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("n", Integer, nullable=False),
    Column("step_min", BigInteger, nullable=False),
    Column("step_max", BigInteger, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("vals", LargeBinary, nullable=False),
    Column("times", LargeBinary, nullable=False),
    Index("ix_metric_chunks_run_key", "run_id", "key"),
)

# One row per (run, key), maintained at flush time so listing 10,000 runs stays fast.
metric_summary = Table(
    "metric_summary",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("last_value", Float),
    Column("last_step", BigInteger, nullable=False),
    Column("last_timestamp", Float, nullable=False),
    Column("min_value", Float),
    Column("min_step", BigInteger),
    Column("max_value", Float),
    Column("max_step", BigInteger),
    Column("count", BigInteger, nullable=False),
)

# Every content-addressed blob the metadata knows about (for doctor --verify).
blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(1024), primary_key=True),
    Column("digest", String(64), ForeignKey("blobs.digest"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # file | dir | bytes | figure | text
    Column("created_at", Float, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", Float, nullable=False),
)
# names differing only in letter case would share a checkout folder on case-insensitive
# file systems: one of them, even when two processes race to create both
Index("uq_datasets_name_nocase", func.lower(datasets.c.name), unique=True)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("dataset_id", ID, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # content hash naming the version
    Column("kind", String(16), nullable=False),  # dataframe | file | folder
    Column("blob", String(64), ForeignKey("blobs.digest"), nullable=False),
    Column("size", BigInteger),
    Column("rows", BigInteger),
    Column("columns", Integer),
    Column("schema", Text),  # JSON
    Column("profile", Text),  # JSON
    Column("source", Text),
    Column("description", Text),
    Column("creator", String(128)),
    Column("run_id", ID),
    Column("parent_id", ID),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_version"),
    UniqueConstraint("dataset_id", "digest", name="uq_dataset_digest"),
    Index("ix_dataset_versions_digest", "digest"),
)

# A file's hash remembered by where it is and how it looks (host, path, size, mtime,
# ctime, inode, device): an unchanged file re-added is recognised without re-reading
# it. Advisory only: a missing or stale row just means the file is hashed again.
dataset_file_hashes = Table(
    "dataset_file_hashes",
    metadata,
    Column("host", String(256), primary_key=True),
    Column("path", String(4096), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("ctime_ns", BigInteger, nullable=False),
    Column("inode", String(32), nullable=False),  # uint64: text, not BIGINT
    Column("device", String(32), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("checked_at", Float, nullable=False),
)

# Lineage: which dataset versions a run read or wrote.
run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_version_id", ID, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("role", String(16), primary_key=True),  # input | output
    Column("created_at", Float, nullable=False),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("description", Text),
    Column("rules", Text),  # JSON: alias -> promotion rules
    Column("created_at", Float, nullable=False),
)
Index("uq_models_name_nocase", func.lower(registered_models.c.name), unique=True)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", ID),
    Column("blob", String(64), ForeignKey("blobs.digest"), nullable=False),
    Column("size", BigInteger),
    Column("flavor", String(64), nullable=False),
    Column("flavor_meta", Text),  # JSON: e.g. the skops types that need trust
    Column("signature", Text),  # JSON
    Column("metrics", Text),  # JSON
    Column("requirements", Text),  # JSON
    Column("tags", Text),  # JSON
    Column("description", Text),
    Column("trusted", Boolean, nullable=False, default=False),
    Column("creator", String(128)),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("model_id", "version", name="uq_model_version"),
)

model_version_datasets = Table(
    "model_version_datasets",
    metadata,
    Column("model_version_id", ID, ForeignKey("model_versions.id"), primary_key=True),
    Column("dataset_version_id", ID, ForeignKey("dataset_versions.id"), primary_key=True),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", ID, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", NAME, primary_key=True),
    Column("version_id", ID, ForeignKey("model_versions.id"), nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_model_aliases_version", "version_id"),
)

# Append-only: promotions, trust changes, and other governed actions.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("user", String(128)),
    Column("action", String(32), nullable=False),
    Column("model_id", ID),
    Column("alias", NAME),
    Column("from_version", Integer),
    Column("to_version", Integer),
    Column("reason", Text),
    Column("details", Text),  # JSON
    Index("ix_audit_model_at", "model_id", "at"),
)

# One row per notebook job (a papermill execution, a sweep parent, a reproduction).
jobs = Table(
    "jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("parent_id", ID),  # the sweep (or job) this job belongs to
    Column("kind", String(16), nullable=False),  # run | sweep | reproduce
    Column("name", NAME),  # template name (train, evaluate, ...) or sweep label
    Column("template", Text, nullable=False),  # path the template was read from
    Column("template_digest", String(64)),  # blob holding the exact template bytes
    Column("parameters", Text),  # JSON: the validated values injected
    Column("gates", Text),  # JSON: [{expr, metric, op, threshold, value, passed, run_id}]
    Column("status", String(16), nullable=False),  # RUNNING FINISHED FAILED TIMEOUT KILLED
    Column("start_time", Float, nullable=False),
    Column("end_time", Float),
    Column("ended_by", String(16)),  # job | signal | reaper
    Column("error", Text),  # JSON: type, message, cell, traceback
    Column("output_blob", String(64)),  # executed notebook, kept even when a cell failed
    Column("output_path", Text),
    Column("kernel", String(128)),
    Column("timeout", Float),
    Column("cells_total", Integer),
    Column("cells_done", Integer),
    Column("source_run_id", ID),  # reproduce: the run being reproduced
    Column("details", Text),  # JSON: kind-specific extras (sweep grid, reproduce report)
    Column("user", String(128)),
    Column("host", String(256)),
    Column("pid", Integer),
    Column("pid_start", String(32)),
    Index("ix_jobs_start", "start_time"),
    Index("ix_jobs_parent", "parent_id"),
)

# Added in schema version 2 (see migrations).
drift_reports = Table(
    "drift_reports",
    metadata,
    Column("id", ID, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("subject_kind", String(16)),  # model | dataset
    Column("subject", NAME),  # model or dataset name
    Column("reference", Text),
    Column("current", Text),
    Column("drifted", Boolean, nullable=False),
    Column("share", Float),
    Column("report_blob", String(64), ForeignKey("blobs.digest")),
    Column("run_id", ID),
    Index("ix_drift_subject_at", "subject_kind", "subject", "created_at"),
)


# Added in schema version 3 (see migrations): decisions and monitors (issue 11). New
# tables only, so the step is self-contained.
model_version_rejections = Table(
    "model_version_rejections",
    metadata,
    Column("version_id", ID, ForeignKey("model_versions.id"), primary_key=True),
    Column("at", Float, nullable=False),
    Column("user", String(128)),
    Column("reason", Text),
    Column("source", String(64)),  # gate | challenger | manual | monitor
)

monitors = Table(
    "monitors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("model", NAME),  # model ref (churn@production)
    Column("current", Text),  # dataset name read window by window
    Column("spec", Text, nullable=False),  # JSON: schedule, thresholds, alerts, retrain
    Column("reference_blob", String(64), ForeignKey("blobs.digest")),  # binned summary
    Column("reference_ref", Text),
    Column("watermark", Text),  # JSON: where the next window starts
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

monitor_checks = Table(
    "monitor_checks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("monitor_id", ID, ForeignKey("monitors.id"), nullable=False),
    Column("at", Float, nullable=False),
    Column("status", String(16), nullable=False),  # ok | drift | perf | empty | error
    Column("drifted", Boolean, nullable=False, default=False),
    Column("rows", Integer),
    Column("summary", Text),  # JSON: per-column scores, performance, decision chain
    Column("report_id", ID),  # drift_reports.id (the full report, in drift history)
    Column("job_id", ID),
    Column("run_id", ID),
    Column("model_version", Integer),
    Column("promoted", Boolean),
    Index("ix_monitor_checks_at", "monitor_id", "at"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("monitor_id", ID, ForeignKey("monitors.id"), nullable=False),
    Column("check_id", ID),
    Column("at", Float, nullable=False),
    Column("channel", String(16), nullable=False),  # log | webhook | email
    Column("target", Text),
    Column("key", String(128), nullable=False),  # dedup key
    Column("status", String(16), nullable=False),  # sent | suppressed | failed
    Column("error", Text),
    Index("ix_monitor_alerts_key", "monitor_id", "channel", "key", "at"),
)

# Added in schema version 5 (feature repository; see migrations). Self-contained: new
# tables only. A feature view's definitions: a new row each time apply() finds the code
# or spec differ from the latest (reverting to older code makes a new version too).
feature_definitions = Table(
    "feature_definitions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("view", NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # hash of code and inputs
    Column("spec", Text, nullable=False),  # JSON: entity, timestamp, source, features, ttl
    Column("code", Text),  # the function's source (what the digest covers)
    Column("path", Text),  # file, relative to the project root
    Column("owner", String(128)),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("view", "version", name="uq_feature_def_version"),
    Index("ix_feature_def_digest", "view", "digest"),
)

# A definition computed over one source dataset version -> the dataset version holding it.
feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("definition_id", ID, ForeignKey("feature_definitions.id"), nullable=False),
    Column("source_version_id", ID, ForeignKey("dataset_versions.id"), nullable=False),
    Column("dataset_version_id", ID, ForeignKey("dataset_versions.id"), nullable=False),
    Column("rows", BigInteger),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("definition_id", "source_version_id", name="uq_feature_mat_source"),
)

# Which features (and definition versions) a training frame (a dataset version) holds.
feature_frame_columns = Table(
    "feature_frame_columns",
    metadata,
    Column("frame_version_id", ID, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("view", NAME, primary_key=True),
    Column("feature", NAME, primary_key=True),
    Column("column_name", NAME, nullable=False),
    Column("definition_id", ID, ForeignKey("feature_definitions.id"), nullable=False),
    Column("materialization_id", ID, ForeignKey("feature_materializations.id")),
    Index("ix_feature_frame_def", "definition_id"),
)
