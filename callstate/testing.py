"""Property-testing helpers for code built on callstate (needs hypothesis:
``pip install 'callstate[testing]'``).

- ``requests(call)``: a hypothesis strategy of ``(operation, params)`` that ``call`` accepts
  right now: an operation from its capabilities (most often one that moves the call on:
  consults, completions, swaps, retrieves) with valid parameters.
- ``bad_requests(call)``: a request ``call`` refuses (an operation it does not offer, a name
  that is none, or an offered one with a bad parameter).
- ``SwitchMachine``: a hypothesis ``RuleBasedStateMachine`` over a switch with a few devices and
  a far end, whose rules dial, ring, answer, act, misbehave and hang up, and which checks after
  every step that an operation succeeds if and only if it was offered, that a refusal changed
  nothing, and that its ``Projection`` agrees with the switch. Subclass it to add your own
  ``@invariant`` methods (``self.switch``, ``self.projection`` and ``self.events`` are there);
  ``SwitchMachine.TestCase`` runs it under pytest. ``performed`` (a class attribute) collects the
  operations that succeeded, for coverage checks.

The ``switch`` pytest fixture (a seeded ``Switch``) comes from ``callstate.pytest_plugin``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from .device import Call
from .enums import Operation, State
from .errors import CallStateError
from .events import Event
from .projection import Projection, User
from .switch import Switch

__all__ = ["PROGRESS", "SwitchMachine", "bad_requests", "requests", "valid_params"]

O = Operation
#: operations that move a call on: what ``requests`` draws most often when a call offers them
PROGRESS = frozenset(
    {
        O.ANSWER,
        O.HOLD,
        O.RETRIEVE,
        O.INITIATE_TRANSFER,
        O.INITIATE_CONFERENCE,
        O.COMPLETE_TRANSFER,
        O.COMPLETE_CONFERENCE,
        O.SWAP_CALLS,
        O.MUTE_CALL,
        O.START_CALL_RECORDING,
        O.PAUSE_CALL_RECORDING,
        O.SINGLE_STEP_CONFERENCE,
        O.REMOVE_PARTICIPANT_FROM_CONFERENCE,
    }
)
#: the operations a random drive reaches least: drawn first whenever a call offers one
_RARE = frozenset(
    {
        O.COMPLETE_TRANSFER,
        O.COMPLETE_CONFERENCE,
        O.SWAP_CALLS,
        O.RETRIEVE,
        O.REMOVE_PARTICIPANT_FROM_CONFERENCE,
        O.ANSWER,
    }
)
_DESTINATION = {
    O.SINGLE_STEP_TRANSFER,
    O.SINGLE_STEP_CONFERENCE,
    O.INITIATE_TRANSFER,
    O.INITIATE_CONFERENCE,
}
_OUTSIDE = ("+14155550100", "+442071234567")
_USER_DATA = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=6),
    st.text(max_size=8) | st.integers(0, 99),
    max_size=3,
)


def _reachable(call: Call, numbers: Sequence[str]) -> list[str]:
    """Destinations the call may be sent to: not its own device, not a party already on it."""
    taken = {call.device.dn, *call.participants}
    return [n for n in numbers if n not in taken]


def valid_params(
    call: Call, op: Operation, destinations: Sequence[str] = _OUTSIDE
) -> st.SearchStrategy[dict[str, Any]]:
    """Parameters ``op`` accepts on ``call`` as it is now (when ``call`` offers ``op``)."""
    if op is O.SEND_DTMF:
        return st.builds(lambda d: {"digits": d}, st.text("0123456789*#", min_size=1, max_size=6))
    if op in _DESTINATION:
        free = _reachable(call, destinations)
        if not free:
            return st.nothing()
        return st.sampled_from(free).map(lambda n: {"destination": {"phoneNumber": n}})
    if op is O.REMOVE_PARTICIPANT_FROM_CONFERENCE:
        return st.sampled_from(call.participants).map(lambda p: {"participant": p})
    if op is O.ATTACH_USER_DATA:
        own = set(call.user_data)
        fresh = _USER_DATA.map(lambda d: {k: v for k, v in d.items() if k not in own})
        return fresh.filter(bool).map(lambda d: {"userData": d})
    if op is O.UPDATE_USER_DATA:
        return _USER_DATA.filter(bool).map(lambda d: {"userData": d})
    if op is O.DELETE_USER_DATA_PAIR:
        return st.sampled_from(sorted(call.user_data)).map(lambda k: {"key": k})
    if op is O.SET_CALL_DISPOSITION:
        return st.sampled_from(["Sale", "NoSale", "Callback"]).map(lambda d: {"disposition": d})
    return st.just({})


def requests(
    call: Call, destinations: Sequence[str] = _OUTSIDE
) -> st.SearchStrategy[tuple[Operation, dict[str, Any]]]:
    """An ``(operation, params)`` ``call`` accepts now: from its capabilities, most often one
    that moves the call on (``PROGRESS``), with valid parameters."""
    offered = [op for op in call.capabilities if not _needs_missing(call, op, destinations)]
    if not offered:
        return st.nothing()
    rare = [op for op in offered if op in _RARE]
    consult = call.consult
    if consult is not None and not consult.answered and O.COMPLETE_TRANSFER in rare:
        rare.remove(O.COMPLETE_TRANSFER)  # let the consult be answered first, most often
    progress = [op for op in offered if op in PROGRESS]
    ops = st.sampled_from(offered)
    if progress:
        ops = st.one_of(st.sampled_from(progress), st.sampled_from(progress), ops)
    if rare:
        ops = st.one_of(st.sampled_from(rare), st.sampled_from(rare), ops)
    return ops.flatmap(lambda op: valid_params(call, op, destinations).map(lambda p: (op, p)))


def _needs_missing(call: Call, op: Operation, destinations: Sequence[str]) -> bool:
    return (op in _DESTINATION and not _reachable(call, destinations)) or (
        op is O.DELETE_USER_DATA_PAIR and not call.user_data
    )


def bad_requests(call: Call) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """A request ``call`` refuses: an operation it does not offer (or a name that is none), or an
    offered one with a parameter that is wrong."""
    unoffered = [op.value for op in Operation if op not in call.capabilities and op is not O.DIAL]
    unoffered = [
        name
        for name in unoffered
        if name not in ("SetCallDisposition", "MuteMonitoredUser", "UnmuteMonitoredUser")
    ]
    not_offered: st.SearchStrategy[tuple[str, dict[str, Any]]] = st.sampled_from(
        [*unoffered, "Frobnicate", "answer"]
    ).map(lambda n: (n, {}))
    offered = list(call.capabilities)
    if not offered:
        return not_offered
    typo = st.sampled_from(offered).map(lambda op: (op.value, {"bogus": 1}))
    return st.one_of(not_offered, typo)


class SwitchMachine(RuleBasedStateMachine):
    """A switch driven at random (see the module docstring). Class attributes to override:
    ``devices`` (DN -> features), ``outside`` (far-end numbers), ``seed``."""

    devices: ClassVar[dict[str, tuple[str, ...]]] = {
        "15000": ("mute", "recording"),
        "15001": ("mute",),
        "15002": (),
    }
    outside: ClassVar[tuple[str, ...]] = _OUTSIDE
    seed: ClassVar[int] = 1
    #: operations that succeeded, over every run of the class
    performed: ClassVar[set[Operation]] = set()

    def __init__(self) -> None:
        super().__init__()
        self.switch = Switch(seed=self.seed)
        self.projection = Projection()
        self.events: list[Event] = []
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)
        for dn, features in self.devices.items():
            self.projection.know(self.switch.add_device(dn, features=features).snapshot())

    # -- helpers -------------------------------------------------------------------------------
    def _observe(self) -> tuple[Any, ...]:
        return tuple(
            (c.id, c.state, c.capabilities, c.participants, c.user_data, c.mute)
            for c in self.switch.calls
        )

    def attempt(self, action: Callable[[], object], *, refused: bool | None) -> bool:
        """Run ``action``; ``refused`` True: it must be refused and change nothing; False: it
        must succeed; None: either. Returns whether it succeeded."""
        before, count = self._observe(), len(self.events)
        error: CallStateError | None = None
        try:
            action()
        except CallStateError as caught:
            error = caught
        if error is None:
            assert refused is not True, "a request that should be refused succeeded"
            return True
        assert refused is not False, f"refused although offered: {error}"
        assert self._observe() == before, "a refused request changed calls"
        assert len(self.events) == count, "a refused request emitted events"
        return False

    def _numbers(self) -> list[str]:
        return [*self.devices, *self.outside]

    # -- rules ---------------------------------------------------------------------------------
    @rule(data=st.data())
    def dial(self, data: st.DataObject) -> None:
        caller = data.draw(st.sampled_from(sorted(self.devices)))
        callee = data.draw(st.sampled_from([n for n in self._numbers() if n != caller]))
        self.attempt(lambda: self.switch.device(caller).dial(callee), refused=False)

    @rule(data=st.data())
    def far_end_calls(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(self.outside))
        to = data.draw(st.sampled_from(sorted(self.devices)))
        self.attempt(lambda: self.switch.external_call(number, to=to), refused=None)

    @rule(data=st.data())
    def far_end_acts(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(self.outside))
        act = data.draw(
            st.sampled_from(
                [self.switch.external_answer, self.switch.external_answer,
                 self.switch.external_busy, self.switch.external_hangup]
            )
        )  # fmt: skip
        self.attempt(lambda: act(number), refused=None)

    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        """An agent does something its call offers: it must succeed."""
        calls = self.switch.calls
        if not calls:
            return
        ringing = [c for c in calls if c.state is State.RINGING]  # agents answer, mostly
        busy = [c for c in calls if c.consult or c.parent or len(c.participants) > 1]
        pick = data.draw(st.sampled_from(["ringing", "ringing", "busy", "busy", "any"]))
        pool = {"ringing": ringing, "busy": busy}.get(pick) or list(calls)
        call = data.draw(st.sampled_from(pool))
        request = data.draw(st.none() | requests(call, self._numbers()))
        if request is None:
            return
        op, params = request
        if self.attempt(lambda: call.perform(op, **params), refused=False):
            type(self).performed.add(op)

    def _do(self, call: Call, op: Operation, **params: Any) -> bool:
        """``op`` on ``call`` if it offers it (then it must succeed)."""
        if op not in call.capabilities:
            return False
        done = self.attempt(lambda: call.perform(op, **params), refused=False)
        if done:
            type(self).performed.add(op)
        return done

    @rule(data=st.data())
    def consult_flow(self, data: st.DataObject) -> None:
        """An agent consults a colleague, who answers; then the agent completes a transfer or
        a conference, or swaps between the two calls and back (what random acts reach least)."""
        talking = [c for c in self.switch.calls if c.state is State.ESTABLISHED and not c.parent]
        if not talking:
            return
        parent = data.draw(st.sampled_from(talking))
        free = _reachable(parent, sorted(self.devices))
        if not free or parent.consult is not None:
            return
        target = data.draw(st.sampled_from(free))
        kind = data.draw(st.sampled_from([O.INITIATE_TRANSFER, O.INITIATE_CONFERENCE]))
        if not self._do(parent, kind, destination={"phoneNumber": target}):
            return
        consult = parent.consult
        ringing = [c for c in self.switch.device(target).calls if c.state is State.RINGING]
        if consult is None or not ringing:
            return
        self._do(ringing[-1], O.ANSWER)
        ending = data.draw(
            st.sampled_from([O.COMPLETE_TRANSFER, O.COMPLETE_CONFERENCE, O.SWAP_CALLS])
        )
        if ending is O.SWAP_CALLS:
            self._do(consult, O.SWAP_CALLS)
            self._do(parent, O.SWAP_CALLS)
        elif ending is not None:
            self._do(data.draw(st.sampled_from([parent, consult])), ending)
            if ending is O.COMPLETE_CONFERENCE and parent.participants:
                first = parent.participants[0]
                self._do(parent, O.REMOVE_PARTICIPANT_FROM_CONFERENCE, participant=first)

    @rule(data=st.data())
    def hold_mute_record(self, data: st.DataObject) -> None:
        """An agent holds a call and takes it back, mutes it, records it (as the device
        allows)."""
        talking = [c for c in self.switch.calls if c.state is State.ESTABLISHED]
        if not talking:
            return
        call = data.draw(st.sampled_from(talking))
        what = data.draw(st.sampled_from(["hold", "mute", "record"]))
        if what == "hold" and self._do(call, O.HOLD):
            self._do(call, O.RETRIEVE)
        elif what == "mute":
            self._do(call, O.MUTE_CALL) or self._do(call, O.UNMUTE_CALL)
        elif what == "record" and self._do(call, O.START_CALL_RECORDING):
            self._do(call, O.PAUSE_CALL_RECORDING)

    @rule(data=st.data())
    def consult_flow_again(self, data: st.DataObject) -> None:
        """``consult_flow`` once more: consults are what random drives reach least."""
        self.consult_flow(data)

    @rule(data=st.data())
    def act_again(self, data: st.DataObject) -> None:
        """``act`` once more: acting on calls is most of what a drive should do."""
        self.act(data)

    @rule(data=st.data())
    def misbehave(self, data: st.DataObject) -> None:
        """An agent asks for something its call refuses: nothing may change."""
        calls = self.switch.calls
        if not calls:
            return
        call = data.draw(st.sampled_from(calls))
        name, params = data.draw(bad_requests(call))
        self.attempt(lambda: call.perform(name, **params), refused=True)  # type: ignore[arg-type]

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    def projection_agrees(self) -> None:
        listed = self.projection.get_calls(User.admin())["calls"]
        assert [(c["id"], c["state"]) for c in listed] == [
            (c.id, c.state.value) for c in self.switch.calls
        ]

    @invariant()
    def no_released_leg_is_live(self) -> None:
        assert all(c.state is not State.RELEASED for c in self.switch.calls)
