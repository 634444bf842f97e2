"""Who sees which call (spec §1): an agent only its own device's legs, an admin every leg."""

from __future__ import annotations

import pytest

from callstate import CallEvent, Form, Projection, Switch, User

OUTSIDE = "+14155550100"
FORMS: list[Form] = ["8.5.0", "8.5.2"]


class World:
    """15000 talks to 15001; an outside caller rings 15002; 15003 has no call."""

    def __init__(self) -> None:
        self.switch = Switch(seed=11, clock=lambda: 0.0)
        self.projection = Projection()
        self.events: list[CallEvent] = []
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)
        for dn in ("15000", "15001", "15002", "15003"):
            self.switch.add_device(dn)
        self.placed = self.switch.device("15000").dial("15001")
        self.received = self.switch.device("15001").calls[-1]
        self.received.perform("Answer")
        self.inbound = self.switch.external_call(OUTSIDE, to="15002")

    def ids_of(self, dn: str) -> set[str]:
        return {c.id for c in self.switch.device(dn).calls}


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dn", ["15000", "15001", "15002", "15003"])
def test_an_agent_lists_only_its_own_calls(world: World, dn: str, form: Form) -> None:
    answer = world.projection.get_calls(User.agent(dn), form)
    assert answer["statusCode"] == 0
    assert {c["id"] for c in answer["calls"]} == world.ids_of(dn)
    for call in answer["calls"]:
        assert call["deviceUri"].endswith(world.switch.device(dn).id)


@pytest.mark.parametrize("form", FORMS)
def test_an_admin_lists_every_call(world: World, form: Form) -> None:
    answer = world.projection.get_calls(User.admin(), form)
    assert answer["statusCode"] == 0
    assert {c["id"] for c in answer["calls"]} == {c.id for c in world.switch.calls}
    assert len(answer["calls"]) == 3


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dn", ["15000", "15001", "15002", "15003"])
def test_an_agent_cannot_get_another_devices_call(world: World, dn: str, form: Form) -> None:
    agent = User.agent(dn)
    missing = world.projection.get_call(agent, "NOSUCHCALL", form)
    assert missing["statusCode"] == 6
    for call in world.switch.calls:
        answer = world.projection.get_call(agent, call.id, form)
        if call.device.dn == dn:
            assert answer["statusCode"] == 0
            assert answer["call"]["id"] == call.id
            assert answer["call"]["state"] == call.state.value
        else:
            assert answer.keys() == missing.keys()
            assert answer["statusCode"] == 6
            assert answer["statusMessage"].replace(call.id, "ID") == missing[
                "statusMessage"
            ].replace("NOSUCHCALL", "ID")


def test_an_admin_gets_every_call(world: World) -> None:
    for call in world.switch.calls:
        answer = world.projection.get_call(User.admin(), call.id)
        assert answer["statusCode"] == 0
        assert answer["call"]["id"] == call.id


def test_the_not_found_answer_has_no_other_field(world: World) -> None:
    answer = world.projection.get_call(User.agent("15003"), world.placed.id)
    assert answer == {"statusCode": 6, "statusMessage": f"call {world.placed.id} not found"}


@pytest.mark.parametrize("dn", ["15000", "15001", "15002", "15003"])
def test_an_agent_is_notified_only_of_its_own_legs(world: World, dn: str) -> None:
    agent = User.agent(dn)
    assert world.events
    for event in world.events:
        message = world.projection.notification(event, agent)
        if event.call.device == dn:
            assert message is not None
            assert message["data"]["call"]["id"] == event.call.id
            assert message["data"]["phoneNumber"] == dn
        else:
            assert message is None


def test_an_admin_is_notified_of_every_leg(world: World) -> None:
    for event in world.events:
        message = world.projection.notification(event, User.admin())
        assert message is not None
        assert message["data"]["phoneNumber"] == event.call.device


def test_without_a_user_the_message_is_addressed_to_the_legs_agent(world: World) -> None:
    for event in world.events:
        message = world.projection.notification(event)
        assert message is not None
        assert message["data"]["phoneNumber"] == event.call.device
        assert message["channel"] == "/v2/me/calls"


@pytest.mark.parametrize("user", [User.admin(), User.agent("15000"), User.agent("15001")])
def test_released_calls_disappear_from_get(world: World, user: User) -> None:
    world.placed.perform("Hangup")
    assert world.placed.state.value == world.received.state.value == "Released"
    listed = {c["id"] for c in world.projection.get_calls(user)["calls"]}
    assert world.placed.id not in listed
    assert world.received.id not in listed
    for call in (world.placed, world.received):
        assert world.projection.get_call(user, call.id)["statusCode"] == 6


def test_a_released_leg_leaves_the_list_with_its_released_event(world: World) -> None:
    before = {c["id"] for c in world.projection.get_calls(User.admin())["calls"]}
    assert {world.placed.id, world.received.id} <= before
    seen: list[bool] = []

    def listed_while_delivering(event: CallEvent) -> None:
        listed = {c["id"] for c in world.projection.get_calls(User.admin())["calls"]}
        seen.append(event.call.id in listed)

    world.switch.subscribe(listed_while_delivering)
    world.events.clear()
    world.placed.perform("Hangup")
    assert [e.call.state.value for e in world.events] == ["Released", "Released"]
    assert seen == [False, False]
    after = {c["id"] for c in world.projection.get_calls(User.admin())["calls"]}
    assert after == {world.inbound.id}


def test_an_agent_with_two_calls_sees_both_and_no_more(world: World) -> None:
    second = world.switch.device("15000").dial("15003")
    listed = {c["id"] for c in world.projection.get_calls(User.agent("15000"))["calls"]}
    assert listed == {world.placed.id, second.id}
    listed_by_callee = {c["id"] for c in world.projection.get_calls(User.agent("15003"))["calls"]}
    assert listed_by_callee == world.ids_of("15003")
    assert second.id not in listed_by_callee


def test_an_unknown_agent_sees_nothing(world: World) -> None:
    assert world.projection.get_calls(User.agent("19999")) == {"statusCode": 0, "calls": []}


@pytest.mark.parametrize("text", ["admin", "15000"])
def test_users_parse_from_their_cli_spelling(world: World, text: str) -> None:
    user = User.parse(text)
    expected = {c.id for c in world.switch.calls} if text == "admin" else world.ids_of(text)
    assert {c["id"] for c in world.projection.get_calls(user)["calls"]} == expected


@pytest.mark.parametrize(
    "text", ["Admin", "abc", "", "15 000", "\u0661\u0665\u0660\u0660\u0660", "/me/calls"]
)
def test_a_user_that_is_neither_admin_nor_a_dn_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="neither 'admin' nor a DN"):
        User.parse(text)
