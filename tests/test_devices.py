"""Devices (gws-devices.md §1 to §3, §5): agent state, do-not-disturb, forwarding, the device
resource and its messages, dispositions, and how they reach logs, scenarios and the server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callstate import (
    CallNotFoundError,
    CallStateError,
    DeviceBusyError,
    DeviceStateChanged,
    InvalidParameterError,
    LogReader,
    MissingParameterError,
    NotPermittedError,
    OperationNotAvailableError,
    Projection,
    Switch,
    UnknownOperationError,
    User,
    UserDataChanged,
    replay,
    run,
)
from callstate.device_view import USER_STATES


def world() -> tuple[Switch, list[Any], Projection]:
    switch = Switch(seed=5)
    events: list[Any] = []
    projection = Projection()
    switch.subscribe(projection)
    switch.subscribe(events.append)
    for dn in ("15000", "15001", "15002"):
        projection.know(switch.add_device(dn).snapshot())
    projection.know(switch.add_device("15009", role="supervisor").snapshot())
    return switch, events, projection


def test_a_device_starts_not_ready_without_dnd_or_forwarding() -> None:
    switch, _, projection = world()
    [device] = projection.get_devices(User.agent("15000"))["devices"]
    assert device["userState"] == USER_STATES["NotReady"]  # type: ignore[index]
    assert device["doNotDisturb"] == "Off"
    assert device["capabilities"] == ["ForwardCallsOn", "DoNotDisturbOn"]
    assert device["id"] == switch.device("15000").id
    [boss] = projection.get_devices(User.agent("15009"))["devices"]
    assert boss["capabilities"] == [
        "ForwardCallsOn",
        "DoNotDisturbOn",
        "ListenIn",
        "Coach",
        "BargeIn",
    ]
    assert projection.get_devices(User.admin())["devices"] == []  # an admin owns none
    assert len(projection.list_devices(User.admin(), fields=True)["devices"]) == 4


@pytest.mark.parametrize(
    ("operation", "state", "work_mode"),
    [
        ("Ready", "Ready", None),
        ("NotReady", "NotReady", None),
        ("AfterCallWork", "NotReady", "AfterCallWork"),
        ("AuxWork", "NotReady", "AuxWork"),
    ],
)
def test_agent_states(operation: str, state: str, work_mode: str | None) -> None:
    switch, events, projection = world()
    switch.device("15000").operate(operation)
    [event] = events
    assert isinstance(event, DeviceStateChanged)
    message = projection.device_notification(event)
    assert message is not None
    assert message["channel"] == "/v2/me/devices"
    assert message["data"]["messageType"] == "DeviceStateChangeMessage"
    [device] = message["data"]["devices"]
    assert device["userState"]["state"] == state
    assert device["userState"].get("workMode") == work_mode
    assert projection.device_notification(event, User.agent("15001")) is None


def test_do_not_disturb_makes_a_dial_busy() -> None:
    switch, events, projection = world()
    switch.device("15001").operate("DoNotDisturbOn")
    assert projection.get_devices(User.agent("15001"))["devices"][0]["capabilities"] == [
        "ForwardCallsOn",
        "DoNotDisturbOff",
    ]
    events.clear()
    call = switch.device("15000").dial("15001")
    assert [(e.call.device, e.call.state) for e in events] == [
        ("15000", "Dialing"),
        ("15000", "Released"),
    ]
    assert call.state == "Released"
    assert switch.device("15001").calls == ()
    with pytest.raises(OperationNotAvailableError):
        switch.device("15001").operate("DoNotDisturbOn")
    switch.device("15001").operate("DoNotDisturbOff")
    switch.device("15000").dial("15001")
    assert [c.state for c in switch.device("15001").calls] == ["Ringing"]


def test_do_not_disturb_refuses_a_far_end_call_and_a_consult() -> None:
    switch, events, _ = world()
    switch.device("15002").operate("DoNotDisturbOn")
    events.clear()
    with pytest.raises(DeviceBusyError) as refused:
        switch.external_call("+14155550100", to="15002")
    assert refused.value.status_code == 2
    assert events == []
    caller = switch.device("15000").dial("15001")
    switch.device("15001").perform(switch.device("15001").calls[0].id, "Answer")
    caller.perform("InitiateTransfer", destination={"phoneNumber": "15002"})
    assert caller.consult is None  # the consult was refused as busy
    assert caller.state == "Held"
    assert "Retrieve" in caller.capabilities
    assert switch.device("15002").calls == ()


def test_forwarding_rings_the_destination_once() -> None:
    switch, events, projection = world()
    switch.device("15001").operate("ForwardCallsOn", forwardTo="15002")
    switch.device("15002").operate("ForwardCallsOn", forwardTo="15000")  # not followed again
    [*_, changed] = events
    assert projection.device_notification(changed)["data"]["devices"][0]["capabilities"] == [  # type: ignore[index]
        "ForwardCallsOff",
        "DoNotDisturbOn",
    ]
    call = switch.device("15000").dial("15001")
    assert call.participants == ("15002",)
    assert call.dnis == "15001"
    [ringing] = switch.device("15002").calls
    assert ringing.state == "Ringing"
    assert ringing.dnis == "15001"
    assert switch.device("15001").calls == ()


def test_do_not_disturb_wins_over_forwarding() -> None:
    switch, _, _ = world()
    target = switch.device("15001")
    target.operate("ForwardCallsOn", forwardTo="15002")
    target.operate("DoNotDisturbOn")
    assert switch.device("15000").dial("15001").state == "Released"
    assert switch.device("15002").calls == ()


def test_forwarding_outside_the_switch_dials_out() -> None:
    switch, _, _ = world()
    switch.device("15001").operate("ForwardCallsOn", forwardTo="+14155550100")
    call = switch.device("15000").dial("15001")
    assert (call.state, call.participants) == ("Dialing", ("+14155550100",))
    switch.external_answer("+14155550100")
    assert call.state == "Established"


@pytest.mark.parametrize(
    ("operation", "params", "error"),
    [
        ("ForwardCallsOn", {}, MissingParameterError),
        ("ForwardCallsOn", {"forwardTo": "not a number"}, InvalidParameterError),
        ("ForwardCallsOn", {"forwardTo": "15000"}, InvalidParameterError),
        ("ForwardCallsOff", {}, OperationNotAvailableError),
        ("DoNotDisturbOff", {}, OperationNotAvailableError),
        ("Ready", {"x": 1}, InvalidParameterError),
        ("Dance", {}, UnknownOperationError),
        ("Hangup", {}, UnknownOperationError),
        ("ListenIn", {"targetDeviceUri": "15001"}, NotPermittedError),
        ("CancelSupervisorMonitoring", {}, OperationNotAvailableError),
    ],
)
def test_refused_device_operations_change_nothing(
    operation: str, params: dict[str, Any], error: type[Exception]
) -> None:
    switch, events, _ = world()
    device = switch.device("15000")
    before = device.snapshot()
    with pytest.raises(error) as refused:
        device.operate(operation, **params)
    assert events == []
    assert device.snapshot() == before
    if error is NotPermittedError:
        assert refused.value.status_code == 5  # type: ignore[attr-defined]


def test_a_disposition_on_a_live_leg_is_attached_data() -> None:
    switch, events, projection = world()
    call = switch.device("15000").dial("15001")
    events.clear()
    call.perform("SetCallDisposition", disposition="Sale", dispositionKey="Outcome")
    [event] = events
    assert isinstance(event, UserDataChanged)
    assert call.user_data == {"Outcome": "Sale"}
    assert "SetCallDisposition" not in call.capabilities  # documented: never listed
    notice = projection.notification(event)
    assert notice is not None
    assert notice["data"]["notificationType"] == "AttachedDataChanged"
    call.perform("SetCallDisposition", disposition="Lost")
    assert call.user_data == {"Outcome": "Sale", "DispositionCode": "Lost"}


def test_a_disposition_on_a_released_leg_answers_quietly() -> None:
    switch, events, projection = world()
    device = switch.device("15000")
    call = device.dial("15001")
    call.perform("Hangup")
    events.clear()
    device.perform(call.id, "SetCallDisposition", disposition="Sale", callUuid=call.id)
    device.perform(
        call.id,
        "SetCallDisposition",
        disposition="Sale",
        callUri=f"http://127.0.0.1:8080/api/v2/calls/{call.id}",
    )
    assert events == []
    assert projection.get_call(User.agent("15000"), call.id)["statusCode"] == 6
    with pytest.raises(InvalidParameterError):
        device.perform(call.id, "SetCallDisposition", disposition="Sale", callUuid="OTHER")
    with pytest.raises(CallNotFoundError):  # another device's leg
        switch.device("15001").perform(call.id, "SetCallDisposition", disposition="Sale")


def test_a_device_keeps_its_16_latest_released_legs_for_dispositions() -> None:
    switch, _, _ = world()
    device = switch.device("15000")
    ids = []
    for _ in range(17):
        call = device.dial("+14155550100")
        call.perform("Hangup")
        ids.append(call.id)
    with pytest.raises(CallNotFoundError):
        device.perform(ids[0], "SetCallDisposition", disposition="Sale")
    for call_id in ids[1:]:
        device.perform(call_id, "SetCallDisposition", disposition="Sale")


def test_device_events_are_logged_replayed_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    switch = Switch(seed=9, log=path)
    device = switch.add_device("15000")
    switch.add_device("15009", role="supervisor")
    device.operate("Ready")
    device.operate("ForwardCallsOn", forwardTo="+14155550100")
    switch.device("15009").operate("ListenIn", targetDeviceUri=device.id)
    switch.close_log()
    reader = LogReader.read(path)
    assert [e.kind for e in reader.events] == ["DeviceStateChanged"] * 3
    projection = replay(reader)
    [shown] = projection.get_devices(User.agent("15000"))["devices"]
    assert shown["userState"]["state"] == "Ready"
    assert shown["callForwarding"] == "+14155550100"
    restored, _ = Switch.restore(path)
    assert restored.device("15000").snapshot() == device.snapshot()
    assert restored.device("15009").snapshot() == switch.device("15009").snapshot()


def test_scenarios_print_device_messages_and_get_devices() -> None:
    scenario = {
        "devices": [{"dn": "15000"}, {"dn": "15009", "role": "supervisor"}],
        "steps": [
            {"device": "15000", "operation": "Ready"},
            {"device": "15009", "operation": "Coach", "params": {"targetDeviceUri": "15000"}},
            {"device": "15000", "operation": "ListenIn", "params": {"targetDeviceUri": "15009"}},
            {"get": "/me/devices", "user": "15009"},
        ],
    }
    lines = list(run(scenario, seed=1, form="8.5.2"))
    assert [line.get("device") for line in lines[:3]] == ["15000", "15009", "15000"]
    assert lines[1]["message"]["data"]["devices"][0]["supervisorMonitoringState"] == {
        "state": "Coach",
        "mode": "AllCalls",
        "scope": "Call",
        "targetDeviceUri": lines[0]["message"]["data"]["devices"][0]["id"].join(
            ("http://127.0.0.1:8080/api/v2/devices/", "")
        ),
    }
    assert lines[2]["error"]["statusCode"] == 5
    [boss] = lines[3]["response"]["devices"]
    assert "CancelSupervisorMonitoring" in boss["capabilities"]
    json.dumps(lines)


@pytest.mark.parametrize(
    ("dn", "operation", "params"),
    [
        ("15000", "ForwardCallsOn", {"forwardTo": "15000"}),
        ("15000", "Frob", {}),
        ("15000", "Ready", {"x": 1}),
        ("15000", "ListenIn", {"targetDeviceUri": "15009"}),
        ("15009", "ListenIn", {"targetDeviceUri": "nope"}),
        ("15009", "CancelSupervisorMonitoring", {}),
    ],
)
def test_a_refused_device_request_names_the_device_and_changes_nothing(
    dn: str, operation: str, params: dict[str, Any]
) -> None:
    switch = Switch(seed=1)
    switch.add_device("15000")
    switch.add_device("15009", role="supervisor")
    events: list[Any] = []
    switch.subscribe(events.append)
    before = [d.snapshot() for d in switch.devices]
    with pytest.raises(CallStateError) as refused:
        switch.device(dn).operate(operation, **params)  # type: ignore[arg-type]
    assert refused.value.status_message.startswith(f"{operation} on device {dn}: ")
    assert refused.value.device == dn
    assert [d.snapshot() for d in switch.devices] == before
    assert events == []


def test_a_refused_dial_names_the_device() -> None:
    switch = Switch(seed=1)
    phone = switch.add_device("15000")
    with pytest.raises(CallStateError, match=r"^Dial on device 15000: 15000 is this device"):
        phone.dial("15000")
    with pytest.raises(CallStateError, match=r"^Dial on device 15000: parameter 'destination'"):
        phone.dial("")
    assert phone.calls == ()
