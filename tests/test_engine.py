"""The engine's own promises: ids, delivery by device, and faces that add no state."""

from __future__ import annotations

import pytest

from callstate import Call, CallEvent, Device, Projection, State, Switch
from callstate.bus import Bus
from callstate.engine import Connection, Leg, Line
from callstate.ids import base32

BASE32 = "0123456789ABCDEFGHIJKLMNOPQRSTUV"


def divmod_digits(n: int) -> str:
    digits = []
    for _ in range(6):
        n, r = divmod(n, 32)
        digits.append(BASE32[r])
    assert n == 0
    return "".join(reversed(digits))


@pytest.mark.parametrize("n", [0, 1, 2, 31, 32, 33, 1023, 1024, 1025, 32**4 + 7, 32**6 - 1])
def test_call_ids_count_in_base_32(n: int) -> None:
    assert base32(n) == divmod_digits(n)


@pytest.mark.parametrize("n", [-1, 32**6])
def test_call_ids_end_before_they_would_wrap(n: int) -> None:
    with pytest.raises(OverflowError):
        base32(n)


def test_a_switch_numbers_its_calls_from_one() -> None:
    switch = Switch(seed=5)
    phone = switch.add_device("15000")
    first, second = phone.dial("+14155550100"), phone.dial("+14155550101")
    assert first.id[:-6] == second.id[:-6]
    assert (first.id[-6:], second.id[-6:]) == ("000001", "000002")


def test_a_device_subscriber_hears_its_device_only_and_in_subscription_order() -> None:
    switch = Switch(seed=1)
    a, b = switch.add_device("15000"), switch.add_device("15001")
    heard: list[tuple[str, str, State]] = []
    bus = Bus()
    # the face's bus is private; a bus on its own shows the routing rules
    bus.subscribe(lambda e: heard.append(("wide", e.call.device, e.call.state)))
    bus.subscribe(lambda e: heard.append(("b", e.call.device, e.call.state)), "15001")
    bus.subscribe(lambda e: heard.append(("wide2", e.call.device, e.call.state)))
    events: list[CallEvent] = []
    switch.subscribe(events.append)
    a.dial("15001")
    bus.publish(events)
    devices = [(who, dn) for who, dn, _ in heard]
    assert devices == [
        ("wide", "15000"),
        ("wide2", "15000"),
        ("wide", "15001"),
        ("b", "15001"),
        ("wide2", "15001"),
    ]
    assert b.calls[0].state is State.RINGING


def test_events_of_a_subscribers_own_request_follow_the_event_being_delivered() -> None:
    switch = Switch(seed=1)
    phone = switch.add_device("15000")
    order: list[str] = []

    def answer_back(event: CallEvent) -> None:
        order.append(f"{event.call.device}:{event.call.state}")
        if event.call.state is State.DIALING:
            switch.external_answer(phone.calls[0])

    switch.subscribe(answer_back)
    late = phone.events()
    phone.dial("+14155550100")
    assert order == ["15000:Dialing", "15000:Established"]
    assert late.pending == 2
    late.close()


def test_faces_are_the_engines_records() -> None:
    switch = Switch(seed=1)
    phone = switch.add_device("15000", features=["mute"])
    call = phone.dial("+14155550100")
    assert isinstance(phone, Line)
    assert isinstance(phone, Device)
    assert isinstance(call, Leg)
    assert isinstance(call, Call)
    assert isinstance(call.connection, Connection)
    assert list(call.connection) == [call, "+14155550100"]
    assert switch.call(call.id) is call is phone.calls[0]
    assert call.device is phone
    assert not hasattr(call, "__dict__")  # slots only: no per-leg dict


def test_a_projection_subscribed_on_a_device_stream_sees_only_that_device() -> None:
    switch = Switch(seed=1)
    a, _ = switch.add_device("15000"), switch.add_device("15001")
    projection = Projection()
    switch.subscribe(projection)
    stream = a.events()
    a.dial("15001")
    assert stream.pending == 1
    assert len(projection.snapshots) == 2
    stream.close()
