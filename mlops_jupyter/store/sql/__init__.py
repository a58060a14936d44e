"""The SQL implementation of the store (SQLite and PostgreSQL through SQLAlchemy Core).

Each domain keeps its SQL in its own mixin module; :class:`SqlStore` combines them.
"""

from mlops_jupyter.store.base import AbstractStore
from mlops_jupyter.store.sql.access import SqlAccess
from mlops_jupyter.store.sql.datasets import SqlDatasets
from mlops_jupyter.store.sql.drift import SqlDrift
from mlops_jupyter.store.sql.features import SqlFeatures
from mlops_jupyter.store.sql.jobs import SqlJobs
from mlops_jupyter.store.sql.models import SqlModels
from mlops_jupyter.store.sql.monitors import SqlMonitors
from mlops_jupyter.store.sql.run_artifacts import SqlRunArtifacts
from mlops_jupyter.store.sql.runs import SqlRuns


class SqlStore(
    SqlRuns, SqlRunArtifacts, SqlDatasets, SqlModels, SqlJobs, SqlDrift, SqlMonitors, SqlAccess,
    SqlFeatures, AbstractStore,
):
    """The one store implementation: every domain's SQL mixin, combined."""


__all__ = ["SqlStore"]
