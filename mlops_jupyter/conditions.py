"""Metric conditions such as ``auc>=0.85`` or ``val/loss < 0.4``: one grammar for job
gates and for promotion rules, parsed (never evaluated as code).

A condition on a missing or NaN value never holds: a metric that is not there, or that
diverged, must not pass a gate or a promotion rule by accident.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from mlops_jupyter.errors import UsageError
from mlops_jupyter.names import key as check_key

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt,
}
_RE = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_][A-Za-z0-9_.\-/:]{0,249}?)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<value>[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    threshold: float

    def holds(self, value: float | None) -> bool:
        return value is not None and not math.isnan(value) and OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


def parse_condition(text: object, what: str = "condition") -> Condition:
    """``"auc>=0.85"`` -> Condition; one clear UsageError naming the accepted form."""
    if not isinstance(text, str):
        raise UsageError(f"a {what} must be text such as 'auc>=0.85', got {type(text).__name__}")
    m = _RE.match(text)
    if not m:
        raise UsageError(
            f"invalid {what} {text!r}: write METRIC OP NUMBER, e.g. auc>=0.85 or rmse<3.2 "
            f"(operators: {', '.join(OPS)})"
        )
    threshold = float(m.group("value"))
    if not math.isfinite(threshold):
        raise UsageError(f"invalid {what} {text!r}: the threshold must be a finite number")
    return Condition(check_key(m.group("metric"), kind=f"{what} metric"), m.group("op"), threshold)
