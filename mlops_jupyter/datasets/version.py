"""The DatasetVersion users hold: what a version is, plus its rich display."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops_jupyter.store.sql.datasets import DatasetVersionRecord


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a named dataset (``name@vN``).

    ``digest`` is the content hash that identifies the data (equal data, equal digest);
    ``blob`` is the stored object (Parquet for frames, the file itself, or a folder
    manifest). ``schema`` and ``profile`` are None for files and folders that are not
    tabular.
    """

    id: str
    name: str
    version: int
    digest: str
    kind: str  # dataframe | file | folder
    blob: str
    size: int | None
    rows: int | None
    columns: int | None
    schema: dict[str, Any] | None
    profile: dict[str, Any] | None
    source: str | None
    description: str | None
    creator: str | None
    run_id: str | None
    parent_id: str | None
    parent_version: int | None
    created_at: float
    #: True when this call created the version, False when it already existed
    created: bool = False

    @classmethod
    def from_record(cls, rec: DatasetVersionRecord, created: bool = False) -> DatasetVersion:
        return cls(
            id=rec.id, name=rec.name, version=rec.version, digest=rec.digest, kind=rec.kind,
            blob=rec.blob, size=rec.size, rows=rec.rows, columns=rec.columns, schema=rec.schema,
            profile=rec.profile, source=rec.source, description=rec.description,
            creator=rec.creator, run_id=rec.run_id, parent_id=rec.parent_id,
            parent_version=rec.parent_version, created_at=rec.created_at, created=created,
        )

    @property
    def ref(self) -> str:
        """The reference to this exact version, e.g. ``churn@v3``."""
        return f"{self.name}@v{self.version}"

    @property
    def short_digest(self) -> str:
        return self.digest[:12]

    @property
    def key(self) -> list[str]:
        """Key columns given at add time (used by diff to match rows)."""
        return list((self.schema or {}).get("key") or [])

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in (self.schema or {}).get("columns", [])]

    def load(self, **kwargs: Any) -> pd.DataFrame | Any:
        """Same as ``mj.datasets.load(self)``."""
        from mlops_jupyter.datasets.api import load

        return load(self, **kwargs)

    def panel(self) -> Any:
        """An ipywidgets panel (tabs: overview, schema, columns) for a live kernel."""
        from mlops_jupyter.datasets.display import version_panel

        return version_panel(self)

    def _repr_html_(self) -> str:
        from mlops_jupyter.datasets.display import version_html

        return version_html(self)

    def __str__(self) -> str:
        return self.ref

    def __repr__(self) -> str:
        shape = f" {self.rows}x{self.columns}" if self.rows is not None else ""
        size = f" {self.size} bytes" if self.size is not None and self.kind != "dataframe" else ""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created_at))
        return f"<DatasetVersion {self.ref} {self.kind}{shape}{size} {self.short_digest} {when}>"
