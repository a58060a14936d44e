"""Data and prediction drift: pure statistics (numpy/scipy/pandas), no store.

``compute_drift(reference, current)`` compares two DataFrames column by column and
returns a :class:`DriftReport`; ``compute_prediction_drift(model, reference, current)``
compares a model's predictions (and, with labels, its performance) on both. The
package is named ``monitoring`` because ``mj.drift(...)`` is the top-level function
that resolves dataset and model references and calls into it. Nothing here is
imported by ``import mlops_jupyter``.
"""

from __future__ import annotations

from .engine import compute_drift
from .methods import AUTO, AutoPolicy, DriftMethod, get_method, method_names, register_method
from .prediction import compute_prediction_drift
from .report import ColumnDrift, DriftReport, SchemaChange

__all__ = [
    "compute_drift",
    "compute_prediction_drift",
    "DriftReport",
    "ColumnDrift",
    "SchemaChange",
    "DriftMethod",
    "AutoPolicy",
    "AUTO",
    "register_method",
    "get_method",
    "method_names",
]
