"""Running a log's requests again on a new switch (``callstate.log.lines`` describes the format).

``Switch.restore`` builds the switch; this module drives it through its public requests, one
logged request at a time, at the logged clock reading, and checks that each produces exactly
the logged events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from .bus import Subscriber, Subscription
from .device import Call, Device
from .engine import ManualClock
from .errors import CallStateError
from .events import Event
from .log import Entry, LogError, LogReader, check_replayed, refused

__all__ = ["SwitchLike", "replay_entry", "replay_requests"]


class SwitchLike(Protocol):
    """What restoring needs of a switch: its public requests."""

    def add_device(
        self,
        dn: str,
        *,
        features: Iterable[str] = (),
        role: str = "agent",
        _device_id: str | None = None,
    ) -> Device: ...

    def device(self, dn: str) -> Device: ...

    def call(self, call_id: str) -> Call: ...

    def subscribe(self, callback: Subscriber) -> Subscription: ...

    def external_call(
        self, number: str, *, to: str, user_data: Mapping[str, Any] | None = None
    ) -> Call: ...

    def external_answer(self, party: str | Call, *, to: str | None = None) -> Call: ...

    def external_busy(self, party: str | Call, *, to: str | None = None) -> Call: ...

    def external_hangup(self, party: str | Call, *, to: str | None = None) -> Call: ...

    def clear_call(self, call: str | Call) -> Call: ...

    def reset(self) -> None: ...


def replay_requests(switch: SwitchLike, reader: LogReader, clock: ManualClock) -> None:
    """Run every request of ``reader`` again on ``switch`` (whose clock is ``clock``)."""
    produced: list[Event] = []
    with switch.subscribe(produced.append):
        for entry in reader.entries:
            replay_entry(switch, entry, clock, produced)


def replay_entry(
    switch: SwitchLike, entry: Entry, clock: ManualClock, produced: list[Event]
) -> None:
    """Run one logged request again on ``switch`` (whose clock is ``clock``); ``produced`` is
    a list a subscriber of the switch appends each event to: it must end up holding exactly
    the logged events (else ``LogError``, naming the line)."""
    clock.now = entry.at
    produced.clear()
    try:
        _apply(switch, entry.request)
    except CallStateError as error:
        raise refused(entry, error) from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise LogError(entry.line, f"not a request this switch knows: {error!r}") from None
    check_replayed(entry, produced)


def _apply(switch: SwitchLike, request: Mapping[str, Any]) -> None:
    """Run one logged request again."""
    op = request["op"]
    if op == "add_device":
        role = request.get("role", "agent")
        switch.add_device(
            request["dn"], features=request["features"], role=role, _device_id=request["id"]
        )
    elif op == "dial":
        params = dict(request["params"])
        switch.device(request["device"]).dial(params.pop("destination"), **params)
    elif op == "perform":
        device = switch.device(request["device"])
        device.perform(request["call"], request["operation"], **request["params"])
    elif op == "operate":
        device = switch.device(request["device"])
        device.operate(request["operation"], **request["params"])
    elif op == "external_call":
        switch.external_call(request["number"], to=request["to"], user_data=request["userData"])
    elif op == "clear_call":
        call = request["call"]
        if not isinstance(call, str):
            raise TypeError(f"a call id is a string, not {call!r}")
        switch.clear_call(call)
    elif op == "reset":
        switch.reset()
    else:
        party = request["party"]
        target: str | Call = party if isinstance(party, str) else switch.call(party["call"])
        far_end: dict[str, Callable[..., Call]] = {
            "external_answer": switch.external_answer,
            "external_busy": switch.external_busy,
            "external_hangup": switch.external_hangup,
        }
        far_end[op](target, to=request["to"])
