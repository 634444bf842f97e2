"""The Calls API as one framework-free function: (method, path, body, credentials) -> reply.

``Api.handle`` holds every rule of serving a switch over HTTP (``docs/server.md``): HTTP Basic
users, the routes of ``/api/v2`` and of the simulator, the order in which checks answer, the
statusCode -> HTTP status table, and visibility (someone else's call or device answers exactly like
a missing one). Any web framework can serve a switch by passing each request through it; the
Starlette app in ``callstate.server`` is one such adapter, and CometD is ``callstate.bayeux``.

Decisions where GWS is silent:

- A call operation POST answers ``{"statusCode": 0}`` once the switch has done it: the switch checks
  a request completely before changing anything, so a refusal comes back in the response with its
  statusCode, and nothing changed (no notification is published).
- ``{deviceId}`` in ``/me/devices/{deviceId}/...`` is the device's id (the last part of its
  ``deviceUri``); its DN is accepted too.
- Paths may end with one ``/``; query strings are ignored but for ``GET /me?subresources=``.
- Sessions (``callstate.http_sessions``): a request with good Basic credentials and no session
  cookie of that user gets one (``Set-Cookie: JSESSIONID=...``); the cookie alone then
  authenticates. Wrong Basic credentials are refused even beside a good cookie. The user routes
  (``/me``, ``/me/channels``, ``/me/skills``, ``/settings``, ``POST /me``) are ``callstate.users``.
"""

from __future__ import annotations

import base64
import binascii
import gc
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, cast

from . import simulator
from .config import Account, Config, HttpSettings, UserRole
from .enums import AgentState, DeviceOperation, DeviceOperationName
from .errors import (
    CallStateError,
    MissingParameterError,
    UnknownOperationError,
)
from .http_sessions import COOKIE, CSRF_HEADER, HttpSession, HttpSessions
from .projection import DEFAULT_FORM, Form, Projection, User
from .switch import Switch
from .users import Users
from .wire import dumps, loads

__all__ = ["MAX_BODY", "STATUS", "Api", "Login", "Reply"]

#: the largest request body read (a bigger one answers 413, statusCode 2)
MAX_BODY: Final = 64 * 1024
#: GWS statusCode -> HTTP status
STATUS: Final[Mapping[int, int]] = {0: 200, 1: 400, 2: 400, 3: 403, 4: 500, 5: 403, 6: 404, 20: 401}
_CHALLENGE: Final = (("www-authenticate", 'Basic realm="callstate"'),)
_OK: Final = b'{"statusCode":0}'
_FOUND: Final = b'{"statusCode":0,'
#: ``Authorization`` headers that passed, kept (a client sends the same one on every request)
_KEPT_CREDENTIALS: Final = 4096
#: the longest ``Authorization`` header read (a longer one is refused unread)
_MAX_CREDENTIALS: Final = 1024


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, JSON body, extra headers (lower-case names)."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Login:
    """Who a request comes from, and the HTTP session its cookie named (None: none yet)."""

    account: Account
    session: HttpSession | None


#: the user routes under ``/api/v2`` (``settings``, ...) and under ``/api/v2/me``
_SYSTEM: Final = frozenset(("settings", "diagnostics"))
_EMBEDDED: Final = frozenset(("channels", "skills"))
_CHANGES: Final = frozenset(("POST", "PUT", "DELETE", "PATCH"))
_ENDED: Final = (("set-cookie", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),)


class _Refusal(Exception):
    """A check that answers before the switch is asked."""

    def __init__(
        self, status_code: int, message: str, http: int | None = None, allow: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http = http
        self.allow = allow


def _reply(
    status_code: int, message: str, http: int | None = None, allow: str | None = None
) -> Reply:
    body = dumps({"statusCode": status_code, "statusMessage": message})
    status = http or STATUS.get(status_code, 500)
    if status == 401:
        return Reply(status, body, _CHALLENGE)
    return Reply(status, body, (("allow", allow),) if allow else ())


def _refused(error: CallStateError) -> Reply:
    return _reply(error.status_code, error.status_message)


class Api:
    """Serve ``switch`` (whose events ``projection`` has followed from the start) to
    ``accounts``.

    ``clients`` tells ``GET /simulator/health`` how many CometD sessions live; ``http`` sets the
    HTTP sessions (timeout, CSRF protection); ``settings`` are the option sections served under
    ``/api/v2/settings``.
    """

    def __init__(
        self,
        switch: Switch,
        projection: Projection,
        accounts: Iterable[Account],
        *,
        clients: Callable[[], int] = lambda: 0,
        http: HttpSettings | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.switch: Final = switch
        self.projection: Final = projection
        self.accounts: Final = {a.username: a for a in accounts}
        self.clients = clients
        #: more figures for ``GET /simulator/health`` (the server adds the collector's pauses)
        self.gauges: Callable[[], dict[str, Any]] = dict
        self.http: Final = http or HttpSettings()
        timeout = self.http.session_timeout
        self.sessions: Final = (
            HttpSessions(timeout) if clock is None else HttpSessions(timeout, clock=clock)
        )
        self._credentials: dict[str, Account | None] = {}
        self._users = {name: _viewer(a) for name, a in self.accounts.items()}
        #: the user routes
        self.users: Final = Users(switch, projection, settings or {})

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        seed: int | None = None,
        form: Form = DEFAULT_FORM,
        base_uri: str = "http://127.0.0.1:8080/api/v2",
        log: str | None = None,
    ) -> Api:
        """A new switch with the config's devices, followed by a new projection."""
        switch = Switch(base_uri, seed, log=log)
        projection = Projection(base_uri, form)
        switch.subscribe(projection)
        for dn, features in config.devices:
            role = config.device_role(dn)
            projection.know(switch.add_device(dn, features=features, role=role).snapshot())
        return cls(switch, projection, config.users, http=config.http, settings=config.settings)

    # -- users ------------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Account | None:
        """The account an ``Authorization: Basic ...`` header names, if its password is right."""
        if authorization is None or len(authorization) > _MAX_CREDENTIALS:
            return None
        kept = self._credentials
        account = kept.get(authorization)
        if account is not None:
            return account
        account = self._check(authorization)
        if account is not None:  # only what passed is kept: a stranger cannot fill the memory
            if len(kept) >= _KEPT_CREDENTIALS:
                kept.clear()
            kept[authorization] = account
        return account

    def login(self, authorization: str | None, cookie: str | None = None) -> Login | None:
        """Who sends a request with these ``Authorization`` and ``Cookie`` headers: Basic
        credentials, else the live session the cookie names; None if neither passes (wrong
        Basic credentials fail even beside a good cookie)."""
        if authorization is not None:
            account = self.authenticate(authorization)
            if account is None:  # the cookie is not even looked at (nor kept alive)
                return None
            session = self.sessions.find(cookie) if cookie else None
            if session is not None and session.username != account.username:
                session = None
            return Login(account, session)
        session = self.sessions.find(cookie) if cookie else None
        if session is None:
            return None
        return Login(self.accounts[session.username], session)

    def session_headers(self, login: Login) -> tuple[tuple[str, str], ...]:
        """The headers that go with an answer to ``login``: a new session's cookie when the
        request came without one, and the session's CSRF token when protection is on."""
        session = login.session
        headers: tuple[tuple[str, str], ...] = ()
        if session is None:
            session = self.sessions.start(login.account.username)
            headers = (("set-cookie", f"{COOKIE}={session.id}; Path=/; HttpOnly; SameSite=Lax"),)
        else:  # an answer going out (a held connect's, maybe long after it came) keeps it alive
            self.sessions.touch(session)
        if self.http.csrf_protection:
            headers += (("x-csrf-header", CSRF_HEADER), ("x-csrf-token", session.token))
        return headers

    def _check(self, authorization: str) -> Account | None:
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, colon, password = (
                base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, ValueError):
            return None
        given = password.encode()
        account = self.accounts.get(username)
        if not colon or account is None:
            hmac.compare_digest(given, given)  # the same work for unknown users
            return None
        if not hmac.compare_digest(given, account.password.encode()):
            return None
        return account

    def user(self, account: Account) -> User:
        """What ``account`` may see in the projection."""
        return self._users[account.username]

    # -- requests ---------------------------------------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        authorization: str | None = None,
        *,
        cookie: str | None = None,
        csrf_token: str | None = None,
    ) -> Reply:
        """Answer one HTTP request (``path`` with its query string, if any; ``cookie`` and
        ``csrf_token``: the ``Cookie`` and ``X-CSRF-TOKEN`` headers). Never raises for anything
        a client sends."""
        path, _, query = path.partition("?")
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        if path == "/simulator/health" and method == "GET":  # the one route without a user
            calls = len(self.projection.snapshots)
            health = {"statusCode": 0, "calls": calls, "clients": self.clients(), **self.gauges()}
            return Reply(200, dumps(health))
        login = self.admit(method, authorization, cookie=cookie, csrf_token=csrf_token)
        if isinstance(login, Reply):
            return login
        return self.conclude(login, self.run(login.account, method, path, query, body))

    def admit(
        self,
        method: str,
        authorization: str | None,
        *,
        cookie: str | None = None,
        csrf_token: str | None = None,
    ) -> Login | Reply:
        """The checks every request but the health check passes before its route: who sends
        it, and for a change its CSRF token (when protection is on); the refusal otherwise."""
        login = self.login(authorization, cookie)
        if login is None:
            return _reply(20, "authentication required: HTTP Basic with a configured user")
        if self.http.csrf_protection and method in _CHANGES:
            session = login.session
            if session is None or not hmac.compare_digest(
                (csrf_token or "").encode(), session.token.encode()
            ):
                return _reply(
                    3,
                    f"missing or invalid CSRF token: send the {COOKIE} cookie and the "
                    f"{CSRF_HEADER} header a GET answered with",
                    403,
                )
        return login

    def run(self, account: Account, method: str, path: str, query: str, body: bytes) -> Reply:
        """Answer a request ``admit`` let through (``path`` without its query string), with no
        session header: ``conclude`` adds them. A front process (``callstate.cluster``) admits
        a change and has the switch process run it."""
        try:
            if path == "/simulator/health":
                _method(method, "GET", path)
            return self._route(account, method, path, query, body)
        except _Refusal as refusal:
            return _reply(refusal.status_code, refusal.message, refusal.http, refusal.allow)
        except CallStateError as error:
            return _refused(error)

    def conclude(self, login: Login, reply: Reply) -> Reply:
        """``reply`` with the session headers that go with an answer to ``login`` (none when
        the request ended the session: it is ended here)."""
        if reply.headers == _ENDED:
            if login.session is not None:
                self.sessions.end(login.session)
            return reply
        return Reply(reply.status, reply.body, reply.headers + self.session_headers(login))

    @staticmethod
    def changes(method: str) -> bool:
        """Whether a request of this method may change the switch (the others only read)."""
        return method in _CHANGES

    def _route(self, account: Account, method: str, path: str, query: str, body: bytes) -> Reply:
        parts = path.split("/")[1:]
        match parts:
            case ["simulator", "gc"]:
                _method(method, "POST", path)
                if account.role is not UserRole.ADMIN:
                    raise _Refusal(5, "only an admin runs the collector")
                return Reply(200, dumps({"statusCode": 0, **full_collection()}))
            case ["simulator", "far-end"]:
                _method(method, "POST", path)
                return Reply(200, simulator.far_end(self.switch, account, _object(body)))
            case ["simulator", "reset"]:
                _method(method, "POST", path)
                params = _object(body) if body.strip() else {}
                return Reply(200, simulator.reset(self.switch, account, params))
            case ["simulator", "calls", call_id]:
                _method(method, "POST", path)
                params = _object(body)
                return Reply(200, simulator.clear_call(self.switch, account, call_id, params))
            case ["api", "v2", name, *_] if name in _SYSTEM:
                _method(method, "GET", path)
                resource = self.users.system(parts[2:])
                if resource is not None:
                    return Reply(200, dumps(resource))
            case ["api", "v2", "me", *rest]:
                return self._me(account, method, path, query, body, rest)
        raise _Refusal(6, f"no route {path}")

    def _me(
        self, account: Account, method: str, path: str, query: str, body: bytes, rest: list[str]
    ) -> Reply:
        """The routes under ``/api/v2/me`` (``rest``: the path's parts after it)."""
        match rest:
            case []:
                return self._me_itself(account, method, path, query, body)
            case [name] if name in _EMBEDDED:
                _method(method, "GET", path)
                embedded = self.users.embedded(account, self.user(account), name)
                return Reply(200, dumps({"statusCode": 0, name: embedded}))
            case ["calls"]:
                _method(method, "GET", path)
                return Reply(200, self.projection.get_calls_json(self.user(account)))
            case ["devices"]:
                _method(method, "GET", path)
                if account.dn is None:  # an admin owns no device
                    return Reply(200, b'{"statusCode":0,"devices":[]}')
                return Reply(200, dumps(self.projection.get_devices(self.user(account))))
            case ["channels", "voice"]:
                _method(method, "POST", path)
                params = _object(body)
                dn = self._own_device(account, None)
                return self._operate(dn, params, AgentState, "an agent state operation")
            case ["calls", call_id]:
                return self._call(account, method, path, call_id, body)
            case ["devices", device_id, "calls"]:
                _method(method, "POST", path)
                return self._dial(account, device_id, _object(body))
            case ["devices", device_id]:
                _method(method, "POST", path)
                params = _object(body)
                dn = self._own_device(account, device_id)
                return self._operate(dn, params, DeviceOperation, "a device operation")
        raise _Refusal(6, f"no route {path}")

    def _me_itself(
        self, account: Account, method: str, path: str, query: str, body: bytes
    ) -> Reply:
        """``GET /api/v2/me`` (the user resource) and ``POST /api/v2/me`` (user operations)."""
        if method == "POST":
            if not self.users.operate(account, _object(body)):
                return Reply(200, _OK)
            return Reply(200, _OK, _ENDED)  # the session ends (``conclude``)
        _method(method, "GET", path, "GET, POST")
        return Reply(200, dumps(self.users.me(account, self.user(account), query)))

    def _call(self, account: Account, method: str, path: str, call_id: str, body: bytes) -> Reply:
        """``GET /api/v2/me/calls/{id}`` (the call) and ``POST`` (a call operation)."""
        if method == "GET":
            found = self.projection.get_call_json(self.user(account), call_id)
            return Reply(200 if found.startswith(_FOUND) else 404, found)
        _method(method, "POST", path, "GET, POST")
        return self._call_operation(account, call_id, _object(body))

    def _operate(self, dn: str, params: dict[str, Any], kind: type[StrEnum], what: str) -> Reply:
        """A device operation or an agent state, each on its own route."""
        operation = params.pop("operationName", None)
        if not isinstance(operation, str) or operation not in {k.value for k in kind}:
            raise _unknown_operation({"operationName": operation}, what, dn)
        # a name from the wire: checked at run time, like any request
        self.switch.device(dn).operate(cast(DeviceOperationName, operation), **params)
        return Reply(200, _OK)

    def _own_device(self, account: Account, device_id: str | None) -> str:
        """The DN of the account's device, if ``device_id`` (when given) names it."""
        if account.role is UserRole.ADMIN or account.dn is None:
            raise _Refusal(5, "an admin owns no device: it cannot post operations")
        if device_id is not None and device_id not in (
            account.dn,
            self.switch.device(account.dn).id,
        ):
            raise _Refusal(6, f"device {device_id} not found")
        return account.dn

    def _call_operation(self, account: Account, call_id: str, params: dict[str, Any]) -> Reply:
        dn = self._own_device(account, None)
        device = self.switch.device(dn)
        operation = params.pop("operationName", None)
        device.call(call_id, operation if isinstance(operation, str) else None)  # 404 first
        if operation is None:
            raise MissingParameterError("parameter 'operationName' is required", call_id=call_id)
        device.perform(call_id, operation, **params)
        return Reply(200, _OK)

    def _dial(self, account: Account, device_id: str, params: dict[str, Any]) -> Reply:
        dn = self._own_device(account, device_id)
        operation = params.pop("operationName", None)
        if operation is None:
            raise MissingParameterError("parameter 'operationName' is required", operation="Dial")
        if operation != "Dial":
            raise _unknown_operation({"operationName": operation}, "Dial", dn)
        destination = params.pop("destination", None)
        if destination is None:
            raise MissingParameterError("parameter 'destination' is required", operation="Dial")
        self.switch.device(dn).dial(destination, **params)
        return Reply(200, _OK)


def full_collection() -> dict[str, Any]:
    """Run a full garbage collection now: how long it took (``ms``), the objects it scanned
    (``tracked``), found unreachable, and left out of sight (``frozen``: ``gc.freeze``)."""
    tracked = len(gc.get_objects())
    started = time.perf_counter()
    found = gc.collect()
    took = (time.perf_counter() - started) * 1000
    return {
        "ms": round(took, 1),
        "tracked": tracked,
        "unreachable": found,
        "frozen": gc.get_freeze_count(),
    }


def _viewer(account: Account) -> User:
    return User.admin() if account.role is UserRole.ADMIN else User.agent(account.dn or "")


def _method(method: str, allowed: str, path: str, allow: str | None = None) -> None:
    if method != allowed:
        allow = allow or allowed
        raise _Refusal(3, f"{method} is not allowed on {path} (allowed: {allow})", 405, allow)


def _object(body: bytes) -> dict[str, Any]:
    """The JSON object a request body holds (size first, then syntax, then shape)."""
    if len(body) > MAX_BODY:
        raise _Refusal(2, f"request body is over {MAX_BODY} bytes", 413)
    try:
        value = loads(body)
    except ValueError:
        raise _Refusal(1, "request body is not a UTF-8 JSON object") from None
    if not isinstance(value, dict):
        raise _Refusal(1, "request body is not a JSON object")
    return value


def _unknown_operation(params: Mapping[str, Any], what: str, dn: str) -> CallStateError:
    name = params.get("operationName")
    if name is None:
        return MissingParameterError("parameter 'operationName' is required")
    return UnknownOperationError(f"{name!r} is not {what} on device {dn}", operation=str(name)[:80])
