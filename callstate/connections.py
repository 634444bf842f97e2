"""uvicorn's HTTP/1.1 protocol, bounded so that no client can exhaust the server.

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
- **A lean path for one route** (the CometD endpoint, where every idle client returns once per
  long-poll): a ``POST`` under ``lean_prefix`` skips uvicorn's request cycle. The protocol keeps
  one small record of the request, hands the handler the same ``scope`` fields and ``receive``
  an ASGI app gets (the body, then ``http.disconnect`` once the socket closes), and writes the
  handler's answer in one write, head and body together. Keep-alive, the bounds above and
  shutdown behave as on uvicorn's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Final

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .wire import dumps

__all__ = ["DISCONNECTED", "Answer", "Lean", "Limits", "bounded_protocol", "raise_open_file_limit"]

#: what a lean handler answers: status, extra headers (lower-case names), JSON body; None: the
#: client went away (nothing is written)
Answer = tuple[int, Sequence[tuple[str, str]], bytes] | None
#: a lean handler: (scope, receive) -> its answer, as an ASGI app would get them
Lean = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]]], Awaitable[Answer]]
#: the scope key of a lean request's ``() -> future`` that is set when the client goes
DISCONNECTED: Final = "callstate.disconnected"
#: a lean request's body is cut off (the connection closed) past this many bytes
_MOST_BODY: Final = 1 << 20

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


def _response(status: bytes, code: int, message: str, *extra: bytes) -> bytes:
    body = dumps({"statusCode": code, "statusMessage": message})
    head = [
        b"HTTP/1.1 " + status,
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


_MALFORMED: Final = _response(b"400 Bad Request", 1, "malformed HTTP request")
_LATE: Final = _response(b"408 Request Timeout", 1, "the request did not arrive in time")
_REASONS: Final = {status.value: status.phrase.encode() for status in HTTPStatus}


class _Request:
    """A request on the lean path: what the handler is given, and how it ends."""

    __slots__ = ("body", "complete", "gone", "headers", "keep_alive", "path", "query", "read")

    def __init__(
        self, path: str, query: bytes, headers: list[tuple[bytes, bytes]], keep_alive: bool
    ) -> None:
        self.path = path
        self.query = query
        self.headers = headers
        self.keep_alive = keep_alive
        self.body = bytearray()
        self.complete = False
        self.read = False
        #: set when the connection closes
        self.gone: asyncio.Future[None] | None = None


class _Bounded(HttpToolsProtocol):
    """One connection (see the module's notes); ``limits`` is set on the class ``bounded_protocol``
    makes."""

    limits: ClassVar[Limits] = Limits()
    #: the handler of the lean path, and the path it takes (see the module's notes)
    lean: ClassVar[Lean | None] = None
    lean_prefix: ClassVar[bytes] = b"/"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        #: a request has begun and not all of it has arrived
        self._arriving = False
        #: the request on the lean path, from its head until its answer is written
        self._request: _Request | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        limit = self.limits.max_connections
        if len(self.connections) > limit:
            refusal = _response(
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
        if self._request is not None:  # pipelined behind a lean request: not taken
            self.transport.close()
            return
        self._arriving = True
        self._arm()
        # uvicorn's own beginning, less its scope: built in on_headers_complete, for a request
        # that takes uvicorn's path (a lean one never needs it, nor keeps it while held)
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        lean = type(self).lean  # (read on the class: a function there is not bound to self)
        if (
            lean is not None
            and self.parser.get_method() == b"POST"
            and not self.expect_100_continue
            and self.parser.get_http_version() == "1.1"
        ):
            url = httptools.parse_url(self.url)
            if url.path.startswith(self.lean_prefix) and b"%" not in url.path:
                keep_alive = self.parser.should_keep_alive()
                self._request = _Request(
                    url.path.decode("ascii"), url.query or b"", self.headers, keep_alive
                )
                return
        began = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()  # the scope, as uvicorn builds it
        self.url, self.headers, self.expect_100_continue = began
        self.scope["headers"] = self.headers
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        request = self._request
        if request is None:
            super().on_body(body)
        elif len(request.body) + len(body) > _MOST_BODY:
            self.transport.close()
        else:
            request.body += body

    def on_message_complete(self) -> None:
        self._arriving = False
        self._disarm()
        request = self._request
        if request is None:
            super().on_message_complete()
        elif not request.complete:
            request.complete = True
            task = self.loop.create_task(self._answer(request))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)

    async def _answer(self, request: _Request) -> None:
        lean = type(self).lean
        assert lean is not None

        def disconnected() -> asyncio.Future[None]:
            if request.gone is None:
                request.gone = self.loop.create_future()
                if self.transport.is_closing():
                    request.gone.set_result(None)
            return request.gone

        async def receive() -> dict[str, Any]:
            if not request.read:
                request.read = True
                return {"type": "http.request", "body": bytes(request.body), "more_body": False}
            await disconnected()
            return {"type": "http.disconnect"}

        scope = {
            "type": "http",
            "method": "POST",
            "path": request.path,
            "query_string": request.query,
            "headers": request.headers,
            # a future set when the client goes (what ``receive`` would say, for less)
            DISCONNECTED: disconnected,
        }

        try:
            answer = await lean(scope, receive)
        finally:
            self._request = None
        transport = self.transport
        if answer is None or transport.is_closing():
            return
        status, headers, body = answer
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
        for key, text in headers:
            head += (key.encode(), b": ", text.encode("latin-1"), b"\r\n")
        if not request.keep_alive:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", body)
        transport.write(b"".join(head))
        if request.keep_alive:
            self.on_response_complete()
        else:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        request = self._request
        if request is not None and request.gone is not None and not request.gone.done():
            request.gone.set_result(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():  # as uvicorn does (without its warning otherwise)
                self.handle_websocket_upgrade()
        except httptools.HttpParserError:
            self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        self.transport.write(_MALFORMED)
        self.transport.close()

    def shutdown(self) -> None:
        if self._arriving:  # half-sent: nothing to wait for
            self.transport.close()
            return
        if self._request is not None:  # closes once answered
            self._request.keep_alive = False
            return
        super().shutdown()


def bounded_protocol(
    limits: Limits, lean: Lean | None = None, lean_prefix: bytes = b"/"
) -> type[_Bounded]:
    """uvicorn's HTTP protocol class with these ``limits`` (give it as ``uvicorn.Config(http=)``;
    ``limits.idle_timeout`` goes to its ``timeout_keep_alive``), and ``POST``s under
    ``lean_prefix`` answered by ``lean`` (its class attributes: they may be set later)."""
    return type(
        "BoundedHttp", (_Bounded,), {"limits": limits, "lean": lean, "lean_prefix": lean_prefix}
    )
