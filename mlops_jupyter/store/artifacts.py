"""Content-addressed blobs: ``ab/cdef…`` named by the BLAKE3 hash of their bytes.

Why BLAKE3: measured on this class of machine it hashes a file from page cache at the
speed of reading it when it maps the file itself (``update_mmap``, threaded), about
8x SHA-256 and 15x MD5 (see ANCHORS.md). Writes go to a temporary name in the same
folder, are fsynced, then renamed into place, so a reader never sees half a blob and a
killed writer leaves only a temporary file that ``doctor`` can sweep. Every read is
re-hashed; a mismatch is an :class:`IntegrityError` naming both hashes.

The local folder is handled with ``os`` calls (fast path); any other fsspec URL
(``s3://``, ``gcs://``, ``memory://``) goes through fsspec with the same rules.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mlops_jupyter.config import redact_url
from mlops_jupyter.errors import IntegrityError, MlopsError, NotFoundError, StoreError, UsageError

CHUNK = 1 << 20
MMAP_MIN = 8 << 20  # files from this size are hashed by blake3's own threaded mmap
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def _hasher():  # type: ignore[no-untyped-def]
    from blake3 import blake3

    return blake3(max_threads=blake3.AUTO)


def hash_bytes(data: bytes | memoryview) -> str:
    h = _hasher()
    h.update(data)
    return h.hexdigest()


def hash_file(path: str | os.PathLike[str], progress: bool | None = None) -> str:
    """BLAKE3 of a file, at the speed of reading it for large files."""
    size = os.path.getsize(path)
    h = _hasher()
    if size >= MMAP_MIN:
        h.update_mmap(str(path))
        return h.hexdigest()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _open_dir_nofollow(root: Path, parts: list[str]) -> int:
    """A descriptor of ``root/parts…``, created as needed, never through a link below
    ``root`` (a link in the way is replaced by a real folder)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        for part in parts:
            try:
                nxt = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, dir_fd=fd)
                nxt = os.open(part, flags, dir_fd=fd)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR) or not stat.S_ISLNK(
                    os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
                ):
                    raise
                os.unlink(part, dir_fd=fd)  # the link itself, never its target
                os.mkdir(part, dir_fd=fd)
                nxt = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _hold(path: str) -> int | None:
    """An exclusive advisory lock on a temporary file, released when the returned
    descriptor is closed or the process dies."""
    try:
        import fcntl

        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except (ImportError, OSError):  # pragma: no cover - no flock on this platform
        return None


def disk_error(e: OSError, what: str) -> MlopsError | OSError:
    """A clear store error for a full disk or quota; other OS errors unchanged."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(
            f"{what}: the disk is full (no space left on device); nothing was stored. "
            "Free some space (`mlops doctor --clean` removes leftover temporary files) "
            "and try again"
        )
    return e


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise IntegrityError(f"not a content hash: {digest!r} (expected 64 hex characters)")
    return digest


class _ViewReader:
    """``read(n)`` over bytes in memory, a slice at a time: ``io.BytesIO(data)`` would
    first copy them whole (a second GiB for a GiB blob)."""

    def __init__(self, data: bytes | memoryview) -> None:
        self.view = memoryview(data).cast("B")
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.view) if n < 0 else min(self.pos + n, len(self.view))
        out = bytes(self.view[self.pos : end])
        self.pos = end
        return out


class BlobStore:
    """Blobs under one root URL. Local paths are the default and the fast path."""

    def __init__(self, url: str) -> None:
        self.url = url
        if "://" in url and not url.startswith("file://"):
            import fsspec

            try:
                self.fs, self.root = fsspec.core.url_to_fs(url)
            except ImportError as e:
                raise StoreError(
                    f"the artifact store {redact_url(url)!r} needs a package that is not "
                    f"installed: {e}. Install it (for example `pip install s3fs` for s3://, "
                    "gcsfs for gs://, adlfs for az://), or use a local folder"
                ) from None
            except (ValueError, OSError) as e:
                raise StoreError(
                    f"cannot open the artifact store {redact_url(url)!r}: {e}. Accepted: a "
                    "local folder or an fsspec URL such as s3://bucket/prefix"
                ) from None
            self.local_root: Path | None = None
        else:
            path = url[len("file://") :] if url.startswith("file://") else url
            self.fs = None
            self.root = str(Path(path))
            self.local_root = Path(path)

    # -- layout ---------------------------------------------------------------------
    def _rel(self, digest: str) -> str:
        check_digest(digest)
        return f"{digest[:2]}/{digest[2:]}"

    def local_path(self, digest: str) -> Path | None:
        """The blob's file on local disk (None for remote stores)."""
        if self.local_root is None:
            return None
        return self.local_root / self._rel(digest)

    def _remote(self, digest: str) -> str:
        return f"{self.root.rstrip('/')}/{self._rel(digest)}"

    # -- writing --------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        if self.local_root is not None:
            return self.local_path(digest).is_file()  # type: ignore[union-attr]
        return bool(self.fs.exists(self._remote(digest)))

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hash_bytes(data)
        if not self.exists(digest):
            self._write_stream(digest, _ViewReader(data))
        return digest, len(data)

    def put_file(self, path: str | os.PathLike[str], digest: str | None = None) -> tuple[str, int]:
        """Store a file's bytes; ``digest`` may be passed when already computed."""
        path = Path(path)
        try:
            size = path.stat().st_size
            digest = digest or hash_file(path)
        except OSError as e:
            raise StoreError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
        if not self.exists(digest):
            with open(path, "rb") as f:
                self._write_stream(digest, f, expect=digest)
        return digest, size

    def _write_stream(self, digest: str, src: BinaryIO, expect: str | None = None) -> None:
        h = _hasher() if expect else None
        if self.local_root is not None:
            dest = self.local_path(digest)
            assert dest is not None
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
            except OSError as e:
                raise disk_error(e, "cannot store a blob") from None
            lock_fd = _hold(tmp)  # `doctor --clean` never removes a file being written
            try:
                with os.fdopen(fd, "wb") as out:
                    while chunk := src.read(CHUNK):
                        if h is not None:
                            h.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if h is not None and h.hexdigest() != expect:
                    raise IntegrityError(
                        f"source changed while it was stored: expected hash {expect}, "
                        f"read {h.hexdigest()}; nothing was stored"
                    )
                os.chmod(tmp, 0o444)
                os.replace(tmp, dest)
            except BaseException as e:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                if isinstance(e, OSError):
                    raise disk_error(e, "cannot store a blob") from None
                raise
            finally:
                if lock_fd is not None:
                    os.close(lock_fd)
            return
        dest_r = self._remote(digest)
        if self._transactional_writes():
            self._write_s3(dest_r, src, h, expect)
            return
        tmp_r = f"{dest_r}.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open(tmp_r, "wb") as out:
                while chunk := src.read(CHUNK):
                    if h is not None:
                        h.update(chunk)
                    out.write(chunk)
            if h is not None and h.hexdigest() != expect:
                raise IntegrityError(f"source changed while it was stored: expected {expect}")
            self.fs.mv(tmp_r, dest_r)
        except BaseException:
            try:
                self.fs.rm(tmp_r)
            except Exception:  # noqa: BLE001
                pass
            raise

    def _transactional_writes(self) -> bool:
        """S3 makes an object visible only when its upload completes: write in place,
        uncommitted, and complete the multipart upload only after the hash is checked."""
        protocol = getattr(self.fs, "protocol", "")
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        return any(p in ("s3", "s3a") for p in protocols)

    def _write_s3(self, dest_r: str, src: BinaryIO, h: object, expect: str | None) -> None:
        first = src.read(CHUNK)
        if len(first) < CHUNK:  # small: one PUT, which S3 makes visible whole or not at all
            if h is not None:
                h.update(first)  # type: ignore[attr-defined]
                if h.hexdigest() != expect:  # type: ignore[attr-defined]
                    raise IntegrityError(f"source changed while it was stored: expected {expect}")
            self.fs.pipe_file(dest_r, first)
            return
        out = self.fs.open(dest_r, "wb", autocommit=False)
        try:
            chunk = first
            while chunk:
                if h is not None:
                    h.update(chunk)  # type: ignore[attr-defined]
                out.write(chunk)
                chunk = src.read(CHUNK)
            if h is not None and h.hexdigest() != expect:  # type: ignore[attr-defined]
                raise IntegrityError(f"source changed while it was stored: expected {expect}")
            out.close()  # the last part is uploaded, the object not yet visible
            out.commit()
        except BaseException:
            try:
                out.discard()  # aborts the multipart upload: nothing left behind
            except Exception:  # noqa: BLE001 - a killed upload is swept by clean_temporary
                pass
            raise

    def clean_temporary(self, older_than: float = 3600.0) -> list[str]:
        """Remove what killed writers left: temporary files/objects and, on S3,
        incomplete multipart uploads under the root, older than ``older_than`` seconds
        (younger ones may belong to a writer still at work). Returns what was removed."""
        import time

        if self.local_root is not None:  # never a file a live writer holds (flock)
            return self.clean_temp_files(older_than)[0]
        cutoff = time.time() - older_than
        removed: list[str] = []
        for path in self.iter_temp_files():
            try:
                info = self.fs.info(path)
                mtime = info.get("LastModified") or info.get("mtime") or info.get("created")
                stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime or 0)
                if stamp <= cutoff:
                    self.fs.rm(path)
                    removed.append(path)
            except (OSError, ValueError, TypeError):
                continue
        if self._transactional_writes():
            removed += self._abort_stale_uploads(cutoff)
        return removed

    def _stale_uploads(self, cutoff: float) -> list[dict[str, str]]:
        bucket, _, prefix = self.root.strip("/").partition("/")
        try:
            uploads = self.fs.list_multipart_uploads(bucket)
        except Exception:  # noqa: BLE001 - listing not allowed: nothing to report
            return []
        out = []
        for u in uploads or []:
            key = u.get("Key", "")
            started = u.get("Initiated")
            stamp = started.timestamp() if hasattr(started, "timestamp") else 0.0
            if key.startswith(prefix) and stamp <= cutoff:
                out.append({"Bucket": bucket, "Key": key, "UploadId": u.get("UploadId", "")})
        return out

    def _abort_stale_uploads(self, cutoff: float) -> list[str]:
        from fsspec.asyn import sync

        removed = []
        for u in self._stale_uploads(cutoff):
            try:
                sync(self.fs.loop, self.fs._call_s3, "abort_multipart_upload", **u)
                removed.append(f"{u['Bucket']}/{u['Key']} (incomplete upload {u['UploadId'][:12]})")
            except Exception:  # noqa: BLE001 - already completed or aborted
                continue
        return removed

    def pending_uploads(self) -> list[str]:
        """Incomplete multipart uploads under the root (S3 only), for ``doctor``."""
        import time

        if self.local_root is not None or not self._transactional_writes():
            return []
        return [f"{u['Bucket']}/{u['Key']}" for u in self._stale_uploads(time.time() + 1)]

    # -- reading (always verified) ----------------------------------------------------
    def get_bytes(self, digest: str) -> bytes:
        data = self._read_raw(digest)
        actual = hash_bytes(data)
        if actual != digest:
            raise IntegrityError(
                f"blob {digest[:12]}… is corrupt: expected hash {digest}, actual {actual}"
            )
        return data

    def get_buffer(self, digest: str) -> memoryview:
        """The blob's bytes as a read-only view, verified: read once into private memory,
        then hashed, so what the caller parses is exactly what was checked (a file changed
        on disk afterwards cannot reach it, unlike a memory map).

        For large blobs this is the cheap read: one pass over the file into an aligned
        buffer (no copy into a ``bytes`` object), that parsers (Arrow) use in place."""
        if self.local_root is None:
            return memoryview(self.get_bytes(digest))
        import pyarrow as pa

        path = self.local_path(digest)
        assert path is not None
        try:
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFoundError(
                f"blob {digest} is missing from the artifact store {redact_url(self.url)!r} "
                "(run `mlops doctor --verify`)"
            ) from None
        with f:
            size = os.fstat(f.fileno()).st_size
            # Arrow's pool: 64-byte aligned, and memory freed by an earlier read is reused
            view = memoryview(pa.allocate_buffer(size, resizable=False))
            got = 0
            while got < size and (n := f.readinto(view[got:])):
                got += n
        data = view[:got].toreadonly()
        actual = hash_bytes(data)
        if actual != digest:
            raise IntegrityError(
                f"blob {digest[:12]}… is corrupt: expected hash {digest}, actual {actual}"
            )
        return data

    def _read_raw(self, digest: str) -> bytes:
        try:
            if self.local_root is not None:
                return self.local_path(digest).read_bytes()  # type: ignore[union-attr]
            with self.fs.open(self._remote(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFoundError(
                f"blob {digest} is missing from the artifact store {redact_url(self.url)!r} "
                "(run `mlops doctor --verify`)"
            ) from None

    def verify(self, digest: str) -> str | None:
        """None if intact; else 'missing' or 'corrupt'."""
        try:
            if self.local_root is not None:
                p = self.local_path(digest)
                assert p is not None
                if not p.is_file():
                    return "missing"
                actual = hash_file(p)
            else:
                actual = hash_bytes(self._read_raw(digest))
        except NotFoundError:
            return "missing"
        return None if actual == digest else "corrupt"

    def materialize(
        self, digest: str, dest: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
    ) -> Path:
        """Copy a blob to ``dest`` (atomically), verifying its hash; return the path.

        With ``root`` (a checkout folder holding ``dest``), no symbolic link below
        ``root`` is ever followed: each folder is opened relative to its parent with
        ``O_NOFOLLOW``, a link found where a folder belongs is replaced by a real folder
        (the link's target is left untouched), and the file is renamed over ``dest``
        itself, never written through it. Without this, swapping a checkout subfolder
        for a link to ``/etc`` made the next load write outside the checkout.
        """
        dest = Path(dest)
        if root is None:
            root, parts = dest.parent, []
        else:
            root = Path(root)
            try:
                parts = list(dest.relative_to(root).parts[:-1])
            except ValueError:
                raise UsageError(f"{str(dest)!r} is not inside {str(root)!r}") from None
            if any(p in ("..", ".") for p in parts):
                raise UsageError(f"{str(dest)!r} escapes {str(root)!r}")
        try:
            root.mkdir(parents=True, exist_ok=True)
            dir_fd = _open_dir_nofollow(root, parts)
        except OSError as e:
            raise StoreError(f"cannot write under {str(root)!r}: {e.strerror or e}") from None
        tmp = f".tmp-{uuid.uuid4().hex}"
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644,
                             dir_fd=dir_fd)
                with os.fdopen(fd, "wb") as out:
                    h = _hasher()
                    for chunk in self._iter_chunks(digest):
                        h.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                actual = h.hexdigest()
                if actual != digest:
                    raise IntegrityError(
                        f"blob {digest[:12]}… is corrupt: expected hash {digest}, actual {actual}"
                    )
                os.replace(tmp, dest.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=dir_fd)
                except OSError:
                    pass
                raise
        except OSError as e:
            raise disk_error(e, f"cannot write {str(dest)!r}") from None
        finally:
            os.close(dir_fd)
        return dest

    def _iter_chunks(self, digest: str) -> Iterator[bytes]:
        if self.local_root is not None:
            src = self.local_path(digest)
            assert src is not None
            try:
                f = open(src, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                raise NotFoundError(
                    f"blob {digest} is missing from {redact_url(self.url)!r} "
                    "(run `mlops doctor --verify`)"
                ) from None
        else:
            try:
                f = self.fs.open(self._remote(digest), "rb")
            except FileNotFoundError:
                raise NotFoundError(f"blob {digest} is missing from {redact_url(self.url)!r}") from None
        with f:
            while chunk := f.read(CHUNK):
                yield chunk

    def iter_digests(self) -> Iterator[str]:
        """Every blob present (for orphan detection)."""
        if self.local_root is not None:
            if not self.local_root.is_dir():
                return
            for sub in sorted(self.local_root.iterdir()):
                if sub.is_dir() and len(sub.name) == 2:
                    for f in sub.iterdir():
                        d = sub.name + f.name
                        if _DIGEST_RE.match(d):
                            yield d
            return
        for path in self.fs.find(self.root):
            parts = path.rstrip("/").split("/")
            d = parts[-2] + parts[-1] if len(parts) >= 2 else ""
            if _DIGEST_RE.match(d):
                yield d

    def iter_temp_files(self) -> Iterator[str]:
        if self.local_root is None:
            try:
                for path in self.fs.find(self.root):
                    if ".tmp-" in path.rsplit("/", 1)[-1]:
                        yield path
            except (OSError, ValueError):
                return
            return
        if not self.local_root.is_dir():
            return
        for f in self.local_root.glob("*/.tmp-*"):
            yield str(f)

    def clean_temp_files(self, older_than: float = 3600.0) -> tuple[list[str], int]:
        """Remove leftover ``.tmp-*`` files of killed writers: ``(removed, bytes freed)``.

        A file is removed only when it is older than ``older_than`` seconds (untouched
        that long) AND no live process holds its lock (writers hold an exclusive
        ``flock`` from creation to rename; the kernel drops it when a writer dies).
        """
        import fcntl

        removed: list[str] = []
        freed = 0
        now = time.time()
        for path in list(self.iter_temp_files()):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if now - st.st_mtime < older_than or not stat.S_ISREG(st.st_mode):
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer holds it
                try:
                    os.unlink(path)
                except OSError:
                    continue
                removed.append(path)
                freed += st.st_size
            finally:
                os.close(fd)
        return removed, freed
