"""Checking and converting what users log: metric values, params and tag values."""

from __future__ import annotations

import json
import math
from typing import Any

from mlops_jupyter.errors import UsageError

MAX_VALUE_CHARS = 8000


def metric_value(key: str, value: Any) -> float:
    """A float from ints, floats, bools and numpy scalars; never from strings.

    NaN and infinities are kept as they are: a diverging loss is information.
    """
    if isinstance(value, str | bytes) or value is None:
        raise UsageError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}; "
            "log text as a tag or parameter"
        )
    try:
        return float(value)
    except OverflowError:
        raise UsageError(
            f"metric {key!r} is too large for a float ({str(value)[:40]}…); log it scaled "
            "or as a tag"
        ) from None
    except (TypeError, ValueError):
        raise UsageError(
            f"metric {key!r} must be a number (int, float, numpy scalar), got "
            f"{type(value).__name__}"
        ) from None


STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1


def step_value(step: Any) -> int:
    """An integer step that fits the store's 64-bit column."""
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            import numpy as np

            if isinstance(step, np.integer):
                step = int(step)
        except ImportError:  # pragma: no cover
            pass
    if isinstance(step, bool) or not isinstance(step, int):
        raise UsageError(f"step must be an integer, got {type(step).__name__} {step!r}")
    if not STEP_MIN <= step <= STEP_MAX:
        raise UsageError(f"step {step} is out of range: steps are 64-bit integers")
    return step


def timestamp_value(ts: Any) -> float:
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise UsageError(f"timestamp must be UNIX seconds (a number), got {type(ts).__name__}")
    ts = float(ts)
    if not math.isfinite(ts):
        raise UsageError(f"timestamp must be finite, got {ts}")
    return ts


def text_value(kind: str, key: str, value: Any) -> str:
    """Params and tags are stored as text: scalars by ``str``, containers as JSON."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else str(value)
    elif isinstance(value, list | tuple | dict):
        try:
            text = json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = str(value)
    else:
        text = str(value)
    if len(text) > MAX_VALUE_CHARS:
        raise UsageError(
            f"{kind} {key!r} has {len(text):,} characters; at most {MAX_VALUE_CHARS:,} are "
            "accepted: log large values as an artifact (log_artifact / log_text)"
        )
    return text
