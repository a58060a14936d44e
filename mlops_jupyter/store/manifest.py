"""Folders as manifests: a sorted list of (relative path, size, hash) whose own hash
names the folder. Used for run artifacts and dataset versions alike.

A folder is hostile input too: FIFOs, sockets and devices are refused (reading one
would hang or read forever), and a symlink is followed only when it stays inside the
folder, so a dataset can never smuggle in ``~/.ssh`` through a link.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_jupyter.errors import UsageError
from mlops_jupyter.names import artifact_name
from mlops_jupyter.store.artifacts import hash_bytes, hash_file


@dataclass(frozen=True)
class Entry:
    path: str  # posix, relative
    size: int
    digest: str
    source: Path  # where the bytes are on disk now


def scan_folder(
    root: str | os.PathLike[str], hasher: Callable[[Path], str] | None = None
) -> list[Entry]:
    """Every regular file under ``root``, hashed, in a stable order."""
    root = Path(root)
    real_root = root.resolve()
    hasher = hasher or hash_file
    out: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        base = Path(dirpath)
        # symlinked folders: follow only those that stay inside
        for d in list(dirnames):
            p = base / d
            if p.is_symlink():
                _check_inside(p, real_root, root)
                dirnames.remove(d)
                out.extend(
                    Entry(f"{p.relative_to(root).as_posix()}/{e.path}", e.size, e.digest, e.source)
                    for e in scan_folder(p, hasher)
                )
        for name in sorted(filenames):
            p = base / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                _check_inside(p, real_root, root)
            try:
                st = p.stat()
            except OSError as e:
                raise UsageError(f"cannot read {str(p)!r}: {e.strerror or e}") from None
            if not stat.S_ISREG(st.st_mode):
                kind = (
                    "FIFO" if stat.S_ISFIFO(st.st_mode) else
                    "socket" if stat.S_ISSOCK(st.st_mode) else "device or special file"
                )
                raise UsageError(
                    f"{str(p)!r} is a {kind}: a folder may hold only regular files, "
                    "folders and symlinks that stay inside it"
                )
            artifact_name(rel)  # the same safety rules as any artifact name
            out.append(Entry(rel, st.st_size, hasher(p), p))
    out.sort(key=lambda e: e.path)
    return out


def _check_inside(link: Path, real_root: Path, root: Path) -> None:
    target = link.resolve()
    if target != real_root and real_root not in target.parents:
        raise UsageError(
            f"symlink {str(link.relative_to(root))!r} points outside the folder "
            f"(to {str(target)!r}); only links that stay inside are followed"
        )


def manifest_bytes(entries: list[Entry]) -> bytes:
    doc = {"format": "mlops-manifest/1", "files": [[e.path, e.size, e.digest] for e in entries]}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def manifest_digest(entries: list[Entry]) -> str:
    return hash_bytes(manifest_bytes(entries))


def parse_manifest(data: bytes) -> list[tuple[str, int, str]]:
    doc = json.loads(data)
    if doc.get("format") != "mlops-manifest/1":
        raise UsageError("not an mlops folder manifest")
    return [(p, int(s), d) for p, s, d in doc["files"]]
