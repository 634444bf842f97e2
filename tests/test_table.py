"""The transition table as data: reachability, finality, coverage and the capability rules (§4)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from transitions.core import MachineError

from callstate import ConferenceRole, Mute, NetworkEvent, Operation, PairRole, RecordingState, State
from callstate.enums import SupervisionMode
from callstate.table import CAPABILITIES, MACHINE, OFFERED, TRANSITIONS, Context, capabilities_for

O = Operation
LIVE = [State.DIALING, State.RINGING, State.ESTABLISHED, State.HELD]
USER_DATA = {O.ATTACH_USER_DATA, O.UPDATE_USER_DATA, O.DELETE_USER_DATA, O.DELETE_USER_DATA_PAIR}
TRANSFERS = {
    O.SINGLE_STEP_TRANSFER,
    O.SINGLE_STEP_CONFERENCE,
    O.INITIATE_TRANSFER,
    O.INITIATE_CONFERENCE,
}
MUTE_OPS = {O.MUTE_CALL, O.UNMUTE_CALL}
RECORDING_OPS = {
    O.START_CALL_RECORDING,
    O.PAUSE_CALL_RECORDING,
    O.RESUME_CALL_RECORDING,
    O.STOP_CALL_RECORDING,
}

#: spec §4, "Base sets by state", written out independently of the table
SPEC_BASE: dict[State, set[Operation]] = {
    State.DIALING: {O.HANGUP, O.SEND_DTMF, *USER_DATA},
    State.RINGING: {O.ANSWER, *USER_DATA},
    State.ESTABLISHED: {O.HANGUP, O.HOLD, O.SEND_DTMF, *TRANSFERS, *USER_DATA},
    State.HELD: {O.RETRIEVE, O.HANGUP, *TRANSFERS, *USER_DATA},
    State.RELEASED: set(),
}


def contexts() -> Iterator[Context]:
    """Every combination of the context's fields, built here rather than taken from the table."""
    for values in itertools.product(
        (None, *Mute),
        (None, *RecordingState),
        PairRole,
        ConferenceRole,
        (False, True),
        (False, True),
        (None, *SupervisionMode),
        (False, True),
    ):
        yield Context(*values)


ALL_CONTEXTS = list(contexts())


def ctx(state: State, **fields: Any) -> Context:
    """A context as a leg in ``state`` has it: talking legs have been answered."""
    return Context(answered=state in (State.ESTABLISHED, State.HELD), **fields)


def successors(state: State) -> set[State]:
    return {
        row["dest"] if row["dest"] is not None else state
        for row in TRANSITIONS
        if state in row["source"]
    }


def reachable(start: set[State]) -> set[State]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in successors(todo.pop()) - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_every_state_is_reachable_from_the_initial_states() -> None:
    assert reachable({State.DIALING, State.RINGING}) == set(State)


def test_released_has_no_outgoing_row() -> None:
    """Released is final: the one row from it (a disposition) moves nothing and lists nothing."""
    rows = [row for row in TRANSITIONS if State.RELEASED in row["source"]]
    assert [(row["trigger"], row["dest"], row.get("listed")) for row in rows] == [
        (Operation.SET_CALL_DISPOSITION, None, False)
    ]


@pytest.mark.parametrize("context", ALL_CONTEXTS, ids=str)
def test_released_offers_nothing_in_any_context(context: Context) -> None:
    assert CAPABILITIES[(State.RELEASED, context)] == ()


@pytest.mark.parametrize("state", LIVE)
def test_no_trap_state_every_live_state_can_end(state: State) -> None:
    assert State.RELEASED in reachable({state})


def test_every_operation_but_dial_is_a_trigger() -> None:
    triggers = {row["trigger"] for row in TRANSITIONS}
    assert {op for op in Operation if op is not O.DIAL} <= triggers
    assert O.DIAL not in triggers


def test_every_network_event_is_a_trigger() -> None:
    assert set(NetworkEvent) <= {row["trigger"] for row in TRANSITIONS}


def test_rows_name_only_known_states() -> None:
    for row in TRANSITIONS:
        assert row["source"], row
        assert set(row["source"]) <= set(State)
        assert row["dest"] is None or row["dest"] in State


def test_capabilities_cover_every_state_and_context() -> None:
    assert set(CAPABILITIES) == set(itertools.product(State, ALL_CONTEXTS))


@pytest.mark.parametrize("state", list(State))
def test_capabilities_table_equals_capabilities_for(state: State) -> None:
    for context in ALL_CONTEXTS:
        assert CAPABILITIES[(state, context)] == capabilities_for(state, context), context


@pytest.mark.parametrize("state", list(State))
def test_capabilities_are_sorted_and_unique(state: State) -> None:
    for context in ALL_CONTEXTS:
        caps = CAPABILITIES[(state, context)]
        assert list(caps) == sorted({str(c) for c in caps}), context
        assert O.DIAL not in caps


class _Leg:
    """A stand-in model for the shared machine: a state and a context, nothing else."""

    def __init__(self, state: State, context: Context) -> None:
        self._state = state
        self._context = context


@pytest.mark.parametrize("state", list(State))
def test_machine_fires_exactly_the_offered_operations(state: State) -> None:
    """The capabilities list and the transitions machine agree on every (state, context, op)."""
    for context, op in itertools.product(ALL_CONTEXTS, [o for o in Operation if o is not O.DIAL]):
        leg = _Leg(state, context)
        try:
            fired = MACHINE.events[str(op)].trigger(leg)
        except MachineError:
            fired = False
        # the machine also fires the allowed-but-unlisted operations (OFFERED holds them)
        assert fired == (op in OFFERED[(state, context)]), (context, op)
        if op in CAPABILITIES[(state, context)]:
            assert fired
        if not fired:
            assert leg._state is state


@pytest.mark.parametrize("state", list(State))
def test_base_sets_equal_the_spec_table(state: State) -> None:
    assert set(CAPABILITIES[(state, ctx(state))]) == SPEC_BASE[state]


def test_no_hangup_before_answering() -> None:
    for context in ALL_CONTEXTS:
        assert O.HANGUP not in CAPABILITIES[(State.RINGING, context)]


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("mute", [None, *Mute])
def test_mute_rules(state: State, mute: Mute | None) -> None:
    caps = set(CAPABILITIES[(state, ctx(state, mute=mute))])
    established = state is State.ESTABLISHED
    assert (O.MUTE_CALL in caps) == (established and mute is Mute.OFF)
    assert (O.UNMUTE_CALL in caps) == (established and mute is Mute.ON)
    assert caps - MUTE_OPS == SPEC_BASE[state]


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("recording", [None, *RecordingState])
def test_recording_rules(state: State, recording: RecordingState | None) -> None:
    caps = set(CAPABILITIES[(state, ctx(state, recording=recording))])
    talking = state in (State.ESTABLISHED, State.HELD)
    by_recording: dict[RecordingState | None, set[Operation]] = {
        None: set(),
        RecordingState.STOPPED: {O.START_CALL_RECORDING},
        RecordingState.RECORDING: {O.PAUSE_CALL_RECORDING, O.STOP_CALL_RECORDING},
        RecordingState.PAUSED: {O.RESUME_CALL_RECORDING, O.STOP_CALL_RECORDING},
    }
    expected = by_recording[recording]
    assert caps & RECORDING_OPS == (expected if talking else set())
    assert caps - RECORDING_OPS == SPEC_BASE[state]


@pytest.mark.parametrize(
    ("mute", "recording"), list(itertools.product([None, *Mute], [None, *RecordingState]))
)
def test_mute_and_recording_rules_combine_independently(
    mute: Mute | None, recording: RecordingState | None
) -> None:
    for state in State:
        both = set(CAPABILITIES[(state, ctx(state, mute=mute, recording=recording))])
        only_mute = set(CAPABILITIES[(state, ctx(state, mute=mute))])
        only_recording = set(CAPABILITIES[(state, ctx(state, recording=recording))])
        assert both == only_mute | only_recording, state


def test_pending_consult_parent_swaps_and_transfers_but_does_not_retrieve() -> None:
    caps = set(CAPABILITIES[(State.HELD, ctx(State.HELD, pair=PairRole.PARENT_PENDING))])
    assert {O.SWAP_CALLS, O.COMPLETE_TRANSFER} <= caps
    assert O.RETRIEVE not in caps
    assert O.COMPLETE_CONFERENCE not in caps


@pytest.mark.parametrize("role", [PairRole.PARENT_PAIRED, PairRole.CONSULT_PAIRED])
@pytest.mark.parametrize("state", [State.ESTABLISHED, State.HELD])
def test_answered_consult_pair_offers_swap_and_both_completions(
    role: PairRole, state: State
) -> None:
    caps = set(CAPABILITIES[(state, ctx(state, pair=role))])
    assert {O.SWAP_CALLS, O.COMPLETE_TRANSFER, O.COMPLETE_CONFERENCE} <= caps
    assert O.RETRIEVE not in caps


@pytest.mark.parametrize("role", [PairRole.CONSULT_PENDING, PairRole.CONSULT_PAIRED])
@pytest.mark.parametrize("state", [State.ESTABLISHED, State.HELD])
def test_a_consult_starts_no_consult_of_its_own(role: PairRole, state: State) -> None:
    caps = set(CAPABILITIES[(state, ctx(state, pair=role))])
    assert not {O.INITIATE_TRANSFER, O.INITIATE_CONFERENCE} & caps


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("role", list(ConferenceRole))
def test_only_the_conference_owner_removes_and_clears(state: State, role: ConferenceRole) -> None:
    caps = set(CAPABILITIES[(state, ctx(state, conference=role))])
    owner_talking = role is ConferenceRole.OWNER and state in (State.ESTABLISHED, State.HELD)
    assert (O.REMOVE_PARTICIPANT_FROM_CONFERENCE in caps) == owner_talking
    assert (O.CLEAR_CALL in caps) == owner_talking
    assert caps - {O.REMOVE_PARTICIPANT_FROM_CONFERENCE, O.CLEAR_CALL} == SPEC_BASE[state]


def test_outside_a_pair_no_pair_operation_is_offered() -> None:
    pair_ops = {O.SWAP_CALLS, O.COMPLETE_TRANSFER, O.COMPLETE_CONFERENCE}
    for state, context in itertools.product(State, ALL_CONTEXTS):
        if context.pair is PairRole.NONE:
            assert not pair_ops & set(CAPABILITIES[(state, context)]), (state, context)


def test_a_held_call_nobody_answered_only_hangs_up_retrieves_and_keeps_data() -> None:
    for context in ALL_CONTEXTS:
        if (
            context.answered
            or context.pair is not PairRole.NONE
            or context.conference.value != "None"
        ):
            continue
        caps = set(CAPABILITIES[(State.HELD, context)])
        assert caps - USER_DATA == {O.HANGUP, O.RETRIEVE}, context
