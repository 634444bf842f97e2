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
* ``{"wait": SECONDS}`` — let time pass (durations count scenario seconds, from 0).

``run`` yields one JSON-ready dict per output line: ``{"device", "message"}`` per notification,
``{"device"|"external", "error"}`` per refused step, ``{"user", "response"}`` per GET.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .device import Call
from .errors import CallNotFoundError, CallStateError, MissingParameterError
from .events import CallEvent
from .projection import Form, Projection, User
from .requests import check_operation_name
from .switch import ManualClock, Switch

__all__ = ["Scenario", "run"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeviceSpec(_Strict):
    dn: str = Field(pattern=r"^[0-9]+$")
    features: list[Literal["mute", "recording"]] = []


class AgentStep(_Strict):
    device: str
    operation: str
    params: dict[str, Any] = {}
    call: str | None = None
    label: str | None = Field(None, alias="as")


class ExternalParams(_Strict):
    user_data: dict[str, Any] | None = Field(None, alias="userData")  # checked by the switch


class ExternalStep(_Strict):
    external: str
    event: Literal["Call", "Answer", "Hangup", "Busy"]
    to: str | None = None
    params: ExternalParams = Field(default_factory=lambda: ExternalParams.model_validate({}))
    label: str | None = Field(None, alias="as")

    @model_validator(mode="after")
    def _call_needs_to(self) -> ExternalStep:
        if self.event == "Call" and self.to is None:
            raise ValueError("a far-end Call needs 'to': the DN it calls")
        if self.event != "Call" and self.params.user_data is not None:
            raise ValueError("only a far-end Call carries userData")
        return self


class GetStep(_Strict):
    get: str = Field(pattern=r"^/me/calls(/[^/]+)?/?$")
    user: str = Field(pattern=r"^(admin|[0-9]+)$")


class WaitStep(_Strict):
    wait: float = Field(ge=0)


class Scenario(_Strict):
    """A scenario file, checked on load (unknown keys and malformed steps are refused)."""

    devices: list[DeviceSpec]
    steps: list[AgentStep | ExternalStep | GetStep | WaitStep]

    @model_validator(mode="after")
    def _unique_devices(self) -> Scenario:
        dns = [d.dn for d in self.devices]
        if len(set(dns)) != len(dns):
            raise ValueError(f"device DNs must be unique: {dns}")
        return self


def _error(error: CallStateError) -> dict[str, Any]:
    return {"statusCode": error.status_code, "statusMessage": error.status_message}


def run(
    scenario: Scenario | dict[str, Any],
    *,
    form: Form = "8.5.0",
    seed: int | None = None,
    base_uri: str = "http://127.0.0.1:8080/api/v2",
    log: str | Path | None = None,
) -> Iterator[dict[str, Any]]:
    """Run ``scenario`` on a fresh switch, yielding the output lines as they happen.

    With ``log``, the switch writes its event log there as it runs (see ``callstate.log``).
    """
    if not isinstance(scenario, Scenario):
        scenario = Scenario.model_validate(scenario)
    clock = ManualClock()
    switch = Switch(base_uri, seed, clock=clock, log=log)
    projection = Projection(base_uri, form)
    lines: list[dict[str, Any]] = []

    def notify(event: CallEvent) -> None:
        projection.apply(event)
        lines.append({"device": event.call.device, "message": projection.notification(event)})

    switch.subscribe(notify)
    for spec in scenario.devices:
        switch.add_device(spec.dn, features=spec.features)
    labels: dict[str, str] = {}
    for step in scenario.steps:
        if isinstance(step, WaitStep):
            clock.now += step.wait
        elif isinstance(step, GetStep):
            user = User.parse(step.user)
            path = step.get.rstrip("/")
            if path == "/me/calls":
                response = projection.get_calls(user)
            else:
                call_id = path.removeprefix("/me/calls/")
                response = projection.get_call(user, labels.get(call_id, call_id))
            lines.append({"user": step.user, "response": response})
        elif isinstance(step, ExternalStep):
            try:
                leg = _external(switch, step)
            except CallStateError as error:
                lines.append({"external": step.external, "error": _error(error)})
            else:
                if step.label:
                    labels[step.label] = leg.id
        else:
            try:
                leg = _agent(switch, step, labels)
            except CallStateError as error:
                lines.append({"device": step.device, "error": _error(error)})
            else:
                if step.label:
                    labels[step.label] = leg.id
        yield from lines
        lines.clear()
    switch.close_log()


def _external(switch: Switch, step: ExternalStep) -> Call:
    if step.event == "Call":
        assert step.to is not None  # checked on load
        return switch.external_call(step.external, to=step.to, user_data=step.params.user_data)
    if step.event == "Answer":
        return switch.external_answer(step.external, to=step.to)
    if step.event == "Busy":
        return switch.external_busy(step.external, to=step.to)
    return switch.external_hangup(step.external, to=step.to)


def _agent(switch: Switch, step: AgentStep, labels: dict[str, str]) -> Call:
    device = switch.device(step.device)
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
    call = device.call(call_id, op)
    device.perform(call_id, op, **step.params)
    return call.consult if call.consult is not None and op.startswith("Initiate") else call
