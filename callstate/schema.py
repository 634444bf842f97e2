"""Typed request models (pydantic), one per operation, and their JSON Schema.

Each model is the body a client POSTs: ``operationName`` plus the parameters
``callstate.params.PARAMETERS`` says the operation takes (required ones required). The models
document and type the requests; the switch's own checks (``check_params``) stay the ones that
run on the request path, with the same names, so a body valid here is one the switch reads.
``write(folder)`` writes ``requests.json`` (every request as a ``oneOf`` keyed by
``operationName``) and ``payloads.json`` (what the API answers and publishes: call and device
resources, the GET responses, refusals and both CometD messages, from ``callstate.models``) into
``docs/schema/``; a test keeps the committed files equal to them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema, models_json_schema

from . import models
from .enums import AgentState, DeviceOperation, Operation
from .params import MAX_DTMF, MAX_TEXT, MAX_USER_DATA_KEY, MAX_USER_DATA_PAIRS, PARAMETERS

__all__ = ["MODELS", "PAYLOADS", "Absent", "payload_schema", "request_schema", "write"]


class Destination(BaseModel):
    """Where a call goes: a DN (digits) or a ``+`` number."""

    model_config = ConfigDict(extra="forbid")
    phoneNumber: str = Field(min_length=1, max_length=MAX_TEXT)


_Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
_UserData = Annotated[
    dict[str, str | int],
    Field(max_length=MAX_USER_DATA_PAIRS, description=f"keys of 1 to {MAX_USER_DATA_KEY} chars"),
]
#: parameter name -> its type as the wire carries it
_TYPES: dict[str, Any] = {
    "destination": Destination,
    "userData": _UserData,
    "digits": Annotated[str, Field(pattern=r"^[0-9*#]+$", max_length=MAX_DTMF)],
    "key": _Text,
    "location": _Text,
    "consultCallUri": _Text,
    "otherCallUri": _Text,
    "participant": _Text,
    "forwardTo": _Text,
    "targetDeviceUri": _Text,
    "supervisorMonitoringScope": Literal["Call", "Agent"],
    "supervisorMonitoringMode": Literal["NextCall", "AllCalls"],
    "disposition": _Text,
    "dispositionKey": _Text,
    "callUri": _Text,
    "callUuid": _Text,
}


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


#: an optional parameter of a string: absent or a string, never null (the switch refuses a null
#: where it reads a value, so the schema does not offer one)
Absent = Annotated[str | SkipJsonSchema[None], Field(json_schema_extra=_no_default)]


def _model(name: str) -> type[BaseModel]:
    required, optional = PARAMETERS.get(name, ((), ()))
    fields: dict[str, Any] = {"operationName": (Literal[name], ...)}
    for param in required:
        fields[param] = (_TYPES[param], ...)
    for param in optional:
        # absent, not null (``Absent``): the default stays out of the schema
        fields[param] = (_TYPES[param], Field(None, json_schema_extra=_no_default))
    model: type[BaseModel] = create_model(
        f"{name}Request", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


#: operation name -> its request model (call operations, Dial, device operations, agent states)
MODELS: dict[str, type[BaseModel]] = {
    name: _model(name)
    for name in [
        *(op.value for op in Operation),
        *(op.value for op in DeviceOperation),
        *(state.value for state in AgentState),
    ]
}


def request_schema() -> dict[str, Any]:
    """One JSON Schema for every request body, a ``oneOf`` keyed by ``operationName``."""
    defs: dict[str, Any] = {}
    for name, model in MODELS.items():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[f"{name}Request"] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "callstate request bodies",
        "oneOf": [{"$ref": f"#/$defs/{name}Request"} for name in MODELS],
        "discriminator": {"propertyName": "operationName"},
        "$defs": defs,
    }


#: what the API answers and publishes
PAYLOADS: Final[tuple[type[BaseModel], ...]] = (
    models.CallResource,
    models.LegacyCallResource,
    models.CallResponse,
    models.CallsResponse,
    models.Notification,
    models.DeviceResource,
    models.DevicesResponse,
    models.DeviceResponse,
    models.DeviceUrisResponse,
    models.DeviceNotification,
    models.VoiceChannel,
    models.ChannelsResponse,
    models.ChannelNotification,
    models.UserResource,
    models.UserResponse,
    models.SkillsResponse,
    models.AgentStatesResponse,
    models.ErrorResponse,
)


def payload_schema() -> dict[str, Any]:
    """One JSON Schema whose ``$defs`` name every payload (``PAYLOADS``), ``anyOf`` them."""
    _, schema = models_json_schema(
        [(model, "serialization") for model in PAYLOADS], ref_template="#/$defs/{model}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "callstate responses and notifications",
        "anyOf": [{"$ref": f"#/$defs/{model.__name__}"} for model in PAYLOADS],
        "$defs": schema["$defs"],
    }


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (``docs/scenarios.md``), for editors and checkers."""
    from .scenario import Scenario

    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def write(folder: Path) -> list[Path]:
    """Write ``requests.json``, ``payloads.json`` and ``scenario.json`` into ``folder``; their
    paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    schemas = (
        ("requests", request_schema()),
        ("payloads", payload_schema()),
        ("scenario", scenario_schema()),
    )
    for name, schema in schemas:
        path = folder / f"{name}.json"
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", "utf-8")
        written.append(path)
    return written
