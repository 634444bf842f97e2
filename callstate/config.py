"""What a served switch is made of: its devices, its users and the CometD tunings.

A config is JSON (see ``docs/server.md``)::

    {"devices": [{"dn": "15000", "features": ["mute", "recording"]}, {"dn": "15001"}],
     "users": [{"username": "agent1", "password": "s3cret", "role": "agent", "dn": "15000"},
               {"username": "admin", "password": "s3cret", "role": "admin"}],
     "cometd": {"timeout": 25, "maxInterval": 10, "queueLimit": 10000}}

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

__all__ = ["DEMO", "Account", "CometdSettings", "Config", "ConfigError", "UserRole", "load"]


class ConfigError(ValueError):
    """A config that cannot be served; the message is one line."""


class UserRole(StrEnum):
    """GWS roles (``htcc/roles``)."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Account:
    """A user of the server: who logs in, with which role, on which device (none for admin)."""

    username: str
    password: str = field(repr=False)
    role: UserRole
    dn: str | None = None


@dataclass(frozen=True, slots=True)
class CometdSettings:
    """The Bayeux tunings: long-poll ``timeout`` and ``max_interval`` in seconds, and the most
    messages a client's queue holds before the client is dropped."""

    timeout: float = 25.0
    max_interval: float = 10.0
    queue_limit: int = 10_000


@dataclass(frozen=True, slots=True)
class Config:
    devices: tuple[tuple[str, frozenset[Feature]], ...]
    users: tuple[Account, ...]
    cometd: CometdSettings = CometdSettings()


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

_TOP: Final = {"devices", "users", "cometd"}
#: the shortest long-poll and the shortest silence before a drop that make sense (seconds)
_LOWEST: Final = {"timeout": 0.1, "maxInterval": 1}
_COMETD: Final = {"timeout": "timeout", "maxInterval": "max_interval", "queueLimit": "queue_limit"}


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
    return Config(devices, users, _cometd(obj.get("cometd", {})))


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
    _known(obj, {"username", "password", "role", "dn"}, where)
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
    return Account(username, password, UserRole(role), dn)


def _cometd(value: Any) -> CometdSettings:
    obj = _object(value, "cometd")
    _known(obj, _COMETD, "cometd")
    given: dict[str, Any] = {}
    for key, name in _COMETD.items():
        if key not in obj:
            continue
        number = obj[key]
        if key == "queueLimit":
            if type(number) is not int or not 1 <= number <= 10_000_000:
                raise ConfigError(
                    "cometd.queueLimit must be an integer from 1 to 10000000, "
                    f"not {shown(number, 40)}"
                )
        elif type(number) not in (int, float) or not _LOWEST[key] <= number <= 3600:
            raise ConfigError(
                f"cometd.{key} must be a number of seconds from {_LOWEST[key]} to 3600, "
                f"not {shown(number, 40)}"
            )
        given[name] = number
    return CometdSettings(**given)
