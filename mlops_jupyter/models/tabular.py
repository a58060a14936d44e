"""Large inputs (an Arrow table: from an Arrow IPC stream or a Parquet file) checked
against a model signature column by column, with the same rules as JSON payloads
(:mod:`.payload`): a float column takes floats or integers but no strings or booleans,
no NaN or infinity; an integer column takes integers only; nulls only where training had
them; categories only those seen in training. Each check is one vectorised pass
(Arrow's type, ``null_count``, numpy), and an error names the column and the first bad
rows (never their values). The result is the DataFrame (or 2-D array) the model was
trained on."""

from __future__ import annotations

from typing import Any

from mlops_jupyter.errors import ValidationError
from mlops_jupyter.models.payload import _dtype_for, safe_key
from mlops_jupyter.models.signature import Column, Signature

_SHOW = 5


def read_table(kind: str, raw: bytes) -> Any:
    """An Arrow table from ``arrow`` (IPC stream or file) or ``parquet`` bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if kind == "parquet":
            return pq.read_table(pa.BufferReader(raw))
        try:
            return pa.ipc.open_stream(pa.BufferReader(raw)).read_all()
        except pa.ArrowInvalid:
            return pa.ipc.open_file(pa.BufferReader(raw)).read_all()
    except (pa.ArrowException, OSError, ValueError) as e:
        what = "a Parquet file" if kind == "parquet" else "an Arrow IPC stream"
        raise ValidationError(
            f"the body is not {what}",
            violations=[{"loc": ["body"], "msg": f"not {what} ({type(e).__name__})"}],
        ) from None


def _first(mask: Any) -> list[int]:
    import numpy as np

    return [int(i) for i in np.flatnonzero(mask)[:_SHOW]]


def _where(rows: list[int]) -> str:
    return "rows " + ", ".join(map(str, rows)) if rows else ""


def _check(col: Column, arr: Any, errs: list[dict[str, Any]]) -> Any:
    """A pandas/numpy column for ``col`` from a pyarrow array, or None after adding errors."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    loc = ["columns", col.name]
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type) if hasattr(arr, "cast") else arr
        t = arr.type
    if arr.null_count and not col.nullable:
        rows = _first(arr.is_null().to_numpy(zero_copy_only=False))
        errs.append({"loc": loc, "msg": f"null is not allowed ({_where(rows)})"})
        return None
    kind = col.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t)
    if kind in ("float", "integer") or (kind == "any" and numeric):
        if not numeric or (kind == "integer" and not pa.types.is_integer(t)):
            want = "integers" if kind == "integer" else "numbers"
            errs.append({"loc": loc, "msg": f"expected {want}, got {t}"})
            return None
        values = arr.to_numpy(zero_copy_only=False)
        if pa.types.is_floating(t):
            bad = ~np.isfinite(values) & ~arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count \
                else ~np.isfinite(values)
            if bad.any():
                errs.append({"loc": loc, "msg": f"NaN and infinity are not accepted ({_where(_first(bad))})"})
                return None
        elif kind == "float" and t.bit_width == 64:
            big = np.abs(values.astype(np.float64)) > 2.0**53
            if big.any():
                errs.append({"loc": loc, "msg": f"integer too large for a float ({_where(_first(big))})"})
                return None
        if kind == "integer" and col.dtype.lower().startswith("uint") and pa.types.is_signed_integer(t):
            neg = values < 0
            if neg.any():
                errs.append({"loc": loc, "msg": f"expected non-negative integers ({_where(_first(neg))})"})
                return None
        if arr.null_count:
            return pd.Series(arr.to_pandas(), dtype=_dtype_for(col) if col.dtype else None)
        return values.astype(col.dtype, copy=False) if col.dtype[:1] in ("f", "i", "u") else values
    if kind == "boolean":
        if not pa.types.is_boolean(t):
            errs.append({"loc": loc, "msg": f"expected booleans, got {t}"})
            return None
        return pd.Series(arr.to_pandas(), dtype=_dtype_for(col) if col.dtype else "bool")
    is_text = pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view"
    if kind in ("string", "any") or (kind == "category" and (is_text or numeric)):
        if kind == "string" and not is_text or kind == "any" and not (is_text or pa.types.is_boolean(t)):
            errs.append({"loc": loc, "msg": f"expected strings, got {t}"})
            return None
        if kind == "category" and col.categories is not None:
            known = pa.array(list(col.categories)) if col.categories else pa.array([], type=t)
            try:
                inside = pc.is_in(arr, value_set=known.cast(t)) if known.type != t else pc.is_in(arr, value_set=known)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                inside = pa.array([False] * len(arr))
            bad = ~inside.to_numpy(zero_copy_only=False) & ~arr.is_null().to_numpy(zero_copy_only=False)
            if bad.any():
                errs.append({"loc": loc, "msg": f"values outside the training categories ({_where(_first(bad))})"})
                return None
            return pd.Categorical(arr.to_pandas(), categories=list(col.categories))
        return arr.to_pandas().astype(object) if kind != "category" else pd.Categorical(arr.to_pandas())
    if kind == "datetime":
        if not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
            errs.append({"loc": loc, "msg": f"expected timestamps, got {t}"})
            return None
        s = pd.Series(arr.to_pandas())
        try:
            return s.astype(col.dtype) if col.dtype else s
        except (TypeError, ValueError):
            return s
    errs.append({"loc": loc, "msg": f"expected {kind} values, got {t}"})
    return None


def frame_of(table: Any, signature: Signature, max_rows: int) -> tuple[Any, int]:
    """(model input, rows) from an Arrow table; every problem at once in one 422."""
    import numpy as np
    import pandas as pd

    errs: list[dict[str, Any]] = []
    names = signature.names
    have = set(table.column_names)
    for k in table.column_names:
        if k not in set(names):
            errs.append({"loc": ["columns", safe_key(k)], "msg": "unknown field (not in the model signature)"})
    if len(table.column_names) != len(have):
        errs.append({"loc": ["columns"], "msg": "duplicate column names"})
    for n in names:
        if n not in have:
            errs.append({"loc": ["columns", n], "msg": "field required"})
    rows = table.num_rows
    if not errs and rows == 0:
        errs.append({"loc": ["columns"], "msg": "at least one row is required"})
    if rows > max_rows:
        errs.append({"loc": ["columns"], "msg": f"at most {max_rows} rows per request"})
    data: dict[str, Any] = {}
    if not errs:
        for col in signature.columns:
            out = _check(col, table.column(col.name).combine_chunks(), errs)
            if out is not None:
                data[col.name] = out
    if errs:
        first = errs[0]
        raise ValidationError(
            f"{len(errs)} problem(s) in the table; first: {'.'.join(map(str, first['loc']))}: {first['msg']}",
            violations=errs[:50],
        )
    df = pd.DataFrame(data, copy=False)
    if signature.frame:
        return df, rows
    numeric = all(c.type in ("float", "integer", "any") for c in signature.columns)
    return df.to_numpy(dtype=np.float64 if numeric else object), rows


__all__ = ["read_table", "frame_of"]
