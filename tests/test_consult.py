"""Consult pairs (spec §4 consult rules, §5 Initiate*/Complete*/SwapCalls), step by step.

After each step every leg is checked: state, capabilities (as a set), participants, callType,
the pair link and the projection's ``parentCallUri``/``parentCallPath``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from worlds import BASE_URI, DIALING, ESTABLISHED, HELD, INITIATE, OUT, OUT2, RINGING, SINGLE
from worlds import World as Base

from callstate import Call, RecordingState, Switch, User

PAIR = {"SwapCalls", "CompleteTransfer", "CompleteConference"}
PARENT_PENDING = HELD - {"Retrieve"} | {"SwapCalls", "CompleteTransfer"}
PARENT_PENDING_ACTIVE = ESTABLISHED | {"SwapCalls", "CompleteTransfer"}
PARENT_PAIRED = HELD - {"Retrieve"} | PAIR
PARENT_PAIRED_ACTIVE = ESTABLISHED | PAIR
HELD_UNANSWERED = HELD - SINGLE - INITIATE  # a held call nobody answered
CONSULT_PENDING_HELD = HELD - {"Retrieve"} - INITIATE - SINGLE | {"SwapCalls"}
CONSULT_PAIRED = ESTABLISHED - INITIATE | PAIR
CONSULT_PAIRED_HELD = HELD - {"Retrieve"} - INITIATE | PAIR
OWNER = ESTABLISHED | {"RemoveParticipantFromConference", "ClearCall"}


@dataclass(frozen=True)
class Is:
    """What one leg must look like: ``parent`` is the call its parentCallUri names, ``linked``
    whether the pair is still live (``leg.parent is parent``)."""

    state: str
    caps: set[str] = field(default_factory=set)
    participants: tuple[str, ...] = ()
    call_type: str = ""
    parent: Call | None = None
    linked: bool = True


GONE = Is("Released")


@dataclass
class World(Base):
    ignore: set[str] = field(default_factory=set)  # ids of unrelated live calls

    def check(self, expected: dict[Call, Is]) -> None:
        live = {leg.id for leg, e in expected.items() if e.state != "Released"}
        assert {c.id for c in self.switch.calls} - self.ignore == live
        admin = User.admin()
        for leg, e in expected.items():
            assert leg.state == e.state, leg
            if e.state == "Released":
                assert leg.capabilities == ()
                assert self.projection.get_call(admin, leg.id)["statusCode"] == 6
                continue
            assert set(leg.capabilities) == e.caps, leg
            assert leg.participants == e.participants, leg
            assert leg.call_type == e.call_type, leg
            assert leg.parent is (e.parent if e.linked else None), leg
            if leg.parent is not None:
                assert leg.parent.consult is leg
            view = self.projection.get_call(admin, leg.id)["call"]
            assert view["state"] == e.state
            assert view["capabilities"] == sorted(e.caps)
            assert [p["phoneNumber"] for p in view["participants"]] == list(e.participants)
            assert view["callType"] == e.call_type
            if e.parent is None:
                assert "parentCallUri" not in view
                assert "parentCallPath" not in view
            else:
                assert view["parentCallUri"] == f"{BASE_URI}/me/calls/{e.parent.id}"
                assert view["parentCallPath"] == f"/calls/{e.parent.id}"


def world() -> World:
    return World.build(11, ("15000", "15001", "15002"))


def inbound(w: World) -> Call:
    """An outside caller talking to 15000."""
    call = w.switch.external_call(OUT, to="15000")
    call.perform("Answer")
    w.check({call: Is("Established", ESTABLISHED, (OUT,), "Inbound")})
    w.events.clear()
    return call


def consult_to_15001(w: World, op: str = "InitiateTransfer") -> tuple[Call, Call, Call]:
    """inbound(), then a consult from 15000 to 15001, not yet answered."""
    parent = inbound(w)
    parent.perform(op, destination={"phoneNumber": "15001"})
    consult = parent.consult
    ringing = w.device("15001").calls[-1]
    w.check(
        {
            parent: Is("Held", PARENT_PENDING, (OUT,), "Inbound"),
            consult: Is("Dialing", DIALING, ("15001",), "Consult", parent),
            ringing: Is("Ringing", RINGING, ("15000",), "Consult"),
        }
    )
    assert w.log("id") == [
        ("StateChanged", parent.id, "Held"),
        ("StateChanged", consult.id, "Dialing"),
        ("StateChanged", ringing.id, "Ringing"),
    ]
    return parent, consult, ringing


def answered_consult(w: World, op: str = "InitiateTransfer") -> tuple[Call, Call, Call]:
    parent, consult, ringing = consult_to_15001(w, op)
    ringing.perform("Answer")
    w.check(
        {
            parent: Is("Held", PARENT_PAIRED, (OUT,), "Inbound"),
            consult: Is("Established", CONSULT_PAIRED, ("15001",), "Consult", parent),
            ringing: Is("Established", ESTABLISHED, ("15000",), "Consult"),
        }
    )
    w.events.clear()
    return parent, consult, ringing


def test_transfer_to_a_device_completed_on_the_consult() -> None:
    w = world()
    parent, consult, ringing = answered_consult(w)
    consult.perform("CompleteTransfer")
    w.check(
        {parent: GONE, consult: GONE, ringing: Is("Established", ESTABLISHED, (OUT,), "Consult")}
    )
    assert w.log("id") == [
        ("StateChanged", parent.id, "Released"),  # the parent's Released comes first
        ("StateChanged", consult.id, "Released"),
        ("ParticipantsChanged", ringing.id, "Established"),
    ]


@pytest.mark.parametrize("uri", [None, "full", "path"])
def test_transfer_completed_on_the_parent(uri: str | None) -> None:
    w = world()
    parent, consult, ringing = answered_consult(w)
    params = {
        None: {},
        "full": {"consultCallUri": f"{BASE_URI}/me/calls/{consult.id}"},
        "path": {"consultCallUri": f"/calls/{consult.id}"},
    }[uri]
    parent.perform("CompleteTransfer", **params)
    w.check(
        {parent: GONE, consult: GONE, ringing: Is("Established", ESTABLISHED, (OUT,), "Consult")}
    )
    states = [entry for entry in w.log("id") if entry[0] == "StateChanged"]
    assert states == [
        ("StateChanged", parent.id, "Released"),
        ("StateChanged", consult.id, "Released"),
    ]


def test_complete_transfer_with_a_wrong_consult_uri_is_refused() -> None:
    w = world()
    other = w.device("15002").dial("15001")  # an unrelated call
    w.ignore = {other.id, *(c.id for c in w.device("15001").calls)}
    w.events.clear()
    parent, consult, _ = answered_consult(w)
    for uri in (f"{BASE_URI}/me/calls/{other.id}", f"{BASE_URI}/me/calls/NOPE", "nope"):
        w.refused(parent, "CompleteTransfer", 2, consultCallUri=uri)
        w.refused(consult, "CompleteTransfer", 2, consultCallUri=uri)
    w.refused(parent, "CompleteTransfer", 2, consultCallUri="")
    assert parent.state == "Held"
    assert consult.state == "Established"


@pytest.mark.parametrize("posted_on", ["parent", "consult"])
def test_conference_with_an_outside_number(posted_on: str) -> None:
    w = world()
    parent = inbound(w)
    parent.perform("InitiateConference", destination={"phoneNumber": OUT2})
    consult = parent.consult
    w.check(
        {
            parent: Is("Held", PARENT_PENDING, (OUT,), "Inbound"),
            consult: Is("Dialing", DIALING, (OUT2,), "Consult", parent),
        }
    )
    w.refused(parent, "CompleteConference", 2)  # not before the consult is answered
    w.refused(consult, "InitiateConference", 2, destination={"phoneNumber": "15002"})
    assert w.switch.external_answer(OUT2) is consult
    w.check(
        {
            parent: Is("Held", PARENT_PAIRED, (OUT,), "Inbound"),
            consult: Is("Established", CONSULT_PAIRED, (OUT2,), "Consult", parent),
        }
    )
    w.events.clear()
    (parent if posted_on == "parent" else consult).perform("CompleteConference")
    w.check({parent: Is("Established", OWNER, (OUT, OUT2), "Inbound"), consult: GONE})
    assert w.log("id") == [
        ("StateChanged", consult.id, "Released"),  # the consult's Released comes first
        ("StateChanged", parent.id, "Established"),
    ]


@pytest.mark.parametrize("answered", [False, True])
def test_consult_abandoned_by_hanging_it_up(answered: bool) -> None:
    w = world()
    parent, consult, ringing = (answered_consult if answered else consult_to_15001)(w)
    consult.perform("Hangup")
    w.check({parent: Is("Held", HELD, (OUT,), "Inbound"), consult: GONE, ringing: GONE})
    assert parent.consult is None
    assert ("CapabilitiesChanged", parent.id, "Held") in w.log("id")
    parent.perform("Retrieve")
    w.check({parent: Is("Established", ESTABLISHED, (OUT,), "Inbound")})


def test_parent_hung_up_while_the_consult_talks() -> None:
    w = world()
    parent, consult, ringing = answered_consult(w)
    parent.perform("Hangup")
    w.check(
        {
            parent: GONE,
            consult: Is("Established", ESTABLISHED, ("15001",), "Consult", parent, linked=False),
            ringing: Is("Established", ESTABLISHED, ("15000",), "Consult"),
        }
    )
    assert w.log("id") == [
        ("StateChanged", parent.id, "Released"),
        ("CapabilitiesChanged", consult.id, "Established"),
    ]
    w.refused(consult, "CompleteTransfer", 2)
    w.refused(consult, "SwapCalls", 2)


def test_parent_hung_up_while_the_consult_dials() -> None:
    w = world()
    parent = inbound(w)
    parent.perform("InitiateTransfer", destination={"phoneNumber": OUT2})
    consult = parent.consult
    parent.perform("Hangup")
    w.check({parent: GONE, consult: Is("Dialing", DIALING, (OUT2,), "Consult", parent, False)})
    w.switch.external_answer(OUT2)
    w.check({consult: Is("Established", ESTABLISHED, (OUT2,), "Consult", parent, False)})


def test_consult_far_end_busy() -> None:
    w = world()
    parent = inbound(w)
    parent.perform("InitiateTransfer", destination={"phoneNumber": OUT2})
    consult = parent.consult
    w.events.clear()
    assert w.switch.external_busy(OUT2) is consult
    w.check({parent: Is("Held", HELD, (OUT,), "Inbound"), consult: GONE})
    assert w.log("id") == [
        ("StateChanged", consult.id, "Released"),
        ("CapabilitiesChanged", parent.id, "Held"),
    ]


def test_swap_calls_both_ways_once_answered() -> None:
    w = world()
    parent, consult, ringing = answered_consult(w)
    consult.perform("SwapCalls")
    w.check(
        {
            parent: Is("Established", PARENT_PAIRED_ACTIVE, (OUT,), "Inbound"),
            consult: Is("Held", CONSULT_PAIRED_HELD, ("15001",), "Consult", parent),
            ringing: Is("Established", ESTABLISHED, ("15000",), "Consult"),
        }
    )
    assert w.log("id") == [
        ("StateChanged", consult.id, "Held"),
        ("StateChanged", parent.id, "Established"),
    ]
    parent.perform("SwapCalls", otherCallUri=f"{BASE_URI}/me/calls/{consult.id}")
    w.check(
        {
            parent: Is("Held", PARENT_PAIRED, (OUT,), "Inbound"),
            consult: Is("Established", CONSULT_PAIRED, ("15001",), "Consult", parent),
            ringing: Is("Established", ESTABLISHED, ("15000",), "Consult"),
        }
    )
    assert w.log("id") == [
        ("StateChanged", parent.id, "Held"),
        ("StateChanged", consult.id, "Established"),
    ]
    w.refused(parent, "SwapCalls", 2, otherCallUri=f"{BASE_URI}/me/calls/NOPE")


def test_swap_calls_while_the_consult_still_dials() -> None:
    w = world()
    parent, consult, ringing = consult_to_15001(w)
    w.refused(consult, "SwapCalls", 2)  # a dialing consult offers no swap
    parent.perform("SwapCalls")
    expect_swapped = {
        parent: Is("Established", PARENT_PENDING_ACTIVE, (OUT,), "Inbound"),
        consult: Is("Held", CONSULT_PENDING_HELD, ("15001",), "Consult", parent),
        ringing: Is("Ringing", RINGING, ("15000",), "Consult"),
    }
    w.check(expect_swapped)
    consult.perform("SwapCalls")  # back to the dialing consult
    w.check(
        {
            parent: Is("Held", PARENT_PENDING, (OUT,), "Inbound"),
            consult: Is("Dialing", DIALING, ("15001",), "Consult", parent),
            ringing: Is("Ringing", RINGING, ("15000",), "Consult"),
        }
    )
    parent.perform("SwapCalls")
    w.check(expect_swapped)
    ringing.perform("Answer")  # the held consult stays held
    w.check(
        {
            parent: Is("Established", PARENT_PAIRED_ACTIVE, (OUT,), "Inbound"),
            consult: Is("Held", CONSULT_PAIRED_HELD, ("15001",), "Consult", parent),
            ringing: Is("Established", ESTABLISHED, ("15000",), "Consult"),
        }
    )


def test_a_new_consult_replaces_the_live_one() -> None:
    w = world()
    parent, consult, ringing = answered_consult(w)
    parent.perform("InitiateConference", destination={"phoneNumber": "15002"})
    second = parent.consult
    (third,) = w.device("15002").calls
    w.check(
        {
            parent: Is("Held", PARENT_PENDING, (OUT,), "Inbound"),
            consult: GONE,
            ringing: GONE,
            second: Is("Dialing", DIALING, ("15002",), "Consult", parent),
            third: Is("Ringing", RINGING, ("15000",), "Consult"),
        }
    )
    # the parent is told once, of its capabilities with the new consult
    assert w.log("id") == [
        ("StateChanged", consult.id, "Released"),
        ("StateChanged", ringing.id, "Released"),
        ("CapabilitiesChanged", parent.id, "Held"),
        ("StateChanged", second.id, "Dialing"),
        ("StateChanged", third.id, "Ringing"),
    ]


def test_a_recording_call_passes_on_its_data_but_not_its_recording() -> None:
    switch = Switch(BASE_URI, 3)
    switch.add_device("15000", features=["recording"])
    for dn in ("15001", "15002"):
        switch.add_device(dn)
    call = switch.external_call(OUT, to="15000", user_data={"k": "v"})
    call.perform("Answer")
    call.perform("StartCallRecording")
    call.perform("InitiateTransfer", destination={"phoneNumber": "15001"}, userData={"x": 1})
    assert call.consult is not None
    (ringing,) = switch.device("15001").calls
    for leg in (call.consult, ringing):  # a new leg is not recorded
        assert leg.user_data == {"k": "v", "x": 1}
    assert call.consult.recording_state is RecordingState.STOPPED
    ringing.perform("Answer")
    call.perform("SwapCalls")
    call.perform("SingleStepConference", destination={"phoneNumber": "15002"})
    (third,) = switch.device("15002").calls
    assert third.user_data == {"k": "v"}
    assert call.user_data == {"k": "v", "GSIP_RECORD": "ON"}


def test_complete_conference_does_not_duplicate_a_party() -> None:
    w = world()
    parent, consult, ringing = answered_consult(w, "InitiateConference")
    consult.perform("SingleStepConference", destination={"phoneNumber": OUT})
    consult.perform("CompleteConference")
    assert parent.participants == (OUT, "15001")
    assert ringing.participants == (OUT, "15000")


def test_complete_transfer_does_not_duplicate_a_party() -> None:
    w = world()
    _, consult, ringing = answered_consult(w)
    consult.perform("SingleStepConference", destination={"phoneNumber": OUT})
    consult.perform("CompleteTransfer")
    assert ringing.participants == (OUT,)


def test_complete_conference_does_not_join_a_device_to_itself() -> None:
    w = world()
    first = w.device("15002").dial("15000")
    (parent,) = w.device("15000").calls
    parent.perform("Answer")
    parent.perform("InitiateConference", destination={"phoneNumber": "15001"})
    consult = parent.consult
    w.device("15001").calls[0].perform("Answer")
    consult.perform("SingleStepConference", destination={"phoneNumber": "15002"})
    consult.perform("CompleteConference")
    for leg in w.switch.calls:
        assert leg.device.dn not in leg.participants
    assert first.participants == ("15000", "15001")


def orphaned_held_consult(w: World) -> tuple[Call, Call]:
    """A consult to an outside number swapped out while dialing, whose parent then hangs up:
    a held call that was never answered."""
    parent = inbound(w)
    parent.perform("InitiateTransfer", destination={"phoneNumber": OUT2})
    consult = parent.consult
    parent.perform("SwapCalls")
    parent.perform("Hangup")
    w.check({parent: GONE, consult: Is("Held", HELD_UNANSWERED, (OUT2,), "Consult", parent, False)})
    w.events.clear()
    return parent, consult


def test_far_end_answers_a_held_call_it_had_not_answered() -> None:
    w = world()
    parent, consult = orphaned_held_consult(w)
    w.switch.external_answer(OUT2)  # it stays held, now answered
    w.check({parent: GONE, consult: Is("Held", HELD, (OUT2,), "Consult", parent, False)})
    consult.perform("Retrieve")
    w.check({consult: Is("Established", ESTABLISHED, (OUT2,), "Consult", parent, False)})


def test_far_end_busy_on_a_held_call_it_had_not_answered() -> None:
    w = world()
    parent, consult = orphaned_held_consult(w)
    w.switch.external_busy(OUT2)
    w.check({parent: GONE, consult: GONE})


def test_retrieving_a_call_nobody_answered_goes_back_to_dialing() -> None:
    w = world()
    parent, consult = orphaned_held_consult(w)
    consult.perform("Retrieve")
    w.check({consult: Is("Dialing", DIALING, (OUT2,), "Consult", parent, False)})
    w.switch.external_answer(OUT2)
    w.check({consult: Is("Established", ESTABLISHED, (OUT2,), "Consult", parent, False)})


def test_parent_adding_the_consult_destination_then_transferring() -> None:
    w = world()
    parent, _, ringing = consult_to_15001(w)
    parent.perform("SingleStepConference", destination={"phoneNumber": "15001"})  # allowed
    parent.perform("CompleteTransfer")
    for leg in w.switch.calls:
        assert leg.device.dn not in leg.participants, leg
    assert ringing.participants == (OUT,)


def test_both_legs_held_each_offers_retrieve_again() -> None:
    """gws-devices §6: the agent holds the answered consult; neither leg is stuck on hold."""
    w = world()
    parent, consult, ringing = answered_consult(w)
    w.log("id")
    consult.perform("Hold")
    pair_ops = {"SwapCalls", "CompleteTransfer", "CompleteConference", "Retrieve"}
    for leg in (parent, consult):
        assert leg.state == "Held"
        assert pair_ops <= set(leg.capabilities), leg
    assert w.log("id") == [
        ("StateChanged", consult.id, "Held"),
        ("CapabilitiesChanged", parent.id, "Held"),
    ]
    parent.perform("Retrieve")
    assert parent.state == "Established"
    assert consult.state == "Held"
    assert "Retrieve" not in consult.capabilities
    assert {"SwapCalls", "CompleteTransfer", "CompleteConference"} <= set(consult.capabilities)
    assert w.log("id") == [
        ("StateChanged", parent.id, "Established"),
        ("CapabilitiesChanged", consult.id, "Held"),
    ]
    consult.perform("SwapCalls")  # and back: the pair works as before
    assert (parent.state, consult.state) == ("Held", "Established")
    assert "Retrieve" not in parent.capabilities
    assert ringing.state == "Established"


def test_both_held_the_consult_comes_back_and_completes() -> None:
    w = world()
    parent, consult, _ = answered_consult(w)
    consult.perform("Hold")
    consult.perform("Retrieve")
    assert (parent.state, consult.state) == ("Held", "Established")
    assert "Retrieve" not in parent.capabilities
    consult.perform("Hold")
    consult.perform("CompleteTransfer")
    assert parent.state == consult.state == "Released"


def test_perform_returns_the_call_made_or_acted_on() -> None:
    w = world()
    _, consult, _ = answered_consult(w)
    made = consult.perform("CompleteTransfer")
    assert made is consult
    switch = Switch(seed=1)
    a, b = switch.add_device("15000"), switch.add_device("15001")
    switch.add_device("15002")
    call = a.dial("15001")
    answered = b.perform(b.calls[0].id, "Answer")
    assert answered is b.calls[0]
    new = a.perform(call.id, "InitiateTransfer", destination={"phoneNumber": "15002"})
    assert new is call.consult
    assert new is not None
    assert new.parent is call
