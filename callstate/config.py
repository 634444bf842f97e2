"""What a served switch is made of: its devices, its users and the CometD tunings.

A config is JSON (see ``docs/server.md``)::

    {"devices": [{"dn": "15000", "features": ["mute", "recording"]}, {"dn": "15001"}],
     "users": [{"username": "agent1", "password": "s3cret", "role": "agent", "dn": "15000"},
               {"username": "admin", "password": "s3cret", "role": "admin"}],
     "cometd": {"timeout": 25, "maxInterval": 10, "queueLimit": 10000,
                "queueBytes": 8388608, "sessionsPerUser": 16},
     "http": {"sessionTimeout": 1800, "csrfProtection": false, "requestTimeout": 10,
              "idleTimeout": 10, "maxConnections": 16384},
     "settings": {"interaction-workspace": {"voice.auto-answer": false}}}

A user may also have ``firstName``, ``lastName`` and ``skills`` (``[{"name": ..., "level": N}]``),
shown by ``GET /api/v2/me``; ``settings`` are the option sections ``GET /api/v2/settings/{name}``
answers (``agent-states`` is built in: the switch's four agent states).

``load`` checks all of it and refuses a bad config with a ``ConfigError`` whose message is one
line naming the problem. Nothing here touches a switch or the network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from .enums import Feature
from .errors import shown
from .numbers import MAX_DN, is_dn

__all__ = [
    "DEMO",
    "Account",
    "CometdSettings",
    "Config",
    "ConfigError",
    "HttpSettings",
    "Skill",
    "UserRole",
    "load",
]


class ConfigError(ValueError):
    """A config that cannot be served; the message is one line."""


class UserRole(StrEnum):
    """GWS roles (``htcc/roles``)."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Skill:
    """A skill of a user, with its level."""

    name: str
    level: int


@dataclass(frozen=True, slots=True)
class Account:
    """A user of the server: who logs in, with which role, on which device (none for admin)."""

    username: str
    password: str = field(repr=False)
    role: UserRole
    dn: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    skills: tuple[Skill, ...] = ()


@dataclass(frozen=True, slots=True)
class CometdSettings:
    """The Bayeux tunings: long-poll ``timeout`` and ``max_interval`` in seconds; the most
    messages, and bytes, a client's queue holds before the client is dropped; and the most
    sessions one user holds (a new handshake past it drops the user's oldest session)."""

    timeout: float = 25.0
    max_interval: float = 10.0
    queue_limit: int = 10_000
    queue_bytes: int = 8 * 1024 * 1024
    sessions_per_user: int = 16


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """HTTP sessions: ``session_timeout`` seconds without a request end one; with
    ``csrf_protection`` a request that changes anything must carry the session's CSRF token,
    as GWS's ``enableCsrfProtection`` asks."""

    session_timeout: float = 1800.0
    csrf_protection: bool = False
    #: seconds a request may take to arrive, a connection may idle between requests; the most
    #: connections open at once (``callstate.connections``)
    request_timeout: float = 10.0
    idle_timeout: float = 10.0
    max_connections: int = 16_384


@dataclass(frozen=True, slots=True)
class Config:
    devices: tuple[tuple[str, frozenset[Feature]], ...]
    users: tuple[Account, ...]
    cometd: CometdSettings = CometdSettings()
    http: HttpSettings = HttpSettings()
    #: option sections by name (JSON objects), served under ``/api/v2/settings``
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def device_role(self, dn: str) -> str:
        """``"supervisor"`` for the device of a supervisor user, else ``"agent"``: the role the
        device takes on the switch (only a supervisor's device supervises)."""
        supervised = any(u.dn == dn and u.role is UserRole.SUPERVISOR for u in self.users)
        return "supervisor" if supervised else "agent"


#: the embedded demo center: what ``python -m callstate serve`` starts without ``--config``
DEMO: Final[Mapping[str, Any]] = {
    "devices": [
        {"dn": "15000", "features": ["mute", "recording"]},
        {"dn": "15001", "features": ["mute", "recording"]},
        {"dn": "15002", "features": ["mute"]},
        {"dn": "15010", "features": ["mute"]},
    ],
    "users": [
        {"username": "agent1", "password": "agent1", "role": "agent", "dn": "15000"},
        {"username": "agent2", "password": "agent2", "role": "agent", "dn": "15001"},
        {"username": "agent3", "password": "agent3", "role": "agent", "dn": "15002"},
        {"username": "supervisor", "password": "supervisor", "role": "supervisor", "dn": "15010"},
        {"username": "admin", "password": "admin", "role": "admin"},
    ],
}

_TOP: Final = {"devices", "users", "cometd", "http", "settings"}
_USER: Final = {"username", "password", "role", "dn", "firstName", "lastName", "skills"}
#: settings sections the server answers itself
BUILT_IN_SETTINGS: Final = frozenset(("agent-states",))
#: the shortest long-poll and the shortest silence before a drop that make sense (seconds)
_LOWEST: Final = {"timeout": 0.1, "maxInterval": 1}
_COMETD: Final = {
    "timeout": "timeout",
    "maxInterval": "max_interval",
    "queueLimit": "queue_limit",
    "queueBytes": "queue_bytes",
    "sessionsPerUser": "sessions_per_user",
}
#: the integer tunings and their bounds
_COUNTS: Final = {
    "queueLimit": (1, 10_000_000),
    "queueBytes": (1024, 1 << 32),
    "sessionsPerUser": (1, 100_000),
}


def load(source: str | bytes | Mapping[str, Any]) -> Config:
    """The checked config of a JSON text (or an already parsed object)."""
    if isinstance(source, str | bytes):
        try:
            data = json.loads(source)
        except (ValueError, RecursionError) as error:
            raise ConfigError(f"config is not JSON: {_line(error)}") from None
    else:
        data = source
    obj = _object(data, "config")
    _known(obj, _TOP, "config")
    devices = tuple(_device(d, f"devices[{i}]") for i, d in enumerate(_list(obj, "devices")))
    dns = [dn for dn, _ in devices]
    _unique(dns, "device dn")
    users = tuple(_user(u, f"users[{i}]", set(dns)) for i, u in enumerate(_list(obj, "users")))
    if not users:
        raise ConfigError("config has no users: nobody could log in")
    _unique([u.username for u in users], "username")
    return Config(
        devices,
        users,
        _cometd(obj.get("cometd", {})),
        _http(obj.get("http", {})),
        _settings(obj.get("settings", {})),
    )


def _line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a JSON object, not {shown(value, 40)}")
    return value


def _known(obj: Mapping[str, Any], keys: set[str] | dict[str, str], where: str) -> None:
    unknown = sorted(str(k) for k in obj if k not in keys)
    if unknown:
        raise ConfigError(f"{where} has unknown key {unknown[0]!r} (known: {', '.join(keys)})")


def _list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise ConfigError(f"config needs {key!r}: a JSON list, not {shown(value, 40)}")
    return value


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} needs {key!r}: a non-empty string, not {shown(value, 40)}")
    return value


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"{what} {value!r} is given twice")
        seen.add(value)


def _device(value: Any, where: str) -> tuple[str, frozenset[Feature]]:
    obj = _object(value, where)
    _known(obj, {"dn", "features"}, where)
    dn = obj.get("dn")
    if not is_dn(dn):
        raise ConfigError(f"{where}.dn must be 1 to {MAX_DN} digits, not {shown(dn, 40)}")
    features = obj.get("features", [])
    if not isinstance(features, list):
        raise ConfigError(f"{where}.features must be a list, not {shown(features, 40)}")
    known = [f.value for f in Feature]
    for feature in features:
        if feature not in known:
            raise ConfigError(f"{where}.features: {shown(feature, 40)} is not one of {known}")
    return str(dn), frozenset(Feature(f) for f in features)


def _user(value: Any, where: str, dns: set[str]) -> Account:
    obj = _object(value, where)
    _known(obj, _USER, where)
    username = _text(obj, "username", where)
    if ":" in username:
        raise ConfigError(f"{where}.username {username!r} has a ':' (HTTP Basic cannot send it)")
    password = _text(obj, "password", where)
    role = obj.get("role")
    if role not in [r.value for r in UserRole]:
        raise ConfigError(f"{where}.role must be agent, supervisor or admin, not {shown(role, 40)}")
    dn = obj.get("dn")
    if role == UserRole.ADMIN:
        if dn is not None:
            raise ConfigError(f"{where}: an admin owns no device (remove 'dn')")
    elif dn not in dns:
        raise ConfigError(f"{where}.dn must be one of the config's devices, not {shown(dn, 40)}")
    names = [_name(obj, key, where) for key in ("firstName", "lastName")]
    given = obj.get("skills", [])
    if not isinstance(given, list):
        raise ConfigError(f"{where}.skills must be a list, not {shown(given, 40)}")
    skills = tuple(_skill(v, f"{where}.skills[{i}]") for i, v in enumerate(given))
    _unique([skill.name for skill in skills], f"{where} skill")
    return Account(username, password, UserRole(role), dn, names[0], names[1], skills)


def _name(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if obj.get(key) is None else _text(obj, key, where)


def _skill(value: Any, where: str) -> Skill:
    obj = _object(value, where)
    _known(obj, {"name", "level"}, where)
    level = obj.get("level", 0)
    if type(level) is not int or not 0 <= level <= 100:
        raise ConfigError(f"{where}.level must be an integer from 0 to 100, not {shown(level, 40)}")
    return Skill(_text(obj, "name", where), level)


_HTTP_SECONDS: Final = {
    "sessionTimeout": ("session_timeout", 86_400),
    "requestTimeout": ("request_timeout", 3600),
    "idleTimeout": ("idle_timeout", 3600),
}


def _http(value: Any) -> HttpSettings:
    obj = _object(value, "http")
    _known(obj, {*_HTTP_SECONDS, "csrfProtection", "maxConnections"}, "http")
    given: dict[str, Any] = {}
    for key, (name, most) in _HTTP_SECONDS.items():
        if key in obj:
            seconds = obj[key]
            if type(seconds) not in (int, float) or not 1 <= seconds <= most:
                raise ConfigError(
                    f"http.{key} must be a number of seconds from 1 to {most}, "
                    f"not {shown(seconds, 40)}"
                )
            given[name] = float(seconds)
    csrf = obj.get("csrfProtection", False)
    if not isinstance(csrf, bool):
        raise ConfigError(f"http.csrfProtection must be true or false, not {shown(csrf, 40)}")
    most = obj.get("maxConnections", 16_384)
    if type(most) is not int or not 1 <= most <= 1_000_000:
        raise ConfigError(
            f"http.maxConnections must be an integer from 1 to 1000000, not {shown(most, 40)}"
        )
    return HttpSettings(csrf_protection=csrf, max_connections=most, **given)


def _settings(value: Any) -> Mapping[str, Mapping[str, Any]]:
    obj = _object(value, "settings")
    for name, section in obj.items():
        if name in BUILT_IN_SETTINGS:
            raise ConfigError(f"settings.{name} is built in: the server answers it itself")
        if not name or "/" in name or "?" in name:
            raise ConfigError(f"settings has a section name {name!r} no URL path can carry")
        _object(section, f"settings.{name}")
    return {name: dict(section) for name, section in obj.items()}


def _cometd(value: Any) -> CometdSettings:
    obj = _object(value, "cometd")
    _known(obj, _COMETD, "cometd")
    given: dict[str, Any] = {}
    for key, name in _COMETD.items():
        if key not in obj:
            continue
        number = obj[key]
        if key in _COUNTS:
            low, high = _COUNTS[key]
            if type(number) is not int or not low <= number <= high:
                raise ConfigError(
                    f"cometd.{key} must be an integer from {low} to {high}, not {shown(number, 40)}"
                )
        elif type(number) not in (int, float) or not _LOWEST[key] <= number <= 3600:
            raise ConfigError(
                f"cometd.{key} must be a number of seconds from {_LOWEST[key]} to 3600, "
                f"not {shown(number, 40)}"
            )
        given[name] = number
    return CometdSettings(**given)
