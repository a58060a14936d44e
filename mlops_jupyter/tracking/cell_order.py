"""Best-effort analysis of a notebook's execution order, for tracked-cell provenance.

Decides whether the inputs a run depended on ran in notebook order and whether some of
them are no longer in the notebook; see :func:`analyze_order` for the rules. Pure
except for :func:`notebook_cells`, which reads the saved ``.ipynb`` (cached by mtime).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OrderReport", "analyze_order", "notebook_cells"]


@dataclass
class OrderReport:
    basis: str  # notebook | cell-ids | history
    out_of_order: str  # true | false | unknown
    missing_code: str  # true | false | unknown
    notes: list[str] = field(default_factory=list)


def _norm(src: str) -> str:
    return src.strip()


def analyze_order(
    history: list[tuple[int, str, str | None]],
    notebook: list[tuple[str | None, str]] | None = None,
) -> OrderReport:
    """Decide, best effort, whether the executions up to a run were in notebook order
    and whether they used code the notebook no longer holds.

    ``history`` is ``(execution count, source, cell id or None)`` in execution order,
    the tracked cell last; ``notebook`` the saved notebook's ``(cell id, source)`` code
    cells in document order, when its file is known.

    - With the notebook: each execution is placed on its cell (by id, else by identical
      source). Out of order = a cell ran after a cell placed below it. Missing code = an
      earlier execution matches no cell (edited or deleted since; unsaved edits count).
    - Without it, with cell ids from the front end: out of order = a cell ran again after
      another cell had run since its previous run (whatever the layout, some cell then
      ran after one below it); missing code = a cell ran earlier with a different source.
    - With neither: the same test on identical sources; missing code is ``unknown``.
    """
    entries = [(n, s, cid) for n, s, cid in history if _norm(s)]
    notes: list[str] = []
    if notebook is not None and entries:
        by_id = {cid: i for i, (cid, _s) in enumerate(notebook) if cid}
        by_src: dict[str, list[int]] = {}
        for i, (_cid, s) in enumerate(notebook):
            by_src.setdefault(_norm(s), []).append(i)
        placed: list[tuple[int, int]] = []
        missing = False
        last = -1
        for k, (n, s, cid) in enumerate(entries):
            idx = by_id.get(cid) if cid else None
            if idx is not None and _norm(notebook[idx][1]) != _norm(s):
                idx = None  # the cell was edited since this execution
            if idx is None:
                cands = by_src.get(_norm(s), [])
                idx = next((i for i in cands if i >= last), cands[0] if cands else None)
            if idx is None:
                if k < len(entries) - 1:
                    missing = True
                    notes.append(f"In[{n}] is no longer in the notebook")
                continue
            placed.append((n, idx))
            last = idx
        ooo = False
        for (n1, i1), (n2, i2) in zip(placed, placed[1:], strict=False):
            if i2 < i1:
                ooo = True
                notes.append(f"In[{n2}] (cell {i2 + 1}) ran after In[{n1}] (cell {i1 + 1})")
        return OrderReport("notebook", _tf(ooo), _tf(missing), notes[:20])
    use_ids = bool(entries) and all(cid for _n, _s, cid in entries)
    key = (lambda e: e[2]) if use_ids else (lambda e: _norm(e[1]))
    seen_at: dict[Any, int] = {}
    ooo = False
    missing: bool | None = False if use_ids else None
    sources: dict[Any, str] = {}
    for pos, e in enumerate(entries):
        k = key(e)
        if k in seen_at and seen_at[k] < pos - 1 and any(
            key(x) != k for x in entries[seen_at[k] + 1:pos]
        ):
            ooo = True
            notes.append(f"In[{e[0]}] re-ran a cell after other cells ran")
        if use_ids and k in sources and _norm(sources[k]) != _norm(e[1]):
            missing = True
            notes.append(f"In[{e[0]}] replaced code that ran before in the same cell")
        seen_at[k] = pos
        sources[k] = e[1]
    basis = "cell-ids" if use_ids else "history"
    return OrderReport(basis, _tf(ooo), "unknown" if missing is None else _tf(missing), notes[:20])


def _tf(flag: bool) -> str:
    return "true" if flag else "false"


_nb_cache: dict[str, tuple[tuple[int, int], list[tuple[str | None, str]]]] = {}


def notebook_cells(path: str | None) -> list[tuple[str | None, str]] | None:
    """Code cells ``(id, source)`` of the saved notebook at ``path``, or None."""
    if not path or not path.endswith(".ipynb"):
        return None
    p = Path(path)
    if not p.is_absolute():
        p = Path.cwd() / p
    try:
        st = p.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        hit = _nb_cache.get(str(p))
        if hit and hit[0] == stamp:
            return hit[1]
        nb = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    cells = []
    for c in nb.get("cells", []):
        if c.get("cell_type") == "code":
            src = c.get("source", "")
            cells.append((c.get("id"), "".join(src) if isinstance(src, list) else str(src)))
    _nb_cache[str(p)] = (stamp, cells)
    return cells
