"""The faces a user holds: a ``Device`` (an agent's phone) and a ``Call`` (one leg on it).

Both are the engine's own records (``Line``, ``Leg``) with the requests a user makes added:
reading a call reads the engine's leg, and every request goes through ``callstate.requests``
inside one engine request (``begin`` … ``commit``), so its events are logged and delivered once
it is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from .engine import Engine, Leg, Line
from .enums import (
    AgentState,
    DeviceOperation,
    DeviceOperationName,
    DeviceRole,
    Feature,
    Operation,
    OperationName,
)
from .errors import InvalidParameterError
from .events import DeviceSnapshot
from .requests import dial, line_leg, operate, perform
from .streams import EventStream, Streams

__all__ = ["Call", "Device"]

_INITIATE = frozenset({Operation.INITIATE_TRANSFER, Operation.INITIATE_CONFERENCE})


class Device(Line):
    """An agent's phone on the switch, known by its DN."""

    __slots__ = ("_engine", "_streams")

    def __init__(
        self,
        engine: Engine,
        streams: Streams,
        dn: str,
        device_id: str,
        features: frozenset[Feature],
        role: DeviceRole = DeviceRole.AGENT,
    ) -> None:
        super().__init__(dn, device_id, features, role)
        self._engine = engine
        self._streams = streams

    @property
    def calls(self) -> tuple[Call, ...]:
        """This device's live legs, oldest first."""
        return cast(tuple[Call, ...], tuple(self.legs.values()))

    def call(self, call_id: str, operation: str | None = None) -> Call:
        """This device's live leg ``call_id``; anything else is 'not found'."""
        return cast(Call, line_leg(self, call_id, operation))

    def dial(self, destination: str | Mapping[str, Any], /, **params: Any) -> Call:
        """GWS ``Dial``: a new leg to ``destination`` (a number, or ``{"phoneNumber": ...}``)."""
        if "destination" in params:
            raise InvalidParameterError("destination is given twice", operation="Dial")
        if isinstance(destination, str):  # the shorthand for {"phoneNumber": destination}
            destination = {"phoneNumber": destination}
        engine = self._engine
        engine.begin()
        request = {"destination": destination, **params}
        leg = dial(engine, self, request)
        engine.commit(
            {"op": "dial", "device": self.dn, "params": request} if engine.recorder else None
        )
        return cast(Call, leg)

    def perform(
        self, call_id: str, operation: Operation | OperationName, /, **params: Any
    ) -> Call | None:
        """POST ``{"operationName": operation, **params}`` to ``/me/calls/{call_id}``.

        Returns the call the operation made — the consult, for ``InitiateTransfer`` and
        ``InitiateConference`` — or else the call it acted on (``None`` only for a disposition
        on a released call, which has no call object any more)."""
        engine = self._engine
        engine.begin()
        leg = perform(engine, self, call_id, operation, params)
        engine.commit(
            {
                "op": "perform",
                "device": self.dn,
                "call": call_id,
                "operation": operation,
                "params": params,
            }
            if engine.recorder
            else None
        )
        if leg is None:
            return None
        consult = leg.consult
        if consult is not None and operation in _INITIATE:
            return cast(Call, consult)
        return cast(Call, leg)

    def operate(
        self, operation: DeviceOperation | AgentState | DeviceOperationName, /, **params: Any
    ) -> None:
        """A device-level operation (``POST /me/devices/{id}``: ``DoNotDisturbOn``,
        ``ForwardCallsOn`` with ``forwardTo``, ``ListenIn`` with ``targetDeviceUri``, ...) or an
        agent state (``POST /me/channels/voice``: ``Ready``, ``NotReady``, ``AfterCallWork``,
        ``AuxWork``)."""
        engine = self._engine
        engine.begin()
        operate(engine, self, operation, params)
        engine.commit(
            {"op": "operate", "device": self.dn, "operation": operation, "params": params}
            if engine.recorder
            else None
        )

    def snapshot(self) -> DeviceSnapshot:
        """The device as it stands now (what its next ``DeviceStateChanged`` would carry)."""
        return self._engine.device_snapshot(self)

    async def aperform(
        self, call_id: str, operation: Operation | OperationName, /, **params: Any
    ) -> Call | None:
        """``perform`` for coroutines, with back-pressure: concurrent requests are admitted one
        at a time, first come first served, once every event stream has room (see
        ``callstate.streams``); each runs whole, judged against what the one before left."""
        return await self._streams.admit(lambda: self.perform(call_id, operation, **params))

    async def adial(self, destination: str | Mapping[str, Any], /, **params: Any) -> Call:
        """``dial`` for coroutines (admitted like ``aperform``)."""
        return await self._streams.admit(lambda: self.dial(destination, **params))

    def events(self, *, maxsize: int = 1024) -> EventStream:
        """An async stream of this device's events, in order."""
        return EventStream(self._streams, maxsize=maxsize, device=self.dn)

    def __repr__(self) -> str:
        return f"<Device {self.dn} {sorted(self.features)}>"


class Call(Leg):
    """One leg of a call on one device (the GWS call resource). Read it; change it only
    through requests (``perform``)."""

    __slots__ = ()

    device: Device

    @property
    def parent(self) -> Call | None:
        """The call this consult was started from, while both are live."""
        return cast(Call | None, self._parent)

    @property
    def consult(self) -> Call | None:
        """The live consult started from this call, if any."""
        return cast(Call | None, self._consult)

    def perform(self, operation: Operation | OperationName, /, **params: Any) -> Call | None:
        """Shorthand for ``self.device.perform(self.id, operation, **params)`` (and what it
        returns)."""
        return self.device.perform(self.id, operation, **params)
