"""SQL for monitors (issue 11): definitions, every check, every alert, and rejections.

A monitor row holds its JSON spec, the digest of its binned reference summary (so a
check never rereads training data) and a watermark saying where the next window of
current data starts. Checks and alerts are append-only rows; a check is updated only to
link what it started (job, run, model version, promotion).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from mlops_jupyter.errors import ConflictError, NotFoundError
from mlops_jupyter.store import schema as S
from mlops_jupyter.store.sql.core import SqlCore, dumps, loads

_MO, _CH, _AL, _RJ = S.monitors, S.monitor_checks, S.monitor_alerts, S.model_version_rejections


@dataclass(frozen=True)
class MonitorRecord:
    id: str
    name: str
    model: str | None
    current: str | None
    spec: dict[str, Any]
    reference_blob: str | None
    reference_ref: str | None
    watermark: dict[str, Any]
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class CheckRecord:
    id: str
    monitor_id: str
    at: float
    status: str
    drifted: bool
    rows: int | None
    summary: dict[str, Any]
    report_id: str | None
    job_id: str | None
    run_id: str | None
    model_version: int | None
    promoted: bool | None


@dataclass(frozen=True)
class AlertRecord:
    id: str
    monitor_id: str
    check_id: str | None
    at: float
    channel: str
    target: str | None
    key: str
    status: str
    error: str | None


class SqlMonitors(SqlCore):
    # -- monitors ---------------------------------------------------------------------
    def create_monitor(
        self, *, name: str, model: str | None, current: str | None, spec: dict[str, Any],
        reference: bytes | None, reference_ref: str | None, replace: bool = False,
    ) -> MonitorRecord:
        digest = size = None
        if reference is not None:
            digest, size = self.blobs.put_bytes(reference)
        now = time.time()

        def tx(conn: Connection) -> str:
            if digest is not None:
                self._register_blob(conn, digest, size)
            old = conn.execute(select(_MO.c.id).where(_MO.c.name == name)).first()
            values = {"model": model, "current": current, "spec": dumps(spec),
                      "reference_blob": digest, "reference_ref": reference_ref,
                      "updated_at": now}
            if old is not None:
                if not replace:
                    raise ConflictError(f"a monitor named {name!r} exists; pass replace=True "
                                        "(--replace) to redefine it (its history is kept)")
                conn.execute(_MO.update().where(_MO.c.id == old[0]).values(**values))
                return old[0]
            mid = uuid.uuid4().hex
            conn.execute(_MO.insert().values(id=mid, name=name, watermark=dumps({}),
                                             created_at=now, **values))
            return mid

        mid = self.db.write(tx)
        return self.get_monitor(mid, by_id=True)

    def get_monitor(self, name: str, *, by_id: bool = False) -> MonitorRecord:
        col = _MO.c.id if by_id else _MO.c.name
        with self.db.read() as conn:
            row = conn.execute(select(_MO).where(col == name)).first()
            if row is None:
                names = conn.execute(select(_MO.c.name).order_by(_MO.c.name)).scalars().all()
                raise NotFoundError(f"no monitor named {name!r}; monitors: "
                                    f"{', '.join(names[:20]) or '(none yet)'}")
        return _monitor(row)

    def list_monitors(self) -> list[MonitorRecord]:
        with self.db.read() as conn:
            return [_monitor(r) for r in conn.execute(select(_MO).order_by(_MO.c.name))]

    def set_monitor_watermark(self, monitor_id: str, watermark: dict[str, Any]) -> None:
        self.db.write(lambda conn: conn.execute(
            _MO.update().where(_MO.c.id == monitor_id)
            .values(watermark=dumps(watermark), updated_at=time.time())))

    # -- checks -----------------------------------------------------------------------
    def add_monitor_checks(self, checks: list[dict[str, Any]],
                           watermarks: dict[str, dict[str, Any]] | None = None) -> list[str]:
        """Insert checks (and move their monitors' watermarks) in one transaction."""
        rows = []
        for c in checks:
            row = {"id": uuid.uuid4().hex, "at": time.time(), "drifted": False, **c}
            row["summary"] = dumps(row.get("summary") or {})
            rows.append(row)

        def tx(conn: Connection) -> None:
            if rows:
                conn.execute(_CH.insert(), rows)
            for mid, wm in (watermarks or {}).items():
                conn.execute(_MO.update().where(_MO.c.id == mid)
                             .values(watermark=dumps(wm), updated_at=time.time()))

        self.db.write(tx)
        return [r["id"] for r in rows]

    def update_monitor_check(self, check_id: str, **values: Any) -> None:
        if "summary" in values:
            values["summary"] = dumps(values["summary"])
        self.db.write(lambda conn: conn.execute(
            _CH.update().where(_CH.c.id == check_id).values(**values)))

    def list_monitor_checks(self, monitor_id: str, limit: int | None = None) -> list[CheckRecord]:
        q = select(_CH).where(_CH.c.monitor_id == monitor_id).order_by(_CH.c.at.desc())
        if limit:
            q = q.limit(limit)
        with self.db.read() as conn:
            return [_check(r) for r in conn.execute(q)][::-1]

    # -- alerts -----------------------------------------------------------------------
    def record_alert(self, **values: Any) -> AlertRecord:
        row = {"id": uuid.uuid4().hex, "at": time.time(), "target": None, "error": None,
               "check_id": None, **values}
        self.db.write(lambda conn: conn.execute(_AL.insert().values(**row)))
        return AlertRecord(**row)

    def last_alert_sent(self, monitor_id: str, channel: str, key: str) -> float | None:
        with self.db.read() as conn:
            return conn.execute(
                select(_AL.c.at).where(_AL.c.monitor_id == monitor_id, _AL.c.channel == channel,
                                       _AL.c.key == key, _AL.c.status == "sent")
                .order_by(_AL.c.at.desc()).limit(1)
            ).scalar()

    def list_alerts(self, monitor_id: str | None = None) -> list[AlertRecord]:
        q = select(_AL).order_by(_AL.c.at)
        if monitor_id is not None:
            q = q.where(_AL.c.monitor_id == monitor_id)
        with self.db.read() as conn:
            return [AlertRecord(**{k: getattr(r, k) for k in AlertRecord.__dataclass_fields__})
                    for r in conn.execute(q)]

    # -- rejected model versions ------------------------------------------------------
    def reject_model_version(self, version_id: str, *, user: str | None, reason: str,
                             source: str) -> bool:
        """Mark a version rejected (never "latest", never promotable). False if it
        already was."""

        def tx(conn: Connection) -> bool:
            if conn.execute(select(_RJ.c.version_id).where(_RJ.c.version_id == version_id)).first():
                return False
            conn.execute(_RJ.insert().values(version_id=version_id, at=time.time(), user=user,
                                             reason=reason, source=source))
            return True

        return self.db.write(tx)

    def model_version_rejection(self, version_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(select(_RJ).where(_RJ.c.version_id == version_id)).first()
        return None if row is None else {"at": row.at, "user": row.user, "reason": row.reason,
                                         "source": row.source}


def _monitor(r: Any) -> MonitorRecord:
    return MonitorRecord(
        id=r.id, name=r.name, model=r.model, current=r.current, spec=loads(r.spec) or {},
        reference_blob=r.reference_blob, reference_ref=r.reference_ref,
        watermark=loads(r.watermark) or {}, created_at=r.created_at, updated_at=r.updated_at,
    )


def _check(r: Any) -> CheckRecord:
    return CheckRecord(
        id=r.id, monitor_id=r.monitor_id, at=r.at, status=r.status, drifted=bool(r.drifted),
        rows=r.rows, summary=loads(r.summary) or {}, report_id=r.report_id, job_id=r.job_id,
        run_id=r.run_id, model_version=r.model_version,
        promoted=None if r.promoted is None else bool(r.promoted),
    )
