"""Who may call the server, from where, with what: Host allowlist, scoped tokens,
Content-Type rules. Pure request checks, shared by every route (see docs/serving.md,
"Security").

- **Host allowlist** (DNS rebinding): a browser tricked into sending a page's requests
  to a loopback server still sends the attacker's host name in ``Host``. Only loopback
  names, the bound address and configured names are answered; when bound to every
  interface (``0.0.0.0``/``::``), IP literals are answered too (rebinding needs a name).
- **Scoped tokens**: ``predict`` (predict and batch routes), ``read`` (model list, cards,
  schema), ``admin`` (everything, plus ``/v1/admin/status``). ``MLOPS_SERVE_TOKEN`` holds
  every scope. A token file holds several, each with its scopes, plain or as
  ``sha256:<hex>``; it is re-read when it changes, so tokens rotate without a restart. A
  file that becomes unreadable or invalid keeps the last good set (fail closed: never
  open), and the server log says why.
- **Content-Type**: JSON routes take only ``application/json``, so a cross-site form or
  ``text/plain`` POST (no CORS preflight) is refused with 415 before its body is read.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from mlops_jupyter.errors import UsageError

log = logging.getLogger("mlops_jupyter.serving")

SCOPES = ("predict", "read", "admin")
MIN_TOKEN = 16
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
JSON = "application/json"
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
BATCH_TYPES = (JSON, ARROW, PARQUET)


# -- Host ---------------------------------------------------------------------------------
def _host_only(value: str) -> str:
    """``example.com:8080`` -> ``example.com``; ``[::1]:80`` -> ``::1``; lower case."""
    v = value.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        return v[1:end] if end > 0 else v
    if v.count(":") == 1:
        v = v.split(":", 1)[0]
    return v.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HostAllowlist:
    """Which ``Host`` header values are answered (see the module docstring)."""

    def __init__(self, bind_host: str = "127.0.0.1", allowed: Iterable[str] = ()) -> None:
        extra = [str(a).strip() for a in allowed if str(a).strip()]
        self.any = "*" in extra
        bound = _host_only(bind_host) if bind_host not in WILDCARDS else ""
        self.ip_literals = bind_host.strip("[]") in WILDCARDS
        self.names = set(LOOPBACK_NAMES) | ({bound} if bound else set())
        self.names |= {_host_only(a) for a in extra if a != "*"}

    def allows(self, header: bytes | None) -> bool:
        if self.any:
            return True
        if not header:
            return False
        try:
            host = _host_only(header.decode("ascii"))
        except UnicodeDecodeError:
            return False
        return host in self.names or (self.ip_literals and _is_ip(host))

    def describe(self) -> str:
        names = ", ".join(sorted(self.names))
        return names + (", any IP address" if self.ip_literals else "")


# -- Content-Type -------------------------------------------------------------------------
def media_type(header: bytes | None) -> str:
    if not header:
        return ""
    return header.split(b";", 1)[0].strip().lower().decode("latin-1")


# -- tokens -------------------------------------------------------------------------------
def _digest(token: str | bytes) -> bytes:
    raw = token.encode("utf-8", "surrogateescape") if isinstance(token, str) else token
    return hashlib.sha256(raw).digest()


def hash_token(token: str) -> str:
    """The ``sha256:<hex>`` form to put in a token file instead of the token itself."""
    return "sha256:" + _digest(token).hex()


def check_token_text(tok: str, where: str = "the serving token") -> None:
    if len(tok) < MIN_TOKEN or any(c.isspace() for c in tok):
        raise UsageError(
            f"{where} must be at least {MIN_TOKEN} characters without spaces "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def parse_token_file(text: str, where: str = "token file") -> dict[bytes, frozenset[str]]:
    """``TOKEN SCOPE[,SCOPE]`` per line (``#`` comments); TOKEN may be ``sha256:<hex>``."""
    out: dict[bytes, frozenset[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise UsageError(f"{where} line {n}: expected 'TOKEN SCOPES' (e.g. 'sha256:ab12… predict,read')")
        tok, scopes_text = parts
        scopes = frozenset(s.strip() for s in scopes_text.split(",") if s.strip())
        bad = scopes - set(SCOPES)
        if bad or not scopes:
            raise UsageError(f"{where} line {n}: unknown scope(s) {sorted(bad)}; scopes: {', '.join(SCOPES)}")
        if tok.startswith("sha256:"):
            try:
                digest = bytes.fromhex(tok[7:])
            except ValueError:
                digest = b""
            if len(digest) != 32:
                raise UsageError(f"{where} line {n}: sha256: needs 64 hex digits")
        else:
            check_token_text(tok, f"{where} line {n}: a token")
            digest = _digest(tok)
        out[digest] = scopes
    return out


class TokenStore:
    """Valid tokens and their scopes; re-reads ``path`` when it changes (checked at most
    every ``recheck`` seconds with one ``stat``), so rotation needs no restart."""

    def __init__(self, token: str | None = None, path: str | os.PathLike[str] | None = None,
                 recheck: float = 1.0) -> None:
        self.fixed: dict[bytes, frozenset[str]] = {}
        if token:
            check_token_text(token)
            self.fixed[_digest(token)] = frozenset(SCOPES)
        self.path = None if path is None else Path(path)
        self.recheck = recheck
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._from_file: dict[bytes, frozenset[str]] = {}
        self._lock = threading.Lock()
        if self.path is not None:
            try:
                self._load(initial=True)
            except OSError as e:
                raise UsageError(f"cannot read the token file {self.path}: {e.strerror}") from None

    @property
    def enabled(self) -> bool:
        return bool(self.fixed) or self.path is not None

    def _load(self, initial: bool = False) -> None:
        assert self.path is not None
        st = os.stat(self.path)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        if initial and st.st_mode & 0o077 and os.name == "posix":
            log.warning("token file %s is readable by other users (chmod 600 it)", self.path)
        try:
            tokens = parse_token_file(self.path.read_text(encoding="utf-8"), f"token file {self.path.name}")
        except (UsageError, UnicodeDecodeError) as e:
            if initial:
                raise UsageError(str(e)) from None
            log.error("token file %s not reloaded (the previous tokens stay valid): %s", self.path, e)
            self._stamp = stamp
            return
        self._from_file, self._stamp = tokens, stamp
        if not initial:
            log.warning("token file %s reloaded: %d token(s)", self.path, len(tokens))

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self.path is None or now - self._checked < self.recheck:
            return
        with self._lock:
            if now - self._checked < self.recheck:
                return
            self._checked = now
            try:
                self._load()
            except OSError as e:
                log.error("token file %s unreadable (the previous tokens stay valid): %s", self.path, e)

    def scopes(self, authorization: bytes | None) -> frozenset[str] | None:
        """Scopes of the bearer token in an ``Authorization`` header; None if invalid."""
        if not authorization or authorization[:7].lower() != b"bearer ":
            return None
        given = authorization[7:].strip()
        if not given:
            return None
        self._maybe_reload()
        d = _digest(given)
        # compare digests in constant time against each entry (few tokens)
        found: frozenset[str] | None = None
        for table in (self.fixed, self._from_file):
            for k, v in table.items():
                if hmac.compare_digest(k, d):
                    found = v if found is None else found | v
        return found


def allowed(scopes: frozenset[str], need: str) -> bool:
    return need in scopes or "admin" in scopes


__all__ = ["HostAllowlist", "TokenStore", "hash_token", "parse_token_file", "media_type",
           "SCOPES", "JSON", "ARROW", "PARQUET", "BATCH_TYPES", "allowed"]
