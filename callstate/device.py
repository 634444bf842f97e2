"""The faces a user holds: a ``Device`` (an agent's phone) and a ``Call`` (one leg on it).

Each wraps one of the engine's records (``Line``, ``Leg``) and adds the requests a user makes:
reading a face reads its record, and every request goes through ``callstate.requests`` inside
one engine request (``begin`` … ``commit``), so its events are logged and delivered once it is
done. A face holds no state of its own and offers no setter: the only way to change a call or a
device is a request, which is checked, logged and announced.

``Faces`` keeps one face per record: a device's for as long as the switch lives, a call's for
as long as someone holds it (``switch.call(id) is call``), weakly: a released leg nobody holds
is freed at once. (Faces kept strongly until a batch was pruned kept released legs alive:
5.9 MB after 10,000 calls were made and released, against 0.18 MB now.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from weakref import KeyedRef

from .engine import Connection, Engine, Leg, Line, Watch
from .enums import (
    AgentState,
    CallType,
    DeviceOperation,
    DeviceOperationName,
    DeviceRole,
    Feature,
    Mute,
    Operation,
    OperationName,
    RecordingState,
    State,
)
from .errors import InvalidParameterError
from .events import DeviceSnapshot, Supervision
from .requests import dial, line_leg, operate, perform
from .streams import EventStream, Streams
from .table import Context

__all__ = ["Call", "Device", "Faces", "leg_of"]

_INITIATE = frozenset({Operation.INITIATE_TRANSFER, Operation.INITIATE_CONFERENCE})


class Faces:
    """The faces of one switch's records."""

    __slots__ = ("__weakref__", "_calls", "_devices", "_peak", "engine", "streams")

    def __init__(self, engine: Engine, streams: Streams) -> None:
        self.engine = engine
        self.streams = streams
        self._devices: dict[str, Device] = {}
        #: leg id -> a weak reference to its face, gone with the face (``_forget``)
        self._calls: dict[str, KeyedRef[str, Call]] = {}
        #: the most faces held at once since ``_calls`` was last made smaller
        self._peak = 0

    def add(self, line: Line) -> Device:
        """The face of a new device."""
        device = self._devices[line.dn] = Device(self, line)
        return device

    def device(self, line: Line) -> Device:
        return self._devices[line.dn]

    def call(self, leg: Leg) -> Call:
        """The face of ``leg``: the one already held, if any."""
        ref = self._calls.get(leg.id)
        face = None if ref is None else ref()
        if face is None:
            face = Call(leg, self._devices[leg.device.dn])
            calls = self._calls
            calls[leg.id] = KeyedRef(face, self._forget, leg.id)
            self._peak = max(self._peak, len(calls))
        return face

    def _forget(self, ref: KeyedRef[str, Call]) -> None:
        calls = self._calls
        if calls.get(ref.key) is ref:
            del calls[ref.key]
            if len(calls) < self._peak >> 3:  # a dict keeps its largest table; a copy does not
                self._calls = dict(calls)
                self._peak = len(calls)

    def __getstate__(self) -> tuple[Engine, Streams, dict[str, Device]]:
        return self.engine, self.streams, self._devices  # call faces are their holders'

    def __setstate__(self, state: tuple[Engine, Streams, dict[str, Device]]) -> None:
        self.engine, self.streams, self._devices = state
        self._calls, self._peak = {}, 0


class Device:
    """An agent's phone on the switch, known by its DN."""

    __slots__ = ("_faces", "_line")

    def __init__(self, faces: Faces, line: Line) -> None:
        self._faces = faces
        self._line = line

    @property
    def dn(self) -> str:
        return self._line.dn

    @property
    def id(self) -> str:
        return self._line.id

    @property
    def features(self) -> frozenset[Feature]:
        return self._line.features

    @property
    def role(self) -> DeviceRole:
        return self._line.role

    @property
    def user_state(self) -> AgentState:
        return self._line.user_state

    @property
    def do_not_disturb(self) -> bool:
        return self._line.do_not_disturb

    @property
    def forward_to(self) -> str | None:
        return self._line.forward_to

    @property
    def supervision(self) -> Supervision | None:
        """The monitoring this (supervisor's) device does, if any."""
        return self._line.supervision

    @property
    def calls(self) -> tuple[Call, ...]:
        """This device's live legs, oldest first."""
        face = self._faces.call
        return tuple(face(leg) for leg in self._line.legs.values())

    def call(self, call_id: str, operation: str | None = None) -> Call:
        """This device's live leg ``call_id``; anything else is 'not found'."""
        return self._faces.call(line_leg(self._line, call_id, operation))

    def dial(self, destination: str | Mapping[str, Any], /, **params: Any) -> Call:
        """GWS ``Dial``: a new leg to ``destination`` (a number, or ``{"phoneNumber": ...}``)."""
        if "destination" in params:
            raise InvalidParameterError("destination is given twice", operation="Dial")
        if isinstance(destination, str):  # the shorthand for {"phoneNumber": destination}
            destination = {"phoneNumber": destination}
        engine = self._faces.engine
        engine.begin()
        request = {"destination": destination, **params}
        leg = dial(engine, self._line, request)
        engine.commit(
            {"op": "dial", "device": self.dn, "params": request} if engine.recorder else None
        )
        return self._faces.call(leg)

    def perform(
        self, call_id: str, operation: Operation | OperationName, /, **params: Any
    ) -> Call | None:
        """POST ``{"operationName": operation, **params}`` to ``/me/calls/{call_id}``.

        Returns the call the operation made — the consult, for ``InitiateTransfer`` and
        ``InitiateConference`` — or else the call it acted on (``None`` only for a disposition
        on a released call, which has no call object any more)."""
        engine = self._faces.engine
        engine.begin()
        leg = perform(engine, self._line, call_id, operation, params)
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
            return self._faces.call(consult)
        return self._faces.call(leg)

    def operate(
        self, operation: DeviceOperation | AgentState | DeviceOperationName, /, **params: Any
    ) -> None:
        """A device-level operation (``POST /me/devices/{id}``: ``DoNotDisturbOn``,
        ``ForwardCallsOn`` with ``forwardTo``, ``ListenIn`` with ``targetDeviceUri``, ...) or an
        agent state (``POST /me/channels/voice``: ``Ready``, ``NotReady``, ``AfterCallWork``,
        ``AuxWork``)."""
        engine = self._faces.engine
        engine.begin()
        operate(engine, self._line, operation, params)
        engine.commit(
            {"op": "operate", "device": self.dn, "operation": operation, "params": params}
            if engine.recorder
            else None
        )

    def snapshot(self) -> DeviceSnapshot:
        """The device as it stands now (what its next ``DeviceStateChanged`` would carry)."""
        return self._faces.engine.device_snapshot(self._line)

    async def aperform(
        self, call_id: str, operation: Operation | OperationName, /, **params: Any
    ) -> Call | None:
        """``perform`` for coroutines, with back-pressure: concurrent requests are admitted one
        at a time, first come first served, once every event stream has room (see
        ``callstate.streams``); each runs whole, judged against what the one before left."""
        return await self._faces.streams.admit(lambda: self.perform(call_id, operation, **params))

    async def adial(self, destination: str | Mapping[str, Any], /, **params: Any) -> Call:
        """``dial`` for coroutines (admitted like ``aperform``)."""
        return await self._faces.streams.admit(lambda: self.dial(destination, **params))

    def events(self, *, maxsize: int = 1024) -> EventStream:
        """An async stream of this device's events, in order."""
        return EventStream(self._faces.streams, maxsize=maxsize, device=self.dn)

    def __repr__(self) -> str:
        return f"<Device {self.dn} {sorted(self.features)}>"


class Call:
    """One leg of a call on one device (the GWS call resource). Read it; change it only
    through requests (``perform``)."""

    __slots__ = ("__weakref__", "_device", "_leg")

    def __init__(self, leg: Leg, device: Device) -> None:
        self._leg = leg
        self._device = device

    @property
    def device(self) -> Device:
        return self._device

    @property
    def id(self) -> str:
        return self._leg.id

    @property
    def state(self) -> State:
        return self._leg.state

    @property
    def capabilities(self) -> tuple[Operation, ...]:
        """The operations allowed right now, sorted; an operation succeeds iff it is here."""
        return self._leg.capabilities

    @property
    def offered(self) -> frozenset[str]:
        """``capabilities`` as a set (for membership tests)."""
        return self._leg.offered

    @property
    def context(self) -> Context:
        """What, besides its state, decides what the leg may do (see ``callstate.table``)."""
        return self._leg.context

    @property
    def participants(self) -> tuple[str, ...]:
        """The numbers of the other parties, in the order they joined."""
        return self._leg.participants

    @property
    def user_data(self) -> dict[str, str | int]:
        return self._leg.user_data

    @property
    def user_data_items(self) -> tuple[tuple[str, str | int], ...]:
        """``user_data`` as the ordered, immutable pairs the events carry."""
        return self._leg.user_data_items

    @property
    def mute(self) -> Mute:
        return self._leg.mute

    @property
    def recording_state(self) -> RecordingState | None:
        return self._leg.recording_state

    @property
    def answered(self) -> bool:
        """Whether the far end (or the agent, for a ringing leg) has answered."""
        return self._leg.answered

    @property
    def call_type(self) -> CallType:
        return self._leg.call_type

    @property
    def dnis(self) -> str:
        return self._leg.dnis

    @property
    def ani(self) -> str:
        return self._leg.ani

    @property
    def started_at(self) -> float:
        return self._leg.started_at

    @property
    def parent_id(self) -> str | None:
        return self._leg.parent_id

    @property
    def conn_id(self) -> str:
        return self._leg.conn_id

    @property
    def connection(self) -> Connection:
        """The call in the switch's sense: its parties (the engine's records of legs, and
        outside numbers) and the supervisors' legs on it."""
        return self._leg.connection

    @property
    def watch(self) -> Watch | None:
        """A supervisor's leg: its mode and the monitored leg; None for any other leg."""
        return self._leg.watch

    @property
    def parent(self) -> Call | None:
        """The call this consult was started from, while both are live."""
        parent = self._leg.parent
        return None if parent is None else self._device._faces.call(parent)

    @property
    def consult(self) -> Call | None:
        """The live consult started from this call, if any."""
        consult = self._leg.consult
        return None if consult is None else self._device._faces.call(consult)

    def perform(self, operation: Operation | OperationName, /, **params: Any) -> Call | None:
        """Shorthand for ``self.device.perform(self.id, operation, **params)`` (and what it
        returns)."""
        return self._device.perform(self._leg.id, operation, **params)

    def __repr__(self) -> str:
        return repr(self._leg)


def leg_of(call: Call) -> Leg:
    """The engine's record behind a call's face."""
    return call._leg
