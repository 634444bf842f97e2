"""The scenario file's schema as pydantic models: ``callstate.Scenario`` and its steps.

They are the reference: ``callstate.scenario`` reads well-formed files without them (pydantic
costs a noticeable part of a short run's start) and asks them whenever it is not sure, so every
refusal and its message come from here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    ValidationError,
    model_validator,
)

from .engine import MAX_CLOCK

__all__ = [
    "AgentStep",
    "ClearStep",
    "DeviceSpec",
    "Expectation",
    "ExternalStep",
    "GetStep",
    "ResetStep",
    "Scenario",
    "WaitStep",
    "problems",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeviceSpec(_Strict):
    dn: str = Field(pattern=r"^[0-9]{1,32}$")
    features: list[Literal["mute", "recording"]] = []
    role: Literal["agent", "supervisor"] = "agent"


class Expectation(_Strict):
    """What a step expects instead of success: to be refused with this ``statusCode``."""

    status_code: int = Field(alias="statusCode", ge=1, le=999, strict=True)


class AgentStep(_Strict):
    device: str
    operation: str
    params: dict[str, Any] = {}
    call: str | None = None
    label: str | None = Field(None, alias="as")
    expect: Expectation | None = None


class ExternalParams(_Strict):
    user_data: dict[str, Any] | None = Field(None, alias="userData")  # checked by the switch


class ExternalStep(_Strict):
    external: str
    event: Literal["Call", "Answer", "Hangup", "Busy"]
    to: str | None = None
    params: ExternalParams = Field(default_factory=lambda: ExternalParams.model_validate({}))
    label: str | None = Field(None, alias="as")
    expect: Expectation | None = None

    @model_validator(mode="after")
    def _call_needs_to(self) -> ExternalStep:
        if self.event == "Call" and self.to is None:
            raise ValueError("a far-end Call needs 'to': the DN it calls")
        if self.event != "Call" and self.params.user_data is not None:
            raise ValueError("only a far-end Call carries userData")
        return self


class GetStep(_Strict):
    get: str = Field(pattern=r"^(/me/(calls(/[^/]+)?|devices)|/devices(/[^/?]+|\?fields=\*)?)/?$")
    user: str = Field(pattern=r"^(admin|[0-9]{1,32})$")


class WaitStep(_Strict):
    wait: float = Field(ge=0, le=MAX_CLOCK, strict=True, allow_inf_nan=False)


class ResetStep(_Strict):
    """The simulator's admin resets the switch (``POST /simulator/reset``)."""

    reset: StrictBool

    @model_validator(mode="after")
    def _true(self) -> ResetStep:
        if not self.reset:
            raise ValueError("a reset step is {'reset': true}")
        return self


class ClearStep(_Strict):
    """The simulator's admin clears a call, by label or id (``POST /simulator/calls/{id}``)."""

    clear: str


#: the key that tells a step's kind, in the order they are looked for
KINDS: dict[str, str] = {
    "device": "agent",
    "external": "external",
    "get": "get",
    "wait": "wait",
    "reset": "reset",
    "clear": "clear",
}


def _kind(step: Any) -> str | None:
    """A step's kind by the key it has (a step of the wrong kind's keys is then refused by its
    own model, one problem per key, rather than once per kind it might have been)."""
    if isinstance(step, dict):
        return next((kind for key, kind in KINDS.items() if key in step), None)
    return None


Step = Annotated[
    Annotated[AgentStep, Tag("agent")]
    | Annotated[ExternalStep, Tag("external")]
    | Annotated[GetStep, Tag("get")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[ResetStep, Tag("reset")]
    | Annotated[ClearStep, Tag("clear")],
    Discriminator(
        _kind,
        custom_error_type="step_kind",
        custom_error_message="a step is a JSON object with 'device' (an agent request), "
        "'external' (the far end), 'get', 'wait', 'reset' or 'clear'",
    ),
]


class Scenario(_Strict):
    """A scenario file, checked on load (unknown keys and malformed steps are refused)."""

    devices: list[DeviceSpec]
    steps: list[Step]

    @model_validator(mode="after")
    def _unique_devices(self) -> Scenario:
        dns = [d.dn for d in self.devices]
        if len(set(dns)) != len(dns):
            raise ValueError(f"device DNs must be unique: {dns}")
        return self


def problems(error: ValidationError) -> list[str]:
    """One readable line per problem pydantic found: where (``step 3``, counted from 1, and the
    field), then what — never pydantic's own dump (its URLs, the input repeated)."""
    lines = []
    for problem in error.errors(include_url=False):
        where = _where(problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def _where(loc: tuple[int | str, ...]) -> str:
    """``step 3, params.userData``, ``device 2, features[0]``: items counted from 1."""
    parts = list(loc)
    head = ""
    if len(parts) >= 2 and parts[0] in ("steps", "devices") and isinstance(parts[1], int):
        head = f"{str(parts[0])[:-1]} {parts[1] + 1}"
        parts = parts[3:] if parts[0] == "steps" else parts[2:]  # a step's kind: told by its keys
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return ", ".join(filter(None, (head, field)))
