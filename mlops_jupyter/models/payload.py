"""Turning a JSON payload (records or columns) into exactly what the model was trained on.

Serving (and ``mlops_jupyter.models.predictor.predict``) use this; it is strict on purpose (ANCHORS.md: MLflow
silently accepts ``"17.99"`` for a float and echoes rows back in errors). Every problem
is reported with its location (``["records", 3, "price"]``) and a message that never
repeats the offending value beyond its JSON type, so a response cannot reflect
attacker-chosen text. Nothing here trusts the payload's shape, size or types.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mlops_jupyter.errors import ValidationError
from mlops_jupyter.models.signature import Column, Signature

MAX_ROWS = 10_000
MAX_ERRORS = 50
_INT64 = (-(2**63), 2**63 - 1)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.count = 0

    def add(self, loc: list[Any], msg: str) -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append({"loc": loc, "msg": msg})

    def raise_if_any(self) -> None:
        if self.count:
            more = f" (showing {len(self.items)})" if self.count > len(self.items) else ""
            first = self.items[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationError(
                f"{self.count} problem(s) in the payload{more}; first: {where}: {first['msg']}",
                violations=self.items,
            )


def _check_value(col: Column, v: Any) -> str | None:
    """None if ``v`` is acceptable for ``col``, else what is wrong."""
    if isinstance(v, str) and not _encodable(v):
        return "invalid Unicode (a lone surrogate)"
    if v is None:
        return None if col.nullable else f"null is not allowed ({col.name!r} had no missing values in training)"
    t = col.type
    if t == "float":
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"expected a number, got {_json_type(v)}"
        if isinstance(v, float) and not math.isfinite(v):
            return "NaN and infinity are not accepted"
        if isinstance(v, int) and abs(v) > 2**53:
            return "integer too large to be represented exactly as a float"
        return None
    if t == "integer":
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"expected an integer, got {_json_type(v)}"
        if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            return "expected an integer, got a number with a fraction" if math.isfinite(v) else "NaN and infinity are not accepted"
        if not _INT64[0] <= int(v) <= _INT64[1]:
            return "integer out of the 64-bit range"
        if col.dtype.lower().startswith("uint") and int(v) < 0:
            return "expected a non-negative integer"
        return None
    if t == "boolean":
        return None if isinstance(v, bool) else f"expected true or false, got {_json_type(v)}"
    if t == "string":
        return None if isinstance(v, str) else f"expected a string, got {_json_type(v)}"
    if t == "category":
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            return f"expected a category value, got {_json_type(v)}"
        if isinstance(v, float) and not math.isfinite(v):
            return "NaN and infinity are not accepted"
        if col.categories is not None and v not in col.categories:
            shown = ", ".join(repr(c) for c in col.categories[:10])
            more = ", …" if len(col.categories) > 10 else ""
            return f"not one of the categories seen in training ({shown}{more})"
        return None
    if t == "datetime":
        if not isinstance(v, str):
            return f"expected an ISO 8601 date-time string, got {_json_type(v)}"
        try:
            datetime.fromisoformat(v)
        except ValueError:
            return "expected an ISO 8601 date-time string"
        return None
    # "any": types unknown (signature taken from the estimator only)
    if isinstance(v, bool | int | str):
        return None
    if isinstance(v, float):
        return None if math.isfinite(v) else "NaN and infinity are not accepted"
    return f"expected a scalar, got {_json_type(v)}"


def columns_of(payload: Any, signature: Signature, max_rows: int = MAX_ROWS) -> dict[str, list[Any]]:
    """Check shape and every value; return column name -> values."""
    errs = _Errors()
    names = signature.names
    known = set(names)
    if not isinstance(payload, Mapping):
        raise ValidationError(
            "the body must be a JSON object with 'records' (a list of objects) or "
            "'columns' (an object of equal-length lists)",
            violations=[{"loc": ["body"], "msg": f"expected an object, got {_json_type(payload)}"}],
        )
    keys = [k for k in ("records", "columns") if payload.get(k) is not None]
    if len(keys) != 1:
        raise ValidationError(
            "give exactly one of 'records' or 'columns'",
            violations=[{"loc": ["body"], "msg": "give exactly one of 'records' or 'columns'"}],
        )
    kind = keys[0]
    data = payload[kind]
    out: dict[str, list[Any]] = {n: [] for n in names}
    if kind == "records":
        if not isinstance(data, list):
            errs.add(["records"], f"expected a list of objects, got {_json_type(data)}")
            errs.raise_if_any()
        n = len(data)
        fast = _records_fast(data, names)
        if fast is not None:
            out = fast
            data = ()  # shape already certified: skip the row-by-row walk
        for i, rec in enumerate(data):
            if not isinstance(rec, Mapping):
                errs.add(["records", i], f"expected an object, got {_json_type(rec)}")
                continue
            for k in rec:
                if k not in known:
                    errs.add(["records", i, safe_key(k)], "unknown field (not in the model signature)")
            for name in names:
                if name not in rec:
                    errs.add(["records", i, name], "field required")
                else:
                    out[name].append(rec[name])
    else:
        if not isinstance(data, Mapping):
            errs.add(["columns"], f"expected an object of lists, got {_json_type(data)}")
            errs.raise_if_any()
        for k in data:
            if k not in known:
                errs.add(["columns", safe_key(k)], "unknown field (not in the model signature)")
        lengths = set()
        for name in names:
            if name not in data:
                errs.add(["columns", name], "field required")
            elif not isinstance(data[name], list):
                errs.add(["columns", name], f"expected a list, got {_json_type(data[name])}")
            else:
                out[name] = data[name]
                lengths.add(len(data[name]))
        if len(lengths) > 1:
            errs.add(["columns"], f"columns have different lengths: {sorted(lengths)}")
        n = lengths.pop() if len(lengths) == 1 else 0
    errs.raise_if_any()
    if n == 0:
        raise ValidationError("no rows to predict", violations=[{"loc": [kind], "msg": "at least one row is required"}])
    if n > max_rows:
        raise ValidationError(
            f"too many rows: {n} (at most {max_rows} per request)",
            violations=[{"loc": [kind], "msg": f"at most {max_rows} rows per request"}],
        )
    by_name = {c.name: c for c in signature.columns}
    for name, values in out.items():
        col = by_name[name]
        if _column_ok(col, values):
            continue  # certified valid as a whole column; else find each bad cell below
        for i, v in enumerate(values):
            why = _check_value(col, v)
            if why is not None:
                errs.add([kind, i, name] if kind == "records" else [kind, name, i], why)
    errs.raise_if_any()
    return out


def _records_fast(data: list[Any], names: list[str]) -> dict[str, list[Any]] | None:
    """Columns from records when every record is an object with exactly the signature's
    fields (the common case), one list comprehension per column; None sends the
    payload through the row-by-row walk that names each problem."""
    width = len(names)
    if not all(type(r) is dict and len(r) == width for r in data):
        return None
    try:
        return {name: [r[name] for r in data] for name in names}
    except KeyError:
        return None


_NONE = type(None)
_SMALL = 32
_EXACT = 2**53
_NUMBER = frozenset({int, float})
_CATEGORY_SETS: dict[int, tuple[tuple[Any, ...], frozenset[Any]]] = {}


def _column_ok(col: Column, values: list[Any]) -> bool:
    """True when the whole column is certainly valid, decided per column: the set of
    Python types present (``map(type)`` in C), then numpy for ranges and finiteness.
    False only means "check cell by cell" (to name each bad cell), never "invalid"."""
    import numpy as np

    types = set(map(type, values))
    if _NONE in types:
        if not col.nullable:
            return False
        types.discard(_NONE)
        values = [v for v in values if v is not None]
        if not values:
            return True
    t = col.type
    try:
        if t == "float" or t == "any" and types <= _NUMBER:
            if not types <= _NUMBER:
                return False
            if len(values) <= _SMALL:  # a few values: plain Python beats numpy's call cost
                return all(math.isfinite(v) if type(v) is float else -_EXACT < v < _EXACT for v in values)
            arr = np.asarray(values, dtype=np.float64)
            if not np.isfinite(arr).all():
                return False
            return int not in types or bool((np.abs(arr) < 2.0**53).all())
        if t == "integer":
            if types != {int}:
                return False
            low = 0 if col.dtype.lower().startswith("uint") else _INT64[0]
            if len(values) <= _SMALL:
                return all(low <= v <= _INT64[1] for v in values)
            arr = np.asarray(values, dtype=np.int64)  # OverflowError beyond 64 bits
            return not col.dtype.lower().startswith("uint") or bool((arr >= 0).all())
        if t == "boolean":
            return types <= {bool}
        if t in ("string", "any"):
            if not types <= ({str} if t == "string" else {str, bool, int}):
                return False
            strs = [v for v in values if type(v) is str] if t == "any" else values
            "\x00".join(strs).encode("utf-8")  # lone surrogates raise
            return True
        if t == "category":
            if not types <= {str, int, float}:
                return False
            if float in types and not np.isfinite(np.asarray([v for v in values if type(v) is float])).all():
                return False
            if col.categories is None:
                return True
            hit = _CATEGORY_SETS.get(id(col.categories))
            if hit is None or hit[0] is not col.categories:  # keyed by identity: no re-hash
                if len(_CATEGORY_SETS) > 64:
                    _CATEGORY_SETS.clear()
                hit = _CATEGORY_SETS[id(col.categories)] = (col.categories, frozenset(col.categories))
            return set(values) <= hit[1]
    except (OverflowError, ValueError, TypeError, UnicodeEncodeError):
        return False
    return False  # datetime: parsed cell by cell


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_key(k: Any) -> str:
    """A field name fit to appear in an error body: short and valid UTF-8."""
    text = str(k).encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= 64 else text[:61] + "…"


_FRAME_SPECS: dict[int, tuple[Signature, Any, str | None]] = {}


def _frame_spec(signature: Signature) -> tuple[Any, str | None]:
    """(column Index, the one numpy dtype when every column is a non-nullable number of
    that dtype, else None), cached per signature object. An object-dtype Index: pandas 3
    would otherwise infer a string Index per request, and scikit-learn reads it back."""
    hit = _FRAME_SPECS.get(id(signature))
    if hit is not None and hit[0] is signature:
        return hit[1], hit[2]
    import pandas as pd

    dtypes = {c.dtype for c in signature.columns}
    same = (len(dtypes) == 1 and all(c.type in ("float", "integer") and not c.nullable
                                     and c.dtype[:1] in ("f", "i", "u") for c in signature.columns))
    spec = (pd.Index(signature.names, dtype=object), dtypes.pop() if same else None)
    if len(_FRAME_SPECS) > 256:
        _FRAME_SPECS.clear()
    _FRAME_SPECS[id(signature)] = (signature, *spec)
    return spec


def to_model_input(cols: Mapping[str, list[Any]], signature: Signature) -> Any:
    """Columns (already checked) -> a DataFrame with the training dtypes, or a 2-D array."""
    import numpy as np
    import pandas as pd

    index, same = _frame_spec(signature)
    if same is not None:
        # one 2-D block, built in one numpy call (the common all-numeric case)
        block = np.array([cols[n] for n in signature.names], dtype=same).T
        if signature.frame:
            return pd.DataFrame(block, columns=index, copy=False)
        return block.astype(np.float64, copy=False)
    data: dict[str, Any] = {}
    for col in signature.columns:
        values = cols[col.name]
        if col.type == "category":
            data[col.name] = pd.Categorical(values, categories=list(col.categories or ())) \
                if col.categories is not None else pd.Categorical(values)
        elif col.type == "datetime":
            data[col.name] = pd.to_datetime(pd.Series(values), format="ISO8601")
        elif col.type in ("float", "integer") and not col.nullable and col.dtype[:1] in ("f", "i", "u"):
            data[col.name] = np.asarray(values, dtype=col.dtype)  # fast path: plain numpy
        elif col.dtype and col.type != "any":
            try:
                data[col.name] = pd.Series(values, dtype=_dtype_for(col))
            except (TypeError, ValueError):
                data[col.name] = pd.Series(values)
        else:
            data[col.name] = pd.Series(values)
    df = pd.DataFrame(data)
    df.columns = index
    if signature.frame:
        return df
    return df.to_numpy(dtype=np.float64 if all(c.type in ("float", "integer", "any") for c in signature.columns) else object)


def _dtype_for(col: Column) -> str:
    d = col.dtype
    if col.nullable and col.type == "integer" and d[:1] in ("i", "u"):
        return d.capitalize()  # int64 -> Int64, nulls allowed
    if col.nullable and col.type == "boolean" and d == "bool":
        return "boolean"
    return d


def decode(payload: Any, signature: Signature, max_rows: int = MAX_ROWS) -> Any:
    return to_model_input(columns_of(payload, signature, max_rows), signature)


__all__ = ["decode", "columns_of", "to_model_input", "MAX_ROWS"]
