"""Writing a user-named output file safely (exports, checkouts to a path).

``write_atomic`` writes to a temporary name in the destination folder and renames it
into place, so a reader never sees half a file and a failed write leaves the old file
(or nothing); it refuses to replace an existing file unless told to, and turns every
``OSError`` into one :class:`UsageError` naming the path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from mlops_jupyter.errors import UsageError


def _umask() -> int:
    try:  # Linux: read it without the set-and-restore race of os.umask
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_atomic(
    dest: str | os.PathLike[str], write: Callable[[Path], None], *, overwrite: bool = False,
    exists_hint: str = "pass overwrite=True to replace it",
) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``dest``, then move it to ``dest``."""
    dest = Path(dest).expanduser()
    if dest.is_dir():
        raise UsageError(f"cannot write {str(dest)!r}: it is a folder")
    parent = dest.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {str(dest)!r}: folder {str(parent)!r} does not exist")
    if not overwrite and (dest.exists() or dest.is_symlink()):
        raise UsageError(f"{str(dest)!r} already exists; {exists_hint}")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name[:64]}.", suffix=".tmp", dir=parent)
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, dest)
            tmp = None
        else:
            try:  # link, unlike rename, never replaces: no window between check and move
                os.link(tmp, dest)
            except FileExistsError:
                raise UsageError(f"{str(dest)!r} already exists; {exists_hint}") from None
            except OSError:  # hard links unsupported here: fall back to a checked rename
                if dest.exists():
                    raise UsageError(f"{str(dest)!r} already exists; {exists_hint}") from None
                os.replace(tmp, dest)
                tmp = None
    except OSError as e:
        raise UsageError(f"cannot write {str(dest)!r}: {e.strerror or type(e).__name__}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return dest


__all__ = ["write_atomic"]
