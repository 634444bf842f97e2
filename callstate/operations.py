"""What each agent operation does, once the switch has checked that it may.

Every handler first checks what only it can check (a key that must exist, a destination that
must not already be on the call, a URI that must name the pair partner), and only then changes
anything, so a refusal leaves everything as it was. State changes go through the table
(``Switch._move``/``_fire``); the handlers add what the table cannot know: who else is affected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

from .call import Call, Connection
from .enums import CallType, Mute, NetworkEvent, Operation, RecordingState, State
from .errors import InvalidParameterError
from .events import (
    DtmfSent,
    MuteChanged,
    ParticipantsChanged,
    RecordingChanged,
    UserData,
    UserDataChanged,
)
from .numbers import normalize
from .params import Params

if TYPE_CHECKING:
    from .switch import Switch

__all__ = ["OPERATIONS", "stop_recording"]

O, N = Operation, NetworkEvent
Handler = Callable[["Switch", Call, Params], None]

#: recordingState -> the GSIP_RECORD value GWS attaches with it
_GSIP_RECORD: Final = {
    RecordingState.RECORDING: "ON",
    RecordingState.PAUSED: "PAUSED",
    RecordingState.STOPPED: "OFF",
}


def _merged(base: UserData, extra: UserData | None) -> UserData:
    if not extra:
        return base
    merged = dict(base)
    merged.update(extra)
    return tuple(merged.items())


def _carried(leg: Call, extra: UserData | None) -> UserData:
    """The user data a new leg gets from ``leg``: its own, without its recording flag (the
    new leg is not recorded), updated with the request's ``userData``."""
    own = tuple(item for item in leg._user_data if item[0] != "GSIP_RECORD")
    return _merged(own, extra)


def _refuse(leg: Call, op: Operation, reason: str) -> InvalidParameterError:
    return InvalidParameterError(reason, call_id=leg.id, state=leg.state, operation=op)


def _simple(trigger: Operation) -> Handler:
    def handler(switch: Switch, leg: Call, params: Params) -> None:
        switch._fire(leg, trigger)

    return handler


def _answer(switch: Switch, leg: Call, params: Params) -> None:
    switch._fire(leg, O.ANSWER)
    switch._answered(leg._connection, by=leg)


def _send_dtmf(switch: Switch, leg: Call, params: Params) -> None:
    switch._fire(leg, O.SEND_DTMF)
    assert params.digits is not None
    switch._emit(DtmfSent(leg._snapshot(switch._now_duration(leg)), params.digits))


def _mute(value: Mute, trigger: Operation) -> Handler:
    def handler(switch: Switch, leg: Call, params: Params) -> None:
        switch._fire(leg, trigger)
        leg._mute = value
        leg._refresh()
        switch._snapshot_event(MuteChanged, leg)

    return handler


# -- user data -------------------------------------------------------------------------------------
def _set_user_data(switch: Switch, leg: Call, trigger: Operation, data: UserData) -> None:
    switch._fire(leg, trigger)
    leg._user_data = data
    switch._snapshot_event(UserDataChanged, leg)


def _attach(switch: Switch, leg: Call, params: Params) -> None:
    assert params.user_data is not None
    clash = sorted({k for k, _ in params.user_data} & {k for k, _ in leg._user_data})
    if clash:
        raise _refuse(leg, O.ATTACH_USER_DATA, f"keys already attached: {clash}")
    _set_user_data(switch, leg, O.ATTACH_USER_DATA, leg._user_data + params.user_data)


def _update(switch: Switch, leg: Call, params: Params) -> None:
    _set_user_data(switch, leg, O.UPDATE_USER_DATA, _merged(leg._user_data, params.user_data))


def _delete_all(switch: Switch, leg: Call, params: Params) -> None:
    _set_user_data(switch, leg, O.DELETE_USER_DATA, ())


def _delete_pair(switch: Switch, leg: Call, params: Params) -> None:
    if params.key not in {k for k, _ in leg._user_data}:
        raise _refuse(leg, O.DELETE_USER_DATA_PAIR, f"no user data key {params.key!r}")
    kept = tuple(pair for pair in leg._user_data if pair[0] != params.key)
    _set_user_data(switch, leg, O.DELETE_USER_DATA_PAIR, kept)


# -- recording -------------------------------------------------------------------------------------
def _set_recording(leg: Call, state: RecordingState) -> None:
    leg._recording = state
    leg._user_data = _merged(leg._user_data, (("GSIP_RECORD", _GSIP_RECORD[state]),))


def stop_recording(leg: Call) -> None:
    """Releasing a leg stops its recording (spec §4)."""
    if leg._recording in (RecordingState.RECORDING, RecordingState.PAUSED):
        _set_recording(leg, RecordingState.STOPPED)


def _recording(state: RecordingState, trigger: Operation) -> Handler:
    def handler(switch: Switch, leg: Call, params: Params) -> None:
        switch._fire(leg, trigger)
        _set_recording(leg, state)
        leg._refresh()
        switch._snapshot_event(RecordingChanged, leg)

    return handler


# -- single-step transfer and conference -----------------------------------------------------------
def _single_step_transfer(switch: Switch, leg: Call, params: Params) -> None:
    number = params.destination
    assert number is not None
    switch._check_destination(leg, number, O.SINGLE_STEP_TRANSFER)
    connection = leg._connection
    remaining = [p for p in connection.parties if p is not leg]
    first = remaining[0]
    caller = first.device.dn if isinstance(first, Call) else first
    external = isinstance(first, str) and first.startswith("+")
    data = _carried(leg, params.user_data)
    switch._move_and_announce(leg, O.SINGLE_STEP_TRANSFER)
    switch._finish(leg, leave=False)
    connection.parties.remove(leg)
    call_type = CallType.INBOUND if external else CallType.INTERNAL
    switch._add_party(connection, number, call_type, caller, data)
    switch._settle(connection)


def _single_step_conference(switch: Switch, leg: Call, params: Params) -> None:
    number = params.destination
    assert number is not None
    switch._check_destination(leg, number, O.SINGLE_STEP_CONFERENCE)
    connection = leg._connection
    switch._fire(leg, O.SINGLE_STEP_CONFERENCE)
    data = _carried(leg, params.user_data)
    switch._add_party(connection, number, CallType.INTERNAL, leg.device.dn, data)
    if connection.owner is None and len(connection.parties) >= 3:
        connection.owner = leg
    switch._settle(connection)


# -- the consult pair ------------------------------------------------------------------------------
def _initiate(trigger: Operation) -> Handler:
    def handler(switch: Switch, leg: Call, params: Params) -> None:
        number = params.destination
        assert number is not None
        switch._check_destination(leg, number, trigger)
        old = leg._consult
        if old is not None:  # [ours] a new consult replaces the one still live
            switch._move_and_announce(old, N.FAR_END_RELEASED)
            switch._finish(old, touch=False)  # the parent is told once, below
        device = leg.device
        data = _carried(leg, params.user_data)
        connection = Connection(switch._ids.conn_id(), [])
        consult = switch._add_leg(
            connection,
            device,
            State.DIALING,
            CallType.CONSULT,
            number,
            device.dn,
            data,
            leg,
            announce=False,
        )
        leg._consult = consult
        switch._move_and_announce(leg, trigger)
        target = switch._add_party(
            connection, number, CallType.CONSULT, device.dn, data, announce=False
        )
        consult._participants = consult._others()
        consult._refresh()
        switch._announce(consult, None)
        if target is not None:
            switch._announce(target, None)

    return handler


def _pair(leg: Call, op: Operation, uri: str | None, name: str) -> tuple[Call, Call]:
    """(parent, consult) of the pair ``leg`` is in; ``uri`` must name one of them if given."""
    parent = leg if leg._consult is not None else leg._parent
    assert parent is not None
    assert parent._consult is not None
    consult = parent._consult
    if uri is not None and not any(uri.rstrip("/").endswith(c.id) for c in (parent, consult)):
        raise _refuse(leg, op, f"parameter {name!r}: {uri} is not a call of this consult pair")
    return parent, consult


def _number(party: Call | str) -> str:
    return party.device.dn if isinstance(party, Call) else normalize(party)


def _merge(switch: Switch, into: Connection, consult: Call) -> None:
    """Join the consult's other parties to ``into`` (the parent's call).

    A party on both calls is joined once [ours]: an outside number keeps one place, and a
    device that would have two legs on the call keeps its older leg; the newer is released.
    """
    moved = [p for p in consult._connection.parties if p is not consult]
    consult._connection.parties.clear()
    kept: dict[str, Call | str] = {}
    redundant: list[Call] = []
    for party in [*into.parties, *moved]:
        number = _number(party)
        other = kept.get(number)
        if other is None:
            kept[number] = party
        elif isinstance(party, Call):
            older, newer = party, other
            if isinstance(other, Call) and other.id < party.id:  # ids grow with creation
                older, newer = other, party
            kept[number] = older
            if isinstance(newer, Call):
                redundant.append(newer)
    into.parties[:] = kept.values()
    for party in into.parties:
        if isinstance(party, Call):
            party._connection = into
    for leg in redundant:
        switch._move_and_announce(leg, N.FAR_END_RELEASED)
        switch._finish(leg, leave=False)


def _complete_transfer(switch: Switch, leg: Call, params: Params) -> None:
    parent, consult = _pair(leg, O.COMPLETE_TRANSFER, params.consult_call_uri, "consultCallUri")
    for call in (parent, consult):  # the parent's Released comes first [doc]
        switch._move_and_announce(call, O.COMPLETE_TRANSFER if call is leg else N.FAR_END_RELEASED)
    for call in (parent, consult):
        switch._finish(call, leave=False, touch=False)
    connection = parent._connection
    connection.parties.remove(parent)
    _merge(switch, connection, consult)
    switch._settle(connection)


def _complete_conference(switch: Switch, leg: Call, params: Params) -> None:
    parent, consult = _pair(leg, O.COMPLETE_CONFERENCE, params.consult_call_uri, "consultCallUri")
    own = O.COMPLETE_CONFERENCE
    previous = switch._move(parent, own if leg is parent else N.SWITCH_RETRIEVED)
    switch._move_and_announce(consult, own if leg is consult else N.FAR_END_RELEASED)
    switch._finish(consult, leave=False, touch=False)
    connection = parent._connection
    _merge(switch, connection, consult)
    if connection.owner is None and len(connection.parties) >= 3:  # [ours] an owner stays
        connection.owner = parent
    parent._participants = parent._others()
    parent._refresh()
    if previous is parent.state:
        switch._snapshot_event(ParticipantsChanged, parent)
    else:
        switch._announce(parent, previous)
    switch._settle(connection, skip=parent)


def _swap(switch: Switch, leg: Call, params: Params) -> None:
    parent, consult = _pair(leg, O.SWAP_CALLS, params.other_call_uri, "otherCallUri")
    other = consult if leg is parent else parent
    going_active = leg.state is State.HELD
    switch._move_and_announce(leg, O.SWAP_CALLS)
    if going_active and other.state in (State.ESTABLISHED, State.DIALING):
        switch._move_and_announce(other, N.SWITCH_HELD)
    elif not going_active and other.state is State.HELD:
        switch._move_and_announce(other, N.SWITCH_RETRIEVED)
    switch._touch(other)


# -- conferences -----------------------------------------------------------------------------------
def _remove_participant(switch: Switch, leg: Call, params: Params) -> None:
    assert params.participant is not None
    wanted = normalize(params.participant)
    connection = leg._connection
    target = next(
        (
            p
            for p in connection.parties
            if p is not leg and normalize(p.device.dn if isinstance(p, Call) else p) == wanted
        ),
        None,
    )
    if target is None:
        raise _refuse(leg, O.REMOVE_PARTICIPANT_FROM_CONFERENCE, f"{wanted} is not a participant")
    switch._fire(leg, O.REMOVE_PARTICIPANT_FROM_CONFERENCE)
    if isinstance(target, Call):
        switch._fire(target, N.FAR_END_RELEASED)
    else:
        switch._leave(connection, target)


def _clear_call(switch: Switch, leg: Call, params: Params) -> None:
    connection = leg._connection
    switch._move_and_announce(leg, O.CLEAR_CALL)
    switch._finish(leg, leave=False)
    for other in connection.legs():
        if other is not leg and other.state is not State.RELEASED:
            switch._move_and_announce(other, N.FAR_END_RELEASED)
            switch._finish(other, leave=False)
    connection.parties.clear()


#: operation -> what it does (Dial is the device's, see ``Switch._dial``)
OPERATIONS: Final[Mapping[Operation, Handler]] = {
    O.ANSWER: _answer,
    O.HANGUP: _simple(O.HANGUP),
    O.HOLD: _simple(O.HOLD),
    O.RETRIEVE: _simple(O.RETRIEVE),
    O.SEND_DTMF: _send_dtmf,
    O.MUTE_CALL: _mute(Mute.ON, O.MUTE_CALL),
    O.UNMUTE_CALL: _mute(Mute.OFF, O.UNMUTE_CALL),
    O.ATTACH_USER_DATA: _attach,
    O.UPDATE_USER_DATA: _update,
    O.DELETE_USER_DATA: _delete_all,
    O.DELETE_USER_DATA_PAIR: _delete_pair,
    O.START_CALL_RECORDING: _recording(RecordingState.RECORDING, O.START_CALL_RECORDING),
    O.PAUSE_CALL_RECORDING: _recording(RecordingState.PAUSED, O.PAUSE_CALL_RECORDING),
    O.RESUME_CALL_RECORDING: _recording(RecordingState.RECORDING, O.RESUME_CALL_RECORDING),
    O.STOP_CALL_RECORDING: _recording(RecordingState.STOPPED, O.STOP_CALL_RECORDING),
    O.SINGLE_STEP_TRANSFER: _single_step_transfer,
    O.SINGLE_STEP_CONFERENCE: _single_step_conference,
    O.INITIATE_TRANSFER: _initiate(O.INITIATE_TRANSFER),
    O.INITIATE_CONFERENCE: _initiate(O.INITIATE_CONFERENCE),
    O.COMPLETE_TRANSFER: _complete_transfer,
    O.COMPLETE_CONFERENCE: _complete_conference,
    O.SWAP_CALLS: _swap,
    O.REMOVE_PARTICIPANT_FROM_CONFERENCE: _remove_participant,
    O.CLEAR_CALL: _clear_call,
}
