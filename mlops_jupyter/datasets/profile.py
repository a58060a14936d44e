"""Per-column profiles: summary statistics, histogram bins and top values.

Computed once when a version is added (over all rows, vectorised with numpy/Arrow so
1,000,000 x 20 stays well inside the 2 s versioning budget) and stored with it. They
feed ``show`` (the EDA view), ``diff`` (statistic changes) and are meant as the drift
reference: numeric histograms are on ``HIST_BINS`` equal-width bins between the
column's finite min and max, so a drift test can bin new data on the same edges;
categorical columns keep their top ``TOP_K`` values with counts.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_jupyter.datasets.schema import (
    MAX_CATEGORIES,
    SCHEMA_FORMAT,
    dtype_kind,
    dtype_name,
    json_value,
)

if TYPE_CHECKING:
    import pandas as pd

PROFILE_FORMAT = "mlops-profile/1"
HIST_BINS = 20
TOP_K = 20
QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)
EXACT_MAX = 200_000


def profile_frame(df: pd.DataFrame) -> dict[str, Any]:
    """The profile of a frame: ``{"format", "rows", "columns": [per-column dict]}``."""
    cols = [
        profile_column(df.index.get_level_values(n), str(n)) for n in df.index.names if n is not None
    ]
    cols += [profile_column(df[c], str(c)) for c in df.columns]
    return {"format": PROFILE_FORMAT, "rows": int(len(df)), "columns": cols}


def describe(df: pd.DataFrame, key: list[str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(schema, profile) in one pass over the data: the schema is read off the profile
    (same result as :func:`~mlops_jupyter.datasets.schema.infer_schema`, half the work)."""
    series = [(str(n), df.index.get_level_values(n)) for n in df.index.names if n is not None]
    series += [(str(c), df[c]) for c in df.columns]
    prof_cols, schema_cols = [], []
    for name, s in series:
        p = profile_column(s, name)
        values = p.pop("_values", None)
        entry: dict[str, Any] = {
            "name": name, "dtype": p["dtype"], "kind": p["kind"], "nullable": p["nulls"] > 0,
            "min": None, "max": None, "categories": None,
        }
        if p["kind"] in ("int", "float", "datetime", "timedelta") and p.get("min") is not None:
            if p["kind"] == "int":
                entry["min"], entry["max"] = int(p["min"]), int(p["max"])
            elif p["kind"] == "timedelta":
                entry["min"], entry["max"] = json_value(s.min()), json_value(s.max())
            else:
                entry["min"], entry["max"] = p["min"], p["max"]
        elif p["kind"] == "category":
            entry["categories"] = [json_value(c) for c in s.cat.categories]
            entry["ordered"] = bool(s.cat.ordered)
        elif p["kind"] in ("string", "bool") and values is not None:
            entry["categories"] = values
        prof_cols.append(p)
        schema_cols.append(entry)
    schema: dict[str, Any] = {"format": SCHEMA_FORMAT, "columns": schema_cols}
    if key:
        schema["key"] = list(key)
    return schema, {"format": PROFILE_FORMAT, "rows": int(len(df)), "columns": prof_cols}


def profile_column(s: Any, name: str) -> dict[str, Any]:
    kind = dtype_kind(s)
    n = len(s)
    isna = s.isna()
    nulls = int(isna.sum())
    out: dict[str, Any] = {
        "name": name, "dtype": dtype_name(s), "kind": kind, "count": n - nulls,
        "nulls": nulls, "null_fraction": (nulls / n) if n else 0.0,
    }
    values = s[~np.asarray(isna)] if nulls else s
    if kind in ("int", "float"):
        out.update(_numeric(values.to_numpy(dtype="float64", na_value=np.nan), kind))
    elif kind == "datetime":
        out.update(_datetime(values))
    elif kind == "timedelta":
        secs = values.to_numpy(dtype="timedelta64[ns]").astype("int64").astype("float64") / 1e9
        out.update(_numeric(secs, "float"))
        out["unit"] = "s"
    elif kind in ("string", "category", "bool", "object"):
        out.update(_categorical(values, kind))
    return out


def _numeric(arr: np.ndarray, kind: str) -> dict[str, Any]:
    finite = arr
    if kind == "float":
        mask = np.isfinite(arr)
        if not mask.all():
            finite = arr[mask]
    out: dict[str, Any] = {"infinite": int(len(arr) - len(finite))}
    if not len(finite):
        return out
    lo, hi = float(finite.min()), float(finite.max())
    qs = np.quantile(_sample(finite), QUANTILES)
    out.update({
        "min": lo, "max": hi, "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
        "zeros": int(np.count_nonzero(finite == 0)),
        "quantiles": {f"p{int(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
    })
    out["histogram"] = _histogram(finite, lo, hi, small_ints=kind == "int" and hi - lo < HIST_BINS)
    if kind == "int" and hi - lo < 1 << 22:  # distinct count by bincount: one cheap pass
        out["n_unique"] = int(np.count_nonzero(np.bincount((finite - lo).astype(np.int64))))
    elif len(finite) <= EXACT_MAX:
        import pandas as pd

        out["n_unique"] = int(pd.unique(finite).size)
    return out


def _histogram(arr: np.ndarray, lo: float, hi: float, small_ints: bool = False) -> dict[str, list[Any]]:
    """Equal-width bins between lo and hi (one bin per value for a small integer range).

    Passing ``bins=N, range=...`` keeps numpy on its linear-time path; explicit edges
    would make it sort every column."""
    if small_ints:
        counts = np.bincount((arr - lo).astype(np.int64), minlength=int(hi - lo) + 1)
        edges = np.arange(lo - 0.5, hi + 1.0, 1.0)
    elif hi > lo:
        counts, edges = np.histogram(arr, bins=HIST_BINS, range=(lo, hi))
    else:
        counts, edges = np.array([len(arr)]), np.array([lo - 0.5, lo + 0.5])
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


@lru_cache(maxsize=4)
def _sample_index(n: int) -> np.ndarray:
    return np.sort(np.random.default_rng(0).integers(0, n, EXACT_MAX))


def _sample(arr: np.ndarray) -> np.ndarray:
    """Quantiles are exact up to EXACT_MAX values, then estimated from a fixed-seed
    sample of that size (sorting 1,000,000 values per column would dominate the add;
    the histogram, min, max, mean and std always use every value)."""
    if len(arr) <= EXACT_MAX:
        return arr
    return arr[_sample_index(len(arr))]


def _datetime(values: Any) -> dict[str, Any]:
    if not len(values):
        return {}
    ns = values.to_numpy(dtype="datetime64[ns]") if getattr(values.dtype, "tz", None) is None else (
        values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    )
    secs = ns.astype("int64").astype("float64") / 1e9
    lo, hi = float(secs.min()), float(secs.max())
    return {
        "min": json_value(values.min()), "max": json_value(values.max()), "unit": "s",
        "histogram": _histogram(secs, lo, hi),
    }


def _categorical(values: Any, kind: str) -> dict[str, Any]:
    if not len(values):
        return {"n_unique": 0, "top": [], "other": 0}
    if kind == "object":
        values = values.map(repr)
    counts = values.value_counts(sort=True, dropna=True)
    top = counts.iloc[:TOP_K]
    out: dict[str, Any] = {
        "n_unique": int((counts > 0).sum()),
        "top": [[json_value(k), int(v)] for k, v in top.items() if v > 0],
        "other": int(counts.iloc[TOP_K:].sum()),
    }
    if out["n_unique"] <= MAX_CATEGORIES and kind in ("string", "bool"):
        out["_values"] = sorted(json_value(k) for k, v in counts.items() if v > 0)
    if kind == "string":
        lengths = values.str.len()
        out["length"] = {"min": int(lengths.min()), "max": int(lengths.max()), "mean": float(lengths.mean())}
    return out


def column_profiles(profile: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """name -> column profile (empty for files and folders)."""
    if not profile:
        return {}
    return {c["name"]: c for c in profile.get("columns", [])}
