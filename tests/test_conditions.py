"""One condition grammar for job gates and promotion rules."""

from __future__ import annotations

import math

import pytest

from mlops_jupyter.conditions import parse_condition
from mlops_jupyter.errors import UsageError
from mlops_jupyter.jobs.gates import parse as parse_gate
from mlops_jupyter.models.governance import parse_condition as parse_rule


@pytest.mark.parametrize("text", ["auc>=0.85", " rmse < 3.2 ", "val/loss<=1e-3", "f1!=0", "acc==1"])
def test_both_faces_accept_the_same_text(text: str) -> None:
    g, r, c = parse_gate(text), parse_rule(text), parse_condition(text)
    assert (g.metric, g.op, g.threshold) == (r.metric, r.op, r.threshold) == (c.metric, c.op, c.threshold)


@pytest.mark.parametrize("text", ["auc", "auc>=", "auc>=x", "__import__('os')>1", "auc>=nan", "auc>=inf", "a b>=1", "auc=>1"])
def test_both_refuse_the_same_text(text: str) -> None:
    with pytest.raises(UsageError, match="gate"):
        parse_gate(text)
    with pytest.raises(UsageError, match="promotion condition"):
        parse_rule(text)


def test_missing_and_nan_never_hold() -> None:
    c = parse_condition("loss<1")
    assert c.holds(0.5) and not c.holds(2.0) and not c.holds(math.nan) and not c.holds(None)
