"""The engine's own promises: ids, delivery by device, and faces that add no state."""

from __future__ import annotations

import pytest

from callstate import AgentState, Call, CallEvent, Device, Mute, Projection, State, Switch
from callstate.bus import Bus
from callstate.device import leg_of
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


def test_faces_wrap_the_engines_records_one_face_each() -> None:
    switch = Switch(seed=1)
    phone = switch.add_device("15000", features=["mute"])
    call = phone.dial("+14155550100")
    assert isinstance(phone, Device)
    assert not isinstance(phone, Line)
    assert isinstance(call, Call)
    assert not isinstance(call, Leg)
    record = leg_of(call)
    assert isinstance(record, Leg)
    assert isinstance(call.connection, Connection)
    assert list(call.connection) == [record, "+14155550100"]
    assert switch.call(call.id) is call is phone.calls[0]
    assert call.device is phone is switch.device("15000")
    assert not hasattr(call, "__dict__")  # slots only
    assert not hasattr(record, "__dict__")


def test_a_released_call_nobody_holds_is_let_go() -> None:
    """Faces keep no call alive: a held face stays the one face of its call, and once the call
    is released and nobody holds its face, the face (and the leg behind it) is freed."""
    import gc
    import weakref

    switch = Switch(seed=1)
    phone = switch.add_device("15000")
    call = phone.dial("+14155550100")
    call_id, face = call.id, weakref.ref(call)
    assert phone.call(call_id) is call
    call.perform("Hangup")
    del call
    gc.collect()
    assert face() is None


def test_no_field_is_set_from_outside_the_engine() -> None:
    """Every change is a request: setting a field of a face or of a record raises, and
    nothing changes or is announced."""
    switch = Switch(seed=1)
    projection = Projection()
    switch.subscribe(projection)
    phone = switch.add_device("15000", features=["mute"])
    call = phone.dial("+14155550100")
    record = leg_of(call)
    events: list[object] = []
    switch.subscribe(events.append)
    before = (phone.snapshot(), projection.snapshots)
    targets: list[tuple[object, str, object]] = [
        (phone, "do_not_disturb", True),
        (phone, "user_state", AgentState.READY),
        (phone, "forward_to", "15001"),
        (record.device, "do_not_disturb", True),
        (record.device, "legs", {}),
        (call, "state", State.HELD),
        (call, "mute", Mute.ON),
        (call, "participants", ()),
        (call, "device", phone),
        (record, "state", State.HELD),
        (record, "capabilities", ()),
        (record.connection, "owner", record),
        (record.connection, "monitors", ()),
    ]
    for target, name, value in targets:
        with pytest.raises(AttributeError):
            setattr(target, name, value)
    assert (phone.snapshot(), projection.snapshots) == before
    assert events == []


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
