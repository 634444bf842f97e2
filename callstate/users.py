"""The user side of a served switch: ``GET /api/v2/me`` and its subresources, the settings a
client reads at login, and the user-level operations of ``POST /api/v2/me``.

Shapes as the GWS 8.5 pages print them: the user has a 32-hex-digit ``id``, ``userName``,
``firstName``/``lastName`` when configured, ``roles`` as ``ROLE_AGENT``/``ROLE_SUPERVISOR``/
``ROLE_ADMIN``, ``enabled``, ``changePasswordOnFirstLogin``, ``uri`` and ``path``; ids are derived
from the base URI and the username, so a restarted server names its users the same way.
``?subresources=*`` (or a comma list) embeds ``devices``, ``channels`` (the voice channel),
``skills``, ``settings`` (the config's option sections, by name) and — ours, so that a client
recovering its state after connecting finds its live calls in one read — ``calls``; names it does
not know are ignored (GWS has more subresources than a switch models), and without the parameter
none is embedded. ``deviceUri`` (ours) names the user's device.

``POST /me`` [doc: StartContactCenterSession, EndContactCenterSession; Ready, NotReady,
DoNotDisturbOn/Off "on all channels"], decisions where GWS is silent:

- ``StartContactCenterSession`` (``channels``, ``place``, ``loginCode``, ``queue``,
  ``devicePath``) logs the agent in on the voice channel: ``NotReady``, as a T-Server login leaves
  an agent. Again while logged in: nothing changes. ``place`` is the user's DN (a user has one
  device, so one place); other channels named (chat, email...) are accepted and stay silent.
- ``EndContactCenterSession`` logs the agent out — the switch has no logged-out state, so the
  device goes ``NotReady``, once per login like Start — and ends the HTTP session [doc]; for a
  user not logged in (an admin too) it only ends the HTTP session.
- ``Ready``, ``NotReady`` (``workMode`` ``AfterCallWork`` or ``AuxWork`` picks that state),
  ``DoNotDisturbOn``/``Off`` act on the voice channel, the only channel modelled.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any, Final, cast

from .config import BUILT_IN_SETTINGS, Account, Skill, UserRole
from .device_view import USER_STATES, voice_channel
from .enums import AgentState, DeviceOperationName
from .errors import (
    InvalidParameterError,
    MissingParameterError,
    NotPermittedError,
    UnknownOperationError,
    shown,
)
from .projection import Projection, User
from .switch import Switch

__all__ = [
    "API_VERSION",
    "ROLES",
    "SUBRESOURCES",
    "Users",
    "agent_states",
    "skill_resource",
    "subresources",
    "user_id",
    "user_resource",
]

#: the GWS API version ``GET /api/v2/diagnostics/version`` reports
API_VERSION: Final = "8.5.2"
#: config role -> the role GWS writes in the user resource
ROLES: Final = {
    UserRole.AGENT: "ROLE_AGENT",
    UserRole.SUPERVISOR: "ROLE_SUPERVISOR",
    UserRole.ADMIN: "ROLE_ADMIN",
}
#: what ``?subresources=`` may embed in the user (``*``: all of them)
SUBRESOURCES: Final = ("devices", "channels", "skills", "settings", "calls")


def user_id(base_uri: str, username: str) -> str:
    """The user's id: 32 hex digits, the same for the same server address and username."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{base_uri}/users/{username}").hex


def user_resource(account: Account, base_uri: str) -> dict[str, Any]:
    """The user resource, without subresources (a fresh JSON object)."""
    ident = user_id(base_uri, account.username)
    user: dict[str, Any] = {"id": ident, "userName": account.username}
    if account.first_name is not None:
        user["firstName"] = account.first_name
    if account.last_name is not None:
        user["lastName"] = account.last_name
    user.update(
        roles=[ROLES[account.role]],
        enabled=True,
        changePasswordOnFirstLogin=False,
        uri=f"{base_uri}/users/{ident}",
        path=f"/users/{ident}",
    )
    return user


def skill_resource(skill: Skill, base_uri: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid5(uuid.NAMESPACE_URL, f"{base_uri}/skills/{skill.name}").hex,
        "name": skill.name,
        "level": skill.level,
    }


def agent_states() -> list[dict[str, str]]:
    """``GET /api/v2/settings/agent-states``: the agent states a device takes, each with the
    ``operationName`` that sets it (``POST /api/v2/me/channels/voice``)."""
    return [{"operationName": state.value, **shown} for state, shown in USER_STATES.items()]


#: ``StartContactCenterSession``'s parameters [doc]
_SESSION_PARAMS: Final = frozenset(("channels", "place", "loginCode", "queue", "devicePath"))
#: user-level operations that set the voice channel's agent state
_USER_STATES: Final = {"Ready": AgentState.READY, "NotReady": AgentState.NOT_READY}
_WORK_MODES: Final = {"AfterCallWork": AgentState.AFTER_CALL_WORK, "AuxWork": AgentState.AUX_WORK}
_USER_DND: Final = ("DoNotDisturbOn", "DoNotDisturbOff")
_START, _END = "StartContactCenterSession", "EndContactCenterSession"
_USER_OPERATIONS: Final = (_START, _END, *_USER_STATES, *_USER_DND)


def subresources(query: str) -> tuple[str, ...]:
    """The ``SUBRESOURCES`` a query string's ``subresources`` asks for."""
    given = urllib.parse.parse_qs(query).get("subresources")
    if not given:
        return ()
    names = {name.strip() for value in given for name in value.split(",")}
    return SUBRESOURCES if "*" in names else tuple(n for n in SUBRESOURCES if n in names)


class Users:
    """The user routes over ``switch`` and ``projection``; ``settings`` are the config's option
    sections. Each answer is a JSON object (``statusCode`` 0); a refusal raises a
    ``CallStateError``."""

    def __init__(
        self, switch: Switch, projection: Projection, settings: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.switch: Final = switch
        self.projection: Final = projection
        self.settings: Final = dict(settings)
        #: users logged in on the voice channel (StartContactCenterSession)
        self._logged_in: set[str] = set()

    def me(self, account: Account, user: User, query: str = "") -> dict[str, Any]:
        """``GET /me``: the user resource, with the subresources ``query`` asks for."""
        base = self.projection.base_uri
        resource = user_resource(account, base)
        if account.dn is not None:
            resource["deviceUri"] = f"{base}/devices/{self.switch.device(account.dn).id}"
        for name in subresources(query):
            resource[name] = self.embedded(account, user, name)
        return {"statusCode": 0, "user": resource}

    def embedded(self, account: Account, user: User, name: str) -> Any:
        """A subresource of the user (also ``GET /me/channels``, ``GET /me/skills``)."""
        if name == "calls":
            return self.projection.get_calls(user)["calls"]
        if name == "settings":
            return self.settings
        if name == "skills":
            return [skill_resource(s, self.projection.base_uri) for s in account.skills]
        device = None if account.dn is None else self.projection.device(account.dn)
        if device is None:  # an admin owns no device, and so no voice channel
            return []
        if name == "channels":
            return [voice_channel(device)]
        return self.projection.get_devices(user)["devices"]

    def system(self, parts: list[str]) -> dict[str, Any] | None:
        """``settings``, ``settings/{name}``, ``diagnostics/version`` (the path after
        ``/api/v2/``); None if no such resource."""
        if parts == ["diagnostics", "version"]:
            return {"statusCode": 0, "version": API_VERSION}
        if parts == ["settings"]:
            base = self.projection.base_uri
            names = sorted({*BUILT_IN_SETTINGS, *self.settings})
            listed = [
                {"displayName": name, "key": "name", "uri": f"{base}/settings/{name}"}
                for name in names
            ]
            return {"statusCode": 0, "settings": listed}
        if len(parts) == 2 and parts[0] == "settings":
            if parts[1] == "agent-states":
                return {"statusCode": 0, "settings": agent_states()}
            section = self.settings.get(parts[1])
            if section is not None:
                return {"statusCode": 0, "settings": section}
        return None

    def operate(self, account: Account, params: dict[str, Any]) -> bool:
        """``POST /me`` (``params`` with ``operationName``); True when the HTTP session ends."""
        operation = params.pop("operationName", None)
        if operation == _END:  # logs out (if logged in: like Start, once) and ends the session
            _no_more(params, _END)
            if account.dn is not None and account.username in self._logged_in:
                self.switch.device(account.dn).operate("NotReady")
                self._logged_in.discard(account.username)
            return True
        if operation not in _USER_OPERATIONS:
            if operation is None:
                raise MissingParameterError("parameter 'operationName' is required")
            raise UnknownOperationError(
                f"not a user operation (POST /api/v2/me takes {', '.join(_USER_OPERATIONS)})",
                operation=str(operation)[:80],
            )
        name = cast(str, operation)
        if account.role is UserRole.ADMIN or account.dn is None:
            raise NotPermittedError(
                "an admin owns no device: it has no voice channel", operation=name
            )
        device = self.switch.device(account.dn)
        if name == _START:
            self._start(account, device.dn, params)
        elif name in _USER_DND:
            _no_more(params, name)
            device.operate(cast(DeviceOperationName, name))
        else:
            device.operate(_agent_state(name, params).value)
        return False

    def _start(self, account: Account, dn: str, params: Mapping[str, Any]) -> None:
        unknown = sorted(set(params) - _SESSION_PARAMS)
        if unknown:
            raise InvalidParameterError(f"unknown parameter {unknown[0]!r}", operation=_START)
        channels = params.get("channels", ["voice"])
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise InvalidParameterError(
                "parameter 'channels' is a list of channel names", operation=_START
            )
        for name in ("place", "loginCode", "queue", "devicePath"):
            if not isinstance(params.get(name, ""), str):
                raise InvalidParameterError(
                    f"parameter {name!r} is a string, not {shown(params[name], 40)}",
                    operation=_START,
                )
        place = params.get("place")
        if place is not None and place != dn:
            raise InvalidParameterError(
                f"parameter 'place': {shown(place, 40)} is not this user's place ({dn})",
                operation=_START,
            )
        if "voice" in channels and account.username not in self._logged_in:
            self.switch.device(dn).operate("NotReady")
            self._logged_in.add(account.username)


def _agent_state(operation: str, params: dict[str, Any]) -> AgentState:
    work_mode = params.pop("workMode", None)
    _no_more(params, operation)
    state = _USER_STATES[operation]
    if work_mode is None:
        return state
    if (
        state is not AgentState.NOT_READY
        or not isinstance(work_mode, str)  # an object is unhashable: refused, not looked up
        or work_mode not in _WORK_MODES
    ):
        raise InvalidParameterError(
            f"parameter 'workMode': {shown(work_mode, 40)} is not one of "
            f"{', '.join(_WORK_MODES)} (with NotReady)",
            operation=operation,
        )
    return _WORK_MODES[work_mode]


def _no_more(params: Mapping[str, Any], operation: str) -> None:
    if params:
        raise InvalidParameterError(f"unknown parameter {sorted(params)[0]!r}", operation=operation)
