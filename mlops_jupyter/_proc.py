"""Process identity: is the process that owns a run still alive?

A pid alone can be reused after a reboot or a long time, so on Linux the process start
time (field 22 of /proc/PID/stat) is stored beside it and compared.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache


@lru_cache(maxsize=1)
def hostname() -> str:
    return socket.gethostname()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3… of /proc/PID/stat (state first), or None off Linux / for no process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after it
    return data.rsplit(")", 1)[-1].split()


def start_time(pid: int) -> str | None:
    rest = _stat_fields(pid)
    return rest[19] if rest is not None and len(rest) > 19 else None


def is_zombie(pid: int) -> bool:
    """A process that exited but was not reaped by its parent yet (state Z or X): dead,
    although ``kill(pid, 0)`` still succeeds on it."""
    rest = _stat_fields(pid)
    return bool(rest) and rest[0] in ("Z", "X")  # type: ignore[index]


def is_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    if is_zombie(pid):
        return False
    if started is not None:
        now = start_time(pid)
        if now is not None and now != started:
            return False  # the pid was reused by another process
    return True
