"""Plain-text rendering for the terminal (tables, key/value blocks, JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any


def fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan" if v != v else ""
        return f"{v:.6g}"
    return str(v)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int = 40) -> None:
    cells = [[fmt(c)[:max_width] for c in r] for r in rows]
    widths = [len(c) for c in columns]
    for r in cells:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    print(line.rstrip())
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def print_kv(items: Iterable[tuple[str, Any]]) -> None:
    items = list(items)
    width = max((len(k) for k, _ in items), default=0)
    for k, v in items:
        print(f"{k.ljust(width)}  {fmt(v)}")


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))
