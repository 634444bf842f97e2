"""The scenario file's schema as pydantic models: ``callstate.Scenario`` and its steps.

They are the reference: ``callstate.scenario`` reads well-formed files without them (pydantic
costs a noticeable part of a short run's start) and asks them whenever it is not sure, so every
refusal and its message come from here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from .engine import MAX_CLOCK

__all__ = [
    "AgentStep",
    "ClearStep",
    "DeviceSpec",
    "ExternalStep",
    "GetStep",
    "ResetStep",
    "Scenario",
    "WaitStep",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeviceSpec(_Strict):
    dn: str = Field(pattern=r"^[0-9]{1,32}$")
    features: list[Literal["mute", "recording"]] = []
    role: Literal["agent", "supervisor"] = "agent"


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
    get: str = Field(pattern=r"^/me/(calls(/[^/]+)?|devices)/?$")
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


class Scenario(_Strict):
    """A scenario file, checked on load (unknown keys and malformed steps are refused)."""

    devices: list[DeviceSpec]
    steps: list[AgentStep | ExternalStep | GetStep | WaitStep | ResetStep | ClearStep]

    @model_validator(mode="after")
    def _unique_devices(self) -> Scenario:
        dns = [d.dn for d in self.devices]
        if len(set(dns)) != len(dns):
            raise ValueError(f"device DNs must be unique: {dns}")
        return self
