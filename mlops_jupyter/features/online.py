"""Features at serving time, without skew: the same definition versions the model was
trained on, either looked up (latest materialised value per key) or computed from raw
source rows by the same definition code. ``skew_check`` compares both with the offline
(point-in-time) values for sampled keys.

The raw path runs the view's function on the rows sent for each key, so it suits views
whose features of a key depend only on that key's rows (per-entity windows and
aggregates), which is what a feature view keyed by entity normally is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_jupyter.errors import NotFoundError, UsageError, ValidationError
from mlops_jupyter.features import repository as repo
from mlops_jupyter.features.pit import gather, lookup, prepare
from mlops_jupyter.features.training import model_features

if TYPE_CHECKING:
    import pandas as pd

MAX_KEYS = 10_000


@dataclass
class _ViewPart:
    definition: Any
    features: list[tuple[str, str]] = field(default_factory=list)  # (feature, column)


def _parts(model_ref: str) -> list[_ViewPart]:
    st = repo._store()
    parts: dict[str, _ViewPart] = {}
    for f in model_features(model_ref):
        if f["view"] not in parts:
            parts[f["view"]] = _ViewPart(st.feature_definition_by_id(f["definition_id"]))
        parts[f["view"]].features.append((f["feature"], f["column"]))
    return list(parts.values())


def entity_columns(model_ref: str) -> list[str]:
    """The entity key columns a request for this model must give."""
    return sorted({p.definition.spec["entity"] for p in _parts(model_ref)})


def _latest_materialization(d: Any) -> Any:
    mats = repo._store().list_materializations(d.id)
    if not mats:
        raise NotFoundError(
            f"feature view {d.view!r} v{d.version} has never been materialised: run "
            f"mj.features.materialize({d.view!r}) so keys can be looked up"
        )
    return mats[-1]


def keys_frame(keys: Any, columns: list[str]) -> pd.DataFrame:
    """``[{"customer_id": 1}, ...]``, ``{"customer_id": [1, ...]}``, a DataFrame, or a
    plain list when there is one key column."""
    import pandas as pd

    shape_error = ValidationError(
        f"keys must be a list of objects with {columns}, or an object column -> list "
        "(lists of equal length)",
        violations=[{"loc": ["keys"], "msg": "unrecognised shape"}],
    )
    try:
        if isinstance(keys, pd.DataFrame):
            df = keys
        elif isinstance(keys, dict) and all(isinstance(v, list | tuple) for v in keys.values()):
            df = pd.DataFrame({k: list(v) for k, v in keys.items()})
        elif isinstance(keys, list | tuple) and keys and all(isinstance(k, dict) for k in keys):
            df = pd.DataFrame(list(keys))
        elif isinstance(keys, list | tuple) and len(columns) == 1:
            df = pd.DataFrame({columns[0]: list(keys)})
        else:
            raise shape_error
    except (ValueError, TypeError):
        raise shape_error from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValidationError(f"keys lack column(s) {missing}; required: {columns}",
                              violations=[{"loc": ["keys", c], "msg": "field required"} for c in missing])
    if len(df) == 0 or len(df) > MAX_KEYS:
        raise ValidationError(f"give 1 to {MAX_KEYS} keys, got {len(df)}",
                              violations=[{"loc": ["keys"], "msg": "bad length"}])
    return df


def at_ns(at: Any) -> int:
    """A point in time as UTC nanoseconds (default: now), like the training frame's times."""
    import pandas as pd

    if at is None:
        return pd.Timestamp.now(tz="UTC").value
    try:
        ts = pd.Timestamp(at)
    except (ValueError, TypeError):
        raise UsageError(f"at must be a time (datetime or ISO 8601 text), got {at!r}") from None
    return (ts.tz_convert("UTC") if ts.tzinfo else ts).value


def _latest_values(sf: Any, keys: Any, names: list[str], spec: dict[str, Any], at: int) -> dict[str, Any]:
    """Each key's latest values at time ``at``; the view's TTL applies as in training."""
    ttl = spec.get("ttl_seconds")
    idx = lookup(sf, keys, np.full(len(keys), at, dtype=np.int64),
                 None if not ttl else int(round(float(ttl) * 1e9)))
    return gather(sf, idx, names)


def lookup_features(model_ref: str, keys: Any, at: Any = None) -> pd.DataFrame:
    """The model's feature columns for ``keys``: each key's latest materialised values
    at ``at`` (default: now; a view's TTL applies, as in training) of the definition
    versions the model was trained on. Unknown keys give missing values."""
    import pandas as pd

    when = at_ns(at)
    parts = _parts(model_ref)
    kf = keys_frame(keys, sorted({p.definition.spec["entity"] for p in parts}))
    cols: dict[str, Any] = {}
    for p in parts:
        spec = p.definition.spec
        sf = repo.sorted_features(_latest_materialization(p.definition).dataset_version_id, spec)
        vals = _latest_values(sf, kf[spec["entity"]].to_numpy(), [f for f, _ in p.features], spec, when)
        for f, col in p.features:
            cols[col] = vals[f]
    return pd.DataFrame(cols).reset_index(drop=True)


def compute_features(
    model_ref: str, raw: Any, keys: Any = None, root: Any = None, at: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(keys, feature columns) computed from raw source rows by the definition code the
    model was trained on. ``raw``: view name -> rows (records or a DataFrame) of that
    view's source. Without ``keys``, one row per distinct key of the raw rows, in order
    of first appearance. Values are each key's latest at ``at`` (default: now)."""
    import pandas as pd

    when = at_ns(at)
    parts = _parts(model_ref)
    if not isinstance(raw, dict) or not raw:
        raise ValidationError("raw must be an object: feature view name -> list of source rows",
                              violations=[{"loc": ["raw"], "msg": "expected an object"}])
    wanted = {p.definition.view for p in parts}
    unknown = [k for k in raw if k not in wanted]  # never echoed: request text
    if unknown or set(raw) != wanted:
        raise ValidationError(
            f"raw must give source rows for exactly the views {sorted(wanted)}",
            violations=([{"loc": ["raw"], "msg": f"{len(unknown)} unknown view name(s)"}] if unknown else [])
            + [{"loc": ["raw", v], "msg": "field required"} for v in sorted(wanted - set(raw))],
        )
    from mlops_jupyter.features import loader

    views = loader.load_views(loader.project_root(root))
    computed, inputs = {}, {}
    for p in parts:
        d = p.definition
        rows = raw[d.view]
        df = rows.copy() if isinstance(rows, pd.DataFrame) else _rows(rows, d.view)
        fv = views.get(d.view)
        if fv is None or fv.digest() != d.digest:
            raise UsageError(
                f"the code of feature view {d.view!r} v{d.version} (which the model was trained "
                "on) is not what features/ holds now: raw inputs cannot be computed without skew"
            )
        for c in (fv.timestamp,) + ((fv.created,) if fv.created else ()):
            if c in df.columns and not pd.api.types.is_datetime64_any_dtype(df[c].dtype):
                try:
                    df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601").dt.tz_localize(None)
                except (ValueError, TypeError):
                    raise ValidationError(
                        f"raw.{d.view}: column {c!r} must hold ISO 8601 times",
                        violations=[{"loc": ["raw", d.view, c], "msg": "expected ISO 8601 text"}],
                    ) from None
        inputs[d.view] = df
        computed[d.view] = repo.compute(fv, df)
    ent_cols = sorted({p.definition.spec["entity"] for p in parts})
    if keys is None:
        first = parts[0].definition
        kcol = first.spec["entity"]
        if len(ent_cols) > 1 or kcol not in inputs[first.view].columns:
            raise ValidationError("give keys: they cannot be read from the raw rows",
                                  violations=[{"loc": ["keys"], "msg": "field required"}])
        keys = {kcol: inputs[first.view][kcol].drop_duplicates().tolist()}
    kf = keys_frame(keys, ent_cols)
    cols: dict[str, Any] = {}
    for p in parts:
        spec = p.definition.spec
        out = computed[p.definition.view]
        sf = prepare(out, spec["entity"], spec["timestamp"], [f for f, _ in p.features])
        vals = _latest_values(sf, kf[spec["entity"]].to_numpy(), [f for f, _ in p.features], spec, when)
        for f, col in p.features:
            cols[col] = vals[f]
    return kf.reset_index(drop=True), pd.DataFrame(cols)


def _rows(rows: Any, view: str) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValidationError(f"raw.{view} must be a non-empty list of objects (source rows)",
                              violations=[{"loc": ["raw", view], "msg": "expected a list of objects"}])
    if len(rows) > MAX_KEYS * 10:
        raise ValidationError(f"at most {MAX_KEYS * 10} raw rows per request",
                              violations=[{"loc": ["raw", view], "msg": "too many rows"}])
    return pd.DataFrame(rows)


def to_json_columns(df: pd.DataFrame) -> dict[str, list[Any]]:
    """Columns as JSON values: missing -> null, times -> ISO text, numpy -> Python."""
    import pandas as pd

    out = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            vals = [None if pd.isna(v) else v.isoformat() for v in s]
        else:
            vals = [None if _missing(v) else (v.item() if hasattr(v, "item") else v) for v in s.astype(object)]
        out[str(c)] = vals
    return out


def _missing(v: Any) -> bool:
    import pandas as pd

    return v is None or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))
