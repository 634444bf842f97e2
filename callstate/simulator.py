"""The simulator's own routes (outside GWS, admin only): driving the far end of calls, and
measuring the served process's garbage collector. ``callstate.api`` answers them."""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from typing import Any, Final

from .errors import InvalidParameterError, MissingParameterError
from .switch import Switch

__all__ = ["FAR_END_EVENTS", "far_end", "full_collection"]

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
