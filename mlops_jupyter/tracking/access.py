"""Who may do what in a shared (PostgreSQL) store: roles granted to database logins.

The rules themselves live in the database (see ``store/sql/access.py`` and
docs/security.md); this module is the one entry point the faces call.
"""

from __future__ import annotations

from typing import Any

from mlops_jupyter.tracking.session import get_store

ROLES = ("reader", "contributor", "approver", "admin")


def setup() -> dict[str, str]:
    """Create or refresh the store's roles, GRANTs and triggers (owner or superuser)."""
    return get_store().access_setup()


def grant(user: str, role: str) -> str:
    """Give database login ``user`` a role (reader, contributor, approver, admin)."""
    return get_store().access_grant(user, role)


def revoke(user: str, role: str) -> str:
    return get_store().access_revoke(user, role)


def list_access() -> list[dict[str, Any]]:
    """``[{user, role}]`` for every login holding a role in this store."""
    return get_store().access_list()


def whoami() -> str | None:
    """The identity the store records: the database login on PostgreSQL, None on
    SQLite (single-user)."""
    return get_store().identity()
