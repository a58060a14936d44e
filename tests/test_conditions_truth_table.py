"""Every condition operator against a value below, equal to and above its threshold,
NaN and missing, through the condition itself, a job gate and a promotion rule.

Before this table, "NaN never holds" was tested with ``<`` only (``f1!=0`` passing on a
NaN went unnoticed: NaN != 0 is True in Python) and ``>=`` turned into ``>`` was caught
by one PostgreSQL job test that happened to compute 0.5 + 0.2 == 0.7.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from mlops_jupyter.conditions import OPS, parse_condition
from mlops_jupyter.jobs.gates import evaluate
from mlops_jupyter.jobs.gates import parse as parse_gate
from mlops_jupyter.models.governance import RuleFailed, check_rules

THRESHOLD = 0.5
VALUES = {"below": 0.25, "equal": 0.5, "above": 0.75, "nan": math.nan, "none": None}

#: operator -> (below, equal, above, NaN, None): what must hold
TRUTH = {
    ">=": (False, True, True, False, False),
    ">": (False, False, True, False, False),
    "<=": (True, True, False, False, False),
    "<": (True, False, False, False, False),
    "==": (False, True, False, False, False),
    "!=": (True, False, True, False, False),
}
CASES = [
    (op, case, expected)
    for op, row in TRUTH.items()
    for case, expected in zip(VALUES, row, strict=True)
]


def test_the_table_covers_every_operator() -> None:
    assert set(TRUTH) == set(OPS)


@pytest.mark.parametrize(("op", "case", "expected"), CASES)
def test_condition(op: str, case: str, expected: bool) -> None:
    c = parse_condition(f"f1{op}{THRESHOLD}")
    assert c.op == op and c.threshold == THRESHOLD
    assert c.holds(VALUES[case]) is expected


@pytest.mark.parametrize(("op", "case", "expected"), CASES)
def test_job_gate(op: str, case: str, expected: bool) -> None:
    gate = parse_gate(f"f1 {op} {THRESHOLD}")
    value = VALUES[case]
    metrics = {} if value is None else {"f1": SimpleNamespace(last=value)}
    run = SimpleNamespace(id="r" * 32, start_time=1.0, metrics=metrics)
    (result,) = evaluate([gate], [run])
    assert result.passed is expected
    if value is None:
        assert "was not logged" in result.reason
    elif not expected:
        assert result.reason in ("value is NaN", f"needs {gate}")


@pytest.mark.parametrize(("op", "case", "expected"), CASES)
def test_promotion_rule(op: str, case: str, expected: bool) -> None:
    value = VALUES[case]
    candidate = {} if value is None else {"f1": value}
    rules = {"require": [f"f1{op}{THRESHOLD}"]}
    kwargs = {"candidate_name": "churn@v2", "holder_name": None, "alias": "production"}
    if expected:
        assert check_rules(rules, candidate, None, **kwargs)["passed"] == rules["require"]
    else:
        with pytest.raises(RuleFailed, match="refused by its rules") as info:
            check_rules(rules, candidate, None, **kwargs)
        assert f"f1{op}{THRESHOLD}" in str(info.value)


@pytest.mark.parametrize("op", sorted(OPS))
def test_no_float_fuzz_at_the_boundary(op: str) -> None:
    """A value equal to the threshold as written (not 0.1 + 0.2) is judged exactly."""
    c = parse_condition(f"auc{op}0.7")
    assert c.holds(0.7) is TRUTH[op][1]
    assert c.holds(math.nextafter(0.7, 1.0)) is TRUTH[op][2]
    assert c.holds(math.nextafter(0.7, 0.0)) is TRUTH[op][0]
