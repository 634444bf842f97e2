"""HTTP sessions as GWS keeps them: a ``JSESSIONID`` cookie after a successful Basic request.

GWS is a servlet application: a request that authenticates with HTTP Basic gets a session, and the
``JSESSIONID`` cookie alone authenticates the requests after it, CometD included (real clients
handshake with the cookie only). ``EndContactCenterSession`` ends it [doc]; so does ``timeout``
seconds without a request [ours: GWS names no figure; a servlet container's default is 30
minutes]. With CSRF protection on, GWS keeps a token with the session, tells it in the
``X-CSRF-HEADER``/``X-CSRF-TOKEN`` response headers, and refuses a request that changes anything
(POST, PUT, DELETE) without it [doc].

Bounds [ours]: a user holds at most ``per_user`` sessions, the least recently used going first.
A client that keeps no cookies makes one per request: such sessions, never yet sent back, are
*provisional*, and a user holds at most ``provisional`` of them (the oldest go first), so that a
cookie-less script cannot push out the session of a desktop in use. A session id is 144 random
bits. Nothing here knows
HTTP beyond the cookie's text; ``callstate.api`` decides when a session is made or ended.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

__all__ = ["COOKIE", "CSRF_HEADER", "HttpSession", "HttpSessions", "cookie_value"]

#: the session cookie's name, as servlet containers (and so GWS) call it
COOKIE: Final = "JSESSIONID"
#: the header that carries the CSRF token (its name is itself told in ``X-CSRF-HEADER``)
CSRF_HEADER: Final = "X-CSRF-TOKEN"
#: the longest cookie value read (a session id is 24 characters)
_LONGEST: Final = 64


class HttpSession:
    """One user's HTTP session."""

    __slots__ = ("confirmed", "csrf", "id", "seen", "username")

    def __init__(self, username: str, now: float) -> None:
        self.id: Final = secrets.token_urlsafe(18)
        self.username: Final = username
        #: the CSRF token kept with the session (made when first asked for: ``token``)
        self.csrf: str | None = None
        #: when a request last used it
        self.seen = now
        #: whether a request has sent its cookie back
        self.confirmed = False

    @property
    def token(self) -> str:
        """The session's CSRF token."""
        if self.csrf is None:
            self.csrf = secrets.token_urlsafe(18)
        return self.csrf


class HttpSessions:
    """The live HTTP sessions of a server."""

    def __init__(
        self,
        timeout: float = 1800.0,
        per_user: int = 64,
        provisional: int = 8,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout: Final = timeout
        self.per_user: Final = per_user
        self.provisional: Final = provisional
        self.clock: Final = clock
        #: oldest use first
        self._live: OrderedDict[str, HttpSession] = OrderedDict()
        #: username -> its sessions' ids, oldest use first; and those never sent back
        self._by_user: dict[str, OrderedDict[str, None]] = {}
        self._provisional: dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._live)

    def find(self, cookie_header: str | None) -> HttpSession | None:
        """The live session the ``Cookie`` header names (marked as used now), if any."""
        session_id = cookie_value(cookie_header, COOKIE)
        session = self._live.get(session_id) if session_id else None
        if session is None:
            return None
        now = self.clock()
        if now - session.seen > self.timeout:
            self.end(session)
            return None
        if not session.confirmed:
            session.confirmed = True
            self._forget_provisional(session)
        self.touch(session)
        return session

    def _forget_provisional(self, session: HttpSession) -> None:
        waiting = self._provisional.get(session.username)
        if waiting is not None and waiting.pop(session.id, 0) is None and not waiting:
            del self._provisional[session.username]

    def touch(self, session: HttpSession) -> None:
        """``session`` is in use now (a request came, or its answer is going out)."""
        if session.id in self._live:
            session.seen = self.clock()
            self._live.move_to_end(session.id)
            self._by_user[session.username].move_to_end(session.id)

    def start(self, username: str) -> HttpSession:
        """A new session of ``username`` (its oldest goes if it holds ``per_user`` already)."""
        self.sweep()
        session = HttpSession(username, self.clock())
        self._live[session.id] = session
        waiting = self._provisional.get(username)
        while waiting and len(waiting) >= self.provisional:
            self.end(self._live[next(iter(waiting))])
            waiting = self._provisional.get(username)
        mine = self._by_user.get(username)
        while mine and len(mine) >= self.per_user:
            self.end(self._live[next(iter(mine))])
            mine = self._by_user.get(username)
        self._by_user.setdefault(username, OrderedDict())[session.id] = None
        self._provisional.setdefault(username, OrderedDict())[session.id] = None
        return session

    def end(self, session: HttpSession) -> None:
        """End ``session`` (nothing happens if it has ended already)."""
        if self._live.pop(session.id, None) is None:
            return
        mine = self._by_user[session.username]
        del mine[session.id]
        if not mine:
            del self._by_user[session.username]
        if not session.confirmed:
            self._forget_provisional(session)

    def sweep(self) -> int:
        """End the sessions unused for ``timeout`` seconds; how many ended."""
        limit = self.clock() - self.timeout
        ended = 0
        while self._live:
            oldest = next(iter(self._live.values()))
            if oldest.seen >= limit:
                break
            self.end(oldest)
            ended += 1
        return ended


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` request header (the first, if sent twice)."""
    if not header or name not in header:
        return None
    for part in header.split(";"):
        key, equals, value = part.strip().partition("=")
        if equals and key == name:
            value = value.strip().strip('"')
            return value if 0 < len(value) <= _LONGEST else None
    return None
