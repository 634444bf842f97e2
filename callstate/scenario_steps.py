"""A scenario's steps in plain objects, and the plain check that reads a well-formed file into
them without pydantic (``callstate.scenario`` runs them).

The check is strict — exact JSON types, the schema's keys only, no coercion — and accepts a
subset of what the pydantic schema (``callstate._scenario_schema``) accepts, read the same way:
whatever it is not sure of, it leaves to the schema, so every refusal and its message are the
schema's. (pydantic's import and model building cost about a third of a short run's start.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from .engine import MAX_CLOCK

__all__ = [
    "AgentStep",
    "ClearStep",
    "DeviceSpec",
    "ExternalStep",
    "GetStep",
    "ResetStep",
    "Script",
    "Step",
    "WaitStep",
    "plain",
    "plain_text",
]


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    dn: str
    features: tuple[str, ...]
    role: str = "agent"


@dataclass(frozen=True, slots=True)
class AgentStep:
    device: str
    operation: str
    params: dict[str, Any]
    call: str | None
    label: str | None
    expect: int | None = None  # the statusCode of the refusal the step expects


@dataclass(frozen=True, slots=True)
class ExternalStep:
    external: str
    event: str
    to: str | None
    user_data: dict[str, Any] | None
    label: str | None
    expect: int | None = None


@dataclass(frozen=True, slots=True)
class GetStep:
    get: str
    user: str


@dataclass(frozen=True, slots=True)
class WaitStep:
    wait: float


@dataclass(frozen=True, slots=True)
class ResetStep:
    reset: bool = True


@dataclass(frozen=True, slots=True)
class ClearStep:
    clear: str


Step: TypeAlias = AgentStep | ExternalStep | GetStep | WaitStep | ResetStep | ClearStep


@dataclass(frozen=True, slots=True)
class Script:
    """A checked scenario, in plain objects (what ``run`` plays)."""

    devices: tuple[DeviceSpec, ...]
    steps: tuple[Step, ...]


# -- the plain check: a subset of what the schema accepts, read the same way ----------------------
class _NotSure(Exception):
    """The plain check cannot vouch for this: ask the schema."""


def plain_text(source: bytes | str) -> Script | None:
    """The checked scenario of a file's text, or None: not sure, ask the schema."""
    return plain(_json(source))


def _json(source: bytes | str) -> Any:
    """Decode like pydantic would, or ``_NOT_SURE``: no BOM, escapes, NaN or repeated keys."""
    try:
        text = source.decode() if isinstance(source, bytes) else source
        if "\\u" in text or text.startswith("\ufeff"):
            return _NOT_SURE
        return json.loads(text, parse_constant=_refuse, object_pairs_hook=_unique)
    except (ValueError, _NotSure, RecursionError):  # Unicode/JSONDecodeError are ValueErrors
        return _NOT_SURE


_NOT_SURE: Any = object()


def _refuse(constant: str) -> Any:
    raise _NotSure(constant)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _NotSure("repeated key")
    return result


_DN = re.compile(r"[0-9]{1,32}")  # callstate.numbers.MAX_DN digits at most
_GET = re.compile(r"/me/(calls(/[^/]+)?|devices)/?|/devices(/[^/?]+|\?fields=\*)?/?")
_USER = re.compile(r"admin|[0-9]{1,32}")
_FEATURES = frozenset({"mute", "recording"})
_ROLES = frozenset({"agent", "supervisor"})
_EVENTS = frozenset({"Call", "Answer", "Hangup", "Busy"})
_AGENT = frozenset({"device", "operation", "params", "call", "as", "expect"})
_EXTERNAL = frozenset({"external", "event", "to", "params", "as", "expect"})


def plain(data: Any) -> Script | None:
    """The checked scenario of parsed JSON, or None: not sure, ask the schema."""
    try:
        return _check(data)
    except (_NotSure, RecursionError):
        return None


def _text(value: Any) -> str:
    """An exact ``str`` that pydantic takes as it is (no lone surrogate)."""
    if type(value) is not str:
        raise _NotSure(value)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise _NotSure(value) from None
    return value


def _optional_text(step: Mapping[str, Any], key: str) -> str | None:
    value = step.get(key)
    return None if value is None else _text(value)


def _expect(step: Mapping[str, Any]) -> int | None:
    expect = step.get("expect")
    if expect is None:
        return None
    code = _object(expect).get("statusCode")
    if expect.keys() != {"statusCode"} or type(code) is not int or not 1 <= code <= 999:
        raise _NotSure(expect)
    return code


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _NotSure(value)
    for key in value:
        _text(key)
    return dict(value)


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise _NotSure(value)
    return value


def _check(data: Any) -> Script:
    if type(data) is not dict or data.keys() != {"devices", "steps"}:
        raise _NotSure(data)
    devices = tuple(_device(d) for d in _list(data["devices"]))
    if len({d.dn for d in devices}) != len(devices):
        raise _NotSure("repeated DN")
    return Script(devices, tuple(_step(s) for s in _list(data["steps"])))


def _device(spec: Any) -> DeviceSpec:
    if type(spec) is not dict or "dn" not in spec or not spec.keys() <= {"dn", "features", "role"}:
        raise _NotSure(spec)
    dn = _text(spec["dn"])
    features = tuple(_text(f) for f in _list(spec.get("features", [])))
    role = spec.get("role", "agent")
    if not _DN.fullmatch(dn) or not set(features) <= _FEATURES or role not in _ROLES:
        raise _NotSure(spec)
    return DeviceSpec(dn, features, role)


def _step(step: Any) -> Step:
    if type(step) is not dict:
        raise _NotSure(step)
    keys = step.keys()
    if keys == {"wait"}:
        wait = step["wait"]
        if type(wait) in (int, float) and 0 <= wait <= MAX_CLOCK:  # finite: NaN fails too
            return WaitStep(float(wait))
    elif keys == {"get", "user"}:
        get, user = _text(step["get"]), _text(step["user"])
        if get.isascii() and _GET.fullmatch(get) and _USER.fullmatch(user):
            return GetStep(get, user)
    elif keys == {"reset"}:
        if step["reset"] is True:
            return ResetStep()
    elif keys == {"clear"}:
        return ClearStep(_text(step["clear"]))
    elif "external" in keys and "event" in keys and keys <= _EXTERNAL:
        return _external_step(step)
    elif "device" in keys and "operation" in keys and keys <= _AGENT:
        params = _object(step.get("params", {}))
        label = _optional_text(step, "as")
        device, operation = _text(step["device"]), _text(step["operation"])
        call = _optional_text(step, "call")
        return AgentStep(device, operation, params, call, label, _expect(step))
    raise _NotSure(step)


def _external_step(step: dict[str, Any]) -> ExternalStep:
    event = _text(step["event"])
    to = _optional_text(step, "to")
    params = _object(step.get("params", {}))
    if not params.keys() <= {"userData"}:
        raise _NotSure(params)
    user_data = params.get("userData")
    if user_data is not None:
        user_data = _object(user_data)
    if event not in _EVENTS or (to is None if event == "Call" else user_data is not None):
        raise _NotSure(step)
    label = _optional_text(step, "as")
    return ExternalStep(_text(step["external"]), event, to, user_data, label, _expect(step))
