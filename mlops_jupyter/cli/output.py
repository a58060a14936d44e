"""Plain-text rendering for the terminal (tables, key/value blocks, JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

# C0 and C1 control characters (ESC, BEL, CSI…) would let stored text repaint or retitle
# the user's terminal: they are shown escaped, as \x1b.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
# bidirectional overrides, zero-width and line/paragraph separators reorder or hide text
_CONTROL.update({c: f"\\u{c:04x}" for c in (
    0x061C, *range(0x200B, 0x2010), *range(0x2028, 0x202F), *range(0x2066, 0x206A), 0xFEFF,
)})


def safe(text: str) -> str:
    return text.translate(_CONTROL)


def fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""  # missing (no value for this run) prints as an empty cell
        return f"{v:.6g}"
    return safe(str(v))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int = 40) -> None:
    cells = [[fmt(c)[:max_width] for c in r] for r in rows]
    widths = [len(c) for c in columns]
    for r in cells:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    line = "  ".join(safe(c).ljust(w) for c, w in zip(columns, widths, strict=True))
    print(line.rstrip())
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def print_kv(items: Iterable[tuple[str, Any]]) -> None:
    items = list(items)
    width = max((len(k) for k, _ in items), default=0)
    for k, v in items:
        print(f"{safe(k).ljust(width)}  {fmt(v)}")


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))
