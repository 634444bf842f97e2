"""callstate.testing as a user would use it: subclass the machine, add an invariant, run it
with default hypothesis settings; and the ``switch`` fixture of the pytest plugin."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, run_state_machine_as_test

from callstate import CallStateError, Operation, Switch, User
from callstate.testing import SwitchMachine, bad_requests, requests


class MySoftphoneMachine(SwitchMachine):
    """What a user writes: their own invariant over the switch the kit drives."""

    performed: ClassVar[set[Operation]] = set()
    contexts: ClassVar[set[str]] = set()

    @invariant()
    def every_agent_sees_only_its_own_calls(self) -> None:
        for dn in self.devices:
            mine = self.projection.get_calls(User.agent(dn))["calls"]
            assert all(c["deviceUri"].endswith(self.switch.device(dn).id) for c in mine)

    @invariant()
    def note_contexts(self) -> None:
        for call in self.switch.calls:
            context = call.context
            if context.pair != "None":
                self.contexts.add("pair")
            if context.conference != "None":
                self.contexts.add("conference")
            if context.mute == "On":
                self.contexts.add("mute")
            if context.recording in ("Recording", "Paused"):
                self.contexts.add("recording")
            if context.both_held:
                self.contexts.add("both_held")


def test_a_default_run_reaches_the_hard_operations_and_contexts() -> None:
    run_state_machine_as_test(MySoftphoneMachine)  # default settings: 100 examples
    hard = {
        Operation.COMPLETE_TRANSFER,
        Operation.COMPLETE_CONFERENCE,
        Operation.SWAP_CALLS,
        Operation.RETRIEVE,
        Operation.INITIATE_TRANSFER,
        Operation.INITIATE_CONFERENCE,
        Operation.REMOVE_PARTICIPANT_FROM_CONFERENCE,
        Operation.MUTE_CALL,
        Operation.START_CALL_RECORDING,
    }
    assert hard <= MySoftphoneMachine.performed, hard - MySoftphoneMachine.performed
    assert {"pair", "conference", "mute", "recording"} <= MySoftphoneMachine.contexts


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_requests_are_accepted_and_bad_requests_refused(data: Any) -> None:
    switch = Switch(seed=3)
    agent = switch.add_device("15000", features=["mute"])
    switch.add_device("15001")
    call = agent.dial("15001")
    switch.device("15001").calls[0].perform("Answer")
    op, params = data.draw(requests(call, ["15001", "+14155550100"]))
    call.perform(op, **params)
    if call.state != "Released":
        name, bad = data.draw(bad_requests(call))
        with pytest.raises(CallStateError) as refused:
            call.perform(name, **bad)  # type: ignore[arg-type]
        assert refused.value.status_code in (1, 2)


def test_the_switch_fixture_is_seeded(switch: Switch) -> None:
    again = Switch(seed=1)
    assert switch.add_device("15000").id == again.add_device("15000").id


def test_the_documented_example_runs() -> None:
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "testing.md"
    if not doc.exists():
        pytest.skip("docs/ are not beside these tests")
    code = doc.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(doc), "exec"), namespace)
    namespace["WallboardMachine"].TestCase.settings = settings(max_examples=5, deadline=None)
    namespace["TestWallboard"]().runTest()
