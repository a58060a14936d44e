"""Running the REST app: in the foreground (``mlops serve``) or in a background thread
of a notebook kernel (``%mlops serve``).

Safety rules enforced before anything listens:

- binding to anything but a loopback address requires a bearer token
  (``MLOPS_SERVE_TOKEN`` or ``token=``), at least 16 characters long;
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

ENV_TOKEN = "MLOPS_SERVE_TOKEN"
MIN_TOKEN = 16
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
    if tok is not None and (len(tok) < MIN_TOKEN or any(c.isspace() for c in tok)):
        raise UsageError(
            f"the serving token must be at least {MIN_TOKEN} characters without spaces "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return tok


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise UsageError(
            f"refusing to listen on {host!r} without a token: anyone on the network could "
            f"call the models. Set {ENV_TOKEN} (clients send 'Authorization: Bearer …'), or "
            "bind to 127.0.0.1"
        )


def _check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UsageError(f"port must be an integer from 0 to 65535, got {port!r}")
    return port


def build(
    refs: Sequence[str] | None, *, host: str = "127.0.0.1", port: int = 8080,
    token: str | None = None, max_body: int = DEFAULT_MAX_BODY, log_level: str = "warning",
    max_rows: int | None = None, log_inputs: str | None = None,
) -> Any:
    """A configured ``uvicorn.Server`` (not started) after every safety check."""
    import uvicorn

    tok = resolve_token(token)
    check_bind(host, tok)
    _check_port(port)
    if refs is not None:
        if not refs:
            raise UsageError("give at least one model reference to serve, e.g. churn@production")
        for r in refs:
            registry.get(r)  # fails now, naming what exists, rather than at request time
    app = create_app(refs, token=tok, max_body=max_body, max_rows=max_rows, log_inputs=log_inputs)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False,
        server_header=False, date_header=False, lifespan="off",
        timeout_keep_alive=5, limit_concurrency=256,
    )
    return uvicorn.Server(config)


def serve(
    refs: Sequence[str] | None, *, host: str = "127.0.0.1", port: int = 8080,
    token: str | None = None, max_body: int = DEFAULT_MAX_BODY, log_level: str = "warning",
    max_rows: int | None = None, log_inputs: str | None = None,
) -> None:
    """Serve in the foreground until interrupted (``mlops serve churn@production``)."""
    server = build(refs, host=host, port=port, token=token, max_body=max_body,
                   log_level=log_level, max_rows=max_rows, log_inputs=log_inputs)
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
        if self.thread is not None:
            self.thread.join(timeout)
        close_log(self.server)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BackgroundServer {state} {self.url} refs={self.refs}>"


__all__ = ["serve", "build", "BackgroundServer", "check_bind", "is_loopback", "ENV_TOKEN"]
