"""Promotion rules and who did what.

Rules are stored per model and alias, e.g. for ``churn@production``::

    {"require": ["auc>=0.8", "log_loss<0.4"], "beat": "auc"}

``require``: every condition must hold on the candidate's metrics. ``beat``: the
candidate must be strictly better than the current holder on that metric (``"auc"``:
higher is better; ``"-log_loss"``: lower is better). The check runs inside the alias
transaction, against the holder it would replace, so two promotions racing cannot both
"beat" a holder that has already changed. ``force=True`` skips the rules and says so in
the audit record.
"""

from __future__ import annotations

import getpass
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_jupyter.conditions import Condition
from mlops_jupyter.conditions import parse_condition as _parse
from mlops_jupyter.errors import UsageError
from mlops_jupyter.names import key


class RuleFailed(UsageError):
    """A promotion rule did not hold; the alias was not moved."""

    exit_code = 1


def current_user() -> str | None:
    """Who acts, for the audit log: ``MLOPS_USER`` if set (CI, services), else the login."""
    env = os.environ.get("MLOPS_USER")
    if env:
        return env[:128]
    try:
        return getpass.getuser()[:128]
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return os.environ.get("USER")


def parse_condition(text: str) -> Condition:
    """A promotion condition, in the same grammar as job gates (``auc>=0.8``)."""
    return _parse(text, what="promotion condition")


def normalise_rules(require: Sequence[str] | str | None, beat: str | None) -> dict[str, Any]:
    """Validated rules, in their stored form (empty dict: no rules)."""
    if isinstance(require, str):
        require = [require]
    out: dict[str, Any] = {}
    conds = [c.strip() for c in (require or [])]
    for c in conds:
        parse_condition(c)
    if conds:
        out["require"] = conds
    if beat:
        metric = beat[1:] if beat.startswith("-") else beat
        key(metric, "metric name")
        out["beat"] = beat
    return out


def _metric(metrics: Mapping[str, Any], name: str) -> float | None:
    v = metrics.get(name)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return None


def check_rules(
    rules: Mapping[str, Any], candidate: Mapping[str, Any], holder: Mapping[str, Any] | None,
    *, candidate_name: str, holder_name: str | None, alias: str,
) -> dict[str, Any]:
    """Raise :class:`RuleFailed` naming every failed rule; return what was checked."""
    failures: list[str] = []
    checked: list[str] = []
    for cond in rules.get("require", []):
        c = parse_condition(cond)
        v = _metric(candidate, c.metric)
        if v is None or math.isnan(v):
            failures.append(f"{cond}: {candidate_name} has no {c.metric!r} metric")
        elif not c.holds(v):
            failures.append(f"{cond}: {candidate_name} has {c.metric}={v:.6g}")
        else:
            checked.append(cond)
    beat = rules.get("beat")
    if beat and holder is not None:
        lower = beat.startswith("-")
        metric = beat[1:] if lower else beat
        v, h = _metric(candidate, metric), _metric(holder, metric)
        if v is None or math.isnan(v):
            failures.append(f"beat {metric}: {candidate_name} has no {metric!r} metric")
        elif h is not None and not math.isnan(h):
            better = v < h if lower else v > h
            if not better:
                failures.append(
                    f"must beat the current {alias} ({holder_name}) on {metric} "
                    f"({'lower' if lower else 'higher'} is better): {v:.6g} vs {h:.6g}"
                )
            else:
                checked.append(f"beat {metric}: {v:.6g} vs {h:.6g}")
    if failures:
        raise RuleFailed(
            f"promotion of {candidate_name} to {alias!r} refused by its rules: "
            + "; ".join(failures) + ". Nothing was changed (force=True overrides, and is audited)"
        )
    return {"rules": dict(rules), "passed": checked} if rules else {}


__all__ = ["RuleFailed", "check_rules", "current_user", "normalise_rules", "parse_condition"]
