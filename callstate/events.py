"""Events: frozen value objects, one per change, each carrying the whole leg after the change.

A projection needs nothing but these: every event holds a ``CallSnapshot`` with every field of
the GWS call resource that the core knows (URIs and phone-number facts are the projection's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple, TypeAlias

from .enums import CallType, Mute, NotificationType, Operation, RecordingState, State

__all__ = [
    "CallEvent",
    "CallSnapshot",
    "CapabilitiesChanged",
    "DtmfSent",
    "MuteChanged",
    "ParticipantsChanged",
    "RecordingChanged",
    "StateChanged",
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


@dataclass(frozen=True, slots=True)
class CallEvent:
    """Something changed on one leg; ``call`` is the leg afterwards."""

    call: CallSnapshot
    notification_type: ClassVar[NotificationType] = NotificationType.STATUS_CHANGE


@dataclass(frozen=True, slots=True)
class StateChanged(CallEvent):
    """The leg moved to ``call.state``; ``previous`` is ``None`` for a new leg."""

    previous: State | None = None


@dataclass(frozen=True, slots=True)
class CapabilitiesChanged(CallEvent):
    """The leg's capabilities changed because of another leg (e.g. its consult was answered)."""


@dataclass(frozen=True, slots=True)
class MuteChanged(CallEvent):
    """``call.mute`` changed."""


@dataclass(frozen=True, slots=True)
class ParticipantsChanged(CallEvent):
    """``call.participants`` changed."""

    notification_type: ClassVar[NotificationType] = NotificationType.PARTICIPANTS_UPDATED


@dataclass(frozen=True, slots=True)
class UserDataChanged(CallEvent):
    """``call.user_data`` changed."""

    notification_type: ClassVar[NotificationType] = NotificationType.ATTACHED_DATA_CHANGED


@dataclass(frozen=True, slots=True)
class DtmfSent(CallEvent):
    """The agent sent ``digits`` on the leg."""

    digits: str = ""
    notification_type: ClassVar[NotificationType] = NotificationType.DTMF_SENT


@dataclass(frozen=True, slots=True)
class RecordingChanged(CallEvent):
    """``call.recording`` changed."""

    notification_type: ClassVar[NotificationType] = NotificationType.CALL_RECORDING_STATE_CHANGE
