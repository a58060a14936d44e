"""Running the REST app: in the foreground (``mlops serve``) or in a background thread
of a notebook kernel (``%mlops serve``).

Safety rules enforced before anything listens:

- binding to anything but a loopback address requires a bearer token
  (``MLOPS_SERVE_TOKEN``, ``token=`` or a token file), at least 16 characters long;
- request headers must arrive within ``header_timeout`` seconds (slow connections are
  closed, :mod:`.protocol`); only allowed ``Host`` names are answered (:mod:`.security`);
- the references to serve are resolved first, so a typo fails at start, not at the
  first request.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from mlops_jupyter.errors import UsageError
from mlops_jupyter.models import registry
from mlops_jupyter.serving.app import DEFAULT_MAX_BODY, create_app
from mlops_jupyter.serving.batching import DEFAULT_MAX_ROWS, DEFAULT_MAX_WAIT
from mlops_jupyter.serving.protocol import DEFAULT_HEADER_TIMEOUT, protocol_class
from mlops_jupyter.serving.security import MIN_TOKEN, check_token_text

ENV_TOKEN = "MLOPS_SERVE_TOKEN"
ENV_TOKEN_FILE = "MLOPS_SERVE_TOKEN_FILE"
ENV_WORKER_CONFIG = "MLOPS_SERVE_WORKER_CONFIG"
DEFAULT_LIMIT_CONCURRENCY = 2048
log = logging.getLogger("mlops_jupyter.serving")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def resolve_token(token: str | None) -> str | None:
    tok = token if token is not None else os.environ.get(ENV_TOKEN) or None
    if tok is not None:
        check_token_text(tok)
    return tok


def check_bind(host: str, token: str | None, token_file: str | None = None) -> None:
    if not is_loopback(host) and not token and not token_file:
        raise UsageError(
            f"refusing to listen on {host!r} without a token: anyone on the network could "
            f"call the models. Set {ENV_TOKEN} (clients send 'Authorization: Bearer …'), or "
            "bind to 127.0.0.1"
        )


def _check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UsageError(f"port must be an integer from 0 to 65535, got {port!r}")
    return port


def _options(refs: Sequence[str] | None, **kw: Any) -> dict[str, Any]:
    """Every check that must pass before anything listens; the app's options."""
    tok = resolve_token(kw.get("token"))
    token_file = kw.get("token_file") or os.environ.get(ENV_TOKEN_FILE) or None
    host = kw.get("host", "127.0.0.1")
    check_bind(host, tok, token_file)
    _check_port(kw.get("port", 8080))
    if refs is not None:
        if not refs:
            raise UsageError("give at least one model reference to serve, e.g. churn@production")
        for r in refs:
            registry.get(r)  # fails now, naming what exists, rather than at request time
    ht = kw.get("header_timeout", DEFAULT_HEADER_TIMEOUT)
    if not isinstance(ht, int | float) or not 0 < ht <= 3600:
        raise UsageError(f"header_timeout must be a number of seconds in (0, 3600], got {ht!r}")
    wait = kw.get("batch_wait", DEFAULT_MAX_WAIT)
    if not isinstance(wait, int | float) or not 0 <= wait <= 1:
        raise UsageError(f"batch wait must be from 0 to 1000 ms, got {wait!r} s")
    rows = kw.get("batch_rows", DEFAULT_MAX_ROWS)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise UsageError(f"batch rows must be a positive integer, got {rows!r}")
    return {
        "refs": None if refs is None else list(refs), "token": tok, "token_file": token_file,
        "max_body": kw.get("max_body", DEFAULT_MAX_BODY), "max_rows": kw.get("max_rows"),
        "log_inputs": kw.get("log_inputs"), "bind_host": host,
        "allowed_hosts": list(kw.get("allowed_hosts") or ()), "batch_wait": float(wait),
        "batch_rows": rows, "refresh": kw.get("refresh", 0.2),
    }


def _uvicorn_kwargs(host: str, port: int, log_level: str, header_timeout: float) -> dict[str, Any]:
    import importlib.util

    return {
        "host": host, "port": port, "log_level": log_level, "access_log": False,
        "server_header": False, "date_header": False, "lifespan": "off",
        "timeout_keep_alive": 5, "limit_concurrency": DEFAULT_LIMIT_CONCURRENCY,
        "http": protocol_class(header_timeout),
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    }


def build(
    refs: Sequence[str] | None, *, host: str = "127.0.0.1", port: int = 8080,
    token: str | None = None, max_body: int = DEFAULT_MAX_BODY, log_level: str = "warning",
    max_rows: int | None = None, log_inputs: str | None = None, token_file: str | None = None,
    allowed_hosts: Sequence[str] = (), header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    batch_wait: float = DEFAULT_MAX_WAIT, batch_rows: int = DEFAULT_MAX_ROWS,
    refresh: float = 0.2,
) -> Any:
    """A configured ``uvicorn.Server`` (not started) after every safety check.

    ``batch_wait`` (seconds) / ``batch_rows``: adaptive batching (``batch_rows=1`` is
    off); ``refresh``: seconds between background re-resolutions of served references;
    ``header_timeout``: seconds a request's headers may take to arrive."""
    import uvicorn

    opts = _options(refs, host=host, port=port, token=token, max_body=max_body, max_rows=max_rows,
                    log_inputs=log_inputs, token_file=token_file, allowed_hosts=allowed_hosts,
                    header_timeout=header_timeout, batch_wait=batch_wait, batch_rows=batch_rows,
                    refresh=refresh)
    app = create_app(**opts)
    if refs is not None:
        app.state.predictor.preload(refs)  # no request waits for a load
    app.state.predictor.start_watching()
    config = uvicorn.Config(app, **_uvicorn_kwargs(host, port, log_level, header_timeout))
    return uvicorn.Server(config)


def worker_app() -> Any:
    """The app factory each ``--workers`` process calls (options come in the environment,
    checked once by the parent): its own predictor, watcher, batcher and served log."""
    import json

    opts = json.loads(os.environ[ENV_WORKER_CONFIG])
    app = create_app(**opts)
    if opts["refs"] is not None:
        app.state.predictor.preload(opts["refs"])
    app.state.predictor.start_watching()
    return app


def serve_workers(refs: Sequence[str] | None, *, workers: int, host: str = "127.0.0.1",
                  port: int = 8080, log_level: str = "warning",
                  header_timeout: float = DEFAULT_HEADER_TIMEOUT, **kw: Any) -> None:
    """``mlops serve --workers N``: N processes behind one listening socket (uvicorn's
    supervisor restarts a dead one). Each re-resolves aliases, checks hashes and falls
    back on its own, exactly as a single process does. ``--log-inputs`` writes one
    dataset version per worker batch."""
    import json

    import uvicorn

    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise UsageError(f"workers must be an integer from 1 to 64, got {workers!r}")
    opts = _options(refs, host=host, port=port, header_timeout=header_timeout, **kw)
    os.environ[ENV_WORKER_CONFIG] = json.dumps(opts)
    from mlops_jupyter.serving import protocol

    protocol.HeaderDeadlineProtocol.header_timeout = float(header_timeout)
    kwargs = _uvicorn_kwargs(host, port, log_level, header_timeout)
    kwargs["http"] = protocol.HeaderDeadlineProtocol  # importable by name in the workers
    kwargs["lifespan"] = "on"  # each worker writes its last served-input batch on exit
    import inspect

    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        # a worker imports scikit-learn and loads its models before it answers; on a busy
        # machine that takes longer than uvicorn's 5 s, and it would be killed in a loop
        kwargs["timeout_worker_healthcheck"] = 120
    uvicorn.run("mlops_jupyter.serving.server:worker_app", factory=True, workers=workers, **kwargs)


def serve(
    refs: Sequence[str] | None, *, host: str = "127.0.0.1", port: int = 8080,
    token: str | None = None, max_body: int = DEFAULT_MAX_BODY, log_level: str = "warning",
    max_rows: int | None = None, log_inputs: str | None = None, **kw: Any,
) -> None:
    """Serve in the foreground until interrupted (``mlops serve churn@production``)."""
    server = build(refs, host=host, port=port, token=token, max_body=max_body,
                   log_level=log_level, max_rows=max_rows, log_inputs=log_inputs, **kw)
    try:
        server.run()
    finally:
        close_log(server)


def close_log(server: Any) -> str | None:
    """Write the last batch of served inputs, if the server logs them."""
    served_log = getattr(server.config.app.state, "served_log", None)
    return served_log.close() if served_log is not None else None


class BackgroundServer:
    """A server in a daemon thread of this process (a notebook kernel)."""

    def __init__(self, refs: Sequence[str] | None, **kwargs: Any) -> None:
        self.refs = list(refs) if refs is not None else None
        self.server = build(self.refs, **kwargs)
        self.host = kwargs.get("host", "127.0.0.1")
        self.thread: threading.Thread | None = None
        self.started_at: float | None = None
        self.error: BaseException | None = None

    def start(self, timeout: float = 15.0) -> BackgroundServer:
        def run() -> None:
            try:
                self.server.run()
            except BaseException as e:  # noqa: BLE001 - reported by status()
                self.error = e

        self.thread = threading.Thread(target=run, name="mlops-serve", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                why = f": {self.error}" if self.error else " (is the port in use?)"
                raise UsageError(f"the model server did not start on {self.host}:{self.server.config.port}{why}")
            time.sleep(0.01)
        self.started_at = time.time()
        return self

    @property
    def port(self) -> int:
        for s in getattr(self.server, "servers", []) or []:
            for sock in s.sockets:
                return int(sock.getsockname()[1])
        return int(self.server.config.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive() and bool(self.server.started)

    def status(self) -> dict[str, Any]:
        pred = self.server.config.app.state.predictor
        return {
            "running": self.running, "url": self.url, "refs": self.refs,
            "uptime_s": None if self.started_at is None else round(time.time() - self.started_at, 1),
            **pred.status(),
        }

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.server.config.app.state.predictor.stop_watching()
        if self.thread is not None:
            self.thread.join(timeout)
        close_log(self.server)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BackgroundServer {state} {self.url} refs={self.refs}>"


__all__ = ["serve", "serve_workers", "build", "worker_app", "BackgroundServer", "check_bind",
           "is_loopback", "ENV_TOKEN", "ENV_TOKEN_FILE", "MIN_TOKEN"]
