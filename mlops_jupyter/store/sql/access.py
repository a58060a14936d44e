"""Access control on PostgreSQL, enforced by the database itself.

Why in the database: a check in this package is a check the user can edit away (or
skip with ``--force``). Here the rules are PostgreSQL roles, GRANTs and triggers owned
by the store's owner, so a client connecting as a contributor cannot promote a model
whatever code it runs. Four group roles per store database, each one including the one
before it:

- ``<db>_reader``: read everything.
- ``<db>_contributor``: track runs, version datasets, register models, run jobs.
- ``<db>_approver``: also move aliases (promote), trust model files, set promotion rules.
- ``<db>_admin``: everything, and grants roles to others.

Identity is the database login (``session_user``): triggers stamp it into every audit
row, run, job and version creator, so ``MLOPS_USER`` cannot impersonate anyone. The
roles are named after the database because roles are cluster-wide while a store is one
database. SQLite stores are single-user: whoever can write the file is the admin.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from mlops_jupyter.errors import UsageError

ROLES = ("reader", "contributor", "approver", "admin")
_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.@-]{0,62}$")

#: tables only approvers write (promotion = moving an alias)
APPROVER_TABLES = ("model_aliases",)
#: (table, column) stamped with the database login on insert
STAMPED = (("audit_log", "user"), ("runs", "user"), ("jobs", "user"),
           ("model_versions", "creator"), ("dataset_versions", "creator"))

_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION mlops_stamp_user() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  NEW := jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[0], session_user::text));
  RETURN NEW;
END $f$;

CREATE OR REPLACE FUNCTION mlops_guard_trust() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF ((TG_OP = 'INSERT' AND NEW.trusted) OR
      (TG_OP = 'UPDATE' AND NEW.trusted IS DISTINCT FROM OLD.trusted))
     AND NOT pg_has_role(session_user, TG_ARGV[0], 'MEMBER') THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'trusting a model file needs the approver role (' || TG_ARGV[0] || ')';
  END IF;
  RETURN NEW;
END $f$;

CREATE OR REPLACE FUNCTION mlops_guard_rules() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF ((TG_OP = 'INSERT' AND NEW.rules IS NOT NULL) OR
      (TG_OP = 'UPDATE' AND NEW.rules IS DISTINCT FROM OLD.rules))
     AND NOT pg_has_role(session_user, TG_ARGV[0], 'MEMBER') THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'changing promotion rules needs the approver role (' || TG_ARGV[0] || ')';
  END IF;
  RETURN NEW;
END $f$;
"""


def role_name(conn: Connection, role: str) -> str:
    """The group role for ``role`` in this store's database."""
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}; accepted: {', '.join(ROLES)}")
    db = conn.execute(text("SELECT current_database()")).scalar_one()
    return f"{db[:48]}_{role}"


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _check_user(user: object) -> str:
    if not isinstance(user, str) or not _USER_RE.match(user):
        raise UsageError(
            f"invalid database user {user!r}: a PostgreSQL login name (letters, digits, "
            "'_', '.', '@', '-', starting with a letter or '_', at most 63 characters)"
        )
    return user


def _require_pg(conn: Connection) -> None:
    _require_pg_name(conn.dialect.name)


def setup(conn: Connection) -> dict[str, str]:
    """Create (or refresh) the group roles, GRANTs and triggers. Idempotent; run by the
    store's owner or a superuser, again after upgrades that add tables."""
    _require_pg(conn)
    names = {r: role_name(conn, r) for r in ROLES}
    q = {r: _q(conn, n) for r, n in names.items()}
    existing = {r for (r,) in conn.execute(
        text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"), {"n": list(names.values())})}
    for r, n in names.items():
        if n not in existing:
            conn.exec_driver_sql(f"CREATE ROLE {q[r]} NOLOGIN")
    conn.exec_driver_sql(f"GRANT {q['reader']} TO {q['contributor']}")
    conn.exec_driver_sql(f"GRANT {q['contributor']} TO {q['approver']}")
    conn.exec_driver_sql(f"GRANT {q['approver']} TO {q['admin']}")
    for r in ("reader", "contributor", "approver"):
        conn.exec_driver_sql(f"GRANT {q[r]} TO {q['admin']} WITH ADMIN OPTION")
    tables = [t for (t,) in conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))]
    db = _q(conn, conn.execute(text("SELECT current_database()")).scalar_one())
    conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {db} TO {q['reader']}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {q['reader']}")
    for t in tables:
        qt = _q(conn, t)
        conn.exec_driver_sql(f"REVOKE ALL ON {qt} FROM PUBLIC")
        conn.exec_driver_sql(f"GRANT SELECT ON {qt} TO {q['reader']}")
        if t == "mlops_schema":
            continue
        if t in APPROVER_TABLES:
            conn.exec_driver_sql(f"GRANT INSERT, UPDATE, DELETE ON {qt} TO {q['approver']}")
        elif t == "audit_log":  # append-only below admin
            conn.exec_driver_sql(f"GRANT INSERT ON {qt} TO {q['contributor']}")
        else:
            conn.exec_driver_sql(f"GRANT INSERT, UPDATE, DELETE ON {qt} TO {q['contributor']}")
        conn.exec_driver_sql(f"GRANT ALL ON {qt} TO {q['admin']} WITH GRANT OPTION")
    conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q['contributor']}")
    conn.exec_driver_sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {q['admin']}")
    conn.exec_driver_sql(_FUNCTIONS)
    for fn in ("mlops_stamp_user()", "mlops_guard_trust()", "mlops_guard_rules()"):
        conn.exec_driver_sql(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        conn.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {fn} TO {q['reader']}")
    for table, column in STAMPED:
        if table in tables:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS mlops_who ON {_q(conn, table)}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER mlops_who BEFORE INSERT ON {_q(conn, table)} FOR EACH ROW "
                f"EXECUTE FUNCTION mlops_stamp_user('{column}')"
            )
    approver = names["approver"].replace("'", "''")
    for table, fn in (("model_versions", "mlops_guard_trust"), ("registered_models", "mlops_guard_rules")):
        if table in tables:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS mlops_guard ON {_q(conn, table)}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER mlops_guard BEFORE INSERT OR UPDATE ON {_q(conn, table)} "
                f"FOR EACH ROW EXECUTE FUNCTION {fn}('{approver}')"
            )
    return names


def grant(conn: Connection, user: str, role: str) -> str:
    _require_pg(conn)
    _check_user(user)
    group = role_name(conn, role)
    if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :g"), {"g": group}).first():
        setup(conn)
    if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :u AND rolcanlogin"), {"u": user}).first():
        raise UsageError(
            f"no database login named {user!r}: create it first (CREATE ROLE {user} LOGIN "
            "PASSWORD '…', as a PostgreSQL superuser), then grant it a role"
        )
    conn.exec_driver_sql(f"GRANT {_q(conn, group)} TO {_q(conn, user)}")
    return group


def revoke(conn: Connection, user: str, role: str) -> str:
    _require_pg(conn)
    _check_user(user)
    group = role_name(conn, role)
    conn.exec_driver_sql(f"REVOKE {_q(conn, group)} FROM {_q(conn, user)}")
    return group


def members(conn: Connection) -> list[dict[str, Any]]:
    """Every login with a role in this store: ``{user, role, via}``, by user."""
    _require_pg(conn)
    groups = {role_name(conn, r): r for r in ROLES}
    rows = conn.execute(text(
        "SELECT m.rolname AS member, g.rolname AS grp, m.rolcanlogin AS login "
        "FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
        "JOIN pg_roles m ON m.oid = a.member WHERE g.rolname = ANY(:g)"
    ), {"g": list(groups)}).all()
    return sorted(
        ({"user": r.member, "role": groups[r.grp]} for r in rows if r.login),
        key=lambda d: (d["user"], ROLES.index(d["role"])),
    )


def identity(conn: Connection) -> str | None:
    """The database login on PostgreSQL (None on SQLite: single user)."""
    if conn.dialect.name != "postgresql":
        return None
    return conn.execute(text("SELECT session_user")).scalar_one()


class SqlAccess:
    """Store methods for access control (PostgreSQL)."""

    db: Any

    def identity(self) -> str | None:
        cached = self.__dict__.get("_identity", ...)
        if cached is ...:
            if self.db.sqlite:
                cached = None
            else:
                with self.db.read() as conn:
                    cached = identity(conn)
            self.__dict__["_identity"] = cached
        return cached

    def access_setup(self) -> dict[str, str]:
        return self.db.write(setup)

    def access_grant(self, user: str, role: str) -> str:
        return self.db.write(lambda conn: grant(conn, user, role))

    def access_revoke(self, user: str, role: str) -> str:
        return self.db.write(lambda conn: revoke(conn, user, role))

    def access_list(self) -> list[dict[str, Any]]:
        if self.db.sqlite:
            _require_pg_name("sqlite")
        with self.db.read() as conn:
            return members(conn)


def _require_pg_name(dialect: str) -> None:
    if dialect != "postgresql":
        raise UsageError(
            "access control needs a PostgreSQL store: an SQLite store is single-user "
            "(whoever can write .mlops/ is its admin); see docs/security.md"
        )
