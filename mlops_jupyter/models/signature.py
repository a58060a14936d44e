"""A model's input signature: the columns it was trained on, their types and nullability.

Inferred from the training data (a DataFrame or 2-D array) so a served model can refuse
what it was never trained on: a string where a float was (``"17.99"``), a missing
column, a null in a column that never had one, a category it never saw. Types are
JSON-level (``float``, ``integer``, ``boolean``, ``string``, ``category``,
``datetime``, ``any``) plus the exact pandas dtype, so a payload is rebuilt into the
same dtypes the model saw (nullable ``Int64``, categoricals with their categories).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_jupyter.errors import UsageError

TYPES = ("float", "integer", "boolean", "string", "category", "datetime", "any")
MAX_CATEGORIES = 10_000


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    dtype: str = ""
    nullable: bool = False
    categories: tuple[Any, ...] | None = None

    def describe(self) -> str:
        extra = ", nullable" if self.nullable else ""
        if self.categories is not None:
            extra += f", {len(self.categories)} categories"
        return f"{self.type} ({self.dtype}{extra})" if self.dtype else f"{self.type}{extra}"


@dataclass(frozen=True)
class Signature:
    """``frame``: the model takes a DataFrame with these column names (else a 2-D array
    in this order). ``source`` says where the signature came from."""

    columns: tuple[Column, ...]
    frame: bool = True
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for c in d["columns"]:
            if c["categories"] is not None:
                c["categories"] = list(c["categories"])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Signature:
        try:
            cols = tuple(
                Column(
                    name=str(c["name"]), type=str(c["type"]), dtype=str(c.get("dtype") or ""),
                    nullable=bool(c.get("nullable", False)),
                    categories=None if c.get("categories") is None else tuple(c["categories"]),
                )
                for c in d["columns"]
            )
        except (KeyError, TypeError) as e:
            raise UsageError(f"not a model signature: {e}") from None
        for c in cols:
            if c.type not in TYPES:
                raise UsageError(f"signature column {c.name!r}: unknown type {c.type!r}; types: {', '.join(TYPES)}")
        if len({c.name for c in cols}) != len(cols):
            raise UsageError("signature column names must be unique")
        return cls(cols, frame=bool(d.get("frame", True)), source=str(d.get("source", "")),
                   extra=dict(d.get("extra") or {}))

    def __repr__(self) -> str:
        cols = ", ".join(f"{c.name}: {c.type}" for c in self.columns[:8])
        more = f", … +{len(self.columns) - 8}" if len(self.columns) > 8 else ""
        return f"<Signature {cols}{more}>"


def _column_of(name: str, s: Any) -> Column:
    import pandas as pd
    from pandas.api import types as pt

    dtype = s.dtype
    nullable = bool(s.isna().any())
    if isinstance(dtype, pd.CategoricalDtype):
        cats = list(dtype.categories)
        if len(cats) > MAX_CATEGORIES:
            return Column(name, "string", str(dtype.categories.dtype), nullable)
        return Column(name, "category", "category", nullable, tuple(_plain(c) for c in cats))
    if pt.is_bool_dtype(dtype):
        return Column(name, "boolean", str(dtype), nullable or str(dtype) == "boolean")
    if pt.is_integer_dtype(dtype):
        return Column(name, "integer", str(dtype), nullable or str(dtype)[0] in "IU")
    if pt.is_float_dtype(dtype):
        return Column(name, "float", str(dtype), nullable)
    if pt.is_datetime64_any_dtype(dtype):
        return Column(name, "datetime", str(dtype), nullable)
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    kind = {
        "string": "string", "floating": "float", "integer": "integer",
        "mixed-integer-float": "float", "boolean": "boolean", "empty": "any",
    }.get(inferred, "any")
    return Column(name, kind, str(dtype), nullable)


def _plain(v: Any) -> Any:
    """numpy scalars -> JSON-able Python values."""
    return v.item() if hasattr(v, "item") else v


def infer(data: Any, source: str = "training data", *, sample: bool = False) -> Signature:
    """A signature from training data: a DataFrame, a 2-D array, or a dict schema.

    ``sample=True`` when ``data`` is only the first rows (autologging keeps a few): a
    missing value absent from the sample may still occur in the full data, so columns
    whose dtype can hold one (floats, strings, categories) are marked nullable.
    """
    import numpy as np
    import pandas as pd

    if isinstance(data, Signature):
        return data
    if isinstance(data, Mapping):
        return Signature.from_dict(data)
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        names = [str(c) for c in data.columns]
        if len(set(names)) != len(names):
            raise UsageError("training data has duplicate column names; a signature needs unique ones")
        cols = tuple(_column_of(n, data[c]) for n, c in zip(names, data.columns, strict=True))
        return Signature(_loosen(cols) if sample else cols, frame=True, source=source)
    arr = np.asarray(data)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise UsageError(f"cannot infer a signature from a {arr.ndim}-D array; pass 2-D data or a DataFrame")
    frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    cols = tuple(_column_of(str(c), frame[c]) for c in frame.columns)
    return Signature(_loosen(cols) if sample else cols, frame=False, source=source)


def _loosen(cols: tuple[Column, ...]) -> tuple[Column, ...]:
    from dataclasses import replace

    return tuple(
        replace(c, nullable=True) if c.type in ("float", "string", "category", "datetime", "any") else c
        for c in cols
    )


def from_estimator(est: Any) -> Signature | None:
    """A weaker signature from a fitted estimator's ``feature_names_in_`` /
    ``n_features_in_`` (names and count only; types are unknown, so ``any``)."""
    names: Sequence[Any] | None = getattr(est, "feature_names_in_", None)
    if names is not None:
        return Signature(tuple(Column(str(n), "any") for n in names), frame=True, source="estimator")
    n = getattr(est, "n_features_in_", None)
    if isinstance(n, int) and n > 0:
        return Signature(tuple(Column(f"x{i}", "float") for i in range(n)), frame=False,
                         source="estimator")
    return None


__all__ = ["Column", "Signature", "infer", "from_estimator", "TYPES"]
