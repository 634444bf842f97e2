"""Conferences (spec §4 conference rule, §5 RemoveParticipantFromConference/ClearCall).

Every step checks every leg: state, capabilities as a set, participants in joining order,
callType, and the same through the projection; refusals change nothing and emit nothing.
"""

from __future__ import annotations

from worlds import CONFERENCE, ESTABLISHED, HELD, OUT, OUT2, OWNER, RINGING
from worlds import World as Base

from callstate import Call, User


class World(Base):
    def check(self, expected: dict[Call, tuple[str, set[str], tuple[str, ...], str]]) -> None:
        """``expected``: leg -> (state, capabilities, participants, callType); every live leg
        must be listed, a Released one with no capabilities."""
        live = {leg.id for leg, (state, *_) in expected.items() if state != "Released"}
        assert {c.id for c in self.switch.calls} == live
        for leg, (state, caps, participants, call_type) in expected.items():
            assert leg.state == state, leg
            assert set(leg.capabilities) == caps, leg
            if state == "Released":
                continue
            assert leg.participants == participants, leg
            assert leg.call_type == call_type, leg
            assert len(set(participants)) == len(participants)
            assert leg.device.dn not in participants
            for form in ("8.5.0", "8.5.2"):
                view = self.projection.get_call(User.admin(), leg.id, form)["call"]
                assert view["state"] == state
                assert view["capabilities"] == sorted(caps)
                numbers = [p if form == "8.5.0" else p["phoneNumber"] for p in view["participants"]]
                assert numbers == list(participants)
                assert view["callType"] == call_type


GONE = ("Released", set(), (), "")


def world() -> World:
    return World.build(3, ("15000", "15001", "15002", "15003"))


def three_party(w: World) -> tuple[Call, Call]:
    """An outside caller, 15000 (owner) and 15001, conferenced by a consult."""
    a = w.switch.external_call(OUT, to="15000")
    a.perform("Answer")
    a.perform("InitiateConference", destination={"phoneNumber": "15001"})
    consult = a.consult
    b = w.leg("15001")
    b.perform("Answer")
    consult.perform("CompleteConference")
    w.check(
        {
            a: ("Established", OWNER, (OUT, "15001"), "Inbound"),
            consult: GONE,
            b: ("Established", ESTABLISHED, (OUT, "15000"), "Consult"),
        }
    )
    w.events.clear()
    return a, b


def four_party(w: World) -> tuple[Call, Call, Call]:
    """three_party() and 15002, added by the owner in one step."""
    a, b = three_party(w)
    a.perform("SingleStepConference", destination={"phoneNumber": "15002"})
    c = w.leg("15002")
    w.check(
        {
            a: ("Established", OWNER, (OUT, "15001", "15002"), "Inbound"),
            b: ("Established", ESTABLISHED, (OUT, "15000", "15002"), "Consult"),
            c: ("Ringing", RINGING, (OUT, "15000", "15001"), "Internal"),
        }
    )
    c.perform("Answer")
    w.check(
        {
            a: ("Established", OWNER, (OUT, "15001", "15002"), "Inbound"),
            b: ("Established", ESTABLISHED, (OUT, "15000", "15002"), "Consult"),
            c: ("Established", ESTABLISHED, (OUT, "15000", "15001"), "Internal"),
        }
    )
    w.events.clear()
    return a, b, c


def test_three_party_conference() -> None:
    w = world()
    three_party(w)


def test_five_parties_internal_and_outside() -> None:
    w = world()
    a, b, c = four_party(w)
    a.perform("SingleStepConference", destination={"phoneNumber": OUT2})
    w.check(
        {
            a: ("Established", OWNER, (OUT, "15001", "15002", OUT2), "Inbound"),
            b: ("Established", ESTABLISHED, (OUT, "15000", "15002", OUT2), "Consult"),
            c: ("Established", ESTABLISHED, (OUT, "15000", "15001", OUT2), "Internal"),
        }
    )
    assert sorted(w.log()) == [
        ("ParticipantsChanged", dn, "Established") for dn in ("15000", "15001", "15002")
    ]
    w.refused(a, "SingleStepConference", 2, destination={"phoneNumber": "+1 415-555-0100"})
    w.refused(b, "SingleStepConference", 2, destination={"phoneNumber": "15002"})


def test_owner_removes_participants_until_two_are_left() -> None:
    w = world()
    a, b, c = four_party(w)
    a.perform("RemoveParticipantFromConference", participant="15002")
    w.check(
        {
            a: ("Established", OWNER, (OUT, "15001"), "Inbound"),
            b: ("Established", ESTABLISHED, (OUT, "15000"), "Consult"),
            c: GONE,
        }
    )
    log = w.log()
    assert ("StateChanged", "15002", "Released") in log
    assert ("ParticipantsChanged", "15000", "Established") in log
    assert ("ParticipantsChanged", "15001", "Established") in log
    a.perform("RemoveParticipantFromConference", participant="+1 (415) 555-0100")
    w.check(
        {
            a: ("Established", ESTABLISHED, ("15001",), "Inbound"),
            b: ("Established", ESTABLISHED, ("15000",), "Consult"),
        }
    )
    assert sorted(w.log()) == [
        ("ParticipantsChanged", "15000", "Established"),
        ("ParticipantsChanged", "15001", "Established"),
    ]
    w.refused(a, "RemoveParticipantFromConference", 2, participant="15001")  # no longer offered


def test_remove_participant_is_refused_to_a_member_and_for_strangers() -> None:
    w = world()
    a, b, c = four_party(w)
    for leg in (b, c):
        w.refused(leg, "RemoveParticipantFromConference", 2, participant=OUT)
        w.refused(leg, "ClearCall", 2)
    w.refused(a, "RemoveParticipantFromConference", 2, participant=OUT2)  # not on the call
    w.refused(a, "RemoveParticipantFromConference", 2, participant="15003")
    w.refused(a, "RemoveParticipantFromConference", 2, participant="15000")  # the owner itself
    w.refused(a, "RemoveParticipantFromConference", 2, participant="not a number")
    w.refused(a, "RemoveParticipantFromConference", 1)


def test_a_held_owner_keeps_the_conference_operations() -> None:
    w = world()
    a, _, _ = four_party(w)
    a.perform("Hold")
    assert set(a.capabilities) == HELD | CONFERENCE
    a.perform("RemoveParticipantFromConference", participant="15001")
    assert a.participants == (OUT, "15002")
    assert a.state == "Held"


def test_parties_leaving_by_themselves_shrink_the_conference() -> None:
    w = world()
    a, b, c = four_party(w)
    b.perform("Hangup")
    w.check(
        {
            a: ("Established", OWNER, (OUT, "15002"), "Inbound"),
            b: GONE,
            c: ("Established", ESTABLISHED, (OUT, "15000"), "Internal"),
        }
    )
    w.events.clear()
    w.switch.external_hangup(OUT)  # two parties left: an ordinary call
    w.check(
        {
            a: ("Established", ESTABLISHED, ("15002",), "Inbound"),
            c: ("Established", ESTABLISHED, ("15000",), "Internal"),
        }
    )
    assert sorted(w.log()) == [
        ("ParticipantsChanged", "15000", "Established"),
        ("ParticipantsChanged", "15002", "Established"),
    ]
    c.perform("Hangup")
    w.check({a: GONE, c: GONE})


def test_the_owner_leaving_leaves_a_conference_without_owner() -> None:
    w = world()
    a, b, c = four_party(w)
    a.perform("Hangup")
    w.check(
        {
            a: GONE,
            b: ("Established", ESTABLISHED, (OUT, "15002"), "Consult"),
            c: ("Established", ESTABLISHED, (OUT, "15001"), "Internal"),
        }
    )


def test_clear_call_releases_every_leg() -> None:
    w = world()
    a, b, c = four_party(w)
    a.perform("SingleStepConference", destination={"phoneNumber": "15003"})
    d = w.leg("15003")
    w.events.clear()
    a.perform("ClearCall")
    w.check({a: GONE, b: GONE, c: GONE, d: GONE})
    assert w.log() == [
        ("StateChanged", dn, "Released") for dn in ("15000", "15001", "15002", "15003")
    ]
    assert w.projection.get_calls(User.admin()) == {"statusCode": 0, "calls": []}


def test_answering_one_of_two_ringing_parties_leaves_the_other_ringing() -> None:
    w = world()
    a = w.switch.device("15000").dial("15001")
    b = w.leg("15001")
    b.perform("Answer")
    a.perform("SingleStepConference", destination={"phoneNumber": "15002"})
    a.perform("SingleStepConference", destination={"phoneNumber": "15003"})
    c, d = w.leg("15002"), w.leg("15003")
    c.perform("Answer")
    w.check(
        {
            a: ("Established", OWNER, ("15001", "15002", "15003"), "Internal"),
            b: ("Established", ESTABLISHED, ("15000", "15002", "15003"), "Internal"),
            c: ("Established", ESTABLISHED, ("15000", "15001", "15003"), "Internal"),
            d: ("Ringing", RINGING, ("15000", "15001", "15002"), "Internal"),
        }
    )


def test_a_member_completing_a_conference_leaves_the_owner_in_charge() -> None:
    w = world()
    a, b = three_party(w)
    b.perform("InitiateConference", destination={"phoneNumber": "15002"})
    consult = b.consult
    c = w.leg("15002")
    c.perform("Answer")
    consult.perform("CompleteConference")
    w.check(
        {
            a: ("Established", OWNER, (OUT, "15001", "15002"), "Inbound"),
            b: ("Established", ESTABLISHED, (OUT, "15000", "15002"), "Consult"),
            c: ("Established", ESTABLISHED, (OUT, "15000", "15001"), "Consult"),
            consult: GONE,
        }
    )
    w.refused(b, "ClearCall", 2)
    a.perform("ClearCall")
    w.check({a: GONE, b: GONE, c: GONE})


def test_legs_left_ringing_with_nobody_who_placed_or_answered_the_call_are_released() -> None:
    w = world()
    a = w.switch.device("15000").dial("15001")
    b = w.leg("15001")
    b.perform("Answer")
    a.perform("SingleStepConference", destination={"phoneNumber": "15002"})
    a.perform("SingleStepConference", destination={"phoneNumber": "15003"})
    c, d = w.leg("15002"), w.leg("15003")
    a.perform("Hangup")
    w.check(
        {
            a: GONE,
            b: ("Established", ESTABLISHED, ("15002", "15003"), "Internal"),
            c: ("Ringing", RINGING, ("15001", "15003"), "Internal"),
            d: ("Ringing", RINGING, ("15001", "15002"), "Internal"),
        }
    )
    w.events.clear()
    b.perform("Hangup")
    w.check({a: GONE, b: GONE, c: GONE, d: GONE})
    assert w.log() == [("StateChanged", dn, "Released") for dn in ("15001", "15002", "15003")]
