"""Events: immutable value objects, one per change, each carrying the whole leg after the change.

A projection needs nothing but these: every event holds a ``CallSnapshot`` with every field of
the GWS call resource that the core knows (URIs and phone-number facts are the projection's).
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Self, TypeAlias

from .enums import (
    AgentState,
    CallType,
    DeviceOperation,
    MonitoringMode,
    Mute,
    NotificationType,
    Operation,
    RecordingState,
    State,
    SupervisionMode,
    SupervisionScope,
)

__all__ = [
    "CallEvent",
    "CallSnapshot",
    "CapabilitiesChanged",
    "DeviceEvent",
    "DeviceSnapshot",
    "DeviceStateChanged",
    "DtmfSent",
    "Event",
    "MonitoredUserMutedChanged",
    "MuteChanged",
    "ParticipantsChanged",
    "RecordingChanged",
    "StateChanged",
    "Supervision",
    "SupervisionChanged",
    "UserData",
    "UserDataChanged",
]

#: Attached data as ordered (key, value) pairs: immutable, hashable, JSON-object order kept.
UserData: TypeAlias = tuple[tuple[str, "str | int"], ...]


class CallSnapshot(NamedTuple):
    """One leg as it stands right after a change (an immutable named tuple: cheap to make)."""

    id: str
    conn_id: str
    device: str
    device_id: str
    state: State
    call_type: CallType
    participants: tuple[str, ...]
    dnis: str
    ani: str
    capabilities: tuple[Operation, ...]
    user_data: UserData
    mute: Mute
    recording: RecordingState | None
    parent_id: str | None
    duration: int
    #: the monitored agent's leg: a supervisor's leg has joined the call
    monitoring: bool = False
    #: the monitored agent's leg: a joined supervisor listens in or coaches
    supervisor_listening_in: bool = False
    #: a supervisor's leg: it muted the monitored agent
    monitored_user_muted: bool = False


class _Tuple(tuple[Any, ...]):
    """An immutable event: a tuple read through named properties, equal to another of the same
    kind with equal fields; ``kind`` is its class name (what logs write)."""

    __slots__ = ()
    kind: ClassVar[str] = "_Tuple"

    def __init_subclass__(cls) -> None:
        cls.kind = cls.__name__

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self))

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)


class CallEvent(_Tuple):
    """Something changed on one leg; ``call`` is the leg afterwards.

    Events are immutable tuples (``(call,)``, or ``(call, previous)``/``(call, digits)``) read
    through their named fields: a switch makes millions of them, and a tuple is the cheapest
    immutable object to make. Two events are equal when they are of the same kind with equal
    fields.
    """

    __slots__ = ()
    notification_type: ClassVar[NotificationType] = NotificationType.STATUS_CHANGE
    __match_args__: ClassVar[tuple[str, ...]] = ("call",)

    def __new__(cls, call: CallSnapshot) -> Self:
        return tuple.__new__(cls, (call,))

    if TYPE_CHECKING:

        @property
        def call(self) -> CallSnapshot: ...

    else:
        call = property(itemgetter(0), doc="The leg right after the change.")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(call={self.call!r})"


class StateChanged(CallEvent):
    """The leg moved to ``call.state``; ``previous`` is ``None`` for a new leg."""

    __slots__ = ()
    __match_args__ = ("call", "previous")

    def __new__(cls, call: CallSnapshot, previous: State | None = None) -> Self:
        return tuple.__new__(cls, (call, previous))

    if TYPE_CHECKING:

        @property
        def previous(self) -> State | None: ...

    else:
        previous = property(itemgetter(1), doc="The state the leg left (None: a new leg).")

    def __repr__(self) -> str:
        return f"StateChanged(call={self.call!r}, previous={self.previous!r})"


class CapabilitiesChanged(CallEvent):
    """The leg's capabilities changed because of another leg (e.g. its consult was answered)."""

    __slots__ = ()


class MuteChanged(CallEvent):
    """``call.mute`` changed."""

    __slots__ = ()


class ParticipantsChanged(CallEvent):
    """``call.participants`` changed."""

    __slots__ = ()
    notification_type = NotificationType.PARTICIPANTS_UPDATED


class UserDataChanged(CallEvent):
    """``call.user_data`` changed."""

    __slots__ = ()
    notification_type = NotificationType.ATTACHED_DATA_CHANGED


class DtmfSent(CallEvent):
    """The agent sent ``digits`` on the leg."""

    __slots__ = ()
    __match_args__ = ("call", "digits")
    notification_type = NotificationType.DTMF_SENT

    def __new__(cls, call: CallSnapshot, digits: str = "") -> Self:
        return tuple.__new__(cls, (call, digits))

    if TYPE_CHECKING:

        @property
        def digits(self) -> str: ...

    else:
        digits = property(itemgetter(1), doc="The DTMF digits sent.")

    def __repr__(self) -> str:
        return f"DtmfSent(call={self.call!r}, digits={self.digits!r})"


class SupervisionChanged(CallEvent):
    """A supervisor joined, left or changed mode on this (monitored) leg's call:
    ``call.monitoring`` and ``call.supervisor_listening_in`` say how it stands now."""

    __slots__ = ()


class MonitoredUserMutedChanged(CallEvent):
    """A supervisor muted or unmuted the monitored agent: ``call.monitored_user_muted``."""

    __slots__ = ()
    notification_type = NotificationType.MONITORED_USER_MUTED_STATE_CHANGE


class RecordingChanged(CallEvent):
    """``call.recording`` changed."""

    __slots__ = ()
    notification_type = NotificationType.CALL_RECORDING_STATE_CHANGE


class Supervision(NamedTuple):
    """A supervisor device's monitoring of an agent's device."""

    mode: SupervisionMode
    scope: SupervisionScope
    monitoring: MonitoringMode
    #: the monitored device's DN and id
    target: str
    target_id: str


class DeviceSnapshot(NamedTuple):
    """One device as it stands right after a change."""

    #: the DN (named as ``CallSnapshot.device``: events are routed by it)
    device: str
    device_id: str
    user_state: AgentState
    do_not_disturb: bool
    forward_to: str | None
    capabilities: tuple[DeviceOperation, ...]
    supervision: Supervision | None


class DeviceEvent(_Tuple):
    """Something changed on a device (not on a call); ``device`` is the device afterwards."""

    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]] = ("device",)

    def __new__(cls, device: DeviceSnapshot) -> Self:
        return tuple.__new__(cls, (device,))

    if TYPE_CHECKING:

        @property
        def device(self) -> DeviceSnapshot: ...

    else:
        device = property(itemgetter(0), doc="The device right after the change.")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r})"


class DeviceStateChanged(DeviceEvent):
    """The device's agent state, do-not-disturb, forwarding, capabilities or supervision changed
    (GWS ``DeviceStateChangeMessage``)."""

    __slots__ = ()


#: What subscribers receive: call events and device events, in the order they happened.
Event: TypeAlias = CallEvent | DeviceEvent
