"""The simulator's own routes, outside ``/api/v2`` (GWS has no far end to drive): admin only.

``callstate.api`` routes ``/simulator/...`` here once the method and the body's JSON syntax are
checked; each function checks who asks (403/5 for a non-admin) and the body's content, then makes
one switch request, so a refusal changes nothing and emits nothing:

- ``far_end``: ``POST /simulator/far-end``, a scenario far-end step;
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

from collections.abc import Mapping
from typing import Any, Final

from .config import Account, UserRole
from .errors import (
    InvalidParameterError,
    MissingParameterError,
    NotPermittedError,
    UnknownOperationError,
)
from .switch import Switch
from .wire import dumps

__all__ = ["CLEAR_CALL", "clear_call", "far_end", "reset"]

#: the one operation ``/simulator/calls/{callId}`` takes
CLEAR_CALL: Final = "ClearCall"
_FAR_END_EVENTS: Final = ("Call", "Answer", "Hangup", "Busy")
_OK: Final = b'{"statusCode":0}'


def _admin(account: Account, what: str, operation: str) -> None:
    if account.role is not UserRole.ADMIN:
        raise NotPermittedError(f"only an admin {what}", operation=operation)


def far_end(switch: Switch, account: Account, step: Mapping[str, Any]) -> bytes:
    """``POST /simulator/far-end``: the far end calls, answers, is busy or hangs up."""
    _admin(account, "drives the far end", "far-end")
    number, event = step.get("external"), step.get("event")
    if number is None or event is None:
        missing = "external" if number is None else "event"
        raise MissingParameterError(f"parameter {missing!r} is required", operation="far-end")
    unknown = sorted(set(step) - {"external", "event", "to", "userData"})
    if unknown:
        raise InvalidParameterError(f"unknown parameter {unknown[0]!r}", operation="far-end")
    if not isinstance(number, str) or not number:
        raise InvalidParameterError("'external' is a phone number string", operation="far-end")
    if event not in _FAR_END_EVENTS:
        raise InvalidParameterError(
            f"'event' is one of {', '.join(_FAR_END_EVENTS)}", operation="far-end"
        )
    to = step.get("to")
    if to is not None and not isinstance(to, str):
        raise InvalidParameterError("'to' is a DN string", operation="far-end")
    if event == "Call":
        if to is None:
            raise MissingParameterError("parameter 'to' is required", operation="far-end Call")
        leg = switch.external_call(number, to=to, user_data=step.get("userData"))
        return dumps({"statusCode": 0, "callId": leg.id})
    if "userData" in step:
        raise InvalidParameterError(f"'userData' goes with Call, not {event}", operation="far-end")
    act = {
        "Answer": switch.external_answer,
        "Hangup": switch.external_hangup,
        "Busy": switch.external_busy,
    }[event]
    act(number, to=to)
    return _OK


def reset(switch: Switch, account: Account, params: Mapping[str, Any]) -> bytes:
    """``POST /simulator/reset`` (an empty body or ``{}``): every call cleared, every device
    as it was added."""
    _admin(account, "resets the switch", "reset")
    if params:
        raise InvalidParameterError(
            f"unknown parameter {sorted(params)[0]!r}: reset takes none", operation="reset"
        )
    switch.reset()
    return _OK


def clear_call(switch: Switch, account: Account, call_id: str, params: Mapping[str, Any]) -> bytes:
    """``POST /simulator/calls/{callId}`` with ``{"operationName": "ClearCall"}``: every leg
    of the call released."""
    _admin(account, "clears a call", CLEAR_CALL)
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
    return _OK
