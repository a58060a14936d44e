"""SQL for notebook jobs: one row per papermill execution, sweep parent or reproduction.

A job row is written before the kernel starts (status RUNNING, with the pid and its
start time) and finished once (FINISHED / FAILED / TIMEOUT / KILLED). A process killed
with SIGKILL cannot finish its row, so reads reap RUNNING jobs of this host whose
process is gone, the same rule the runs table uses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from mlops_jupyter import _proc
from mlops_jupyter.errors import AmbiguousReferenceError, NotFoundError, UsageError
from mlops_jupyter.store import schema as S
from mlops_jupyter.store.sql.core import SqlCore, dumps, loads

JOB_RUNNING, JOB_FINISHED, JOB_FAILED = "RUNNING", "FINISHED", "FAILED"
JOB_TIMEOUT, JOB_KILLED = "TIMEOUT", "KILLED"
JOB_STATUSES = (JOB_RUNNING, JOB_FINISHED, JOB_FAILED, JOB_TIMEOUT, JOB_KILLED)
_HEX = set("0123456789abcdef")


@dataclass(frozen=True)
class JobRecord:
    """A job as stored (plain data; the jobs domain wraps it for display)."""

    id: str
    kind: str
    name: str | None
    template: str
    template_digest: str | None
    parameters: dict[str, Any]
    status: str
    start_time: float
    end_time: float | None = None
    parent_id: str | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)
    ended_by: str | None = None
    error: dict[str, Any] | None = None
    output_blob: str | None = None
    output_path: str | None = None
    kernel: str | None = None
    timeout: float | None = None
    cells_total: int | None = None
    cells_done: int | None = None
    source_run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    host: str | None = None
    pid: int | None = None

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def duration(self) -> float | None:
        return None if self.end_time is None else self.end_time - self.start_time


def _record(row: Any) -> JobRecord:
    return JobRecord(
        id=row.id, kind=row.kind, name=row.name, template=row.template,
        template_digest=row.template_digest, parameters=loads(row.parameters) or {},
        status=row.status, start_time=row.start_time, end_time=row.end_time,
        parent_id=row.parent_id, gates=loads(row.gates) or [], ended_by=row.ended_by,
        error=loads(row.error), output_blob=row.output_blob, output_path=row.output_path,
        kernel=row.kernel, timeout=row.timeout, cells_total=row.cells_total,
        cells_done=row.cells_done, source_run_id=row.source_run_id,
        details=loads(row.details) or {}, user=row.user, host=row.host, pid=row.pid,
    )


class SqlJobs(SqlCore):
    """Create, update, finish, find and list job rows."""

    def create_job(
        self, *, kind: str, template: str, name: str | None = None,
        template_digest: str | None = None, parameters: Mapping[str, Any] | None = None,
        gates: list[dict[str, Any]] | None = None, parent_id: str | None = None,
        kernel: str | None = None, timeout: float | None = None,
        output_path: str | None = None, cells_total: int | None = None,
        source_run_id: str | None = None, details: Mapping[str, Any] | None = None,
        user: str | None = None, job_id: str | None = None,
    ) -> JobRecord:
        import os

        row = {
            "id": job_id or uuid.uuid4().hex, "kind": kind, "name": name, "template": template,
            "template_digest": template_digest, "parameters": dumps(dict(parameters or {})),
            "gates": dumps(gates or []), "status": JOB_RUNNING, "start_time": time.time(),
            "parent_id": parent_id, "kernel": kernel, "timeout": timeout,
            "output_path": output_path, "cells_total": cells_total, "cells_done": 0,
            "source_run_id": source_run_id, "details": dumps(dict(details or {})),
            "user": user, "host": _proc.hostname(), "pid": os.getpid(),
            "pid_start": _proc.start_time(os.getpid()),
        }
        self.db.write(lambda conn: conn.execute(S.jobs.insert().values(**row)))
        return self.get_job(row["id"])

    def update_job(self, job_id: str, **values: Any) -> None:
        """Set progress or extra fields of a job (JSON fields are encoded here)."""
        for k in ("parameters", "gates", "details", "error"):
            if k in values and values[k] is not None and not isinstance(values[k], str):
                values[k] = dumps(values[k])
        unknown = set(values) - set(S.jobs.c.keys())
        if unknown:
            raise UsageError(f"unknown job fields {sorted(unknown)}")
        self.db.write(
            lambda conn: conn.execute(update(S.jobs).where(S.jobs.c.id == job_id).values(**values))
        )

    def finish_job(
        self, job_id: str, status: str, *, error: Mapping[str, Any] | None = None,
        ended_by: str = "job", **values: Any,
    ) -> JobRecord:
        if status not in JOB_STATUSES or status == JOB_RUNNING:
            raise UsageError(f"a job ends FINISHED, FAILED, TIMEOUT or KILLED, not {status!r}")
        self.update_job(
            job_id, status=status, end_time=time.time(), ended_by=ended_by,
            error=dict(error) if error is not None else None, **values,
        )
        return self.get_job(job_id)

    # -- reading ----------------------------------------------------------------------
    def resolve_job_id(self, ref: str) -> str:
        if not isinstance(ref, str):
            raise UsageError(f"job reference must be a string, got {type(ref).__name__}")
        prefix = ref.strip().lower()
        if not (6 <= len(prefix) <= 32) or not set(prefix) <= _HEX:
            raise UsageError(
                f"invalid job reference {ref!r}: give the job id or a unique prefix of at "
                "least 6 hex characters (see `mlops jobs`)"
            )
        with self.db.read() as conn:
            found = conn.execute(
                select(S.jobs.c.id).where(S.jobs.c.id.like(prefix + "%")).limit(6)
            ).scalars().all()
            recent = conn.execute(
                select(S.jobs.c.id, S.jobs.c.name).order_by(S.jobs.c.start_time.desc()).limit(5)
            ).all()
        if len(found) == 1:
            return found[0]
        if found:
            raise AmbiguousReferenceError(
                f"job reference {ref!r} is ambiguous: it matches "
                f"{', '.join(f[:12] for f in found[:5])}; give more characters"
            )
        listing = ", ".join(f"{r.id[:8]} ({r.name})" for r in recent)
        raise NotFoundError(f"no job matches {ref!r}; most recent jobs: {listing or '(no jobs yet)'}")

    def get_job(self, ref: str) -> JobRecord:
        job_id = self.resolve_job_id(ref)
        self.reap_stale_jobs()
        with self.db.read() as conn:
            row = conn.execute(select(S.jobs).where(S.jobs.c.id == job_id)).one()
        return _record(row)

    def list_jobs(
        self, *, parent_id: str | None = None, kind: str | None = None,
        status: str | None = None, limit: int | None = 100,
    ) -> list[JobRecord]:
        """Newest first."""
        self.reap_stale_jobs()
        q = select(S.jobs).order_by(S.jobs.c.start_time.desc())
        if parent_id is not None:
            q = q.where(S.jobs.c.parent_id == parent_id)
        if kind is not None:
            q = q.where(S.jobs.c.kind == kind)
        if status is not None:
            q = q.where(S.jobs.c.status == status)
        if limit:
            q = q.limit(int(limit))
        with self.db.read() as conn:
            return [_record(r) for r in conn.execute(q).all()]

    def reap_stale_jobs(self) -> int:
        """Mark KILLED the RUNNING jobs of this host whose process no longer exists."""
        host = _proc.hostname()
        with self.db.read() as conn:
            rows = conn.execute(
                select(S.jobs.c.id, S.jobs.c.pid, S.jobs.c.pid_start)
                .where(S.jobs.c.status == JOB_RUNNING, S.jobs.c.host == host)
            ).all()
        dead = [r.id for r in rows if r.pid is not None and not _proc.is_alive(r.pid, r.pid_start)]
        if not dead:
            return 0
        err = dumps({"type": "Killed", "message": "the process running this job disappeared "
                     "(killed with SIGKILL, out of memory, or the machine restarted)"})

        def tx(conn: Connection) -> int:
            res = conn.execute(
                update(S.jobs).where(S.jobs.c.id.in_(dead), S.jobs.c.status == JOB_RUNNING)
                .values(status=JOB_KILLED, end_time=time.time(), ended_by="reaper", error=err)
            )
            return int(res.rowcount or 0)

        return self.db.write(tx)
