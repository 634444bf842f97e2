"""Property-testing helpers for code built on callstate (needs hypothesis:
``pip install 'callstate[testing]'``).

- ``requests(call)``: a hypothesis strategy of ``(operation, params)`` that ``call`` accepts
  right now: an operation it offers (its capabilities, and those allowed but never listed:
  ``SetCallDisposition``, and ``Mute``/``UnmuteMonitoredUser`` on a supervisor's leg in BargeIn),
  most often one that moves the call on (consults, completions, swaps, retrieves; on a
  supervisor's leg, switching mode and muting the monitored agent), with valid parameters.
- ``bad_requests(call)``: a request ``call`` refuses (an operation it does not offer, a name
  that is none, or an offered one with a bad parameter).
- ``supervision_requests(device, targets)``: a device request a supervisor's ``device`` accepts
  right now: ``ListenIn``, ``Coach`` or ``BargeIn`` of one of ``targets`` (its scope and
  monitoring mode each given or not), or ``CancelSupervisorMonitoring`` while it monitors.
- ``bad_device_requests(device)``: a device request ``device`` refuses (a device operation it
  does not offer, a name that is none, or an offered one with a bad parameter).
- ``SwitchMachine``: a hypothesis ``RuleBasedStateMachine`` over a switch with a few agents'
  devices, a supervisor's device and a far end, whose rules dial, ring, answer, act, consult,
  hold, mute, record, attach user data, change agents' devices (agent state, do-not-disturb,
  forwarding), supervise (listen in, coach, barge in, switch mode, mute the monitored agent),
  misbehave and hang up, and which checks after every step that an operation — on a call or
  on a device — succeeds if and only if it was offered, that a refusal changed nothing and
  emitted nothing, that supervisors' legs show the parties of the calls they monitor and
  monitored legs the flags of the supervisors who joined them, and that its ``Projection``
  agrees with the switch.
  Subclass it to add your own ``@invariant`` methods (``self.switch``, ``self.projection``,
  ``self.events`` and ``self.supervisor_devices`` are there); ``SwitchMachine.TestCase`` runs it
  under pytest. ``performed``, ``operated`` and ``joined`` (class attributes) collect the call
  operations and the device operations that succeeded and the modes supervisors' legs were
  answered in, for coverage checks.

The ``switch`` pytest fixture (a seeded ``Switch``) comes from ``callstate.pytest_plugin``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from .device import Call, Device
from .enums import AgentState, DeviceOperation, Operation, State, SupervisionMode
from .errors import CallStateError
from .events import Event
from .projection import DEFAULT_FORM, Form, Projection, User
from .switch import Switch

__all__ = [
    "PROGRESS",
    "SwitchMachine",
    "bad_device_requests",
    "bad_requests",
    "requests",
    "supervision_requests",
    "valid_params",
]

O = Operation
D = DeviceOperation
_T = TypeVar("_T")
#: what only a supervisor's leg does: switch mode, mute and unmute the monitored agent
_SUPERVISING = frozenset(
    {O.SWITCH_TO_LISTEN_IN, O.SWITCH_TO_BARGE_IN, O.MUTE_MONITORED_USER, O.UNMUTE_MONITORED_USER}
)
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
        O.RESUME_CALL_RECORDING,
        O.STOP_CALL_RECORDING,
        O.SINGLE_STEP_TRANSFER,
        O.SINGLE_STEP_CONFERENCE,
        O.CLEAR_CALL,
        O.REMOVE_PARTICIPANT_FROM_CONFERENCE,
        *_SUPERVISING,
    }
)
#: the operations a random drive reaches least: drawn first whenever a call offers one (on a
#: supervisor's leg, those only it does come first)
_RARE = frozenset(
    {
        O.COMPLETE_TRANSFER,
        O.COMPLETE_CONFERENCE,
        O.SWAP_CALLS,
        O.RETRIEVE,
        O.REMOVE_PARTICIPANT_FROM_CONFERENCE,
        O.ANSWER,
        *_SUPERVISING,
    }
)
_DESTINATION = {
    O.SINGLE_STEP_TRANSFER,
    O.SINGLE_STEP_CONFERENCE,
    O.INITIATE_TRANSFER,
    O.INITIATE_CONFERENCE,
}
#: the device operations that start monitoring, one per mode
_SUPERVISE = (D.LISTEN_IN, D.COACH, D.BARGE_IN)
#: a supervision request's scope and monitoring mode: each given (either value) or not
_SCOPES = ((), (("supervisorMonitoringScope", "Call"),), (("supervisorMonitoringScope", "Agent"),))
_MONITORING_MODES = (
    (),
    (("supervisorMonitoringMode", "AllCalls"),),
    (("supervisorMonitoringMode", "NextCall"),),
)
_OUTSIDE = ("+14155550100", "+442071234567")
#: what follows a started recording (``SwitchMachine.hold_mute_record``)
_RECORDING_THEN = (
    (O.PAUSE_CALL_RECORDING,),
    (O.PAUSE_CALL_RECORDING, O.RESUME_CALL_RECORDING),
    (O.PAUSE_CALL_RECORDING, O.RESUME_CALL_RECORDING, O.STOP_CALL_RECORDING),
    (O.STOP_CALL_RECORDING,),
    (O.PAUSE_CALL_RECORDING, O.STOP_CALL_RECORDING),
)
#: how attached user data ends (after an update): a key deleted, all deleted, or kept
_USER_DATA_THEN = (O.DELETE_USER_DATA_PAIR, O.DELETE_USER_DATA, None)
#: the choices of a supervisor's turn (``SwitchMachine.supervise``), drawn at once: whether it
#: asks its device (else only when it has no leg), places a call to monitor, aims at an agent on
#: a call it has not joined, answers a leg it is offered, acts on another leg than the one it
#: answered or one that joined, asks twice, hangs up
_SUPERVISOR_TURNS = st.sampled_from(
    list(
        itertools.product(
            (False, True),
            (False, True),
            (False, True, True, True),
            (False, True, True, True),
            (True, False, False, False),
            (False, True),
            (True, False, False),
        )
    )
)
#: the first DN the supervisors' devices of a ``SwitchMachine`` get (then the next free ones)
_FIRST_SUPERVISOR = 19000
_USER_DATA = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=6),
    st.text(max_size=8) | st.integers(0, 99),
    max_size=3,
)


def _pick(data: st.DataObject, items: Sequence[_T]) -> _T:
    """One of ``items`` (drawn, unless there is only one)."""
    return items[0] if len(items) == 1 else data.draw(st.sampled_from(items))


def _reachable(call: Call, numbers: Sequence[str]) -> list[str]:
    """Destinations the call may be sent to: not its own device, not a party already on it."""
    taken = {call.device.dn, *call.participants}
    return [n for n in numbers if n not in taken]


def _removable(call: Call) -> list[str]:
    """The parties ``RemoveParticipantFromConference`` on ``call`` may remove: those of its call
    (for a supervisor's leg, of the call it monitors) and the supervisors barged in on it,
    other than itself."""
    watch = call.watch
    parties = call.connection if watch is None else watch.call
    barged = [
        m.device.dn
        for m in parties.monitors
        if m.id != call.id and m.answered and m.watch and m.watch.mode is SupervisionMode.BARGE_IN
    ]
    return [
        p if isinstance(p, str) else p.device.dn
        for p in parties
        if isinstance(p, str) or p.id != call.id
    ] + barged


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
        return st.sampled_from(_removable(call)).map(lambda p: {"participant": p})
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


def _offered(call: Call) -> list[Operation]:
    """What ``call`` may be asked: its capabilities, then the operations allowed but never
    listed (``SetCallDisposition``, ``Mute``/``UnmuteMonitoredUser``)."""
    listed = call.capabilities
    return [*listed, *sorted(O(name) for name in call.offered.difference(listed))]


def requests(
    call: Call, destinations: Sequence[str] = _OUTSIDE
) -> st.SearchStrategy[tuple[Operation, dict[str, Any]]]:
    """An ``(operation, params)`` ``call`` accepts now: from what it offers (its capabilities and
    the operations allowed but not listed), most often one that moves the call on
    (``PROGRESS``), with valid parameters."""
    return _requests(call, destinations, frozenset())


def _requests(
    call: Call, destinations: Sequence[str], skip: frozenset[Operation]
) -> st.SearchStrategy[tuple[Operation, dict[str, Any]]]:
    """``requests``, never drawing an operation of ``skip``."""
    offered = [
        op for op in _offered(call) if op not in skip and not _needs_missing(call, op, destinations)
    ]
    if not offered:
        return st.nothing()
    rare = [op for op in offered if op in _RARE]
    if call.watch is not None:  # a supervisor's leg: what only it does, first
        rare = [op for op in rare if op in _SUPERVISING] or rare
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
    return (
        (op in _DESTINATION and not _reachable(call, destinations))
        or (op is O.DELETE_USER_DATA_PAIR and not call.user_data)
        or (op is O.REMOVE_PARTICIPANT_FROM_CONFERENCE and not _removable(call))
    )


def bad_requests(call: Call) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """A request ``call`` refuses: an operation it does not offer (or a name that is none), or an
    offered one with a parameter that is wrong."""
    unoffered = [op.value for op in Operation if op not in call.offered and op is not O.DIAL]
    not_offered: st.SearchStrategy[tuple[str, dict[str, Any]]] = st.sampled_from(
        [*unoffered, "Frobnicate", "answer"]
    ).map(lambda n: (n, {}))
    offered = list(call.capabilities)
    if not offered:
        return not_offered
    typo = st.sampled_from(offered).map(lambda op: (op.value, {"bogus": 1}))
    return st.one_of(not_offered, typo)


def supervision_requests(
    device: Device, targets: Sequence[Device]
) -> st.SearchStrategy[tuple[DeviceOperation, dict[str, Any]]]:
    """A ``(device operation, params)`` a supervisor's ``device`` accepts now: ``ListenIn``,
    ``Coach`` or ``BargeIn`` of one of ``targets`` other than ``device`` (named by its id, a URI
    ending with it or its DN; the scope and the monitoring mode each given or not), or, one time
    in four, ``CancelSupervisorMonitoring`` while it monitors. Nothing for an agent's device (it
    supervises nobody)."""
    offered = device.snapshot().capabilities
    uris = [
        uri
        for t in targets
        if t is not device
        for uri in (t.id, f"http://localhost:8080/api/v2/devices/{t.id}", t.dn)
    ]
    asks: list[tuple[DeviceOperation, tuple[tuple[str, str], ...]]] = [
        (op, (("targetDeviceUri", uri), *scope, *mode))
        for op in _SUPERVISE
        if op in offered
        for uri in uris
        for scope in _SCOPES
        for mode in _MONITORING_MODES
    ]
    if D.CANCEL_SUPERVISOR_MONITORING in offered:
        asks += [(D.CANCEL_SUPERVISOR_MONITORING, ())] * max(1, len(asks) // 3)
    return st.sampled_from(asks).map(lambda ask: (ask[0], dict(ask[1]))) if asks else st.nothing()


def bad_device_requests(device: Device) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """A device request ``device`` refuses: a device operation it does not offer (``ListenIn``
    on an agent's device, ``CancelSupervisorMonitoring`` when it monitors nobody, ...) or a name
    that is none, or an offered one (or an agent state) with a parameter that is wrong: unknown,
    missing, or naming the device itself or no device."""
    offered = device.snapshot().capabilities
    unoffered = [op.value for op in DeviceOperation if op not in offered]
    bad: list[tuple[str, dict[str, Any]]] = [
        (name, {}) for name in (*unoffered, "Frobnicate", "listenIn", "Answer")
    ]
    bad.append((AgentState.READY.value, {"bogus": 1}))
    for op in offered:
        bad.append((op.value, {"bogus": 1}))
        if op in _SUPERVISE:
            bad += [
                (op.value, {}),
                (op.value, {"targetDeviceUri": device.id}),
                (op.value, {"targetDeviceUri": "nobody"}),
                (op.value, {"targetDeviceUri": "x", "supervisorMonitoringScope": "Team"}),
                (op.value, {"targetDeviceUri": "x", "supervisorMonitoringMode": "Sometimes"}),
            ]
        elif op is D.FORWARD_CALLS_ON:
            bad += [(op.value, {}), (op.value, {"forwardTo": device.dn})]
            bad.append((op.value, {"forwardTo": "nowhere"}))
    return st.sampled_from(bad)


class SwitchMachine(RuleBasedStateMachine):
    """A switch driven at random (see the module docstring). Class attributes to override:

    - ``devices``: the agents' devices, DN -> features (``"mute"``, ``"recording"``);
    - ``supervisors``: how many supervisors' devices monitor the agents (DNs 19000, 19001, ...,
      skipping those taken); ``0`` turns supervision off (no supervisor's device, and no
      supervising rule runs); ``supervisor_skips``: operations their legs are never asked
      (none by default);
    - ``outside``: the far end's numbers; ``seed``: the switch's seed;
    - ``form``: the call resource form ``self.projection`` answers in (default 8.5.0).

    ``make_switch`` (a method) builds the switch: override it to give it a clock or a log, and
    ``observe`` to add your own state to what a refusal must leave as it was.

    ``performed``, ``operated`` and ``joined`` collect, over every run of the class, the call
    operations and the device operations that succeeded and the modes supervisors' legs were
    answered in (``SupervisionMode``); declare them again in a subclass to count its runs
    alone."""

    devices: ClassVar[dict[str, tuple[str, ...]]] = {
        "15000": ("mute", "recording"),
        "15001": ("mute",),
        "15002": (),
    }
    supervisors: ClassVar[int] = 1
    #: what supervisors' legs are never asked although offered (to keep a run to what your
    #: own code handles)
    supervisor_skips: ClassVar[frozenset[Operation]] = frozenset()
    outside: ClassVar[tuple[str, ...]] = _OUTSIDE
    seed: ClassVar[int] = 1
    form: ClassVar[Form] = DEFAULT_FORM
    #: call operations that succeeded, over every run of the class
    performed: ClassVar[set[Operation]] = set()
    #: device operations that succeeded, over every run of the class
    operated: ClassVar[set[DeviceOperation]] = set()
    #: the modes supervisors' legs were answered (joined their calls) in
    joined: ClassVar[set[SupervisionMode]] = set()

    def __init__(self) -> None:
        super().__init__()
        self.switch = self.make_switch()
        self.projection = Projection(self.switch.base_uri, form=self.form)
        self.events: list[Event] = []
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)
        for dn, features in self.devices.items():
            self.projection.know(self.switch.add_device(dn, features=features).snapshot())
        #: the supervisors' devices (``supervisors`` of them), in DN order
        self.supervisor_devices: tuple[Device, ...] = tuple(
            self.switch.add_device(dn, role="supervisor") for dn in self._supervisor_dns()
        )
        for device in self.supervisor_devices:
            self.projection.know(device.snapshot())

    def make_switch(self) -> Switch:
        """The switch a run drives, before any device is on it: ``Switch(seed=self.seed)``."""
        return Switch(seed=self.seed)

    # -- helpers -------------------------------------------------------------------------------
    def _supervisor_dns(self) -> list[str]:
        """The supervisors' DNs: the first free ones from 19000 on."""
        taken = {*self.devices, *self.outside}
        dns: list[str] = []
        number = _FIRST_SUPERVISOR
        while len(dns) < self.supervisors:
            if str(number) not in taken:
                dns.append(str(number))
            number += 1
        return dns

    def observe(self) -> tuple[Any, ...]:
        """What a refused request must leave as it was: every live leg (id, state, capabilities,
        participants, user data, mute) and every device's snapshot. Extend it (with
        ``super().observe()``) to add state of your own."""
        legs = tuple(
            (c.id, c.state, c.capabilities, c.participants, c.user_data, c.mute)
            for c in self.switch.calls
        )
        return legs, tuple(d.snapshot() for d in self.switch.devices)

    def attempt(self, action: Callable[[], object], *, refused: bool | None) -> bool:
        """Run ``action``; ``refused`` True: it must be refused and change nothing; False: it
        must succeed; None: either. Returns whether it succeeded."""
        before, count = self.observe(), len(self.events)
        error: CallStateError | None = None
        try:
            action()
        except CallStateError as caught:
            error = caught
        if error is None:
            assert refused is not True, "a request that should be refused succeeded"
            return True
        assert refused is not False, f"refused although offered: {error}"
        assert self.observe() == before, "a refused request changed calls or devices"
        assert len(self.events) == count, "a refused request emitted events"
        return False

    def _numbers(self) -> list[str]:
        return [*self.devices, *self.outside]

    def _destinations(self) -> list[str]:
        """The numbers a call may be transferred or conferenced to in one step: no device in
        do-not-disturb (the switch refuses it: busy), nor one forwarding (to where it may not)."""
        devices = {d.dn: d.snapshot() for d in self.switch.devices}
        return [
            n
            for n in self._numbers()
            if n not in devices or not (devices[n].do_not_disturb or devices[n].forward_to)
        ]

    def _agent_calls(self) -> list[Call]:
        """The live legs on agents' devices (a supervisor's legs have rules of their own)."""
        return [c for c in self.switch.calls if c.device.dn in self.devices]

    def _record(self, call: Call, op: Operation) -> None:
        """Note that ``op`` succeeded on ``call`` (and, for an answer, the mode a supervisor's
        leg joined in)."""
        machine = type(self)
        machine.performed.add(op)
        watch = call.watch
        if op is O.ANSWER and watch is not None:
            machine.joined.add(watch.mode)

    def _do(self, call: Call, op: Operation, **params: Any) -> bool:
        """``op`` on ``call`` if it offers it (then it must succeed)."""
        if op not in call.offered:
            return False
        done = self.attempt(lambda: call.perform(op, **params), refused=False)
        if done:
            self._record(call, op)
        return done

    def _perform(self, call: Call, request: tuple[Operation, dict[str, Any]]) -> None:
        """A request drawn from ``requests(call)``: it must succeed."""
        op, params = request
        if self.attempt(lambda: call.perform(op, **params), refused=False):
            self._record(call, op)

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
        calls = self._agent_calls()
        if not calls:
            return
        ringing = [c for c in calls if c.state is State.RINGING]  # agents answer, mostly
        busy = [c for c in calls if c.consult or c.parent or len(c.participants) > 1]
        pick = data.draw(st.sampled_from(["ringing", "ringing", "busy", "busy", "any"]))
        pool = {"ringing": ringing, "busy": busy}.get(pick) or calls
        call = data.draw(st.sampled_from(pool))
        request = data.draw(st.none() | requests(call, self._destinations()))
        if request is not None:
            self._perform(call, request)

    @rule(data=st.data())
    def consult_flow(self, data: st.DataObject) -> None:
        """An agent consults a colleague, who answers; then the agent completes a transfer or
        a conference (then, mostly, removes a party or clears it), or swaps between the two
        calls and back (then may hold both, and take one back): what random acts reach least."""
        talking = [c for c in self._agent_calls() if c.state is State.ESTABLISHED and not c.parent]
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
            active = parent if parent.state is State.ESTABLISHED else consult
            if data.draw(st.booleans()) and self._do(active, O.HOLD):  # both held
                back = data.draw(st.sampled_from([parent, consult, None]))
                if back is not None:  # one back at once, or left for later steps
                    self._do(back, O.RETRIEVE)
        elif ending is not None:
            self._do(data.draw(st.sampled_from([parent, consult])), ending)
            owner = parent if parent.state is not State.RELEASED else None
            if ending is O.COMPLETE_CONFERENCE and owner is not None and owner.participants:
                # then one party is removed, or the whole conference is cleared, or (most
                # often) the conference goes on
                last = data.draw(
                    st.sampled_from(
                        [O.REMOVE_PARTICIPANT_FROM_CONFERENCE, O.CLEAR_CALL, None, None]
                    )
                )
                if last is O.CLEAR_CALL:
                    self._do(owner, O.CLEAR_CALL)
                elif last is not None:
                    first = owner.participants[0]
                    self._do(owner, O.REMOVE_PARTICIPANT_FROM_CONFERENCE, participant=first)

    @rule(data=st.data())
    def hold_mute_record(self, data: st.DataObject) -> None:
        """An agent holds a call and takes it back, mutes or unmutes it, records
        it (then pauses, resumes or stops: as the device allows, most often on a call whose
        device does), or attaches user data (then updates it, deletes a key or all of it)."""
        talking = [c for c in self._agent_calls() if c.state is State.ESTABLISHED]
        if not talking:
            return
        what = data.draw(st.sampled_from(["hold", "mute", "record", "record", "data"]))
        able = {
            "hold": (O.HOLD,),
            "mute": (O.MUTE_CALL, O.UNMUTE_CALL),
            "record": (O.START_CALL_RECORDING, O.PAUSE_CALL_RECORDING, O.RESUME_CALL_RECORDING),
            "data": (O.ATTACH_USER_DATA,),
        }[what]
        allowed = [c for c in talking if any(op in c.capabilities for op in able)]
        call = data.draw(st.sampled_from(allowed or talking))
        then: tuple[Operation, ...] = ()
        if what == "hold" and self._do(call, O.HOLD):
            then = (O.RETRIEVE,)
        elif what == "mute":
            self._mute(data, call, talking)
        elif what == "record":  # started, or going on already: then what may follow
            self._do(call, O.START_CALL_RECORDING)
            then = data.draw(st.sampled_from(_RECORDING_THEN))
        elif what == "data":
            self._user_data(data, call)
        for op in then:
            self._do(call, op)

    def _mute(self, data: st.DataObject, call: Call, talking: list[Call]) -> None:
        """Unmute one of the muted calls among ``talking``, or mute ``call`` (mostly, a muted
        call stays so a while)."""
        muted = [c for c in talking if O.UNMUTE_CALL in c.capabilities]
        unmute = data.draw(st.booleans()) if muted else False
        if unmute:
            self._do(data.draw(st.sampled_from(muted)), O.UNMUTE_CALL)
        elif self._do(call, O.MUTE_CALL):
            if data.draw(st.integers(0, 2)) == 0:
                self._do(call, O.UNMUTE_CALL)  # at once, one time in three
        else:
            self._do(call, O.UNMUTE_CALL)

    def _user_data(self, data: st.DataObject, call: Call) -> None:
        """Attach user data to ``call`` (or update it), then update it, and delete a key or all
        of it, or leave it."""
        fresh = {k: v for k, v in (("x", 1), ("y", "z")) if k not in call.user_data}
        attached = bool(fresh) and self._do(call, O.ATTACH_USER_DATA, userData=fresh)
        if not (attached or self._do(call, O.UPDATE_USER_DATA, userData={"x": 2})):
            return
        ending = data.draw(st.sampled_from(_USER_DATA_THEN))
        self._do(call, O.UPDATE_USER_DATA, userData={"y": "w"})
        if ending is O.DELETE_USER_DATA_PAIR:
            self._do(call, ending, key="x")
        elif ending is O.DELETE_USER_DATA:
            self._do(call, ending)

    @rule(data=st.data())
    def agent_device(self, data: st.DataObject) -> None:
        """An agent's device changes: its agent state, or do-not-disturb or forwarding on (and,
        most often, off again at once, so that calls reach it again). What it asks is offered
        and must succeed."""
        device = self.switch.device(data.draw(st.sampled_from(sorted(self.devices))))
        offered = device.snapshot().capabilities
        asks: list[tuple[DeviceOperation | AgentState, dict[str, Any]]] = [
            (state, {}) for state in AgentState
        ]
        if D.DO_NOT_DISTURB_ON in offered:
            asks.append((D.DO_NOT_DISTURB_ON, {}))
        if D.FORWARD_CALLS_ON in offered:
            elsewhere = [n for n in self._numbers() if n != device.dn]
            asks += [(D.FORWARD_CALLS_ON, {"forwardTo": n}) for n in elsewhere]
        asks += [(op, {}) for op in (D.DO_NOT_DISTURB_OFF, D.FORWARD_CALLS_OFF) if op in offered]
        op, params = data.draw(st.sampled_from(asks))
        self._operate(device, op, params)
        undo = {D.DO_NOT_DISTURB_ON: D.DO_NOT_DISTURB_OFF, D.FORWARD_CALLS_ON: D.FORWARD_CALLS_OFF}
        if isinstance(op, DeviceOperation) and op in undo and data.draw(st.booleans()):
            self._operate(device, undo[op], {})

    def _operate(
        self, device: Device, op: DeviceOperation | AgentState, params: dict[str, Any]
    ) -> None:
        """A device request ``device`` offers: it must succeed."""
        done = self.attempt(lambda: device.operate(op, **params), refused=False)
        if done and isinstance(op, DeviceOperation):
            type(self).operated.add(op)

    @rule(data=st.data())
    def consult_flow_again(self, data: st.DataObject) -> None:
        """``consult_flow`` once more: consults are what random drives reach least."""
        self.consult_flow(data)

    @rule(data=st.data())
    def act_again(self, data: st.DataObject) -> None:
        """``act`` once more: acting on calls is most of what a drive should do."""
        self.act(data)

    @precondition(lambda self: bool(self.supervisor_devices))
    @rule(data=st.data())
    def supervise(self, data: st.DataObject) -> None:
        """A supervisor's turn; everything it asks is offered and must succeed.

        Its device starts monitoring an agent (``ListenIn``, ``Coach`` or ``BargeIn``, in any
        scope and monitoring mode; most often an agent on a call it has not joined — when no
        agent is, one time in two an agent makes a call, answered) or cancels: always when it
        has no leg, else one time in two. It answers a leg it is offered (joining that call),
        mostly. Then a leg of it — the one it answered, or one that joined before, most often —
        does one or two things it offers, most often what only a supervisor's leg does
        (``SwitchToListenIn``, ``SwitchToBargeIn``, ``Mute``/``UnmuteMonitoredUser``) and never
        one of ``supervisor_skips``; and one time in three it hangs up."""
        boss = _pick(data, self.supervisor_devices)
        monitor, place, aim, answer, other, twice, hangup = data.draw(_SUPERVISOR_TURNS)
        if monitor or not boss.calls:
            self._monitor(boss, data, place=place, aim=aim)
        call: Call | None = None
        ringing = [c for c in boss.calls if c.state is State.RINGING]
        if ringing and answer:
            call = _pick(data, ringing)
            if not self._do(call, O.ANSWER):
                call = None
        if call is None or other:
            legs = boss.calls
            joined = [c for c in legs if c.watch is not None and c.state is State.ESTABLISHED]
            pool = joined if joined and not other else legs
            if not pool:
                return
            call = _pick(data, pool)
        for _ in range(2 if twice else 1):
            if call.state is State.RELEASED:
                return
            request = data.draw(_requests(call, self._destinations(), self.supervisor_skips))
            self._perform(call, request)
            if request[0] is O.MUTE_MONITORED_USER and data.draw(st.booleans()):
                self._do(call, O.UNMUTE_MONITORED_USER)  # the agent is heard again
        if call.state is not State.RELEASED and hangup:
            self._do(call, O.HANGUP)

    def _monitor(self, boss: Device, data: st.DataObject, *, place: bool, aim: bool) -> None:
        """``boss`` asks a supervision request its device offers: with ``aim``, of an agent on
        a call it has not joined (so that it is offered a leg on that call), if one is — or, with
        ``place``, once an agent has made one, answered."""
        agents = [self.switch.device(dn) for dn in sorted(self.devices)]
        unjoined = self._unjoined(boss, agents) if aim else []
        if aim and place and not unjoined:
            caller, callee = data.draw(
                st.sampled_from([(a, n) for a in agents for n in self._numbers() if n != a.dn])
            )
            placed: list[Call] = []
            self.attempt(lambda: placed.append(caller.dial(callee)), refused=False)
            ringing = [c for c in self.switch.calls if c.state is State.RINGING]
            answering = [c for c in ringing if placed[0].device.dn in c.participants]
            if answering:  # a device (the callee, or the one it forwards to) answers
                self._do(answering[-1], O.ANSWER)
            elif placed[0].state is State.DIALING:  # an outside number (or forwarded to one)
                self.attempt(lambda: self.switch.external_answer(placed[0]), refused=None)
            unjoined = self._unjoined(boss, agents)
        op, params = data.draw(supervision_requests(boss, unjoined or agents))
        if self.attempt(lambda: boss.operate(op, **params), refused=False):
            type(self).operated.add(op)

    @staticmethod
    def _unjoined(boss: Device, agents: list[Device]) -> list[Device]:
        """The agents on an established call that ``boss`` has not joined."""
        return [
            agent
            for agent in agents
            if any(
                c.state is State.ESTABLISHED
                and not any(m.device.dn == boss.dn and m.answered for m in c.connection.monitors)
                for c in agent.calls
            )
        ]

    @rule(data=st.data())
    def misbehave(self, data: st.DataObject) -> None:
        """A user asks for something refused: an operation its call does not offer (or with a
        bad parameter), a device operation its device does not offer (likewise), or a call to
        its own device. Nothing may change."""
        calls = self.switch.calls
        what = data.draw(st.integers(0, 8))
        if calls and what < 6:
            call = data.draw(st.sampled_from(calls))
            name, params = data.draw(bad_requests(call))
            self.attempt(lambda: call.perform(name, **params), refused=True)  # type: ignore[arg-type]
            return
        device = data.draw(st.sampled_from(self.switch.devices))
        if what == 8:
            self.attempt(lambda: device.dial(device.dn), refused=True)
            return
        name, params = data.draw(bad_device_requests(device))
        self.attempt(lambda: device.operate(name, **params), refused=True)  # type: ignore[arg-type]

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

    @invariant()
    def supervisors_legs_show_their_calls(self) -> None:
        """A supervisor's leg is among the monitors of the call it monitors and, while the
        monitored agent's leg lives, shows that call's parties."""
        for leg in self.switch.calls:
            watch = leg.watch
            if watch is None:  # not a supervisor's leg (or a call made from one)
                continue
            watched = watch.watched
            assert watched is not None
            assert leg.id in {m.id for m in watch.call.monitors}
            if watched.state is not State.RELEASED:
                parties = tuple(p if isinstance(p, str) else p.device.dn for p in watch.call)
                assert leg.participants == parties

    @invariant()
    def monitored_flags_match_the_joined_supervisors(self) -> None:
        """As the projection last heard of it, every leg but a supervisor's shows
        ``monitoring`` when a supervisor's leg joined for it, and ``supervisor_listening_in``
        when one of those listens in (ListenIn or Coach); a supervisor's leg shows
        ``monitored_user_muted`` when it muted the monitored agent."""
        shown = {snapshot.id: snapshot for snapshot in self.projection.snapshots}
        for leg in self.switch.calls:
            snapshot = shown[leg.id]
            watch = leg.watch
            if watch is not None:
                assert snapshot.monitored_user_muted is watch.muted
                continue
            joined = [
                m.watch.mode
                for m in leg.connection.monitors
                if m.answered
                and m.watch is not None
                and m.watch.watched is not None
                and m.watch.watched.id == leg.id
            ]
            assert snapshot.monitoring is bool(joined)
            listening = any(mode is not SupervisionMode.BARGE_IN for mode in joined)
            assert snapshot.supervisor_listening_in is listening
