"""One daemon thread per process keeps its live runs' heartbeats fresh.

The heartbeat is what lets another process tell a long computation (alive, beating)
from a kernel that was killed (silent): see ``SqlRuns.reap_stale_runs``.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_jupyter.tracking.active import ActiveRun

INTERVAL = 15.0

_live: weakref.WeakSet[ActiveRun] = weakref.WeakSet()
_thread: threading.Thread | None = None
_lock = threading.Lock()


def register(run: ActiveRun) -> None:
    global _thread
    _live.add(run)
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="mlops-heartbeat", daemon=True)
            _thread.start()


def unregister(run: ActiveRun) -> None:
    _live.discard(run)


def live_runs() -> list[ActiveRun]:
    return list(_live)


def _loop() -> None:
    while True:
        time.sleep(INTERVAL)
        beat()


def beat() -> None:
    by_store: dict[int, tuple[object, list[str]]] = {}
    for run in list(_live):
        if not run.ended:
            by_store.setdefault(id(run.store), (run.store, []))[1].append(run.id)
    for store, ids in by_store.values():
        try:
            store.heartbeat(ids, time.time())  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a missed beat is retried next interval
            pass
