"""The verb registry behind ``%mlops VERB …`` and ``%%mlops VERB …``.

Each domain keeps its verbs in its own module (``magics/dataset.py`` …) exposing
``VERBS: dict[str, Verb]``; this table maps verb names to those modules, which are
imported only when a verb is used (``%load_ext`` stays fast). ``%mlops help`` imports
them all, so help always lists what really exists.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: verb -> module that defines it in its VERBS table
VERB_MODULES: dict[str, str] = {
    "init": "mlops_jupyter.magics.tracking",
    "experiment": "mlops_jupyter.magics.tracking",
    "track": "mlops_jupyter.magics.tracking",
    "log": "mlops_jupyter.magics.tracking",
    "runs": "mlops_jupyter.magics.tracking",
    "show": "mlops_jupyter.magics.tracking",
    "compare": "mlops_jupyter.magics.tracking",
    "dataset": "mlops_jupyter.magics.dataset",
    "model": "mlops_jupyter.magics.model",
    "serve": "mlops_jupyter.magics.model",
    "drift": "mlops_jupyter.magics.drift",
    "monitor": "mlops_jupyter.magics.monitor",
    "run": "mlops_jupyter.magics.jobs",
    "templates": "mlops_jupyter.magics.jobs",
    "jobs": "mlops_jupyter.magics.jobs",
    "reproduce": "mlops_jupyter.magics.jobs",
    "sweep": "mlops_jupyter.magics.jobs",
    "import": "mlops_jupyter.magics.interop",
    "export": "mlops_jupyter.magics.interop",
    "features": "mlops_jupyter.magics.features",
    "tune": "mlops_jupyter.magics.tune",
}


@dataclass(frozen=True)
class Verb:
    """One verb. ``handler(shell, argv, cell)`` gets the words after the verb (already
    split with shell quoting), and the cell body for ``%%mlops`` (else None); it
    returns a value to display or None. Bad arguments raise IPython's UsageError."""

    name: str
    summary: str
    usage: str
    handler: Callable[[Any, list[str], str | None], Any]
    examples: list[str] = field(default_factory=list)
    cell: bool = False  # usable as %%mlops VERB


def find(verb: str) -> Verb | None:
    """The verb, or None when no module defines it (yet). A module that exists but
    fails to import raises, so a broken verb is reported instead of hidden."""
    mod_name = VERB_MODULES.get(verb)
    if mod_name is None:
        return None
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        if e.name is not None and mod_name.startswith(e.name):
            return None  # a domain whose magics have not landed yet
        raise
    return getattr(mod, "VERBS", {}).get(verb)


def available() -> dict[str, Verb]:
    """Every verb that can be used now (verbs whose module is broken are left out;
    :func:`broken` names them)."""
    out = {}
    for verb in VERB_MODULES:
        try:
            v = find(verb)
        except Exception:  # noqa: BLE001 - one broken domain never hides the others
            continue
        if v is not None:
            out[verb] = v
    return out


def broken() -> dict[str, str]:
    """verb -> one-line reason, for verbs whose module exists but fails to import."""
    out = {}
    for verb in VERB_MODULES:
        try:
            find(verb)
        except Exception as e:  # noqa: BLE001
            out[verb] = f"{type(e).__name__}: {e}"
    return out
