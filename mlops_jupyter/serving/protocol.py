"""uvicorn's HTTP protocol with a header-read deadline (slowloris).

uvicorn arms its keep-alive timer only after a response, so a connection that opens and
sends half a request line and then nothing stays open for ever; a few hundred of them
exhaust ``limit_concurrency`` and real requests get 503. Here every request's headers
must arrive within ``header_timeout`` seconds of its first byte (or of the connection
opening), else the connection is closed. The check needs no parser hook: a request whose
headers completed has a new request cycle, so "same cycle as when armed, and it is
finished (or absent)" means the headers are still pending.
"""

from __future__ import annotations

import asyncio
from typing import Any

try:  # the fast C parser when installed; h11 otherwise
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - httptools is a dependency
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]

DEFAULT_HEADER_TIMEOUT = 5.0


class HeaderDeadlineProtocol(_Base):  # type: ignore[misc,valid-type]
    header_timeout: float = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._armed_cycle: Any = None

    def _arm(self) -> None:
        self._armed_cycle = self.cycle
        self._deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _expire(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is self._armed_cycle and (cycle is None or cycle.response_complete):
            if not self.transport.is_closing():
                self.transport.close()

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if (cycle is None or cycle.response_complete) and (self._deadline is None or self._armed_cycle is not cycle):
            # the first bytes of a new request on a kept-alive connection: its own deadline
            if self._deadline is not None:
                self._deadline.cancel()
            self._arm()
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)


def protocol_class(header_timeout: float) -> type:
    """A protocol class with this deadline (uvicorn takes a class, not an instance)."""
    if header_timeout == DEFAULT_HEADER_TIMEOUT:
        return HeaderDeadlineProtocol
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": float(header_timeout)})


__all__ = ["HeaderDeadlineProtocol", "protocol_class", "DEFAULT_HEADER_TIMEOUT"]
