"""Scenarios: a JSON script of agent steps, far-end events and GETs, run against a fresh switch.

A scenario is ``{"devices": [...], "steps": [...]}``. Each step is one of

* ``{"device": DN, "operation": NAME, "params": {...}?, "call": LABEL?, "as": LABEL?}`` — an agent
  request. ``Dial`` makes a new call; any other NAME goes to the call labelled ``call`` or, without
  one, to the device's most recent live call that offers NAME (an unknown NAME is refused with
  ``statusCode`` 1 first). ``as`` labels the call the step created (the new call of ``Dial``, the
  consult of ``InitiateTransfer``/``InitiateConference``) or else the call it acted on.
* ``{"external": NUMBER, "event": "Call"|"Answer"|"Hangup"|"Busy", "to": DN?, "as": LABEL?}`` —
  the far end. ``Call`` needs ``to``; its ``params.userData`` (the only parameter a far-end
  step takes) is attached to the offered call.
* ``{"get": "/me/calls" | "/me/calls/LABEL", "user": DN | "admin"}`` — a GET as that user.
* ``{"wait": SECONDS}`` — let time pass (durations count scenario seconds, from 0): a number
  (not a string) from 0 to ``MAX_CLOCK``.
* ``{"reset": true}`` — the admin resets the switch (``Switch.reset``); ``{"clear": LABEL}`` —
  the admin clears the call labelled LABEL (or of that id) in any state (``Switch.clear_call``).

``run`` yields one JSON-ready dict per output line: ``{"device", "message"}`` per notification,
``{"device"|"external"|"clear", "error"}`` per refused step, ``{"user", "response"}`` per GET.

The schema is the pydantic model ``Scenario`` (``callstate._scenario_schema``, loaded on first
use). ``read`` and ``run`` check a plainly well-formed scenario themselves, strictly (exact JSON
types, the schema's keys only, no coercion) and without pydantic, whose import and model
building cost about a third of a short run's start; anything they are not sure of goes to
``Scenario``, so every refusal and its message are pydantic's, as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from .device import Call
from .engine import MAX_CLOCK
from .enums import DeviceOperationName, Operation
from .errors import CallNotFoundError, CallStateError, LogWriteError, MissingParameterError
from .events import CallEvent, DeviceStateChanged, Event
from .projection import DEFAULT_FORM, Form, Projection, User
from .requests import check_operation_name, is_device_operation
from .switch import ManualClock, Switch

if TYPE_CHECKING:
    from ._scenario_schema import Scenario

__all__ = ["Scenario", "Script", "read", "run"]


def __getattr__(name: str) -> object:
    if name == "Scenario":
        from ._scenario_schema import Scenario

        return Scenario
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


@dataclass(frozen=True, slots=True)
class ExternalStep:
    external: str
    event: str
    to: str | None
    user_data: dict[str, Any] | None
    label: str | None


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


def read(source: bytes | str) -> Script:
    """Check a scenario file's text; raise pydantic's ``ValidationError`` if it is not one."""
    script = _plain(_json(source))
    if script is None:
        from ._scenario_schema import Scenario

        return _script_of(Scenario.model_validate_json(source))
    return script


def _script_of(model: Scenario) -> Script:
    from . import _scenario_schema as schema

    steps: list[Step] = []
    for s in model.steps:
        if isinstance(s, schema.WaitStep):
            steps.append(WaitStep(s.wait))
        elif isinstance(s, schema.GetStep):
            steps.append(GetStep(s.get, s.user))
        elif isinstance(s, schema.ExternalStep):
            steps.append(ExternalStep(s.external, s.event, s.to, s.params.user_data, s.label))
        elif isinstance(s, schema.ResetStep):
            steps.append(ResetStep())
        elif isinstance(s, schema.ClearStep):
            steps.append(ClearStep(s.clear))
        else:
            steps.append(AgentStep(s.device, s.operation, s.params, s.call, s.label))
    devices = tuple(DeviceSpec(d.dn, tuple(d.features), d.role) for d in model.devices)
    return Script(devices, tuple(steps))


# -- the plain check: a subset of what the schema accepts, read the same way ----------------------
class _NotSure(Exception):
    """The plain check cannot vouch for this: ask the schema."""


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
_GET = re.compile(r"/me/(calls(/[^/]+)?|devices)/?")
_USER = re.compile(r"admin|[0-9]{1,32}")
_FEATURES = frozenset({"mute", "recording"})
_ROLES = frozenset({"agent", "supervisor"})
_EVENTS = frozenset({"Call", "Answer", "Hangup", "Busy"})
_AGENT = frozenset({"device", "operation", "params", "call", "as"})
_EXTERNAL = frozenset({"external", "event", "to", "params", "as"})


def _plain(data: Any) -> Script | None:
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
        return AgentStep(device, operation, params, _optional_text(step, "call"), label)
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
    return ExternalStep(_text(step["external"]), event, to, user_data, _optional_text(step, "as"))


def _error(error: CallStateError) -> dict[str, Any]:
    return {"statusCode": error.status_code, "statusMessage": error.status_message}


def run(
    scenario: Scenario | Script | Mapping[str, Any],
    *,
    form: Form = DEFAULT_FORM,
    seed: int | None = None,
    base_uri: str = "http://127.0.0.1:8080/api/v2",
    log: str | Path | None = None,
    trace: Callable[[Step, list[dict[str, Any]]], object] | None = None,
) -> Iterator[dict[str, Any]]:
    """Run ``scenario`` on a fresh switch, yielding the output lines as they happen.

    With ``log``, the switch writes its event log there as it runs (see ``callstate.log``).
    ``trace`` is told each step with the lines it produced (``callstate.sequence`` draws them).
    """
    script = _script(scenario)
    clock = ManualClock()
    switch = Switch(base_uri, seed, clock=clock, log=log)
    projection = Projection(base_uri, form)
    lines: list[dict[str, Any]] = []

    def notify(event: Event) -> None:
        projection.apply(event)
        if isinstance(event, CallEvent):
            message = projection.notification(event)
            lines.append({"device": event.call.device, "message": message})
        elif isinstance(event, DeviceStateChanged):
            message = projection.device_notification(event)
            lines.append({"device": event.device.device, "message": message})

    switch.subscribe(notify)
    for spec in script.devices:
        device = switch.add_device(spec.dn, features=spec.features, role=spec.role)
        projection.know(device.snapshot())
    labels: dict[str, str] = {}
    for step in script.steps:
        if isinstance(step, WaitStep):
            clock.now += step.wait
        elif isinstance(step, GetStep):
            lines.append({"user": step.user, "response": _get(projection, step, labels)})
        elif isinstance(step, ResetStep):
            switch.reset()
        elif isinstance(step, ClearStep):
            _clear(switch, step, labels, lines)
        else:
            _request(switch, step, labels, lines)
        if trace is not None:
            trace(step, list(lines))
        yield from lines
        lines.clear()
    switch.close_log()


def _request(
    switch: Switch,
    step: ExternalStep | AgentStep,
    labels: dict[str, str],
    lines: list[dict[str, Any]],
) -> None:
    """Make the far end's or an agent's request: a refusal is an output line, the call of a
    labelled step is remembered under its label."""
    try:
        if isinstance(step, ExternalStep):
            leg: Call | None = _external(switch, step)
        else:
            leg = _agent(switch, step, labels)
    except LogWriteError:  # not the step's fault: the run cannot go on
        raise
    except CallStateError as error:
        if isinstance(step, ExternalStep):
            lines.append({"external": step.external, "error": _error(error)})
        else:
            lines.append({"device": step.device, "error": _error(error)})
    else:
        if step.label and leg is not None:
            labels[step.label] = leg.id


def _clear(
    switch: Switch, step: ClearStep, labels: Mapping[str, str], lines: list[dict[str, Any]]
) -> None:
    """The admin clears a call (a refusal is an output line: an unknown or ended call)."""
    try:
        switch.clear_call(labels.get(step.clear, step.clear))
    except LogWriteError:  # not the step's fault: the run cannot go on
        raise
    except CallStateError as error:
        lines.append({"clear": step.clear, "error": _error(error)})


def _get(projection: Projection, step: GetStep, labels: Mapping[str, str]) -> dict[str, Any]:
    user = User.parse(step.user)
    path = step.get.rstrip("/")
    if path == "/me/calls":
        return projection.get_calls(user)
    if path == "/me/devices":
        return projection.get_devices(user)
    call_id = path.removeprefix("/me/calls/")
    return projection.get_call(user, labels.get(call_id, call_id))


def _script(scenario: Scenario | Script | Mapping[str, Any]) -> Script:
    """The plain form of a checked scenario; a mapping is checked as ``read`` checks a file."""
    if isinstance(scenario, Script):
        return scenario
    from ._scenario_schema import Scenario

    if isinstance(scenario, Scenario):
        return _script_of(scenario)
    return _plain(scenario) or _script_of(Scenario.model_validate(scenario))


def _external(switch: Switch, step: ExternalStep) -> Call:
    if step.event == "Call":
        assert step.to is not None  # checked on load
        return switch.external_call(step.external, to=step.to, user_data=step.user_data)
    if step.event == "Answer":
        return switch.external_answer(step.external, to=step.to)
    if step.event == "Busy":
        return switch.external_busy(step.external, to=step.to)
    return switch.external_hangup(step.external, to=step.to)


def _agent(switch: Switch, step: AgentStep, labels: dict[str, str]) -> Call | None:
    device = switch.device(step.device)
    if is_device_operation(step.operation):  # no call: the device itself (or the agent state)
        params = dict(step.params)
        target = params.get("targetDeviceUri")
        if isinstance(target, str) and target in {d.dn for d in switch.devices}:  # a plain DN
            params["targetDeviceUri"] = f"{switch.base_uri}/devices/{switch.device(target).id}"
        device.operate(cast(DeviceOperationName, step.operation), **params)  # checked there
        return None
    if step.operation == "Dial":
        params = dict(step.params)
        destination = params.pop("destination", None)
        if destination is None:
            raise MissingParameterError("parameter 'destination' is required", operation="Dial")
        return device.dial(destination, **params)
    op = check_operation_name(step.operation)
    if step.call is not None:
        call_id = labels.get(step.call, step.call)
    else:
        live = device.calls
        offering = [c for c in live if op in c.capabilities]
        chosen = offering or live
        if not chosen:
            raise CallNotFoundError("this device has no live call", operation=op)
        call_id = chosen[-1].id
    if op is Operation.SET_CALL_DISPOSITION:  # a released leg takes one too
        device.perform(call_id, op, **step.params)
        return None
    call = device.call(call_id, op)
    device.perform(call_id, op, **step.params)
    return call.consult if call.consult is not None and op.startswith("Initiate") else call
