"""``mlops doctor``: where the store is, what it holds, and whether its bytes are intact."""

from __future__ import annotations

from typing import Any

from mlops_jupyter import __version__
from mlops_jupyter.config import redact_url
from mlops_jupyter.tracking.session import get_store


def clean(older_than: float = 3600.0) -> dict[str, Any]:
    """Remove leftover temporary files of killed writers (safely: see
    :meth:`BlobStore.clean_temp_files`) and, on object storage, temporary objects and
    incomplete multipart uploads (:meth:`BlobStore.clean_temporary`)."""
    blobs = get_store().blobs
    if blobs.local_root is not None:
        removed, freed = blobs.clean_temp_files(older_than)
        return {"removed temporary files": removed, "bytes freed": freed}
    return {"removed temporary files": blobs.clean_temporary(older_than)}


def diagnose(verify: bool = False) -> dict[str, Any]:
    st = get_store()
    report: dict[str, Any] = {
        "mlops-jupyter": __version__,
        "home": str(st.config.home) if st.config.home else None,
        "database": redact_url(st.config.db_url),
        "artifacts": redact_url(st.config.artifacts_url),
        "schema version": st.schema_version,
        "counts": st.counts(),
    }
    problems: list[str] = []
    if verify:
        known = st.known_blobs()
        referenced = st.referenced_blobs()
        present = set(st.blobs.iter_digests())
        missing, corrupt = [], []
        for digest in sorted(known):
            state = st.blobs.verify(digest) if digest in present else "missing"
            if state == "missing":
                missing.append(digest)
            elif state == "corrupt":
                corrupt.append(digest)
        orphans = sorted(present - set(known))
        dangling = sorted(referenced - set(known))
        temps = list(st.blobs.iter_temp_files())
        report.update({
            "blobs checked": len(known),
            "missing blobs": missing,
            "corrupt blobs": corrupt,
            "orphan blobs (not in metadata)": orphans,
            "rows pointing at unknown blobs": dangling,
            "leftover temporary files": temps,
            "incomplete uploads": st.blobs.pending_uploads(),
        })
        problems += [f"missing blob {d}" for d in missing]
        problems += [f"corrupt blob {d}" for d in corrupt]
        problems += [f"row points at unknown blob {d}" for d in dangling]
    report["problems"] = problems
    return report
