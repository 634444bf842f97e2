"""A minimal pure-Python call engine: the floor that callstate's core is measured against.

It does what callstate's core does for the benchmark's cycle (dial, far-end answer, Hold,
Retrieve, Hangup) and nothing else: per-leg state and context (whether the far end answered),
next states and capabilities from dicts derived once from a few rows, an operation-name and a
capability check before each operation, one immutable snapshot event per changed leg delivered
in order to every subscriber (one that raises does not stop the others), a dict projection keeping
the latest snapshot per live leg, and ids from counters. It has no phone-number parsing, event
log, streams, consults or JSON: what it costs is what any engine with these semantics must pay.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import NamedTuple

#: trigger, source states, destination (None: the leg stays), guard on "answered" (None: any)
ROWS = (
    ("FarEndAnswered", ("Dialing",), "Established", None),
    ("Answer", ("Ringing",), "Established", None),
    ("Hold", ("Established",), "Held", None),
    ("Retrieve", ("Held",), "Established", True),
    ("Retrieve", ("Held",), "Dialing", False),
    ("Hangup", ("Dialing", "Established", "Held"), "Released", None),
    ("SendDtmf", ("Established",), None, None),
    ("AttachUserData", ("Dialing", "Ringing", "Established", "Held"), None, None),
)
STATES = ("Dialing", "Ringing", "Established", "Held", "Released")
OPERATIONS = frozenset(row[0] for row in ROWS) - {"FarEndAnswered"}
ANSWERING = frozenset({"Answer", "FarEndAnswered"})
#: (trigger, state, answered) -> next state; the first row that may fire wins
NEXT: dict[tuple[str, str, bool], str] = {}
for _trigger, _sources, _dest, _guard in ROWS:
    for _state, _answered in itertools.product(_sources, (False, True)):
        if _guard is None or _guard is _answered:
            NEXT.setdefault((_trigger, _state, _answered), _dest or _state)
#: (state, answered) -> the sorted operations offered
CAPS: dict[tuple[str, bool], tuple[str, ...]] = {
    (s, a): tuple(sorted(t for (t, s2, a2) in NEXT if (s2, a2) == (s, a) and t in OPERATIONS))
    for s, a in itertools.product(STATES, (False, True))
}


class Snapshot(NamedTuple):
    id: str
    conn_id: str
    device: str
    device_id: str
    state: str
    call_type: str
    participants: tuple[str, ...]
    dnis: str
    ani: str
    capabilities: tuple[str, ...]
    user_data: tuple[tuple[str, str | int], ...]
    mute: str
    recording: str | None
    parent_id: str | None
    duration: int


class StateChanged(NamedTuple):
    call: Snapshot
    previous: str | None


class Leg:
    __slots__ = (
        "answered",
        "call_type",
        "caps",
        "conn_id",
        "device",
        "id",
        "number",
        "started",
        "state",
        "user_data",
    )

    def __init__(self, leg_id: str, conn_id: str, device: Device, number: str, now: float):
        self.id, self.conn_id, self.device, self.number = leg_id, conn_id, device, number
        self.call_type = "Outbound" if number.startswith("+") else "Internal"
        self.state, self.answered, self.started = "Dialing", False, now
        self.caps, self.user_data = CAPS[("Dialing", False)], ()

    def snapshot(self, now: float) -> Snapshot:
        d = self.device
        return Snapshot(self.id, self.conn_id, d.dn, d.id, self.state, self.call_type,
                        (self.number,), self.number, d.dn, self.caps, self.user_data, "Off",
                        None, None, int(now - self.started))  # fmt: skip


class Projection:
    def __init__(self) -> None:
        self.calls: dict[str, Snapshot] = {}

    def __call__(self, event: StateChanged) -> None:
        call = event.call
        if call.state == "Released":
            self.calls.pop(call.id, None)
        else:
            self.calls[call.id] = call


class Switch:
    def __init__(self) -> None:
        self.calls: dict[str, Leg] = {}
        self.subscribers: list[Callable[[StateChanged], object]] = []
        self.errors: list[Exception] = []
        self._call_ids, self._conn_ids = itertools.count(1), itertools.count(1)

    def add_device(self, dn: str) -> Device:
        return Device(self, dn, f"device-{dn}")

    def external_answer(self, leg: Leg) -> None:
        self._deliver(self._move(leg, "FarEndAnswered", time.time()))

    def _dial(self, device: Device, number: str) -> Leg:
        if not number.lstrip("+").isdigit() or number == device.dn:
            raise ValueError(f"cannot dial {number!r}")
        now = time.time()
        leg_id = f"012PUFMMS0ASNAK48O7GK2LAES{next(self._call_ids):06X}"
        leg = Leg(leg_id, f"00a1b2c3d4{next(self._conn_ids):06x}", device, number, now)
        self.calls[leg_id] = device.calls[leg_id] = leg
        self._deliver(StateChanged(leg.snapshot(now), None))
        return leg

    def _move(self, leg: Leg, trigger: str, now: float) -> StateChanged:
        previous = leg.state
        leg.state = state = NEXT[(trigger, previous, leg.answered)]
        if trigger in ANSWERING:
            leg.answered = True
        leg.caps = CAPS[(state, leg.answered)]
        if state == "Released":
            del self.calls[leg.id], leg.device.calls[leg.id]
        return StateChanged(leg.snapshot(now), previous)

    def _deliver(self, event: StateChanged) -> None:
        for subscriber in self.subscribers:
            try:
                subscriber(event)
            except Exception as error:
                self.errors.append(error)


class Device:
    def __init__(self, switch: Switch, dn: str, device_id: str) -> None:
        self.switch, self.dn, self.id = switch, dn, device_id
        self.calls: dict[str, Leg] = {}

    def dial(self, number: str) -> Leg:
        return self.switch._dial(self, number)

    def perform(self, call_id: str, operation: str) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        leg = self.calls.get(call_id)
        if leg is None:
            raise KeyError(call_id)
        if operation not in leg.caps:
            raise ValueError(f"{operation} not in capabilities {leg.caps}")
        self.switch._deliver(self.switch._move(leg, operation, time.time()))
