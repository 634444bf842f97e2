"""Requests: each is checked completely, then carried out by the engine's moves.

An agent request is checked in this order — operation name (statusCode 1), call (6),
capabilities (2), parameters (1 or 2), then what only the operation can know — and nothing
moves before every check has passed, so a refused request changes nothing and emits nothing.
Far-end requests (an outside party calls, answers, is busy, hangs up) are checked the same way.

These functions run inside a request the caller has begun and will commit
(``Engine.begin``/``Engine.commit``); they return the leg the request made or acted on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from .device_operations import DEVICE_OPERATIONS, set_agent_state
from .engine import AWAITING_FAR_END, Engine, Leg, Line
from .enums import (
    AgentState,
    CallType,
    DeviceOperation,
    DeviceRole,
    Feature,
    NetworkEvent,
    Operation,
    State,
)
from .errors import (
    CallNotFoundError,
    CallStateError,
    DeviceBusyError,
    DeviceNotFoundError,
    InvalidParameterError,
    NotPermittedError,
    OperationNotAvailableError,
    UnknownOperationError,
    shown,
)
from .numbers import MAX_DN, is_dn, normalize, parse_number
from .operations import FIRED, OPERATIONS, check_disposition
from .params import NO_PARAMS, PARAMETERS, check_params, closest, did_you_mean

__all__ = [
    "check_device",
    "check_operation_name",
    "clear_call",
    "dial",
    "external_answer",
    "external_busy",
    "external_call",
    "external_hangup",
    "is_device_operation",
    "line_leg",
    "operate",
    "perform",
    "reset",
]

_BY_NAME: Final = {op.value: op for op in Operation}
_HANGUP: Final = Operation.HANGUP
_GONE: Final = NetworkEvent.FAR_END_RELEASED
#: why an operation that capabilities never list is refused
_UNLISTED_WHY: Final = {
    Operation.MUTE_MONITORED_USER: (
        "only a supervisor's leg in BargeIn mutes the monitored user, once"
    ),
    Operation.UNMUTE_MONITORED_USER: (
        "only a supervisor's leg in BargeIn that muted the monitored user unmutes them"
    ),
}
_AGENT_STATES: Final = {state.value: state for state in AgentState}
_DEVICE_OPS: Final = {op.value: op for op in DeviceOperation}
_DEVICE_NAMES: Final = (*_DEVICE_OPS, *_AGENT_STATES)
_SUPERVISION: Final = frozenset(
    {DeviceOperation.LISTEN_IN, DeviceOperation.COACH, DeviceOperation.BARGE_IN}
)
_VALID_NAMES: Final = ", ".join(sorted(_BY_NAME))
_NEEDS_PARAMETERS: Final = frozenset(op for op, (required, _) in PARAMETERS.items() if required)


def check_operation_name(name: str) -> Operation:
    """The ``Operation`` called ``name``; ``UnknownOperationError`` (code 1) otherwise."""
    op = _BY_NAME.get(name)
    if op is None:
        raise _unknown(name)
    return op


def _unknown(name: str, call_id: str | None = None, state: State | None = None) -> CallStateError:
    hint = did_you_mean(name, _BY_NAME)
    device_op = name if is_device_operation(name) else closest(name, _DEVICE_NAMES)
    if device_op is not None and not hint:
        hint = f" ({device_op} is a device operation: it takes no call)"
    return UnknownOperationError(
        f"unknown operation{hint}; valid operations are {_VALID_NAMES}",
        call_id=call_id,
        state=state,
        operation=str(name),
    )


# -- devices --------------------------------------------------------------------------------------
def check_device(engine: Engine, dn: object, given: object) -> frozenset[Feature]:
    """Check a new device: its DN must be digits only (at most ``MAX_DN`` of them) and new on
    the switch; return its features from their names (``"mute"``, ``"recording"``)."""
    if not is_dn(dn):
        raise InvalidParameterError(
            f"a DN is 1 to {MAX_DN} digits, not {shown(dn)}", operation="add_device"
        )
    if dn in engine.lines:
        raise InvalidParameterError(f"device {dn} already exists", operation="add_device")
    names = [str(f) for f in Feature]
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise InvalidParameterError(
            f"features are a list of {names}, not {shown(given)}", operation="add_device"
        )
    try:
        items = list(given)
    except (TypeError, ValueError, OverflowError):
        raise InvalidParameterError(
            f"features are a list of {names}, not {shown(given)}", operation="add_device"
        ) from None
    if not all(isinstance(f, str) and f in names for f in items):
        raise InvalidParameterError(
            f"features are {names}, not {shown(items)}", operation="add_device"
        )
    return frozenset(Feature(f) for f in items)


def is_device_operation(name: object) -> bool:
    """Whether ``name`` is a device-level or agent state operation (it takes no call)."""
    return isinstance(name, str) and (name in _DEVICE_OPS or name in _AGENT_STATES)


def operate(engine: Engine, line: Line, operation: str, params: Mapping[str, Any]) -> None:
    """POST ``{"operationName": operation, **params}`` to ``/me/devices/{id}`` (a device
    operation) or to ``/me/channels/voice`` (an agent state)."""
    name = operation if isinstance(operation, str) else shown(operation)
    dn = line.dn
    state = _AGENT_STATES.get(name)
    if state is not None:
        check_params(name, params, device=dn)  # takes none
        set_agent_state(engine, line, state)
        return
    op = _DEVICE_OPS.get(name)
    if op is None:
        known = [*_DEVICE_OPS, *_AGENT_STATES]
        raise UnknownOperationError(
            f"unknown device operation{did_you_mean(name, known)}; valid ones are "
            f"{', '.join(sorted(_DEVICE_OPS))} "
            f"and the agent states {', '.join(sorted(_AGENT_STATES))}",
            operation=name,
            device=dn,
        )
    if op in _SUPERVISION and line.role is not DeviceRole.SUPERVISOR:
        raise NotPermittedError(
            "this device is an agent's: only a supervisor supervises", operation=op, device=dn
        )
    offered = engine.device_snapshot(line).capabilities
    if op not in offered:
        raise OperationNotAvailableError(
            f"not in the device's capabilities (offered: {', '.join(offered) or 'nothing'})",
            operation=op,
            device=dn,
        )
    DEVICE_OPERATIONS[op](engine, line, check_params(op, params, device=dn))


# -- agent requests ---------------------------------------------------------------------------
def line_leg(line: Line, call_id: str, operation: str | None = None) -> Leg:
    """The device's live leg ``call_id``; anything else is 'not found'."""
    leg = line.live(call_id) if isinstance(call_id, str) else None
    if leg is None:
        raise CallNotFoundError("no such call on this device", call_id=call_id, operation=operation)
    return leg


def perform(
    engine: Engine, line: Line, call_id: str, operation: str, params: Mapping[str, Any]
) -> Leg | None:
    """POST ``{"operationName": operation, **params}`` to ``/me/calls/{call_id}``."""
    try:
        op = _BY_NAME.get(operation)
    except TypeError:  # unhashable: no operation's name
        op = None
    if op is None:
        known = line.live(call_id) if isinstance(call_id, str) else None
        raise _unknown(
            shown(operation) if not isinstance(operation, str) else operation,
            call_id if isinstance(call_id, str) else None,
            known.state if known is not None else None,
        )
    leg = line.live(call_id) if type(call_id) is str else None
    if leg is None:
        if op is Operation.SET_CALL_DISPOSITION and call_id in line.released:
            # a recently released leg takes a disposition: checked, and nothing is sent
            released = State.RELEASED
            checked = check_params(op, params, call_id=call_id, state=released)
            check_disposition(call_id, released, checked)
            return None
        leg = line_leg(line, call_id, op)  # not found (said the way line_leg says it)
    if op not in leg.offered:
        offered = ", ".join(leg.capabilities) or "nothing"
        reason = _UNLISTED_WHY.get(op, f"not in capabilities (offered: {offered})")
        raise OperationNotAvailableError(
            reason,
            call_id=call_id,
            state=leg.state,
            operation=op,
        )
    if params or op in _NEEDS_PARAMETERS:
        checked = check_params(op, params, call_id=call_id, state=leg.state)
    else:
        checked = NO_PARAMS
    if op is _HANGUP:
        engine.fire(leg, op)
    elif op in FIRED:  # Hold, Retrieve
        engine.fire_in_pair(leg, op)
    else:
        OPERATIONS[op](engine, leg, checked)
    return leg


def dial(engine: Engine, line: Line, request: Mapping[str, Any]) -> Leg:
    """GWS ``Dial``: a new leg to ``request["destination"]``."""
    params = check_params(Operation.DIAL, request, device=line.dn)
    number = params.destination
    assert number is not None
    if normalize(number) == line.dn:
        raise InvalidParameterError(
            f"{number} is this device", operation=Operation.DIAL, device=line.dn
        )
    # [ours] a call to another device of this switch is Internal; to anything else Outbound
    call_type = CallType.INTERNAL if number in engine.lines else CallType.OUTBOUND
    leg, target, busy = engine.place(line, number, call_type, params.user_data or ())
    engine.announce(leg, None)
    if target is not None:
        engine.announce(target, None)
    if busy:  # do-not-disturb: refused as a busy far end would refuse it [ours]
        engine.fire(leg, NetworkEvent.FAR_END_BUSY)
    return leg


# -- the far end ----------------------------------------------------------------------------------
def external_call(engine: Engine, number: str, to: str, user_data: Mapping[str, Any] | None) -> Leg:
    """An outside party (``number``) calls device ``to``: a new ``Ringing`` leg there."""
    if parse_number(number) is None or number in engine.lines:
        raise InvalidParameterError(f"{shown(number)} is not an outside number", operation="Call")
    engine.line(to)  # an unknown device is not found
    try:
        given = {} if user_data is None else user_data
        data = check_params(Operation.ATTACH_USER_DATA, {"userData": given}).user_data
    except InvalidParameterError as error:  # name the request that was made
        raise InvalidParameterError(error.reason, operation="Call") from None
    reached, target, busy = engine.route(to)
    if target is None:  # [ours] nobody can take it: the far end hears busy, no leg is made
        why = "is in do-not-disturb" if busy else f"forwards to {reached}, outside the switch"
        raise DeviceBusyError(f"device {to} {why}: the call is refused as busy", operation="Call")
    connection = engine.connect(number)  # an outside number: the call is Inbound
    return engine.add_leg(
        connection, target, State.RINGING, CallType.INBOUND, to, number, data or ()
    )


def external_answer(engine: Engine, party: str | Leg, to: str | None) -> Leg:
    """The outside party a leg is calling answers it."""
    leg = _far_end_leg(engine, party, to, "Answer", unanswered=True)
    engine.answered(leg.connection, by=None)
    return leg


def external_busy(engine: Engine, party: str | Leg, to: str | None) -> Leg:
    """The outside party a leg is calling is busy (or does not answer)."""
    leg = _far_end_leg(engine, party, to, "Busy", unanswered=True)
    engine.fire(leg, NetworkEvent.FAR_END_BUSY)
    return leg


def external_hangup(engine: Engine, party: str | Leg, to: str | None) -> Leg:
    """The outside party hangs up: it leaves its call (two-party calls end)."""
    leg = _far_end_leg(engine, party, to, "Hangup", unanswered=False)
    number = _outside_party(leg, party)
    assert number is not None
    engine.leave(leg.connection, number)
    return leg


def _outside_party(leg: Leg, party: str | Leg) -> str | None:
    wanted = normalize(party) if isinstance(party, str) else None
    for p in leg.connection:
        if isinstance(p, str) and (wanted is None or normalize(p) == wanted):
            return p
    return None


def _far_end_leg(
    engine: Engine, party: str | Leg, to: str | None, what: str, *, unanswered: bool
) -> Leg:
    if not isinstance(party, str | Leg):
        raise InvalidParameterError(
            f"the far party is an outside number or a call, not {shown(party)}", operation=what
        )
    if to is not None and not isinstance(to, str):
        raise DeviceNotFoundError(f"no device {shown(to)}", operation=what)
    if isinstance(party, Leg):
        # the leg itself, not a leg of another switch that happens to share its id
        candidates: Iterable[Leg] = (party,) if engine.legs.get(party.id) is party else ()
    elif to is not None:  # a device's few legs
        candidates = reversed(tuple(engine.line(to).legs.values()))
    else:
        candidates = reversed(engine.legs.values())
    for leg in candidates:
        waiting = not leg.answered and leg.state in AWAITING_FAR_END
        if _outside_party(leg, party) is not None and (waiting or not unanswered):
            return leg
    raise CallNotFoundError(f"no live call with outside party {shown(party)}", operation=what)


# -- the simulator's admin ------------------------------------------------------------------------
def clear_call(engine: Engine, call: str | Leg) -> Leg:
    """An admin clears ``call`` (a live leg, or its id; in any state): every leg of its call
    is released, as the far end hanging up on each party would release it, and the
    supervisors' legs on it with them. A supervisor's leg stands for the call it monitors."""
    if isinstance(call, Leg):  # the leg itself, not a leg of another switch sharing its id
        leg: Leg | None = call if engine.legs.get(call.id) is call else None
    else:
        leg = engine.legs.get(call) if type(call) is str else None
    if leg is None:  # unknown or ended: not found (6), before anything moves
        call_id = call.id if isinstance(call, Leg) else call
        raise CallNotFoundError("no such call", call_id=call_id, operation="ClearCall")
    watch = leg.watch
    engine.clear(watch.call if watch is not None else leg.connection)
    if engine.legs.get(leg.id) is leg:  # a supervisor's leg offered and not joined yet
        engine.fire(leg, _GONE)
    return leg


def reset(engine: Engine) -> None:
    """Every call cleared (``clear_call``, oldest first), then every device back as it was
    added: NotReady, without do-not-disturb, forwarding or supervision. Only what changes is
    told (a device already so gets no event). Ids go on from where they were: a client that
    held a call's id never sees it name another call."""
    legs = engine.legs
    while legs:
        clear_call(engine, next(iter(legs)))
        legs = engine.legs  # the engine makes a new table when it empties
    initial = (AgentState.NOT_READY, False, None)
    for line in engine.lines.values():
        if line.supervision is not None:
            engine.supervision.supervise(line, None)
        if (line.user_state, line.do_not_disturb, line.forward_to) != initial:
            engine.set_device(
                line, user_state=AgentState.NOT_READY, do_not_disturb=False, forward_to=None
            )
