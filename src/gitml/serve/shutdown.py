"""Graceful shutdown of kept-alive HTTP connections: no client ever sees a connection reset.

On SIGTERM uvicorn stops accepting, calls `shutdown()` on every open connection, waits for them
to close (at most `serve.shutdown_timeout_seconds`), then runs the app's shutdown (the batcher
drains, the prediction log closes). Its own protocol closes an idle kept-alive connection at
once with `transport.close()`. A client that has just sent its next request on it then gets a
reset: the kernel answers unread or late data on a closed socket with RST.

`GracefulHttpToolsProtocol` changes what happens to a connection
when the server stops:

- a request in flight finishes; its response carries `Connection: close` and the connection
  closes after it (uvicorn's behaviour, kept);
- an idle connection stays open for `idle_seconds`: its next request is answered normally with
  `Connection: close`, then the connection closes; a client that sends none meanwhile sees a
  clean close: the server half-closes (FIN), discards whatever still arrives, and closes once the
  client closes its side (or after `DRAIN_SECONDS`).

The keep-alive timeout of normal operation closes idle connections the same clean way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: How long a half-closed connection may keep sending before it is closed outright.
DRAIN_SECONDS = 5.0


class GracefulClose:
    """The shutdown behaviour, mixed into uvicorn's HTTP protocols (see the module docstring)."""

    #: How long an idle connection may still send one request once the server stops.
    idle_seconds: float = 1.0

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    _stopping = False
    _draining = False
    _idle_timer: asyncio.TimerHandle | None = None

    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def shutdown(self) -> None:
        """Called by uvicorn when the server stops: finish, or close after one more request."""
        self._stopping = True
        if self._busy():
            self.cycle.keep_alive = False
            return
        self._unset_keepalive_if_required()  # type: ignore[attr-defined]
        self._idle_timer = self.loop.call_later(self.idle_seconds, self.close_cleanly)

    def _request_started(self) -> None:
        """A new request's headers arrived: while stopping, its response closes the connection."""
        if self._stopping and self.cycle is not None:
            self.cycle.keep_alive = False
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None

    def close_cleanly(self) -> None:
        """Half-close (FIN) an idle connection, drain what the client still sends, then close."""
        if self.transport.is_closing() or self._draining:
            return
        if self._busy():  # a request arrived after all: its response closes the connection
            self.cycle.keep_alive = False
            return
        self._draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(DRAIN_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def timeout_keep_alive_handler(self) -> None:
        """The keep-alive timeout of normal operation: the same clean close."""
        self.close_cleanly()


class GracefulHttpToolsProtocol(GracefulClose, HttpToolsProtocol):
    """uvicorn's httptools protocol with the graceful close."""

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # after our FIN: read and discard, so the kernel never resets the client
        super().data_received(data)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._request_started()

    def eof_received(self) -> None:
        if self._draining:
            self.transport.close()


def protocol_class(idle_seconds: float) -> type[GracefulHttpToolsProtocol]:
    """The server's HTTP protocol (httptools, a dependency) with `idle_seconds` set on it."""
    GracefulHttpToolsProtocol.idle_seconds = idle_seconds
    return GracefulHttpToolsProtocol
