"""The request models and their JSON Schema agree with the switch, and the committed schema is
current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from callstate import CallStateError, Switch
from callstate.schema import MODELS, request_schema

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
