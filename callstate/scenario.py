"""Scenarios: a JSON script of agent steps, far-end events and GETs, run against a fresh switch.

A scenario is ``{"devices": [...], "steps": [...]}``. Each step is one of

* ``{"device": DN, "operation": NAME, "params": {...}?, "call": LABEL?, "as": LABEL?,
  "expect": {"statusCode": N}?}`` — an agent
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
An agent or far-end step is expected to succeed unless its ``expect`` names the ``statusCode``
of the refusal it expects (``unexpected`` tells what went otherwise; the CLI exits 1 for it).

The schema is the pydantic model ``Scenario`` (``callstate._scenario_schema``, loaded on first
use). ``read`` and ``run`` read a plainly well-formed scenario without it
(``callstate.scenario_steps``: the steps as plain objects, and that strict check); anything the
check is not sure of goes to ``Scenario``, so every refusal and its message are pydantic's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .device import Call
from .enums import DeviceOperationName, Operation
from .errors import CallNotFoundError, CallStateError, LogWriteError, MissingParameterError
from .events import CallEvent, DeviceStateChanged, Event
from .projection import DEFAULT_FORM, Form, Projection, User
from .requests import check_operation_name, is_device_operation
from .scenario_steps import (
    AgentStep,
    ClearStep,
    DeviceSpec,
    ExternalStep,
    GetStep,
    ResetStep,
    Script,
    Step,
    WaitStep,
    plain,
    plain_text,
)
from .switch import ManualClock, Switch

if TYPE_CHECKING:
    from pydantic import ValidationError

    from ._scenario_schema import Scenario

__all__ = [
    "AgentStep",
    "ClearStep",
    "ExternalStep",
    "GetStep",
    "ResetStep",
    "Scenario",
    "Script",
    "Step",
    "WaitStep",
    "problems",
    "read",
    "run",
    "unexpected",
]


def __getattr__(name: str) -> object:
    if name == "Scenario":
        from ._scenario_schema import Scenario

        return Scenario
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read(source: bytes | str) -> Script:
    """Check a scenario file's text; raise pydantic's ``ValidationError`` if it is not one."""
    script = plain_text(source)
    if script is None:
        from ._scenario_schema import Scenario

        return _script_of(Scenario.model_validate_json(source))
    return script


def problems(error: ValidationError) -> list[str]:
    """What ``read`` refused, one line per problem, naming the step (counted from 1) or device
    and the field: ``step 3, operation: Field required``."""
    from ._scenario_schema import problems as lines

    return lines(error)


def _script_of(model: Scenario) -> Script:
    from . import _scenario_schema as schema

    steps: list[Step] = []
    for s in model.steps:
        if isinstance(s, schema.WaitStep):
            steps.append(WaitStep(s.wait))
        elif isinstance(s, schema.GetStep):
            steps.append(GetStep(s.get, s.user))
        elif isinstance(s, schema.ResetStep):
            steps.append(ResetStep())
        elif isinstance(s, schema.ClearStep):
            steps.append(ClearStep(s.clear))
        elif isinstance(s, schema.ExternalStep):
            expect = None if s.expect is None else s.expect.status_code
            steps.append(
                ExternalStep(s.external, s.event, s.to, s.params.user_data, s.label, expect)
            )
        else:
            expect = None if s.expect is None else s.expect.status_code
            steps.append(AgentStep(s.device, s.operation, s.params, s.call, s.label, expect))
    devices = tuple(DeviceSpec(d.dn, tuple(d.features), d.role) for d in model.devices)
    return Script(devices, tuple(steps))


def unexpected(step: Step, lines: list[dict[str, Any]]) -> str | None:
    """What went against the step's expectation, given the lines it printed (None: nothing).
    A step expects success unless its ``expect`` names the ``statusCode`` of its refusal (a
    ``clear`` step has none: it is expected to succeed)."""
    if not isinstance(step, AgentStep | ExternalStep | ClearStep):
        return None
    expect = None if isinstance(step, ClearStep) else step.expect
    refused = next((line["error"] for line in lines if "error" in line), None)
    if refused is None:
        return None if expect is None else f"expected statusCode {expect}: succeeded"
    code = refused["statusCode"]
    if code == expect:
        return None
    wanted = "" if expect is None else f"expected statusCode {expect}: "
    return f"{wanted}refused with statusCode {code}: {refused['statusMessage']}"


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
    if path in ("/devices", "/devices?fields=*"):
        return projection.list_devices(user, fields=path.endswith("*"))
    if path.startswith("/devices/"):
        return projection.get_device(user, path.removeprefix("/devices/"))
    call_id = path.removeprefix("/me/calls/")
    return projection.get_call(user, labels.get(call_id, call_id))


def _script(scenario: Scenario | Script | Mapping[str, Any]) -> Script:
    """The plain form of a checked scenario; a mapping is checked as ``read`` checks a file."""
    if isinstance(scenario, Script):
        return scenario
    from ._scenario_schema import Scenario

    if isinstance(scenario, Scenario):
        return _script_of(scenario)
    return plain(scenario) or _script_of(Scenario.model_validate(scenario))


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
