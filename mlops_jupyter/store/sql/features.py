"""SQL for the feature repository: definitions (one row per code+spec digest of a view),
materialisations (definition x source dataset version -> dataset version) and the
columns of training frames (which definition version fed each column).

Versions of a view are numbered per view inside the write transaction, so two
processes applying the same change at once get one row (the digest is unique per view)
and two different changes get distinct numbers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from mlops_jupyter.errors import NotFoundError
from mlops_jupyter.store import schema as S
from mlops_jupyter.store.sql.core import SqlCore, dumps, loads


@dataclass(frozen=True)
class FeatureDefinitionRecord:
    id: str
    view: str
    version: int
    digest: str
    spec: dict[str, Any]
    code: str | None
    path: str | None
    owner: str | None
    created_at: float


@dataclass(frozen=True)
class MaterializationRecord:
    id: str
    definition_id: str
    source_version_id: str
    dataset_version_id: str
    rows: int | None
    created_at: float


@dataclass(frozen=True)
class FrameColumnRecord:
    frame_version_id: str
    view: str
    feature: str
    column_name: str
    definition_id: str
    materialization_id: str | None


def _definition(r: Any) -> FeatureDefinitionRecord:
    return FeatureDefinitionRecord(
        id=r.id, view=r.view, version=int(r.version), digest=r.digest, spec=loads(r.spec),
        code=r.code, path=r.path, owner=r.owner, created_at=float(r.created_at),
    )


def _mat(r: Any) -> MaterializationRecord:
    return MaterializationRecord(
        id=r.id, definition_id=r.definition_id, source_version_id=r.source_version_id,
        dataset_version_id=r.dataset_version_id, rows=r.rows, created_at=float(r.created_at),
    )


class SqlFeatures(SqlCore):
    # -- definitions ------------------------------------------------------------------
    def register_feature_definition(
        self, view: str, *, digest: str, spec: dict[str, Any], code: str | None,
        path: str | None, owner: str | None,
    ) -> tuple[FeatureDefinitionRecord, bool]:
        """The latest definition when its digest is this one (created=False), else a new
        version numbered after it."""
        t = S.feature_definitions

        def tx(conn: Connection) -> tuple[FeatureDefinitionRecord, bool]:
            if conn.dialect.name == "postgresql":
                # one numbering per view at a time (the unique constraint is the backstop)
                conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("mlops-fv:" + view))))
            latest = conn.execute(
                select(t).where(t.c.view == view).order_by(t.c.version.desc()).limit(1)
            ).first()
            if latest is not None and latest.digest == digest:
                return _definition(latest), False
            row = {
                "id": uuid.uuid4().hex, "view": view,
                "version": 1 if latest is None else int(latest.version) + 1,
                "digest": digest, "spec": dumps(spec), "code": code, "path": path,
                "owner": owner, "created_at": time.time(),
            }
            conn.execute(t.insert().values(**row))
            return _definition(SimpleNamespace(**row)), True

        return self.db.write(tx)

    def feature_definitions(self, view: str | None = None) -> list[FeatureDefinitionRecord]:
        t = S.feature_definitions
        q = select(t).order_by(t.c.view, t.c.version)
        if view is not None:
            q = q.where(t.c.view == view)
        with self.db.read() as conn:
            return [_definition(r) for r in conn.execute(q)]

    def feature_definition(self, view: str, version: int | None = None) -> FeatureDefinitionRecord:
        """A view's definition ``version`` (default: the latest)."""
        defs = self.feature_definitions(view)
        if not defs:
            names = sorted({d.view for d in self.feature_definitions()})
            raise NotFoundError(
                f"no feature view {view!r}; applied views: {', '.join(names) or 'none'} "
                "(run mj.features.apply() after adding definitions under features/)"
            )
        if version is None:
            return defs[-1]
        for d in defs:
            if d.version == version:
                return d
        raise NotFoundError(
            f"feature view {view!r} has no version {version}; versions: "
            + ", ".join(f"v{d.version}" for d in defs)
        )

    def feature_definition_by_id(self, definition_id: str) -> FeatureDefinitionRecord:
        t = S.feature_definitions
        with self.db.read() as conn:
            r = conn.execute(select(t).where(t.c.id == definition_id)).first()
        if r is None:
            raise NotFoundError(f"no feature definition with id {definition_id!r}")
        return _definition(r)

    # -- materialisations -------------------------------------------------------------
    def find_materialization(self, definition_id: str, source_version_id: str) -> MaterializationRecord | None:
        """This definition's materialisation over that source version, or one made by an
        earlier version with the same digest (identical code and spec)."""
        t, d = S.feature_materializations, S.feature_definitions
        same = select(d.c.id).where(
            d.c.digest == select(d.c.digest).where(d.c.id == definition_id).scalar_subquery(),
            d.c.view == select(d.c.view).where(d.c.id == definition_id).scalar_subquery(),
        )
        with self.db.read() as conn:
            rows = conn.execute(select(t).where(
                t.c.definition_id.in_(same), t.c.source_version_id == source_version_id,
            ).order_by(t.c.created_at)).all()
        if not rows:
            return None
        own = [r for r in rows if r.definition_id == definition_id]
        return _mat((own or rows)[-1])

    def record_materialization(
        self, definition_id: str, source_version_id: str, dataset_version_id: str, rows: int,
    ) -> MaterializationRecord:
        t = S.feature_materializations
        row = {
            "id": uuid.uuid4().hex, "definition_id": definition_id,
            "source_version_id": source_version_id, "dataset_version_id": dataset_version_id,
            "rows": int(rows), "created_at": time.time(),
        }

        def tx(conn: Connection) -> MaterializationRecord:
            self._upsert(conn, t, [row], ["definition_id", "source_version_id"])
            r = conn.execute(select(t).where(
                t.c.definition_id == definition_id, t.c.source_version_id == source_version_id,
            )).first()
            return _mat(r)

        return self.db.write(tx)

    def list_materializations(self, definition_id: str | None = None) -> list[MaterializationRecord]:
        t = S.feature_materializations
        q = select(t).order_by(t.c.created_at)
        if definition_id is not None:
            q = q.where(t.c.definition_id == definition_id)
        with self.db.read() as conn:
            return [_mat(r) for r in conn.execute(q)]

    # -- training frames --------------------------------------------------------------
    def record_frame_columns(self, frame_version_id: str, columns: Sequence[dict[str, Any]]) -> None:
        rows = [{"frame_version_id": frame_version_id, **c} for c in columns]

        def tx(conn: Connection) -> None:
            self._upsert(conn, S.feature_frame_columns, rows, ["frame_version_id", "view", "feature"])

        self.db.write(tx)

    def frame_columns(self, frame_version_ids: Sequence[str]) -> list[FrameColumnRecord]:
        t = S.feature_frame_columns
        if not frame_version_ids:
            return []
        with self.db.read() as conn:
            rows = conn.execute(select(t).where(t.c.frame_version_id.in_(list(frame_version_ids)))).all()
        return [FrameColumnRecord(
            frame_version_id=r.frame_version_id, view=r.view, feature=r.feature,
            column_name=r.column_name, definition_id=r.definition_id,
            materialization_id=r.materialization_id,
        ) for r in rows]

    def models_using_features(self) -> list[dict[str, Any]]:
        """(view, feature, definition version, model name, model version) for every model
        version trained on a frame holding that feature."""
        fc, md = S.feature_frame_columns, S.model_version_datasets
        mv, rm, fd = S.model_versions, S.registered_models, S.feature_definitions
        q = (
            select(fc.c.view, fc.c.feature, fd.c.version.label("definition_version"),
                   rm.c.name.label("model"), mv.c.version.label("model_version"))
            .select_from(
                fc.join(md, md.c.dataset_version_id == fc.c.frame_version_id)
                .join(mv, mv.c.id == md.c.model_version_id)
                .join(rm, rm.c.id == mv.c.model_id)
                .join(fd, fd.c.id == fc.c.definition_id)
            )
            .order_by(fc.c.view, fc.c.feature, rm.c.name, mv.c.version)
        )
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]
