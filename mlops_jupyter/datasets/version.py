"""The DatasetVersion users hold: what a version is, plus its rich display."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from mlops_jupyter.store.sql.datasets import DatasetVersionRecord

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class DatasetVersion(DatasetVersionRecord):
    """One immutable version of a named dataset (``name@vN``).

    ``digest`` is the content hash that identifies the data (equal data, equal digest);
    ``blob`` is the stored object (Parquet for frames, the file itself, or a folder
    manifest). ``schema`` and ``profile`` are None for files and folders that are not
    tabular.
    """

    #: True when this call created the version, False when it already existed
    created: bool = False

    @classmethod
    def from_record(cls, rec: DatasetVersionRecord, created: bool = False) -> DatasetVersion:
        return cls(**{f.name: getattr(rec, f.name) for f in fields(DatasetVersionRecord)},
                   created=created)

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
