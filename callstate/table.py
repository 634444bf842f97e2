"""The transition table: the one place that says how a call leg moves.

Theory of operation
-------------------
A GWS call, as one agent sees it, is a *leg* on that agent's device. A leg is born
``Dialing`` (the agent dialed) or ``Ringing`` (a call was offered to the device) and ends
``Released``; in between it is ``Established`` or ``Held``. Every change of state is a row of
``TRANSITIONS`` below: a trigger, the states it may fire from, the state it leads to (``None``:
the leg stays where it is, as with ``SendDtmf``) and, optionally, guards on the leg's *context*.

Triggers are either agent operations (``Operation``: what a user POSTs as ``operationName``) or
network events (``NetworkEvent``: what the far end does). Capabilities are never written down
by hand. A leg offers operation ``X`` exactly when some row with trigger ``X`` may fire from the
leg's state and all of that row's guards hold in the leg's context, so "an operation succeeds if
and only if it is in ``capabilities``" is true by construction.

The context is what, besides its state, decides what a leg may do: its mute flag and recording
state (``None`` when the device lacks that feature), its place in a consult pair and in a
conference. Contexts are few, so ``CAPABILITIES`` is computed once for every (state, context)
and a leg's capability lookup is one dictionary access.

Rules in plain words (spec §4):

* Ringing legs can only be answered (and carry user data); there is no Hangup before Answer.
* A leg can be held before it was answered (a consult swapped out while still dialing). Such a
  leg stays held when the far end answers, and goes back to ``Dialing`` when retrieved.
* Mute and unmute exist only while Established, and only on devices with the mute feature.
* Recording exists while Established or Held, on devices with the recording feature:
  start when stopped, pause or stop when recording, resume or stop when paused.
* A consult pair is a parent leg and the consult leg that ``InitiateTransfer`` or
  ``InitiateConference`` created on the same device. While the pair lives, neither leg offers
  ``Retrieve``; the parent offers ``SwapCalls`` and ``CompleteTransfer`` at once, and once the
  consult is answered both legs offer ``SwapCalls``, ``CompleteTransfer`` and
  ``CompleteConference``. A consult does not start consults of its own.
* When both legs of a pair are held (the agent held the active one), each offers ``Retrieve``
  again; the one retrieved is active, and the other stays held without it.
* A conference (a leg with two or more other parties) offers ``RemoveParticipantFromConference``
  and ``ClearCall`` to its owner only: the leg that completed or single-step-added it.
* ``Released`` is final: no row leaves it, so a released leg offers nothing.

Operations that touch several legs (hangup, transfers, conferences, swaps) fire the operation's
row on the leg it was posted on and a network row (``FarEndReleased``, ``SwitchHeld``,
``SwitchRetrieved``, ...) on each other leg they move; the switch decides which, the table
decides whether and where to.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Final, NamedTuple, TypedDict, TypeVar

from transitions import Machine, MachineError

from .enums import (
    ConferenceRole,
    DeviceOperation,
    Mute,
    NetworkEvent,
    Operation,
    PairRole,
    RecordingState,
    State,
    SupervisionMode,
)

__all__ = [
    "CAPABILITIES",
    "CONTEXT_VALUES",
    "DEVICE_CAPABILITIES",
    "DEVICE_ROWS",
    "GUARDS",
    "MACHINE",
    "OFFERED",
    "TRANSITIONS",
    "Context",
    "DeviceContext",
    "Row",
    "all_contexts",
    "build_machine",
    "capabilities_for",
    "decide",
    "next_state",
]

DIALING, RINGING, ESTABLISHED, HELD, RELEASED = State
LIVE: Final = [DIALING, RINGING, ESTABLISHED, HELD]
TALKING: Final = [ESTABLISHED, HELD]


class Context(NamedTuple):
    """Everything besides its state that decides what a leg may do."""

    mute: Mute | None = None
    recording: RecordingState | None = None
    pair: PairRole = PairRole.NONE
    conference: ConferenceRole = ConferenceRole.NONE
    #: whether the far end (or the agent, for a ringing leg) has answered
    answered: bool = False
    #: whether this leg and the other leg of its consult pair are both held
    both_held: bool = False
    #: on a supervisor's leg: how it takes part in the monitored call
    supervising: SupervisionMode | None = None
    #: on a supervisor's leg: whether it muted the monitored agent
    monitored_muted: bool = False


class _RowBase(TypedDict):
    trigger: Operation | NetworkEvent
    source: list[State]
    dest: State | None


class Row(_RowBase, total=False):
    """One row of the table, keyed like the dicts ``transitions.Machine`` accepts."""

    guards: list[str]
    #: False: the operation is allowed but never listed in ``capabilities`` (documented
    #: exceptions: SetCallDisposition, Mute/UnmuteMonitoredUser)
    listed: bool


#: Named predicates on a leg's context; rows refer to them by name.
GUARDS: Final[Mapping[str, Callable[[Context], bool]]] = {
    "mute_off": lambda c: c.mute is Mute.OFF,
    "mute_on": lambda c: c.mute is Mute.ON,
    "recording_stopped": lambda c: c.recording is RecordingState.STOPPED,
    "recording_on": lambda c: c.recording is RecordingState.RECORDING,
    "recording_paused": lambda c: c.recording is RecordingState.PAUSED,
    "recording_live": lambda c: c.recording in (RecordingState.RECORDING, RecordingState.PAUSED),
    "not_in_pair": lambda c: c.pair is PairRole.NONE,
    "both_held": lambda c: c.both_held,
    "in_pair": lambda c: c.pair is not PairRole.NONE,
    "not_consult": lambda c: c.pair not in (PairRole.CONSULT_PENDING, PairRole.CONSULT_PAIRED),
    "answered": lambda c: c.answered,
    "unanswered": lambda c: not c.answered,
    "transfer_ready": lambda c: (
        c.pair in (PairRole.PARENT_PENDING, PairRole.PARENT_PAIRED, PairRole.CONSULT_PAIRED)
    ),
    "parent_paired": lambda c: c.pair is PairRole.PARENT_PAIRED,
    "consult_paired": lambda c: c.pair is PairRole.CONSULT_PAIRED,
    "conference_owner": lambda c: c.conference is ConferenceRole.OWNER,
    "supervising": lambda c: c.supervising is not None,
    "not_supervising": lambda c: c.supervising is None,
    "heard": lambda c: c.supervising in (SupervisionMode.BARGE_IN, SupervisionMode.COACH),
    "listening": lambda c: c.supervising in (SupervisionMode.LISTEN_IN, SupervisionMode.COACH),
    "barging_in": lambda c: c.supervising is SupervisionMode.BARGE_IN,
    "monitored_muted": lambda c: c.monitored_muted,
    "monitored_unmuted": lambda c: not c.monitored_muted,
}

O, N = Operation, NetworkEvent

#: Every way a leg changes state. Nothing else moves a leg.
TRANSITIONS: Final[list[Row]] = [
    # -- the far end ---------------------------------------------------------------------------
    {"trigger": N.FAR_END_ANSWERED, "source": [DIALING], "dest": ESTABLISHED},
    # a consult put on hold (by a swap) before it was answered stays on hold when answered
    {"trigger": N.FAR_END_ANSWERED, "source": [HELD], "dest": None, "guards": ["unanswered"]},
    {"trigger": N.FAR_END_BUSY, "source": [DIALING], "dest": RELEASED},
    {"trigger": N.FAR_END_BUSY, "source": [HELD], "dest": RELEASED, "guards": ["unanswered"]},
    {"trigger": N.FAR_END_RELEASED, "source": LIVE, "dest": RELEASED},
    # -- the switch, moving the other leg of a pair ----------------------------------------------
    {"trigger": N.SWITCH_HELD, "source": [DIALING, ESTABLISHED], "dest": HELD},
    {
        "trigger": N.SWITCH_RETRIEVED,
        "source": [HELD],
        "dest": DIALING,
        "guards": ["unanswered"],
    },
    {
        "trigger": N.SWITCH_RETRIEVED,
        "source": [HELD],
        "dest": ESTABLISHED,
        "guards": ["answered"],
    },
    {"trigger": N.SWITCH_RETRIEVED, "source": [ESTABLISHED], "dest": None},
    # -- the agent: the call itself -----------------------------------------------------------
    {"trigger": O.ANSWER, "source": [RINGING], "dest": ESTABLISHED},
    {"trigger": O.HANGUP, "source": [DIALING, *TALKING], "dest": RELEASED},
    {"trigger": O.HOLD, "source": [ESTABLISHED], "dest": HELD},
    {
        "trigger": O.RETRIEVE,
        "source": [HELD],
        "dest": ESTABLISHED,
        "guards": ["not_in_pair", "answered"],
    },
    # a call held before it was answered (a swapped-out consult whose parent has gone)
    {
        "trigger": O.RETRIEVE,
        "source": [HELD],
        "dest": DIALING,
        "guards": ["not_in_pair", "unanswered"],
    },
    # both legs of a consult pair held (the agent held the active one): either may come back
    {
        "trigger": O.RETRIEVE,
        "source": [HELD],
        "dest": ESTABLISHED,
        "guards": ["both_held", "answered"],
    },
    {
        "trigger": O.RETRIEVE,
        "source": [HELD],
        "dest": DIALING,
        "guards": ["both_held", "unanswered"],
    },
    {"trigger": O.SEND_DTMF, "source": [DIALING, ESTABLISHED], "dest": None},
    # a held call that was never answered has nobody to pass on, conference in or record
    {
        "trigger": O.SINGLE_STEP_TRANSFER,
        "source": TALKING,
        "dest": RELEASED,
        "guards": ["answered"],
    },
    {
        "trigger": O.SINGLE_STEP_CONFERENCE,
        "source": TALKING,
        "dest": None,
        "guards": ["answered"],
    },
    {
        "trigger": O.INITIATE_TRANSFER,
        "source": TALKING,
        "dest": HELD,
        "guards": ["answered", "not_consult"],
    },
    {
        "trigger": O.INITIATE_CONFERENCE,
        "source": TALKING,
        "dest": HELD,
        "guards": ["answered", "not_consult"],
    },
    # -- the agent: the consult pair -----------------------------------------------------------
    {"trigger": O.SWAP_CALLS, "source": [ESTABLISHED], "dest": HELD, "guards": ["in_pair"]},
    {
        "trigger": O.SWAP_CALLS,
        "source": [HELD],
        "dest": DIALING,
        "guards": ["in_pair", "unanswered"],
    },
    {
        "trigger": O.SWAP_CALLS,
        "source": [HELD],
        "dest": ESTABLISHED,
        "guards": ["in_pair", "answered"],
    },
    {
        "trigger": O.COMPLETE_TRANSFER,
        "source": TALKING,
        "dest": RELEASED,
        "guards": ["transfer_ready"],
    },
    {
        "trigger": O.COMPLETE_CONFERENCE,
        "source": [HELD],
        "dest": ESTABLISHED,
        "guards": ["parent_paired"],
    },
    {
        "trigger": O.COMPLETE_CONFERENCE,
        "source": [ESTABLISHED],
        "dest": None,
        "guards": ["parent_paired"],
    },
    {
        "trigger": O.COMPLETE_CONFERENCE,
        "source": TALKING,
        "dest": RELEASED,
        "guards": ["consult_paired"],
    },
    # -- the agent: conferences ----------------------------------------------------------------
    {
        "trigger": O.REMOVE_PARTICIPANT_FROM_CONFERENCE,
        "source": TALKING,
        "dest": None,
        "guards": ["conference_owner"],
    },
    # -- the supervisor's leg (gws-devices §4) ---------------------------------------------------
    {
        "trigger": O.REMOVE_PARTICIPANT_FROM_CONFERENCE,
        "source": [ESTABLISHED],
        "dest": None,
        "guards": ["supervising"],
    },
    {"trigger": O.SWITCH_TO_LISTEN_IN, "source": [ESTABLISHED], "dest": None, "guards": ["heard"]},
    {
        "trigger": O.SWITCH_TO_BARGE_IN,
        "source": [ESTABLISHED],
        "dest": None,
        "guards": ["listening"],
    },
    {
        "trigger": O.MUTE_MONITORED_USER,
        "source": [ESTABLISHED],
        "dest": None,
        "guards": ["barging_in", "monitored_unmuted"],
        "listed": False,
    },
    {
        "trigger": O.UNMUTE_MONITORED_USER,
        "source": [ESTABLISHED],
        "dest": None,
        "guards": ["barging_in", "monitored_muted"],
        "listed": False,
    },
    # -- any leg of the device, released ones too (gws-devices §5) --------------------------------
    {
        "trigger": O.SET_CALL_DISPOSITION,
        "source": [*LIVE, RELEASED],
        "dest": None,
        "listed": False,
    },
    {"trigger": O.CLEAR_CALL, "source": TALKING, "dest": RELEASED, "guards": ["conference_owner"]},
    # -- the agent: flags ---------------------------------------------------------------------
    {"trigger": O.MUTE_CALL, "source": [ESTABLISHED], "dest": None, "guards": ["mute_off"]},
    {"trigger": O.UNMUTE_CALL, "source": [ESTABLISHED], "dest": None, "guards": ["mute_on"]},
    {"trigger": O.ATTACH_USER_DATA, "source": LIVE, "dest": None},
    {"trigger": O.UPDATE_USER_DATA, "source": LIVE, "dest": None},
    {"trigger": O.DELETE_USER_DATA, "source": LIVE, "dest": None},
    {"trigger": O.DELETE_USER_DATA_PAIR, "source": LIVE, "dest": None},
    {
        "trigger": O.START_CALL_RECORDING,
        "source": TALKING,
        "dest": None,
        "guards": ["answered", "recording_stopped"],
    },
    {
        "trigger": O.PAUSE_CALL_RECORDING,
        "source": TALKING,
        "dest": None,
        "guards": ["answered", "recording_on"],
    },
    {
        "trigger": O.RESUME_CALL_RECORDING,
        "source": TALKING,
        "dest": None,
        "guards": ["answered", "recording_paused"],
    },
    {
        "trigger": O.STOP_CALL_RECORDING,
        "source": TALKING,
        "dest": None,
        "guards": ["answered", "recording_live"],
    },
]


def _holds(row: Row, context: Context) -> bool:
    return all(GUARDS[name](context) for name in row.get("guards", ()))


#: the values each field of a ``Context`` can take, in field order (``None``: no such feature)
CONTEXT_VALUES: Final = (
    (None, *Mute),
    (None, *RecordingState),
    tuple(PairRole),
    tuple(ConferenceRole),
    (False, True),
    (False, True),
    (None, *SupervisionMode),
    (False, True),
)


def all_contexts() -> Iterator[Context]:
    """Every context a leg can be in (feature flags absent or set, every pair/conference role)."""
    for values in itertools.product(*CONTEXT_VALUES):
        yield Context(*values)


def allowed_for(state: State, context: Context, *, listed: bool = True) -> tuple[Operation, ...]:
    """The sorted operations the table allows a leg (only those listed in ``capabilities``,
    unless ``listed`` is False).

    This reads the rows and their guards directly, where moves ask ``MACHINE`` (``decide``):
    a list needs every trigger that fires at once, the machine answers one trigger at a time
    and cannot say whether the row that fired is a listed one. Both read the same rows with the
    same guards, and ``tests/test_table.py`` fires every operation in every state and context
    to prove they agree: an operation is offered exactly when the machine takes it."""
    offered = {
        row["trigger"]
        for row in TRANSITIONS
        if isinstance(row["trigger"], Operation)
        and (row.get("listed", True) or not listed)
        and state in row["source"]
        and _holds(row, context)
    }
    return tuple(sorted(offered, key=str))


def capabilities_for(state: State, context: Context) -> tuple[Operation, ...]:
    """Derive the sorted capabilities of a leg from the table (slow; use ``CAPABILITIES``)."""
    return allowed_for(state, context)


_V = TypeVar("_V")


def _is_key(key: object) -> bool:
    """Whether ``key`` is a (state, context) that some leg can be in."""
    if not (isinstance(key, tuple) and len(key) == 2 and key[0] in State):
        return False
    context = key[1]
    return type(context) is Context and all(
        any(value is allowed for allowed in values)
        for value, values in zip(context, CONTEXT_VALUES, strict=True)
    )


class _Derived(Mapping[tuple[State, Context], _V]):
    """(state, context) -> what the table gives for it, each worked out on first use.

    Working every one out at import (9,000 of them) took a third of the package's import time;
    a switch meets a few dozen.
    """

    def __init__(self, derive: Callable[[State, Context], _V]) -> None:
        self._derive = derive
        self._known: dict[tuple[State, Context], _V] = {}

    def __getitem__(self, key: tuple[State, Context]) -> _V:
        try:
            return self._known[key]
        except KeyError:
            if not _is_key(key):
                raise
            value = self._known[key] = self._derive(*key)
            return value

    def __iter__(self) -> Iterator[tuple[State, Context]]:
        return ((state, context) for state in State for context in all_contexts())

    def __len__(self) -> int:
        return len(State) * math.prod(len(values) for values in CONTEXT_VALUES)


#: (state, context) -> sorted capabilities.
CAPABILITIES: Final[Mapping[tuple[State, Context], tuple[Operation, ...]]] = _Derived(
    capabilities_for
)


#: What a leg may be asked to do, as sets for O(1) membership tests on the request path: its
#: capabilities and the operations allowed but never listed.
OFFERED: Final[Mapping[tuple[State, Context], frozenset[str]]] = _Derived(
    lambda state, context: frozenset(allowed_for(state, context, listed=False))
)


def _condition(name: str) -> Callable[[object], bool]:
    guard = GUARDS[name]

    def check(event_data: object) -> bool:
        return guard(event_data.model._context)  # type: ignore[attr-defined]

    check.__name__ = name
    return check


def build_machine() -> Machine:
    """A fresh ``transitions`` machine holding the table, with no models attached.

    Legs are never registered with ``add_model`` (that binds a method per trigger on every leg
    and scans a list on removal); they are driven through ``machine.events[trigger]``.
    """
    return Machine(
        model=None,
        states=State,
        initial=None,
        transitions=[
            {
                "trigger": str(row["trigger"]),
                "source": row["source"],
                "dest": row["dest"],
                "conditions": [_condition(g) for g in row.get("guards", ())],
            }
            for row in TRANSITIONS
        ],
        auto_transitions=False,
        ignore_invalid_triggers=False,
        send_event=True,
        model_attribute="_state",
    )


#: The one machine every leg of every switch shares.
MACHINE: Final = build_machine()


class _Probe:
    """A stand-in leg: just what the machine reads (state) and the guards read (context)."""

    __slots__ = ("_context", "_state")

    def __init__(self, state: State, context: Context) -> None:
        self._state = state
        self._context = context


def decide(trigger: str, state: State, context: Context) -> State | None:
    """Ask ``MACHINE`` where ``trigger`` takes a leg in ``state`` and ``context``; None: refused."""
    probe = _Probe(state, context)
    try:
        fired = MACHINE.events[trigger].trigger(probe)
    except (KeyError, MachineError):
        return None
    return probe._state if fired else None


#: (trigger, state, context) -> the machine's answer, filled in as the switch meets each case.
#: Guards are pure functions of the context and rows have no callbacks, so one answer per key
#: holds for ever; this keeps ``transitions``' per-event bookkeeping off the hot path.
DECISIONS: Final[dict[tuple[str, State, Context], State | None]] = {}


def next_state(trigger: str, state: State, context: Context) -> State | None:
    """Where ``trigger`` takes a leg (memoised ``decide``)."""
    key = (trigger, state, context)
    try:
        return DECISIONS[key]
    except KeyError:
        dest = DECISIONS[key] = decide(trigger, state, context)
        return dest


# -- devices --------------------------------------------------------------------------------------
class DeviceContext(NamedTuple):
    """What decides a device's capabilities (a device has no state of its own to move)."""

    do_not_disturb: bool = False
    forwarding: bool = False
    supervisor: bool = False
    monitoring: bool = False


class DeviceRow(TypedDict):
    trigger: DeviceOperation
    guards: list[str]


D = DeviceOperation
DEVICE_GUARDS: Final[Mapping[str, Callable[[DeviceContext], bool]]] = {
    "not_forwarding": lambda c: not c.forwarding,
    "forwarding": lambda c: c.forwarding,
    "dnd_off": lambda c: not c.do_not_disturb,
    "dnd_on": lambda c: c.do_not_disturb,
    "supervisor": lambda c: c.supervisor,
    "monitoring": lambda c: c.monitoring,
}

#: The device-level operations and when a device offers each, in the order GWS lists them.
#: Agent state operations (Ready, NotReady, ...) are always available and are no capability.
DEVICE_ROWS: Final[list[DeviceRow]] = [
    {"trigger": D.FORWARD_CALLS_ON, "guards": ["not_forwarding"]},
    {"trigger": D.FORWARD_CALLS_OFF, "guards": ["forwarding"]},
    {"trigger": D.DO_NOT_DISTURB_ON, "guards": ["dnd_off"]},
    {"trigger": D.DO_NOT_DISTURB_OFF, "guards": ["dnd_on"]},
    # a supervisor may start, or replace, monitoring at any time [doc: samples]
    {"trigger": D.LISTEN_IN, "guards": ["supervisor"]},
    {"trigger": D.COACH, "guards": ["supervisor"]},
    {"trigger": D.BARGE_IN, "guards": ["supervisor"]},
    {"trigger": D.CANCEL_SUPERVISOR_MONITORING, "guards": ["monitoring"]},
]


def _device_capabilities(context: DeviceContext) -> tuple[DeviceOperation, ...]:
    return tuple(
        row["trigger"]
        for row in DEVICE_ROWS
        if all(DEVICE_GUARDS[name](context) for name in row["guards"])
    )


#: device context -> its capabilities, in ``DEVICE_ROWS`` order (16 contexts, all worked out).
DEVICE_CAPABILITIES: Final[Mapping[DeviceContext, tuple[DeviceOperation, ...]]] = {
    context: _device_capabilities(context)
    for context in itertools.starmap(DeviceContext, itertools.product((False, True), repeat=4))
}
