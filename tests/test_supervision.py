"""Supervision flows (gws-devices.md §4): joining, modes, flags, scopes, NextCall, the end."""

from __future__ import annotations

from typing import Any

import pytest

from callstate import (
    Call,
    InvalidParameterError,
    MonitoredUserMutedChanged,
    OperationNotAvailableError,
    ParticipantsChanged,
    Projection,
    StateChanged,
    SupervisionChanged,
    Switch,
    User,
)


class World:
    def __init__(self) -> None:
        self.switch = Switch(seed=2)
        self.projection = Projection(form="8.5.2")
        self.events: list[Any] = []
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)
        self.caller = self.switch.add_device("5000")
        self.agent = self.switch.add_device("5001")
        self.other = self.switch.add_device("5002")
        self.boss = self.switch.add_device("5005", role="supervisor")

    def talk(self) -> tuple[Call, Call]:
        placed = self.caller.dial("5001")
        (taken,) = self.agent.calls
        taken.perform("Answer")
        return placed, taken

    def monitor(self, mode: str, **params: str) -> None:
        self.boss.operate(mode, targetDeviceUri=self.agent.id, **params)

    def resource(self, leg: Call) -> dict[str, Any]:
        answer = self.projection.get_call(User.agent(leg.device.dn), leg.id)
        assert answer["statusCode"] == 0, answer
        call: dict[str, Any] = answer["call"]
        return call


def test_a_call_that_becomes_established_is_joined() -> None:
    w = World()
    w.monitor("ListenIn")
    assert w.boss.calls == ()
    placed, taken = w.talk()
    (leg,) = w.boss.calls
    assert (leg.state, leg.dnis, leg.participants) == ("Ringing", "5001", ("5000", "5001"))
    w.events.clear()
    leg.perform("Answer")
    kinds = [(type(e), e.call.device) for e in w.events]
    assert kinds == [(StateChanged, "5005"), (SupervisionChanged, "5001")]
    agent_view = w.resource(taken)
    assert (agent_view["monitoring"], agent_view["supervisorListeningIn"]) == (True, True)
    caller_view = w.resource(placed)
    assert (caller_view["monitoring"], caller_view["supervisorListeningIn"]) == (False, False)
    assert [p["phoneNumber"] for p in caller_view["participants"]] == ["5001"]  # unheard
    mine = w.resource(leg)
    assert (mine["mute"], mine["supervisorListeningIn"], mine["monitoring"]) == ("On", False, False)


def test_barge_in_makes_the_supervisor_a_party_without_a_conference() -> None:
    w = World()
    placed, taken = w.talk()
    w.monitor("BargeIn")
    (leg,) = w.boss.calls
    leg.perform("Answer")
    assert placed.participants == ("5001", "5005")
    assert taken.participants == ("5000", "5005")
    assert w.resource(taken)["supervisorListeningIn"] is False
    assert w.resource(taken)["monitoring"] is True
    assert "ClearCall" not in placed.capabilities  # no conference for anyone
    assert "RemoveParticipantFromConference" not in taken.capabilities
    assert leg.mute == "Off"


def test_modes_switch_on_the_leg_and_coach_has_no_way_back() -> None:
    w = World()
    w.talk()
    w.monitor("Coach")
    (leg,) = w.boss.calls
    leg.perform("Answer")
    assert {"SwitchToListenIn", "SwitchToBargeIn"} <= set(leg.capabilities)
    assert leg.mute == "Off"
    leg.perform("SwitchToListenIn")
    assert leg.mute == "On"
    assert "SwitchToListenIn" not in leg.capabilities
    leg.perform("SwitchToBargeIn")
    assert leg.mute == "Off"
    assert "SwitchToBargeIn" not in leg.capabilities
    assert w.boss.snapshot().supervision.mode == "Coach"  # type: ignore[union-attr]


def test_muting_the_monitored_user_only_in_barge_in() -> None:
    w = World()
    w.talk()
    w.monitor("ListenIn")
    (leg,) = w.boss.calls
    leg.perform("Answer")
    with pytest.raises(OperationNotAvailableError):
        leg.perform("MuteMonitoredUser")
    leg.perform("SwitchToBargeIn")
    w.events.clear()
    before = leg.capabilities
    leg.perform("MuteMonitoredUser")
    [event] = w.events
    assert isinstance(event, MonitoredUserMutedChanged)
    assert event.call.monitored_user_muted is True
    assert leg.capabilities == before  # never listed
    notice = w.projection.notification(event)
    assert notice is not None
    assert notice["data"]["notificationType"] == "MonitoredUserMutedStateChange"
    with pytest.raises(OperationNotAvailableError):
        leg.perform("MuteMonitoredUser")
    leg.perform("UnmuteMonitoredUser")


def test_next_call_ends_monitoring_once_a_call_is_joined() -> None:
    w = World()
    w.monitor("ListenIn", supervisorMonitoringMode="NextCall")
    assert w.boss.snapshot().supervision is not None
    w.events.clear()
    w.talk()
    assert w.boss.snapshot().supervision is None
    assert "CancelSupervisorMonitoring" not in w.boss.snapshot().capabilities
    assert [type(e).__name__ for e in w.events if e[0].device == "5005"] == [
        "StateChanged",
        "DeviceStateChanged",
    ]
    w.agent.calls[0].perform("Hangup")
    w.talk()  # the next call is not joined
    assert [c.state for c in w.boss.calls] == []


def test_scope_call_keeps_the_supervisor_when_the_agent_leaves() -> None:
    w = World()
    w.monitor("BargeIn")  # scope Call by default
    placed, taken = w.talk()
    (leg,) = w.boss.calls
    leg.perform("Answer")
    taken.perform("SingleStepTransfer", destination={"phoneNumber": "5002"})
    assert leg.state == "Established"
    (ringing,) = w.other.calls
    ringing.perform("Answer")
    placed.perform("Hangup")
    assert leg.state == "Released"  # the call ended: so did the supervisor's leg


def test_scope_agent_ends_the_supervisor_with_the_agents_leg() -> None:
    w = World()
    w.monitor("ListenIn", supervisorMonitoringScope="Agent")
    _, taken = w.talk()
    (leg,) = w.boss.calls
    leg.perform("Answer")
    taken.perform("SingleStepTransfer", destination={"phoneNumber": "5002"})
    assert leg.state == "Released"


def test_the_supervisor_hangs_up_and_monitoring_goes_on() -> None:
    w = World()
    w.monitor("BargeIn")
    placed, taken = w.talk()
    (leg,) = w.boss.calls
    leg.perform("Answer")
    w.events.clear()
    leg.perform("Hangup")
    assert placed.participants == ("5001",)
    assert any(isinstance(e, ParticipantsChanged) for e in w.events)
    assert w.resource(taken)["monitoring"] is False
    assert w.boss.snapshot().supervision is not None
    placed.perform("Hangup")
    w.talk()
    assert [c.state for c in w.boss.calls] == ["Ringing"]


def test_removing_a_party_from_the_supervisors_leg() -> None:
    w = World()
    placed, taken = w.talk()
    w.monitor("BargeIn")
    (leg,) = w.boss.calls
    leg.perform("Answer")
    leg.perform("RemoveParticipantFromConference", participant="5000")
    assert placed.state == "Released"
    assert taken.state == "Released"  # only the agent was left: the call ended for everyone
    assert leg.state == "Released"


def test_cancelling_keeps_a_joined_leg_and_a_new_mode_replaces_monitoring() -> None:
    w = World()
    w.talk()
    w.monitor("ListenIn")
    (leg,) = w.boss.calls
    leg.perform("Answer")
    w.monitor("BargeIn")  # replaces: the call already has this supervisor's leg
    assert len(w.boss.calls) == 1
    assert w.boss.snapshot().supervision.mode == "BargeIn"  # type: ignore[union-attr]
    w.boss.operate("CancelSupervisorMonitoring")
    assert leg.state == "Established"
    assert w.boss.snapshot().supervision is None


def test_a_new_mode_before_the_leg_is_answered_is_the_mode_it_joins_in() -> None:
    w = World()
    placed, _ = w.talk()
    w.monitor("ListenIn")
    (leg,) = w.boss.calls
    assert leg.mute == "On"
    w.monitor("BargeIn", supervisorMonitoringScope="Agent")
    assert (leg.state, leg.mute) == ("Ringing", "Off")
    leg.perform("Answer")
    assert "SwitchToListenIn" in leg.capabilities
    assert placed.participants == ("5001", "5005")


def test_leaving_barge_in_unmutes_the_monitored_user() -> None:
    w = World()
    w.talk()
    w.monitor("BargeIn")
    (leg,) = w.boss.calls
    leg.perform("Answer")
    leg.perform("MuteMonitoredUser")
    leg.perform("SwitchToListenIn")
    assert w.resource(leg)["monitoredUserMuted"] is False
    with pytest.raises(OperationNotAvailableError, match="BargeIn"):
        leg.perform("UnmuteMonitoredUser")


def test_a_single_step_transfer_to_do_not_disturb_is_refused() -> None:
    w = World()
    placed, _ = w.talk()
    w.other.operate("DoNotDisturbOn")
    before = len(w.events)
    with pytest.raises(InvalidParameterError, match="busy"):
        placed.perform("SingleStepTransfer", destination={"phoneNumber": "5002"})
    assert placed.state == "Established"
    assert len(w.events) == before


def test_a_refused_supervision_changes_nothing() -> None:
    w = World()
    w.talk()
    before = (w.boss.snapshot(), w.boss.calls, len(w.events))
    with pytest.raises(InvalidParameterError, match="names no other device"):
        w.boss.operate("ListenIn", targetDeviceUri="http://x/devices/nope")
    assert (w.boss.snapshot(), w.boss.calls, len(w.events)) == before


def test_supervision_is_restored_from_the_log(tmp_path: Any) -> None:
    path = tmp_path / "log"
    switch = Switch(seed=4, log=path)
    caller, agent = switch.add_device("5000"), switch.add_device("5001")
    boss = switch.add_device("5005", role="supervisor")
    boss.operate("Coach", targetDeviceUri=agent.id)
    caller.dial("5001")
    agent.calls[0].perform("Answer")
    boss.calls[0].perform("Answer")
    boss.calls[0].perform("SwitchToBargeIn")
    boss.calls[0].perform("MuteMonitoredUser")
    switch.close_log()
    restored, _ = Switch.restore(path)
    assert [(c.id, c.state, c.participants, c.mute) for c in restored.calls] == [
        (c.id, c.state, c.participants, c.mute) for c in switch.calls
    ]


def _supervisor_consult(w: World, op: str) -> tuple[Call, Call, Call]:
    """5000 talks to 5001; the supervisor listens in and consults 5002, who answers."""
    w.talk()
    w.monitor("ListenIn")
    (leg,) = w.boss.calls
    leg.perform("Answer")
    consult = leg.perform(op, destination={"phoneNumber": "5002"})
    assert consult is not None
    (ringing,) = w.other.calls
    ringing.perform("Answer")
    return leg, consult, ringing


@pytest.mark.parametrize("op", ["InitiateConference", "InitiateTransfer"])
def test_a_supervisors_consult_completed_as_a_conference_joins_the_monitored_call(
    op: str,
) -> None:
    """[ours] As a single-step conference from its leg does: the consulted party joins the call
    the supervisor monitors, and the supervisor's leg goes on showing that call's parties."""
    w = World()
    leg, consult, target = _supervisor_consult(w, op)
    consult.perform("CompleteConference")
    assert leg.state == "Established"
    assert leg.participants == ("5000", "5001", "5002")
    placed, taken = w.caller.calls[0], w.agent.calls[0]
    assert placed.participants == ("5001", "5002")
    assert taken.participants == ("5000", "5002")
    assert target.participants == ("5000", "5001")
    assert w.resource(leg)["participants"][2]["phoneNumber"] == "5002"
    assert w.resource(taken)["supervisorListeningIn"] is True  # still monitored


def test_a_supervisors_consult_completed_as_a_transfer_hands_its_place_over() -> None:
    """[ours] As a single-step transfer from its leg does: the consulted party joins the call
    the supervisor monitored, and the supervisor leaves it (both its legs released)."""
    w = World()
    leg, consult, target = _supervisor_consult(w, "InitiateTransfer")
    consult.perform("CompleteTransfer")
    assert (leg.state, consult.state) == ("Released", "Released")
    assert w.boss.calls == ()
    assert target.state == "Established"
    assert target.participants == ("5000", "5001")
    taken = w.agent.calls[0]
    assert taken.participants == ("5000", "5002")
    assert w.resource(taken)["supervisorListeningIn"] is False


def _supervised_conference(w: World, mode: str) -> tuple[Call, Call, Call]:
    """5001 (the agent) answers 5000 and conferences 5002 in; the supervisor joins in ``mode``.
    The caller's leg, the agent's and the supervisor's."""
    placed, taken = w.talk()
    taken.perform("SingleStepConference", destination={"phoneNumber": "5002"})
    w.other.calls[0].perform("Answer")
    w.monitor(mode)
    (leg,) = w.boss.calls
    leg.perform("Answer")
    return placed, taken, leg


def test_a_barged_in_supervisor_can_be_removed_from_a_conference() -> None:
    """It shows among the conference's participants, so naming it removes it: its leg is
    released, as if it hung up."""
    w = World()
    placed, taken, leg = _supervised_conference(w, "BargeIn")
    assert "5005" in taken.participants
    assert "RemoveParticipantFromConference" in taken.capabilities
    w.events.clear()
    taken.perform("RemoveParticipantFromConference", participant="5005")
    assert leg.state == "Released"
    assert w.boss.calls == ()  # not offered the call again
    assert "5005" not in taken.participants
    assert "5005" not in placed.participants
    assert any(isinstance(e, ParticipantsChanged) and e.call.device == "5001" for e in w.events)


def test_clearing_a_conference_releases_its_supervisors_legs() -> None:
    w = World()
    placed, taken, leg = _supervised_conference(w, "Coach")
    taken.perform("ClearCall")
    assert (placed.state, taken.state, leg.state) == ("Released", "Released", "Released")
    assert w.boss.calls == ()
    assert w.boss.snapshot().supervision is not None  # monitoring the agent goes on


def test_a_barged_in_supervisor_cannot_remove_itself() -> None:
    w = World()
    _, _, leg = _supervised_conference(w, "BargeIn")
    with pytest.raises(InvalidParameterError, match="5005 is not a participant"):
        leg.perform("RemoveParticipantFromConference", participant="5005")
    assert leg.state == "Established"


def test_a_supervisor_who_left_a_call_is_not_offered_it_again() -> None:
    """Not after an operation on the call, nor after it is held and retrieved; a new
    monitoring request offers it again."""
    w = World()
    w.monitor("ListenIn")
    _, taken = w.talk()
    (leg,) = w.boss.calls
    leg.perform("Answer")
    leg.perform("Hangup")
    taken.perform("AttachUserData", userData={"a": 1})
    taken.perform("Hold")
    taken.perform("Retrieve")
    assert w.boss.calls == ()
    w.monitor("Coach")
    assert [c.state for c in w.boss.calls] == ["Ringing"]


def test_a_supervisors_transfer_in_barge_in_changes_each_parties_list_once() -> None:
    w = World()
    w.talk()
    w.monitor("BargeIn")
    (leg,) = w.boss.calls
    leg.perform("Answer")
    consult = leg.perform("InitiateTransfer", destination={"phoneNumber": "5002"})
    assert consult is not None
    w.other.calls[0].perform("Answer")
    w.events.clear()
    consult.perform("CompleteTransfer")
    changes = [
        (e.call.device, e.call.participants) for e in w.events if isinstance(e, ParticipantsChanged)
    ]
    assert changes.count(("5000", ("5001", "5002"))) == 1
    assert [c for c in changes if c[0] in ("5000", "5001")] == [
        ("5000", ("5001", "5002")),
        ("5001", ("5000", "5002")),
    ]


def test_a_call_joined_to_another_keeps_one_leg_per_supervisor() -> None:
    """Scope Call: the supervisor joined both the agent's call and its consult; when the agent
    completes the transfer, the calls become one, and the supervisor keeps its older leg."""
    w = World()
    w.monitor("ListenIn", supervisorMonitoringScope="Call")
    _, taken = w.talk()
    w.boss.calls[0].perform("Answer")
    consult = taken.perform("InitiateTransfer", destination={"phoneNumber": "5002"})
    assert consult is not None
    w.other.calls[0].perform("Answer")
    legs = [c for c in w.boss.calls if c.state == "Ringing"]
    assert len(legs) == 1  # offered the consult call too
    legs[0].perform("Answer")
    first = w.boss.calls[0]
    consult.perform("CompleteTransfer")
    assert [c.id for c in w.boss.calls] == [first.id]
    assert first.participants == ("5000", "5002")
