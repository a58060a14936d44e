"""The reference grammar shared by the API, magics, CLI and REST.

- run: a full id or a unique prefix of at least 6 hex characters;
- dataset version: ``name``, ``name@latest``, ``name@v3``, ``name@<hash prefix>``;
- model version: ``name``, ``name@latest``, ``name@v3``, ``name@<alias>``.

Parsing is pure; resolving against the store happens in the domain modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_jupyter.errors import UsageError
from mlops_jupyter.names import entity_name

MIN_RUN_PREFIX = 6
_RUN_PREFIX_RE = re.compile(r"^[0-9a-f]{6,32}$")
_VERSION_RE = re.compile(r"^v(\d{1,9})$")
_HEX_RE = re.compile(r"^[0-9a-f]{6,64}$")


@dataclass(frozen=True)
class VersionRef:
    """A parsed ``name@selector``. Exactly one of version/latest/selector is meaningful."""

    name: str
    version: int | None = None  # name@v3
    latest: bool = False  # name, name@latest
    selector: str | None = None  # alias (models) or hash prefix (datasets)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@v{self.version}"
        if self.latest:
            return f"{self.name}@latest"
        return f"{self.name}@{self.selector}"


def parse_version_ref(ref: object, kind: str = "reference") -> VersionRef:
    if not isinstance(ref, str) or not ref.strip():
        raise UsageError(
            f"{kind} must be a string like 'name', 'name@v3' or 'name@latest', got {ref!r}"
        )
    name, sep, sel = ref.strip().partition("@")
    name = entity_name(name, kind=f"{kind} name")
    if not sep or sel == "latest":
        return VersionRef(name=name, latest=True)
    m = _VERSION_RE.match(sel)
    if m:
        return VersionRef(name=name, version=int(m.group(1)))
    sel = entity_name(sel, kind=f"{kind} selector")
    return VersionRef(name=name, selector=sel)


def is_hash_prefix(selector: str) -> bool:
    return bool(_HEX_RE.match(selector))


def parse_run_ref(ref: object) -> str:
    """Normalise a run reference to a lowercase hex prefix (or full id)."""
    if not isinstance(ref, str):
        raise UsageError(f"run reference must be a string, got {type(ref).__name__}")
    text = ref.strip().lower()
    if not _RUN_PREFIX_RE.match(text):
        raise UsageError(
            f"invalid run reference {ref!r}: give the run id or a unique prefix of at "
            f"least {MIN_RUN_PREFIX} hex characters"
        )
    return text
