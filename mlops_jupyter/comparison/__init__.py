"""Model comparison: versions scored on one holdout, with paired intervals and a verdict.

>>> cmp = mj.compare("churn@production", "churn@v7", holdout="customers@v3", label="churned")
>>> cmp.winner, cmp.verdict, cmp.to_frame(), cmp.delta("roc_auc").lo

Also runs side by side: ``mj.compare(run_a, run_b, "rf-deep")``. The package is named
``comparison`` (not ``compare``) so that ``mj.compare`` stays the function.
"""

from mlops_jupyter.comparison.api import compare
from mlops_jupyter.comparison.result import Comparison, MetricDelta, SliceRow

__all__ = ["Comparison", "MetricDelta", "SliceRow", "compare"]
