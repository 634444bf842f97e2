"""What the projection keeps between requests: the device index, each leg's encoded resource,
the encoded notifications; and that keeping them changes no answer."""

from __future__ import annotations

import gc

import orjson
import pytest

from callstate import (
    CallEvent,
    CallSnapshot,
    CallType,
    Form,
    Mute,
    Operation,
    Projection,
    State,
    StateChanged,
    Switch,
    User,
)

FORMS: list[Form] = ["8.5.0", "8.5.2"]


class World:
    """15000 talks to 15001, then holds and dials +14155550100; 15002 has an inbound call."""

    def __init__(self) -> None:
        self.switch = Switch(seed=5, clock=lambda: 0.0)
        self.projection = Projection()
        self.events: list[CallEvent] = []
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)
        for dn in ("15000", "15001", "15002", "15003"):
            self.switch.add_device(dn, features=["mute", "recording"])
        self.placed = self.switch.device("15000").dial("15001")
        self.switch.device("15001").calls[-1].perform("Answer")
        self.placed.perform("AttachUserData", userData={"Account": "42", "Tier": 2})
        self.placed.perform("InitiateTransfer", destination={"phoneNumber": "+14155550100"})
        self.inbound = self.switch.external_call("+442071234567", to="15002")


@pytest.fixture
def world() -> World:
    return World()


USERS = [User.admin(), *(User.agent(dn) for dn in ("15000", "15001", "15002", "15003"))]


@pytest.mark.parametrize("form", FORMS)
def test_the_bytes_are_the_dicts_encoded(world: World, form: Form) -> None:
    projection = world.projection
    for _ in range(2):  # the second time from the kept encodings
        for user in USERS:
            assert projection.get_calls_json(user, form) == orjson.dumps(
                projection.get_calls(user, form)
            )
            for call_id in [c.id for c in world.switch.calls] + ["NOSUCHCALL"]:
                answer = projection.get_call(user, call_id, form)
                assert projection.get_call_json(user, call_id, form) == orjson.dumps(answer)
            for event in world.events:  # superseded events keep their own snapshot
                message = projection.notification(event, user, form)
                wire = projection.notification_json(event, user, form)
                assert wire == (None if message is None else orjson.dumps(message))


def test_a_legs_next_event_replaces_its_encoding(world: World) -> None:
    admin = User.admin()
    before = orjson.loads(world.projection.get_call_json(admin, world.inbound.id))
    assert before["call"]["state"] == "Ringing"
    world.inbound.perform("Answer")
    after = orjson.loads(world.projection.get_call_json(admin, world.inbound.id))
    assert after["call"]["state"] == "Established"
    assert after == world.projection.get_call(admin, world.inbound.id)


def test_not_yours_answers_like_not_found_on_the_wire(world: World) -> None:
    stranger = User.agent("15003")
    answer = world.projection.get_call_json(stranger, world.placed.id)
    missing = world.projection.get_call_json(stranger, "NOSUCHCALL")
    assert (
        answer == b'{"statusCode":6,"statusMessage":"call %s not found"}' % world.placed.id.encode()
    )
    assert answer.replace(world.placed.id.encode(), b"ID") == missing.replace(b"NOSUCHCALL", b"ID")
    assert world.projection.get_calls_json(stranger) == b'{"statusCode":0,"calls":[]}'
    for event in world.events:
        assert world.projection.notification_json(event, stranger) is None


def test_an_agents_list_is_the_admins_filtered_in_order(world: World) -> None:
    world.switch.device("15000").dial("15003")  # 15000 now has three legs, made apart
    admin = orjson.loads(world.projection.get_calls_json(User.admin()))["calls"]
    for user in USERS[1:]:
        mine = orjson.loads(world.projection.get_calls_json(user))["calls"]
        assert mine == [c for c in admin if c["deviceUri"].endswith(f"/{device_id(world, user)}")]
    assert len(orjson.loads(world.projection.get_calls_json(USERS[1]))["calls"]) == 3


def device_id(world: World, user: User) -> str:
    assert user.dn is not None
    return world.switch.device(user.dn).id


def test_a_notification_is_encoded_once_for_every_user(world: World) -> None:
    event = world.events[-1]
    owner = User.agent(event.call.device)
    first = world.projection.notification_json(event)
    assert first is not None
    assert world.projection.notification_json(event, User.admin()) is first
    assert world.projection.notification_json(event, owner) is first
    other_form: Form = "8.5.0" if world.projection.form == "8.5.2" else "8.5.2"
    assert world.projection.notification_json(event, owner, other_form) != first


def test_the_kept_notifications_are_bounded(world: World) -> None:
    event = world.events[0]
    first = world.projection.notification_json(event)
    for _ in range(100):  # enough newer events to push the first one out
        world.placed.perform("UpdateUserData", userData={"Tier": 3})
        world.projection.notification_json(world.events[-1])
    again = world.projection.notification_json(event)
    assert again == first
    assert again is not first


def snapshot(i: int, device: str) -> CallSnapshot:
    return CallSnapshot(
        id=f"LEG{i:08d}",
        conn_id=f"{i:016x}",
        device=device,
        device_id=f"D{device}",
        state=State.ESTABLISHED,
        call_type=CallType.INTERNAL,
        participants=(str(16000 + i % 3),),
        dnis=str(16000 + i % 3),
        ani=device,
        capabilities=(Operation.HANGUP, Operation.HOLD),
        user_data=(("Account", i),),
        mute=Mute.OFF,
        recording=None,
        parent_id=None,
        duration=i,
    )


def test_the_projection_adds_no_gc_tracked_object_per_leg() -> None:
    """Live legs, listed in both forms and notified: the projection's own tracked objects are
    per device and per kept notification, never per leg (a full collection stays cheap)."""
    legs = 3000
    events = [StateChanged(snapshot(i, str(15000 + i % 10)), None) for i in range(legs)]
    projection = Projection()
    gc.collect()
    before = len(gc.get_objects())
    for event in events:
        projection.apply(event)
        projection.notification_json(event)
    for form in FORMS:
        projection.get_calls_json(User.admin(), form)
    gc.collect()
    added = len(gc.get_objects()) - before
    assert added < legs / 10, added
    assert len(orjson.loads(projection.get_calls_json(User.admin()))["calls"]) == legs


def test_a_leg_said_to_move_to_another_device_is_followed_not_leaked() -> None:
    """Events a switch makes never move a leg; a hand-made log may: the index follows it."""
    from callstate import State, StateChanged

    switch = Switch(seed=1)
    phone = switch.add_device("15000")
    events: list[StateChanged] = []
    switch.subscribe(events.append)
    phone.dial("+14155550100")
    projection = Projection()
    projection.apply(events[0])
    moved = StateChanged(events[0].call._replace(device="15001"), None)
    projection.apply(moved)
    assert projection.get_calls(User.agent("15000"))["calls"] == []
    assert len(projection.get_calls(User.agent("15001"))["calls"]) == 1
    released = StateChanged(moved.call._replace(device="15002", state=State.RELEASED), None)
    projection.apply(released)
    assert projection.get_calls(User.admin())["calls"] == []
    assert projection.get_calls(User.agent("15001"))["calls"] == []
