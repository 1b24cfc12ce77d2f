"""Read timeouts: a client gets so long to send its request headers, and so long for its body.

uvicorn bounds only the idle time between requests (`timeout_keep_alive`):
a client that trickles its headers a byte at a time, or sends a body slower
than anyone would (slowloris), holds a connection, and with enough of them
every connection, for as long as it likes. `TimedH11Protocol` is uvicorn's
own h11 protocol with two deadlines on top: the headers of each request must
be complete `header_timeout` seconds after its first byte (or after the
connection opened), and its body `body_timeout` seconds after the headers.
A client that misses one is answered 408 (problem+json) when no response has
begun, and the connection is closed.

The deadlines are total, not per read: sending a byte now and then does not
extend them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("services.kernel.read_timeouts")

_BODY = json.dumps(
    {
        "type": "about:blank",
        "title": "Request Timeout",
        "status": 408,
        "detail": "The request was not received in time.",
    }
).encode()
_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"Content-Type: application/problem+json\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with header and body read deadlines (set by `timed_protocol`)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase: str | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._follow()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request may have been read from the buffer just now.
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _follow(self) -> None:
        """Arm the deadline of the phase the request is in now (none once it is all in)."""
        state = self.conn.their_state
        phase = "headers" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        if phase == self._phase:
            return
        self._cancel()
        self._phase = phase
        if phase is not None:
            timeout = self.header_timeout if phase == "headers" else self.body_timeout
            self._deadline = self.loop.call_later(timeout, self._expired, phase)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if phase == "headers" and not self.conn.trailing_data[0]:
            # Not a byte of a request since the connection opened: nothing to answer.
            self.transport.close()
            return
        log.warning("request read timed out", extra={"phase": phase})
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_RESPONSE)
        self.transport.close()


def timed_protocol(header_timeout: float, body_timeout: float) -> type[TimedH11Protocol]:
    """The protocol class for uvicorn's `http=` with these deadlines, in seconds."""
    return type(
        "TimedH11Protocol",
        (TimedH11Protocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )
