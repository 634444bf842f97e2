"""What each agent operation does, once its request has been checked.

Every handler first checks what only it can check (a key that must exist, a destination that
must not already be on the call, a URI that must name the pair partner), and only then moves
anything, so a refusal leaves everything as it was. Handlers are functions over the engine's
moves (``callstate.engine``): the table decides whether and where a leg moves, the engine
carries out the move, and the handler says which legs the operation touches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from .engine import Connection, Engine, Leg, barged_in, merged
from .enums import CallType, Mute, NetworkEvent, Operation, RecordingState, State, SupervisionMode
from .errors import InvalidParameterError
from .events import (
    CapabilitiesChanged,
    DtmfSent,
    MonitoredUserMutedChanged,
    MuteChanged,
    ParticipantsChanged,
    RecordingChanged,
    UserData,
    UserDataChanged,
)
from .numbers import normalize
from .params import Params

__all__ = ["FIRED", "OPERATIONS", "Handler", "check_destination"]

O, N = Operation, NetworkEvent
Handler = Callable[[Engine, Leg, Params], None]


def _carried(leg: Leg, extra: UserData | None) -> UserData:
    """The user data a new leg gets from ``leg``: its own, without its recording flag (the
    new leg is not recorded), updated with the request's ``userData``."""
    own = tuple(item for item in leg.user_data_items if item[0] != "GSIP_RECORD")
    return merged(own, extra)


def _refuse(leg: Leg, op: Operation, reason: str) -> InvalidParameterError:
    return InvalidParameterError(reason, call_id=leg.id, state=leg.state, operation=op)


def check_destination(leg: Leg, number: str, operation: Operation) -> None:
    """Refuse calling oneself or someone already on the call (before anything changes)."""
    digits = normalize(number)
    if digits == leg.device.dn or digits in map(normalize, leg.participants):
        raise _refuse(leg, operation, f"{number} is already on this call")


def _simple(trigger: Operation) -> Handler:
    def handler(engine: Engine, leg: Leg, params: Params) -> None:
        engine.fire(leg, trigger)

    return handler


def _answer(engine: Engine, leg: Leg, params: Params) -> None:
    engine.fire(leg, O.ANSWER)
    engine.answered(leg.connection, by=leg)
    watch = leg.watch
    if watch is not None:  # a supervisor joined the call it monitors
        engine.supervision.changed(leg, parties=watch.mode is SupervisionMode.BARGE_IN)


def _send_dtmf(engine: Engine, leg: Leg, params: Params) -> None:
    engine.fire(leg, O.SEND_DTMF)
    assert params.digits is not None
    engine.emit(DtmfSent(engine.snapshot(leg), params.digits))


def _mute(value: Mute, trigger: Operation) -> Handler:
    def handler(engine: Engine, leg: Leg, params: Params) -> None:
        engine.fire(leg, trigger)
        engine.set_mute(leg, value)
        engine.tell(MuteChanged, leg)

    return handler


# -- user data -------------------------------------------------------------------------------------
def _set_user_data(engine: Engine, leg: Leg, trigger: Operation, data: UserData) -> None:
    engine.fire(leg, trigger)
    engine.set_user_data(leg, data)
    engine.tell(UserDataChanged, leg)


def _attach(engine: Engine, leg: Leg, params: Params) -> None:
    assert params.user_data is not None
    own = leg.user_data_items
    clash = sorted({k for k, _ in params.user_data} & {k for k, _ in own})
    if clash:
        raise _refuse(leg, O.ATTACH_USER_DATA, f"keys already attached: {clash}")
    _set_user_data(engine, leg, O.ATTACH_USER_DATA, own + params.user_data)


def _update(engine: Engine, leg: Leg, params: Params) -> None:
    _set_user_data(engine, leg, O.UPDATE_USER_DATA, merged(leg.user_data_items, params.user_data))


def _delete_all(engine: Engine, leg: Leg, params: Params) -> None:
    _set_user_data(engine, leg, O.DELETE_USER_DATA, ())


def _delete_pair(engine: Engine, leg: Leg, params: Params) -> None:
    own = leg.user_data_items
    if params.key not in {k for k, _ in own}:
        raise _refuse(leg, O.DELETE_USER_DATA_PAIR, f"no user data key {params.key!r}")
    kept = tuple(pair for pair in own if pair[0] != params.key)
    _set_user_data(engine, leg, O.DELETE_USER_DATA_PAIR, kept)


def check_disposition(call_id: str, state: State, params: Params) -> None:
    """A disposition's ``callUuid`` and ``callUri``, when given, must name the call it is
    posted on (``callUri`` with or without ``/me``)."""
    wrong = None
    if params.call_uuid is not None and params.call_uuid != call_id:
        wrong = f"parameter 'callUuid': {params.call_uuid} is not this call"
    uri = params.call_uri
    if uri is not None and not uri.rstrip("/").endswith(f"/calls/{call_id}"):
        wrong = f"parameter 'callUri': {uri} is not this call"
    if wrong is not None:
        raise InvalidParameterError(
            wrong, call_id=call_id, state=state, operation=O.SET_CALL_DISPOSITION
        )


def _set_disposition(engine: Engine, leg: Leg, params: Params) -> None:
    """gws-devices §5: on a live leg the disposition joins its user data (AttachedDataChanged).
    (On a released one, ``requests.perform`` checks it and nothing more happens.)"""
    op = O.SET_CALL_DISPOSITION
    check_disposition(leg.id, leg.state, params)
    assert params.disposition is not None
    key = params.disposition_key or "DispositionCode"  # the documented sample's key
    data = merged(leg.user_data_items, ((key, params.disposition),))
    _set_user_data(engine, leg, op, data)


# -- recording -------------------------------------------------------------------------------------
def _recording(state: RecordingState, trigger: Operation) -> Handler:
    def handler(engine: Engine, leg: Leg, params: Params) -> None:
        engine.fire(leg, trigger)
        engine.set_recording(leg, state)
        engine.tell(RecordingChanged, leg)

    return handler


# -- single-step transfer and conference -----------------------------------------------------------
def _call_of(leg: Leg) -> Connection:
    """The call an operation on ``leg`` acts on: a supervisor's leg stands for the supervisor
    in the call it monitors [ours], any other leg for its own call."""
    watch = leg.watch
    return leg.connection if watch is None else watch.call


def _check_reachable(engine: Engine, leg: Leg, number: str, op: Operation) -> None:
    """[ours] A single-step transfer or conference to a device in do-not-disturb is refused
    (statusCode 2, nothing changes): the call is not handed to nobody."""
    _, _, busy = engine.route(number, leg.device)
    if busy:
        raise _refuse(leg, op, f"{number} is busy (do not disturb)")


def _single_step_transfer(engine: Engine, leg: Leg, params: Params) -> None:
    number = params.destination
    assert number is not None
    check_destination(leg, number, O.SINGLE_STEP_TRANSFER)
    _check_reachable(engine, leg, number, O.SINGLE_STEP_TRANSFER)
    connection = _call_of(leg)
    first = next(p for p in connection if p is not leg)
    caller = first.device.dn if isinstance(first, Leg) else first
    # [ours] the leg rung follows its caller: an outside party (no device here) makes it Inbound
    call_type = CallType.INTERNAL if isinstance(first, Leg) else CallType.INBOUND
    data = _carried(leg, params.user_data)
    engine.move_and_announce(leg, O.SINGLE_STEP_TRANSFER)
    engine.finish(leg, leave=leg.watch is not None)  # a supervisor leaves its own leg's call
    if leg in connection:
        engine.drop(connection, leg)
    engine.add_party(connection, number, call_type, caller, data)
    engine.settle(connection)


def _single_step_conference(engine: Engine, leg: Leg, params: Params) -> None:
    number = params.destination
    assert number is not None
    check_destination(leg, number, O.SINGLE_STEP_CONFERENCE)
    _check_reachable(engine, leg, number, O.SINGLE_STEP_CONFERENCE)
    connection = _call_of(leg)
    engine.fire(leg, O.SINGLE_STEP_CONFERENCE)
    data = _carried(leg, params.user_data)
    engine.add_party(connection, number, CallType.INTERNAL, leg.device.dn, data)
    if leg in connection:  # a supervisor is no party: it makes no conference of its own
        engine.make_owner(connection, leg)
    engine.settle(connection)


# -- the consult pair ------------------------------------------------------------------------------
def _initiate(trigger: Operation) -> Handler:
    def handler(engine: Engine, leg: Leg, params: Params) -> None:
        number = params.destination
        assert number is not None
        check_destination(leg, number, trigger)
        old = leg.consult
        if old is not None:  # [ours] a new consult replaces the one still live
            engine.move_and_announce(old, N.FAR_END_RELEASED)
            engine.finish(old, touch=False)  # the parent is told once, below
        data = _carried(leg, params.user_data)
        consult, target, busy = engine.place(leg.device, number, CallType.CONSULT, data, parent=leg)
        engine.move_and_announce(leg, trigger)
        engine.announce(consult, None)
        if target is not None:
            engine.announce(target, None)
        if busy:  # do-not-disturb: the consult is refused as busy [ours]
            engine.fire(consult, N.FAR_END_BUSY)

    return handler


def _pair(leg: Leg, op: Operation, uri: str | None, name: str) -> tuple[Leg, Leg]:
    """(parent, consult) of the pair ``leg`` is in; ``uri`` must name one of them if given."""
    parent = leg if leg.consult is not None else leg.parent
    assert parent is not None
    consult = parent.consult
    assert consult is not None
    if uri is not None and not any(uri.rstrip("/").endswith(c.id) for c in (parent, consult)):
        raise _refuse(leg, op, f"parameter {name!r}: {uri} is not a call of this consult pair")
    return parent, consult


def _complete_transfer(engine: Engine, leg: Leg, params: Params) -> None:
    """The consulted party takes the parent's place in the parent's call; from a supervisor's
    leg, in the call it monitors (as a single-step transfer from it does [ours])."""
    parent, consult = _pair(leg, O.COMPLETE_TRANSFER, params.consult_call_uri, "consultCallUri")
    connection = _call_of(parent)
    supervisor = parent.watch is not None
    for call in (parent, consult):  # the parent's Released comes first [doc]
        engine.move_and_announce(call, O.COMPLETE_TRANSFER if call is leg else N.FAR_END_RELEASED)
    if not supervisor:
        engine.finish(parent, leave=False, touch=False)
    engine.finish(consult, leave=False, touch=False)
    if parent in connection:
        engine.drop(connection, parent)
    engine.merge(connection, consult)
    if supervisor:  # it leaves its own leg's call once the consulted party is in (one change)
        engine.finish(parent, touch=False)
    engine.settle(connection)


def _complete_conference(engine: Engine, leg: Leg, params: Params) -> None:
    """The consulted party joins the parent's call; from a supervisor's leg, the call it
    monitors (as a single-step conference from it does [ours]), which its leg goes on showing."""
    parent, consult = _pair(leg, O.COMPLETE_CONFERENCE, params.consult_call_uri, "consultCallUri")
    own = O.COMPLETE_CONFERENCE
    previous = engine.move(parent, own if leg is parent else N.SWITCH_RETRIEVED)
    engine.move_and_announce(consult, own if leg is consult else N.FAR_END_RELEASED)
    engine.finish(consult, leave=False, touch=False)
    connection = _call_of(parent)
    engine.merge(connection, consult)
    if parent in connection:  # a supervisor is no party: it makes no conference of its own
        engine.make_owner(connection, parent)  # [ours] an owner stays
    engine.sync(parent)
    if previous is parent.state:
        engine.tell(ParticipantsChanged, parent)
    else:
        engine.announce(parent, previous)
    engine.settle(connection, skip=parent)


def _swap(engine: Engine, leg: Leg, params: Params) -> None:
    parent, consult = _pair(leg, O.SWAP_CALLS, params.other_call_uri, "otherCallUri")
    other = consult if leg is parent else parent
    going_active = leg.state is State.HELD
    # both move before either is told: for a moment both are held, which is no state to show
    previous = engine.move(leg, O.SWAP_CALLS)
    moved = None
    if going_active and other.state in (State.ESTABLISHED, State.DIALING):
        moved = engine.move(other, N.SWITCH_HELD)
    elif not going_active and other.state is State.HELD:
        moved = engine.move(other, N.SWITCH_RETRIEVED)
    engine.refresh(leg)
    engine.announce(leg, previous)
    if moved is not None:
        engine.announce(other, moved)
    engine.touch(other)


# -- the supervisor's leg -------------------------------------------------------------------------
def _switch_to(mode: SupervisionMode, trigger: Operation) -> Handler:
    def handler(engine: Engine, leg: Leg, params: Params) -> None:
        watch = leg.watch
        assert watch is not None
        barged = watch.mode is SupervisionMode.BARGE_IN
        engine.fire(leg, trigger)
        # [ours] the monitored user is muted only from BargeIn: leaving it unmutes them
        engine.supervision.set_watch(leg, mode=mode, muted=False if barged else None)
        engine.tell(CapabilitiesChanged, leg)  # StatusChange: the new mute and capabilities
        engine.supervision.changed(leg, parties=barged != (mode is SupervisionMode.BARGE_IN))

    return handler


def _mute_monitored(value: bool, trigger: Operation) -> Handler:
    def handler(engine: Engine, leg: Leg, params: Params) -> None:
        engine.fire(leg, trigger)
        engine.supervision.set_watch(leg, muted=value)
        engine.tell(MonitoredUserMutedChanged, leg)

    return handler


# -- conferences -----------------------------------------------------------------------------------
def _remove_participant(engine: Engine, leg: Leg, params: Params) -> None:
    assert params.participant is not None
    wanted = normalize(params.participant)
    watch = leg.watch
    # a supervisor removes a party of the call it monitors, as a conference owner would
    connection = leg.connection if watch is None else watch.call
    target = next(
        (
            p
            for p in connection
            if p is not leg and normalize(p.device.dn if isinstance(p, Leg) else p) == wanted
        ),
        None,
    )
    if target is None:  # a barged-in supervisor shows among the parties: it can be removed
        barged = barged_in(connection)
        target = next((m for m in barged if m is not leg and m.device.dn == wanted), None)
    if target is None:
        raise _refuse(leg, O.REMOVE_PARTICIPANT_FROM_CONFERENCE, f"{wanted} is not a participant")
    engine.fire(leg, O.REMOVE_PARTICIPANT_FROM_CONFERENCE)
    if isinstance(target, Leg):
        engine.fire(target, N.FAR_END_RELEASED)
    else:
        engine.leave(connection, target)


def _clear_call(engine: Engine, leg: Leg, params: Params) -> None:
    connection = leg.connection
    engine.move_and_announce(leg, O.CLEAR_CALL)
    engine.finish(leg, leave=False)
    engine.clear(connection)


#: operations whose whole effect is their table row on the leg (``Engine.fire``): the request
#: path fires them without a handler call
FIRED: Final = frozenset({O.HANGUP, O.HOLD, O.RETRIEVE})

#: operation -> what it does (Dial makes a new call: see ``callstate.requests``)
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
    O.SET_CALL_DISPOSITION: _set_disposition,
    O.SWITCH_TO_LISTEN_IN: _switch_to(SupervisionMode.LISTEN_IN, O.SWITCH_TO_LISTEN_IN),
    O.SWITCH_TO_BARGE_IN: _switch_to(SupervisionMode.BARGE_IN, O.SWITCH_TO_BARGE_IN),
    O.MUTE_MONITORED_USER: _mute_monitored(True, O.MUTE_MONITORED_USER),
    O.UNMUTE_MONITORED_USER: _mute_monitored(False, O.UNMUTE_MONITORED_USER),
    O.REMOVE_PARTICIPANT_FROM_CONFERENCE: _remove_participant,
    O.CLEAR_CALL: _clear_call,
}
