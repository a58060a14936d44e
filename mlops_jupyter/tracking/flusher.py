"""One daemon thread per process writes buffered metric points every few seconds.

Why a thread and not a check inside ``log_metric``: a loop that logs one point per
epoch may call ``log_metric`` a few thousand times in an hour, so a clock checked every
N points never fires, and everything stays in memory until the cell ends (a kill -9
then loses it all). The thread wakes every ``INTERVAL`` seconds and flushes the runs of
this process that have points waiting; ``log_metric`` itself stays an append.
"""

from __future__ import annotations

import os
import threading
import time

from mlops_jupyter.tracking import heartbeat

INTERVAL = 1.0
# Between two ticks the thread looks every LOOK_EVERY seconds for a run holding
# EARLY_POINTS or more and writes it at once: a fast loop's points are then written while
# it goes on (SQLite releases the GIL, so on a second core this overlaps the logging)
# instead of all at its end, and the buffer stays small. Slow loops still get one chunk
# per key and INTERVAL.
LOOK_EVERY = 0.1
EARLY_POINTS = 1 << 18

_thread: threading.Thread | None = None
_lock = threading.Lock()


def ensure_started() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="mlops-flusher", daemon=True)
            _thread.start()


def _after_fork_in_child() -> None:
    """A fork may copy a run's flush lock while the (now gone) thread held it; the
    child's runs restart the thread at their next logging call."""
    global _thread
    _thread = None
    for run in heartbeat.live_runs():
        run._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _loop() -> None:
    last = time.monotonic()
    while True:
        time.sleep(min(INTERVAL, LOOK_EVERY))
        if time.monotonic() - last >= INTERVAL:
            last = time.monotonic()
            flush_pending()
        else:
            flush_pending(at_least=EARLY_POINTS)


def flush_pending(at_least: int = 1) -> int:
    """Flush every live run with at least ``at_least`` points waiting; errors are
    retried next time."""
    n = 0
    for run in heartbeat.live_runs():
        if run.ended or run.pending < at_least:
            continue
        try:
            n += run.flush(timeout=INTERVAL)
        except Exception:  # noqa: BLE001 - the points stay buffered; next tick retries
            pass
    return n
