"""The service's HTTP connections: a deadline for each request head.

uvicorn times a connection out only between requests (its keep-alive timer, started after a
response and stopped by the first byte of the next request). A client that connects and sends
nothing, or a request head a byte at a time, held its connection for ever: enough of them and
the process runs out of file descriptors while no kiosk can connect. Here every connection must
deliver a complete request head (request line and headers: an HTTP request or a WebSocket
upgrade) within ``--idle-timeout`` of connecting or of its previous response, or it is closed.
A request answered before its body arrived (401, 413, 503 ...) gets the same deadline for the
rest of its body and the next head. The body of an upload and a WebSocket stream have their own
limits (:mod:`rtliveness.serve.app`). uvicorn's h11 implementation is used whatever else is
installed (``uvicorn[standard]``'s httptools is not).
"""

from __future__ import annotations

import asyncio

__all__ = ["head_deadline_protocol"]


def head_deadline_protocol(seconds: float) -> type:
    """uvicorn's h11 HTTP protocol, closing a connection that has not sent a complete request
    head within ``seconds`` (pass it as ``uvicorn.Config(http=...)``)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadDeadline(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def _in_request(self) -> bool:
            """A whole head arrived (an upgrade among them) and its answer is not complete."""
            return self.conn.their_state is not h11.IDLE and self.conn.our_state is not h11.DONE

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._in_request():
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # waiting for the next request's head, or for the rest of a body answered before it
            # arrived (401, 413, 503 ...): the deadline covers both, else a byte of body now and
            # then held the connection for ever
            if not self.transport.is_closing() and not self._in_request():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(seconds, self._no_head)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _no_head(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeadDeadline
