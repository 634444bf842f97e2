"""The Calls API over HTTP and CometD: a Starlette app, and ``python -m callstate serve``.

Needs the ``server`` extra (``pip install 'callstate[server]'``). The app only translates: every
GWS rule is in ``callstate.api`` (REST) and ``callstate.bayeux`` (CometD). One process serves one
switch, on one event loop: a request runs whole (the switch is synchronous), so requests and
notifications keep one order.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from types import FrameType
from typing import Any, Final

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from .api import MAX_BODY, Api, Reply
from .bayeux import Bayeux
from .config import DEMO, Config, ConfigError, load
from .projection import Form

__all__ = ["NOTIFICATIONS", "app", "create_app", "serve"]

#: the CometD endpoint; ``/handshake``, ``/connect``... after it reach it too
NOTIFICATIONS: Final = "/api/v2/notifications"
_JSON: Final = "application/json"
_UNDER: Final = NOTIFICATIONS + "/"
_STOP: Final = (signal.SIGINT, signal.SIGTERM)


def create_app(
    config: Config,
    *,
    seed: int | None = None,
    form: Form = "8.5.0",
    base_uri: str = "http://127.0.0.1:8080/api/v2",
    log: str | None = None,
) -> Starlette:
    """A new switch built from ``config``, served as an ASGI app."""
    api = Api.from_config(config, seed=seed, form=form, base_uri=base_uri, log=log)
    return app(api, Bayeux(api.projection, config.cometd))


def app(api: Api, bayeux: Bayeux) -> Starlette:
    """The ASGI app serving ``api`` and ``bayeux`` (subscribed here to the switch, after the
    projection). ``app.state.api`` and ``app.state.bayeux`` hold them."""
    api.switch.subscribe(bayeux.publish)
    api.clients = lambda: bayeux.clients

    async def rest(request: Request) -> Response:
        body = await _body(request)
        return _response(api.handle(request.method, request.url.path, body, _credentials(request)))

    async def cometd(request: Request) -> Response:
        account = api.authenticate(_credentials(request))
        if account is None:  # the REST answer: 401 with its challenge
            return _response(api.handle(request.method, NOTIFICATIONS, b""))
        if request.method != "POST":
            return _response(_error(405, 3, f"{request.method} is not allowed on {NOTIFICATIONS}"))
        body = await _body(request)
        if len(body) > MAX_BODY:
            return _response(_error(413, 2, f"request body is over {MAX_BODY} bytes"))
        try:
            messages = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _response(_error(400, 1, "a Bayeux request is a JSON object or array"))
        if isinstance(messages, dict):
            messages = [messages]
        if not isinstance(messages, list):
            return _response(_error(400, 1, "a Bayeux request is a JSON object or array"))
        answer = asyncio.ensure_future(bayeux.handle(account, messages))
        gone = asyncio.ensure_future(_disconnected(request))
        await asyncio.wait((answer, gone), return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if not answer.done():  # the client went away mid-poll: its messages stay queued
            answer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answer
            return Response(b"", 499)
        return Response(answer.result(), 200, media_type=_JSON)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async def sweep() -> None:
            while True:
                await asyncio.sleep(min(1.0, bayeux.settings.max_interval / 4))
                bayeux.sweep()

        sweeper = asyncio.create_task(sweep())
        try:
            yield
        finally:
            sweeper.cancel()
            bayeux.close()
            api.switch.close_log()

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        path = scope["path"]
        endpoint = cometd if path == NOTIFICATIONS or path.startswith(_UNDER) else rest
        try:
            response = await endpoint(request)
        except Exception as error:  # never a traceback or an HTML page to the client
            response = _response(_error(500, 4, f"internal error: {type(error).__name__}"))
        await response(scope, receive, send)

    served = Starlette(routes=[Mount("", app=dispatch)], lifespan=lifespan)
    served.state.api = api
    served.state.bayeux = bayeux
    return served


def _credentials(request: Request) -> str | None:
    return request.headers.get("authorization")


async def _body(request: Request) -> bytes:
    """The body, read up to one byte past the limit (``Api`` answers 413 in its turn)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY:
                break
    except ClientDisconnect:
        pass
    return b"".join(chunks)


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _error(http: int, status_code: int, message: str) -> Reply:
    return Reply(http, orjson.dumps({"statusCode": status_code, "statusMessage": message}))


def _response(reply: Reply) -> Response:
    return Response(reply.body, reply.status, headers=dict(reply.headers), media_type=_JSON)


# -- python -m callstate serve --------------------------------------------------------------------
class _Server(uvicorn.Server):
    """uvicorn, answering held connects as soon as a stop signal arrives (uvicorn itself would
    wait for them before shutting the app down)."""

    def __init__(self, config: uvicorn.Config, bayeux: Bayeux) -> None:
        super().__init__(config)
        self.bayeux = bayeux
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
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
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.bayeux.close)
        super().handle_exit(sig, frame)


def serve(
    config_text: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    form: Form = "8.5.0",
    seed: int | None = None,
    log: str | None = None,
    out: Any = sys.stdout,
) -> int:
    """Run the server until SIGTERM/SIGINT; the exit status (2: a bad config, said in one line)."""
    try:
        config = load(DEMO if config_text is None else config_text)
    except ConfigError as error:
        print(f"callstate: bad config: {error}", file=sys.stderr)
        return 2
    base_uri = f"http://{host}:{port}/api/v2"
    try:
        served = create_app(config, seed=seed, form=form, base_uri=base_uri, log=log)
    except (OSError, ValueError) as error:
        print(f"callstate: cannot start: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    server = _Server(
        uvicorn.Config(served, host=host, port=port, log_level="warning", lifespan="on"),
        served.state.bayeux,
    )
    for sig in _STOP:  # from now on a stop signal ends the server with status 0
        signal.signal(sig, server.handle_exit)
    if config_text is None:
        print("callstate demo center; users (password = username):", file=out)
        for account in config.users:
            print(
                f"  {account.username:<12} {account.role.value:<10} {account.dn or '-'}", file=out
            )
    print(f"callstate serving {base_uri} (form {form}); CometD at {NOTIFICATIONS}", file=out)
    out.flush()
    server.run()
    return 0 if server.started else 2
