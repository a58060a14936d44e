"""Check new data against what a version (or a hand-written schema) promises.

Violation kinds, one row each in ``report.violations``:

- ``missing_column``: a column of the schema is absent;
- ``extra_column``: a column the schema does not know (a model never saw it);
- ``dtype``: a column of another kind (strings where numbers were, floats with
  fractions where integers were); int where float is expected is accepted;
- ``nulls``: missing values in a column that had none;
- ``out_of_range``: numbers/datetimes outside the seen [min, max] widened by
  ``tolerance`` x (max - min) on each side;
- ``unseen_category``: values never seen in a categorical or low-cardinality column.

Serving reuses this with the schema dict of a model signature, so a schema dict alone
is enough (no store access).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_jupyter.datasets.schema import dtype_kind, normalize_schema
from mlops_jupyter.errors import UsageError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_jupyter.datasets.version import DatasetVersion

VIOLATION_KINDS = (
    "missing_column", "extra_column", "dtype", "nulls", "out_of_range", "unseen_category",
)
VIOLATION_COLUMNS = ["column", "kind", "message", "count", "examples"]
DEFAULT_TOLERANCE = 0.05
_EXAMPLES = 3


@dataclass
class ValidationReport:
    """The outcome of :func:`validate`: ``ok``, and one row per violation."""

    reference: str
    rows: int
    columns_checked: int
    violations: pd.DataFrame
    tolerance: float
    schema: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def ok(self) -> bool:
        return len(self.violations) == 0

    def kinds(self) -> set[str]:
        return set(self.violations["kind"])

    def summary(self) -> str:
        if self.ok:
            return f"{self.rows} rows x {self.columns_checked} columns conform to {self.reference}"
        lines = [f"{r.column}: {r.message}" for r in self.violations.itertuples()]
        shown = "; ".join(lines[:5]) + (f"; … ({len(lines) - 5} more)" if len(lines) > 5 else "")
        return f"{len(lines)} violation(s) against {self.reference}: {shown}"

    def raise_if_failed(self) -> ValidationReport:
        """Raise :class:`ValidationError` (carrying the violations) unless ok."""
        if not self.ok:
            raise ValidationError(self.summary(), violations=self.violations)
        return self

    def _repr_html_(self) -> str:
        from mlops_jupyter.datasets.display import report_html

        return report_html(self)

    def __repr__(self) -> str:
        return f"<ValidationReport {'OK' if self.ok else 'FAILED'}: {self.summary()}>"


def validate(
    df: pd.DataFrame, ref_or_schema: str | DatasetVersion | Mapping[str, Any],
    strict: bool = False, tolerance: float = DEFAULT_TOLERANCE, *, allow_extra: bool = False,
) -> ValidationReport:
    """Validate ``df`` against a dataset version (``"churn@v1"``) or a schema dict.

    ``strict=True`` raises :class:`~mlops_jupyter.errors.ValidationError` when anything
    is violated; ``allow_extra=True`` ignores columns the schema does not list.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise UsageError(f"validate needs a pandas DataFrame, got {type(df).__name__}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not tolerance >= 0:
        raise UsageError(f"tolerance must be a number >= 0 (a fraction of the seen range), got {tolerance!r}")
    schema, reference = _reference(ref_or_schema)
    frame = df.reset_index() if any(n is not None for n in df.index.names) else df
    found: list[dict[str, Any]] = []
    expected = {c["name"]: c for c in schema["columns"]}
    present = {str(c): c for c in frame.columns}
    for name, spec in expected.items():
        if name not in present:
            found.append(_v(name, "missing_column", f"column {name!r} is missing", len(frame)))
            continue
        found.extend(_check_column(frame[present[name]], spec, float(tolerance)))
    if not allow_extra:
        for name in present:
            if name not in expected:
                found.append(_v(name, "extra_column", f"column {name!r} is not in {reference}", len(frame)))
    violations = pd.DataFrame(found, columns=VIOLATION_COLUMNS)
    violations["count"] = violations["count"].astype("int64")
    report = ValidationReport(
        reference=reference, rows=len(frame), columns_checked=len(expected),
        violations=violations, tolerance=float(tolerance), schema=schema,
    )
    if strict:
        report.raise_if_failed()
    return report


def _reference(ref: Any) -> tuple[dict[str, Any], str]:
    from mlops_jupyter.datasets.version import DatasetVersion

    if isinstance(ref, Mapping):
        return normalize_schema(ref), "the given schema"
    if isinstance(ref, str | DatasetVersion):
        from mlops_jupyter.datasets.api import get

        v = get(ref)
        if not v.schema:
            raise UsageError(
                f"{v.ref} is a {v.kind} without a table schema: validate against a DataFrame "
                "version or a tabular file version"
            )
        return normalize_schema(v.schema), v.ref
    raise UsageError(
        f"validate needs a dataset reference like 'churn@v1' or a schema dict, got {type(ref).__name__}"
    )


def _v(column: str, kind: str, message: str, count: int, examples: list[Any] | None = None) -> dict[str, Any]:
    text = ", ".join(repr(e) for e in (examples or [])[:_EXAMPLES])
    return {"column": column, "kind": kind, "message": message, "count": int(count), "examples": text}


def _compatible(expected: str | None, actual: str, s: pd.Series) -> bool:
    if expected is None or expected == actual:
        return True
    if expected == "float" and actual in ("int", "bool"):
        return actual == "int"
    if expected == "int" and actual == "float":  # ints that came through a null/JSON
        arr = s.dropna().to_numpy(dtype="float64")
        return bool(np.all(np.isfinite(arr) & (np.floor(arr) == arr)))
    if {expected, actual} <= {"string", "category"}:
        return True
    return False


def _check_column(s: pd.Series, spec: Mapping[str, Any], tol: float) -> list[dict[str, Any]]:
    name = spec["name"]
    out: list[dict[str, Any]] = []
    actual = dtype_kind(s)
    expected = spec.get("kind")
    if not _compatible(expected, actual, s):
        want = spec.get("dtype") or expected
        examples = s.dropna().iloc[:_EXAMPLES].tolist()
        out.append(_v(name, "dtype", f"expected {want} ({expected}), got {s.dtype} ({actual})",
                      int(s.notna().sum()), examples))
        return out  # range/category checks on the wrong type would only add noise
    isna = s.isna()
    nulls = int(isna.sum())
    if nulls and not spec.get("nullable", True):
        out.append(_v(name, "nulls", f"{nulls} missing value(s) in a column that had none", nulls))
    values = s[~isna.to_numpy()] if nulls else s
    lo, hi = spec.get("min"), spec.get("max")
    if (lo is not None or hi is not None) and len(values) and actual in ("int", "float", "datetime", "timedelta"):
        out.extend(_range(name, values, actual, lo, hi, tol))
    cats = spec.get("categories")
    if cats is not None and len(values) and actual in ("string", "category", "bool", "object", "int"):
        seen = set(cats)
        as_obj = values.astype(object)
        bad = ~as_obj.isin(seen)
        n_bad = int(bad.sum())
        if n_bad:
            ex = list(dict.fromkeys(as_obj[bad.to_numpy()].iloc[:100].tolist()))
            out.append(_v(name, "unseen_category",
                          f"{n_bad} value(s) never seen before (known: {len(seen)} value(s))", n_bad, ex))
    return out


def _range(name: str, values: pd.Series, kind: str, lo: Any, hi: Any, tol: float) -> list[dict[str, Any]]:
    import pandas as pd

    if kind in ("datetime", "timedelta"):
        conv = pd.to_datetime if kind == "datetime" else pd.to_timedelta
        try:
            lo_v = conv(lo) if lo is not None else None
            hi_v = conv(hi) if hi is not None else None
            if kind == "datetime" and getattr(values.dtype, "tz", None) is not None:
                lo_v = lo_v.tz_convert(values.dtype.tz) if lo_v is not None and lo_v.tzinfo else lo_v
                hi_v = hi_v.tz_convert(values.dtype.tz) if hi_v is not None and hi_v.tzinfo else hi_v
        except (ValueError, TypeError):
            return []
        span = (hi_v - lo_v) if lo_v is not None and hi_v is not None else None
        margin = span * tol if span is not None else None
        low_bad = values < (lo_v - margin if margin is not None else lo_v) if lo_v is not None else None
        high_bad = values > (hi_v + margin if margin is not None else hi_v) if hi_v is not None else None
    else:
        arr = values.to_numpy(dtype="float64", na_value=np.nan)
        lo_f = float(lo) if lo is not None else None
        hi_f = float(hi) if hi is not None else None
        span = (hi_f - lo_f) if lo_f is not None and hi_f is not None else None
        margin = tol * (span if span else max(abs(lo_f or 0.0), abs(hi_f or 0.0), 1.0))
        low_bad = arr < lo_f - margin if lo_f is not None else None
        high_bad = arr > hi_f + margin if hi_f is not None else None
    bad = np.zeros(len(values), dtype=bool)
    for part in (low_bad, high_bad):
        if part is not None:
            bad |= np.asarray(part, dtype=bool)
    n_bad = int(bad.sum())
    if not n_bad:
        return []
    ex = values[bad].iloc[:_EXAMPLES].tolist()  # original values, not float copies
    rng = f"[{lo}, {hi}]"
    tol_txt = f" widened by {tol:g} of its span" if tol else ""
    return [_v(name, "out_of_range", f"{n_bad} value(s) outside the seen range {rng}{tol_txt}", n_bad, ex)]
