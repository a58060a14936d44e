"""SQL for the drift domain (filled in by its issue)."""

from __future__ import annotations

from mlops_jupyter.store.sql.core import SqlCore


class SqlDrift(SqlCore):
    pass
