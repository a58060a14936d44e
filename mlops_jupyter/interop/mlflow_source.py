"""Which MLflow store a user named, checked *before* MLflow is given it.

MLflow's own client reads every kind of store (file store, SQL store, REST server), so
the import and export go through it. But MLflow is generous in ways that hurt here:

- its SQL store creates its tables in any database it is pointed at (a mistyped path
  would turn the user's file, or our own ``.mlops/mlops.db``, into an MLflow store);
- its file store creates a ``Default`` experiment in any folder, and since 3.x refuses
  to open at all unless ``MLFLOW_ALLOW_FILE_STORE`` is set;
- its REST client retries an unreachable server with back-off for minutes.

So each source is checked first — exists, reachable, really an MLflow store — and
every failure is one clear error naming what is accepted. MLflow itself is imported
lazily (it costs about a second), only by the import/export commands.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mlops_jupyter.config import redact_url
from mlops_jupyter.errors import (
    MlopsError,
    NotFoundError,
    StoreConnectionError,
    StoreError,
    UsageError,
)

ACCEPTED = (
    "sqlite:///path/to/mlflow.db, an mlruns/ folder (or file:///…/mlruns), "
    "postgresql://user@host/db (or mysql://…), or an http(s):// tracking server"
)
#: tables every MLflow SQL store has had since 1.x
MLFLOW_TABLES = {"experiments", "runs", "metrics", "params", "tags", "alembic_version"}
_SQL_SCHEMES = ("postgresql", "postgres", "mysql", "mssql")


@dataclass(frozen=True)
class Source:
    """A checked MLflow tracking URI."""

    uri: str  # what MLflow's client is given
    kind: str  # sqlite | file | sql | http
    shown: str  # for messages: password hidden
    exists: bool = True  # False: an export target MLflow will create

    def __str__(self) -> str:
        return self.shown


def load_mlflow() -> ModuleType:
    """Import MLflow (an optional extra) without telemetry, or say how to install it."""
    # MLflow sends usage telemetry by default; this package sends nothing anywhere
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # reading a file store is the point of the import; 3.x refuses it without this
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        import mlflow
    except ImportError as e:
        raise UsageError(
            f"MLflow is not installed ({e}): pip install 'mlops-jupyter[mlflow]'"
        ) from None
    return mlflow


def store_label(st: Any) -> str:
    """How our store is named in reports (password hidden)."""
    url = getattr(getattr(st, "config", None), "db_url", None)
    return redact_url(url) if url else "this store"


@contextmanager
def quiet() -> Iterator[None]:
    """No MLflow download bars inside our own progress bar (restored afterwards)."""
    var = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    old = os.environ.get(var)
    os.environ[var] = "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = old


@contextmanager
def pinned(uri: str) -> Iterator[None]:
    """MLflow's *default* tracking URI set to ``uri`` while we work, then restored.

    Some of MLflow's calls ignore the client's URI: on a file store,
    ``search_registered_models`` resolves MLflow 3's logged models through the default
    tracking URI, which creates ``./mlflow.db`` in the working folder. Pointing the
    default at the store being read keeps every call on it."""
    try:
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri
    except ImportError:  # a future MLflow without it: its calls use the client's URI
        yield
        return
    with _use_tracking_uri(uri):
        yield


@contextmanager
def mlflow_errors(what: str) -> Iterator[None]:
    """MLflow's own failures (a REST error, a broken store) as one clear error."""
    try:
        yield
    except MlopsError:
        raise
    except Exception as e:
        from mlflow.exceptions import MlflowException

        if not isinstance(e, MlflowException | OSError):
            raise
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise StoreError(
            f"{what} ({type(e).__name__}: {first}); what was done so far is kept, and "
            "running it again continues where this stopped"
        ) from None


def client(source: Source) -> Any:
    """MLflow's own client for the tracking and registry of ``source``."""
    load_mlflow()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=source.uri, registry_uri=source.uri)


def paged(fn: Any, **kw: Any) -> list[Any]:
    """Every page of one of MLflow's paged searches."""
    out: list[Any] = []
    token = None
    while True:
        page = fn(page_token=token, **kw)
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def resolve(source: object, *, for_export: bool = False) -> Source:
    """Check ``source`` and return what to hand to MLflow.

    For an import the store must exist and be an MLflow store. For an export a missing
    SQLite file or folder is fine (MLflow creates it), but an existing one must be an
    MLflow store or empty — never a database or folder of something else.
    """
    if not isinstance(source, str | os.PathLike) or not str(source).strip():
        raise UsageError(f"an MLflow source is required: {ACCEPTED}")
    text = str(source).strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    base = scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return _sqlite(text, for_export)
    if base in _SQL_SCHEMES:
        return _sql(text, for_export)
    if scheme in ("http", "https"):
        return _http(text)
    if scheme == "file":
        from urllib.parse import unquote, urlparse

        return _folder(Path(unquote(urlparse(text).path)), for_export)
    if scheme or text.lower().startswith("databricks"):
        raise UsageError(f"unknown MLflow source {redact_url(text)!r}: use {ACCEPTED}")
    return _folder(Path(text).expanduser(), for_export)


def _sqlite(text: str, for_export: bool) -> Source:
    from mlops_jupyter.store.foreign import sqlite_table_names

    rest = text.split("://", 1)[1]
    if not rest.startswith("/") or rest == "/":
        raise UsageError(f"SQLite URL {text!r} has no file path: write sqlite:///mlflow.db")
    path = Path(rest[1:].split("?", 1)[0])
    if not path.exists():
        if for_export:
            return Source(text, "sqlite", text, exists=False)
        raise NotFoundError(f"no MLflow database at {str(path)!r} (from {text!r}); nothing was changed")
    if path.is_dir():
        raise UsageError(f"{str(path)!r} is a folder, not an SQLite file: for a file store pass the folder itself")
    tables = sqlite_table_names(path)
    _check_tables(tables, text, for_export)
    return Source(text, "sqlite", text, exists=bool(tables))


def _sql(text: str, for_export: bool) -> Source:
    from mlops_jupyter.store.foreign import sql_table_names

    uri = text
    scheme, rest = text.split("://", 1)
    if scheme.lower() in ("postgresql", "postgres"):
        # MLflow passes the URL to SQLAlchemy, whose default PostgreSQL driver is
        # psycopg2; this package ships psycopg (3)
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            uri = f"postgresql+psycopg://{rest}"
    tables = sql_table_names(uri)
    _check_tables(tables, redact_url(text), for_export)
    return Source(uri, "sql", redact_url(text), exists=bool(tables))


def _check_tables(tables: set[str], shown: str, for_export: bool) -> None:
    if MLFLOW_TABLES <= tables or (for_export and not tables):
        return
    found = ", ".join(sorted(tables)[:8]) or "no tables"
    raise UsageError(
        f"{shown} is not an MLflow store: it has {found}, not MLflow's tables "
        f"({', '.join(sorted(MLFLOW_TABLES))}); nothing was changed. Accepted: {ACCEPTED}"
    )


def _folder(path: Path, for_export: bool) -> Source:
    shown = str(path)
    if path.is_file():
        hint = f" (for an SQLite store write sqlite:///{path})" if path.suffix in (".db", ".sqlite") else ""
        raise UsageError(f"{shown!r} is a file, not an MLflow store{hint}. Accepted: {ACCEPTED}")
    if not path.exists():
        if for_export:
            return Source(str(path.resolve()), "file", shown, exists=False)
        raise NotFoundError(f"no MLflow store at {shown!r}: the folder does not exist. Accepted: {ACCEPTED}")
    children = list(path.iterdir())
    looks = any((c / "meta.yaml").is_file() for c in children if c.is_dir())
    if not looks and not (for_export and not children):
        raise UsageError(
            f"{shown!r} is not an MLflow store: an mlruns/ folder holds one folder per "
            f"experiment with a meta.yaml; nothing was changed. Accepted: {ACCEPTED}"
        )
    return Source(str(path.resolve()), "file", shown, exists=looks)


def _http(text: str) -> Source:
    """Ask the server one cheap MLflow question, with a short timeout."""
    import base64
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import unquote, urlsplit, urlunsplit

    uri = text.rstrip("/")
    shown = redact_url(uri)
    parts = urlsplit(uri)
    headers = {"Content-Type": "application/json", **_auth_headers()}
    if parts.username is not None:  # user:password@host: sent as basic auth, not in the URL
        cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    try:
        probe = urllib.request.Request(
            urlunsplit(parts) + "/api/2.0/mlflow/experiments/search",
            data=json.dumps({"max_results": 1}).encode(), headers=headers, method="POST",
        )
    except ValueError as e:
        raise UsageError(f"invalid tracking server URL {shown}: {e}") from None
    try:
        with urllib.request.urlopen(probe, timeout=15) as resp:  # noqa: S310 - http(s) only
            raw = resp.read(1_000_000)
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise StoreConnectionError(
                f"the MLflow server at {shown} refused access (HTTP {e.code}): set "
                "MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            ) from None
        raise UsageError(
            f"{shown} is not an MLflow tracking server: it answered HTTP {e.code} to "
            f"MLflow's REST API (/api/2.0/mlflow/…). Accepted: {ACCEPTED}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise StoreConnectionError(f"cannot reach an MLflow tracking server at {shown}: {reason}") from None
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UsageError(f"{shown} is not an MLflow tracking server: its answer is not MLflow's JSON")
    return Source(uri, "http", shown)


def _auth_headers() -> dict[str, str]:
    import base64

    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, pw = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and pw:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}
    return {}
