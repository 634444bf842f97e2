"""Bad input (spec §1, §8): each request is refused with the documented code and changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from callstate import (
    Call,
    CallEvent,
    CallNotFoundError,
    CallStateError,
    DeviceNotFoundError,
    InvalidParameterError,
    MissingParameterError,
    Operation,
    Projection,
    Switch,
    UnknownOperationError,
    User,
)

OUTSIDE = "+14155550100"
BAD_NUMBERS = ["abc", "15OO1", "+1", "", "12-34", "+", "+1abc", " ", "15000 ", "1.5"]
DESTINATION_OPS = [
    "SingleStepTransfer",
    "SingleStepConference",
    "InitiateTransfer",
    "InitiateConference",
]
BAD_USER_DATA: list[Any] = [
    "AccountNumber=1",
    ["AccountNumber", "1"],
    5,
    None,
    {1: "one"},
    {"": "empty key"},
    {"flag": True},
    {"flag": False},
    {"nested": {"a": "b"}},
    {"list": [1, 2]},
    {"none": None},
    {"float": 1.5},
]


class World:
    """A: 15000 (mute, recording) talking to B: 15001; C: 15002 idle; projection and log."""

    def __init__(self) -> None:
        self.switch = Switch(seed=5, clock=lambda: 0.0)
        self.projection = Projection()
        self.events: list[CallEvent] = []
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)
        self.a = self.switch.add_device("15000", features=["mute", "recording"])
        self.b = self.switch.add_device("15001")
        self.c = self.switch.add_device("15002")
        self.call = self.a.dial("15001", userData={"AccountNumber": "12345678"})
        self.other = self.b.calls[-1]
        self.other.perform("Answer")
        self.events.clear()

    def state(self) -> tuple[object, ...]:
        legs = tuple(
            (
                c.id,
                c.state,
                c.capabilities,
                c.participants,
                c.user_data,
                c.mute,
                c.recording_state,
            )
            for c in self.switch.calls
        )
        return legs, self.projection.get_calls(User.admin())

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        before = self.state()
        yield
        assert self.state() == before
        assert self.events == []


@pytest.fixture
def world() -> World:
    return World()


def refuse(
    world: World, error: type[CallStateError], code: int, action: Callable[[], object]
) -> CallStateError:
    with world.unchanged(), pytest.raises(error) as caught:
        action()
    assert caught.value.status_code == code
    return caught.value


def refuse_on_call(
    world: World, call: Call, name: str, error: type[CallStateError], code: int, **params: Any
) -> CallStateError:
    refusal = refuse(world, error, code, lambda: call.device.perform(call.id, name, **params))
    assert refusal.call_id == call.id
    assert refusal.state is call.state
    assert refusal.operation == name
    for part in (name, call.id, str(call.state)):
        assert part in refusal.status_message
    return refusal


# -- destinations ------------------------------------------------------------------------------
@pytest.mark.parametrize("number", BAD_NUMBERS)
def test_dial_refuses_a_bad_destination(world: World, number: str) -> None:
    refusal = refuse(world, InvalidParameterError, 2, lambda: world.c.dial(number))
    assert refusal.operation == "Dial"
    assert "destination" in refusal.status_message


@pytest.mark.parametrize("destination", [{"phoneNumber": "15000"}, "15000"])
def test_dial_refuses_the_own_dn(world: World, destination: Any) -> None:
    refuse(world, InvalidParameterError, 2, lambda: world.a.dial(destination))


@pytest.mark.parametrize(
    "destination", [{"number": "15002"}, {"phoneNumber": 15002}, {}, 15002, None, ["15002"]]
)
def test_dial_refuses_a_malformed_destination_object(world: World, destination: Any) -> None:
    refuse(world, InvalidParameterError, 2, lambda: world.c.dial(destination))


@pytest.mark.parametrize("name", DESTINATION_OPS)
@pytest.mark.parametrize("number", BAD_NUMBERS)
def test_operations_refuse_a_bad_destination(world: World, name: str, number: str) -> None:
    refusal = refuse_on_call(
        world, world.call, name, InvalidParameterError, 2, destination={"phoneNumber": number}
    )
    assert "destination" in refusal.status_message


@pytest.mark.parametrize("name", DESTINATION_OPS)
@pytest.mark.parametrize("number", ["15000", "15001"])
def test_operations_refuse_oneself_or_a_party_already_on_the_call(
    world: World, name: str, number: str
) -> None:
    refuse_on_call(
        world, world.call, name, InvalidParameterError, 2, destination={"phoneNumber": number}
    )


@pytest.mark.parametrize("name", DESTINATION_OPS)
def test_operations_refuse_a_destination_given_as_a_bare_string(world: World, name: str) -> None:
    refuse_on_call(world, world.call, name, InvalidParameterError, 2, destination="15002")


# -- DTMF --------------------------------------------------------------------------------------
@pytest.mark.parametrize("digits", ["12a", "", " 1", "1 2", "A", "D", "+", "5.", 5, None, ["5"]])
def test_send_dtmf_refuses_non_dtmf_digits(world: World, digits: Any) -> None:
    refuse_on_call(world, world.call, "SendDtmf", InvalidParameterError, 2, digits=digits)


# -- user data ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["AttachUserData", "UpdateUserData"])
@pytest.mark.parametrize("data", BAD_USER_DATA, ids=repr)
def test_user_data_must_be_an_object_of_string_keys(world: World, name: str, data: Any) -> None:
    refuse_on_call(world, world.call, name, InvalidParameterError, 2, userData=data)


@pytest.mark.parametrize("data", BAD_USER_DATA, ids=repr)
def test_dial_refuses_bad_user_data(world: World, data: Any) -> None:
    refuse(world, InvalidParameterError, 2, lambda: world.c.dial("15000", userData=data))


@pytest.mark.parametrize("data", [d for d in BAD_USER_DATA if d is not None], ids=repr)
def test_an_inbound_call_refuses_bad_user_data(world: World, data: Any) -> None:
    refusal = refuse(
        world,
        InvalidParameterError,
        2,
        lambda: world.switch.external_call(OUTSIDE, to="15002", user_data=data),
    )
    assert refusal.operation == "Call"


@pytest.mark.parametrize(
    "data", [{"AccountNumber": "1"}, {"New": "x", "AccountNumber": "12345678"}], ids=repr
)
def test_attach_of_an_existing_key_is_refused(world: World, data: dict[str, str]) -> None:
    refusal = refuse_on_call(
        world, world.call, "AttachUserData", InvalidParameterError, 2, userData=data
    )
    assert "AccountNumber" in refusal.status_message


@pytest.mark.parametrize("key", ["Missing", "accountnumber", "GSIP_RECORD"])
def test_delete_of_a_missing_key_is_refused(world: World, key: str) -> None:
    refusal = refuse_on_call(
        world, world.call, "DeleteUserDataPair", InvalidParameterError, 2, key=key
    )
    assert key in refusal.status_message


@pytest.mark.parametrize("key", ["", 5, None])
def test_delete_pair_refuses_a_malformed_key(world: World, key: Any) -> None:
    refuse_on_call(world, world.call, "DeleteUserDataPair", InvalidParameterError, 2, key=key)


# -- unknown and missing parameters -----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("Hangup", {"reason": "done"}),
        ("Hold", {"destination": {"phoneNumber": "15002"}}),
        ("SendDtmf", {"digits": "5", "duration": 100}),
        ("AttachUserData", {"userData": {"K": "v"}, "key": "K"}),
        ("UpdateUserData", {"user_data": {"K": "v"}, "userData": {"K": "v"}}),
        ("InitiateTransfer", {"destination": {"phoneNumber": "15002"}, "phoneNumber": "15002"}),
        ("MuteCall", {"mute": "On"}),
        ("StartCallRecording", {"userData": {"K": "v"}}),
    ],
)
def test_unknown_parameters_are_refused(world: World, name: str, params: dict[str, Any]) -> None:
    refuse_on_call(world, world.call, name, InvalidParameterError, 2, **params)


def test_dial_refuses_unknown_parameters(world: World) -> None:
    refuse(world, InvalidParameterError, 2, lambda: world.c.dial("15000", priority=1))


@pytest.mark.parametrize(
    ("name", "param"),
    [
        ("SendDtmf", "digits"),
        ("AttachUserData", "userData"),
        ("UpdateUserData", "userData"),
        ("DeleteUserDataPair", "key"),
        *((name, "destination") for name in DESTINATION_OPS),
    ],
)
def test_missing_parameters_are_refused_with_code_1(world: World, name: str, param: str) -> None:
    refusal = refuse_on_call(world, world.call, name, MissingParameterError, 1)
    assert param in refusal.status_message


def _conference(world: World) -> Call:
    world.call.perform("SingleStepConference", destination={"phoneNumber": "15002"})
    world.c.calls[-1].perform("Answer")
    world.events.clear()
    return world.call


def test_remove_participant_needs_a_participant(world: World) -> None:
    owner = _conference(world)
    assert "RemoveParticipantFromConference" in owner.capabilities
    refuse_on_call(world, owner, "RemoveParticipantFromConference", MissingParameterError, 1)


@pytest.mark.parametrize("participant", ["15009", "15000", "abc", ""])
def test_remove_participant_refuses_a_non_participant(world: World, participant: str) -> None:
    owner = _conference(world)
    refuse_on_call(
        world,
        owner,
        "RemoveParticipantFromConference",
        InvalidParameterError,
        2,
        participant=participant,
    )


@pytest.mark.parametrize(
    ("name", "param"),
    [
        ("CompleteTransfer", "consultCallUri"),
        ("CompleteConference", "consultCallUri"),
        ("SwapCalls", "otherCallUri"),
    ],
)
@pytest.mark.parametrize("uri", ["garbage", "", "http://127.0.0.1:8080/api/v2/me/calls/XYZ", 7])
def test_pair_operations_refuse_a_uri_outside_the_pair(
    world: World, name: str, param: str, uri: Any
) -> None:
    world.call.perform("InitiateTransfer", destination={"phoneNumber": "15002"})
    world.c.calls[-1].perform("Answer")
    world.events.clear()
    consult = world.call.consult
    assert consult is not None
    for leg in (world.call, consult):
        refuse_on_call(world, leg, name, InvalidParameterError, 2, **{param: uri})


def test_pair_operations_refuse_the_uri_of_an_unrelated_call(world: World) -> None:
    unrelated = world.a.dial("15002")
    world.call.perform("InitiateTransfer", destination={"phoneNumber": "15009"})
    world.events.clear()
    uri = f"http://127.0.0.1:8080/api/v2/me/calls/{unrelated.id}"
    refuse_on_call(
        world, world.call, "CompleteTransfer", InvalidParameterError, 2, consultCallUri=uri
    )


# -- unknown calls, other devices' calls, unknown operations ----------------------------------
@pytest.mark.parametrize("call_id", ["", "nope", "012PUFMMS0ASNAK48O7GK2LAES000004", "../calls"])
@pytest.mark.parametrize("name", ["Hangup", "Hold", "AttachUserData", "Dial"])
def test_unknown_call_ids_are_not_found(world: World, call_id: str, name: str) -> None:
    refusal = refuse(world, CallNotFoundError, 6, lambda: world.a.perform(call_id, name))
    assert refusal.call_id == call_id
    assert refusal.operation == name
    assert refusal.state is None


@pytest.mark.parametrize("name", ["Hangup", "Hold", "SendDtmf", "Answer"])
def test_another_devices_call_looks_exactly_like_a_missing_one(world: World, name: str) -> None:
    theirs = refuse(world, CallNotFoundError, 6, lambda: world.c.perform(world.call.id, name))
    missing = refuse(world, CallNotFoundError, 6, lambda: world.c.perform("NOSUCHCALL", name))
    assert theirs.state is missing.state is None
    assert theirs.status_message.replace(world.call.id, "ID") == missing.status_message.replace(
        "NOSUCHCALL", "ID"
    )
    assert world.call.state.value not in theirs.status_message


def test_a_released_call_is_not_found(world: World) -> None:
    world.call.perform("Hangup")
    world.events.clear()
    refuse(world, CallNotFoundError, 6, lambda: world.a.perform(world.call.id, "Hangup"))


@pytest.mark.parametrize("name", ["", "hangup", "Hang up", "MakeCall", "ListenIn", "DIAL", "Foo"])
def test_unknown_operation_names_are_refused_with_code_1(world: World, name: str) -> None:
    refusal = refuse_on_call(world, world.call, name, UnknownOperationError, 1)
    for valid in Operation:
        assert valid.value in refusal.status_message


def test_unknown_operation_name_is_checked_before_the_call(world: World) -> None:
    refusal = refuse(world, UnknownOperationError, 1, lambda: world.a.perform("NOSUCH", "Foo"))
    assert refusal.call_id == "NOSUCH"


def test_capabilities_are_checked_before_parameters(world: World) -> None:
    refuse_on_call(world, world.call, "Retrieve", CallStateError, 2)
    refuse_on_call(world, world.call, "RemoveParticipantFromConference", CallStateError, 2)


# -- the far end ----------------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["abc", "+1", "", "15001", "12-34"])
def test_an_inbound_call_needs_an_outside_number(world: World, number: str) -> None:
    refuse(
        world,
        InvalidParameterError,
        2,
        lambda: world.switch.external_call(number, to="15002"),
    )


def test_an_inbound_call_to_an_unknown_device_is_not_found(world: World) -> None:
    refuse(world, DeviceNotFoundError, 6, lambda: world.switch.external_call(OUTSIDE, to="19999"))


@pytest.mark.parametrize("event", ["external_answer", "external_busy", "external_hangup"])
def test_far_end_events_without_a_matching_call_are_not_found(world: World, event: str) -> None:
    refuse(world, CallNotFoundError, 6, lambda: getattr(world.switch, event)(OUTSIDE))


@pytest.mark.parametrize("event", ["external_answer", "external_busy", "external_hangup"])
def test_far_end_events_on_another_switchs_leg_are_not_found(world: World, event: str) -> None:
    """Two switches with one seed give the same ids: a leg of the other one is not ours."""
    mine = world.c.dial(OUTSIDE)
    theirs = World().c.dial(OUTSIDE)
    assert theirs.id == mine.id
    world.events.clear()
    refuse(world, CallNotFoundError, 6, lambda: getattr(world.switch, event)(theirs))


def test_far_end_answer_of_an_answered_call_is_not_found(world: World) -> None:
    call = world.c.dial(OUTSIDE)
    world.switch.external_answer(OUTSIDE)
    world.events.clear()
    assert call.state.value == "Established"
    refuse(world, CallNotFoundError, 6, lambda: world.switch.external_answer(OUTSIDE))
    refuse(world, CallNotFoundError, 6, lambda: world.switch.external_busy(OUTSIDE))


def test_a_misspelled_name_gets_a_suggestion() -> None:
    from callstate import Switch

    switch = Switch(seed=1)
    device = switch.add_device("15000")
    call = device.dial("+14155550100")
    with pytest.raises(UnknownOperationError, match="did you mean 'Answer'"):
        device.perform(call.id, "Anwser")
    with pytest.raises(MissingParameterError, match=r"'digits' is required .*'digit'"):
        device.perform(call.id, "SendDtmf", digit="1")
    with pytest.raises(InvalidParameterError, match="did you mean 'userData'"):
        device.perform(call.id, "AttachUserData", userData={"a": 1}, usrData={})
    with pytest.raises(UnknownOperationError, match="did you mean 'Ready'"):
        device.operate("Raedy")
    with pytest.raises(UnknownOperationError) as far:
        device.perform(call.id, "Frobnicate")
    assert "did you mean" not in str(far.value)
