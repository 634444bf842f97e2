"""A device: an agent's phone on the switch, and the requests its agent makes.

Every request is checked completely — operation name (statusCode 1), call (6), capabilities (2),
parameters (1 or 2), then what only the operation can know — before anything changes, so a
refused request changes nothing and emits nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from .call import Call
from .enums import Feature, Operation, State
from .errors import (
    CallNotFoundError,
    CallStateError,
    OperationNotAvailableError,
    UnknownOperationError,
)
from .operations import OPERATIONS
from .params import check_params
from .streams import EventStream

if TYPE_CHECKING:
    from .switch import Switch

__all__ = ["Device", "check_operation_name"]

_BY_NAME: Final = {op.value: op for op in Operation}
_VALID_NAMES: Final = ", ".join(sorted(_BY_NAME))


class Device:
    """An agent's phone on the switch, known by its DN."""

    __slots__ = ("_calls", "_switch", "dn", "features", "id")

    def __init__(self, switch: Switch, dn: str, device_id: str, features: frozenset[Feature]):
        self._switch = switch
        self.dn: Final = dn
        self.id: Final = device_id
        self.features: Final = features
        self._calls: dict[str, Call] = {}

    @property
    def calls(self) -> tuple[Call, ...]:
        """This device's live legs, oldest first."""
        return tuple(self._calls.values())

    def call(self, call_id: str, operation: str | None = None) -> Call:
        """This device's live leg ``call_id``; anything else is 'not found'."""
        try:
            return self._calls[call_id]
        except KeyError:
            raise CallNotFoundError(
                "no such call on this device", call_id=call_id, operation=operation
            ) from None

    def dial(self, destination: str | Mapping[str, Any], **params: Any) -> Call:
        """GWS ``Dial``: a new leg to ``destination`` (a number, or ``{"phoneNumber": ...}``)."""
        if isinstance(destination, str):
            destination = {"phoneNumber": destination}
        switch = self._switch
        start = switch._begin()
        request = {"destination": destination, **params}
        leg = switch._dial(self, check_params(Operation.DIAL, request))
        switch._commit(start, {"op": "dial", "device": self.dn, "params": request})
        return leg

    def perform(self, call_id: str, operation: str, **params: Any) -> None:
        """POST ``{"operationName": operation, **params}`` to ``/me/calls/{call_id}``."""
        switch = self._switch
        start = switch._begin()
        op = _BY_NAME.get(operation)
        if op is None:
            known = self._calls.get(call_id)
            raise _unknown(operation, call_id, known.state if known is not None else None)
        call = self.call(call_id, op)
        if op not in call._offered:
            offered = ", ".join(call._capabilities) or "nothing"
            raise OperationNotAvailableError(
                f"not in capabilities (offered: {offered})",
                call_id=call_id,
                state=call._state,
                operation=op,
            )
        OPERATIONS[op](switch, call, check_params(op, params, call_id=call_id, state=call._state))
        request = {"op": "perform", "device": self.dn, "call": call_id, "operation": op.value}
        switch._commit(start, {**request, "params": params})

    async def aperform(self, call_id: str, operation: str, **params: Any) -> None:
        """``perform`` for coroutines, with back-pressure: concurrent requests are admitted one
        at a time, first come first served, once every event stream has room (see
        ``callstate.streams``); each runs whole, judged against what the one before left."""
        await self._switch._admit(lambda: self.perform(call_id, operation, **params))

    async def adial(self, destination: str | Mapping[str, Any], **params: Any) -> Call:
        """``dial`` for coroutines (admitted like ``aperform``)."""
        return await self._switch._admit(lambda: self.dial(destination, **params))

    def events(self, *, maxsize: int = 1024) -> EventStream:
        """An async stream of this device's events, in order."""
        return EventStream(self._switch, maxsize=maxsize, device=self.dn)

    def __repr__(self) -> str:
        return f"<Device {self.dn} {sorted(self.features)}>"


def check_operation_name(name: str) -> Operation:
    """The ``Operation`` called ``name``; ``UnknownOperationError`` (code 1) otherwise."""
    op = _BY_NAME.get(name)
    if op is None:
        raise _unknown(name)
    return op


def _unknown(name: str, call_id: str | None = None, state: State | None = None) -> CallStateError:
    return UnknownOperationError(
        f"unknown operation; valid operations are {_VALID_NAMES}",
        call_id=call_id,
        state=state,
        operation=str(name),
    )
