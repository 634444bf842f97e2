"""The simulator's own routes (outside GWS, admin only): driving the far end of calls, clearing
calls and resetting the switch, and measuring the served process's garbage collector.
``callstate.api`` answers them (and checks that an admin asks: 403/5 otherwise).

- ``reset``: ``POST /simulator/reset``, every call cleared and every device as it was added
  (``Switch.reset``);
- ``clear_call``: ``POST /simulator/calls/{callId}`` with ``{"operationName": "ClearCall"}``,
  every leg of one call released, whatever its state (``Switch.clear_call``).

Decisions [ours]: clearing is an operation posted to the call, as a GWS client posts operations
to ``/api/v2/me/calls/{id}``, under the simulator's root, so that no GWS client takes it for a
Calls API operation; ``{callId}`` is any leg's id (an admin sees every leg). The checks answer
in the order of a call operation's: the call (404/6), then the operation's name (400/1), then
its parameters (400/2; ``ClearCall`` takes none).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from typing import Any, Final

from .errors import InvalidParameterError, MissingParameterError, UnknownOperationError
from .switch import Switch

__all__ = ["CLEAR_CALL", "FAR_END_EVENTS", "clear_call", "far_end", "full_collection", "reset"]

#: the one operation ``/simulator/calls/{callId}`` takes
CLEAR_CALL: Final = "ClearCall"

#: what ``POST /simulator/far-end`` may do
FAR_END_EVENTS: Final = ("Call", "Answer", "Hangup", "Busy")


def far_end(switch: Switch, step: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /simulator/far-end``: run a scenario's far-end step (``external``, ``event``,
    ``to``, ``userData``) on ``switch``; the answer's body (a ``Call``'s new leg as
    ``callId``). A malformed step raises ``MissingParameterError``/``InvalidParameterError``;
    the switch refuses a step it cannot take as it refuses any (a missing call: statusCode 6)."""
    number, event = step.get("external"), step.get("event")
    if number is None or event is None:
        missing = "external" if number is None else "event"
        raise MissingParameterError(f"parameter {missing!r} is required", operation="far-end")
    unknown = sorted(set(step) - {"external", "event", "to", "userData"})
    if unknown:
        raise InvalidParameterError(f"unknown parameter {unknown[0]!r}", operation="far-end")
    if not isinstance(number, str) or not number:
        raise InvalidParameterError("'external' is a phone number string", operation="far-end")
    if event not in FAR_END_EVENTS:
        raise InvalidParameterError(
            f"'event' is one of {', '.join(FAR_END_EVENTS)}", operation="far-end"
        )
    to = step.get("to")
    if to is not None and not isinstance(to, str):
        raise InvalidParameterError("'to' is a DN string", operation="far-end")
    if event == "Call":
        if to is None:
            raise MissingParameterError("parameter 'to' is required", operation="far-end Call")
        leg = switch.external_call(number, to=to, user_data=step.get("userData"))
        return {"statusCode": 0, "callId": leg.id}
    if "userData" in step:
        raise InvalidParameterError(f"'userData' goes with Call, not {event}", operation="far-end")
    event_of = {
        "Answer": switch.external_answer,
        "Hangup": switch.external_hangup,
        "Busy": switch.external_busy,
    }[event]
    event_of(number, to=to)
    return {"statusCode": 0}


def reset(switch: Switch, params: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /simulator/reset`` (an empty body or ``{}``): every call cleared, every device
    as it was added."""
    if params:
        raise InvalidParameterError(
            f"unknown parameter {sorted(params)[0]!r}: reset takes none", operation="reset"
        )
    switch.reset()
    return {"statusCode": 0}


def clear_call(switch: Switch, call_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /simulator/calls/{callId}`` with ``{"operationName": "ClearCall"}``: every leg
    of the call released."""
    switch.call(call_id)  # an unknown id: 404/6 first
    operation = params.get("operationName")
    if operation is None:
        raise MissingParameterError(
            "parameter 'operationName' is required", call_id=call_id, operation=CLEAR_CALL
        )
    if operation != CLEAR_CALL:
        raise UnknownOperationError(
            f"the simulator's call operation is {CLEAR_CALL}",
            call_id=call_id,
            operation=str(operation)[:80],
        )
    unknown = sorted(set(params) - {"operationName"})
    if unknown:
        raise InvalidParameterError(
            f"unknown parameter {unknown[0]!r}: {CLEAR_CALL} takes none",
            call_id=call_id,
            operation=CLEAR_CALL,
        )
    switch.clear_call(call_id)
    return {"statusCode": 0}


def full_collection() -> dict[str, Any]:
    """Run a full garbage collection now: how long it took (``ms``), the objects it scanned
    (``tracked``), found unreachable, and left out of sight (``frozen``: ``gc.freeze``)."""
    tracked = len(gc.get_objects())
    started = time.perf_counter()
    found = gc.collect()
    took = (time.perf_counter() - started) * 1000
    return {
        "ms": round(took, 1),
        "tracked": tracked,
        "unreachable": found,
        "frozen": gc.get_freeze_count(),
    }
