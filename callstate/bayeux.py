"""CometD for the Calls API: Bayeux 1.0 sessions over long-polling, without a web framework.

``Bayeux.handle`` takes the messages of one HTTP POST (already authenticated by ``Api``) and
returns the response body; ``Bayeux.publish`` is a switch subscriber (after the projection) that
queues each event's notification for the sessions that may see it. What it does
(``docs/server.md``):

- ``/meta/handshake`` opens a session bound to the user who made it: a client id used with another
  user's credentials is an unknown client (``402::unknown client``, advice ``handshake``).
- ``/meta/connect`` is answered at once the first time, when it carries ``advice.timeout: 0`` and
  when messages wait; otherwise it is held until one is queued or ``timeout`` passes. A newer
  connect of the same client answers the held one first.
- Topics with messages are ``/v2/me/calls``, ``/v2/me/devices`` and ``/v2/me/channels`` (the
  voice channel's agent state and do-not-disturb). Any other channel under ``/v2/`` (chats,
  emails, workitems... media this switch does not model) may be subscribed and stays silent, and
  so may the wildcards ``/*`` and ``/**`` and any ``/v2/.../*`` or ``/v2/.../**``, matched as
  Bayeux matches them (``*`` one segment, ``**`` one or more). Anything else (``/meta/...``,
  ``/service/...``, another root) is ``403::subscription denied``. A session gets every message
  of the topics its subscriptions match that its user may see (an admin: every leg's), in switch
  order, exactly once however many of its subscriptions match. Each message is encoded once (by
  the projection) and the same bytes go to every session.
- A session's queue is bounded, in messages (``queue_limit``) and bytes (``queue_bytes``): on
  overflow the session is dropped, and its next connect answers ``advice.reconnect:
  "handshake"`` (the client handshakes again and re-reads ``GET /me/calls``): never a silent
  gap. A user holds at most ``sessions_per_user`` sessions: a handshake past it drops the
  user's oldest session the same way. A session whose client has not polled for
  ``max_interval`` seconds is dropped with its queue (``sweep``).
- ``close`` (server shutdown) answers every held connect, with advice ``handshake``.

Each session's events are logged on ``callstate.cometd`` at INFO, one line each: its handshake
(client id and user), each subscribe and unsubscribe (the channels, and whether refused), its
disconnect, and why it was dropped (queue overflow, too many sessions, no connect within
``max_interval``). Polls are not: the access log has them (``callstate.access``, DEBUG).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final, cast

from .cometd import CALLS, CHANNELS, DEVICES, TOPICS
from .config import Account, CometdSettings, UserRole
from .events import CallEvent, DeviceSnapshot, DeviceStateChanged, Event
from .projection import Projection
from .wire import dumps

__all__ = ["CALLS", "CHANNELS", "DEVICES", "TOPICS", "Bayeux", "covered"]

#: a held connect ends up to this share of ``timeout`` early, at random
_JITTER: Final = 0.1
#: the most channels one session subscribes to
_MOST_SUBSCRIPTIONS: Final = 256
#: the root a subscription must have to be accepted (besides the wildcards ``/*`` and ``/**``)
_ROOT: Final = "/v2/"
#: forgotten sessions remembered, so that their next connect says why
_REMEMBERED: Final = 10_000
_DISCONNECTED: Final = "disconnected"
#: how a held connect ended
_ANSWER, _GONE, _SUPERSEDED = "answer", "gone", "superseded"
_LOG: Final = logging.getLogger("callstate.cometd")
_INFO: Final = logging.INFO


class _Session:
    __slots__ = (
        "account",
        "admin",
        "connected",
        "holds",
        "id",
        "queue",
        "queued",
        "seen",
        "subscriptions",
        "topics",
        "waiter",
    )

    def __init__(self, client_id: str, account: Account, now: float) -> None:
        self.id: Final = client_id
        self.account: Final = account
        self.admin: Final = account.role is UserRole.ADMIN
        #: the channels (or patterns) subscribed, and the topics they match
        self.subscriptions: set[str] = set()
        self.topics: frozenset[str] = frozenset()
        self.queue: list[bytes] = []
        #: bytes in ``queue``
        self.queued = 0
        #: a held connect waits on this
        self.waiter: asyncio.Future[None] | None = None
        self.connected = False
        #: connects held so far: a held connect that finds a newer one has been superseded
        self.holds = 0
        #: when a connect of this session last returned (or is held: +inf)
        self.seen = now

    def wake(self) -> None:
        if self.waiter is not None:
            _settle(self.waiter)


class Bayeux:
    """The CometD sessions of one served switch."""

    def __init__(
        self,
        projection: Projection,
        settings: CometdSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.projection: Final = projection
        settings = settings or CometdSettings()
        self.settings: Final = settings
        self.clock: Final = clock
        self._sessions: dict[str, _Session] = {}
        #: username -> its sessions' ids, oldest first
        self._by_user: dict[str, OrderedDict[str, None]] = {}
        #: DN -> sessions subscribed to /v2/me/calls that see that DN's legs
        self._calls: dict[str, set[_Session]] = {}
        #: admin sessions subscribed to /v2/me/calls (they see every leg)
        self._all_calls: set[_Session] = set()
        #: DN -> sessions of that device's users subscribed to /v2/me/devices, /v2/me/channels
        self._devices: dict[str, set[_Session]] = {}
        self._channels: dict[str, set[_Session]] = {}
        #: DN -> the device as its last event showed it (a channel message tells a change of
        #: agent state or do-not-disturb, not of forwarding or supervision)
        self._last: dict[str, DeviceSnapshot] = {d.device: d for d in projection.devices}
        #: client id -> (its user, why it was dropped)
        self._gone: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._advice = {
            "reconnect": "retry",
            "interval": 0,
            "timeout": int(settings.timeout * 1000),
        }
        self.closed = False
        self._random = random.Random().random

    @property
    def clients(self) -> int:
        """Live sessions."""
        return len(self._sessions)

    # -- the switch side --------------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Queue ``event``'s message for every session that may see it: a call event's on
        ``/v2/me/calls``, a device event's on ``/v2/me/devices`` (to the device's own users)."""
        if not isinstance(event, CallEvent):
            if isinstance(event, DeviceStateChanged):
                self._publish_device(event)
            return
        watchers = self._calls.get(event.call.device)
        admins = self._all_calls
        if not watchers and not admins:
            return
        message = self.projection.notification_json(event)
        assert message is not None  # no user given: every event has a message
        for group in (watchers, admins):
            if group:
                for session in tuple(group):
                    self._push(session, message)

    def _publish_device(self, event: DeviceStateChanged) -> None:
        device = event.device
        dn = device.device
        owners = self._devices.get(dn)
        if owners:
            encoded = self.projection.device_notification_json(event)
            for session in tuple(owners):
                self._push(session, encoded)
        before = self._last.get(dn)
        self._last[dn] = device
        listeners = self._channels.get(dn)
        if listeners and _channel_changed(before, device):
            encoded = self.projection.channel_notification_json(event)
            for session in tuple(listeners):
                self._push(session, encoded)

    def _push(self, session: _Session, message: bytes) -> None:
        queue = session.queue
        session.queued += len(message)
        if len(queue) >= self.settings.queue_limit or session.queued > self.settings.queue_bytes:
            self._drop(session, "queue overflow: messages were not read in time")
            return
        queue.append(message)
        if len(queue) == 1:
            session.wake()

    def _drop(self, session: _Session, why: str) -> None:
        if self._sessions.pop(session.id, None) is None:
            return
        mine = self._by_user[session.account.username]
        del mine[session.id]
        if not mine:
            del self._by_user[session.account.username]
        session.subscriptions.clear()
        self._index(session, frozenset())
        session.queue.clear()
        session.queued = 0
        session.wake()
        if _LOG.isEnabledFor(_INFO):
            user = session.account.username
            if why == _DISCONNECTED:
                _LOG.info("disconnect clientId=%s user=%s", session.id, user)
            else:
                _LOG.info("dropped clientId=%s user=%s: %s", session.id, user, why)
        self._gone[session.id] = (session.account.username, why)
        if len(self._gone) > _REMEMBERED:
            self._gone.popitem(last=False)

    def sweep(self) -> int:
        """Drop the sessions whose client stopped polling; how many were dropped."""
        limit = self.clock() - self.settings.max_interval
        stale = [s for s in self._sessions.values() if s.waiter is None and s.seen < limit]
        for session in stale:
            self._drop(session, "no connect within maxInterval")
        return len(stale)

    def close(self) -> None:
        """Shutdown: answer every held connect now (advice ``handshake``)."""
        self.closed = True
        for session in self._sessions.values():
            session.wake()

    # -- the client side ----------------------------------------------------------------------
    async def handle(
        self,
        account: Account,
        messages: Iterable[Any],
        gone: Callable[[], Awaitable[None]] | None = None,
    ) -> bytes | None:
        """The response body (a JSON array) to the messages of one POST by ``account``.

        ``gone`` (from the HTTP side) returns when the client has gone away: a held connect
        then ends without taking any message, and the answer is None (nobody to answer)."""
        parts: list[bytes] = []
        connected = False  # one connect per POST may be held (a batch is answered as a whole)
        for message in messages:
            if not isinstance(message, dict):
                parts.append(dumps({"successful": False, "error": "400::message is not an object"}))
                continue
            channel = message.get("channel")
            if channel == "/meta/handshake":
                parts.append(dumps(self._handshake(account, message)))
                continue
            if not isinstance(channel, str):
                parts.append(dumps(_failure(message, "400::no channel")))
                continue
            session = self._session(account, message.get("clientId"))
            if session is None:
                parts.append(dumps(self._unknown(account, message)))
            elif channel == "/meta/connect":
                if not await self._connect(session, message, parts, gone, hold=not connected):
                    return None
                connected = True
            elif channel in ("/meta/subscribe", "/meta/unsubscribe"):
                parts.append(dumps(self._subscription(session, message)))
            elif channel == "/meta/disconnect":
                self._drop(session, _DISCONNECTED)
                parts.append(dumps(_success(message, session)))
            else:
                error = (
                    "404::unknown meta channel"
                    if channel.startswith("/meta/")
                    else ("403::publish denied")
                )
                parts.append(dumps(_failure(message, error, session)))
        return b"[" + b",".join(parts) + b"]"

    def _session(self, account: Account, client_id: object) -> _Session | None:
        session = self._sessions.get(client_id) if isinstance(client_id, str) else None
        if session is None or session.account.username != account.username:
            return None
        return session

    def _unknown(self, account: Account, message: dict[str, Any]) -> dict[str, Any]:
        """The answer to a client id that names no live session of ``account``: why it was
        dropped, told once and to its own user only."""
        client_id = message.get("clientId")
        gone = self._gone.get(client_id) if isinstance(client_id, str) else None
        why = "unknown client"
        if gone is not None and gone[0] == account.username:
            del self._gone[cast(str, client_id)]
            why = gone[1]
        reply = _failure(message, f"402::{why}")
        again = "none" if why == _DISCONNECTED else "handshake"
        reply["advice"] = {"reconnect": again, "interval": 0}
        return reply

    def _handshake(self, account: Account, message: dict[str, Any]) -> dict[str, Any]:
        types = message.get("supportedConnectionTypes", ["long-polling"])
        if not isinstance(types, list) or "long-polling" not in types:
            reply = _failure(message, "301::only long-polling is supported")
            reply["supportedConnectionTypes"] = ["long-polling"]
            reply["advice"] = {"reconnect": "none"}
            return reply
        if self.closed:
            reply = _failure(message, "503::the server is shutting down")
            reply["advice"] = {"reconnect": "handshake", "interval": 1000}
            return reply
        client_id = secrets.token_urlsafe(18)
        session = _Session(client_id, account, self.clock())
        mine = self._by_user.setdefault(account.username, OrderedDict())
        while len(mine) >= self.settings.sessions_per_user:
            oldest = self._sessions[next(iter(mine))]
            self._drop(oldest, "too many sessions of this user: the oldest was dropped")
            mine = self._by_user.setdefault(account.username, OrderedDict())
        self._sessions[client_id] = session
        mine[client_id] = None
        if _LOG.isEnabledFor(_INFO):
            _LOG.info("handshake clientId=%s user=%s", client_id, account.username)
        reply = _success(message, session)
        reply["version"] = "1.0"
        reply["supportedConnectionTypes"] = ["long-polling"]
        reply["advice"] = self._advice
        return reply

    async def _connect(
        self,
        session: _Session,
        message: dict[str, Any],
        parts: list[bytes],
        gone: Callable[[], Awaitable[None]] | None,
        *,
        hold: bool,
    ) -> bool:
        """Answer a connect into ``parts``; False if the client went away while it was held.

        ``hold`` False: answer at once (a second connect in one POST)."""
        advice = message.get("advice")
        timeout = self.settings.timeout
        if not hold or (isinstance(advice, dict) and advice.get("timeout") == 0):
            timeout = 0
        if not session.connected:
            session.connected = True
            timeout = 0
        outcome = _ANSWER
        if timeout and not session.queue and not self.closed:
            outcome = await self._hold(session, self._held_for(session, timeout), gone)
            if outcome is _GONE:
                return False
        self._connected(session, message, outcome, parts)
        return True

    def _held_for(self, session: _Session, timeout: float) -> float:
        """How long to hold a connect: clients that reconnected together (after a restart)
        do not all come back in the same instant — a session's first held connect ends
        anywhere within the timeout, and each later one up to ``_JITTER`` of it early."""
        if session.holds:
            return timeout * (1 - _JITTER * self._random())
        return timeout * max(_JITTER, self._random())

    def _connected(
        self, session: _Session, message: dict[str, Any], outcome: str, parts: list[bytes]
    ) -> None:
        """A connect's answer, once answered or held (``outcome``), into ``parts``."""
        if self._sessions.get(session.id) is not session:  # dropped while held
            parts.append(dumps(self._unknown(session.account, message)))
            return
        session.seen = self.clock()
        if session.queue and outcome is _ANSWER:  # a superseded connect takes nothing
            parts.extend(session.queue)
            session.queue = []
            session.queued = 0
        reply = _success(message, session)
        reply["advice"] = {"reconnect": "handshake", "interval": 0} if self.closed else self._advice
        parts.append(dumps(reply))

    def park(
        self,
        account: Account,
        messages: list[Any],
        gone: asyncio.Future[None],
        answer: Callable[[bytes | None], None],
    ) -> bool:
        """The common case of a poll, without a task: a POST of one ``/meta/connect`` of a live
        session of ``account`` that would be held. Held here (``answer`` is called with the
        response body when it ends, or None if ``gone`` is set first: the client went), with
        exactly ``handle``'s outcome; True. False for anything else: ``handle`` it."""
        if len(messages) != 1 or self.closed:
            return False
        [message] = messages
        if not isinstance(message, dict) or message.get("channel") != "/meta/connect":
            return False
        session = self._session(account, message.get("clientId"))
        if session is None or not session.connected or session.queue:
            return False
        advice = message.get("advice")
        if isinstance(advice, dict) and advice.get("timeout") == 0:
            return False
        timeout = self.settings.timeout
        if not timeout:
            return False
        waiter, timer, mine = self._wait(session, self._held_for(session, timeout))
        if gone.done():
            _settle(waiter)
        else:
            gone.add_done_callback(lambda _: _settle(waiter))

        def ended(_: object) -> None:
            self._waited(session, waiter, timer)
            if gone.done():  # the client went: its messages stay queued
                answer(None)
                return
            parts: list[bytes] = []
            outcome = _ANSWER if session.holds == mine else _SUPERSEDED
            self._connected(session, message, outcome, parts)
            answer(b"[" + b",".join(parts) + b"]")

        waiter.add_done_callback(ended)
        return True

    @staticmethod
    def _wait(
        session: _Session, timeout: float
    ) -> tuple[asyncio.Future[None], asyncio.TimerHandle, int]:
        """A connect of ``session`` starts waiting (the one held before is answered): the
        future it waits on, the timer that ends it after ``timeout``, and its number."""
        session.wake()
        session.holds += 1
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        session.waiter = waiter
        timer = asyncio.get_running_loop().call_later(timeout, _settle, waiter)
        return waiter, timer, session.holds

    def _waited(
        self, session: _Session, waiter: asyncio.Future[None], timer: asyncio.TimerHandle
    ) -> None:
        """The wait ``_wait`` began has ended."""
        timer.cancel()
        if session.waiter is waiter:
            session.waiter = None
        session.seen = self.clock()

    async def _hold(
        self, session: _Session, timeout: float, gone: Callable[[], Awaitable[None]] | None
    ) -> str:
        """Wait for a message, ``timeout`` or shutdown: ``_ANSWER``; or ``_GONE`` if the client
        went away first, ``_SUPERSEDED`` if a newer connect of the session took over."""
        waiter, timer, mine = self._wait(session, timeout)
        watcher = None
        if gone is not None:
            watcher = asyncio.ensure_future(gone())
            watcher.add_done_callback(lambda _: _settle(waiter))
        try:
            await waiter
        finally:
            self._waited(session, waiter, timer)
        if watcher is not None:
            if watcher.done():
                return _GONE
            watcher.cancel()
        return _ANSWER if session.holds == mine else _SUPERSEDED

    def _subscription(self, session: _Session, message: dict[str, Any]) -> dict[str, Any]:
        wanted = message.get("subscription")
        channels = wanted if isinstance(wanted, list) else [wanted]
        if not channels or not all(_allowed(c) for c in channels):
            reply = _failure(message, "403::subscription denied", session)
        elif message["channel"] == "/meta/subscribe" and (
            len(session.subscriptions | set(channels)) > _MOST_SUBSCRIPTIONS
        ):
            reply = _failure(
                message,
                f"403::subscription denied: at most {_MOST_SUBSCRIPTIONS} channels a session",
                session,
            )
        else:
            subscribing = message["channel"] == "/meta/subscribe"
            for channel in cast(list[str], channels):
                if subscribing:
                    session.subscriptions.add(channel)
                else:
                    session.subscriptions.discard(channel)
            self._index(session, covered(session.subscriptions))
            reply = _success(message, session)
        if _LOG.isEnabledFor(_INFO):
            _LOG.info(
                "%s clientId=%s user=%s channel=%s%s",
                message["channel"].removeprefix("/meta/"),
                session.id,
                session.account.username,
                _shown(wanted),
                "" if reply["successful"] else " refused",
            )
        reply["subscription"] = wanted
        return reply

    def _index(self, session: _Session, topics: frozenset[str]) -> None:
        """Make ``topics`` the ones ``session`` is indexed under."""
        dn = session.account.dn
        for topic in TOPICS:
            was, now = topic in session.topics, topic in topics
            if was == now:
                continue
            if topic == CALLS and session.admin:
                (self._all_calls.add if now else self._all_calls.discard)(session)
                continue
            if dn is None:  # an admin owns no device: no device or channel messages
                continue
            index = {CALLS: self._calls, DEVICES: self._devices, CHANNELS: self._channels}[topic]
            if now:
                index.setdefault(dn, set()).add(session)
            else:
                members = index.get(dn)
                if members is not None:
                    members.discard(session)
                    if not members:
                        del index[dn]
        session.topics = topics


def _allowed(channel: object) -> bool:
    """A channel a client may subscribe to: a well-formed name under ``/v2/``, or ``/*`` and
    ``/**`` (which match every topic or none of them, as Bayeux says)."""
    if not isinstance(channel, str) or channel in ("/*", "/**"):
        return channel in ("/*", "/**")
    if not channel.startswith(_ROOT) or len(channel) > 256:
        return False
    segments = channel[1:].split("/")
    if any(not segment for segment in segments):
        return False
    return all("*" not in segment for segment in segments[:-1]) and (
        "*" not in segments[-1] or segments[-1] in ("*", "**")
    )


def covered(subscriptions: Iterable[str]) -> frozenset[str]:
    """The topics (of ``TOPICS``) the channels or patterns ``subscriptions`` match, by Bayeux's
    rules: ``/a/*`` matches ``/a/b`` only, ``/a/**`` matches ``/a/b`` and ``/a/b/c``."""
    topics: set[str] = set()
    for pattern in subscriptions:
        if pattern.endswith("/**"):
            topics.update(t for t in TOPICS if t.startswith(pattern[:-2]))
        elif pattern.endswith("/*"):
            prefix = pattern[:-1]
            topics.update(t for t in TOPICS if t.startswith(prefix) and "/" not in t[len(prefix) :])
        elif pattern in TOPICS:
            topics.add(pattern)
    return frozenset(topics)


def _channel_changed(before: DeviceSnapshot | None, after: DeviceSnapshot) -> bool:
    """Whether the voice channel has news: its agent state or do-not-disturb changed, or the
    device event changed nothing at all (an agent state set again is told again, as on
    ``/v2/me/devices``); a change of forwarding or supervision alone is not the channel's."""
    if before is None:
        return True
    if (before.user_state, before.do_not_disturb) != (after.user_state, after.do_not_disturb):
        return True
    return before == after


def _shown(channels: object) -> str:
    """Channels as a log line shows them: printable, at most 300 characters."""
    text = channels if isinstance(channels, str) and channels.isprintable() else ascii(channels)
    return text if len(text) <= 300 else text[:297] + "..."


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _success(message: dict[str, Any], session: _Session) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "channel": message["channel"],
        "successful": True,
        "clientId": session.id,
    }
    if "id" in message:
        reply["id"] = message["id"]
    return reply


def _failure(
    message: dict[str, Any], error: str, session: _Session | None = None
) -> dict[str, Any]:
    reply: dict[str, Any] = {"channel": message.get("channel"), "successful": False, "error": error}
    if session is not None:
        reply["clientId"] = session.id
    if "id" in message:
        reply["id"] = message["id"]
    return reply
