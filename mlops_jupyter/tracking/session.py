"""Process-wide tracking state: the store in use, the experiment, the active runs.

The active runs form a stack so that nested runs (sweeps, search children) end
innermost first. Everything here is what ``import mlops_jupyter as mj; mj.log_metric``
reaches through the top-level functions.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_jupyter import names, store
from mlops_jupyter.config import StoreConfig, resolve
from mlops_jupyter.errors import UsageError
from mlops_jupyter.store.entities import FAILED, FINISHED
from mlops_jupyter.tracking import context as ctx
from mlops_jupyter.tracking.active import ActiveRun, _texts

DEFAULT_EXPERIMENT = "default"
ENV_EXPERIMENT = "MLOPS_EXPERIMENT"

_experiment: str | None = None
_stack: list[ActiveRun] = []
_last_run_id: str | None = None


def init(
    home: str | os.PathLike[str] | None = None,
    db_url: str | None = None,
    artifacts_url: str | None = None,
    experiment: str | None = None,
) -> StoreConfig:
    """Choose the store for this process (and opens it, creating or upgrading it).

    Without arguments: ``MLOPS_*`` environment variables, else the nearest ``.mlops``.
    """
    config = resolve(home, db_url, artifacts_url)
    store.open_store(config)  # raises on a bad store: the current one stays in use
    store.set_current(config)
    if experiment is not None:
        set_experiment(experiment)
    return config


def get_store():  # type: ignore[no-untyped-def]
    """The store this process writes to."""
    return store.open_store()


def set_experiment(name: str) -> str:
    global _experiment
    _experiment = names.experiment_name(name)
    get_store().get_or_create_experiment(_experiment)
    return _experiment


def current_experiment() -> str:
    return _experiment or os.environ.get(ENV_EXPERIMENT) or DEFAULT_EXPERIMENT


def active_run() -> ActiveRun | None:
    return _stack[-1] if _stack else None


def last_run_id() -> str | None:
    """The most recent run started in this process (active or ended)."""
    return _last_run_id


def start_run(
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    nested: bool = False,
    capture_git: bool = True,
    system_tags: Mapping[str, str] | None = None,
    files: Sequence[tuple[str, bytes]] | None = None,
) -> ActiveRun:
    """Start a run; use it as a context manager so it ends FINISHED or FAILED.

    ``nested=True`` starts a child of the active run (sweeps, search candidates).
    Inside a papermill job the job id and parent run come from the environment.
    ``system_tags`` (``mlops.*``) and text ``files`` (artifact name, bytes) are written
    in the run's creating transaction (the notebook face stores cell provenance so).
    """
    global _last_run_id
    parent = active_run()
    if parent is not None and not nested:
        raise UsageError(
            f"run {parent.id[:8]} ({parent.name or 'unnamed'}) is still active: end it "
            "first (mj.end_run()), or pass nested=True to start a child run"
        )
    if name is not None and (
        not isinstance(name, str) or len(name) > 256 or any(not c.isprintable() for c in name)
    ):
        raise UsageError(
            "run name must be a string of at most 256 printable characters (no control "
            f"characters), got {name!r}"
        )
    exp_name = names.experiment_name(experiment) if experiment else current_experiment()
    st = get_store()
    exp = st.get_or_create_experiment(exp_name)
    c = ctx.capture(capture_git=capture_git)
    user_tags = _texts("tag", tags or {}, user=True)
    run = st.create_run(
        experiment_id=exp.id, name=name,
        params=_texts("parameter", params or {}),
        tags={**c.tags, **(system_tags or {}), **user_tags},
        user=c.user, host=c.host, pid=c.pid, pid_start=c.pid_start,
        parent_id=parent.id if parent else os.environ.get(ctx.ENV_PARENT_RUN) or None,
        job_id=c.job_id, source=c.source, git_commit=c.git.commit, git_dirty=c.git.dirty,
        files=[(n, data, "text") for n, data in [*c.files, *(files or ())]],
    )
    active = ActiveRun(st, run, on_end=_pop)
    _stack.append(active)
    _last_run_id = run.id
    _ensure_cell_hooks()
    _install_signal_handlers()
    return active


_SIGNALS = ("SIGTERM", "SIGHUP")
_previous_handlers: dict[int, Any] = {}


def _install_signal_handlers() -> None:
    """Flush (and end as KILLED) live runs on SIGTERM and SIGHUP, which skip atexit.

    Installed once, from the main thread only (Python's rule), and only over the default
    action or an existing Python handler, which is then called in turn. A signal that
    was ignored (``nohup``) stays ignored.
    """
    import signal
    import threading

    if _previous_handlers or threading.current_thread() is not threading.main_thread():
        return
    for name in _SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        prev = signal.getsignal(signum)
        if prev == signal.SIG_IGN or prev is None:
            continue
        try:
            signal.signal(signum, _on_signal)
        except (ValueError, OSError):  # pragma: no cover - not the main interpreter
            continue
        _previous_handlers[signum] = prev


def _on_signal(signum: int, frame: Any) -> None:
    import signal

    from mlops_jupyter.store.entities import KILLED

    prev = _previous_handlers.get(signum, signal.SIG_DFL)
    fatal = not callable(prev)
    for run in reversed(list(_stack)):
        try:
            if fatal:
                run.end(KILLED, {"type": "Signal", "message": f"terminated by {signal.Signals(signum).name}"},
                        ended_by="signal")
            else:
                run.flush(timeout=10)
        except Exception:  # noqa: BLE001 - the process is going away; do what we can
            pass
    if not fatal:
        prev(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # die of the signal, as without this handler


def _ensure_cell_hooks() -> None:
    """In a notebook, flush active runs after every cell even without ``%load_ext``."""
    ip = ctx._ipython()
    if ip is not None and hasattr(ip, "events"):
        from mlops_jupyter.tracking import notebook

        if not notebook.installed():
            notebook.install(ip)


def _pop(run: ActiveRun) -> None:
    if run in _stack:
        _stack.remove(run)


def end_run(status: str = FINISHED) -> None:
    """End the innermost active run (no-op when none is active)."""
    run = active_run()
    if run is not None:
        run.end(status)


def _require_run() -> ActiveRun:
    """The active run, or a new one started implicitly (like MLflow) for a logging call
    made outside any run. Implicit runs say so once on stderr, carry the tag
    ``mlops.implicit``, and never become the parent of a tracked notebook cell."""
    run = active_run()
    if run is None:
        run = start_run(system_tags={"mlops.implicit": "true"})
        run.implicit = True
        print(
            f"mlops: no active run, so run {run.id[:8]} was started for this logging call; "
            "end it with mj.end_run() (or log inside `with mj.start_run():` / %%mlops track)",
            file=sys.stderr,
        )
    return run


def flush() -> int:
    """Write every buffered metric point of this process now."""
    return sum(r.flush() for r in list(_stack))


_uncaught: BaseException | None = None


def _excepthook(exc_type: Any, exc: BaseException, tb: Any) -> None:
    global _uncaught
    _uncaught = exc
    _previous_hook(exc_type, exc, tb)


_previous_hook = sys.excepthook
sys.excepthook = _excepthook


@atexit.register
def _at_exit() -> None:
    """A script that ends normally finishes its runs; an uncaught exception fails them."""
    for run in reversed(list(_stack)):
        try:
            if _uncaught is not None:
                run.end(FAILED, _uncaught, ended_by="exit")
            else:
                run.end(FINISHED, ended_by="exit")
        except Exception:  # noqa: BLE001 - nothing to report to at exit
            pass


def _reset_for_tests() -> None:
    global _experiment, _last_run_id
    for run in list(_stack):
        run.ended = True
    _stack.clear()
    _experiment = None
    _last_run_id = None
