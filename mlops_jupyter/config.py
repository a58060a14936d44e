"""Where the store lives: the `.mlops/` folder, or URLs given by environment or code.

Resolution order (first wins), as DESIGN.md fixes it:

1. ``mlops_jupyter.init(home=..., db_url=..., artifacts_url=...)`` in code;
2. ``MLOPS_HOME``, ``MLOPS_DB_URL``, ``MLOPS_ARTIFACTS_URL`` in the environment;
3. a ``.mlops/`` folder found by walking up from the working directory (like git);
4. else a new ``.mlops/`` at the nearest folder holding ``.git`` or ``pyproject.toml``,
   else in the working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STORE_DIRNAME = ".mlops"
ENV_HOME = "MLOPS_HOME"
ENV_DB_URL = "MLOPS_DB_URL"
ENV_ARTIFACTS_URL = "MLOPS_ARTIFACTS_URL"


@dataclass(frozen=True)
class StoreConfig:
    """Where metadata and artifacts live. ``home`` is None when both are remote URLs."""

    db_url: str
    artifacts_url: str
    home: Path | None = None

    def __repr__(self) -> str:
        return (
            f"StoreConfig(db_url={redact_url(self.db_url)!r}, "
            f"artifacts_url={redact_url(self.artifacts_url)!r}, home={self.home!r})"
        )

    def env(self) -> dict[str, str]:
        """Environment variables that make a child process (a papermill kernel) use
        this same store."""
        out = {ENV_DB_URL: self.db_url, ENV_ARTIFACTS_URL: self.artifacts_url}
        if self.home is not None:
            out[ENV_HOME] = str(self.home)
        return out


def find_home(start: Path | None = None) -> Path:
    """The `.mlops` folder for ``start`` (default: the working directory)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        candidate = folder / STORE_DIRNAME
        if candidate.is_dir():
            return candidate
    for folder in (start, *start.parents):
        if (folder / ".git").exists() or (folder / "pyproject.toml").is_file():
            return folder / STORE_DIRNAME
    return start / STORE_DIRNAME


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def resolve(
    home: str | os.PathLike[str] | None = None,
    db_url: str | None = None,
    artifacts_url: str | None = None,
) -> StoreConfig:
    """Combine explicit arguments, environment and discovery into one config."""
    env = os.environ
    home_path: Path | None
    if home is not None:
        home_path = Path(home).expanduser().resolve()
    elif env.get(ENV_HOME):
        home_path = Path(env[ENV_HOME]).expanduser().resolve()
    else:
        home_path = None
    db = db_url or env.get(ENV_DB_URL) or None
    art = artifacts_url or env.get(ENV_ARTIFACTS_URL) or None
    if home_path is None and (db is None or art is None):
        home_path = find_home()
    if db is None:
        assert home_path is not None
        db = sqlite_url(home_path / "mlops.db")
    if art is None:
        assert home_path is not None
        art = str(home_path / "artifacts")
    return StoreConfig(db_url=db, artifacts_url=art, home=home_path)


_SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "secret", "token", "key", "credential", "signature", "sig")


def redact_url(url: str) -> str:
    """The URL with any password hidden (for messages, reprs and logs): the password
    of ``user:password@host`` and query parameters such as ``?password=``,
    ``sslpassword=``, ``token=`` or ``secret_key=`` become ``***``."""
    from urllib.parse import parse_qsl, urlencode

    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    rest, qsep, query = rest.partition("?")
    if "@" in rest.split("/", 1)[0]:
        creds, _, host = rest.partition("/")[0].rpartition("@")
        tail = rest[len(creds) + 1 + len(host):]
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        rest = f"{creds}@{host}{tail}"
    if qsep:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [
            (k, "***" if any(w in k.lower() for w in _SECRET_QUERY_KEYS) else v) for k, v in pairs
        ]
        query = urlencode(masked, safe="*/:")
    return f"{scheme}://{rest}{qsep}{query}"
