"""SQL and bytes for run artifacts: files, folders (as manifests), bytes and text."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from mlops_jupyter.errors import NotFoundError
from mlops_jupyter.names import artifact_name
from mlops_jupyter.store import schema as S
from mlops_jupyter.store.entities import Artifact
from mlops_jupyter.store.sql.core import SqlCore


class SqlRunArtifacts(SqlCore):
    def _record_artifact(self, run_id: str, name: str, digest: str, size: int, kind: str) -> Artifact:
        now = time.time()

        def tx(conn: Connection) -> None:
            self._register_blob(conn, digest, size)
            self._upsert(
                conn, S.artifacts,
                [{"run_id": run_id, "name": name, "digest": digest, "size": size, "kind": kind, "created_at": now}],
                ["run_id", "name"], ["digest", "size", "kind", "created_at"],
            )

        self.db.write(tx)
        return Artifact(run_id, name, digest, size, kind, now)

    def put_artifact_bytes(self, run_id: str, name: str, data: bytes, kind: str = "bytes") -> Artifact:
        name = artifact_name(name)
        digest, size = self.blobs.put_bytes(data)
        return self._record_artifact(run_id, name, digest, size, kind)

    def put_artifact_file(self, run_id: str, name: str, path: str | Path, kind: str = "file") -> Artifact:
        name = artifact_name(name)
        digest, size = self.blobs.put_file(path)
        return self._record_artifact(run_id, name, digest, size, kind)

    def put_artifact_dir(self, run_id: str, name: str, folder: str | Path) -> Artifact:
        """A folder: each file as a blob, then a manifest blob naming the whole."""
        from mlops_jupyter.store.manifest import manifest_bytes, scan_folder

        name = artifact_name(name)
        entries = scan_folder(folder)
        sizes = {}
        for e in entries:
            self.blobs.put_file(e.source, digest=e.digest)
            sizes[e.digest] = e.size
        digest, size = self.blobs.put_bytes(manifest_bytes(entries))

        def tx(conn: Connection) -> None:
            for d, n in sizes.items():
                self._register_blob(conn, d, n)

        self.db.write(tx)
        return self._record_artifact(run_id, name, digest, size, "dir")

    def download_artifact(self, run_id: str, name: str, dest: str | Path) -> Path:
        """Write an artifact (a file, or a folder from its manifest) under ``dest``."""
        from mlops_jupyter.store.manifest import parse_manifest

        art = self.get_artifact(run_id, name)
        dest = Path(dest)
        if art.kind != "dir":
            return self.blobs.materialize(art.digest, dest)
        for rel, _size, digest in parse_manifest(self.blobs.get_bytes(art.digest)):
            artifact_name(rel)
            self.blobs.materialize(digest, dest / rel, root=dest)
        return dest

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(S.artifacts).where(S.artifacts.c.run_id == run_id).order_by(S.artifacts.c.name)
            ).all()
        return [Artifact(r.run_id, r.name, r.digest, r.size, r.kind, r.created_at) for r in rows]

    def get_artifact(self, run_id: str, name: str) -> Artifact:
        name = artifact_name(name)
        for a in self.list_artifacts(run_id):
            if a.name == name:
                return a
        names = [a.name for a in self.list_artifacts(run_id)]
        raise NotFoundError(
            f"run {run_id[:8]} has no artifact {name!r}; artifacts: {', '.join(names) or '(none)'}"
        )

    def read_artifact(self, run_id: str, name: str) -> bytes:
        return self.blobs.get_bytes(self.get_artifact(run_id, name).digest)

