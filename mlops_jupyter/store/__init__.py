"""The only layer that speaks SQL or touches artifact bytes.

``open_store()`` returns the process-wide store for the resolved configuration;
domain modules call it and never build SQL themselves.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from mlops_jupyter.config import StoreConfig, resolve

if TYPE_CHECKING:
    from mlops_jupyter.store.sql import SqlStore

_lock = threading.Lock()
_stores: dict[StoreConfig, SqlStore] = {}
_current: StoreConfig | None = None


def open_store(config: StoreConfig | None = None) -> SqlStore:
    """The store for ``config`` (default: the one set by ``init`` or resolved from the
    environment and working directory). Opening creates or upgrades the schema."""
    global _current
    with _lock:
        if config is None:
            config = _current or resolve()
        store = _stores.get(config)
        if store is None:
            from mlops_jupyter.store.sql import SqlStore

            store = SqlStore(config)
            _stores[config] = store
        return store


def set_current(config: StoreConfig | None) -> None:
    """Make ``config`` the default store for this process (None: resolve again)."""
    global _current
    with _lock:
        _current = config


def current_config() -> StoreConfig:
    return _current or resolve()


def reset() -> None:
    """Forget every open store (tests, and `init` pointing elsewhere)."""
    global _current
    with _lock:
        for s in _stores.values():
            s.close()
        _stores.clear()
        _current = None


__all__ = ["open_store", "set_current", "current_config", "reset", "StoreConfig"]
