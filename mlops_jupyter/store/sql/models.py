"""SQL for the models domain (filled in by its issue)."""

from __future__ import annotations

from mlops_jupyter.store.sql.core import SqlCore


class SqlModels(SqlCore):
    pass
