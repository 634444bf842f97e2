"""callstate.testing as a user would use it: subclass the machine, add an invariant, run it
with default hypothesis settings (it reaches the hard operations and supervision in every mode;
three runs' worth reach every operation and context; ``supervisors = 0`` leaves supervision
out); the request strategies; and the ``switch`` fixture of the pytest plugin."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, run_state_machine_as_test

from callstate import CallStateError, DeviceOperation, Operation, SupervisionMode, Switch, User
from callstate.testing import (
    SwitchMachine,
    bad_device_requests,
    bad_requests,
    requests,
    supervision_requests,
)


class MySoftphoneMachine(SwitchMachine):
    """What a user writes: their own invariant over the switch the kit drives."""

    performed: ClassVar[set[Operation]] = set()
    operated: ClassVar[set[DeviceOperation]] = set()
    joined: ClassVar[set[SupervisionMode]] = set()
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


@pytest.fixture(scope="module")
def default_run() -> type[MySoftphoneMachine]:
    """Runs of the user's machine with default settings (100 examples each), for the coverage
    tests below to read; what they reach accumulates on the class. One run misses a context now
    and then (about one in thirty leaves no call muted, or none with both parties held, when
    an invariant looks), so: three runs, which make a miss of all three a one-in-tens-of-
    thousands event."""
    for _ in range(3):
        run_state_machine_as_test(MySoftphoneMachine)
    return MySoftphoneMachine


def test_a_default_run_reaches_the_hard_operations_and_contexts(
    default_run: type[MySoftphoneMachine],
) -> None:
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
    assert hard <= default_run.performed, hard - default_run.performed
    contexts = {"pair", "conference", "mute", "recording"}
    assert contexts <= default_run.contexts, contexts - default_run.contexts


def test_a_default_run_supervises(default_run: type[MySoftphoneMachine]) -> None:
    """A supervisor's legs joined calls in every mode, switched mode and muted the monitored
    agent, and its device started and cancelled monitoring in every mode."""
    assert set(SupervisionMode) <= default_run.joined, set(SupervisionMode) - default_run.joined
    leg_ops = {
        Operation.SWITCH_TO_BARGE_IN,
        Operation.SWITCH_TO_LISTEN_IN,
        Operation.MUTE_MONITORED_USER,
    }
    assert leg_ops <= default_run.performed, leg_ops - default_run.performed
    device_ops = {
        DeviceOperation.LISTEN_IN,
        DeviceOperation.COACH,
        DeviceOperation.BARGE_IN,
        DeviceOperation.CANCEL_SUPERVISOR_MONITORING,
    }
    assert device_ops <= default_run.operated, device_ops - default_run.operated


class LongerRun(MySoftphoneMachine):
    performed: ClassVar[set[Operation]] = set()
    operated: ClassVar[set[DeviceOperation]] = set()
    joined: ClassVar[set[SupervisionMode]] = set()
    contexts: ClassVar[set[str]] = set()


def test_three_default_runs_reach_every_operation_and_context() -> None:
    """300 examples (three default runs' worth): every call operation (Dial is the ``dial``
    rule's), every device operation, every supervision mode and every context. Each is reached
    in most single default runs too; three make a miss of any of them a one-in-thousands
    event."""
    run_state_machine_as_test(LongerRun, settings=settings(max_examples=300, database=None))
    calls = set(Operation) - {Operation.DIAL}
    assert calls <= LongerRun.performed, calls - LongerRun.performed
    assert set(DeviceOperation) <= LongerRun.operated, set(DeviceOperation) - LongerRun.operated
    assert set(SupervisionMode) <= LongerRun.joined
    contexts = {"pair", "conference", "mute", "recording", "both_held"}
    assert contexts <= LongerRun.contexts, contexts - LongerRun.contexts


class Unsupervised(SwitchMachine):
    supervisors = 0
    performed: ClassVar[set[Operation]] = set()
    operated: ClassVar[set[DeviceOperation]] = set()
    joined: ClassVar[set[SupervisionMode]] = set()

    @invariant()
    def nobody_supervises(self) -> None:
        assert self.supervisor_devices == ()
        assert all(d.role == "agent" for d in self.switch.devices)
        assert all(c.watch is None for c in self.switch.calls)


def test_no_supervisor_no_supervision() -> None:
    run_state_machine_as_test(
        Unsupervised, settings=settings(max_examples=10, stateful_step_count=20, deadline=None)
    )
    supervising = {
        DeviceOperation.LISTEN_IN,
        DeviceOperation.COACH,
        DeviceOperation.BARGE_IN,
        DeviceOperation.CANCEL_SUPERVISOR_MONITORING,
    }
    assert not Unsupervised.operated & supervising
    assert not Unsupervised.joined
    assert Operation.SWITCH_TO_BARGE_IN not in Unsupervised.performed


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


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_supervision_requests_are_accepted_and_bad_device_requests_refused(data: Any) -> None:
    switch = Switch(seed=3)
    agents = [switch.add_device("15000"), switch.add_device("15001")]
    boss = switch.add_device("19000", role="supervisor")
    agents[0].dial("15001")
    agents[1].calls[0].perform("Answer")  # a call to monitor: a supervisor joins it
    for device in (boss, boss, data.draw(st.sampled_from(agents))):
        if device is boss:
            op, params = data.draw(supervision_requests(boss, [boss, *agents]))
            boss.operate(op, **params)
        name, bad = data.draw(bad_device_requests(device))
        before = device.snapshot()
        with pytest.raises(CallStateError) as refused:
            device.operate(name, **bad)
        assert refused.value.status_code in (1, 2, 5)
        assert device.snapshot() == before


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
