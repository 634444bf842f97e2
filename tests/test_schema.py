"""The request models and their JSON Schema agree with the switch, and the committed schema is
current."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from callstate import (
    CallEvent,
    CallStateError,
    DeviceStateChanged,
    Event,
    Form,
    Projection,
    Switch,
    User,
    models,
)
from callstate.projection import FORMS
from callstate.schema import MODELS, payload_schema, request_schema, scenario_schema

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "schema" / "requests.json"


@pytest.mark.skipif(not COMMITTED.exists(), reason="docs/ are not beside these tests")
def test_the_committed_schema_is_current() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == request_schema(), "regenerate: python -m callstate schema"


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"operationName": "Answer"}, True),
        ({"operationName": "Answer", "bogus": 1}, False),
        ({"operationName": "SendDtmf", "digits": "12#"}, True),
        ({"operationName": "SendDtmf", "digits": "12a"}, False),
        ({"operationName": "SendDtmf"}, False),
        (
            {"operationName": "InitiateTransfer", "destination": {"phoneNumber": "+14155550100"}},
            True,
        ),
        ({"operationName": "InitiateTransfer", "destinaton": {"phoneNumber": "15001"}}, False),
        ({"operationName": "AttachUserData", "userData": {"a": 1, "b": "x"}}, True),
        ({"operationName": "ForwardCallsOn", "forwardTo": "15002"}, True),
        (
            {
                "operationName": "ListenIn",
                "targetDeviceUri": "x",
                "supervisorMonitoringScope": "Agent",
            },
            True,
        ),
        (
            {
                "operationName": "ListenIn",
                "targetDeviceUri": "x",
                "supervisorMonitoringScope": "All",
            },
            False,
        ),
        ({"operationName": "SetCallDisposition", "disposition": "Sale", "callUuid": "X"}, True),
    ],
)
def test_the_models_read_bodies_as_the_switch_does(body: dict[str, Any], valid: bool) -> None:
    model = MODELS[body["operationName"]]
    if valid:
        model.model_validate(body)
    else:
        with pytest.raises(ValidationError):
            model.model_validate(body)


def test_every_operation_has_a_model_and_the_schema_names_them_all() -> None:
    schema = request_schema()
    assert len(schema["oneOf"]) == len(MODELS) == 42
    for name in MODELS:
        assert schema["$defs"][f"{name}Request"]["properties"]["operationName"]["const"] == name


def test_a_body_the_model_refuses_for_a_missing_parameter_the_switch_refuses_too() -> None:
    switch = Switch(seed=1)
    device = switch.add_device("15000")
    call = device.dial("+14155550100")
    for name in ("SendDtmf", "AttachUserData", "DeleteUserDataPair"):
        with pytest.raises(ValidationError):
            MODELS[name].model_validate({"operationName": name})
        with pytest.raises(CallStateError) as refused:
            device.perform(call.id, name)  # type: ignore[arg-type]
        assert refused.value.status_code == 1


PAYLOADS = COMMITTED.parent / "payloads.json"


@pytest.mark.skipif(not PAYLOADS.exists(), reason="docs/ are not beside these tests")
def test_the_committed_payload_schema_is_current() -> None:
    committed = json.loads(PAYLOADS.read_text(encoding="utf-8"))
    assert committed == payload_schema(), "regenerate: python -m callstate schema"
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in committed["anyOf"]} >= {
        "UserResponse",
        "ChannelNotification",
        "CallResource",
        "LegacyCallResource",
        "Notification",
        "DeviceResource",
        "DeviceNotification",
        "ErrorResponse",
    }


@pytest.mark.parametrize("form", FORMS)
def test_every_payload_the_projection_gives_is_one_the_schema_describes(form: Form) -> None:
    """A day with a consult transfer, a conference, supervision, forwarding and refusals: every
    answer and message fits its model (the models forbid unknown fields)."""
    resource = models.CallResource if form == "8.5.2" else models.LegacyCallResource
    switch = Switch(seed=3)
    projection = Projection(form=form)
    messages: list[dict[str, Any]] = []

    def collect(event: Event) -> None:
        if isinstance(event, DeviceStateChanged):
            messages.append(projection.device_notification(event) or {})
            messages.append(json.loads(projection.channel_notification_json(event)))
        elif isinstance(event, CallEvent):
            messages.append(projection.notification(event) or {})

    switch.subscribe(projection)
    switch.subscribe(collect)
    agent, other, third = (switch.add_device(dn) for dn in ("15000", "15001", "15002"))
    boss = switch.add_device("15009", role="supervisor")
    boss.operate("BargeIn", targetDeviceUri=agent.id)
    agent.operate("Ready")
    call = switch.external_call("+14155550100", to="15000", user_data={"k": "v"})
    agent.perform(call.id, "Answer")
    boss.perform(boss.calls[0].id, "Answer")
    consult = agent.perform(call.id, "InitiateConference", destination={"phoneNumber": "15001"})
    assert consult is not None
    other.perform(other.calls[0].id, "Answer")
    consult.perform("CompleteConference")
    third.operate("ForwardCallsOn", forwardTo="+442071234567")
    agent.perform(call.id, "SingleStepTransfer", destination={"phoneNumber": "15002"})
    assert len(messages) > 20
    seen = {message["channel"] for message in messages}
    assert seen == {"/v2/me/calls", "/v2/me/devices", "/v2/me/channels"}
    for message in messages:
        if message["channel"] == "/v2/me/calls":
            assert isinstance(models.Notification.model_validate(message).data.call, resource)
        elif message["channel"] == "/v2/me/devices":
            models.DeviceNotification.model_validate(message)
        else:
            models.ChannelNotification.model_validate(message)
    for user in (User.admin(), User.agent("15001"), User.agent("15009")):
        calls = models.CallsResponse.model_validate(projection.get_calls(user))
        assert all(isinstance(c, resource) for c in calls.calls)
        for c in calls.calls:
            models.CallResponse.model_validate(projection.get_call(user, c.id))
        models.DevicesResponse.model_validate(projection.get_devices(user))
        for device in projection.devices:
            found = projection.get_device(user, device.device_id)
            if found["statusCode"] == 0:
                models.DeviceResponse.model_validate(found)
    models.DeviceUrisResponse.model_validate(projection.list_devices(User.admin()))
    models.DevicesResponse.model_validate(projection.list_devices(User.admin(), fields=True))
    models.ErrorResponse.model_validate(projection.get_call(User.agent("15002"), "nope"))
    devices = projection.list_devices(User.admin(), fields=True)["devices"]
    assert any("supervisorMonitoringState" in d for d in devices)
    assert any("callForwarding" in d for d in devices)


@pytest.mark.parametrize("form", FORMS)
def test_every_user_side_answer_is_one_the_schema_describes(form: Form) -> None:
    """``GET /me`` with and without subresources, ``/me/channels``, ``/me/skills`` and the
    agent-state settings, for an agent with a live call, a supervisor and an admin."""
    from callstate.api import Api
    from callstate.config import load

    config = {
        "devices": [{"dn": "15000"}, {"dn": "15009"}],
        "users": [
            {
                "username": "a",
                "password": "p",
                "role": "agent",
                "dn": "15000",
                "firstName": "A",
                "lastName": "B",
                "skills": [{"name": "Sales", "level": 3}],
            },
            {"username": "s", "password": "p", "role": "supervisor", "dn": "15009"},
            {"username": "admin", "password": "p", "role": "admin"},
        ],
        "settings": {"interaction-workspace": {"k": "v"}},
    }
    api = Api.from_config(load(config), seed=2, form=form)
    api.switch.external_call("+14155550100", to="15000")

    def get(user: str, path: str) -> Any:
        secret = base64.b64encode(f"{user}:p".encode()).decode()
        reply = api.handle("GET", path, b"", f"Basic {secret}")
        assert reply.status == 200, reply.body
        return json.loads(reply.body)

    for user in ("a", "s", "admin"):
        for query in ("", "?subresources=*", "?subresources=devices,settings"):
            answer = models.UserResponse.model_validate(get(user, f"/api/v2/me{query}"))
            if query == "?subresources=*" and user != "s":
                assert answer.user.calls
        models.ChannelsResponse.model_validate(get(user, "/api/v2/me/channels"))
        models.SkillsResponse.model_validate(get(user, "/api/v2/me/skills"))
    models.AgentStatesResponse.model_validate(get("a", "/api/v2/settings/agent-states"))


SCENARIO = COMMITTED.parent / "scenario.json"


@pytest.mark.skipif(not SCENARIO.exists(), reason="docs/ are not beside these tests")
def test_the_committed_scenario_schema_is_current() -> None:
    committed = json.loads(SCENARIO.read_text(encoding="utf-8"))
    assert committed == scenario_schema(), "regenerate: python -m callstate schema"
    agent = committed["$defs"]["AgentStep"]["properties"]
    assert agent["expect"]["anyOf"][0] == {"$ref": "#/$defs/Expectation"}
    assert committed["$defs"]["Expectation"]["required"] == ["statusCode"]
