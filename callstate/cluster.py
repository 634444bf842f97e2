"""Several processes over NATS JetStream: one switch process and any number of fronts.

Needs the ``server`` extra (``nats-py``) and a NATS server with JetStream. ``docs/scaling.md``
says what is guaranteed and what is not; in short:

- The **switch process** (``SwitchProcess``) is the single writer, as a T-Server is. It takes
  requests from the fronts by NATS request/reply on ``{stream}.requests``, one at a time in
  arrival order, runs each on its switch (``Api.run``), and appends what it changed — the
  request's log line, byte for byte what ``Switch(log=...)`` writes to a file
  (``callstate.log``) — to the JetStream stream ``{stream}`` (subject ``{stream}.log``) before
  it answers. The stream *is* the event log: its first message is the log's header line, each
  next one a request line, so a restarted switch process rebuilds its switch from the stream
  as ``Switch.restore`` does from a file. Each append states the stream sequence it expects to
  follow (``Nats-Expected-Last-Sequence``): a switch process does not start while another
  answers on the stream, and should two run, JetStream itself refuses the second history's
  first append, and the process that made it stops.
- A **front process** (``Front``) follows the stream into a switch of its own — a follower that
  runs each logged request again and must produce the logged events, as a restore does (a
  front that ever disagrees with the stream stops rather than serve a wrong state) — with a
  projection and CometD sessions on it. It serves reads (``GET``s, CometD) from them, and
  forwards every change (``POST``, ``PUT``, ``DELETE``, ``PATCH``, once authenticated and
  CSRF-checked here) to the switch process, answering once its own follower has taken the
  change in: a client that reads after a write sees it, and its notification has been queued.
- Without the switch process or NATS, a front answers reads from what it has, and refuses
  changes with HTTP 503 (``statusCode`` 4): "nothing was done" when no switch process listens,
  "may or may not have been done" when one took the request and did not answer in time.
  It follows the stream again when NATS is back.

Access lines (``callstate.access``): a front logs every request it answers, forwarded ones
included; the switch process logs each change it runs for a front, in the same form.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import io
import itertools
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from time import perf_counter
from typing import Any, Final

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext as _Context
from nats.js.errors import APIError, NotFoundError

from .access import ACCESS, INFO, request
from .api import Api, Reply
from .config import Account, Config
from .engine import ManualClock
from .events import Event
from .log import LogError, LogReader, request_line
from .projection import DEFAULT_FORM, Form, Projection
from .restore import replay_entry
from .resume import add_devices, check_config
from .switch import Switch
from .wire import dumps, loads

__all__ = ["DEFAULT_STREAM", "ClusterError", "Front", "SwitchProcess", "connect"]

DEFAULT_STREAM: Final = "callstate"
#: seconds a front waits for the switch process's answer to a change
REQUEST_TIMEOUT: Final = 5.0
#: seconds a front waits, after that answer, for its follower to take the change in
CATCH_UP_TIMEOUT: Final = 5.0
#: seconds a process waits for NATS, and a front for the stream's header, when starting
START_TIMEOUT: Final = 10.0
_RETRY: Final = 0.25
_WRONG_LAST: Final = 10071  # JetStream's error code: "wrong last sequence"


class ClusterError(Exception):
    """Why a switch or front process cannot start or go on (said in one line)."""


class _Lines:
    """The switch's recorder: each request's log line, kept until it is appended."""

    failure: Exception | None = None

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def request(self, at: float, request: Mapping[str, Any], events: Iterable[Event]) -> None:
        self.lines.append(request_line(at, request, events))

    def recover(self) -> bool:
        return True

    def take(self) -> list[bytes]:
        lines, self.lines = self.lines, []
        return lines


async def connect(
    url: str, name: str, reconnected: Callable[[], Awaitable[None]] | None = None
) -> Client:
    """A NATS connection that reconnects for ever (then runs ``reconnected``); ``ClusterError``
    if NATS is not reachable within ``START_TIMEOUT``."""

    async def quiet(error: Exception) -> None:  # NATS away is told by the answers (503)
        pass

    try:
        return await asyncio.wait_for(
            nats.connect(
                url,
                name=name,
                error_cb=quiet,
                reconnected_cb=reconnected,
                connect_timeout=2,
                reconnect_time_wait=0.5,
                max_reconnect_attempts=-1,
                allow_reconnect=True,
            ),
            START_TIMEOUT,
        )
    except (OSError, NatsError, TimeoutError) as error:
        raise ClusterError(f"cannot reach NATS at {url}: {error or type(error).__name__}") from None


def _subjects(stream: str) -> tuple[str, str]:
    """The stream's subject, and the switch process's request subject."""
    return f"{stream}.log", f"{stream}.requests"


async def _read_stream(js: JetStreamContext, stream: str) -> list[bytes]:
    """Every message of the stream, in order (empty for a new stream)."""
    info = await js.stream_info(stream)
    last = info.state.last_seq
    if not info.state.messages:
        return []
    subject, _ = _subjects(stream)
    sub = await js.subscribe(
        subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    lines: list[bytes] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=START_TIMEOUT)
            lines.append(msg.data)
            if msg.metadata.sequence.stream >= last:
                return lines
    finally:
        await sub.unsubscribe()


class SwitchProcess:
    """The one switch of a stream: runs the fronts' changes, appends them to the stream."""

    def __init__(
        self, config: Config, url: str, *, stream: str = DEFAULT_STREAM, seed: int | None = None
    ) -> None:
        self.config: Final = config
        self.url: Final = url
        self.stream: Final = stream
        self.seed: Final = seed
        self._lines = _Lines()
        #: the stream's last sequence number, as this process appended it
        self.last = 0
        self.api: Api | None = None
        self.stopped: asyncio.Future[str] | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._incarnation = secrets.token_hex(6)
        self._count = itertools.count(1)

    async def start(self) -> str:
        """Connect, rebuild the switch from the stream (or start the stream), take requests;
        what was done, in one line."""
        self.stopped = asyncio.get_running_loop().create_future()
        self._nc = nc = await connect(self.url, f"callstate switch {self.stream}")
        self._js = js = nc.jetstream()
        subject, requests = _subjects(self.stream)
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(name=self.stream, subjects=[subject], storage=StorageType.FILE)
            )
        try:  # a switch process that already serves the stream answers this
            await nc.request(requests, b"", timeout=0.5, headers={"ping": "1"})
        except (NoRespondersError, NatsTimeout, TimeoutError):
            pass
        else:
            raise ClusterError(f"a switch process already serves stream {self.stream}")
        lines = await _read_stream(js, self.stream)
        switch, note = self._switch(lines)
        self.last = len(lines)
        header = switch.record(self._lines)
        if not lines:
            await self._append(header)
        add_devices(self.config, switch)  # the config's new devices, appended too
        for line in self._lines.take():
            await self._append(line)
        self.api = Api(switch, Projection(switch.base_uri), self.config.users)
        await nc.subscribe(requests, queue="switch", cb=self._request)
        return note

    def _switch(self, lines: list[bytes]) -> tuple[Switch, str]:
        if not lines:
            return Switch(seed=self.seed), f"stream {self.stream} started"
        try:
            switch, reader = Switch.restore(io.BytesIO(b"".join(lines)))
        except LogError as error:
            raise ClusterError(f"stream {self.stream}: message {error}") from None
        if reader.cut_line is not None:
            raise ClusterError(f"stream {self.stream}: message {reader.cut_line} is cut")
        check_config(self.config, switch)
        return switch, (
            f"stream {self.stream}: {len(reader.entries)} requests run again "
            f"({len(switch.devices)} devices, {len(switch.calls)} live calls)"
        )

    async def _request(self, msg: Msg) -> None:
        assert self.api is not None
        headers = msg.headers or {}
        if "ping" in headers:  # another switch process starting on this stream
            await msg.respond(b"")
            return
        account = self.api.accounts.get(headers.get("user", ""))
        method, target = headers.get("method", ""), headers.get("path", "")
        if account is None or not method or not target.startswith("/"):
            await msg.respond(_reply_bytes(Reply(400, b'{"statusCode":1}'), self.last))
            return
        arrived = perf_counter()
        path, _, query = target.partition("?")
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        try:
            reply = self.api.run(account, method, path, query, msg.data)
        except Exception as error:  # a fault of ours: said to the client, the switch goes on
            reply = Reply(
                500, dumps({"statusCode": 4, "statusMessage": f"internal error: {error}"})
            )
        for line in self._lines.take():
            await self._append(line)
        await msg.respond(_reply_bytes(reply, self.last))
        if ACCESS.isEnabledFor(INFO):  # the front that forwarded it logs it too
            request(INFO, method, path, query, account.username, reply.status, reply.body, arrived)

    async def _append(self, line: bytes) -> None:
        """Append ``line`` after ``last``; until it is in, nothing else runs (NATS away: tried
        again). Another writer on the stream stops this process."""
        assert self._js is not None
        expected = self.last
        headers = {
            "Nats-Msg-Id": f"{self._incarnation}-{next(self._count)}",
            "Nats-Expected-Last-Sequence": str(expected),
        }
        subject, _ = _subjects(self.stream)
        while True:
            try:
                ack = await self._js.publish(subject, line, stream=self.stream, headers=headers)
            except APIError as error:
                if error.err_code == _WRONG_LAST and await self._landed(line, expected + 1):
                    self.last = expected + 1  # an earlier try got in; its answer was lost
                    return
                self._stop(f"stream {self.stream} refused an append: {error.description}")
                raise ClusterError(str(error.description)) from None
            except (NatsError, TimeoutError, OSError):
                await asyncio.sleep(_RETRY)  # NATS away: the line goes in when it is back
                continue
            self.last = ack.seq
            return

    async def _landed(self, line: bytes, seq: int) -> bool:
        assert self._js is not None
        try:
            stored = await self._js.get_msg(self.stream, seq)
        except (NatsError, TimeoutError, OSError):
            return False
        return stored.data == line

    def _stop(self, why: str) -> None:
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(why)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()


def _reply_bytes(reply: Reply, seq: int) -> bytes:
    return dumps([reply.status, seq, list(reply.headers)]) + b"\n" + reply.body


def _read_reply(data: bytes) -> tuple[Reply, int]:
    head, _, body = data.partition(b"\n")
    status, seq, headers = loads(head)
    return Reply(status, body, tuple((str(k), str(v)) for k, v in headers)), int(seq)


def _unavailable(message: str) -> Reply:
    body = dumps({"statusCode": 4, "statusMessage": message})
    return Reply(503, body, (("retry-after", "1"),))


class Front:
    """A front process's view of the stream: a follower switch, its projection, and the way
    to the switch process. ``start`` builds them from the stream; ``api`` then serves."""

    def __init__(
        self,
        config: Config,
        url: str,
        *,
        stream: str = DEFAULT_STREAM,
        form: Form = DEFAULT_FORM,
        base_uri: str = "http://127.0.0.1:8080/api/v2",
    ) -> None:
        self.config: Final = config
        self.url: Final = url
        self.stream: Final = stream
        self.form: Final = form
        self.base_uri: Final = base_uri
        #: the stream sequence number the follower has taken in
        self.applied = 0
        self.api: Api | None = None
        self.stopped: asyncio.Future[str] | None = None
        self._nc: Client | None = None
        self._clock = ManualClock()
        self._produced: list[Event] = []
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._header: asyncio.Future[None] | None = None
        self._following: _Context.PushSubscription | None = None

    async def start(self) -> str:
        """Connect, follow the stream up to where it stood when asked; what was done."""
        loop = asyncio.get_running_loop()
        self.stopped = loop.create_future()
        self._header = loop.create_future()
        self._nc = nc = await connect(
            self.url, f"callstate front {self.stream}", self._follow_again
        )
        js = nc.jetstream()
        deadline = loop.time() + START_TIMEOUT
        while True:  # the switch process creates the stream; it may start after this front
            try:
                info = await js.stream_info(self.stream)
                if info.state.messages:
                    break
            except NotFoundError:
                pass
            if loop.time() > deadline:
                raise ClusterError(f"stream {self.stream} has nothing yet: is a switch running?")
            await asyncio.sleep(_RETRY)
        await self._subscribe()
        await self.caught_up(info.state.last_seq, None)
        assert self.api is not None
        return (
            f"following stream {self.stream}: {self.applied} messages "
            f"({len(self.api.switch.devices)} devices, "
            f"{len(self.api.projection.snapshots)} live legs)"
        )

    async def _subscribe(self) -> None:
        """Follow the stream from the message after ``applied``."""
        assert self._nc is not None
        subject, _ = _subjects(self.stream)
        self._following = await self._nc.jetstream().subscribe(
            subject,
            stream=self.stream,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.applied + 1
            ),
            idle_heartbeat=1.0,
            cb=self._take,
            pending_bytes_limit=1 << 30,
        )

    async def _follow_again(self) -> None:
        """NATS is back (maybe restarted, without the consumer): follow from where it was."""
        old, self._following = self._following, None
        if old is not None:
            with contextlib.suppress(NatsError, TimeoutError):
                await old.unsubscribe()
        try:
            await self._subscribe()
        except (NatsError, TimeoutError, OSError) as error:
            self._stop(f"stream {self.stream} cannot be followed again: {error}")

    async def _take(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self.applied:  # delivered again (a consumer made anew): taken already
            return
        try:
            if self.api is None:
                self._follow(LogReader.header_of(msg.data))
            else:
                entry = LogReader.entry_of(seq, msg.data)
                switch = self.api.switch
                replay_entry(switch, entry, self._clock, self._produced)
                if entry.request["op"] == "add_device":  # a device shows before its events
                    self.api.projection.know(switch.device(entry.request["dn"]).snapshot())
        except LogError as error:
            self._stop(f"stream {self.stream}: message {error}")
            return
        self.applied = seq
        waiting = self._waiting
        while waiting and waiting[0][0] <= seq:
            future = heapq.heappop(waiting)[2]
            if not future.done():
                future.set_result(None)

    def _follow(self, header: Mapping[str, Any]) -> None:
        switch = Switch.from_header(header, self._clock)
        projection = Projection(self.base_uri, self.form)
        switch.subscribe(projection)
        switch.subscribe(self._produced.append)
        self.api = Api(
            switch,
            projection,
            self.config.users,
            http=self.config.http,
            settings=self.config.settings,
        )

    async def caught_up(self, seq: int, timeout: float | None = CATCH_UP_TIMEOUT) -> bool:
        """Wait until the follower has taken message ``seq`` in (at most ``timeout``
        seconds); whether it has."""
        if self.applied >= seq:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (seq, next(self._order), future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        return True

    async def forward(self, account: Account, method: str, target: str, body: bytes) -> Reply:
        """Have the switch process run a change (``target``: the path with its query), and
        answer once this front's follower has taken it in."""
        nc = self._nc
        if nc is None or not nc.is_connected:
            return _unavailable("the switch is not reachable (NATS is away): nothing was done")
        _, requests = _subjects(self.stream)
        headers = {"user": account.username, "method": method, "path": target}
        try:
            answer = await nc.request(requests, body, timeout=REQUEST_TIMEOUT, headers=headers)
        except NoRespondersError:
            return _unavailable("no switch process is running: nothing was done")
        except (NatsTimeout, TimeoutError):
            return _unavailable(
                "the switch did not answer in time: the change may or may not have been done"
            )
        except NatsError as error:
            return _unavailable(f"the switch is not reachable ({error}): nothing was done")
        reply, seq = _read_reply(answer.data)
        await self.caught_up(seq)
        return reply

    def _stop(self, why: str) -> None:
        print(f"callstate: {why}", file=sys.stderr)
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(why)

    async def close(self) -> None:
        for _, _, future in self._waiting:
            future.cancel()
        if self._nc is not None:
            await self._nc.close()
