"""Dataset versioning: content-hashed versions of DataFrames, files and folders, with
schemas, profiles, diffs, validation and lineage.

>>> import mlops_jupyter as mj
>>> v = mj.datasets.add(df, name="churn")          # churn@v1 (same data again: same version)
>>> mj.datasets.load("churn@v1")                   # the DataFrame, verified by hash
>>> mj.datasets.diff("churn@v1", "churn@v2")       # schema, stats, rows added/removed
>>> mj.datasets.validate(new_df, "churn@v1")       # report: .ok, .violations

Other domains use :func:`inputs_of_run` (registry lineage), :func:`infer_schema` and
:func:`validate` with a schema dict (model signatures, serving payloads).
"""

from mlops_jupyter.datasets.api import (
    get,
    inputs_of_run,
    lineage,
    list_datasets,
    load,
    show,
    versions,
)
from mlops_jupyter.datasets.diff import DatasetDiff, diff
from mlops_jupyter.datasets.ingest import add
from mlops_jupyter.datasets.schema import infer_schema, normalize_schema
from mlops_jupyter.datasets.validate import VIOLATION_KINDS, ValidationReport, validate
from mlops_jupyter.datasets.version import DatasetVersion

#: ``mj.datasets.list()``: datasets, or the versions of one (a DataFrame)
list = list_datasets  # noqa: A001 - the public verb is "list", like the magic and CLI

__all__ = [
    "DatasetDiff",
    "DatasetVersion",
    "VIOLATION_KINDS",
    "ValidationReport",
    "add",
    "diff",
    "get",
    "infer_schema",
    "inputs_of_run",
    "lineage",
    "list",
    "list_datasets",
    "load",
    "normalize_schema",
    "show",
    "validate",
    "versions",
]
