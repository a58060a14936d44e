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


def start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after it
    rest = data.rsplit(")", 1)[-1].split()
    return rest[19] if len(rest) > 19 else None


def is_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    if started is not None:
        now = start_time(pid)
        if now is not None and now != started:
            return False  # the pid was reused by another process
    return True
