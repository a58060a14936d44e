"""SQL for the model registry: versions, aliases, trust, promotion rules, audit log.

Every governed change (a new version, an alias move, a trust change, new promotion
rules) writes its append-only ``audit_log`` row in the *same* transaction as the change,
so the log can never disagree with the state. Concurrency rules:

- a version number is allocated as ``max + 1`` inside the write transaction, after
  locking the model's row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write
  transactions are already serial, ``BEGIN IMMEDIATE``); the unique constraint on
  ``(model_id, version)`` stays as the last line of defence and a violation is retried;
- an alias move is a compare-and-set under the same row lock, and a caller's check
  (promotion rules) runs inside that transaction, against the holder it will replace.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from mlops_jupyter.errors import ConflictError, InvalidNameError, NotFoundError
from mlops_jupyter.store import schema as S
from mlops_jupyter.store.sql.core import SqlCore, dumps, loads

#: ``expected_current`` default: do not compare
ANY = object()


@dataclass(frozen=True)
class ModelVersionRecord:
    """One registered model version, as stored."""

    id: str
    model_id: str
    name: str
    version: int
    blob: str
    size: int | None
    flavor: str
    created_at: float
    run_id: str | None = None
    flavor_meta: dict[str, Any] = field(default_factory=dict)
    signature: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    requirements: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    trusted: bool = False
    creator: str | None = None
    aliases: tuple[str, ...] = ()
    dataset_version_ids: tuple[str, ...] = ()


class LocatedVersion(NamedTuple):
    """What serving re-checks on every request (one indexed query)."""

    id: str
    version: int
    trusted: bool
    blob: str


@dataclass(frozen=True)
class RegisteredModelRecord:
    id: str
    name: str
    created_at: float
    description: str | None
    rules: dict[str, Any]
    latest_version: int | None
    version_count: int
    aliases: dict[str, int]


@dataclass(frozen=True)
class AuditRecord:
    """One governed action. ``details`` holds metrics at that moment, rule results…"""

    id: int
    at: float
    user: str | None
    action: str
    model: str
    alias: str | None
    from_version: int | None
    to_version: int | None
    reason: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class DatasetLineage:
    """A dataset version a model was trained on (read from the datasets tables)."""

    id: str
    name: str
    version: int
    digest: str
    run_id: str | None


#: check(current holder or None, candidate or None, rules for the alias) -> audit details
AliasCheck = Callable[
    [ModelVersionRecord | None, ModelVersionRecord | None, Mapping[str, Any]], Mapping[str, Any]
]

_MV, _RM, _AL, _AU = S.model_versions, S.registered_models, S.model_aliases, S.audit_log


class SqlModels(SqlCore):
    # -- reading ----------------------------------------------------------------------
    def _model_row(self, conn: Connection, name: str, *, lock: bool = False) -> Any:
        q = select(_RM).where(_RM.c.name == name)
        if lock:
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            names = conn.execute(select(_RM.c.name).order_by(_RM.c.name)).scalars().all()
            raise NotFoundError(
                f"no model named {name!r}; models: {_listing(names)}"
            )
        return row

    def _record(self, conn: Connection, row: Any, name: str) -> ModelVersionRecord:
        aliases = conn.execute(
            select(_AL.c.alias).where(_AL.c.version_id == row.id).order_by(_AL.c.alias)
        ).scalars().all()
        rejected = conn.execute(
            select(S.model_version_rejections.c.reason)
            .where(S.model_version_rejections.c.version_id == row.id)
        ).first()
        ds = conn.execute(
            select(S.model_version_datasets.c.dataset_version_id)
            .where(S.model_version_datasets.c.model_version_id == row.id)
            .order_by(S.model_version_datasets.c.dataset_version_id)
        ).scalars().all()
        return ModelVersionRecord(
            id=row.id, model_id=row.model_id, name=name, version=row.version, blob=row.blob,
            size=row.size, flavor=row.flavor, created_at=row.created_at, run_id=row.run_id,
            flavor_meta=loads(row.flavor_meta) or {}, signature=loads(row.signature),
            metrics=loads(row.metrics) or {}, requirements=loads(row.requirements) or {},
            tags={**(loads(row.tags) or {}),
                  **({"mlops.rejected": rejected[0] or "rejected"} if rejected else {})},
            description=row.description, trusted=bool(row.trusted),
            creator=row.creator, aliases=tuple(aliases), dataset_version_ids=tuple(ds),
        )

    def _version_row(
        self, conn: Connection, model: Any, version: int | None, alias: str | None
    ) -> Any:
        if alias is not None:
            row = conn.execute(
                select(_MV).join(_AL, _AL.c.version_id == _MV.c.id)
                .where(_AL.c.model_id == model.id, _AL.c.alias == alias)
            ).first()
            if row is None:
                known = conn.execute(
                    select(_AL.c.alias).where(_AL.c.model_id == model.id).order_by(_AL.c.alias)
                ).scalars().all()
                raise NotFoundError(
                    f"model {model.name!r} has no alias {alias!r}; aliases: {_listing(known)}"
                )
            return row
        q = select(_MV).where(_MV.c.model_id == model.id)
        if version is None:  # latest: a rejected candidate is never "latest"
            row = conn.execute(q.where(_MV.c.id.not_in(select(S.model_version_rejections.c.version_id)))
                               .order_by(_MV.c.version.desc()).limit(1)).first()
        else:
            row = conn.execute(q.where(_MV.c.version == version)).first()
        if row is None:
            versions = conn.execute(
                select(_MV.c.version).where(_MV.c.model_id == model.id).order_by(_MV.c.version)
            ).scalars().all()
            raise NotFoundError(
                f"model {model.name!r} has no version v{version}; versions: "
                f"{_listing([f'v{v}' for v in versions])}"
            )
        return row

    def get_model_version(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> ModelVersionRecord:
        """``version`` or ``alias``; neither means the latest version."""
        with self.db.read() as conn:
            model = self._model_row(conn, name)
            return self._record(conn, self._version_row(conn, model, version, alias), name)

    def get_model_version_by_id(self, version_id: str) -> ModelVersionRecord:
        with self.db.read() as conn:
            row = conn.execute(
                select(_MV, _RM.c.name.label("model_name"))
                .join(_RM, _RM.c.id == _MV.c.model_id).where(_MV.c.id == version_id)
            ).first()
            if row is None:
                raise NotFoundError(f"no model version with id {version_id!r}")
            return self._record(conn, row, row.model_name)

    def locate_model_version(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> LocatedVersion:
        """(version id, number, trusted, blob) in one indexed query: what serving
        re-resolves on every request, so that a promotion is served without a restart
        and a revoked trust (or a changed file digest) is noticed at once."""
        cols = (_MV.c.id, _MV.c.version, _MV.c.trusted, _MV.c.blob)
        if alias is not None:
            q = (
                select(*cols)
                .select_from(_AL.join(_RM, _RM.c.id == _AL.c.model_id)
                             .join(_MV, _MV.c.id == _AL.c.version_id))
                .where(_RM.c.name == name, _AL.c.alias == alias)
            )
        else:
            q = (
                select(*cols).join(_RM, _RM.c.id == _MV.c.model_id)
                .where(_RM.c.name == name)
            )
            q = q.where(_MV.c.version == version) if version is not None else q.where(
                _MV.c.id.not_in(select(S.model_version_rejections.c.version_id))
            ).order_by(_MV.c.version.desc()).limit(1)
        with self.db.read() as conn:
            row = conn.execute(q).first()
            if row is None:  # slow path only to build the message naming what exists
                model = self._model_row(conn, name)
                self._version_row(conn, model, version, alias)
                raise NotFoundError(f"model {name!r} has nothing matching")  # pragma: no cover
        return LocatedVersion(row[0], row[1], bool(row[2]), row[3])

    def model_version_state(self, version_id: str) -> tuple[bool, str] | None:
        """(trusted, blob) of one version by primary key; None if it no longer exists."""
        with self.db.read() as conn:
            row = conn.execute(
                select(_MV.c.trusted, _MV.c.blob).where(_MV.c.id == version_id)
            ).first()
        return None if row is None else (bool(row[0]), row[1])

    def list_models(self) -> list[RegisteredModelRecord]:
        with self.db.read() as conn:
            models = conn.execute(select(_RM).order_by(_RM.c.name)).all()
            stats = {
                r[0]: (r[1], r[2]) for r in conn.execute(
                    select(_MV.c.model_id, func.max(_MV.c.version), func.count())
                    .group_by(_MV.c.model_id)
                )
            }
            aliases: dict[str, dict[str, int]] = {}
            for mid, alias, v in conn.execute(
                select(_AL.c.model_id, _AL.c.alias, _MV.c.version)
                .join(_MV, _MV.c.id == _AL.c.version_id).order_by(_AL.c.alias)
            ):
                aliases.setdefault(mid, {})[alias] = v
        return [
            RegisteredModelRecord(
                id=m.id, name=m.name, created_at=m.created_at, description=m.description,
                rules=loads(m.rules) or {}, latest_version=stats.get(m.id, (None, 0))[0],
                version_count=stats.get(m.id, (None, 0))[1], aliases=aliases.get(m.id, {}),
            )
            for m in models
        ]

    def list_model_versions(self, name: str) -> list[ModelVersionRecord]:
        with self.db.read() as conn:
            model = self._model_row(conn, name)
            rows = conn.execute(
                select(_MV).where(_MV.c.model_id == model.id).order_by(_MV.c.version)
            ).all()
            return [self._record(conn, r, name) for r in rows]

    def model_rules(self, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return loads(self._model_row(conn, name).rules) or {}

    def model_audit(self, name: str, alias: str | None = None) -> list[AuditRecord]:
        with self.db.read() as conn:
            model = self._model_row(conn, name)
            q = select(_AU).where(_AU.c.model_id == model.id)
            if alias is not None:
                q = q.where(_AU.c.alias == alias)
            rows = conn.execute(q.order_by(_AU.c.id)).all()  # ids follow commit order
        return [_audit(r, name) for r in rows]

    def model_dataset_lineage(self, dataset_version_ids: Iterable[str]) -> list[DatasetLineage]:
        ids = list(dataset_version_ids)
        if not ids:
            return []
        dv, d = S.dataset_versions, S.datasets
        with self.db.read() as conn:
            rows = conn.execute(
                select(dv.c.id, d.c.name, dv.c.version, dv.c.digest, dv.c.run_id)
                .join(d, d.c.id == dv.c.dataset_id).where(dv.c.id.in_(ids))
                .order_by(d.c.name, dv.c.version)
            ).all()
        return [DatasetLineage(*r) for r in rows]

    def model_run_inputs(self, run_id: str) -> list[str]:
        """Dataset versions a run read (lineage default when the datasets API is absent)."""
        ri = S.run_inputs
        with self.db.read() as conn:
            return list(conn.execute(
                select(ri.c.dataset_version_id)
                .where(ri.c.run_id == run_id, ri.c.role == "input")
                .order_by(ri.c.created_at)
            ).scalars())

    def model_versions_of_run(self, run_id: str) -> list[tuple[str, int]]:
        with self.db.read() as conn:
            return [tuple(r) for r in conn.execute(  # type: ignore[misc]
                select(_RM.c.name, _MV.c.version).join(_RM, _RM.c.id == _MV.c.model_id)
                .where(_MV.c.run_id == run_id).order_by(_RM.c.name, _MV.c.version)
            )]

    # -- writing ----------------------------------------------------------------------
    def create_model_version(
        self, name: str, *, blob: str, size: int, flavor: str, user: str | None,
        run_id: str | None = None, flavor_meta: Mapping[str, Any] | None = None,
        signature: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None,
        requirements: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
        description: str | None = None, dataset_version_ids: Sequence[str] = (),
        model_description: str | None = None,
    ) -> ModelVersionRecord:
        """Allocate the next version number and record it, with its audit row."""
        ds_ids = sorted(set(dataset_version_ids))

        def tx(conn: Connection) -> str:
            model = self._lock_or_create_model(conn, name, model_description, time.time())
            now = time.time()  # after the lock: audit times follow commit order
            self._register_blob(conn, blob, size)
            current = conn.execute(
                select(func.max(_MV.c.version)).where(_MV.c.model_id == model.id)
            ).scalar()
            version_id = uuid.uuid4().hex
            number = (current or 0) + 1
            conn.execute(_MV.insert().values(
                id=version_id, model_id=model.id, version=number, run_id=run_id, blob=blob,
                size=size, flavor=flavor, flavor_meta=dumps(dict(flavor_meta or {})),
                signature=None if signature is None else dumps(dict(signature)),
                metrics=dumps(dict(metrics or {})), requirements=dumps(dict(requirements or {})),
                tags=dumps(dict(tags or {})), description=description, trusted=False,
                creator=user, created_at=now,
            ))
            if ds_ids:
                conn.execute(S.model_version_datasets.insert(), [
                    {"model_version_id": version_id, "dataset_version_id": d} for d in ds_ids
                ])
            self._audit(conn, now, user, "register", model.id, None, None, number, description,
                        {"run_id": run_id, "blob": blob, "flavor": flavor})
            return version_id

        version_id = self.db.write(tx, retry_on_conflict=True)
        return self.get_model_version_by_id(version_id)

    def _lock_or_create_model(
        self, conn: Connection, name: str, description: str | None, now: float
    ) -> Any:
        row = conn.execute(select(_RM).where(_RM.c.name == name).with_for_update()).first()
        if row is not None:
            return row
        clash = conn.execute(
            select(_RM.c.name).where(func.lower(_RM.c.name) == name.lower(), _RM.c.name != name)
        ).first()  # (the exact name may have been committed by a racing registration)
        if clash is not None:
            raise InvalidNameError(
                f"model name {name!r} differs only in letter case from the existing model "
                f"{clash[0]!r}: use {clash[0]!r}"
            )
        self._upsert(conn, _RM, [{
            "id": uuid.uuid4().hex, "name": name, "description": description, "rules": None,
            "created_at": now,
        }], ["name"])
        return conn.execute(select(_RM).where(_RM.c.name == name).with_for_update()).one()

    def move_alias(
        self, name: str, alias: str, *, version: int | None, user: str | None,
        reason: str | None, expected_current: Any = ANY, check: AliasCheck | None = None,
        action: str = "promote",
    ) -> AuditRecord:
        """Point ``alias`` at ``version`` (None removes it) as a compare-and-set.

        ``expected_current``: ``ANY`` (no comparison), ``None`` (the alias must be
        unset) or a version number. ``check`` runs inside the transaction against the
        holder it would replace and returns details for the audit row, or raises.
        """

        def tx(conn: Connection) -> AuditRecord:
            model = self._model_row(conn, name, lock=True)
            now = time.time()  # after the lock: audit times follow commit order
            cur_row = conn.execute(
                select(_MV).join(_AL, _AL.c.version_id == _MV.c.id)
                .where(_AL.c.model_id == model.id, _AL.c.alias == alias)
            ).first()
            cur = None if cur_row is None else self._record(conn, cur_row, name)
            cur_v = None if cur is None else cur.version
            if expected_current is not ANY and expected_current != cur_v:
                raise ConflictError(
                    f"alias {name}@{alias} is {_vname(cur_v)}, not {_vname(expected_current)} "
                    "as expected: someone else moved it; nothing was changed"
                )
            new = None
            if version is not None:
                new = self._record(conn, self._version_row(conn, model, version, None), name)
                if "mlops.rejected" in new.tags:
                    raise ConflictError(
                        f"{name}@v{new.version} was rejected ({new.tags['mlops.rejected']}); "
                        "a rejected candidate cannot be promoted; nothing was changed"
                    )
            details = dict(check(cur, new, (loads(model.rules) or {}).get(alias, {}))) if check else {}
            if cur is not None and new is not None and cur.id == new.id:
                raise ConflictError(
                    f"alias {name}@{alias} already points at v{cur_v}; nothing was changed"
                )
            if new is None and cur is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r} to remove")
            conn.execute(_AL.delete().where(_AL.c.model_id == model.id, _AL.c.alias == alias))
            if new is not None:
                conn.execute(_AL.insert().values(
                    model_id=model.id, alias=alias, version_id=new.id, updated_at=now,
                ))
            details.setdefault("from_metrics", cur.metrics if cur else None)
            details.setdefault("to_metrics", new.metrics if new else None)
            return self._audit(conn, now, user, action, model.id, alias, cur_v,
                               None if new is None else new.version, reason, details, name)

        return self.db.write(tx)

    def set_model_trusted(
        self, name: str, version: int, *, trusted: bool, user: str | None, reason: str | None
    ) -> AuditRecord:
        def tx(conn: Connection) -> AuditRecord:
            model = self._model_row(conn, name, lock=True)
            now = time.time()  # after the lock: audit times follow commit order
            row = self._version_row(conn, model, version, None)
            conn.execute(_MV.update().where(_MV.c.id == row.id).values(trusted=trusted))
            return self._audit(conn, now, user, "trust" if trusted else "untrust", model.id,
                               None, version, version, reason,
                               {"blob": row.blob, "flavor": row.flavor,
                                "was_trusted": bool(row.trusted)}, name)

        return self.db.write(tx)

    def set_model_rules(
        self, name: str, alias: str, rules: Mapping[str, Any] | None, *, user: str | None,
        reason: str | None,
    ) -> AuditRecord:
        def tx(conn: Connection) -> AuditRecord:
            model = self._model_row(conn, name, lock=True)
            now = time.time()  # after the lock: audit times follow commit order
            all_rules = loads(model.rules) or {}
            before = all_rules.get(alias)
            if rules:
                all_rules[alias] = dict(rules)
            else:
                all_rules.pop(alias, None)
            conn.execute(_RM.update().where(_RM.c.id == model.id).values(
                rules=dumps(all_rules) if all_rules else None))
            return self._audit(conn, now, user, "rules", model.id, alias, None, None, reason,
                               {"before": before, "after": dict(rules) if rules else None}, name)

        return self.db.write(tx)

    def _audit(
        self, conn: Connection, at: float, user: str | None, action: str, model_id: str,
        alias: str | None, from_v: int | None, to_v: int | None, reason: str | None,
        details: Mapping[str, Any], name: str = "",
    ) -> AuditRecord:
        # on PostgreSQL the actor is the database login, never what the client claims
        user = getattr(self, "identity", lambda: None)() or user
        res = conn.execute(_AU.insert().values(
            at=at, user=user, action=action, model_id=model_id, alias=alias,
            from_version=from_v, to_version=to_v, reason=reason, details=dumps(dict(details)),
        ))
        pk = res.inserted_primary_key
        return AuditRecord(
            id=int(pk[0]) if pk else 0, at=at, user=user, action=action, model=name,
            alias=alias, from_version=from_v, to_version=to_v, reason=reason,
            details=loads(dumps(dict(details))),
        )


def _audit(row: Any, name: str) -> AuditRecord:
    return AuditRecord(
        id=row.id, at=row.at, user=row.user, action=row.action, model=name, alias=row.alias,
        from_version=row.from_version, to_version=row.to_version, reason=row.reason,
        details=loads(row.details) or {},
    )


def _vname(v: Any) -> str:
    return "unset" if v is None else f"v{v}"


def _listing(items: Sequence[str], limit: int = 20) -> str:
    if not items:
        return "(none yet)"
    more = f" … and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
