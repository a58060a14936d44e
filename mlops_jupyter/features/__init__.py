"""The feature repository: feature views defined as code, materialised as dataset
versions, joined point-in-time correctly into training frames, served without skew.

>>> # features/customers.py in the project (next to .mlops/)
>>> from mlops_jupyter.features import Feature, feature_view
>>> @feature_view(entity="customer_id", timestamp="ts", source="transactions",
...               features={"spend_30d": ("float", "spend over the last 30 days")})
... def customer_stats(tx): ...
>>> import mlops_jupyter as mj
>>> mj.features.apply()                       # register changed definitions
>>> frame = mj.features.training_frame(entities, ["customer_stats:spend_30d"], ttl="90d")
>>> mj.features.catalogue()                   # views, features, owners, models using them

``apply`` and every call that computes a view **execute the Python code in the
project's features/ folder**; only files inside that folder are loaded.
"""

from mlops_jupyter.features.catalogue import Catalogue, catalogue, catalogue_frame
from mlops_jupyter.features.definition import TYPES, Feature, FeatureView, feature_view
from mlops_jupyter.features.online import compute_features, entity_columns, lookup_features
from mlops_jupyter.features.repository import (
    ApplyResult,
    Change,
    Materialization,
    apply,
    definition,
    materialize,
)
from mlops_jupyter.features.skew import SkewReport, skew_check
from mlops_jupyter.features.training import model_features, training_frame


def definitions(view: str | None = None):  # type: ignore[no-untyped-def]
    """Applied definitions (every version), as a DataFrame: one row each."""
    import pandas as pd

    from mlops_jupyter.features.repository import _store

    rows = [{
        "view": d.view, "version": d.version, "digest": d.digest[:12], "owner": d.owner,
        "applied": pd.to_datetime(d.created_at, unit="s"), "path": d.path,
        "entity": d.spec["entity"], "source": d.spec["source"],
        "features": ", ".join(f["name"] for f in d.spec["features"]),
    } for d in _store().feature_definitions(view)]
    return pd.DataFrame(rows, columns=["view", "version", "digest", "owner", "applied", "path",
                                       "entity", "source", "features"])


__all__ = [
    "ApplyResult", "Catalogue", "Change", "Feature", "FeatureView", "Materialization",
    "SkewReport", "TYPES", "apply", "catalogue", "catalogue_frame", "compute_features",
    "definition", "definitions", "entity_columns", "feature_view", "lookup_features",
    "materialize", "model_features", "skew_check", "training_frame",
]
