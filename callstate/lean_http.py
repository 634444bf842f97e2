"""A small HTTP/1.1 protocol for the served app: every request straight to one handler.

uvicorn runs the server (sockets, signals, lifespan, shutdown), and its HTTP protocol serves
any ASGI app; but most of what a long-polling client costs the server per turn was that
protocol's request cycle — a scope, an event, a flow-control object, a task that reads the
body, two writes per answer — and most of its memory per held connect. The served app of
``callstate.server`` needs none of it: it answers each request whole (``Lean``: the ASGI
``scope`` fields it reads and ``receive``, in; status, headers and a JSON body, out). This
protocol gives it exactly that, with httptools (the parser uvicorn uses):

- one slotted record per connection and one per request; the handler is started when the
  request's head has arrived (it may answer before the body, a refusal unread); ``receive``
  gives the body once complete, then ``http.disconnect`` once the socket closes; the scope's
  ``DISCONNECTED`` gives that as one future (a held connect watches it with no task);
- the answer in one write, head and body; keep-alive as HTTP/1.1 says; requests sent before
  the previous answer (pipelining) are answered in order; ``HEAD`` answers have no body;
- the bounds of ``callstate.connections`` (``Limits``): a request must arrive within
  ``request_timeout`` (else closed, with a JSON 408 if part of it came), an idle keep-alive
  connection closes after ``idle_timeout``, open connections are bounded (a JSON 503 past
  it), malformed HTTP gets a JSON 400, bodies past ``MOST_BODY`` a JSON 413;
- a WebSocket upgrade is refused (JSON 403: the Calls API's CometD is long-polling);
- each refusal of its own (the 408, 503, 400, 413 and 403 above) gets an access line
  (``callstate.access``), as every request the handler answers does;
- shutdown (uvicorn calls ``shutdown``): an idle connection or one whose request is still
  arriving closes at once; one whose answer is being made closes once it is written.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from http import HTTPStatus
from time import perf_counter
from typing import Any, ClassVar, Final, cast

import httptools

from .access import refused
from .connections import Limits, response

__all__ = ["DISCONNECTED", "MOST_BODY", "Answer", "Lean", "LeanHttp", "Quick", "lean_protocol"]

#: what a handler answers: status, extra headers (lower-case names), JSON body; None: the client
#: went away (nothing is written)
Answer = tuple[int, Sequence[tuple[str, str]], bytes] | None
#: a handler: (scope, receive) -> its answer
Lean = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]]], Awaitable[Answer]]
#: a quick taker: (scope, body, respond) -> whether it took the request
Quick = Callable[[dict[str, Any], bytes, Callable[[Answer], None]], bool]
#: the scope key of a ``() -> future`` that is set when the client goes
DISCONNECTED: Final = "callstate.disconnected"
#: the largest request body taken (the Calls API refuses far less, with its own 413)
MOST_BODY: Final = 1 << 20
_REASONS: Final = {status.value: status.phrase.encode() for status in HTTPStatus}
_MALFORMED: Final = response(b"400 Bad Request", 1, "malformed HTTP request")
_LATE: Final = response(b"408 Request Timeout", 1, "the request did not arrive in time")
_TOO_BIG: Final = response(b"413 Content Too Large", 2, f"request body is over {MOST_BODY} bytes")
_NO_WEBSOCKET: Final = response(
    b"403 Forbidden", 3, "WebSocket is not served: CometD here is long-polling"
)
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Request:
    __slots__ = ("body", "complete", "done", "gone", "head", "headers", "keep_alive", "method")

    def __init__(self, method: str, headers: list[tuple[bytes, bytes]], keep_alive: bool) -> None:
        self.method = method
        self.headers = headers
        self.keep_alive = keep_alive
        #: the scope fields: path, query string
        self.head: tuple[str, bytes] = ("", b"")
        self.body = bytearray()
        self.complete = False
        #: set when the body is complete (made when the handler waits for it)
        self.done: asyncio.Future[None] | None = None
        #: set when the connection closes (made when asked for)
        self.gone: asyncio.Future[None] | None = None


class LeanHttp(asyncio.Protocol):
    """One connection (see the module's notes). ``handler`` and ``limits`` are set on the
    class ``lean_protocol`` makes."""

    handler: ClassVar[Lean | None] = None
    #: takes a whole request without a task when it can (a held poll): (scope, body,
    #: respond) -> whether it took it; ``respond`` is then called with the answer
    quick: ClassVar[Quick | None] = None
    limits: ClassVar[Limits] = Limits()

    __slots__ = (
        "arriving",
        "current",
        "headers",
        "loop",
        "parser",
        "queue",
        "request",
        "starting",
        "state",
        "stopping",
        "timer",
        "transport",
        "url",
    )

    def __init__(
        self,
        config: Any = None,
        server_state: Any = None,
        app_state: Any = None,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.loop = _loop or asyncio.get_event_loop()
        #: uvicorn's server state: ``connections``, ``tasks``, ``default_headers``
        self.state = server_state
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        #: the request whose head and body are being read, and the one being answered
        self.request: _Request | None = None
        self.current: _Request | None = None
        #: the request to begin once the data in hand is parsed
        self.starting: _Request | None = None
        #: requests read while another was being answered (pipelined), in order
        self.queue: deque[_Request] | None = None
        self.arriving = False
        self.stopping = False
        self.timer: asyncio.TimerHandle | None = None

    # -- the connection ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        connections = self.state.connections
        connections.add(self)
        limit = self.limits.max_connections
        if len(connections) > limit:
            message = f"too many connections (the bound is {limit}): try again later"
            self._close(response(b"503 Service Unavailable", 4, message, b"retry-after: 1"))
            return
        self._arm(self.limits.request_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        self._disarm()
        for request in (self.current, self.request):
            if request is not None and request.gone is not None and not request.gone.done():
                request.gone.set_result(None)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close(_NO_WEBSOCKET)
        except httptools.HttpParserError:
            self._close(_MALFORMED if not self._answered() else None)
        starting, self.starting = self.starting, None
        if starting is not None and self.transport is not None:
            self._start(starting)

    def shutdown(self) -> None:
        """The server stops: close now, or once the answer being made is written."""
        self.stopping = True
        if self.current is None or self.arriving:
            self._close(None)

    def _close(self, last: bytes | None) -> None:
        self._disarm()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if last is not None:
                transport.write(last)
                # the access line of a refusal no handler saw (the path, if its head came)
                url = self.url.partition(b"?")[0] if self.arriving else b""
                refused(None, url.decode("latin-1") or None, last, perf_counter())
            transport.close()

    def _answered(self) -> bool:
        """Whether the request arriving has been answered already (before its body)."""
        request = self.request
        return request is not None and request is not self.current and request.complete

    # -- timers -------------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._disarm()
        self.timer = self.loop.call_later(seconds, self._late)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _late(self) -> None:
        """The request did not arrive in time, or the connection idled too long."""
        self.timer = None
        request = self.request
        unanswered = self.arriving and (request is None or request is self.current)
        self._close(_LATE if unanswered and self.current is None else None)

    # -- the parser's callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.arriving = True
        self.url = b""
        self.headers = []
        if self.current is None:  # else the answer being made holds the timer back
            self._arm(self.limits.request_timeout)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        parser = self.parser
        if parser.should_upgrade():
            return  # feed_data raises HttpParserUpgrade: refused there
        for name, value in self.headers:  # a body that will be too big: refused unread
            if name == b"content-length" and value.isdigit() and int(value) > MOST_BODY:
                self._close(_TOO_BIG)
                return
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        request = _Request(parser.get_method().decode("ascii"), self.headers, keep_alive)
        url = httptools.parse_url(self.url)
        path = url.path.decode("latin-1")
        if "%" in path:
            path = urllib.parse.unquote(path)
        request.head = (path, url.query or b"")
        self.request = request
        if (b"expect", b"100-continue") in request.headers and self.transport is not None:
            self.transport.write(_CONTINUE)
        if self.current is None:  # begun once this data is parsed: its body may be in it
            self.current = self.starting = request
        else:
            if self.queue is None:
                self.queue = deque()
            self.queue.append(request)

    def on_body(self, body: bytes) -> None:
        request = self.request
        if request is None:
            return
        if len(request.body) + len(body) > MOST_BODY:
            self._close(_TOO_BIG if not self._answered() else None)
            return
        request.body += body

    def on_message_complete(self) -> None:
        self.arriving = False
        request = self.request
        if request is None:
            return
        request.complete = True
        if request.done is not None and not request.done.done():
            request.done.set_result(None)
        if self.current is None:  # answered already: idle now
            self.request = None
            self._arm(self.limits.idle_timeout)
        elif request is self.current:
            self._disarm()

    # -- answering ----------------------------------------------------------------------------
    def _start(self, request: _Request) -> None:
        self.current = request
        quick = type(self).quick
        if (
            request.complete
            and quick is not None
            and quick(self._scope(request), bytes(request.body), partial(self._end, request))
        ):
            return  # held without a task: ``_end`` answers
        task = self.loop.create_task(self._answer(request))
        tasks = self.state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _gone(self, request: _Request) -> asyncio.Future[None]:
        """A future set when the client of ``request`` goes."""
        if request.gone is None:
            request.gone = self.loop.create_future()
            if self.transport is None:
                request.gone.set_result(None)
        return request.gone

    def _scope(self, request: _Request) -> dict[str, Any]:
        path, query = request.head
        return {
            "type": "http",
            "method": request.method,
            "path": path,
            "query_string": query,
            "headers": request.headers,
            DISCONNECTED: partial(self._gone, request),
        }

    def _end(self, request: _Request, answer: Answer) -> None:
        """A request answered without a task (``quick``)."""
        self.current = None
        self._written(request, answer)

    async def _answer(self, request: _Request) -> None:
        handler = type(self).handler  # (read on the class: a function there is not bound)
        assert handler is not None

        def disconnected() -> asyncio.Future[None]:
            return self._gone(request)

        read = False

        async def receive() -> dict[str, Any]:
            nonlocal read
            if read:  # the body was given: what is left to tell is the client going
                await disconnected()
                return {"type": "http.disconnect"}
            read = True
            if not request.complete:
                request.done = self.loop.create_future()
                await asyncio.wait((request.done, disconnected()), return_when="FIRST_COMPLETED")
                if not request.complete:
                    return {"type": "http.disconnect"}
            return {"type": "http.request", "body": bytes(request.body), "more_body": False}

        try:
            answer = await handler(self._scope(request), receive)
        except BaseException:  # cancelled (a stop that could not wait): nothing more to say
            self._close(None)
            raise
        finally:
            self.current = None
        self._written(request, answer)

    def _written(self, request: _Request, answer: Answer) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if answer is None:  # the client went: nothing to write
            self._close(None)
            return
        status, headers, body = answer
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))]
        for name, value in self.state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head.append(_length_and_type(headers, len(body)))
        for key, text in headers:
            head += (key.encode(), b": ", text.encode("latin-1"), b"\r\n")
        # a connection whose request has not wholly arrived cannot carry another
        keep = request.keep_alive and request.complete and not self.stopping
        if not keep:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        if request.method != "HEAD":
            head.append(body)
        transport.write(b"".join(head))
        if not keep:
            self._close(None)
            return
        if self.request is request:
            self.request = None
        if self.queue:  # pipelined: the next one
            self._start(self.queue.popleft())
        elif self.arriving:  # the next request is on its way
            self._arm(self.limits.request_timeout)
        else:
            self._arm(self.limits.idle_timeout)

    # a client that does not read its answers is not read either
    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def eof_received(self) -> bool | None:
        return None


def _length_and_type(headers: Sequence[tuple[str, str]], length: int) -> bytes:
    """The Content-Length line, and Content-Type JSON unless the reply names its own type (the
    web page's files)."""
    if any(key == "content-type" for key, _ in headers):
        return b"content-length: %d\r\n" % length
    return b"content-type: application/json\r\ncontent-length: %d\r\n" % length


def lean_protocol(
    limits: Limits, handler: Lean | None = None, quick: Quick | None = None
) -> type[LeanHttp]:
    """The protocol class with these ``limits``, ``handler`` and ``quick`` (class attributes:
    they may be set later, before the first connection)."""
    namespace = {"limits": limits, "handler": handler, "quick": quick, "__slots__": ()}
    return type("LeanHttpBounded", (LeanHttp,), namespace)
