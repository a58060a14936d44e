"""Quality gates: ``auc>=0.85``, ``rmse<3.2``, ``val/loss <= 0.4``.

A gate is parsed, never evaluated as code. It reads the latest value of its metric from
the job's runs: the most recently started run of the job that logged the metric (a
template usually makes one run; when it makes several, e.g. a candidate and a baseline,
the last one that logged the metric decides). A metric no run logged fails the gate and
says which metrics exist, so a typo in CI does not pass silently; so does a NaN value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mlops_jupyter.conditions import OPS, Condition, parse_condition

__all__ = ["OPS", "Gate", "GateResult", "evaluate", "parse", "parse_all"]


@dataclass(frozen=True)
class Gate:
    expr: str
    metric: str
    op: str
    threshold: float

    def check(self, value: float) -> bool:
        return Condition(self.metric, self.op, self.threshold).holds(value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


@dataclass(frozen=True)
class GateResult:
    expr: str
    metric: str
    op: str
    threshold: float
    value: float | None
    passed: bool
    run_id: str | None
    reason: str = ""

    def describe(self) -> str:
        if self.value is None:
            return f"gate {self.expr} failed: {self.reason}"
        state = "passed" if self.passed else "failed"
        return f"gate {self.expr} {state}: {self.metric}={self.value:.6g}" + (
            f" (run {self.run_id[:8]})" if self.run_id else ""
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse(expr: object) -> Gate:
    c = parse_condition(expr, what="gate")
    return Gate(expr=str(expr).strip(), metric=c.metric, op=c.op, threshold=c.threshold)


def parse_all(exprs: Iterable[object] | str | None) -> list[Gate]:
    if exprs is None:
        return []
    if isinstance(exprs, str):
        exprs = [exprs]
    return [parse(e) for e in exprs]


def evaluate(gates: Sequence[Gate], runs: Sequence[Any]) -> list[GateResult]:
    """Each gate against ``runs`` (store Run entities: ``metrics`` maps key to summary)."""
    ordered = sorted(runs, key=lambda r: r.start_time, reverse=True)
    logged = sorted({k for r in runs for k in r.metrics})
    out = []
    for g in gates:
        run = next((r for r in ordered if g.metric in r.metrics), None)
        if run is None:
            why = (
                f"metric {g.metric!r} was not logged by the job's {len(runs)} run(s); "
                f"metrics logged: {', '.join(logged) or '(none)'}"
                if runs else "the job created no run (did the notebook call mj.start_run?)"
            )
            out.append(GateResult(g.expr, g.metric, g.op, g.threshold, None, False, None, why))
            continue
        value = float(run.metrics[g.metric].last)
        passed = g.check(value)
        reason = "" if passed else ("value is NaN" if math.isnan(value) else f"needs {g}")
        out.append(GateResult(g.expr, g.metric, g.op, g.threshold, value, passed, run.id, reason))
    return out
