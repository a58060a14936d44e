"""``mlops monitor watch``: every monitor on its own schedule, in one process.

Scheduling is APScheduler's (interval triggers, one worker so checks never overlap,
missed runs coalesced), not a hand-written loop. Monitors added or redefined while it
runs are picked up every minute. Without APScheduler installed, use cron with
``mlops monitor run --all`` (docs/monitoring.md shows the line).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from mlops_jupyter.errors import UsageError

log = logging.getLogger("mlops_jupyter.monitors")


def watch(*, max_runs: int | None = None, refresh_s: float = 60.0) -> int:
    """Block, running monitors on their schedules; returns the number of checks made."""
    try:
        from apscheduler.schedulers.background import BackgroundScheduler
    except ImportError:
        raise UsageError("`mlops monitor watch` needs APScheduler (pip install "
                         "'mlops-jupyter[monitor]'); or run `mlops monitor run --all` from cron") from None
    from mlops_jupyter.monitors import api

    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    def check(name: str) -> None:
        try:
            res = api.run(name)
            log.warning("%s", res.summary()) if res.drifted else log.info("%s", res.summary())
        except Exception as e:  # noqa: BLE001 - one monitor must not stop the others
            log.error("monitor %s failed: %s", name, e)
        with lock:
            count[0] += 1
            if max_runs is not None and count[0] >= max_runs:
                done.set()

    sched = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1},
                                executors={"default": {"type": "threadpool", "max_workers": 1}})
    seen: dict[str, float] = {}

    def sync() -> None:
        for m in api._store().list_monitors():
            every = float(m.spec.get("every_s", 3600))
            if seen.get(m.name) != every:
                sched.add_job(check, "interval", seconds=every, args=[m.name], id=m.name,
                              replace_existing=True, next_run_time=_now())
                seen[m.name] = every

    sync()
    sched.add_job(sync, "interval", seconds=refresh_s, id="__sync__")
    sched.start()
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sched.shutdown(wait=True)
    return count[0]


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
