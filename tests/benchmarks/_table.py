"""Rows for the README table, and budgets that turn into an exit status.

The convention every ``bench_*.py`` follows (see README.md in this folder):

- it runs as a plain script: ``python tests/benchmarks/bench_x.py``;
- for each line of the README table it measures, it calls :func:`row` (ours, the
  alternative, the ratio, the budget and whether it was met);
- it ends with ``sys.exit(exit_code())``: non-zero when a budget was missed;
- it honours :func:`quick` (smaller sizes) so a smoke run stays short.

:func:`row` prints the row and, when run_all.py set ``MLOPS_BENCH_ROWS``, appends it
as one JSON line to that file: run_all collects the rows of every script into one table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROWS_ENV = "MLOPS_BENCH_ROWS"
QUICK_ENV = "MLOPS_BENCH_QUICK"

_missed: list[str] = []


def quick() -> bool:
    """True when run_all.py --quick (or MLOPS_BENCH_QUICK=1) asked for small sizes."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def row(
    work: str, ours: str, alternative: str, *, ratio: float | None = None,
    budget: str = "", ok: bool | None = None, order: int = 50,
) -> None:
    """One line of the table. ``ok`` False marks a missed budget (exit status 1);
    None means no budget applies (or the competitor was not measured)."""
    record = {
        "work": work, "ours": ours, "alternative": alternative, "ratio": ratio,
        "budget": budget, "ok": ok, "order": order,
    }
    verdict = "" if ok is None else (" [budget met]" if ok else " [BUDGET MISSED]")
    r = f" ({ratio:,.2f}x)" if ratio is not None else ""
    print(f"ROW | {work} | {ours} | {alternative}{r} | {budget}{verdict}", flush=True)
    if ok is False:
        _missed.append(f"{work}: {budget}")
    target = os.environ.get(ROWS_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def exit_code() -> int:
    """1 when any budget was missed in this process (each is listed), else 0."""
    for m in _missed:
        print(f"BUDGET MISSED: {m}", flush=True)
    return 1 if _missed else 0
