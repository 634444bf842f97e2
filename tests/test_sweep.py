"""Exhaustive sweep: every situation x every operation name.

An operation listed in ``capabilities`` succeeds (given valid parameters) and the projection then
agrees with the live legs; anything else is refused with the right error and ``statusCode``, and a
refusal changes nothing: no leg, no projection, no event (spec §1, §8).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from callstate import (
    Call,
    CallEvent,
    CallNotFoundError,
    CallStateError,
    InvalidParameterError,
    MissingParameterError,
    Operation,
    OperationNotAvailableError,
    Projection,
    Switch,
    UnknownOperationError,
    User,
)

OUTSIDE = "+14155550100"
SPARE = "15009"  # a device on every switch, on no call: a valid destination
UNKNOWN_NAMES = ["", "hangup", "HANGUP", "Hangup ", "MakeCall", "ListenIn", "SwitchToCoach"]
NAMES = [op.value for op in Operation] + UNKNOWN_NAMES

O = Operation
#: spec §5: the required parameter of each operation that has one
REQUIRED = {
    O.SEND_DTMF: "digits",
    O.SINGLE_STEP_TRANSFER: "destination",
    O.SINGLE_STEP_CONFERENCE: "destination",
    O.INITIATE_TRANSFER: "destination",
    O.INITIATE_CONFERENCE: "destination",
    O.REMOVE_PARTICIPANT_FROM_CONFERENCE: "participant",
    O.ATTACH_USER_DATA: "userData",
    O.UPDATE_USER_DATA: "userData",
    O.DELETE_USER_DATA_PAIR: "key",
}
#: a malformed value for each parameter (spec §8), optional ones included
BAD_VALUES: dict[str, Any] = {
    "digits": "12a",
    "destination": {"phoneNumber": "12-34"},
    "participant": "abc",
    "userData": {"flag": True},
    "key": "",
    "consultCallUri": "garbage",
    "otherCallUri": "garbage",
}
OPTIONAL = {
    O.COMPLETE_TRANSFER: "consultCallUri",
    O.COMPLETE_CONFERENCE: "consultCallUri",
    O.SWAP_CALLS: "otherCallUri",
}


class World:
    """A switch with devices A=15000, B=15001, C=15002 and the spare, a projection and a log."""

    def __init__(self, a: list[str] | None = None) -> None:
        self.switch = Switch(seed=3, clock=lambda: 0.0)
        self.projection = Projection(form="8.5.2")
        self.events: list[CallEvent] = []
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)
        self.a = self.switch.add_device("15000", features=a or [])
        self.b = self.switch.add_device("15001")
        self.c = self.switch.add_device("15002")
        self.d = self.switch.add_device("15003")
        self.switch.add_device(SPARE)

    def dial(self) -> tuple[Call, Call]:
        """A dials B; returns (A's leg, B's leg), not answered."""
        placed = self.a.dial("15001", userData={"AccountNumber": "12345678"})
        return placed, self.b.calls[-1]

    def talk(self) -> tuple[Call, Call]:
        placed, received = self.dial()
        received.perform("Answer")
        return placed, received

    def consult(self, *, answer: bool) -> tuple[Call, Call]:
        """A talks to B and consults C; returns (parent, consult) on A."""
        parent, _ = self.talk()
        parent.perform("InitiateTransfer", destination={"phoneNumber": "15002"})
        consult = parent.consult
        assert consult is not None
        if answer:
            self.c.calls[-1].perform("Answer")
        return parent, consult


Built = tuple[World, Call]


def _features(a: list[str], *steps: str, leg: str = "placed") -> Built:
    world = World(a)
    placed, received = world.talk()
    call = placed if leg == "placed" else received
    for step in steps:
        call.perform(step)
    return world, call


def _unanswered(which: int) -> Built:
    world = World(["mute", "recording"])
    return world, world.dial()[which]


def _inbound(answer: bool) -> Built:
    world = World(["mute"])
    call = world.switch.external_call(OUTSIDE, to="15000", user_data={"Segment": "Gold"})
    if answer:
        call.perform("Answer")
    return world, call


def _outbound(answer: bool) -> Built:
    world = World()
    call = world.a.dial(OUTSIDE, userData={"Segment": "Gold"})
    if answer:
        world.switch.external_answer(OUTSIDE)
    return world, call


def _pair(answer: bool, which: str, swap: bool = False) -> Built:
    world = World()
    parent, consult = world.consult(answer=answer)
    if swap:
        parent.perform("SwapCalls")
    return world, parent if which == "parent" else consult


def _conference(which: str, *steps: str) -> Built:
    """A talks to B and conferences C in; A's leg owns the conference, B's is a member."""
    world = World()
    parent, _ = world.consult(answer=True)
    parent.perform("CompleteConference")
    call = parent if which == "owner" else world.b.calls[-1]
    for step in steps:
        call.perform(step)
    return world, call


def _consult_target(answer: bool) -> Built:
    world = World()
    world.consult(answer=answer)
    return world, world.c.calls[-1]


def _orphan_consult() -> Built:
    world = World()
    parent, consult = world.consult(answer=True)
    parent.perform("Hangup")
    return world, consult


def _single_step_conference(which: str) -> Built:
    world = World()
    placed, _ = world.talk()
    placed.perform("SingleStepConference", destination={"phoneNumber": "15002"})
    world.c.calls[-1].perform("Answer")
    return world, placed if which == "owner" else world.c.calls[-1]


def _ownerless_conference() -> Built:
    """A conferenced C and D in, then left: B, C and D talk on without an owner."""
    world = World()
    placed, received = world.talk()
    for dn, device in (("15002", world.c), ("15003", world.d)):
        placed.perform("SingleStepConference", destination={"phoneNumber": dn})
        device.calls[-1].perform("Answer")
    placed.perform("Hangup")
    return world, received


SITUATIONS: dict[str, Callable[[], Built]] = {
    "dialing": partial(_unanswered, 0),
    "ringing": partial(_unanswered, 1),
    "established": partial(_features, []),
    "established-callee": partial(_features, [], leg="received"),
    "held": partial(_features, [], "Hold"),
    "held-callee": partial(_features, [], "Hold", leg="received"),
    "established-mute-off": partial(_features, ["mute"]),
    "established-mute-on": partial(_features, ["mute"], "MuteCall"),
    "held-mute-on": partial(_features, ["mute"], "MuteCall", "Hold"),
    "established-rec-stopped": partial(_features, ["recording"]),
    "established-rec-recording": partial(_features, ["recording"], "StartCallRecording"),
    "established-rec-paused": partial(
        _features, ["recording"], "StartCallRecording", "PauseCallRecording"
    ),
    "held-rec-stopped": partial(_features, ["recording"], "Hold"),
    "held-rec-recording": partial(_features, ["recording"], "StartCallRecording", "Hold"),
    "held-rec-paused": partial(
        _features, ["recording"], "StartCallRecording", "PauseCallRecording", "Hold"
    ),
    "established-all-features": partial(
        _features, ["mute", "recording"], "MuteCall", "StartCallRecording"
    ),
    "inbound-ringing": partial(_inbound, answer=False),
    "inbound-established": partial(_inbound, answer=True),
    "outbound-dialing": partial(_outbound, answer=False),
    "outbound-established": partial(_outbound, answer=True),
    "parent-pending": partial(_pair, answer=False, which="parent"),
    "consult-pending": partial(_pair, answer=False, which="consult"),
    "parent-paired": partial(_pair, answer=True, which="parent"),
    "consult-paired": partial(_pair, answer=True, which="consult"),
    "parent-pending-swapped": partial(_pair, answer=False, which="parent", swap=True),
    "consult-pending-swapped": partial(_pair, answer=False, which="consult", swap=True),
    "parent-paired-swapped": partial(_pair, answer=True, which="parent", swap=True),
    "consult-paired-swapped": partial(_pair, answer=True, which="consult", swap=True),
    "conference-owner": partial(_conference, "owner"),
    "conference-owner-held": partial(_conference, "owner", "Hold"),
    "conference-member": partial(_conference, "member"),
    "consult-target-ringing": partial(_consult_target, answer=False),
    "consult-target-established": partial(_consult_target, answer=True),
    "orphan-consult": _orphan_consult,
    "single-step-conference-owner": partial(_single_step_conference, "owner"),
    "single-step-conference-member": partial(_single_step_conference, "member"),
    "ownerless-conference": _ownerless_conference,
}


def valid_params(call: Call, op: Operation) -> dict[str, Any]:
    """Parameters that make ``op`` acceptable on ``call`` if it is offered."""
    if op is Operation.SEND_DTMF:
        return {"digits": "12*#"}
    if op in {
        Operation.SINGLE_STEP_TRANSFER,
        Operation.SINGLE_STEP_CONFERENCE,
        Operation.INITIATE_TRANSFER,
        Operation.INITIATE_CONFERENCE,
    }:
        return {"destination": {"phoneNumber": SPARE}}
    if op is Operation.REMOVE_PARTICIPANT_FROM_CONFERENCE:
        return {"participant": call.participants[-1]}
    if op in (Operation.ATTACH_USER_DATA, Operation.UPDATE_USER_DATA):
        return {"userData": {"SweepKey": "sweep"}}
    if op is Operation.DELETE_USER_DATA_PAIR:
        return {"key": next(iter(call.user_data))}
    if op is Operation.SET_CALL_DISPOSITION:
        return {"disposition": "Sale"}
    return {}


def world_state(world: World) -> tuple[object, ...]:
    """Everything a refusal must leave as it was."""
    legs = tuple(
        (
            c.id,
            c.device.dn,
            c.state,
            c.capabilities,
            c.participants,
            c.user_data,
            c.mute,
            c.recording_state,
            c.parent.id if c.parent else None,
            c.consult.id if c.consult else None,
        )
        for c in world.switch.calls
    )
    return legs, world.projection.get_calls(User.admin())


def assert_projection_agrees(world: World) -> None:
    """After a success, the projection (built from events only) shows exactly the live legs."""
    admin = User.admin()
    shown = {c["id"]: c for c in world.projection.get_calls(admin)["calls"]}
    assert set(shown) == {c.id for c in world.switch.calls}
    for leg in world.switch.calls:
        resource = shown[leg.id]
        assert resource["state"] == leg.state.value, leg
        assert resource["capabilities"] == [str(c) for c in leg.capabilities], leg
        assert [p["phoneNumber"] for p in resource["participants"]] == list(leg.participants), leg
        assert resource.get("userData", {}) == leg.user_data, leg
        assert resource["mute"] == leg.mute.value, leg
        assert resource.get("recordingState") == (
            leg.recording_state.value if leg.recording_state else None
        ), leg


def setup(name: str) -> tuple[World, Call]:
    world, call = SITUATIONS[name]()
    if not call.user_data:
        call.perform("UpdateUserData", userData={"AccountNumber": "1"})
    world.events.clear()
    return world, call


def assert_refused_cleanly(
    world: World, call: Call, name: str, params: dict[str, Any], error: type[CallStateError]
) -> CallStateError:
    before = world_state(world)
    with pytest.raises(error) as caught:
        call.device.perform(call.id, name, **params)
    assert world_state(world) == before
    assert world.events == []
    refusal = caught.value
    assert refusal.call_id == call.id
    assert refusal.operation == name
    assert refusal.state is call.state
    assert f"({call.state})" in refusal.status_message
    assert name in refusal.status_message
    assert call.id in refusal.status_message
    return refusal


def test_situations_cover_every_live_state_and_context_flag() -> None:
    """The sweep really reaches what it claims to: each state, mute, recording, pair, conference."""
    seen: dict[str, set[object]] = {
        "state": set(),
        "mute": set(),
        "recording": set(),
        "pair": set(),
        "conference": set(),
    }
    for name in SITUATIONS:
        _, call = setup(name)
        seen["state"].add(call.state.value)
        muting = "mute" in {str(f) for f in call.device.features}
        seen["mute"].add(call.mute.value if muting else None)
        seen["recording"].add(call.recording_state.value if call.recording_state else None)
        partner = call.consult or call.parent
        seen["pair"].add(
            None
            if partner is None
            else ("parent" if call.consult else "consult", partner.state.value, call.state.value)
        )
        seen["conference"].add((len(call.participants), "ClearCall" in call.capabilities))
    assert seen["state"] == {"Dialing", "Ringing", "Established", "Held"}
    assert seen["mute"] == {None, "Off", "On"}
    assert seen["recording"] == {None, "Stopped", "Recording", "Paused"}
    assert len(seen["pair"]) >= 7
    assert {(2, True), (2, False), (1, False)} <= seen["conference"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_operation_succeeds_iff_offered(situation: str, name: str) -> None:
    world, call = setup(situation)
    op = next((o for o in Operation if o.value == name), None)
    if op is None:
        refusal = assert_refused_cleanly(world, call, name, {}, UnknownOperationError)
        assert refusal.status_code == 1
        for valid in Operation:
            assert valid.value in refusal.status_message
        assert refusal.state is call.state
    elif op in call.capabilities or op is Operation.SET_CALL_DISPOSITION:
        # a disposition is the documented exception: taken on any leg, never listed
        assert op not in call.capabilities or op is not Operation.SET_CALL_DISPOSITION
        call.device.perform(call.id, name, **valid_params(call, op))
        assert world.events, "a successful operation emits at least one event"
        assert_projection_agrees(world)
    else:
        params = valid_params(call, op)
        refusal = assert_refused_cleanly(world, call, name, params, OperationNotAvailableError)
        assert refusal.status_code == 2
        assert refusal.state is call.state
        assert str(call.state) in refusal.status_message
        assert_refused_cleanly(world, call, name, {}, OperationNotAvailableError)


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_offered_operations_refuse_bad_parameters(situation: str) -> None:
    world, call = setup(situation)
    for op in call.capabilities:
        params = valid_params(call, op)
        if op in REQUIRED:
            required = REQUIRED[op]
            missing = {k: v for k, v in params.items() if k != required}
            refusal = assert_refused_cleanly(world, call, op, missing, MissingParameterError)
            assert refusal.status_code == 1
            assert required in refusal.status_message
        if op in REQUIRED or op in OPTIONAL:
            name = REQUIRED.get(op) or OPTIONAL[op]
            bad = {**params, name: BAD_VALUES[name]}
            malformed = assert_refused_cleanly(world, call, op, bad, InvalidParameterError)
            assert malformed.status_code == 2
            message = malformed.status_message
            assert name in message or str(BAD_VALUES[name]) in message
        typo = assert_refused_cleanly(world, call, op, {**params, "bogus": 1}, CallStateError)
        assert typo.status_code == 2
        assert "bogus" in typo.status_message


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("call_id", ["", "nope", "012PUFMMS0ASNAK48O7GK2LAES000004"])
def test_unknown_call_ids_are_not_found(call_id: str, name: str) -> None:
    world, call = setup("established")
    before = world_state(world)
    expected = UnknownOperationError if name in UNKNOWN_NAMES else CallNotFoundError
    with pytest.raises(expected) as caught:
        call.device.perform(call_id, name, **valid_params(call, Operation.HANGUP))
    assert caught.value.status_code == (1 if name in UNKNOWN_NAMES else 6)
    assert caught.value.call_id == call_id
    assert caught.value.operation == name
    assert name in caught.value.status_message
    assert world_state(world) == before
    assert world.events == []


@pytest.mark.parametrize(
    "name", [op.value for op in Operation if op is not Operation.SET_CALL_DISPOSITION]
)
def test_released_calls_accept_nothing(name: str) -> None:
    """...but a disposition (gws-devices §5: tests/test_devices.py)."""
    world, call = setup("established")
    call.perform("Hangup")
    world.events.clear()
    before = world_state(world)
    with pytest.raises(CallNotFoundError) as caught:
        call.device.perform(call.id, name)
    assert caught.value.status_code == 6
    assert call.state.value == "Released"
    assert call.capabilities == ()
    assert world_state(world) == before
    assert world.events == []
