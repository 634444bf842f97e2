"""The Calls API as one framework-free function: (method, path, body, credentials) -> reply.

``Api.handle`` holds every rule of serving a switch over HTTP (``docs/server.md``): HTTP Basic
users, the routes of ``/api/v2`` and of the simulator (the table ``callstate.routes.ROUTES``,
which the OpenAPI document at ``/api/v2/openapi.json`` describes too), the order in which checks
answer, the statusCode -> HTTP status table, and visibility (someone else's call or device
answers exactly like a missing one). Any web framework can serve a switch by passing each
request through it; the Starlette app in ``callstate.server`` is one such adapter, and CometD
is ``callstate.bayeux``.

Decisions where GWS is silent:

- A call operation POST answers ``{"statusCode": 0}`` once the switch has done it: the switch checks
  a request completely before changing anything, so a refusal comes back in the response with its
  statusCode, and nothing changed (no notification is published).
- ``{deviceId}`` in ``/me/devices/{deviceId}/...`` is the device's id (the last part of its
  ``deviceUri``); its DN is accepted too.
- Paths may end with one ``/``; query strings are ignored but for ``GET /me?subresources=`` and
  ``GET /devices?fields=*``.
- Sessions (``callstate.http_sessions``): a request with good Basic credentials and no session
  cookie of that user gets one (``Set-Cookie: JSESSIONID=...``); the cookie alone then
  authenticates. Wrong Basic credentials are refused even beside a good cookie. The user routes
  (``/me``, ``/me/channels``, ``/me/skills``, ``/settings``, ``POST /me``) are ``callstate.users``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, cast
from urllib.parse import parse_qsl

from .config import Account, Config, HttpSettings, UserRole
from .enums import AgentState, DeviceOperation, DeviceOperationName
from .errors import (
    CallStateError,
    MissingParameterError,
    UnknownOperationError,
)
from .http_sessions import COOKIE, CSRF_HEADER, HttpSession, HttpSessions
from .projection import DEFAULT_FORM, Form, Projection, User
from .routes import ROUTES, Route, Router
from .simulator import clear_call, far_end, full_collection, reset
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


#: a route's answer to (user, path parameters, query string, body)
_Handler = Callable[[Account, Mapping[str, str], str, bytes], Reply]
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
        self._router = Router(route for route in ROUTES if route.served == "api")
        self._handlers = self._routes()
        self._public: dict[str, Callable[[], Reply]] = {
            "getHealth": self._health,
            "getOpenApi": self._description,
        }
        self._openapi: bytes | None = None

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
        found = self._router.find(path)
        if found is not None:  # the routes without a user (health, the API's description)
            route = found[0].get(method)
            if route is not None and route.public:
                return self._public[route.operation]()
        login = self.admit(method, authorization, cookie=cookie, csrf_token=csrf_token)
        if isinstance(login, Reply):
            return login
        return self.conclude(login, self._run(login.account, method, path, query, body, found))

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
        return self._run(account, method, path, query, body, self._router.find(path))

    def _run(
        self,
        account: Account,
        method: str,
        path: str,
        query: str,
        body: bytes,
        found: tuple[Mapping[str, Route], dict[str, str]] | None,
    ) -> Reply:
        try:
            if found is None:
                raise _Refusal(6, f"no route {path}")
            methods, params = found
            route = methods.get(method)
            if route is None:
                allow = ", ".join(sorted(methods))
                raise _Refusal(
                    3, f"{method} is not allowed on {path} (allowed: {allow})", 405, allow
                )
            if route.public:
                return self._public[route.operation]()
            return self._handlers[route.operation](account, params, query, body)
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

    # -- routes (``callstate.routes``: each handler answers the route of its operation) -------
    def _routes(self) -> dict[str, _Handler]:
        users, projection = self.users, self.projection

        def system(*parts: str) -> Reply:
            resource = users.system(list(parts))
            if resource is None:
                raise _Refusal(6, f"{'/'.join(parts)} not found")
            return Reply(200, dumps(resource))

        def embedded(name: str) -> _Handler:
            return lambda a, p, q, b: Reply(
                200, dumps({"statusCode": 0, name: users.embedded(a, self.user(a), name)})
            )

        return {
            "getMe": lambda a, p, q, b: Reply(200, dumps(users.me(a, self.user(a), q))),
            "postUserOperation": lambda a, p, q, b: self._user_operation(a, _object(b)),
            "getChannels": embedded("channels"),
            "getSkills": embedded("skills"),
            "setAgentState": lambda a, p, q, b: self._agent_state(a, _object(b)),
            "getCalls": lambda a, p, q, b: Reply(200, projection.get_calls_json(self.user(a))),
            "getCall": lambda a, p, q, b: self._get_call(a, p["callId"]),
            "postCallOperation": lambda a, p, q, b: self._call_operation(
                a, p["callId"], _object(b)
            ),
            "getDevices": lambda a, p, q, b: Reply(
                200, dumps(projection.get_devices(self.user(a)))
            ),
            "listDevices": lambda a, p, q, b: self._devices(a, q),
            "getDevice": lambda a, p, q, b: self._devices(a, q, p["deviceId"]),
            "postDeviceOperation": lambda a, p, q, b: self._device_operation(
                a, p["deviceId"], _object(b)
            ),
            "dial": lambda a, p, q, b: self._dial(a, p["deviceId"], _object(b)),
            "getSettings": lambda a, p, q, b: system("settings"),
            "getAgentStates": lambda a, p, q, b: system("settings", "agent-states"),
            "getSettingsSection": lambda a, p, q, b: system("settings", p["name"]),
            "getVersion": lambda a, p, q, b: system("diagnostics", "version"),
            "farEnd": lambda a, p, q, b: self._far_end(a, _object(b)),
            "reset": lambda a, p, q, b: self._admin(
                a, "resets the switch", reset, _object(b) if b.strip() else {}
            ),
            "clearCall": lambda a, p, q, b: self._admin(
                a,
                "clears a call",
                lambda switch, params: clear_call(switch, p["callId"], params),
                _object(b),
            ),
            "collectGarbage": lambda a, p, q, b: self._collect(a),
        }

    def _health(self) -> Reply:
        calls = len(self.projection.snapshots)
        health = {"statusCode": 0, "calls": calls, "clients": self.clients(), **self.gauges()}
        return Reply(200, dumps(health))

    def _description(self) -> Reply:
        """``GET /api/v2/openapi.json``: built at the first request, the same bytes after."""
        if self._openapi is None:
            from .openapi import encoded

            self._openapi = encoded(self.projection.base_uri)
        return Reply(200, self._openapi)

    def _user_operation(self, account: Account, params: dict[str, Any]) -> Reply:
        """``POST /api/v2/me``: a user operation; the session ends with ``EndContactCenterSession``
        (``conclude``)."""
        if not self.users.operate(account, params):
            return Reply(200, _OK)
        return Reply(200, _OK, _ENDED)

    def _agent_state(self, account: Account, params: dict[str, Any]) -> Reply:
        dn = self._own_device(account, None)
        return self._operate(dn, params, AgentState, "an agent state operation")

    def _device_operation(self, account: Account, device_id: str, params: dict[str, Any]) -> Reply:
        dn = self._own_device(account, device_id)
        return self._operate(dn, params, DeviceOperation, "a device operation")

    def _get_call(self, account: Account, call_id: str) -> Reply:
        found = self.projection.get_call_json(self.user(account), call_id)
        return Reply(200 if found.startswith(_FOUND) else 404, found)

    def _devices(self, account: Account, query: str, device_id: str | None = None) -> Reply:
        """``GET /api/v2/devices`` (an admin's: every device's URI, or with ``fields=*`` the
        devices) and ``GET /api/v2/devices/{id}`` (what a ``deviceUri`` names)."""
        user = self.user(account)
        if device_id is not None:
            found = self.projection.get_device(user, device_id)
        else:
            fields = ("fields", "*") in parse_qsl(query)
            found = self.projection.list_devices(user, fields=fields)
        return Reply(STATUS[found["statusCode"]], dumps(found))

    def _collect(self, account: Account) -> Reply:
        if account.role is not UserRole.ADMIN:
            raise _Refusal(5, "only an admin runs the collector")
        return Reply(200, dumps({"statusCode": 0, **full_collection()}))

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

    def _far_end(self, account: Account, step: dict[str, Any]) -> Reply:
        return self._admin(account, "drives the far end", far_end, step)

    def _admin(
        self,
        account: Account,
        what: str,
        request: Callable[[Switch, dict[str, Any]], dict[str, Any]],
        params: dict[str, Any],
    ) -> Reply:
        """A simulator request (``callstate.simulator``), for an admin only."""
        if account.role is not UserRole.ADMIN:
            raise _Refusal(5, f"only an admin {what}")
        return Reply(200, dumps(request(self.switch, params)))


def _viewer(account: Account) -> User:
    return User.admin() if account.role is UserRole.ADMIN else User.agent(account.dn or "")


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
