"""SQL for the datasets domain: names, numbered versions, lineage, the file-hash cache.

A version becomes visible in one transaction that registers its blob(s), creates the
dataset name if needed, numbers the version and records lineage. The blob bytes are
written *before* that transaction, so an add killed at any point leaves either nothing
visible or a complete version; re-running it finds the blob and writes the rows.

Version numbers are allocated as ``max + 1`` inside the write transaction. SQLite
serialises writers (``BEGIN IMMEDIATE``); on PostgreSQL two writers can pick the same
number, one of them hits the unique constraint and is retried
(``retry_on_conflict``), and on the retry it sees the other's row: adding identical
content concurrently yields one version.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from mlops_jupyter.errors import AmbiguousReferenceError, InvalidNameError, NotFoundError
from mlops_jupyter.store import schema as S
from mlops_jupyter.store.sql.core import SqlCore, chunks, dumps, loads

#: kinds of dataset version
DATAFRAME, FILE, FOLDER = "dataframe", "file", "folder"


@dataclass(frozen=True)
class DatasetVersionRecord:
    """One dataset version as stored (JSON documents already decoded)."""

    id: str
    dataset_id: str
    name: str
    version: int
    digest: str
    kind: str
    blob: str
    size: int | None
    rows: int | None
    columns: int | None
    schema: dict[str, Any] | None
    profile: dict[str, Any] | None
    source: str | None
    description: str | None
    creator: str | None
    run_id: str | None
    parent_id: str | None
    created_at: float
    parent_version: int | None = None


@dataclass(frozen=True)
class CachedHash:
    """A remembered file hash and the stat fingerprint it is valid for."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: str
    device: str
    digest: str


@dataclass
class NewVersion:
    """What the domain hands the store to create (or find) a version."""

    name: str
    digest: str
    kind: str
    blob: str
    blob_size: int
    size: int | None = None
    rows: int | None = None
    columns: int | None = None
    schema: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    source: str | None = None
    description: str | None = None
    creator: str | None = None
    run_id: str | None = None
    role: str = "input"
    #: more blobs to register with the version (a folder's files): (digest, size)
    extra_blobs: list[tuple[str, int]] = field(default_factory=list)


_VERSION_COLS = [c for c in S.dataset_versions.c]


def _select_versions():  # type: ignore[no-untyped-def]
    dv, ds = S.dataset_versions, S.datasets
    parent = dv.alias("parent")
    return (
        select(*_VERSION_COLS, ds.c.name.label("ds_name"), parent.c.version.label("parent_version"))
        .select_from(dv.join(ds, ds.c.id == dv.c.dataset_id).outerjoin(parent, parent.c.id == dv.c.parent_id))
    )


def _record(row: Any) -> DatasetVersionRecord:
    m = row._mapping
    return DatasetVersionRecord(
        id=m["id"], dataset_id=m["dataset_id"], name=m["ds_name"], version=m["version"],
        digest=m["digest"], kind=m["kind"], blob=m["blob"], size=m["size"], rows=m["rows"],
        columns=m["columns"], schema=loads(m["schema"]), profile=loads(m["profile"]),
        source=m["source"], description=m["description"], creator=m["creator"],
        run_id=m["run_id"], parent_id=m["parent_id"], created_at=m["created_at"],
        parent_version=m["parent_version"],
    )


class SqlDatasets(SqlCore):
    # -- creating ---------------------------------------------------------------------
    def find_dataset_blob(self, digest: str) -> tuple[str, int | None] | None:
        """(blob, size) of any version, under any name, with this content digest: the
        domain reuses it instead of serialising the same data again."""
        dv = S.dataset_versions
        with self.db.read() as conn:
            row = conn.execute(
                select(dv.c.blob, dv.c.size).where(dv.c.digest == digest).limit(1)
            ).first()
        return None if row is None else (row[0], row[1])

    def find_dataset_version(self, name: str, digest: str) -> DatasetVersionRecord | None:
        dv, ds = S.dataset_versions, S.datasets
        with self.db.read() as conn:
            row = conn.execute(
                _select_versions().where(ds.c.name == name, dv.c.digest == digest)
            ).first()
        return None if row is None else _record(row)

    def create_dataset_version(self, new: NewVersion) -> tuple[DatasetVersionRecord, bool]:
        """Create the version, or return the existing one with the same content.

        Returns (record, created). The blobs must already be stored. Lineage to
        ``new.run_id`` is recorded either way (re-adding inside a run is still a use).
        """
        dv, ds = S.dataset_versions, S.datasets

        def tx(conn: Connection) -> tuple[str, bool]:
            now = time.time()
            # same rule as model names, checked inside the creating transaction: names
            # differing only in letter case would share a checkout folder on
            # case-insensitive filesystems (.mlops/checkouts/CHURN vs churn)
            clash = conn.execute(
                select(ds.c.name).where(func.lower(ds.c.name) == new.name.lower())
                .order_by(ds.c.name != new.name).limit(1)
            ).scalar()
            if clash is not None and clash != new.name:
                raise InvalidNameError(
                    f"dataset name {new.name!r} differs only in letter case from the existing "
                    f"dataset {clash!r}: use {clash!r}"
                )
            self._upsert(conn, S.datasets, [{
                "id": uuid.uuid4().hex, "name": new.name, "description": new.description,
                "created_at": now,
            }], ["name"])
            dataset_id = conn.execute(select(ds.c.id).where(ds.c.name == new.name)).scalar_one()
            existing = conn.execute(
                select(dv.c.id).where(dv.c.dataset_id == dataset_id, dv.c.digest == new.digest)
            ).scalar()
            created = existing is None
            if created:
                self._register_blob(conn, new.blob, new.blob_size)
                for d, n in new.extra_blobs:
                    self._register_blob(conn, d, n)
                last = conn.execute(
                    select(dv.c.id, dv.c.version).where(dv.c.dataset_id == dataset_id)
                    .order_by(dv.c.version.desc()).limit(1)
                ).first()
                version_id = uuid.uuid4().hex
                conn.execute(dv.insert().values(
                    id=version_id, dataset_id=dataset_id, version=(last[1] + 1) if last else 1,
                    digest=new.digest, kind=new.kind, blob=new.blob, size=new.size,
                    rows=new.rows, columns=new.columns,
                    schema=None if new.schema is None else dumps(new.schema),
                    profile=None if new.profile is None else dumps(new.profile),
                    source=new.source, description=new.description, creator=new.creator,
                    run_id=new.run_id, parent_id=last[0] if last else None, created_at=now,
                ))
            else:
                version_id = existing
            if new.run_id:
                self._link_run(conn, new.run_id, version_id, new.role)
            return version_id, created

        version_id, created = self.db.write(tx, retry_on_conflict=True)
        return self.get_dataset_version_by_id(version_id), created

    def _link_run(self, conn: Connection, run_id: str, version_id: str, role: str) -> None:
        self._upsert(conn, S.run_inputs, [{
            "run_id": run_id, "dataset_version_id": version_id, "role": role,
            "created_at": time.time(),
        }], ["run_id", "dataset_version_id", "role"])

    def record_dataset_use(self, run_id: str, version_id: str, role: str = "input") -> None:
        """Lineage: ``run_id`` read (input) or wrote (output) this version."""
        self.db.write(lambda conn: self._link_run(conn, run_id, version_id, role))

    # -- reading ----------------------------------------------------------------------
    def get_dataset_version_by_id(self, version_id: str) -> DatasetVersionRecord:
        with self.db.read() as conn:
            row = conn.execute(
                _select_versions().where(S.dataset_versions.c.id == version_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no dataset version with id {version_id!r}")
        return _record(row)

    def resolve_dataset_version(
        self, name: str, *, version: int | None = None, prefix: str | None = None,
    ) -> DatasetVersionRecord:
        """``name@vN`` (version), ``name@<hash prefix>`` (prefix) or latest (neither).

        Errors name what exists: the datasets, or the versions of this one."""
        dv, ds = S.dataset_versions, S.datasets
        with self.db.read() as conn:
            q = _select_versions().where(ds.c.name == name)
            if version is not None:
                rows = conn.execute(q.where(dv.c.version == version)).all()
            elif prefix is not None:
                rows = conn.execute(
                    q.where(dv.c.digest.like(prefix.lower() + "%")).order_by(dv.c.version).limit(6)
                ).all()
            else:
                rows = conn.execute(q.order_by(dv.c.version.desc()).limit(1)).all()
            if len(rows) == 1:
                return _record(rows[0])
            known = conn.execute(
                select(dv.c.version, dv.c.digest).join(ds, ds.c.id == dv.c.dataset_id)
                .where(ds.c.name == name).order_by(dv.c.version)
            ).all()
            names = [] if known else self._dataset_names(conn)
        if rows:
            listing = ", ".join(f"{name}@v{_record(r).version} ({r.digest[:12]})" for r in rows[:5])
            raise AmbiguousReferenceError(
                f"dataset reference {name}@{prefix} is ambiguous: it matches {listing}; "
                "give more hash characters or use name@vN"
            )
        if not known:
            raise NotFoundError(
                f"no dataset named {name!r}; datasets: {', '.join(names) or '(none yet)'}"
            )
        shown = ", ".join(f"v{v} ({d[:8]})" for v, d in known[-10:])
        more = f" (and {len(known) - 10} older)" if len(known) > 10 else ""
        what = f"@v{version}" if version is not None else f"@{prefix}"
        raise NotFoundError(
            f"dataset {name!r} has no version {what}; versions: {shown}{more}"
        )

    def _dataset_names(self, conn: Connection, limit: int = 20) -> list[str]:
        return list(conn.execute(
            select(S.datasets.c.name).order_by(S.datasets.c.name).limit(limit)
        ).scalars())

    def list_dataset_versions(self, name: str | None = None) -> list[DatasetVersionRecord]:
        """Every version (of one dataset, or all), oldest first within a name."""
        dv, ds = S.dataset_versions, S.datasets
        q = _select_versions().order_by(ds.c.name, dv.c.version)
        if name is not None:
            q = q.where(ds.c.name == name)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
            if name is not None and not rows:
                names = self._dataset_names(conn)
                raise NotFoundError(
                    f"no dataset named {name!r}; datasets: {', '.join(names) or '(none yet)'}"
                )
        return [_record(r) for r in rows]

    def dataset_summaries(self) -> list[dict[str, Any]]:
        """One row per dataset: name, versions, latest version number, updated time."""
        dv, ds = S.dataset_versions, S.datasets
        q = (
            select(ds.c.name, ds.c.description, func.count(dv.c.id), func.max(dv.c.version),
                   func.max(dv.c.created_at))
            .select_from(ds.join(dv, dv.c.dataset_id == ds.c.id))
            .group_by(ds.c.name, ds.c.description).order_by(ds.c.name)
        )
        with self.db.read() as conn:
            return [
                {"name": n, "description": d, "versions": c, "latest": v, "updated_at": t}
                for n, d, c, v, t in conn.execute(q)
            ]

    # -- lineage ----------------------------------------------------------------------
    def dataset_lineage(self, version_id: str) -> dict[str, list[dict[str, Any]]]:
        """The runs that read/wrote a version and the model versions trained on it."""
        ri, r, e = S.run_inputs, S.runs, S.experiments
        mvd, mv, rm = S.model_version_datasets, S.model_versions, S.registered_models
        with self.db.read() as conn:
            runs = conn.execute(
                select(r.c.id, r.c.name, e.c.name.label("experiment"), r.c.status, ri.c.role,
                       ri.c.created_at)
                .select_from(ri.join(r, r.c.id == ri.c.run_id).join(e, e.c.id == r.c.experiment_id))
                .where(ri.c.dataset_version_id == version_id).order_by(ri.c.created_at)
            ).all()
            models = conn.execute(
                select(rm.c.name, mv.c.version, mv.c.id, mv.c.run_id, mv.c.created_at)
                .select_from(mvd.join(mv, mv.c.id == mvd.c.model_version_id)
                             .join(rm, rm.c.id == mv.c.model_id))
                .where(mvd.c.dataset_version_id == version_id).order_by(mv.c.created_at)
            ).all()
        return {
            "runs": [dict(x._mapping) for x in runs],
            "models": [dict(x._mapping) for x in models],
        }

    def run_dataset_versions(self, run_id: str, role: str | None = "input") -> list[DatasetVersionRecord]:
        """The dataset versions a run used, in the order it first used them."""
        ri, dv = S.run_inputs, S.dataset_versions
        q = (
            _select_versions().join(ri, ri.c.dataset_version_id == dv.c.id)
            .where(ri.c.run_id == run_id).order_by(ri.c.created_at)
        )
        if role is not None:
            q = q.where(ri.c.role == role)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        seen: set[str] = set()
        out = []
        for row in rows:
            rec = _record(row)
            if rec.id not in seen:
                seen.add(rec.id)
                out.append(rec)
        return out

    # -- the file-hash cache ----------------------------------------------------------
    def cached_file_hashes(self, host: str, paths: Iterable[str]) -> dict[str, CachedHash]:
        fh = S.dataset_file_hashes
        out: dict[str, CachedHash] = {}
        plist = list(paths)
        with self.db.read() as conn:
            for part in chunks(plist, 500):
                for row in conn.execute(
                    select(fh).where(fh.c.host == host, fh.c.path.in_(list(part)))
                ):
                    out[row.path] = CachedHash(
                        row.path, row.size, row.mtime_ns, row.ctime_ns, row.inode, row.device,
                        row.digest,
                    )
        return out

    def remember_file_hashes(self, host: str, entries: Sequence[CachedHash]) -> None:
        if not entries:
            return
        now = time.time()
        rows = [{
            "host": host, "path": e.path, "size": e.size, "mtime_ns": e.mtime_ns,
            "ctime_ns": e.ctime_ns, "inode": e.inode, "device": e.device, "digest": e.digest,
            "checked_at": now,
        } for e in entries]
        cols = ["size", "mtime_ns", "ctime_ns", "inode", "device", "digest", "checked_at"]
        self.db.write(
            lambda conn: self._upsert(conn, S.dataset_file_hashes, rows, ["host", "path"], cols)
        )
