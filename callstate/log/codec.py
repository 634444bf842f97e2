"""One event as JSON and back: the readable object, and the positional record a log line holds.

``event_to_json``/``event_from_json`` turn an event into a readable object and back, losslessly
(``{"type": "StateChanged", "call": {"id": ..., "state": ..., ...}, "previous": ...}``);
``encode``/``decode`` do the same with one line of JSON text. Version 1 logs hold events in
this shape.

Version 2 and 3 request lines (``callstate.log.lines``) hold each event as a record: an array
``[TYPE,[FIELDS],EXTRA]``, ``TYPE`` the event class name, ``FIELDS`` the 18 ``CallSnapshot``
fields in this order::

    id, conn_id, device, device_id, state, call_type, participants, dnis, ani, capabilities,
    user_data, mute, recording, parent_id, duration, monitoring, supervisor_listening_in,
    monitored_user_muted

(logs written before supervision have the first 15: the flags then read false)

(``user_data`` as ``[key, value]`` pairs, in order) and ``EXTRA`` only for ``StateChanged``
(``previous``) and ``DtmfSent`` (``digits``). A ``DeviceStateChanged`` holds the 7
``DeviceSnapshot`` fields instead (``device, device_id, user_state, do_not_disturb, forward_to,
capabilities, supervision``; ``supervision`` null or ``[mode, scope, monitoring, target,
target_id]``). Positional arrays are what make writing cheap: ``records`` copies each
snapshot's attributes into a tuple in one C call and orjson encodes it, with no per-field dict.
Every event carries its whole snapshot, so each line stands alone: a cut or resumed log needs
no state from earlier lines. (Writing a leg's constant fields once and referring to them later
was measured: it saves bytes but no time, so it is not done.)

Reading checks every value and answers ``ValueError`` for a wrong one; enum members are found
by value in a dictionary, which is much cheaper than calling the enum.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, Final, TypeVar

from ..enums import (
    AgentState,
    CallType,
    DeviceOperation,
    MonitoringMode,
    Mute,
    Operation,
    RecordingState,
    State,
    SupervisionMode,
    SupervisionScope,
)
from ..errors import InvalidParameterError, shown
from ..events import (
    CallEvent,
    CallSnapshot,
    CapabilitiesChanged,
    DeviceSnapshot,
    DeviceStateChanged,
    DtmfSent,
    Event,
    MonitoredUserMutedChanged,
    MuteChanged,
    ParticipantsChanged,
    RecordingChanged,
    StateChanged,
    Supervision,
    SupervisionChanged,
    UserDataChanged,
)
from ..wire import dumps

__all__ = [
    "decode",
    "encode",
    "event_from_json",
    "event_to_json",
    "events_from_records",
    "plain",
    "records",
]

_KINDS: Final[Mapping[str, type[CallEvent]]] = {
    kind.__name__: kind
    for kind in (
        StateChanged,
        CapabilitiesChanged,
        MuteChanged,
        ParticipantsChanged,
        UserDataChanged,
        DtmfSent,
        RecordingChanged,
        MonitoredUserMutedChanged,
        SupervisionChanged,
    )
}
#: the keys of what some kinds carry besides the snapshot, in a version 1 event
_EXTRA_KEYS: Final[Mapping[type[CallEvent], tuple[str, ...]]] = {
    StateChanged: ("previous",),
    DtmfSent: ("digits",),
}
#: fields of a call snapshot as written: 15 before supervision, 18 since (3 flags at the end)
_FIELD_COUNTS: Final = (15, 18)
_USER_DATA: Final = 10  # its index: pairs in the record, a tuple of tuples in the snapshot
E = TypeVar("E", bound=Enum)


def plain(value: object) -> dict[Any, Any]:
    """Requests may carry any ``Mapping`` (the checks accept them); JSON needs a dict (the
    ``default`` of every JSON the log writes)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# -- writing --------------------------------------------------------------------------------------
def records(events: Iterable[Event]) -> list[tuple[Any, ...]]:
    """The events as records ``(TYPE, FIELDS, *EXTRA)``, ready for orjson."""
    # an event is (call, *extra) and a snapshot a named tuple of its 18 fields in order (a
    # device event: (device,), its snapshot the 7 device fields)
    return [(event.kind, tuple(event[0]), *event[1:]) for event in events]


def event_to_json(event: Event) -> dict[str, Any]:
    if isinstance(event, DeviceStateChanged):
        d = event.device
        fields = d._asdict()
        fields["capabilities"] = [op.value for op in d.capabilities]
        watch = d.supervision
        fields["supervision"] = None if watch is None else [str(v) for v in watch]
        return {"type": event.kind, "device": {k: _json_value(v) for k, v in fields.items()}}
    assert isinstance(event, CallEvent)
    c = event.call
    out: dict[str, Any] = {
        "type": type(event).__name__,
        "call": {
            "id": c.id,
            "conn_id": c.conn_id,
            "device": c.device,
            "device_id": c.device_id,
            "state": c.state.value,
            "call_type": c.call_type.value,
            "participants": list(c.participants),
            "dnis": c.dnis,
            "ani": c.ani,
            "capabilities": [op.value for op in c.capabilities],
            "user_data": dict(c.user_data),
            "mute": c.mute.value,
            "recording": c.recording.value if c.recording is not None else None,
            "parent_id": c.parent_id,
            "duration": c.duration,
            "monitoring": c.monitoring,
            "supervisor_listening_in": c.supervisor_listening_in,
            "monitored_user_muted": c.monitored_user_muted,
        },
    }
    if isinstance(event, StateChanged):
        out["previous"] = event.previous.value if event.previous is not None else None
    elif isinstance(event, DtmfSent):
        out["digits"] = event.digits
    return out


def _json_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def encode(event: Event) -> str:
    """One event as one line of JSON (no newline)."""
    if not isinstance(event, CallEvent | DeviceStateChanged):
        raise InvalidParameterError(f"{shown(event)} is not a CallEvent", operation="encode")
    return dumps(event_to_json(event), plain).decode()


# -- reading: checked values ----------------------------------------------------------------------
def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {shown(value)}")
    return value


def _optional(value: Any) -> str | None:
    return None if value is None else _str(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {shown(value)}")
    return value


def _value(value: Any) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("user_data must map strings to strings or integers")
    return value


def _pair(pair: Any) -> tuple[str, str | int]:
    if not isinstance(pair, list) or len(pair) != 2:
        raise ValueError(f"a user_data pair must be [key, value], got {shown(pair)}")
    return _str(pair[0]), _value(pair[1])


def _snapshot(
    id: Any,
    conn_id: Any,
    device: Any,
    device_id: Any,
    state: Any,
    call_type: Any,
    participants: Any,
    dnis: Any,
    ani: Any,
    capabilities: Any,
    user_data: tuple[tuple[str, str | int], ...],
    mute: Any,
    recording: Any,
    parent_id: Any,
    duration: Any,
    monitoring: Any = False,
    supervisor_listening_in: Any = False,
    monitored_user_muted: Any = False,
) -> CallSnapshot:
    """A snapshot from decoded JSON values (both versions); ``ValueError`` for a wrong one."""
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise ValueError("duration must be an integer")
    flags = (monitoring, supervisor_listening_in, monitored_user_muted)
    if not all(isinstance(flag, bool) for flag in flags):
        raise ValueError("the supervision flags are true or false")
    return CallSnapshot(
        id=_str(id),
        conn_id=_str(conn_id),
        device=_str(device),
        device_id=_str(device_id),
        state=_member(State, state),
        call_type=_member(CallType, call_type),
        participants=tuple(_str(p) for p in _list(participants)),
        dnis=_str(dnis),
        ani=_str(ani),
        capabilities=tuple(_member(Operation, op) for op in _list(capabilities)),
        user_data=user_data,
        mute=_member(Mute, mute),
        recording=_member(RecordingState, recording) if recording is not None else None,
        parent_id=_optional(parent_id),
        duration=duration,
        monitoring=monitoring,
        supervisor_listening_in=supervisor_listening_in,
        monitored_user_muted=monitored_user_muted,
    )


#: each enum's members by value: a dict lookup, where calling the enum costs a microsecond
_MEMBERS: Final[Mapping[type[Enum], Mapping[object, Enum]]] = {
    kind: {member.value: member for member in kind}
    for kind in (
        State,
        CallType,
        Operation,
        Mute,
        RecordingState,
        AgentState,
        DeviceOperation,
        SupervisionMode,
        SupervisionScope,
        MonitoringMode,
    )
}


def _member(kind: type[E], value: Any) -> E:
    try:
        return _MEMBERS[kind][value]  # type: ignore[return-value]
    except (KeyError, TypeError):  # TypeError: an unhashable value (a list, an object)
        raise ValueError(f"{shown(value)} is not a valid {kind.__name__}") from None


def _event(kind: type[CallEvent], snapshot: CallSnapshot, extra: list[Any]) -> CallEvent:
    """The event of ``kind``; ``extra`` holds ``previous`` or ``digits`` for the kinds with one."""
    if kind is StateChanged:
        (previous,) = extra
        return StateChanged(snapshot, _member(State, previous) if previous is not None else None)
    if kind is DtmfSent:
        (digits,) = extra
        return DtmfSent(snapshot, _str(digits))
    if extra:
        raise ValueError(f"{kind.__name__} carries nothing more, got {shown(extra)}")
    return kind(snapshot)


def _device(
    device: Any,
    device_id: Any,
    user_state: Any,
    do_not_disturb: Any,
    forward_to: Any,
    capabilities: Any,
    supervision: Any,
) -> DeviceSnapshot:
    """A device snapshot from decoded JSON values; ``ValueError`` for a wrong one."""
    if not isinstance(do_not_disturb, bool):
        raise ValueError("do_not_disturb must be true or false")
    watched = None
    if supervision is not None:
        if isinstance(supervision, dict):
            supervision = [supervision.get(name) for name in Supervision._fields]
        mode, scope, monitoring, target, target_id = _list(supervision)
        watched = Supervision(
            _member(SupervisionMode, mode),
            _member(SupervisionScope, scope),
            _member(MonitoringMode, monitoring),
            _str(target),
            _str(target_id),
        )
    return DeviceSnapshot(
        _str(device),
        _str(device_id),
        _member(AgentState, user_state),
        do_not_disturb,
        _optional(forward_to),
        tuple(_member(DeviceOperation, op) for op in _list(capabilities)),
        watched,
    )


def event_from_json(data: Any) -> Event:
    """The event ``event_to_json`` produced; ``ValueError`` for anything else."""
    try:
        if data["type"] == DeviceStateChanged.kind:
            d = data["device"]
            return DeviceStateChanged(_device(*(d[name] for name in DeviceSnapshot._fields)))
        kind = _KINDS[data["type"]]
        c = data["call"]
        user_data = c["user_data"]
        if not isinstance(user_data, dict):
            raise ValueError("user_data must map strings to strings or integers")
        snapshot = _snapshot(
            c["id"],
            c["conn_id"],
            c["device"],
            c["device_id"],
            c["state"],
            c["call_type"],
            c["participants"],
            c["dnis"],
            c["ani"],
            c["capabilities"],
            tuple((k, _value(v)) for k, v in user_data.items()),
            c["mute"],
            c["recording"],
            c["parent_id"],
            c["duration"],
            c.get("monitoring", False),
            c.get("supervisor_listening_in", False),
            c.get("monitored_user_muted", False),
        )
        return _event(kind, snapshot, [data[key] for key in _EXTRA_KEYS.get(kind, ())])
    except (KeyError, TypeError) as error:
        raise ValueError(f"not an event: {error!r}") from None


def event_from_record(record: Any) -> Event:
    """The event a record ``[TYPE, [FIELDS], EXTRA...]`` holds; ``ValueError`` else."""
    try:
        name, fields, *extra = _list(record)
        if name == DeviceStateChanged.kind and not extra:
            return DeviceStateChanged(_device(*_list(fields)))
        kind = _KINDS[name]
        values = _list(fields)
        if len(values) not in _FIELD_COUNTS:
            raise ValueError(f"an event has 15 or 18 fields, got {len(values)}")
        values[_USER_DATA] = tuple(_pair(pair) for pair in _list(values[_USER_DATA]))
        return _event(kind, _snapshot(*values), extra)
    except (KeyError, TypeError) as error:
        raise ValueError(f"not an event: {error!r}") from None


def events_from_records(records: Any) -> tuple[Event, ...]:
    """The events an array of records holds (a version 2 or 3 line); ``ValueError`` else."""
    return tuple(event_from_record(record) for record in _list(records))


def decode(line: str) -> Event:
    """The event on one line of JSON; ``ValueError`` if it is not one."""
    if not isinstance(line, str | bytes | bytearray):
        raise InvalidParameterError(f"{shown(line)} is not a line of text", operation="decode")
    try:
        return event_from_json(json.loads(line))
    except RecursionError:
        raise ValueError("not an event: nested too deeply") from None
