"""A switch with its projection and event list, for the scenario tests of several files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Self

import pytest

from callstate import Call, CallEvent, CallStateError, Projection, Switch, User

OUT, OUT2 = "+14155550100", "+442071234567"
BASE_URI = "http://127.0.0.1:8080/api/v2"
DATA = {"AttachUserData", "UpdateUserData", "DeleteUserData", "DeleteUserDataPair"}
INITIATE = {"InitiateTransfer", "InitiateConference"}
SINGLE = {"SingleStepTransfer", "SingleStepConference"}
TRANSFERS = SINGLE | INITIATE
CONFERENCE = {"RemoveParticipantFromConference", "ClearCall"}
DIALING = {"Hangup", "SendDtmf", *DATA}
RINGING = {"Answer", *DATA}
ESTABLISHED = {"Hangup", "Hold", "SendDtmf", *TRANSFERS, *DATA}
HELD = {"Retrieve", "Hangup", *TRANSFERS, *DATA}
OWNER = ESTABLISHED | CONFERENCE


@dataclass
class World:
    """Devices ``dns`` on a seeded switch; every event lands in ``events`` and the projection."""

    switch: Switch
    projection: Projection
    events: list[CallEvent] = field(default_factory=list)

    @classmethod
    def build(cls, seed: int, dns: tuple[str, ...]) -> Self:
        switch = Switch(BASE_URI, seed)
        for dn in dns:
            switch.add_device(dn)
        world = cls(switch, Projection(BASE_URI, form="8.5.2"))
        switch.subscribe(world.projection)
        switch.subscribe(world.events.append)
        return world

    def device(self, dn: str) -> Any:
        return self.switch.device(dn)

    def leg(self, dn: str) -> Call:
        """The newest live leg on device ``dn``."""
        return self.switch.device(dn).calls[-1]

    def observe(self) -> tuple[Any, ...]:
        legs = [
            (c.id, c.state, c.capabilities, c.participants, c.user_data) for c in self.switch.calls
        ]
        return legs, self.projection.get_calls(User.admin()), len(self.events)

    def refused(self, leg: Call, op: str, code: int, **params: Any) -> None:
        """``op`` on ``leg`` is refused with ``code`` and changes nothing."""
        before = self.observe()
        with pytest.raises(CallStateError) as raised:
            leg.perform(op, **params)
        assert raised.value.status_code == code
        assert self.observe() == before

    def log(self, by: Literal["device", "id"] = "device") -> list[tuple[str, str, str]]:
        """The events since the last call, as (kind, device or call id, state)."""
        seen = [
            (type(e).__name__, e.call.device if by == "device" else e.call.id, str(e.call.state))
            for e in self.events
        ]
        self.events.clear()
        return seen
