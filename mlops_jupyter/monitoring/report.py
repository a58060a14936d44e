"""The drift report: per-column results, the dataset verdict, and their persisted form.

A report holds only small, binned summaries (never the data), so it can be shown,
saved to the store as JSON (``to_dict``), listed over time and rebuilt
(``from_dict``) without the frames it came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import UsageError

__all__ = ["ColumnDrift", "SchemaChange", "DriftReport", "FORMAT", "FORMAT_VERSION"]

FORMAT = "mlops-jupyter/drift-report"
FORMAT_VERSION = 1


@dataclass
class ColumnDrift:
    """The result for one column.

    ``score`` is the value of ``statistic`` that ``method`` compared with
    ``threshold``; ``stats`` holds every statistic computed for the column (so a
    report made with one method still shows the others). ``severity`` is >= 1
    exactly when the column drifted and orders the table; schema problems are +inf.
    """

    column: str
    kind: str | None
    method: str
    drifted: bool
    severity: float = 0.0
    statistic: str | None = None
    score: float | None = None
    threshold: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    n_reference: int = 0
    n_current: int = 0
    missing_reference: float | None = None
    missing_current: float | None = None
    missing_p_value: float | None = None
    missing_drifted: bool = False
    unseen_count: int | None = None
    unseen_share: float | None = None
    unseen_examples: list[str] = field(default_factory=list)
    histogram: dict[str, Any] | None = None
    dtype_reference: str | None = None
    dtype_current: str | None = None
    schema: str | None = None
    note: str = ""
    #: "feature"; "label" (the model's target, compared only when the current data has
    #: it); "id" (an identifier-like column: judged on new/lost values only)
    role: str = "feature"

    @property
    def missing_change(self) -> float | None:
        if self.missing_reference is None or self.missing_current is None:
            return None
        return self.missing_current - self.missing_reference


@dataclass
class SchemaChange:
    """A difference between the two frames' columns.

    ``issue`` is one of ``missing_in_current``, ``missing_in_reference``,
    ``kind_changed`` (these count as drift) or ``new_in_current``,
    ``dtype_changed`` (informational: the values are still compared).
    """

    column: str
    issue: str
    dtype_reference: str | None
    dtype_current: str | None
    drifted: bool


_SCHEMA_TEXT = {
    "missing_in_current": "missing from the current data",
    "missing_in_reference": "missing from the reference data",
    "kind_changed": "type changed",
    "new_in_current": "only in the current data (not compared)",
    "dtype_changed": "dtype changed (values still compared)",
}


@dataclass
class DriftReport:
    """Drift between a reference and a current frame, per column and overall.

    The dataset verdict (``drifted``) is True when any column drifted (``threshold``
    None, the default: each column's test is Holm-corrected and must clear an effect
    floor), or when the share of drifted columns reaches ``threshold`` (a number), or
    when any compared column is missing on one side or changed type (a model cannot be
    trusted on inputs whose schema changed), or when the model's predictions drifted.
    """

    columns: list[ColumnDrift]
    threshold: float | None = None
    method: str = "auto"
    n_reference: int = 0
    n_current: int = 0
    schema: list[SchemaChange] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    performance: dict[str, dict[str, float | None]] | None = None
    title: str = "Data drift"
    elapsed: float | None = None
    #: prediction drift of a model on the same two frames (set by mj.drift with a model)
    prediction: DriftReport | None = None

    # ------------------------------------------------------------------ verdict
    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns, most severe first."""
        return [c.column for c in self.sorted_columns() if c.drifted]

    @property
    def share(self) -> float:
        """Share of compared columns that drifted (0.0 with no columns)."""
        if not self.columns:
            return 0.0
        return sum(c.drifted for c in self.columns) / len(self.columns)

    @property
    def schema_drifted(self) -> bool:
        return any(c.schema is not None for c in self.columns)

    @property
    def data_drifted(self) -> bool:
        """The verdict on the compared columns alone (without prediction drift)."""
        if not self.columns:
            return False
        if self.schema_drifted:
            return True
        if self.threshold is None:
            return any(c.drifted for c in self.columns)
        return self.share >= self.threshold

    @property
    def prediction_drifted(self) -> bool:
        return self.prediction is not None and self.prediction.drifted

    @property
    def drifted(self) -> bool:
        return self.data_drifted or self.prediction_drifted

    @property
    def rule(self) -> str:
        return ("any column (Holm-corrected, effect floor)" if self.threshold is None
                else f"share >= {self.threshold:g}")

    def __getitem__(self, column: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == column:
                return c
        raise KeyError(f"no column {column!r} in this report; it has: "
                       f"{', '.join(c.column for c in self.columns)}")

    def sorted_columns(self) -> list[ColumnDrift]:
        """Columns by severity: schema problems, then drifted, then the rest."""
        return sorted(
            self.columns,
            key=lambda c: (c.schema is None, not c.drifted, -_finite(c.severity), c.column),
        )

    def summary(self) -> str:
        """One line for logs, CI output and the CLI."""
        verdict = "DRIFT" if self.drifted else "NO DRIFT"
        head = (f"{verdict}: {sum(c.drifted for c in self.columns)} of {len(self.columns)} "
                f"columns drifted (share {self.share:.2f}; rule: {self.rule})")
        if self.drifted_columns:
            names = self.drifted_columns
            more = f" (+{len(names) - 8} more)" if len(names) > 8 else ""
            head += ": " + ", ".join(names[:8]) + more
        if self.prediction_drifted:
            head += "; prediction drift: " + ", ".join(self.prediction.drifted_columns)
        special = [f"{c.column} ({c.role})" for c in self.columns if c.role != "feature"]
        if special:
            head += "; compared apart: " + ", ".join(special)
        return head

    def __repr__(self) -> str:
        return f"<DriftReport {self.summary()}>"

    # ------------------------------------------------------------------ tables
    def to_frame(self):
        """One row per column, most severe first (pandas DataFrame)."""
        import pandas as pd

        stat_keys: list[str] = []
        for c in self.columns:
            for k, v in c.stats.items():
                if k not in stat_keys and not isinstance(v, (dict, list)):
                    stat_keys.append(k)
        rows = []
        for c in self.sorted_columns():
            row = {
                "column": c.column,
                "kind": c.kind,
                "drifted": c.drifted,
                "method": c.method,
                "statistic": c.statistic,
                "score": c.score,
                "threshold": c.threshold,
                "severity": c.severity,
                "missing_reference": c.missing_reference,
                "missing_current": c.missing_current,
                "missing_drifted": c.missing_drifted,
                "unseen_share": c.unseen_share,
                "schema": c.schema,
                "note": c.note,
                "role": c.role,
            }
            for k in stat_keys:
                v = c.stats.get(k)
                row[k] = None if isinstance(v, (dict, list)) else v
            rows.append(row)
        cols = ["column", "kind", "drifted", "method", "statistic", "score", "threshold",
                "severity", "missing_reference", "missing_current", "missing_drifted",
                "unseen_share", "schema", "note", "role", *stat_keys]
        return pd.DataFrame(rows, columns=cols)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (``json.dumps(d, allow_nan=False)`` works): NaN becomes
        None and ±inf the strings "inf"/"-inf"; :meth:`from_dict` reverses both."""
        d = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "title": self.title,
            "method": self.method,
            "threshold": self.threshold,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "elapsed": self.elapsed,
            "options": self.options,
            "performance": self.performance,
            "columns": [_column_dict(c) for c in self.columns],
            "schema": [asdict(s) for s in self.schema],
            "prediction": self.prediction.to_dict() if self.prediction is not None else None,
            # derived, for readers that do not rebuild the object (CLI --json, REST)
            "drifted": self.drifted,
            "data_drifted": self.data_drifted,
            "prediction_drifted": self.prediction_drifted,
            "share": self.share,
            "drifted_columns": self.drifted_columns,
        }
        return _json_safe(d)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        """Rebuild a report saved with :meth:`to_dict`."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise UsageError("not a drift report dict (missing format "
                             f"{FORMAT!r}); was it made by DriftReport.to_dict()?")
        version = data.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise UsageError(f"drift report format version {version!r} is newer than this "
                             f"mlops-jupyter understands ({FORMAT_VERSION}); upgrade it")
        d = _json_restore(dict(data))
        col_fields = {f.name for f in fields(ColumnDrift)}
        sch_fields = {f.name for f in fields(SchemaChange)}
        return cls(
            columns=[ColumnDrift(**{k: v for k, v in c.items() if k in col_fields})
                     for c in d.get("columns", [])],
            threshold=(None if d.get("threshold") is None else float(d["threshold"])),
            method=d.get("method", "auto"),
            n_reference=int(d.get("n_reference", 0)),
            n_current=int(d.get("n_current", 0)),
            schema=[SchemaChange(**{k: v for k, v in s.items() if k in sch_fields})
                    for s in d.get("schema", [])],
            options=d.get("options") or {},
            performance=d.get("performance"),
            title=d.get("title", "Data drift"),
            elapsed=d.get("elapsed"),
            prediction=(cls.from_dict(data["prediction"])
                        if isinstance(data.get("prediction"), Mapping) else None),
        )

    # ------------------------------------------------------------------ display
    def _repr_html_(self) -> str:
        from .render import report_html

        return report_html(self)

    def widget(self):
        """An interactive ipywidgets panel (filter the table, inspect one column).

        The notebook's default display stays the static HTML, which survives
        nbconvert/papermill; call this in a live kernel for the panel.
        """
        from mlops_jupyter.display.panel import with_static

        from .widget import drift_widget

        return with_static(drift_widget(self), self._repr_html_)

    def schema_text(self, issue: str) -> str:
        return _SCHEMA_TEXT.get(issue, issue)


def _column_dict(c: ColumnDrift) -> dict[str, Any]:
    return {f.name: getattr(c, f.name) for f in fields(ColumnDrift)}


def _finite(x: float | None) -> float:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return 0.0
    return min(float(x), 1e300)


def _json_safe(obj: Any) -> Any:
    """Recursively make ``obj`` strict-JSON: numpy scalars to Python, NaN to None,
    ±inf to "inf"/"-inf", tuples to lists, keys to str."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if all(type(v) is float and v - v == 0 for v in obj):  # finite floats: as they are
            return list(obj)
        return [_json_safe(v) for v in obj]
    # numpy scalars and arrays without importing numpy here
    if hasattr(obj, "tolist"):
        return _json_safe(obj.tolist())
    if hasattr(obj, "item"):
        return _json_safe(obj.item())
    return str(obj)


_NUMERIC_COLUMN_FIELDS = ("severity", "score", "threshold", "missing_reference",
                          "missing_current", "missing_p_value", "unseen_share")


def _num(v: Any) -> Any:
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return v


def _deep_num(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: (x if k in ("test", "effect_name") else _deep_num(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [_deep_num(x) for x in v]
    return _num(v)


def _json_restore(d: dict[str, Any]) -> dict[str, Any]:
    """Undo the "inf" encoding, only in fields that hold numbers (a category or a
    column may well be called "inf")."""
    cols = []
    for c in d.get("columns", []):
        c = dict(c)
        for k in _NUMERIC_COLUMN_FIELDS:
            if k in c:
                c[k] = _num(c[k])
        c["stats"] = {k: _deep_num(v) for k, v in (c.get("stats") or {}).items()}
        cols.append(c)
    d["columns"] = cols
    perf = d.get("performance")
    if isinstance(perf, dict):
        d["performance"] = {
            k: ({kk: _num(vv) for kk, vv in v.items()} if isinstance(v, dict) else _num(v))
            for k, v in perf.items()
        }
    return d
