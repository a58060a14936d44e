"""SQL for saved drift reports: one row per report, the report itself as a JSON blob."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from mlops_jupyter.errors import NotFoundError
from mlops_jupyter.store import schema as S
from mlops_jupyter.store.sql.core import SqlCore


@dataclass(frozen=True)
class DriftRecord:
    id: str
    created_at: float
    subject_kind: str | None
    subject: str | None
    reference: str | None
    current: str | None
    drifted: bool
    share: float | None
    report_blob: str | None
    run_id: str | None


class SqlDrift(SqlCore):
    def save_drift_report(
        self, *, report: bytes, drifted: bool, share: float | None, subject_kind: str | None,
        subject: str | None, reference: str | None, current: str | None, run_id: str | None,
    ) -> DriftRecord:
        digest, size = self.blobs.put_bytes(report)
        row = {
            "id": uuid.uuid4().hex, "created_at": time.time(), "subject_kind": subject_kind,
            "subject": subject, "reference": reference, "current": current,
            "drifted": bool(drifted), "share": share, "report_blob": digest, "run_id": run_id,
        }

        def tx(conn: Connection) -> None:
            self._register_blob(conn, digest, size)
            conn.execute(S.drift_reports.insert().values(**row))

        self.db.write(tx)
        return DriftRecord(**row)

    def list_drift_reports(self, subject_kind: str | None = None, subject: str | None = None) -> list[DriftRecord]:
        q = select(S.drift_reports).order_by(S.drift_reports.c.created_at)
        if subject_kind is not None:
            q = q.where(S.drift_reports.c.subject_kind == subject_kind)
        if subject is not None:
            q = q.where(S.drift_reports.c.subject == subject)
        with self.db.read() as conn:
            return [_record(r) for r in conn.execute(q)]

    def get_drift_report(self, report_id: str) -> DriftRecord:
        with self.db.read() as conn:
            rows = conn.execute(
                select(S.drift_reports).where(S.drift_reports.c.id.like(report_id + "%")).limit(2)
            ).all()
        if len(rows) != 1:
            raise NotFoundError(
                f"no drift report matches {report_id!r}" if not rows
                else f"drift report id {report_id!r} is ambiguous; give more characters"
            )
        return _record(rows[0])


def _record(r: Any) -> DriftRecord:
    return DriftRecord(
        id=r.id, created_at=r.created_at, subject_kind=r.subject_kind, subject=r.subject,
        reference=r.reference, current=r.current, drifted=bool(r.drifted), share=r.share,
        report_blob=r.report_blob, run_id=r.run_id,
    )
