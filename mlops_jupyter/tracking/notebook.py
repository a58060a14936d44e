"""Tracking inside an IPython kernel: cell hooks, tracked cells and cell provenance.

:func:`install` registers two IPython events:

- ``pre_run_cell`` remembers the raw source and cell id of the cell about to run (for
  provenance), and ends a tracked-cell run that somehow outlived its cell;
- ``post_run_cell`` ends the run of a tracked cell (``%%mlops track``) with the status
  its cell earned — FINISHED, FAILED with type/message/traceback, KILLED on
  ``KeyboardInterrupt``; ``sys.exit(0)`` counts as FINISHED — ends runs started with
  ``end_on_error`` when the cell failed, and flushes the buffered metrics of every
  active run, so nothing waits in memory between cells.

The hook never raises: a library failure there is printed as one line and never hides
the user's own exception, which IPython has already shown by then.

Provenance of a tracked cell is stored with its run:

- artifact ``code/cell.py``: the exact source of the cell (without the ``%%mlops`` line);
- artifact ``code/history.py``: the kernel's inputs in execution order up to and
  including this cell, each headed by ``# In[N]:`` (both redacted);
- tags ``mlops.cell.execution_count``, ``mlops.cell.id`` (when the front end sends it),
  ``mlops.cell.out_of_order``, ``mlops.cell.missing_code`` (``true``/``false``/
  ``unknown``), ``mlops.cell.order_basis`` (``notebook``/``cell-ids``/``history``) and
  ``mlops.cell.order_notes``. How they are decided: see
  :func:`mlops_jupyter.tracking.cell_order.analyze_order`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_jupyter.errors import UsageError
from mlops_jupyter.redact import redact, redact_checked
from mlops_jupyter.store.entities import FAILED, FINISHED, KILLED
from mlops_jupyter.tracking import autolog, session
from mlops_jupyter.tracking.active import ActiveRun
from mlops_jupyter.tracking.cell_order import OrderReport, analyze_order, notebook_cells

__all__ = [
    "OrderReport",
    "analyze_order",
    "begin_cell",
    "end_cell",
    "install",
    "installed",
    "log_values",
    "start_spanning",
    "status_for",
    "stop_spanning",
    "uninstall",
]

#: called with each run the hooks ended (the magics show its card)
Listener = Callable[[ActiveRun], None]


@dataclass
class _State:
    shell: Any = None
    raw_cell: str | None = None
    cell_id: str | None = None
    #: (execution count, cell id, source) of every stored execution seen by the hook
    executions: list[tuple[int, str | None, str]] = field(default_factory=list)
    cell_run: ActiveRun | None = None
    #: run id -> (run, end_on_error) for runs spanning cells
    spanning: dict[str, tuple[ActiveRun, bool]] = field(default_factory=dict)
    #: runs that hold the autolog window open
    autolog_runs: dict[str, ActiveRun] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)


_state = _State()


def installed() -> bool:
    return _state.shell is not None


def install(shell: Any, listener: Listener | None = None) -> None:
    """Register the cell hooks on ``shell`` (idempotent)."""
    if listener is not None and listener not in _state.listeners:
        _state.listeners.append(listener)
    if _state.shell is shell:
        return
    if _state.shell is not None:
        uninstall(_state.shell)
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
    _state.shell = shell


def uninstall(shell: Any) -> None:
    for name, cb in (("pre_run_cell", _pre_run_cell), ("post_run_cell", _post_run_cell)):
        try:
            shell.events.unregister(name, cb)
        except ValueError:
            pass
    if _state.shell is shell:
        _state.shell = None
    _state.listeners.clear()


# -- statuses --------------------------------------------------------------------------

def status_for(error: BaseException | None) -> str:
    """The run status a cell's outcome earns."""
    if error is None:
        return FINISHED
    if isinstance(error, KeyboardInterrupt):
        return KILLED
    if isinstance(error, SystemExit) and error.code in (None, 0):
        return FINISHED
    return FAILED


def error_info(error: BaseException, shell: Any = None) -> dict[str, Any]:
    """Type, message and traceback of a cell's exception, starting at the user's code
    (IPython's own frames dropped, cell files shown as ``Cell In[N]``), redacted."""
    import traceback

    tb = error.__traceback__
    while tb is not None and _is_ipython_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    frames = traceback.extract_tb(tb) if tb is not None else traceback.StackSummary()
    names = getattr(getattr(shell, "compile", None), "_filename_map", {}) or {}
    for fr in frames:
        if fr.filename in names:
            fr.filename = f"Cell In[{names[fr.filename]}]"
    text = "Traceback (most recent call last):\n" + "".join(frames.format()) if frames else ""
    text += "".join(traceback.format_exception_only(type(error), error))
    return {
        "type": type(error).__name__,
        "message": redact(str(error))[:4000],
        "traceback": redact(text)[-20000:],
    }


def _is_ipython_frame(filename: str) -> bool:
    return f"{os.sep}IPython{os.sep}core{os.sep}" in filename


# -- tracked cells ---------------------------------------------------------------------

def begin_cell(
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    source: str | None = None,
) -> ActiveRun:
    """Start the run of the current cell; :func:`end_cell` (or the post-cell hook) ends it.

    A run already active (``track start``, the Python API) becomes its parent.
    """
    if _state.cell_run is not None and not _state.cell_run.ended:
        raise UsageError("this cell is already tracked: one %%mlops track per cell")
    try:
        files, prov_tags = _provenance(source)
    except Exception as e:  # noqa: BLE001 - provenance is best effort, the run goes on
        print(f"mlops: could not record cell provenance: {type(e).__name__}: {e}", file=sys.stderr)
        files, prov_tags = [], {}
    outer = session.active_run()
    if outer is not None and getattr(outer, "implicit", False):
        # a logging call outside any run started it; it is not this cell's context
        outer.end()
        outer = session.active_run()
    run = session.start_run(
        name, params, tags, nested=outer is not None,
        system_tags=prov_tags, files=files,
    )
    _state.cell_run = run
    _hold_autolog(run)
    return run


def end_cell(error: BaseException | None) -> ActiveRun | None:
    """End the current cell's run (and runs it left open) with the status ``error`` earns."""
    run = _state.cell_run
    _state.cell_run = None
    if run is None or run.ended:
        return run
    status = status_for(error)
    info = error_info(error, _state.shell) if status != FINISHED and error is not None else None
    try:
        for inner in reversed(list(session._stack)):  # runs the cell opened and left open
            if inner is run:
                break
            if not inner.ended:
                inner.end(status, info, ended_by="cell")
        run.end(status, info, ended_by="cell")
    except BaseException:
        session._pop(run)  # never leave a stale active run for the next cell
        raise
    finally:
        _release_autolog()
    return run


def start_spanning(
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    end_on_error: bool = False,
) -> ActiveRun:
    """Start a run that stays active across cells until :func:`stop_spanning`."""
    run = session.start_run(name, params, tags, nested=session.active_run() is not None)
    _state.spanning[run.id] = (run, end_on_error)
    _hold_autolog(run)
    return run


def stop_spanning(status: str = FINISHED) -> ActiveRun:
    """End the innermost run started with ``track start`` (else the innermost active run)."""
    run = None
    for rid in reversed(list(_state.spanning)):
        cand = _state.spanning.pop(rid)[0]
        if not cand.ended:
            run = cand
            break
    if run is None:
        run = session.active_run()
    if run is None:
        raise UsageError("no active run to stop: start one with %mlops track start [NAME]")
    try:
        run.end(status)
    finally:
        _release_autolog()
    return run


def _hold_autolog(run: ActiveRun) -> None:
    if run.id not in _state.autolog_runs:
        _state.autolog_runs[run.id] = run
        autolog.acquire()


def _release_autolog() -> None:
    for rid, run in list(_state.autolog_runs.items()):
        if run.ended:
            del _state.autolog_runs[rid]
            autolog._forget_run(rid)
            autolog.release()


def log_values(
    values: Mapping[str, Any], *, params: bool = False, step: int | None = None,
    run: str | None = None,
) -> tuple[str, bool]:
    """Log metrics (or params) to ``run``, else the active run, else the last run this
    kernel started (an ended run may still receive metrics, e.g. a test score computed
    in the next cell). Returns ``(run id, whether that run is active)``."""
    import time

    from mlops_jupyter import names
    from mlops_jupyter.tracking.active import _texts
    from mlops_jupyter.tracking.values import metric_value, step_value

    active = session.active_run()
    st = session.get_store()
    if run is not None:
        rid = st.resolve_run_id(run)
    elif active is not None:
        rid = active.id
    else:
        rid = session.last_run_id()
        if rid is None:
            raise UsageError(
                "no run to log to: track a cell (%%mlops track), start a run "
                "(%mlops track start) or name one with --run RUN"
            )
    target = next((r for r in session._stack if r.id == rid and not r.ended), None)
    if params:
        if target is not None:
            target.log_params(values)
        else:
            st.log_params(rid, _texts("parameter", values))
        return rid, target is not None
    if target is not None:
        target.log_metrics(values, step=step)
        target.flush()
        return rid, True
    summaries = st.get_run(rid).metrics
    now = time.time()
    points = []
    for k, v in values.items():
        names.key(k, "metric name")
        s = step_value(step) if step is not None else (
            summaries[k].last_step + 1 if k in summaries else 0
        )
        points.append((k, metric_value(k, v), s, now))
    st.log_metric_batches({rid: points})
    return rid, False


# -- hooks -----------------------------------------------------------------------------

def _pre_run_cell(info: Any) -> None:
    try:
        raw = getattr(info, "raw_cell", None)
        _state.raw_cell = raw
        _state.cell_id = getattr(info, "cell_id", None)
        shell = _state.shell
        if raw is not None and getattr(info, "store_history", True) and shell is not None:
            _state.executions.append((current_count(shell), _state.cell_id, raw))
        if _state.cell_run is not None:  # a tracked cell whose post-cell hook never ran
            stale = end_cell(KeyboardInterrupt("the cell ended without reporting back"))
            if stale is not None:
                _notify(stale)
    except Exception as e:  # noqa: BLE001 - a hook must never break the user's cell
        _report(e)


def _post_run_cell(result: Any) -> None:
    ended: list[ActiveRun] = []
    try:
        if result is None:  # ipykernel cancelled an async cell on interrupt
            error: BaseException | None = KeyboardInterrupt()
        else:
            error = getattr(result, "error_in_exec", None)
        if _state.cell_run is not None:
            run = end_cell(error)
            if run is not None:
                ended.append(run)
        for rid, (run, end_on_error) in list(_state.spanning.items()):
            if run.ended:
                del _state.spanning[rid]
            elif error is not None and end_on_error and status_for(error) != FINISHED:
                del _state.spanning[rid]
                run.end(status_for(error), error_info(error, _state.shell), ended_by="cell")
                ended.append(run)
        session.flush()
    except Exception as e:  # noqa: BLE001 - never hide the user's own error
        _report(e)
    finally:
        _release_autolog()
    for run in ended:
        _notify(run)


def _notify(run: ActiveRun) -> None:
    for listener in list(_state.listeners):
        try:
            listener(run)
        except Exception as e:  # noqa: BLE001
            _report(e)


def _report(e: BaseException) -> None:
    print(f"mlops: {type(e).__name__}: {e}", file=sys.stderr)


# -- provenance ------------------------------------------------------------------------

def current_count(shell: Any) -> int:
    """The execution count (``In[N]``) of the cell running now: IPython increments the
    shell's counter before it runs a cell that is stored in history."""
    return max(int(shell.execution_count) - 1, 0)


def cell_body(raw: str | None) -> str | None:
    """The body of a ``%%mlops`` cell (everything after its first line)."""
    if raw is None:
        return None
    text = raw.lstrip("\n")
    if text.startswith("%%"):
        return text.split("\n", 1)[1] if "\n" in text else ""
    return raw


def _history(shell: Any) -> list[tuple[int, str]]:
    hm = getattr(shell, "history_manager", None)
    raw = list(getattr(hm, "input_hist_raw", []) or [])
    return [(i, src) for i, src in enumerate(raw) if i > 0]


_redacted: dict[tuple[int, str], str] = {}


def _redact_input(n: int, src: str) -> str:
    """Redacted history entries are cached: the history grows with every cell."""
    key = (n, src)
    hit = _redacted.get(key)
    if hit is None:
        hit = _redacted[key] = redact(src.rstrip())
    return hit


def _provenance(source: str | None) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """Artifacts ``code/cell.py``, ``code/history.py`` and the ``mlops.cell.*`` tags."""
    shell = _state.shell
    if source is None:
        source = cell_body(_state.raw_cell)
    files: list[tuple[str, bytes]] = []
    tags: dict[str, str] = {}
    if source is not None:
        code, masked = redact_checked(source)
        files.append(("code/cell.py", code.encode()))
        if masked:
            # the stored code differs from what ran: reproduce must say so
            tags["mlops.cell.redacted"] = "true"
    if shell is None:
        return files, tags
    count = current_count(shell)
    history = [(n, src) for n, src in _history(shell) if n <= count]
    if history:
        text = "\n\n".join(f"# In[{n}]:\n{_redact_input(n, src)}" for n, src in history) + "\n"
        if any(_redact_input(n, src) != src.rstrip() for n, src in history):
            tags["mlops.cell.redacted"] = "true"
        files.append(("code/history.py", text.encode()))
    tags["mlops.cell.execution_count"] = str(count)
    if _state.cell_id:
        tags["mlops.cell.id"] = str(_state.cell_id)[:200]
    ids = {n: cid for n, cid, _src in _state.executions if cid}
    entries = [(n, src, ids.get(n)) for n, src in history]
    from mlops_jupyter.tracking.context import notebook_path

    rep = analyze_order(entries, notebook_cells(notebook_path()))
    tags.update({
        "mlops.cell.order_basis": rep.basis,
        "mlops.cell.out_of_order": rep.out_of_order,
        "mlops.cell.missing_code": rep.missing_code,
    })
    if rep.notes:
        tags["mlops.cell.order_notes"] = redact("; ".join(rep.notes))[:2000]
    return files, tags
