"""Every public entry point, fed values of any type: it succeeds, or it refuses with a
``CallStateError`` and changes nothing — no other exception, no event, no half-done request."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callstate import (
    CallEvent,
    CallStateError,
    InvalidParameterError,
    LogError,
    LogReader,
    Projection,
    Switch,
    User,
    decode,
    encode,
    replay,
)
from callstate.log import event_from_json

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["15000", "15001", "+14155550100", "Hold", "Answer", "admin", "8.5.0", ""]),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    st.tuples(st.integers()),
    st.builds(object),
)


class World:
    """A switch with calls in several states, a projection and a record of every event."""

    def __init__(self) -> None:
        self.switch = Switch(seed=9)
        self.events: list[CallEvent] = []
        self.switch.subscribe(self.events.append)
        self.projection = Projection()
        self.switch.subscribe(self.projection)
        self.agent = self.switch.add_device("15000", features=["mute", "recording"])
        self.other = self.switch.add_device("15001")
        self.answered = self.switch.external_call("+14155550100", to="15000")
        self.answered.perform("Answer")
        self.ringing = self.switch.external_call("+442071234567", to="15001")
        self.dialing = self.other.dial("+14155550199")

    def state(self) -> tuple[Any, ...]:
        switch = self.switch
        return (
            len(self.events),
            self.projection.get_calls_json(User.admin()),
            tuple(d.dn for d in switch.devices),
            tuple(
                (c.id, c.state, c.capabilities, c.participants, tuple(c.user_data.items()))
                for c in switch.calls
            ),
        )


def _entry_points(w: World) -> dict[str, Callable[[Any, Any], object]]:
    s, p = w.switch, w.projection
    return {
        "Switch": Switch,
        "Switch(clock)": lambda a, b: Switch(clock=a, on_subscriber_error=b),
        "add_device": lambda a, b: s.add_device(a, features=b),
        "device": lambda a, b: s.device(a),
        "call": lambda a, b: s.call(a),
        "external_call": lambda a, b: s.external_call(a, to=b),
        "external_call(userData)": lambda a, b: s.external_call(
            "+14155550111", to="15000", user_data=a
        ),
        "external_answer": lambda a, b: s.external_answer(a, to=b),
        "external_busy": lambda a, b: s.external_busy(a, to=b),
        "external_hangup": lambda a, b: s.external_hangup(a, to=b),
        "subscribe": lambda a, b: s.subscribe(a),
        "events": lambda a, b: s.events(maxsize=a),
        "device events": lambda a, b: w.agent.events(maxsize=a),
        "write_log": lambda a, b: s.write_log(a),
        "perform": w.agent.perform,
        "perform(params)": lambda a, b: w.agent.perform(
            w.answered.id, "UpdateUserData", **{"userData": a}
        ),
        "perform(any param)": lambda a, b: w.agent.perform(w.answered.id, "SendDtmf", digits=a),
        "dial": lambda a, b: w.agent.dial(a),
        "dial(params)": lambda a, b: w.agent.dial("+14155550123", userData=a),
        "device.call": w.agent.call,
        "call.perform": lambda a, b: w.answered.perform(a),
        "Projection": Projection,
        "get_calls": p.get_calls,
        "get_call": lambda a, b: p.get_call(User.admin(), a, b),
        "get_call(user)": lambda a, b: p.get_call(a, w.answered.id),
        "get_calls_json": p.get_calls_json,
        "get_call_json": lambda a, b: p.get_call_json(User.admin(), a, b),
        "notification": p.notification,
        "notification_json": p.notification_json,
        "apply": lambda a, b: p.apply(a),
        "User.parse": lambda a, b: User.parse(a),
        "User.agent": lambda a, b: User.agent(a),
        "User": User,
    }


ENTRY_POINTS = sorted(_entry_points(World()))


@pytest.mark.parametrize("name", ENTRY_POINTS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=ANYTHING, b=ANYTHING)
def test_any_argument_is_taken_or_refused_without_a_change(name: str, a: Any, b: Any) -> None:
    if name == "write_log" and isinstance(a, str):
        return  # a string is a path: writing it would create files anywhere
    world = World()
    before = world.state()
    refused: CallStateError | None = None
    try:
        _entry_points(world)[name](a, b)
    except CallStateError as error:
        refused = error
    if refused is not None:
        assert refused.status_code in (1, 2, 4, 6)
        assert world.state() == before, f"{name} refused {a!r}, {b!r} and still changed things"


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda w: w.switch.external_answer(None), "far party"),
        (lambda w: w.switch.external_hangup(0), "far party"),
        (lambda w: w.switch.external_busy([]), "far party"),
        (lambda w: w.switch.events(maxsize=math.nan), "maxsize"),
        (lambda w: w.switch.add_device("15009", features=None), "features"),
        (lambda w: Switch(7), "base_uri"),
        (lambda w: User.parse(None), "neither 'admin' nor a DN"),
        (lambda w: User.agent(15000), "a user is an admin, or an agent"),
    ],
)
def test_the_reported_bad_inputs_are_refused_by_name(
    call: Callable[[World], object], reason: str
) -> None:
    world = World()
    before = world.state()
    with pytest.raises(InvalidParameterError, match=reason):
        call(world)
    assert world.state() == before


def test_an_unhashable_operation_or_call_id_is_unknown_or_not_found() -> None:
    world = World()
    with pytest.raises(CallStateError) as unknown:
        world.agent.perform(world.answered.id, [])  # type: ignore[arg-type]
    assert unknown.value.status_code == 1
    with pytest.raises(CallStateError) as missing:
        world.agent.perform([], "Hold")  # type: ignore[arg-type]
    assert missing.value.status_code == 6
    assert world.projection.get_call(User.admin(), [])["statusCode"] == 6  # type: ignore[arg-type]


@pytest.mark.parametrize("reading", [math.inf, -math.inf, math.nan, 1e13, "12", None, True])
def test_a_clock_reading_that_is_not_a_time_refuses_the_request(reading: object) -> None:
    clock_value: list[object] = [0.0]
    switch = Switch(seed=1, clock=lambda: clock_value[0])
    phone = switch.add_device("15000")
    seen: list[CallEvent] = []
    switch.subscribe(seen.append)
    call = switch.external_call("+14155550100", to="15000")
    clock_value[0] = reading
    with pytest.raises(InvalidParameterError, match="the clock read"):
        call.perform("Answer")
    assert (call.state, len(seen)) == (call.state.RINGING, 1)
    clock_value[0] = 5.0
    call.perform("Answer")  # a good reading again: the switch goes on
    assert len(phone.calls) == 1


def test_a_damaged_number_in_a_log_is_shown_plain_not_a_crash() -> None:
    from callstate import CallSnapshot, StateChanged
    from callstate.enums import CallType, Mute, State

    snapshot = CallSnapshot(
        id="X1",
        conn_id="c",
        device="15000",
        device_id="d",
        state=State.RINGING,
        call_type=CallType.INBOUND,
        participants=("+1x5\u00e9",),
        dnis="15000",
        ani="+1x5\u00e9",
        capabilities=(),
        user_data=(),
        mute=Mute.OFF,
        recording=None,
        parent_id=None,
        duration=0,
    )
    for form in ("8.5.0", "8.5.2"):
        projection = Projection(form=form)  # type: ignore[arg-type]
        projection.apply(StateChanged(snapshot, None))
        assert projection.get_calls_json(User.admin())
        assert projection.get_calls(User.admin())["calls"][0]["id"] == "X1"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"userData": {"big": 10**5000}}, "64-bit"),
        ({"userData": {"big": -(2**63) - 1}}, "64-bit"),
        ({"userData": {"long": "x" * 65537}}, "over 65536 characters"),
        ({"userData": {"k" * 257: "v"}}, "1 to 256 characters"),
        ({"userData": {f"k{i}": i for i in range(1001)}}, "at most 1000 keys"),
    ],
)
def test_attached_data_is_bounded(params: dict[str, Any], reason: str) -> None:
    world = World()
    before = world.state()
    with pytest.raises(InvalidParameterError, match=reason):
        world.answered.perform("UpdateUserData", **params)
    assert world.state() == before


def test_numbers_and_digits_are_bounded() -> None:
    world = World()
    before = world.state()
    with pytest.raises(InvalidParameterError):
        world.agent.dial("1" * 33)  # a DN is at most 32 digits
    with pytest.raises(InvalidParameterError):
        world.agent.dial("+1" + "4" * 200)
    with pytest.raises(InvalidParameterError, match="DTMF"):
        world.answered.perform("SendDtmf", digits="1" * 257)
    assert world.state() == before
    world.answered.perform("UpdateUserData", userData={"ok": 2**63 - 1, "s": "x" * 65536})


LOG_ENTRY_POINTS: dict[str, Callable[[Any, Any], object]] = {
    "LogReader.read": lambda a, b: LogReader.read(a),
    "Switch.restore": lambda a, b: Switch.restore(a),
    "decode": lambda a, b: decode(a),
    "encode": lambda a, b: encode(a),
    "replay": replay,
    "event_from_json": lambda a, b: event_from_json(a),
}


@pytest.mark.parametrize("name", sorted(LOG_ENTRY_POINTS))
@settings(max_examples=60, deadline=None)
@given(a=ANYTHING, b=ANYTHING)
def test_the_log_api_takes_any_argument_or_refuses_it(name: str, a: Any, b: Any) -> None:
    if name in ("LogReader.read", "Switch.restore") and isinstance(a, str | bytes):
        a = Path("/nonexistent") / "x.log"  # a string is a path: reading one is not the point
    try:
        LOG_ENTRY_POINTS[name](a, b)
    except (CallStateError, LogError, OSError):
        pass
    except ValueError:  # decode and event_from_json say "not an event" with a ValueError
        assert name in ("decode", "event_from_json")
