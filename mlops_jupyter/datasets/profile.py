"""Per-column profiles: summary statistics, histogram bins and top values.

Computed once when a version is added (over all rows, vectorised with numpy/Arrow so
1,000,000 x 20 stays well inside the 2 s versioning budget) and stored with it. They
feed ``show`` (the EDA view), ``diff`` (statistic changes) and are meant as the drift
reference: numeric histograms are on ``HIST_BINS`` equal-width bins between the
column's finite min and max, so a drift test can bin new data on the same edges;
categorical columns keep their top ``TOP_K`` values with counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_jupyter.datasets.schema import dtype_kind, dtype_name, json_value

if TYPE_CHECKING:
    import pandas as pd

PROFILE_FORMAT = "mlops-profile/1"
HIST_BINS = 20
TOP_K = 20
QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)


def profile_frame(df: pd.DataFrame) -> dict[str, Any]:
    """The profile of a frame: ``{"format", "rows", "columns": [per-column dict]}``."""
    cols = [
        profile_column(df.index.get_level_values(n), str(n)) for n in df.index.names if n is not None
    ]
    cols += [profile_column(df[c], str(c)) for c in df.columns]
    return {"format": PROFILE_FORMAT, "rows": int(len(df)), "columns": cols}


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
    finite = arr[np.isfinite(arr)] if kind == "float" else arr
    out: dict[str, Any] = {"infinite": int(len(arr) - len(finite))}
    if not len(finite):
        return out
    lo, hi = float(finite.min()), float(finite.max())
    qs = np.quantile(finite, QUANTILES)
    out.update({
        "min": lo, "max": hi, "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
        "zeros": int(np.count_nonzero(finite == 0)),
        "quantiles": {f"p{int(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
    })
    if kind == "int" and hi - lo < HIST_BINS:  # small integer range: one bin per value
        edges = np.arange(lo - 0.5, hi + 1.0, 1.0)
    else:
        edges = np.linspace(lo, hi, HIST_BINS + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    counts, edges = np.histogram(finite, bins=edges)
    out["histogram"] = {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
    if len(finite) <= 2_000_000:
        out["n_unique"] = int(len(np.unique(finite))) if kind == "int" else _n_unique_float(finite)
    return out


def _n_unique_float(arr: np.ndarray) -> int:
    import pandas as pd

    return int(pd.unique(arr).size)


def _datetime(values: Any) -> dict[str, Any]:
    if not len(values):
        return {}
    ns = values.to_numpy(dtype="datetime64[ns]") if getattr(values.dtype, "tz", None) is None else (
        values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    )
    secs = ns.astype("int64").astype("float64") / 1e9
    lo, hi = float(secs.min()), float(secs.max())
    edges = np.linspace(lo, hi, HIST_BINS + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    counts, edges = np.histogram(secs, bins=edges)
    return {
        "min": json_value(values.min()), "max": json_value(values.max()), "unit": "s",
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
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
    if kind == "string":
        lengths = values.str.len()
        out["length"] = {"min": int(lengths.min()), "max": int(lengths.max()), "mean": float(lengths.mean())}
    return out


def column_profiles(profile: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """name -> column profile (empty for files and folders)."""
    if not profile:
        return {}
    return {c["name"]: c for c in profile.get("columns", [])}
