"""uvicorn's HTTP/1.1 protocol, bounded so that no client can exhaust the server.

(``callstate.server`` serves its own app with ``callstate.lean_http``, which keeps the same
bounds; this protocol serves any ASGI app given to ``callstate.server.run`` around it.)

- **A request must arrive in time**: a connection that has not sent a whole request — head and
  body — within ``request_timeout`` seconds of opening, or of starting the request, is closed
  (with a JSON 408 if part of a request came). A slow sender cannot hold a connection, and with
  it a file descriptor, for longer.
- **Idle keep-alive connections close** after ``idle_timeout`` seconds without a request
  (uvicorn's keep-alive timer). A held long-poll is a request, not idle.
- **Open connections are bounded** (``max_connections``): past it a new connection gets a JSON
  503 (``Retry-After: 1``) and is closed at once. The server raises its own open-file limit to
  the hard limit at start, so the bound, not the operating system, says no.
- **Malformed HTTP gets a JSON 400** (statusCode 1) instead of uvicorn's plain text, without a
  log line per bad request.
- **A stop cuts half-sent requests**: on shutdown a connection whose request is still arriving is
  closed (its handler sees the client gone) instead of being waited for and then cancelled with
  error lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .wire import dumps

__all__ = ["Limits", "bounded_protocol", "raise_open_file_limit", "response"]

#: file descriptors kept free for the log, the listening socket and the rest of the process
_SPARE: Final = 64


@dataclass(frozen=True, slots=True)
class Limits:
    """How long a request may take to arrive, how long a connection may idle, how many may be
    open at once."""

    request_timeout: float = 10.0
    idle_timeout: float = 10.0
    max_connections: int = 16_384


def raise_open_file_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (+ spare), up to the hard limit;
    the number of connections it then allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    goal = wanted + _SPARE if hard == resource.RLIM_INFINITY else min(wanted + _SPARE, hard)
    if goal > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (goal, hard))
            soft = goal
    return max(1, min(wanted, soft - _SPARE))


def response(status: bytes, code: int, message: str, *extra: bytes) -> bytes:
    body = dumps({"statusCode": code, "statusMessage": message})
    head = [
        b"HTTP/1.1 " + status,
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


_MALFORMED: Final = response(b"400 Bad Request", 1, "malformed HTTP request")
_LATE: Final = response(b"408 Request Timeout", 1, "the request did not arrive in time")


class _Bounded(HttpToolsProtocol):
    """One connection (see the module's notes); ``limits`` is set on the class ``bounded_protocol``
    makes."""

    limits: ClassVar[Limits] = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        #: a request has begun and not all of it has arrived
        self._arriving = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        limit = self.limits.max_connections
        if len(self.connections) > limit:
            refusal = response(
                b"503 Service Unavailable",
                4,
                f"too many connections (the bound is {limit}): try again later",
                b"retry-after: 1",
            )
            self.transport.write(refusal)
            self.transport.close()
            return
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(self.limits.request_timeout, self._late)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _late(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            answered = self.cycle is not None and self.cycle.response_started
            if self._arriving and not answered:  # one answer to a request, never two
                self.transport.write(_LATE)
            self.transport.close()

    def on_message_begin(self) -> None:
        self._arriving = True
        self._arm()
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._arriving = False
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():  # as uvicorn does (without its warning otherwise)
                self.handle_websocket_upgrade()
        except httptools.HttpParserError:
            self.send_400response("")

    def send_400response(self, msg: str) -> None:
        self._disarm()
        self.transport.write(_MALFORMED)
        self.transport.close()

    def shutdown(self) -> None:
        if self._arriving:  # half-sent: nothing to wait for
            self.transport.close()
            return
        super().shutdown()


def bounded_protocol(limits: Limits) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class with these ``limits`` (give it as ``uvicorn.Config(http=)``;
    ``limits.idle_timeout`` goes to its ``timeout_keep_alive``)."""
    return type("BoundedHttp", (_Bounded,), {"limits": limits})
