"""The Calls API over HTTP and CometD: a Starlette app, and ``python -m callstate serve``.

Needs the ``server`` extra (``pip install 'callstate[server]'``). The app only translates: every
GWS rule is in ``callstate.api`` (REST) and ``callstate.bayeux`` (CometD). One process serves one
switch, on one event loop: a request runs whole (the switch is synchronous), so requests and
notifications keep one order. Every request answered gets a line on the ``callstate.access``
logger (module ``callstate.access``; CometD polls at DEBUG), whichever path it took: the ASGI
``__call__``, the lean protocol's ``lean``, or a poll held without a task (``quick``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import signal
import socket
import stat
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from time import perf_counter
from types import FrameType
from typing import Any, Final, cast

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import access
from .access import ACCESS, DEBUG, INFO
from .api import MAX_BODY, Api, Login, Reply
from .bayeux import Bayeux
from .cluster import DEFAULT_STREAM, ClusterError, Front, SwitchProcess
from .config import DEMO, Account, Config, ConfigError, load
from .connections import Limits, bounded_protocol, raise_open_file_limit
from .errors import CallStateError
from .lean_http import DISCONNECTED, Answer, Lean, Quick, lean_protocol
from .log import LogError
from .numbers import warm
from .projection import DEFAULT_FORM, Form
from .resume import checkpoint_path, restore, write_checkpoint
from .web import answer as page
from .web import serves as page_serves
from .wire import dumps, loads

__all__ = ["CHECKPOINT_BYTES", "NOTIFICATIONS", "app", "create_app", "run", "serve"]

#: the CometD endpoint; ``/handshake``, ``/connect``... after it reach it too
NOTIFICATIONS: Final = "/api/v2/notifications"
#: what may follow the CometD path: CometD clients append the message type (the JavaScript
#: client for some meta messages, the Java and .NET clients for every single one); any of them
#: takes any message, as the bare path does
_BAYEUX_PATHS: Final = frozenset(
    (
        "",
        "/",
        *(
            f"/{kind}"
            for kind in ("handshake", "connect", "subscribe", "unsubscribe", "disconnect")
        ),
    )
)
HEALTH: Final = "/simulator/health"
_STOP: Final = (signal.SIGINT, signal.SIGTERM)
#: seconds a stopping server waits for requests in flight (held connects answer at once)
_GRACE: Final = 3
#: the collector's thresholds for a long-lived heap (Python's: 700, 10, 10): young collections
#: every 10,000 new objects rather than 700 (each still ~1 ms), full ones at most once per
#: 100 middle ones
_THRESHOLDS: Final = (10_000, 10, 100)
#: seconds between two freezes of the long-lived heap (``_Adapter.freeze_if_due``): a full
#: collection then scans at most what was made in the last few seconds and still lives
_FREEZE_EVERY: Final = 1.0
#: how much the log grows between two checkpoints (about 25,000 requests)
CHECKPOINT_BYTES: Final = 16 * 1024 * 1024


def create_app(
    config: Config,
    *,
    seed: int | None = None,
    form: Form = DEFAULT_FORM,
    base_uri: str = "http://127.0.0.1:8080/api/v2",
    log: str | None = None,
) -> Starlette:
    """A new switch built from ``config``, served as an ASGI app."""
    api = Api.from_config(config, seed=seed, form=form, base_uri=base_uri, log=log)
    return app(api, Bayeux(api.projection, config.cometd))


def app(
    api: Api,
    bayeux: Bayeux,
    *,
    checkpoints: str | None = None,
    checkpoint_bytes: int | None = None,
    forward: Forward | None = None,
    closing: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """The ASGI app serving ``api`` and ``bayeux`` (subscribed here to the switch, after the
    projection). ``app.state.api`` and ``app.state.bayeux`` hold them. With ``checkpoints``
    (the switch's log), a checkpoint is written beside it every ``checkpoint_bytes`` of log
    (default ``CHECKPOINT_BYTES``), by a forked copy of the process, and at shutdown
    (``callstate.resume``). With ``forward`` (a front process: ``callstate.cluster``), changes
    are admitted here and run by whatever ``forward`` reaches; ``closing`` runs at shutdown."""
    api.switch.subscribe(bayeux.publish)
    api.clients = lambda: bayeux.clients
    adapter = _Adapter(api, bayeux, checkpoints, checkpoint_bytes or CHECKPOINT_BYTES)
    adapter.forward, adapter.closing = forward, closing
    served = _Served(adapter, routes=[Mount("", app=adapter)], lifespan=adapter.lifespan)
    served.state.api = api
    served.state.bayeux = bayeux
    served.state.adapter = adapter
    return served


#: how a front process has a change run: (account, method, path with query, body) -> reply
Forward = Callable[[Account, str, str, bytes], Awaitable[Reply]]


class _Served(Starlette):
    """Starlette, with HTTP requests handed straight to the adapter: it answers every path and
    method itself (JSON errors included), so Starlette's routing and error middleware would only
    add a frame per layer to each request, and to each held connect's memory."""

    def __init__(self, adapter: _Adapter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adapter = adapter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.adapter(scope, receive, send)
        elif scope["type"] == "websocket":  # long-polling is the contract: refused (HTTP 403)
            await send({"type": "websocket.close", "code": 1008})
        else:  # lifespan
            await super().__call__(scope, receive, send)


class _Adapter:
    """HTTP in, ``Api``/``Bayeux`` answers out: the whole of the translation."""

    def __init__(
        self,
        api: Api,
        bayeux: Bayeux,
        checkpoints: str | None = None,
        checkpoint_bytes: int = CHECKPOINT_BYTES,
    ) -> None:
        self.api = api
        self.bayeux = bayeux
        self.checkpoints = checkpoints
        self.checkpoint_bytes = checkpoint_bytes
        mark = api.switch.log_mark
        #: the log offset of the last checkpoint, and the process writing one
        self.checkpointed = 0 if mark is None else mark[0]
        self.writer: int | None = None
        self.forward: Forward | None = None
        self.closing: Callable[[], Awaitable[None]] | None = None
        #: seconds between two freezes of what lives long (``serve`` sets it), and the next one
        self.freeze_every: float | None = None
        self.next_freeze = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = perf_counter()
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        reply, user, level = None, "-", INFO
        try:
            reply, user, level = await self.answer(scope, receive)
            if reply is not None:
                await _send(tracked, reply)
        except Exception as error:  # never a traceback or an HTML page to the client
            if started:
                raise
            reply = _error(500, 4, f"internal error: {type(error).__name__}")
            await _send(send, reply)
        except asyncio.CancelledError:
            if not self.bayeux.closed:
                raise
            return  # a stopping server cancels the requests it cannot wait for: nothing wrong
        if ACCESS.isEnabledFor(level):
            _logged(scope, level, user, reply, arrived)

    async def lean(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]]
    ) -> Answer:
        """Every request, as the lean protocol (``callstate.lean_http``) hands it over:
        ``answer``, as a status, headers and body."""
        arrived = perf_counter()
        user, level = "-", INFO
        try:
            reply, user, level = await self.answer(cast(Scope, scope), cast(Receive, receive))
        except Exception as error:  # never a traceback or an HTML page to the client
            reply = _error(500, 4, f"internal error: {type(error).__name__}")
        except asyncio.CancelledError:
            if not self.bayeux.closed:
                raise
            return None  # a stopping server cancels what it cannot wait for
        if ACCESS.isEnabledFor(level):
            _logged(cast(Scope, scope), level, user, reply, arrived)
        return None if reply is None else (reply.status, reply.headers, reply.body)

    def quick(self, scope: dict[str, Any], body: bytes, respond: Callable[[Answer], None]) -> bool:
        """A poll held without a task (``Bayeux.park``), when the request is one: one
        ``/meta/connect`` of a live session that waits. True if taken (``respond`` gets the
        answer when it ends); False: ``lean`` answers the request."""
        path = scope["path"]
        if (
            scope["method"] != "POST"
            or not path.startswith(NOTIFICATIONS)
            or path[len(NOTIFICATIONS) :] not in _BAYEUX_PATHS
            or len(body) > MAX_BODY
        ):
            return False
        login = self.api.login(_header(scope, b"authorization"), _header(scope, b"cookie"))
        if login is None:
            return False
        try:
            messages = loads(body)
        except ValueError:
            return False
        if isinstance(messages, dict):
            messages = [messages]
        if not isinstance(messages, list):
            return False
        # what the poll's access line needs, kept while it is held only if that line is on (a
        # held poll's memory is most of an idle client's: not the whole scope, no float)
        line = (path, scope["query_string"], perf_counter()) if ACCESS.isEnabledFor(DEBUG) else None

        def answered(payload: bytes | None) -> None:
            if payload is None:  # the client went (its messages stay queued)
                respond(None)
            else:
                headers = () if login.session is None else self.api.session_headers(login)
                respond((200, headers, payload))
            if line is not None and ACCESS.isEnabledFor(DEBUG):
                target, query, arrived = line
                user, status = login.account.username, None if payload is None else 200
                access.request(DEBUG, "POST", target, query, user, status, payload or b"", arrived)

        return self.bayeux.park(login.account, messages, scope[DISCONNECTED](), answered)

    async def answer(self, scope: Scope, receive: Receive) -> tuple[Reply | None, str, int]:
        """The answer to one request (None: the client went during a held connect), who sent
        it (``-``: nobody authenticated), and the level of its access line (``callstate.access``:
        DEBUG for a CometD poll)."""
        method, path = scope["method"], scope["path"]
        if page_serves(path):  # the web page: no credentials (it asks for them itself)
            return page(method, path), "-", INFO
        authorization = _header(scope, b"authorization")
        cookie = _header(scope, b"cookie")
        login = self.api.login(authorization, cookie)
        if login is None and not (path == HEALTH and method == "GET"):
            # 401, before reading any body
            return _unchallenged(self.api.handle(method, path, b""), scope), "-", INFO
        user = "-" if login is None else login.account.username
        body = await _body(receive)
        bayeux = path.startswith(NOTIFICATIONS) and path[len(NOTIFICATIONS) :] in _BAYEUX_PATHS
        if not bayeux:
            query = scope.get("query_string", b"")
            # the request-target again: a ``?`` the client encoded in the path (``%3F``) stays
            # encoded, so that it is not taken for the start of the query
            path = path.replace("?", "%3F")
            target = f"{path}?{query.decode('latin-1')}" if query else path
            csrf = _header(scope, b"x-csrf-token")
            if self.forward is not None and self.api.changes(method):
                admitted = self.api.admit(method, authorization, cookie=cookie, csrf_token=csrf)
                if isinstance(admitted, Reply):
                    return admitted, user, INFO
                reply = await self.forward(admitted.account, method, target, body)
                return self.api.conclude(admitted, reply), user, INFO
            reply = self.api.handle(
                method, target, body, authorization, cookie=cookie, csrf_token=csrf
            )
            return reply, user, INFO
        assert login is not None
        return await self._bayeux(scope, receive, login, method, body), user, _level(body)

    async def _bayeux(
        self, scope: Scope, receive: Receive, login: Login, method: str, body: bytes
    ) -> Reply | None:
        """The answer to a request on the CometD path (None: the client went)."""
        messages = _messages(method, body)
        if isinstance(messages, Reply):
            return messages
        # the lean path says when the client goes with one future; else ``receive`` tells
        gone = scope.get(DISCONNECTED) or (lambda: _disconnected(receive))
        answer = await self.bayeux.handle(login.account, messages, gone)
        # None: the client went away during a held connect (its messages stay queued)
        if answer is None:
            return None
        # a session for a handshake that came without one (the client may go on with its
        # cookie alone); not for every connect of a client that keeps no cookies
        handshake = login.session is None and any(
            isinstance(m, dict) and m.get("channel") == "/meta/handshake" for m in messages
        )
        if login.session is None and not handshake:
            return Reply(200, answer)
        return Reply(200, answer, self.api.session_headers(login))

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        bayeux = self.bayeux

        async def sweep() -> None:
            while True:
                await asyncio.sleep(min(1.0, bayeux.settings.max_interval / 4))
                bayeux.sweep()
                self.api.sessions.sweep()
                self.checkpoint_if_due()
                self.freeze_if_due()

        sweeper = asyncio.create_task(sweep())
        try:
            yield
        finally:
            sweeper.cancel()
            bayeux.close()
            if self.checkpoints is not None and self.api.switch.log_mark is not None:
                self.reap(wait=True)
                with contextlib.suppress(OSError):  # the log alone restores too, slower
                    write_checkpoint(self.api, self.checkpoints)
            self.api.switch.close_log()
            if self.closing is not None:
                await self.closing()

    def freeze_if_due(self) -> None:
        """The long-lived heap (``serve``): every ``freeze_every`` seconds, a collection of the
        youngest generation, then every object alive is put out of the collector's sight
        (``gc.freeze``, which costs nothing), so that a collection scans only what was made
        in the last second. Live calls, devices, sessions and held connects live from seconds
        to hours; when one dies its reference count frees it, frozen or not. What is lost: an
        object that dies in a reference cycle after being frozen is never freed — and the
        served switch makes almost none (in the scale run the collections find no unreachable
        object once the clients are in: ``collected`` in ``/simulator/health``, beside
        ``frozen``, the frozen heap, which shrinks as what it holds dies)."""
        if self.freeze_every is None:
            return
        now = time.monotonic()
        if now >= self.next_freeze:
            if self.next_freeze:
                gc.collect(0)  # the youngest garbage in cycles first (a few ms at most)
                gc.freeze()
            self.next_freeze = now + self.freeze_every

    def checkpoint_if_due(self) -> None:
        """Every ``checkpoint_bytes`` of log, a forked copy of the process writes a checkpoint
        (copy-on-write: the server goes on at once)."""
        mark = self.api.switch.log_mark
        if self.checkpoints is None or mark is None or not hasattr(os, "fork"):
            return
        self.reap(wait=False)
        if self.writer is not None or mark[0] - self.checkpointed < self.checkpoint_bytes:
            return
        try:
            pid = os.fork()
        except OSError as error:  # e.g. no memory for the copy: the log alone still restores
            self.checkpointed = mark[0]  # try again after as much log again
            print(f"callstate: no checkpoint now: cannot fork ({error.strerror})", file=sys.stderr)
            return
        if pid == 0:  # the copy: write, and leave without running anything of the server's
            status = 1
            try:
                _close_sockets()  # its copies would keep connections the server closes open
                write_checkpoint(self.api, self.checkpoints)
                status = 0
            except BaseException as error:  # said by the copy itself: the server goes on
                print(f"callstate: checkpoint not written: {error}", file=sys.stderr)
            finally:
                os._exit(status)
        self.writer, self.checkpointed = pid, mark[0]

    def reap(self, *, wait: bool) -> None:
        if self.writer is not None:
            try:
                done, status = os.waitpid(self.writer, 0 if wait else os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                done, status = self.writer, 0
            if done:
                self.writer = None
                if status:  # it said why; the log alone still restores
                    print(
                        f"callstate: a checkpoint of {self.checkpoints} could not be written "
                        f"(status {os.waitstatus_to_exitcode(status)})",
                        file=sys.stderr,
                    )


def _close_sockets() -> None:
    """Close this process's sockets (its files, the log among them, stay open)."""
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError, ValueError):
                fd = int(name)
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.close(fd)


async def _send(send: Send, reply: Reply) -> None:
    headers = [(b"content-length", str(len(reply.body)).encode())]
    if not _typed(reply.headers):
        headers.append((b"content-type", b"application/json"))
    headers.extend((k.encode(), v.encode()) for k, v in reply.headers)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def _messages(method: str, body: bytes) -> list[Any] | Reply:
    """A Bayeux request's messages, or why it is refused."""
    if method != "POST":
        refused = _error(405, 3, f"{method} is not allowed on {NOTIFICATIONS}")
        return Reply(405, refused.body, (("allow", "POST"),))  # RFC 9110: 405 says what is
    if len(body) > MAX_BODY:
        return _error(413, 2, f"request body is over {MAX_BODY} bytes")
    try:  # the strict reader: an id beyond 64 bits comes back exactly, NaN is refused
        messages = loads(body)
    except ValueError:
        messages = None
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list):
        return _error(400, 1, "a Bayeux request is a JSON object or array")
    return messages


def _unchallenged(reply: Reply, scope: Scope) -> Reply:
    """A 401 without its ``WWW-Authenticate`` challenge for a script that says it is one
    (``X-Requested-With: XMLHttpRequest``, as the web page sends, the convention Spring Security
    follows too): a browser answers a challenge with its own login dialog, where the page would
    say that the credentials are wrong."""
    if _header(scope, b"x-requested-with") != "XMLHttpRequest":
        return reply
    headers = tuple(h for h in reply.headers if h[0] != "www-authenticate")
    return Reply(reply.status, reply.body, headers)


def _typed(headers: tuple[tuple[str, str], ...]) -> bool:
    """Whether a reply names its own content type (the web page's files; JSON otherwise)."""
    return any(name == "content-type" for name, _ in headers)


def _logged(scope: Scope, level: int, user: str, reply: Reply | None, arrived: float) -> None:
    """The access line of a request (``callstate.access``)."""
    status, body = (None, b"") if reply is None else (reply.status, reply.body)
    query = scope.get("query_string", b"")
    access.request(level, scope["method"], scope["path"], query, user, status, body, arrived)


def _level(body: bytes) -> int:
    """DEBUG for a CometD poll (a POST of ``/meta/connect`` messages only), else INFO: seen
    from the body's bytes, without parsing it again."""
    return DEBUG if body.count(b'"channel"') == body.count(b'"/meta/connect"') > 0 else INFO


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _body(receive: Receive) -> bytes:
    """The body, read up to one byte past the limit (``Api`` answers 413 in its turn)."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body") and size <= MAX_BODY:
        message = await receive()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _error(http: int, status_code: int, message: str) -> Reply:
    return Reply(http, dumps({"statusCode": status_code, "statusMessage": message}))


# -- python -m callstate serve --------------------------------------------------------------------
class _Server(uvicorn.Server):
    """uvicorn, answering held connects as soon as a stop signal arrives (uvicorn itself would
    wait for them before shutting the app down)."""

    def __init__(
        self,
        config: uvicorn.Config,
        bayeux: Bayeux | None,
        build: Callable[[_Server], Awaitable[Starlette]] | None = None,
    ) -> None:
        super().__init__(config)
        self.bayeux = bayeux
        #: makes the app on the server's event loop, before it listens (a front process)
        self.build = build
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
        if self.build is not None:
            try:
                served = await self.build(self)
            except ClusterError as error:
                print(f"callstate: {error}", file=sys.stderr)
                return
            self.config.app, self.bayeux = served, served.state.bayeux
            cast(Any, self.config.http).handler = _lean(served)
            cast(Any, self.config.http).quick = _quick(served)
        await super().serve(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop on SIGINT/SIGTERM, and exit 0 afterwards (uvicorn would raise the signal again
        once stopped, so the process would end killed by it)."""
        before = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.loop is not None and self.bayeux is not None:
            self.loop.call_soon_threadsafe(self.bayeux.close)
        super().handle_exit(sig, frame)


def serve(
    config_text: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    form: Form = DEFAULT_FORM,
    seed: int | None = None,
    log: str | None = None,
    fresh: bool = False,
    checkpoint_bytes: int | None = None,
    nats: str | None = None,
    role: str = "front",
    stream: str = DEFAULT_STREAM,
    workers: int = 1,
    out: Any = sys.stdout,
) -> int:
    """Run the server until SIGTERM/SIGINT; the exit status (2: it could not start, said in one
    line). An existing ``log`` is restored and appended to; ``fresh`` first moves it aside
    (renamed, never deleted) and starts a new one.

    With ``nats`` (a NATS server's URL), one process of several (``callstate.cluster``):
    ``role`` ``"switch"`` runs the switch of ``stream`` (no HTTP), ``"front"`` serves HTTP
    and CometD from the stream, in ``workers`` processes sharing the port."""
    try:
        config = load(DEMO if config_text is None else config_text)
    except ConfigError as error:
        print(f"callstate: bad config: {error}", file=sys.stderr)
        return 2
    if nats is not None and role == "switch":
        return asyncio.run(_switch_process(SwitchProcess(config, nats, stream=stream, seed=seed)))
    base_uri = f"http://{host}:{port}/api/v2"
    try:
        listening = _listen(host, port)
    except OSError as error:
        print(
            f"callstate: cannot listen on {host}:{port}: {error.strerror or error}", file=sys.stderr
        )
        return 2
    http = config.http
    limits = Limits(http.request_timeout, http.idle_timeout, http.max_connections)
    if nats is not None and workers > 1:
        try:
            return _workers(workers, listening)
        except _Worker:  # a forked front
            pass
    if nats is not None:
        front = Front(config, nats, stream=stream, form=form, base_uri=base_uri)
        return _serve_front(front, listening, limits, out)
    return _serve_alone(
        config,
        listening,
        limits,
        out,
        demo=config_text is None,
        seed=seed,
        form=form,
        base_uri=base_uri,
        log=log,
        fresh=fresh,
        checkpoint_bytes=checkpoint_bytes,
    )


def _serve_front(front: Front, listening: socket.socket, limits: Limits, out: Any) -> int:
    """Serve HTTP and CometD from a cluster's stream (``serve`` with ``nats``, as a front)."""

    async def build(server: _Server) -> Starlette:
        note = await front.start()
        assert front.api is not None
        assert front.stopped is not None
        served = app(
            front.api,
            Bayeux(front.api.projection, front.config.cometd),
            forward=front.forward,
            closing=front.close,
        )
        # a front that cannot follow the stream any more stops (its clients go elsewhere)
        front.stopped.add_done_callback(lambda _: server.handle_exit(signal.SIGTERM, None))
        _settle_heap(front.form)
        _watch_collections(served)
        print(f"callstate: {note}", file=out)
        print(f"callstate front serving {front.base_uri} (form {front.form})", file=out)
        out.flush()
        return served

    return run(None, sockets=[listening], limits=limits, build=build)


def _serve_alone(
    config: Config,
    listening: socket.socket,
    limits: Limits,
    out: Any,
    *,
    demo: bool,
    seed: int | None,
    form: Form,
    base_uri: str,
    log: str | None,
    fresh: bool,
    checkpoint_bytes: int | None,
) -> int:
    """Serve a switch of this process's own, restored from ``log`` if there is one (``serve``
    without ``nats``); ``demo``: the config is the demo's, whose users the banner lists."""
    notes: list[str] = []
    try:
        api, run_whole = _open(config, seed, form, base_uri, log, fresh, notes)
    except (OSError, ValueError, CallStateError) as error:
        listening.close()
        print(f"callstate: {_one_line(error, log)}", file=sys.stderr)
        return 2
    served = app(
        api,
        Bayeux(api.projection, config.cometd),
        checkpoints=log,
        checkpoint_bytes=checkpoint_bytes or CHECKPOINT_BYTES,
    )
    if run_whole:  # no checkpoint spared it: one as soon as it is due
        served.state.adapter.checkpointed = 0
    _settle_heap(form)
    _watch_collections(served)

    def banner() -> None:
        if demo:
            print("callstate demo center; users (password = username):", file=out)
            for account in config.users:
                role, dn = account.role.value, account.dn or "-"
                print(f"  {account.username:<12} {role:<10} {dn}", file=out)
        for note in notes:
            print(f"callstate: {note}", file=out)
        print(f"callstate serving {base_uri} (form {form}); CometD at {NOTIFICATIONS}", file=out)
        out.flush()

    return run(served, sockets=[listening], ready=banner, limits=limits)


def _lean(served: ASGIApp | None) -> Lean | None:
    """The lean path's handler of an app ``app`` made (None for another app)."""
    adapter = getattr(getattr(served, "state", None), "adapter", None)
    return adapter.lean if isinstance(adapter, _Adapter) else None


def _quick(served: ASGIApp | None) -> Quick | None:
    adapter = getattr(getattr(served, "state", None), "adapter", None)
    return adapter.quick if isinstance(adapter, _Adapter) else None


async def _not_built(scope: Scope, receive: Receive, send: Send) -> None:
    """Where the app ``build`` makes goes (it replaces this before the server starts)."""
    raise RuntimeError("the app was not built")


def _workers(count: int, listening: socket.socket) -> int:
    """Fork ``count`` front processes that share ``listening`` (the kernel spreads the
    connections), pass a stop signal on to them, and wait for them; 0, or the first failure's
    status. Each child goes on as a single front (``serve`` returns into it)."""
    children: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            raise _Worker
        children.append(pid)
    listening.close()

    def stop(sig: int, frame: FrameType | None) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, sig)

    for sig in _STOP:
        signal.signal(sig, stop)
    status = 0
    for child in children:
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        status = status or code
    return status


class _Worker(Exception):
    """In a forked front process: go on as a single front."""


class _Collections:
    """What the garbage collector has cost this process: collections and the longest pause, by
    generation (``GET /simulator/health`` shows them as ``gc``)."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.longest = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        pause = time.perf_counter() - self._started
        self.counts[generation] += 1
        self.longest[generation] = max(self.longest[generation], pause)

    def report(self) -> dict[str, Any]:
        longest = [round(seconds * 1000, 1) for seconds in self.longest]
        # objects found unreachable (in reference cycles) since the start, by generation
        collected = [generation["collected"] for generation in gc.get_stats()]
        frozen = gc.get_freeze_count()
        return {
            "gc": {
                "collections": list(self.counts),
                "longestMs": longest,
                "collected": collected,
                "frozen": frozen,
            }
        }


def _watch_collections(served: Starlette) -> None:
    """The served process's collector: watched, and its long-lived heap frozen from time to
    time (``_Adapter.freeze_if_due``)."""
    collections = _Collections()
    gc.callbacks.append(collections)
    served.state.api.gauges = collections.report
    served.state.adapter.freeze_every = _FREEZE_EVERY


def _settle_heap(form: Form) -> None:
    """Before serving: what start and restore built lives as long as the server."""
    if form == "8.5.0":  # participantsInfo needs the geocoder: load it now, not mid-traffic
        warm()
    # out of the collector's sight (a full collection then scans only what came since;
    # measured on 13,168 restored legs and the objects around them: 237 ms before, 0 ms
    # after), and a checkpoint's fork shares its pages rather than copying them when the
    # collector would touch them
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)


async def _switch_process(process: SwitchProcess) -> int:
    """Run a switch process until SIGTERM/SIGINT (0), or until it cannot go on (1)."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def stopping() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in _STOP:
        loop.add_signal_handler(sig, stopping)
    try:
        note = await process.start()
    except ClusterError as error:
        print(f"callstate: {error}", file=sys.stderr)
        await process.close()
        return 2
    except (ConfigError, CallStateError) as error:
        print(f"callstate: stream {process.stream}: {error}", file=sys.stderr)
        await process.close()
        return 2
    print(f"callstate: {note}", flush=True)
    print(f"callstate switch of stream {process.stream} on {process.url}", flush=True)
    assert process.stopped is not None
    await asyncio.wait((stop, process.stopped), return_when=asyncio.FIRST_COMPLETED)
    await process.close()
    if process.stopped.done():
        print(f"callstate: {process.stopped.result()}", file=sys.stderr)
        return 1
    return 0


def _open(
    config: Config,
    seed: int | None,
    form: Form,
    base_uri: str,
    log: str | None,
    fresh: bool,
    notes: list[str],
) -> tuple[Api, bool]:
    """The served switch: restored from ``log`` if it exists (unless ``fresh``), else new; and
    whether the whole log was run (no checkpoint spared it)."""
    if log is None:
        return Api.from_config(config, seed=seed, form=form, base_uri=base_uri), False
    path = Path(log)
    if fresh and path.exists():
        aside = path.with_name(f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}")
        n = 1
        while aside.exists():
            n += 1
            aside = path.with_name(f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{n}")
        path.rename(aside)
        checkpoint = checkpoint_path(path)
        if checkpoint.exists():
            checkpoint.rename(checkpoint_path(aside))
        notes.append(f"{log} moved aside to {aside}; a new log starts")
    if not path.exists():
        return Api.from_config(config, seed=seed, form=form, base_uri=base_uri, log=log), False
    started = time.perf_counter()
    api, reader, from_checkpoint, passed_over = restore(config, log, form=form, base_uri=base_uri)
    took = time.perf_counter() - started
    if reader.cut_line is not None:
        notes.append(
            f"{log}: line {reader.cut_line} was cut off ({reader.cut_bytes} bytes): "
            "truncated away, as a request never acknowledged"
        )
    if passed_over is not None:
        notes.append(f"{checkpoint_path(log)} passed over ({passed_over}): the whole log is run")
    live = len(api.projection.snapshots)
    run = len(reader.entries)
    how = (
        f"its checkpoint and the {run} requests after it" if from_checkpoint else f"{run} requests"
    )
    notes.append(
        f"restored {log} in {took:.2f} s from {how} ({len(api.switch.devices)} devices, "
        f"{live} live calls); appending to it"
    )
    return api, not from_checkpoint


def _one_line(error: BaseException, log: str | None) -> str:
    """Why the server cannot start, in the words ``callstate replay`` uses for a log."""
    if isinstance(error, LogError):
        return f"{log}: {error}"
    if isinstance(error, ConfigError):
        return (
            f"{log} was written for another config: {error} (--fresh moves it aside and "
            "starts a new log)"
        )
    if isinstance(error, CallStateError):  # the log cannot be written (a full disk...)
        return f"cannot start: {error.reason}"
    if isinstance(error, OSError) and error.strerror:
        where = f" {error.filename}" if error.filename else ""
        return f"cannot start:{where}: {error.strerror}"
    return f"cannot start: {' '.join(str(error).split())}"


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket (bound here, so that a busy port is told in one line)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    # the protocol given, so that asyncio sets TCP_NODELAY on accepted connections
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(2048)
    except OSError:
        listening.close()
        raise
    listening.set_inheritable(True)
    return listening


def run(
    served: ASGIApp | None,
    bayeux: Bayeux | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    sockets: list[socket.socket] | None = None,
    ready: Callable[[], None] | None = None,
    limits: Limits | None = None,
    build: Callable[[_Server], Awaitable[Starlette]] | None = None,
) -> int:
    """Serve ``served`` (an app of ``app``/``create_app``, or an ASGI app around one, then give
    its ``bayeux``) with uvicorn until SIGTERM/SIGINT; the exit status (0 after a stop signal,
    2 if it could not start). A stop signal answers held connects at once. ``ready`` runs once
    stop signals are handled, before the server listens (a banner). Instead of ``served``,
    ``build`` may make the app on the server's event loop (a front process)."""
    if served is not None:
        bayeux = bayeux or cast(Starlette, served).state.bayeux
    limits = limits or Limits()
    allowed = raise_open_file_limit(limits.max_connections)
    if allowed < limits.max_connections:  # the operating system allows fewer
        limits = dataclasses.replace(limits, max_connections=allowed)
    # this module's app is served by the lean protocol (``build`` makes one of them); any other
    # ASGI app by uvicorn's, bounded alike
    lean = _lean(served)
    if served is None or lean is not None:
        protocol: type[asyncio.Protocol] = lean_protocol(limits, lean, _quick(served))
    else:
        protocol = bounded_protocol(limits)
    config = uvicorn.Config(
        served if served is not None else _not_built,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # ours replaces it (``callstate.access``)
        lifespan="on",
        http=protocol,
        # no X-Forwarded-* rewriting: nothing here reads the client's address (a layer less
        # per request)
        proxy_headers=False,
        timeout_keep_alive=max(1, round(limits.idle_timeout)),
        # a client that never finishes its request does not keep a stopping server alive
        timeout_graceful_shutdown=_GRACE,
    )
    server = _Server(config, bayeux, build)
    for sig in _STOP:  # from now on a stop signal ends the server with status 0
        signal.signal(sig, server.handle_exit)
    if ready is not None:
        ready()
    server.run(sockets)
    return 0 if server.started else 2
