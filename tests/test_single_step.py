"""SingleStepTransfer and SingleStepConference (spec §5): who ends up talking to whom, with
which user data, and what is refused (and then changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from worlds import ESTABLISHED, OUT, OUT2, OWNER, RINGING
from worlds import World as Base

from callstate import Call, CallNotFoundError, User


class World(Base):
    def check(self, expected: dict[Call, tuple[str, set[str], tuple[str, ...]]]) -> None:
        """leg -> (state, capabilities, participants); every live leg must be listed."""
        live = {leg.id for leg, (state, _, _) in expected.items() if state != "Released"}
        assert {c.id for c in self.switch.calls} == live
        for leg, (state, caps, participants) in expected.items():
            assert leg.state == state, leg
            assert set(leg.capabilities) == caps, leg
            view = self.projection.get_call(User.admin(), leg.id, "8.5.0")
            if state == "Released":
                assert view["statusCode"] == 6
                continue
            assert leg.participants == participants, leg
            assert view["call"]["participants"] == list(participants)
            assert view["call"]["state"] == state


def world() -> World:
    return World.build(5, ("15000", "15001", "15002"))


def inbound(w: World, user_data: dict[str, Any] | None = None) -> Call:
    a = w.switch.external_call(OUT, to="15000", user_data=user_data)
    a.perform("Answer")
    w.events.clear()
    return a


def internal(w: World) -> tuple[Call, Call]:
    """15000 called 15001, who answered."""
    a = w.switch.device("15000").dial("15001")
    b = w.leg("15001")
    b.perform("Answer")
    w.check(
        {a: ("Established", ESTABLISHED, ("15001",)), b: ("Established", ESTABLISHED, ("15000",))}
    )
    w.events.clear()
    return a, b


def test_transfer_an_outside_caller_to_a_device_with_user_data() -> None:
    w = world()
    a = inbound(w, {"case": "1", "lang": "en"})
    a.perform(
        "SingleStepTransfer",
        destination={"phoneNumber": "15001"},
        userData={"lang": "fr", "vip": 1},
    )
    b = w.leg("15001")
    w.check({a: ("Released", set(), ()), b: ("Ringing", RINGING, (OUT,))})
    assert b.user_data == {"case": "1", "lang": "fr", "vip": 1}  # the request wins on a clash
    assert (b.call_type, b.dnis) == ("Inbound", "15001")
    view = w.projection.get_call(User.admin(), b.id, "8.5.0")["call"]
    assert (view["ani"], view["callType"], view["userData"]) == (OUT, "Inbound", b.user_data)
    assert w.log() == [("StateChanged", "15000", "Released"), ("StateChanged", "15001", "Ringing")]
    with pytest.raises(CallNotFoundError):  # the caller is connected: nothing for it to answer
        w.switch.external_answer(OUT)
    b.perform("Answer")
    w.check({b: ("Established", ESTABLISHED, (OUT,))})
    w.switch.external_hangup(OUT)
    w.check({b: ("Released", set(), ())})


def test_transfer_an_internal_call_to_another_device() -> None:
    w = world()
    a, b = internal(w)
    b.perform("SingleStepTransfer", destination={"phoneNumber": "15002"})
    c = w.leg("15002")
    w.check(
        {
            a: ("Established", ESTABLISHED, ("15002",)),
            b: ("Released", set(), ()),
            c: ("Ringing", RINGING, ("15000",)),
        }
    )
    assert (c.call_type, c.user_data) == ("Internal", {})
    assert sorted(w.log()) == [
        ("ParticipantsChanged", "15000", "Established"),
        ("StateChanged", "15001", "Released"),
        ("StateChanged", "15002", "Ringing"),
    ]
    c.perform("Answer")
    w.check(
        {a: ("Established", ESTABLISHED, ("15002",)), c: ("Established", ESTABLISHED, ("15000",))}
    )


def test_transfer_to_an_outside_number() -> None:
    w = world()
    a, b = internal(w)
    a.perform("SingleStepTransfer", destination={"phoneNumber": OUT2})
    w.check({a: ("Released", set(), ()), b: ("Established", ESTABLISHED, (OUT2,))})
    assert w.log() == [
        ("StateChanged", "15000", "Released"),
        ("ParticipantsChanged", "15001", "Established"),
    ]


def test_transfer_of_an_outside_caller_to_an_outside_number_leaves_no_leg() -> None:
    w = world()
    a = inbound(w)
    a.perform("Hold")
    a.perform("SingleStepTransfer", destination={"phoneNumber": OUT2})  # also from Held
    w.check({a: ("Released", set(), ())})
    assert w.projection.get_calls(User.admin()) == {"statusCode": 0, "calls": []}


@pytest.mark.parametrize("op", ["SingleStepTransfer", "SingleStepConference"])
def test_refused_destinations_change_nothing(op: str) -> None:
    w = world()
    a = inbound(w)
    for number in ("15000", OUT, "+1 415-555-0100", "+1 (415) 555 0100", "abc", "", "+"):
        w.refused(a, op, 2, destination={"phoneNumber": number})
    w.refused(a, op, 2, destination="15001")
    w.refused(a, op, 2, destination={"phoneNumber": "15001", "extra": 1})
    w.refused(a, op, 2, destination={"phoneNumber": "15001"}, userData={"k": True})
    w.refused(a, op, 2, destination={"phoneNumber": "15001"}, bogus=1)
    w.refused(a, op, 1)
    w.refused(a, op, 1, userData={"k": "v"})
    w = world()
    b, c = internal(w)
    w.refused(c, op, 2, destination={"phoneNumber": "15000"})  # a participant
    w.refused(b, op, 2, destination={"phoneNumber": "15001"})


@pytest.mark.parametrize("op", ["SingleStepTransfer", "SingleStepConference"])
def test_not_offered_before_the_call_is_answered(op: str) -> None:
    w = world()
    a = w.switch.device("15000").dial("15001")
    b = w.leg("15001")
    w.refused(a, op, 2, destination={"phoneNumber": "15002"})
    w.refused(b, op, 2, destination={"phoneNumber": "15002"})


def test_single_step_conference_adds_a_device_that_gets_the_user_data() -> None:
    w = world()
    a, b = internal(w)
    a.perform("UpdateUserData", userData={"case": "7"})
    w.events.clear()
    a.perform("SingleStepConference", destination={"phoneNumber": "15002"}, userData={"x": 1})
    c = w.leg("15002")
    w.check(
        {
            a: ("Established", OWNER, ("15001", "15002")),
            b: ("Established", ESTABLISHED, ("15000", "15002")),
            c: ("Ringing", RINGING, ("15000", "15001")),
        }
    )
    assert c.user_data == {"case": "7", "x": 1}
    assert a.user_data == {"case": "7"}
    kinds = [w.projection.notification(e)["data"]["notificationType"] for e in w.events]
    assert kinds == ["StatusChange", "ParticipantsUpdated", "ParticipantsUpdated"]
    log = w.log()
    assert log[0] == ("StateChanged", "15002", "Ringing")
    assert sorted(log[1:]) == [
        ("ParticipantsChanged", "15000", "Established"),
        ("ParticipantsChanged", "15001", "Established"),
    ]
    c.perform("Answer")
    w.check(
        {
            a: ("Established", OWNER, ("15001", "15002")),
            b: ("Established", ESTABLISHED, ("15000", "15002")),
            c: ("Established", ESTABLISHED, ("15000", "15001")),
        }
    )


def test_single_step_conference_with_an_outside_number() -> None:
    w = world()
    a = inbound(w)
    a.perform("SingleStepConference", destination={"phoneNumber": OUT2})
    w.check({a: ("Established", OWNER, (OUT, OUT2))})
    (event,) = w.events
    assert w.projection.notification(event)["data"]["notificationType"] == "ParticipantsUpdated"
    w.switch.external_hangup(OUT2)
    w.check({a: ("Established", ESTABLISHED, (OUT,))})


def test_single_step_conference_by_a_member_does_not_make_it_owner() -> None:
    w = world()
    a, b = internal(w)
    a.perform("SingleStepConference", destination={"phoneNumber": OUT})
    b.perform("SingleStepConference", destination={"phoneNumber": "15002"})
    c = w.leg("15002")
    w.check(
        {
            a: ("Established", OWNER, ("15001", OUT, "15002")),
            b: ("Established", ESTABLISHED, ("15000", OUT, "15002")),
            c: ("Ringing", RINGING, ("15000", "15001", OUT)),
        }
    )
