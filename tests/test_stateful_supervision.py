"""A stateful hypothesis run with a supervisor in the mix: agents call each other and the far
end, a supervisor monitors them in every mode, scope and monitoring mode, and every leg is asked
to do anything. Invariants after every step: an operation succeeds if and only if the leg
offers it (listed, or one of the documented unlisted ones), a refusal changes nothing and emits
nothing, supervisors' legs show their monitored call's parties, the monitored agent's flags
match the joined supervisors, the projection agrees with the switch, and at the end a restore
from the log gives the same switch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from callstate import CallStateError, Operation, Projection, State, Switch, User
from callstate.table import OFFERED

AGENTS = ("5000", "5001", "5002")
BOSS = "5005"
O = Operation
#: operations a random step may ask, with parameters that are valid when offered
ASKED: dict[Operation, dict[str, Any]] = {
    O.ANSWER: {},
    O.HANGUP: {},
    O.HOLD: {},
    O.RETRIEVE: {},
    O.SEND_DTMF: {"digits": "12"},
    O.SWITCH_TO_LISTEN_IN: {},
    O.SWITCH_TO_BARGE_IN: {},
    O.MUTE_MONITORED_USER: {},
    O.UNMUTE_MONITORED_USER: {},
    O.SET_CALL_DISPOSITION: {"disposition": "Done"},
    O.INITIATE_TRANSFER: {"destination": {"phoneNumber": "5002"}},
    O.COMPLETE_TRANSFER: {},
    O.SINGLE_STEP_TRANSFER: {"destination": {"phoneNumber": "+14155550123"}},
}


class Supervised(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(self.tmp())
        self.switch = Switch(seed=8, log=self.folder / "log")
        self.projection = Projection(form="8.5.2")
        self.events: list[Any] = []
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)
        for dn in AGENTS:
            self.projection.know(self.switch.add_device(dn).snapshot())
        self.boss = self.switch.add_device(BOSS, role="supervisor")

    @staticmethod
    def tmp() -> str:
        import tempfile

        return tempfile.mkdtemp(prefix="callstate-supervised-")

    def observe(self) -> tuple[Any, ...]:
        legs = tuple(
            (c.id, c.state, c.capabilities, c.participants, c.mute, c.user_data)
            for c in self.switch.calls
        )
        return legs, self.boss.snapshot(), self.projection.get_calls(User.admin())

    def attempt(self, action: Any, *, must_succeed: bool) -> None:
        before, count = self.observe(), len(self.events)
        refusal: CallStateError | None = None
        try:
            action()
        except CallStateError as error:
            refusal = error
        if refusal is not None:
            assert not must_succeed, f"refused although offered: {refusal}"
            assert self.observe() == before, "a refusal changed something"
            assert len(self.events) == count, "a refusal emitted events"

    @rule(
        mode=st.sampled_from(["ListenIn", "Coach", "BargeIn"]),
        agent=st.sampled_from(AGENTS),
        scope=st.sampled_from([None, "Call", "Agent"]),
        next_call=st.booleans(),
    )
    def supervise(self, mode: str, agent: str, scope: str | None, next_call: bool) -> None:
        params: dict[str, str] = {"targetDeviceUri": self.switch.device(agent).id}
        if scope:
            params["supervisorMonitoringScope"] = scope
        if next_call:
            params["supervisorMonitoringMode"] = "NextCall"
        self.attempt(lambda: self.boss.operate(mode, **params), must_succeed=True)

    @rule()
    def cancel(self) -> None:
        offered = "CancelSupervisorMonitoring" in self.boss.snapshot().capabilities
        self.attempt(lambda: self.boss.operate("CancelSupervisorMonitoring"), must_succeed=offered)

    @rule(caller=st.sampled_from(AGENTS), callee=st.sampled_from((*AGENTS, "+14155550100")))
    def dial(self, caller: str, callee: str) -> None:
        device = self.switch.device(caller)
        self.attempt(lambda: device.dial(callee), must_succeed=caller != callee)

    @rule(to=st.sampled_from(AGENTS))
    def far_end_calls(self, to: str) -> None:
        self.attempt(lambda: self.switch.external_call("+14155550199", to=to), must_succeed=True)

    @rule(
        event=st.sampled_from(["answer", "hangup"]),
        number=st.sampled_from(["+14155550100", "+14155550199"]),
    )
    def far_end(self, event: str, number: str) -> None:
        act = self.switch.external_answer if event == "answer" else self.switch.external_hangup
        self.attempt(lambda: act(number), must_succeed=False)

    @rule(data=st.data())
    def ask(self, data: Any) -> None:
        calls = self.switch.calls
        if not calls:
            return
        leg = data.draw(st.sampled_from(calls))
        op = data.draw(st.sampled_from(list(ASKED)))
        offered = op in OFFERED[(leg.state, leg.context)]
        params = ASKED[op]
        # a destination may be refused for where it leads (this device, a party already on the
        # call): only that a refusal changes nothing is checked for those
        sure = offered and "destination" not in params
        self.attempt(lambda: leg.perform(op, **params), must_succeed=sure)
        if offered:
            event(f"{'supervisor' if leg.watch else 'agent'} leg did {op}")

    @rule(data=st.data())
    def answer_ringing(self, data: Any) -> None:
        ringing = [c for c in self.switch.calls if c.state is State.RINGING]
        if ringing:
            leg = data.draw(st.sampled_from(ringing))
            self.attempt(lambda: leg.perform("Answer"), must_succeed=True)

    @rule(data=st.data())
    def supervisor_acts(self, data: Any) -> None:
        """What a supervisor's leg offers (listed or not), to reach every mode and toggle."""
        legs = [c for c in self.boss.calls if c.state is not State.RELEASED]
        if not legs:
            return
        leg = data.draw(st.sampled_from(legs))
        offered = sorted(OFFERED[(leg.state, leg.context)] & set(ASKED))
        if offered:
            op = O(data.draw(st.sampled_from(offered)))
            sure = "destination" not in ASKED[op]
            self.attempt(lambda: leg.perform(op, **ASKED[op]), must_succeed=sure)
            event(f"supervisor leg did {op}")

    @invariant()
    def supervisors_legs_show_their_calls(self) -> None:
        for leg in self.boss.calls:
            watch = leg.watch
            if watch is None:  # a call the supervisor made from its leg (it offers transfers)
                continue
            watched = watch.watched
            assert watched is not None
            assert leg in watch.call.monitors
            if leg.state is not State.RELEASED and watched.state is not State.RELEASED:
                parties = tuple(p if isinstance(p, str) else p.device.dn for p in watch.call)
                assert leg.participants == parties

    @invariant()
    def monitored_flags_match_the_joined_supervisors(self) -> None:
        for leg in self.switch.calls:
            if leg.watch is not None:
                continue
            joined = [
                m
                for m in leg.connection.monitors
                if m.answered and m.watch is not None and m.watch.watched is leg
            ]
            shown = self.projection.get_call(User.admin(), leg.id)["call"]
            assert shown["monitoring"] is bool(joined)
            listening = any(m.watch.mode != "BargeIn" for m in joined if m.watch)
            assert shown["supervisorListeningIn"] is listening

    @invariant()
    def projection_agrees(self) -> None:
        listed = self.projection.get_calls(User.admin())["calls"]
        assert [(c["id"], c["state"]) for c in listed] == [
            (c.id, c.state.value) for c in self.switch.calls
        ]

    def teardown(self) -> None:
        self.switch.close_log()
        restored, _ = Switch.restore(self.folder / "log")
        assert [(c.id, c.state, c.participants) for c in restored.calls] == [
            (c.id, c.state, c.participants) for c in self.switch.calls
        ]
        assert restored.device(BOSS).snapshot() == self.boss.snapshot()


Supervised.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSupervised = Supervised.TestCase
