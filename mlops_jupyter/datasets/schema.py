"""Schemas: what a version promises about its columns, and the checks on input frames.

A schema is a plain JSON-able dict, so it can be stored with a version, attached to a
model signature, or written by hand::

    {"format": "mlops-schema/1",
     "columns": [{"name": "age", "dtype": "int64", "kind": "int", "nullable": False,
                  "min": 18, "max": 99, "categories": None}, ...],
     "key": ["customer_id"]}

``kind`` is the dtype's family (bool, int, float, string, category, datetime,
timedelta, object); validation compares kinds, not exact dtypes, so an ``int32``
column still satisfies ``int64`` and integers satisfy a float column, but the string
``"17.99"`` never satisfies a float. ``categories`` lists every value seen for
categorical and low-cardinality string/bool columns (None: free text, not checked).
A hand-written shorthand ``{"columns": {"age": "int64", "city": "str"}}`` is accepted
and normalised by :func:`normalize_schema`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops_jupyter.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_FORMAT = "mlops-schema/1"
#: string/bool columns with at most this many distinct values record them as categories
MAX_CATEGORIES = 50
KINDS = ("bool", "int", "float", "string", "category", "datetime", "timedelta", "object")


def dtype_name(s: Any) -> str:
    """A canonical dtype name, the same under pandas 2 and 3 for the same data
    (``object`` holding only strings, ``str`` and ``string`` are all ``string``;
    datetimes drop their resolution)."""
    import pandas as pd

    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return "category"
    if isinstance(dt, pd.DatetimeTZDtype):
        return f"datetime64[{dt.tz}]"
    if dt.kind == "M":
        return "datetime64"
    if dt.kind == "m":
        return "timedelta64"
    if isinstance(dt, pd.StringDtype) or str(dt) == "str":
        return "string"
    if getattr(dt, "kind", None) == "O":
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        return "string" if inferred in ("string", "empty") else "object"
    return str(dt)


def dtype_kind(s: Any) -> str:
    """The family of a Series' dtype (see :data:`KINDS`)."""
    import pandas as pd

    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if pd.api.types.is_integer_dtype(dt):
        return "int"
    if pd.api.types.is_float_dtype(dt):
        return "float"
    if dt.kind == "M" or isinstance(dt, pd.DatetimeTZDtype):
        return "datetime"
    if dt.kind == "m":
        return "timedelta"
    name = dtype_name(s)
    if name == "string":
        return "string"
    if getattr(dt, "kind", None) == "O":
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred == "boolean":
            return "bool"
        if inferred == "integer":
            return "int"
        if inferred == "floating":
            return "float"
    return "object"


_KIND_OF_NAME = {
    "bool": "bool", "boolean": "bool",
    "str": "string", "string": "string", "object": "object", "category": "category",
    "datetime64": "datetime", "timedelta64": "timedelta",
}


def kind_of_dtype_name(name: str) -> str:
    """The kind of a dtype written by hand (``"int64"``, ``"Float64"``, ``"str"``...)."""
    low = name.lower().strip()
    if low in _KIND_OF_NAME:
        return _KIND_OF_NAME[low]
    if re.fullmatch(r"u?int(8|16|32|64)?", low):
        return "int"
    if re.fullmatch(r"float(16|32|64)?", low):
        return "float"
    if re.fullmatch(r"datetime64(\[[^\]]+\])?", low):
        return "datetime"
    if re.fullmatch(r"timedelta64(\[[a-z]+\])?", low):
        return "timedelta"
    raise UsageError(
        f"unknown dtype {name!r} in schema: use a pandas dtype such as int64, float64, "
        "bool, str, category or datetime64"
    )


# -- bad input ------------------------------------------------------------------------
def check_frame(df: pd.DataFrame, what: str = "DataFrame") -> None:
    """Refuse frames that cannot be versioned faithfully, with one clear error each."""
    import pandas as pd

    if df.shape[1] == 0:
        raise UsageError(f"the {what} has no columns: there is nothing to version")
    if df.shape[0] == 0:
        raise UsageError(
            f"the {what} is empty (0 rows, columns: {_names(df.columns)}): version data, "
            "not an empty frame"
        )
    if isinstance(df.columns, pd.MultiIndex):
        raise UsageError(
            f"the {what} has multi-level column names: flatten them first, e.g. "
            "df.columns = ['_'.join(map(str, c)) for c in df.columns]"
        )
    cols = [str(c) for c in df.columns]
    dups = sorted({c for c in cols if cols.count(c) > 1}) if len(set(cols)) != len(cols) else []
    if dups:
        raise UsageError(
            f"the {what} has duplicate column names: {_names(dups)}; rename them so each "
            "column has its own name"
        )
    idx_names = [str(n) for n in df.index.names if n is not None]
    clash = sorted(set(idx_names) & set(cols))
    if clash:
        raise UsageError(
            f"the {what} has index levels named like columns: {_names(clash)}; "
            "rename or reset the index"
        )
    for col in df.columns:
        s = df[col]
        if s.dtype == object:
            inferred = pd.api.types.infer_dtype(s, skipna=True)
            if inferred.startswith("mixed") or inferred == "unknown-array":
                types = sorted({type(v).__name__ for v in s.dropna().iloc[:10_000]})
                nested = sorted(set(types) & {"list", "dict", "tuple", "set", "ndarray"})
                if nested:
                    raise UsageError(
                        f"column {str(col)!r} holds nested values ({', '.join(nested)}), which "
                        "are not supported: flatten them into columns, or store them as text, "
                        f"e.g. df[{str(col)!r}] = df[{str(col)!r}].map(json.dumps)"
                    )
                raise UsageError(
                    f"column {str(col)!r} mixes value types ({', '.join(types[:5])}): a "
                    "column must hold one type; convert it, e.g. "
                    f"df[{str(col)!r}] = df[{str(col)!r}].astype(str)"
                )


def _names(cols: Any, limit: int = 8) -> str:
    items = [repr(str(c)) for c in list(cols)[:limit]]
    more = f", … ({len(cols) - limit} more)" if len(cols) > limit else ""
    return ", ".join(items) + more


# -- inference ------------------------------------------------------------------------
def json_value(v: Any) -> Any:
    """A JSON-safe scalar (numpy scalars unwrapped, timestamps as ISO text)."""
    import numpy as np
    import pandas as pd

    if v is None or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, pd.Timestamp | pd.Timedelta):
        return v.isoformat()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, bool | int | str):
        return v
    return str(v)


def column_schema(s: pd.Series, name: str) -> dict[str, Any]:
    """One column's entry: dtype, kind, nullability, range and categories seen."""
    kind = dtype_kind(s)
    nulls = int(s.isna().sum())
    entry: dict[str, Any] = {
        "name": name, "dtype": dtype_name(s), "kind": kind, "nullable": nulls > 0,
        "min": None, "max": None, "categories": None,
    }
    values = s.dropna() if nulls else s
    if kind in ("int", "float", "datetime", "timedelta") and len(values):
        if kind == "float":
            import numpy as np

            arr = values.to_numpy(dtype="float64", na_value=np.nan)
            finite = arr[np.isfinite(arr)]
            if len(finite):
                entry["min"], entry["max"] = float(finite.min()), float(finite.max())
        else:
            entry["min"], entry["max"] = json_value(values.min()), json_value(values.max())
    elif kind == "category":
        entry["categories"] = [json_value(c) for c in s.cat.categories]
        entry["ordered"] = bool(s.cat.ordered)
    elif kind in ("string", "bool"):
        uniq = values.unique()
        if len(uniq) <= MAX_CATEGORIES:
            entry["categories"] = sorted(json_value(u) for u in uniq)
    return entry


def infer_schema(df: pd.DataFrame, key: list[str] | None = None) -> dict[str, Any]:
    """The schema a DataFrame satisfies: the reference :func:`validate` checks against.

    Named index levels are included as columns (they are data, see hashing)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise UsageError(f"infer_schema needs a pandas DataFrame, got {type(df).__name__}")
    cols = [column_schema(df.index.get_level_values(n), str(n)) for n in df.index.names if n is not None]
    cols += [column_schema(df[c], str(c)) for c in df.columns]
    out: dict[str, Any] = {"format": SCHEMA_FORMAT, "columns": cols}
    if key:
        out["key"] = list(key)
    return out


def normalize_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the full format, or ``{"columns": {name: dtype or entry}}``, or a plain
    ``{name: dtype}`` mapping; return the full format."""
    if not isinstance(schema, Mapping):
        raise UsageError(f"a schema must be a dict, got {type(schema).__name__}")
    cols_in: Any = schema.get("columns", None)
    if cols_in is None:
        cols_in = {k: v for k, v in schema.items() if k not in ("format", "key")}
    entries: list[dict[str, Any]] = []
    if isinstance(cols_in, Mapping):
        items = list(cols_in.items())
    elif isinstance(cols_in, list):
        items = [(c.get("name") if isinstance(c, Mapping) else None, c) for c in cols_in]
    else:
        raise UsageError("schema 'columns' must be a list of column entries or a {name: dtype} dict")
    for name, spec in items:
        if not isinstance(name, str) or not name:
            raise UsageError(f"schema column without a name: {spec!r}")
        if isinstance(spec, str):
            spec = {"dtype": spec}
        if not isinstance(spec, Mapping):
            raise UsageError(f"schema entry for column {name!r} must be a dtype string or a dict")
        dtype = spec.get("dtype")
        kind = spec.get("kind") or (kind_of_dtype_name(dtype) if isinstance(dtype, str) else None)
        if kind is not None and kind not in KINDS:
            raise UsageError(f"schema column {name!r}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        entries.append({
            "name": name, "dtype": dtype, "kind": kind,
            "nullable": bool(spec.get("nullable", True)),
            "min": spec.get("min"), "max": spec.get("max"),
            "categories": spec.get("categories"),
        })
    out: dict[str, Any] = {"format": SCHEMA_FORMAT, "columns": entries}
    if schema.get("key"):
        out["key"] = list(schema["key"])
    return out
