"""Turn one DataFrame column into what the statistics need, without extra copies.

A column's *base kind* comes from its dtype (and, for ``object`` columns, from the
values): numeric, boolean, datetime, timedelta, categorical, or empty (all missing,
no type to speak of). Two sides whose base kinds differ are schema drift. The
*analysis kind* is numeric or categorical: booleans and strings are categories,
datetimes and timedeltas become numbers (seconds), and integer columns that span
fewer than ``LOW_CARDINALITY_SPAN`` consecutive values (flags, ratings, small counts)
are treated as categories, where a chi-square test is the natural test and where KS
would be needlessly conservative on the ties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ValidationError

__all__ = [
    "LOW_CARDINALITY_SPAN",
    "base_kind",
    "numeric_values",
    "category_counts",
    "label_text",
]

#: integer columns whose reference values span fewer than this many consecutive
#: integers are analysed as categories
LOW_CARDINALITY_SPAN = 10

NUMERIC_BASES = {"numeric", "datetime", "timedelta"}
CATEGORICAL_BASES = {"boolean", "categorical"}

_OBJECT_KINDS = {
    "string": "categorical",
    "bytes": "categorical",
    "categorical": "categorical",
    "boolean": "boolean",
    "integer": "numeric",
    "floating": "numeric",
    "mixed-integer-float": "numeric",
    "decimal": "numeric",
    "datetime64": "datetime",
    "datetime": "datetime",
    "date": "datetime",
    "timedelta64": "timedelta",
    "timedelta": "timedelta",
    "empty": "empty",
}


@dataclass(frozen=True)
class Base:
    kind: str  # numeric | boolean | datetime | timedelta | categorical | empty
    dtype: str  # the pandas dtype as text, for the schema section
    integer: bool = False  # integer-valued numeric dtype (int, Int64, uint)


def base_kind(series: pd.Series, column: str, side: str) -> Base:
    """Classify a column; raises ValidationError for an ``object`` column that mixes
    types (e.g. numbers and strings).

    Mixed columns are refused rather than cast to text: casting would make ``1`` and
    ``"1"`` two different categories and hide the data bug that produced the mix, and
    a drift verdict on such a column would mean nothing.
    """
    dtype = series.dtype
    text = str(dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        return Base("categorical", text)
    if pd.api.types.is_bool_dtype(dtype):
        return Base("boolean", text)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return Base("datetime", text)
    if pd.api.types.is_timedelta64_dtype(dtype):
        return Base("timedelta", text)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return Base("numeric", text, integer=pd.api.types.is_integer_dtype(dtype))
    is_object = pd.api.types.is_object_dtype(dtype)
    if pd.api.types.is_string_dtype(dtype) and not is_object:
        return Base("categorical", text)
    if is_object:
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        kind = _OBJECT_KINDS.get(inferred)
        if kind is None:
            types = sorted({type(v).__name__ for v in series.dropna().head(10_000)})
            raise ValidationError(
                f"column {column!r} in the {side} data mixes value types "
                f"({', '.join(types) or inferred}); drift needs one type per column. "
                f"Convert it (e.g. df[{column!r}].astype(str)) or leave it out with columns=[...]"
            )
        return Base(kind, f"object ({inferred})", integer=inferred == "integer")
    raise ValidationError(
        f"column {column!r} in the {side} data has dtype {text}, which drift cannot compare"
    )


def numeric_values(series: pd.Series, base: Base) -> np.ndarray:
    """A float64 array of the column (NaN for missing), a view when the column already
    is float64. Datetimes become epoch seconds (UTC), timedeltas seconds."""
    if base.kind == "datetime":
        s = series if pd.api.types.is_datetime64_any_dtype(series.dtype) else pd.to_datetime(
            series, utc=True
        )
        raw = s.to_numpy(dtype="datetime64[us]").view("int64")
        out = raw.astype(np.float64) / 1e6
        out[raw == np.iinfo(np.int64).min] = np.nan
        return out
    if base.kind == "timedelta":
        s = series if pd.api.types.is_timedelta64_dtype(series.dtype) else pd.to_timedelta(series)
        raw = s.to_numpy(dtype="timedelta64[us]").view("int64")
        out = raw.astype(np.float64) / 1e6
        out[raw == np.iinfo(np.int64).min] = np.nan
        return out
    if pd.api.types.is_object_dtype(series.dtype):
        series = pd.to_numeric(series)
    if series.dtype == np.float64:
        return series.to_numpy()
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def is_low_cardinality(values: np.ndarray) -> bool:
    """Integer values spanning fewer than LOW_CARDINALITY_SPAN consecutive integers."""
    # fmin/fmax skip NaN without a masked copy of a long column
    lo = float(np.fmin.reduce(values)) if values.size else math.nan
    hi = float(np.fmax.reduce(values)) if values.size else math.nan
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return False
    return hi - lo < LOW_CARDINALITY_SPAN


def category_counts(series: pd.Series, base: Base, as_float: bool = False) -> tuple[pd.Series, int]:
    """``(counts by label, number missing)``; labels with a zero count are dropped."""
    if as_float:
        series = pd.Series(numeric_values(series, base))
    counts = series.value_counts(dropna=True, sort=False)
    if isinstance(series.dtype, pd.CategoricalDtype):
        counts = counts[counts.to_numpy() > 0]
        counts.index = counts.index.astype(object)
    n_missing = int(len(series) - int(counts.to_numpy().sum()))
    return counts, n_missing


def label_text(value: object) -> str:
    """A category label as display text (``1.0`` from an integer column shows as 1)."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.bool_, bool)):
        return str(bool(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
