"""The engine: every leg, every connection, and every move that changes them.

Theory of operation
-------------------
A *leg* (``Leg``) is one call as one agent sees it: a state, a context, and the capabilities
the table derives from both. A *connection* is the call in the switch's sense: the parties
talking to each other, each a leg on a device of the switch (a ``Line``) or an outside number.
A leg's participants are the other parties of its connection.

The engine is the only code that changes legs and connections. Its methods are the package's
moves: fire one table row on a leg (``fire``), add a leg or an outside party, let a party leave
and settle what that means for the others (``leave``, ``settle``), connect everyone waiting on
an answered call (``answered``), join a consult call into its parent (``merge``), and set a leg's
flags. Each move queues the events it causes: one ``StateChanged`` when a leg's state changes,
else one event naming what did change. The table (``callstate.table``) says whether and where
a leg moves; the engine says which legs a move touches.

The engine checks nothing a user sent: ``callstate.requests`` does that before any move, so a
refused request changes nothing. A request is ``begin()`` (read the clock once), moves, then
``commit()``: the queued events go to the recorder (the log), then to the bus.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol

from .bus import Bus
from .enums import (
    AgentState,
    CallType,
    ConferenceRole,
    DeviceRole,
    Feature,
    MonitoringMode,
    Mute,
    NetworkEvent,
    Operation,
    PairRole,
    RecordingState,
    State,
    SupervisionMode,
    SupervisionScope,
)
from .errors import (
    CallNotFoundError,
    DeviceNotFoundError,
    InvalidParameterError,
    LogWriteError,
    shown,
)
from .events import (
    CallEvent,
    CallSnapshot,
    CapabilitiesChanged,
    DeviceSnapshot,
    DeviceStateChanged,
    Event,
    MuteChanged,
    ParticipantsChanged,
    StateChanged,
    Supervision,
    SupervisionChanged,
    UserData,
)
from .ids import IdGenerator
from .numbers import normalize
from .table import (
    CAPABILITIES,
    DECISIONS,
    DEVICE_CAPABILITIES,
    OFFERED,
    Context,
    DeviceContext,
    next_state,
)

__all__ = [
    "MAX_CLOCK",
    "Connection",
    "Engine",
    "Leg",
    "Line",
    "ManualClock",
    "Recorder",
    "Trigger",
]

Trigger = Operation | NetworkEvent

#: released legs a device keeps addressable, for SetCallDisposition only [ours]
KEPT_RELEASED: Final = 16
#: the furthest a clock reading may be from 0, in seconds (about 31,700 years)
MAX_CLOCK: Final = 1e12
_LOW, _HIGH = -MAX_CLOCK, MAX_CLOCK

_RELEASED: Final = State.RELEASED
_RINGING: Final = State.RINGING
_DIALING: Final = State.DIALING
_HELD: Final = State.HELD
_ESTABLISHED: Final = State.ESTABLISHED
_NO_FLAGS: Final = (False, False, False)
_RECORDING: Final = Feature.RECORDING
_MUTE: Final = Feature.MUTE
_ANSWERING: Final = frozenset({Operation.ANSWER, NetworkEvent.FAR_END_ANSWERED})
#: states of a leg that waits for the far end to answer (a ringing leg waits for its agent)
AWAITING_FAR_END: Final = frozenset({State.DIALING, State.HELD})
_NONE, _PARENT_PENDING, _PARENT_PAIRED, _CONSULT_PENDING, _CONSULT_PAIRED = (
    PairRole.NONE,
    PairRole.PARENT_PENDING,
    PairRole.PARENT_PAIRED,
    PairRole.CONSULT_PENDING,
    PairRole.CONSULT_PAIRED,
)
_NOT_CONFERENCE, _OWNER, _MEMBER = ConferenceRole.NONE, ConferenceRole.OWNER, ConferenceRole.MEMBER
#: recordingState -> the GSIP_RECORD value GWS attaches with it
_GSIP_RECORD: Final = {
    RecordingState.RECORDING: "ON",
    RecordingState.PAUSED: "PAUSED",
    RecordingState.STOPPED: "OFF",
}

_new: Final = tuple.__new__
#: kinds of undo entries
_LEG, _CONNECTION, _KEY, _ATTRIBUTE = "leg", "connection", "key", "attribute"
_MISSING: Final = object()
_Derived = tuple[Context, tuple[Operation, ...], frozenset[str]]
#: (state, *context fields) -> context and what it offers.
#: A handful of distinct keys exist; each is worked out once and shared by every leg.
_DERIVED: Final[dict[tuple[Any, ...], _Derived]] = {}


_UNDERIVED: Final[_Derived] = (Context(), (), frozenset())


def _derive(key: tuple[Any, ...]) -> _Derived:
    state, *flags = key
    context = Context(*flags)
    derived = _DERIVED[key] = (context, CAPABILITIES[state, context], OFFERED[state, context])
    return derived


class ManualClock:
    """A clock that reads ``now`` and moves only when told to (replays, scenarios, tests)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recorder(Protocol):
    """Where a committed request goes before its events are delivered (the event log)."""

    #: why the recorder cannot take another request (then requests are refused), else None
    failure: Exception | None

    def request(self, at: float, request: Mapping[str, Any], events: Iterable[Event]) -> None:
        """Keep one request; on an ``OSError`` it keeps nothing of it and sets ``failure``."""

    def recover(self) -> bool:
        """Try again to make room for a request after ``failure`` (e.g. a disk that was full);
        whether it can take one now (``failure`` is then None)."""


class Line:
    """A device as the engine knows it: its DN, id, features, role and live legs, and what an
    agent sets on it (agent state, do-not-disturb, forwarding, supervision). Read it; only the
    engine changes it."""

    __slots__ = (
        "dn",
        "do_not_disturb",
        "features",
        "forward_to",
        "id",
        "legs",
        "released",
        "role",
        "supervision",
        "user_state",
    )

    def __init__(
        self,
        dn: str,
        device_id: str,
        features: frozenset[Feature],
        role: DeviceRole = DeviceRole.AGENT,
    ) -> None:
        self.dn: Final = dn
        self.id: Final = device_id
        self.features: Final = features
        self.role: Final = role
        #: live legs on this device by id, oldest first (changed only by the engine)
        self.legs: dict[str, Leg] = {}
        #: ids of the most recently released legs, oldest first (for SetCallDisposition)
        self.released: deque[str] = deque(maxlen=KEPT_RELEASED)
        #: a device starts NotReady, without do-not-disturb, forwarding or supervision [ours]
        self.user_state = AgentState.NOT_READY
        self.do_not_disturb = False
        self.forward_to: str | None = None
        self.supervision: Supervision | None = None


class Connection(list["Leg | str"]):
    """A call in the switch's sense: the list of parties talking to each other, in joining
    order, each a leg on a device or an outside number. Read it freely; only the engine
    changes it. (It is the list itself, not an object holding one: a simulator keeps hundreds
    of thousands of these alive, and every object counts in a garbage collection.)
    """

    __slots__ = ("conn_id", "monitors", "owner", "supervised")

    def __init__(self, conn_id: str, parties: Iterable[Leg | str] = ()) -> None:
        super().__init__(parties)
        self.conn_id: Final = conn_id
        #: the leg that made this a conference (may remove parties and clear it)
        self.owner: Leg | None = None
        #: supervisors' legs on this call (not parties of it: they make no conference)
        self.monitors: tuple[Leg, ...] = ()
        #: the monitorings (each device's ``Supervision``) that were offered a leg on this call:
        #: one that left it is not offered it again (a new ListenIn, Coach or BargeIn is)
        self.supervised: tuple[Supervision, ...] = ()

    def legs(self) -> list[Leg]:
        return [p for p in self if isinstance(p, Leg)]


class Watch:
    """What makes a leg a supervisor's: the mode it is in, whether it muted the monitored
    agent, the monitored agent's leg it joined for, and the call it is on (the agent's call,
    which a transfer may join to another)."""

    __slots__ = ("call", "mode", "muted", "scope", "watched")

    def __init__(self, mode: SupervisionMode, scope: SupervisionScope, watched: Leg) -> None:
        self.mode = mode
        self.scope = scope
        self.muted = False
        self.watched: Leg | None = watched
        self.call: Connection = watched._connection


class Leg:
    """One leg of a call on one device. Read it; only the engine changes it."""

    __slots__ = (
        "__weakref__",
        "_answered",
        "_connection",
        "_consult",
        "_derived",
        "_mute",
        "_parent",
        "_participants",
        "_recording",
        "_state",
        "_user_data",
        "_watch",
        "ani",
        "call_type",
        "device",
        "dnis",
        "id",
        "parent_id",
        "started_at",
    )

    device: Line

    def __init__(
        self,
        call_id: str,
        device: Line,
        state: State,
        call_type: CallType,
        connection: Connection,
        dnis: str,
        ani: str,
        user_data: UserData,
        started_at: float,
        parent: Leg | None,
    ) -> None:
        self.id: Final = call_id
        self.device = device
        self.call_type: Final = call_type
        self.dnis: Final = dnis
        self.ani: Final = ani
        self.started_at: Final = started_at
        self.parent_id: Final = parent.id if parent is not None else None
        self._state = state
        self._connection = connection
        self._user_data = user_data
        self._answered = False
        self._mute = Mute.OFF
        self._recording = RecordingState.STOPPED if _RECORDING in device.features else None
        self._parent = parent
        self._consult: Leg | None = None
        self._participants: tuple[str, ...] = ()
        #: (context, capabilities, capabilities as a set), shared by every leg alike
        self._derived: _Derived = _UNDERIVED
        #: a supervisor's leg: how it takes part in the call it monitors (None: any other leg)
        self._watch: Watch | None = None

    # -- what everyone reads ----------------------------------------------------------------------
    @property
    def watch(self) -> Watch | None:
        """A supervisor's leg: its mode and the monitored leg; None for any other leg."""
        return self._watch

    @property
    def state(self) -> State:
        return self._state

    @property
    def capabilities(self) -> tuple[Operation, ...]:
        """The operations allowed right now, sorted; an operation succeeds iff it is here."""
        return self._derived[1]

    @property
    def offered(self) -> frozenset[str]:
        """``capabilities`` as a set (for membership tests)."""
        return self._derived[2]

    @property
    def context(self) -> Context:
        """What, besides its state, decides what the leg may do (see ``callstate.table``)."""
        return self._derived[0]

    @property
    def participants(self) -> tuple[str, ...]:
        """The numbers of the other parties, in the order they joined."""
        return self._participants

    @property
    def user_data(self) -> dict[str, str | int]:
        return dict(self._user_data)

    @property
    def user_data_items(self) -> UserData:
        """``user_data`` as the ordered, immutable pairs the events carry."""
        return self._user_data

    @property
    def mute(self) -> Mute:
        return self._mute

    @property
    def recording_state(self) -> RecordingState | None:
        return self._recording

    @property
    def answered(self) -> bool:
        """Whether the far end (or the agent, for a ringing leg) has answered."""
        return self._answered

    @property
    def connection(self) -> Connection:
        return self._connection

    @property
    def conn_id(self) -> str:
        return self._connection.conn_id

    @property
    def parent(self) -> Leg | None:
        """The call this consult was started from, while both are live."""
        return self._parent

    @property
    def consult(self) -> Leg | None:
        """The live consult started from this call, if any."""
        return self._consult

    def __repr__(self) -> str:
        return f"<Call {self.id} {self.device.dn} {self._state} {list(self._participants)}>"


def _number(party: Leg | str) -> str:
    return party.device.dn if isinstance(party, Leg) else party


class Engine:
    """The legs and connections of one switch, and the moves that change them."""

    def __init__(
        self,
        seed: int | None,
        *,
        clock: Callable[[], float] | None = None,
        bus: Bus | None = None,
        leg_type: type[Leg] = Leg,
    ) -> None:
        self.ids = IdGenerator(seed)
        self.clock = clock or time.time
        self.bus = bus or Bus()
        self.recorder: Recorder | None = None
        #: why the recorder last failed; requests are refused until it is replaced
        self.log_failure: Exception | None = None
        self.leg_type = leg_type
        #: the clock reading of the request being run
        self.now = 0.0
        self.lines: dict[str, Line] = {}
        #: every live leg by id, oldest first
        self.legs: dict[str, Leg] = {}
        #: events of the request being run, in order
        self.pending: list[Event] = []
        #: while a recorder is attached: how to undo the request being run, should its log line
        #: not be written (see ``commit``); None otherwise
        self._undo: list[tuple[Any, ...]] | None = None
        self._kept: set[int] = set()
        self._ids_mark = (0, 0)
        self._rng: object | None = None
        #: monitored device DN -> the supervisors' devices monitoring it
        self.supervisors: dict[str, tuple[Line, ...]] = {}
        #: legs of monitored devices that became Established in this request (joined at commit)
        self._established: list[Leg] = []

    # -- requests ---------------------------------------------------------------------------------
    def begin(self) -> None:
        """A request starts: read the clock once (every event of the request shows that time).

        A reading that is not a finite number of seconds within ``MAX_CLOCK`` of 0 refuses the
        request here, before anything changes.
        """
        now = self.clock()
        if type(now) is not float or not _LOW <= now <= _HIGH:
            self._check_clock(now)
        recorder = self.recorder
        if recorder is not None:  # a log: refuse while it cannot keep a line; note for undoing
            self._check_log(recorder)
            self._undo, self._kept, self._rng = [], set(), None
            self._ids_mark = self.ids.mark()
        elif self._undo is not None:  # the log was closed: nothing to note any more
            self._undo = None
        self.now = now

    @staticmethod
    def _check_clock(now: object) -> None:
        if not isinstance(now, int | float) or isinstance(now, bool):
            raise InvalidParameterError(f"the clock read {shown(now)}, not a number of seconds")
        if not -MAX_CLOCK <= now <= MAX_CLOCK:  # also false for NaN
            raise InvalidParameterError(f"the clock read {shown(now)}: beyond {MAX_CLOCK:g} s")

    def _check_log(self, recorder: Recorder) -> None:
        if recorder.failure is not None and not recorder.recover():
            raise LogWriteError(
                f"the event log has no room for another request ({recorder.failure}): "
                "nothing was changed; open it again (write_log) or close it (close_log)"
            )
        if self.log_failure is not None:
            raise LogWriteError(
                f"the event log failed ({self.log_failure}): open it again (write_log) "
                "or close it (close_log) first"
            )

    def commit(self, request: Mapping[str, Any] | None = None) -> None:
        """A request succeeded: record it with its events (``request`` is what the recorder
        keeps; ``None`` when there is no recorder), then deliver the events."""
        if self._established:
            self._join_established()
        events, self.pending = self.pending, []
        if self.recorder is not None and request is not None:
            undo, self._undo = self._undo, None
            try:
                self.recorder.request(self.now, request, events)
            except Exception as error:  # the log cannot keep it: it did not happen
                if undo is not None:
                    self._rollback(undo)
                if self.recorder.failure is not None:  # the recorder says when it recovers
                    raise LogWriteError(
                        f"the event log could not keep this request ({error}): nothing was "
                        "changed; requests are taken again once the log has room"
                    ) from error
                self.log_failure = error
                raise LogWriteError(
                    f"the event log could not keep this request ({error}): nothing was "
                    "changed, and every request is refused until the log is opened again "
                    "or closed"
                ) from error
        if events:
            self.bus.publish(events)

    # -- undoing a request ------------------------------------------------------------------------
    def _keep(self, leg: Leg) -> None:
        """Before the request changes ``leg`` the first time: note how it was."""
        undo = self._undo
        if undo is not None and id(leg) not in self._kept:
            self._kept.add(id(leg))
            undo.append((_LEG, leg, (
                leg._state, leg._answered, leg._derived, leg._mute, leg._recording,
                leg._user_data, leg._participants, leg._parent, leg._consult, leg._connection,
            )))  # fmt: skip

    def _keep_connection(self, connection: Connection) -> None:
        undo = self._undo
        if undo is not None and id(connection) not in self._kept:
            self._kept.add(id(connection))
            undo.append((_CONNECTION, connection, list(connection), connection.owner))

    def _rollback(self, undo: list[tuple[Any, ...]]) -> None:
        """Put back everything the request changed, newest change first."""
        reordered: list[dict[str, Any]] = []
        for entry in reversed(undo):
            kind = entry[0]
            if kind is _LEG:
                leg = entry[1]
                (
                    leg._state, leg._answered, leg._derived, leg._mute, leg._recording,
                    leg._user_data, leg._participants, leg._parent, leg._consult,
                    leg._connection,
                ) = entry[2]  # fmt: skip
            elif kind is _CONNECTION:
                entry[1][:] = entry[2]
                entry[1].owner = entry[3]
            elif kind is _KEY:
                table, key, old = entry[1], entry[2], entry[3]
                if old is _MISSING:
                    table.pop(key, None)
                else:
                    table[key] = old
                    reordered.append(table)
            else:  # _ATTRIBUTE
                setattr(entry[1], entry[2], entry[3])
        for table in reordered:  # legs put back: oldest first again (ids grow with creation)
            items = sorted(table.items())
            table.clear()
            table.update(items)
        self.ids.rewind(self._ids_mark, self._rng)

    def device_id(self) -> str:
        """A new device's id (drawn from the seeded generator)."""
        if self._undo is not None and self._rng is None:
            self._rng = self.ids.rng_state()
        return self.ids.device_id()

    # -- devices ----------------------------------------------------------------------------------
    def device_snapshot(self, line: Line) -> DeviceSnapshot:
        """The device as it stands now."""
        context = DeviceContext(
            line.do_not_disturb,
            line.forward_to is not None,
            line.role is DeviceRole.SUPERVISOR,
            line.supervision is not None,
        )
        return DeviceSnapshot(
            line.dn,
            line.id,
            line.user_state,
            line.do_not_disturb,
            line.forward_to,
            DEVICE_CAPABILITIES[context],
            line.supervision,
        )

    def set_device(
        self,
        line: Line,
        *,
        user_state: AgentState | None = None,
        do_not_disturb: bool | None = None,
        forward_to: str | object | None = _MISSING,
        supervision: Supervision | object | None = _MISSING,
    ) -> None:
        """Change what an agent sets on a device, and queue its ``DeviceStateChanged``."""
        changes: dict[str, object] = {}
        if user_state is not None:
            changes["user_state"] = user_state
        if do_not_disturb is not None:
            changes["do_not_disturb"] = do_not_disturb
        if forward_to is not _MISSING:
            changes["forward_to"] = forward_to
        if supervision is not _MISSING:
            changes["supervision"] = supervision
        undo = self._undo
        for name, value in changes.items():
            if undo is not None:
                undo.append((_ATTRIBUTE, line, name, getattr(line, name)))
            setattr(line, name, value)
        self.pending.append(DeviceStateChanged(self.device_snapshot(line)))

    # -- supervision ------------------------------------------------------------------------------
    def supervise(
        self, line: Line, watch: Supervision | None, *, offered_legs: bool = True
    ) -> None:
        """Start (or replace) ``line``'s monitoring of another device, or end it (``None``).
        Starting joins the monitored device's established calls at once. Supervisor's legs
        offered but not answered yet follow (``offered_legs``): a new mode is theirs, an end
        releases them."""
        old = line.supervision
        index = dict(self.supervisors)
        if old is not None:
            kept = tuple(s for s in index.get(old.target, ()) if s is not line)
            if kept:
                index[old.target] = kept
            else:
                index.pop(old.target, None)
        if watch is not None:
            index[watch.target] = (*index.get(watch.target, ()), line)
        if self._undo is not None:
            self._undo.append((_ATTRIBUTE, self, "supervisors", self.supervisors))
        self.supervisors = index
        self.set_device(line, supervision=watch)
        for leg in list(line.legs.values()) if offered_legs else ():
            offered = leg._watch  # a leg offered but not joined follows the device
            if offered is None or leg._answered:
                continue
            watched = offered.watched
            if watch is None or watched is None or watched.device.dn != watch.target:
                self.fire(leg, NetworkEvent.FAR_END_RELEASED)  # cancelled (or another agent)
            else:
                before = leg._mute
                if self._undo is not None:
                    self._undo.append((_ATTRIBUTE, offered, "scope", offered.scope))
                offered.scope = watch.scope
                self.set_watch(leg, mode=watch.mode)
                if leg._mute is not before:
                    self.pending.append(MuteChanged(self.snapshot(leg)))
        if watch is not None:
            for leg in list(self.lines[watch.target].legs.values()):
                if leg._state is _ESTABLISHED and line.supervision is not None:
                    self._join(line, leg)

    def _join_established(self) -> None:
        established, self._established = self._established, []
        for leg in established:
            if leg._state is not _ESTABLISHED:
                continue
            for line in self.supervisors.get(leg.device.dn, ()):
                if line.supervision is not None:
                    self._join(line, leg)

    def _join(self, line: Line, watched: Leg) -> None:
        """Offer ``line`` (a supervisor's device) a leg on ``watched``'s call: it rings, and
        joins when answered. Its participants are the call's parties, its dnis the monitored
        agent's DN."""
        connection = watched._connection
        watch = line.supervision
        if watch is None or watched._watch is not None or watched.device is line:
            return
        if any(m.device is line for m in connection.monitors):
            return  # one supervisor leg per call
        if any(offered is watch for offered in connection.supervised):
            return  # this monitoring's leg on this call was offered, and left it
        if self._undo is not None:
            self._undo.append((_ATTRIBUTE, connection, "supervised", connection.supervised))
        connection.supervised = (*connection.supervised, watch)
        own = Connection(self.ids.conn_id())
        target = watched.device.dn
        leg = self._new_leg(own, line, _RINGING, CallType.INTERNAL, target, target, (), None)
        leg._watch = Watch(watch.mode, watch.scope, watched)
        leg._mute = Mute.ON if watch.mode is SupervisionMode.LISTEN_IN else Mute.OFF
        leg._participants = tuple(_number(p) for p in connection)
        self._set_monitors(connection, (*connection.monitors, leg))
        self.refresh(leg)
        self.announce(leg, None)
        if watch.monitoring is MonitoringMode.NEXT_CALL:  # one call joined: monitoring ends
            self.supervise(line, None, offered_legs=False)

    def _set_monitors(self, connection: Connection, monitors: tuple[Leg, ...]) -> None:
        if self._undo is not None:
            self._undo.append((_ATTRIBUTE, connection, "monitors", connection.monitors))
        connection.monitors = monitors

    def supervision_changed(self, leg: Leg, *, parties: bool) -> None:
        """A supervisor's leg joined, left or changed mode: tell the monitored agent's leg of its
        new flags (``SupervisionChanged``), and, if ``parties`` (a barged-in supervisor came or
        went), every leg of the call of its participants."""
        watch = leg._watch
        assert watch is not None
        watched = watch.watched
        for other in watch.call.legs():
            if other._state is _RELEASED:
                continue
            if parties:
                before = other._participants
                self.sync(other)
                if other._participants != before:
                    self.pending.append(ParticipantsChanged(self.snapshot(other)))
                    continue
            if other is watched:
                self.pending.append(SupervisionChanged(self.snapshot(other)))

    def unwatch(self, leg: Leg) -> None:
        """A supervisor's leg ended: it leaves the monitored call."""
        watch = leg._watch
        assert watch is not None
        connection = watch.call
        self._set_monitors(connection, tuple(m for m in connection.monitors if m is not leg))
        joined = leg._answered
        self.supervision_changed(leg, parties=joined and watch.mode is SupervisionMode.BARGE_IN)

    def set_watch(
        self, leg: Leg, *, mode: SupervisionMode | None = None, muted: bool | None = None
    ) -> None:
        """Change a supervisor's leg: its mode (and so its mute), or its muting of the agent."""
        watch = leg._watch
        assert watch is not None
        undo = self._undo
        if undo is not None:
            self._keep(leg)
            undo.append((_ATTRIBUTE, watch, "mode", watch.mode))
            undo.append((_ATTRIBUTE, watch, "muted", watch.muted))
        if mode is not None:
            watch.mode = mode
            leg._mute = Mute.ON if mode is SupervisionMode.LISTEN_IN else Mute.OFF
        if muted is not None:
            watch.muted = muted
        self._rederive(leg)

    def release_monitors(self, connection: Connection, watched: Leg | None = None) -> None:
        """The call ended (or, with ``watched``, that agent's leg left it): release the
        supervisors' legs on it (those of scope Agent watching ``watched``)."""
        for monitor in connection.monitors:
            watch = monitor._watch
            assert watch is not None
            if monitor._state is _RELEASED:
                continue
            agent_gone = watch.watched is watched and watch.scope is SupervisionScope.AGENT
            if watched is None or agent_gone:
                self.fire(monitor, NetworkEvent.FAR_END_RELEASED)

    # -- lookups ----------------------------------------------------------------------------------
    def add_line(self, line: Line) -> None:
        if self._undo is not None:
            self._undo.append((_KEY, self.lines, line.dn, _MISSING))
        self.lines[line.dn] = line

    def line(self, dn: str) -> Line:
        try:
            return self.lines[dn]
        except (KeyError, TypeError):
            raise DeviceNotFoundError(f"no device {shown(dn)}") from None

    def leg(self, call_id: str) -> Leg:
        try:
            return self.legs[call_id]
        except (KeyError, TypeError):
            raise CallNotFoundError("no such call", call_id=call_id) from None

    # -- events -----------------------------------------------------------------------------------
    def snapshot(self, leg: Leg) -> CallSnapshot:
        """The leg as it stands now."""
        line = leg.device
        if leg._watch is None and not leg._connection.monitors:  # no supervision: the flags
            monitoring = listening = muted = False  # are all false, without a call
        else:
            monitoring, listening, muted = self._flags(leg)
        return _new(
            CallSnapshot,
            (
                leg.id,
                leg._connection.conn_id,
                line.dn,
                line.id,
                leg._state,
                leg.call_type,
                leg._participants,
                leg.dnis,
                leg.ani,
                leg._derived[1],
                leg._user_data,
                leg._mute,
                leg._recording,
                leg.parent_id,
                int(self.now - leg.started_at),
                monitoring,
                listening,
                muted,
            ),
        )

    @staticmethod
    def _flags(leg: Leg) -> tuple[bool, bool, bool]:
        """(monitoring, supervisor listening in, monitored user muted) of a leg."""
        watch = leg._watch
        if watch is not None:
            return False, False, watch.muted
        monitors = leg._connection.monitors
        if not monitors:
            return _NO_FLAGS
        joined = [
            m._watch.mode  # type: ignore[union-attr]
            for m in monitors
            if m._answered and m._watch.watched is leg  # type: ignore[union-attr]
        ]
        listening = any(mode is not SupervisionMode.BARGE_IN for mode in joined)
        return bool(joined), listening, False

    def emit(self, event: CallEvent) -> None:
        self.pending.append(event)

    def tell(self, kind: type[CallEvent], leg: Leg) -> None:
        """Queue a ``kind`` event (one with no field but the leg) for ``leg``."""
        self.pending.append(kind(self.snapshot(leg)))

    def announce(self, leg: Leg, previous: State | None) -> None:
        """Queue a ``StateChanged`` if the leg's state is not ``previous``."""
        if previous is not leg._state:
            self.pending.append(_new(StateChanged, (self.snapshot(leg), previous)))

    # -- one leg ----------------------------------------------------------------------------------
    def refresh(self, leg: Leg) -> bool:
        """Work out the leg's context and capabilities again; return whether they changed."""
        if self._undo is not None:
            self._keep(leg)
        return self._rederive(leg)

    def _rederive(self, leg: Leg) -> bool:
        """``refresh`` for a leg already kept for undoing (see ``fire``)."""
        before = leg._derived[1]
        consult, parent = leg._consult, leg._parent
        both_held = False
        if consult is not None:
            pair = _PARENT_PAIRED if consult._answered else _PARENT_PENDING
            both_held = leg._state is _HELD and consult._state is _HELD
        elif parent is not None:
            pair = _CONSULT_PAIRED if leg._answered else _CONSULT_PENDING
            both_held = leg._state is _HELD and parent._state is _HELD
        else:
            pair = _NONE
        connection = leg._connection
        if len(connection) < 3:
            conference = _NOT_CONFERENCE
        else:
            conference = _OWNER if connection.owner is leg else _MEMBER
        watch = leg._watch
        key: tuple[Any, ...]
        if watch is None:
            mute = leg._mute if _MUTE in leg.device.features else None
            key = (
                leg._state, mute, leg._recording, pair, conference, leg._answered, both_held,
                None, False,
            )  # fmt: skip
        else:  # the mode sets a supervisor leg's mute: no Mute/UnmuteCall of its own
            key = (
                leg._state, None, leg._recording, pair, conference, leg._answered, both_held,
                watch.mode, watch.muted,
            )  # fmt: skip
        derived = _DERIVED.get(key) or _derive(key)
        leg._derived = derived
        return derived[1] != before

    def fire(
        self, leg: Leg, trigger: Trigger, *, announce: bool = True, finish: bool = True
    ) -> State:
        """Fire one row of the table on ``leg``; return the state it left.

        With ``announce``, tell the agent of the new state, or else of new capabilities; with
        ``finish``, let a released leg go and settle its connection.
        """
        if self._undo is not None:
            self._keep(leg)
        previous = leg._state
        before = leg._derived
        dest = DECISIONS.get((trigger, previous, before[0]))
        if dest is None:
            dest = next_state(trigger, previous, before[0])
            if dest is None:
                raise AssertionError(f"table refused {trigger} on {leg!r}")  # capabilities lied
        leg._state = dest
        if (
            dest is _ESTABLISHED
            and previous is not _ESTABLISHED
            and self.supervisors
            and leg.device.dn in self.supervisors
        ):
            self._established.append(leg)  # supervisors join it when the request is done
        if trigger in _ANSWERING:
            leg._answered = True
        if dest is _RELEASED and leg._recording is not None:
            self._stop_recording(leg)
        self._rederive(leg)
        if announce:
            if previous is not dest:
                self.pending.append(_new(StateChanged, (self.snapshot(leg), previous)))
            elif leg._derived[1] != before[1]:
                self.pending.append(_new(CapabilitiesChanged, (self.snapshot(leg),)))
        if finish and dest is _RELEASED:
            self.finish(leg)
        return previous

    def fire_in_pair(self, leg: Leg, trigger: Trigger) -> None:
        """``fire`` for Hold and Retrieve: holding or retrieving one leg of a consult pair may
        change whether the other offers Retrieve (both held), so the other is told."""
        self.fire(leg, trigger)
        partner = leg._consult or leg._parent
        if partner is not None:
            self.touch(partner)

    def move(self, leg: Leg, trigger: Trigger) -> State:
        """Fire one row on ``leg`` and tell nobody; return the state it left."""
        return self.fire(leg, trigger, announce=False, finish=False)

    def move_and_announce(self, leg: Leg, trigger: Trigger) -> None:
        """Fire one row on ``leg`` and tell its agent; a released leg is not let go yet."""
        self.fire(leg, trigger, finish=False)

    def touch(self, leg: Leg | None) -> None:
        """Tell a live leg's agent that its capabilities changed because of another leg."""
        if leg is not None and leg._state is not _RELEASED and self.refresh(leg):
            self.pending.append(_new(CapabilitiesChanged, (self.snapshot(leg),)))

    def set_mute(self, leg: Leg, value: Mute) -> None:
        if self._undo is not None:
            self._keep(leg)
        leg._mute = value
        self.refresh(leg)

    def set_user_data(self, leg: Leg, data: UserData) -> None:
        if self._undo is not None:
            self._keep(leg)
        leg._user_data = data

    def set_recording(self, leg: Leg, state: RecordingState) -> None:
        """Set the recording state, and the ``GSIP_RECORD`` user data GWS attaches with it."""
        if self._undo is not None:
            self._keep(leg)
        leg._recording = state
        leg._user_data = merged(leg._user_data, (("GSIP_RECORD", _GSIP_RECORD[state]),))
        self.refresh(leg)

    def _stop_recording(self, leg: Leg) -> None:
        """Releasing a leg stops its recording (spec §4)."""
        if leg._recording in (RecordingState.RECORDING, RecordingState.PAUSED):
            self.set_recording(leg, RecordingState.STOPPED)

    # -- legs and parties -------------------------------------------------------------------------
    def connect(self, *numbers: str) -> Connection:
        """A new connection, with ``numbers`` (outside parties) already on it."""
        return Connection(self.ids.conn_id(), numbers)

    def add_leg(
        self,
        connection: Connection,
        line: Line,
        state: State,
        call_type: CallType,
        dnis: str,
        ani: str,
        user_data: UserData,
        *,
        announce: bool = True,
    ) -> Leg:
        """A new leg on ``line``, joining ``connection`` last."""
        leg = self._new_leg(connection, line, state, call_type, dnis, ani, user_data, None)
        leg._participants = self._others(leg)
        self.refresh(leg)
        if announce:
            self.announce(leg, None)
        return leg

    def place(
        self,
        line: Line,
        number: str,
        call_type: CallType,
        user_data: UserData,
        parent: Leg | None = None,
    ) -> tuple[Leg, Leg | None, bool]:
        """A new call from ``line`` to ``number`` (a consult of ``parent``, if given): a
        ``Dialing`` leg on a new connection, then the party reached (see ``route``) — a
        ``Ringing`` leg if it is a device of the switch. Returns both legs and whether the party
        is busy (the caller then releases the new leg); nothing is announced (the caller orders
        it)."""
        connection = Connection(self.ids.conn_id())
        dn = line.dn
        leg = self._new_leg(
            connection, line, State.DIALING, call_type, number, dn, user_data, parent
        )
        reached, target_line, busy = self.route(number, line)
        leg._participants = (reached,)
        self.refresh(leg)
        if target_line is None:
            connection.append(reached)
            return leg, None, busy
        target = self._new_leg(
            connection, target_line, _RINGING, call_type, number, dn, user_data, None
        )
        target._participants = (dn,)
        self.refresh(target)
        return leg, target, False

    def route(self, number: str, caller: Line | None = None) -> tuple[str, Line | None, bool]:
        """Where a call offered to ``number`` goes: (the number reached, its device if it is
        one, whether it is busy). A device in do-not-disturb is busy, and do-not-disturb wins
        over forwarding; a device that forwards sends the call on, one hop (the device reached
        is not asked to forward again; it is busy if in do-not-disturb, or if it is the
        caller's own)."""
        line = self.lines.get(number)
        if line is None:
            return number, None, False
        if line.do_not_disturb:
            return number, None, True
        forward = line.forward_to
        if forward is None:
            return number, line, False
        target = self.lines.get(forward)
        if target is None:
            return forward, None, False
        return (
            forward,
            None if target.do_not_disturb or target is caller else target,
            (target.do_not_disturb or target is caller),
        )

    def _new_leg(
        self,
        connection: Connection,
        line: Line,
        state: State,
        call_type: CallType,
        dnis: str,
        ani: str,
        user_data: UserData,
        parent: Leg | None,
    ) -> Leg:
        leg = self.leg_type(
            self.ids.call_id(),
            line,
            state,
            call_type,
            connection,
            dnis,
            ani,
            user_data,
            self.now,
            parent,
        )
        undo = self._undo
        if undo is not None:
            self._keep_connection(connection)
            undo.append((_KEY, self.legs, leg.id, _MISSING))
            undo.append((_KEY, line.legs, leg.id, _MISSING))
        connection.append(leg)
        if parent is not None:
            if undo is not None:
                self._keep(parent)
            parent._consult = leg
        self.legs[leg.id] = line.legs[leg.id] = leg
        return leg

    def add_party(
        self,
        connection: Connection,
        number: str,
        call_type: CallType,
        ani: str,
        user_data: UserData,
        *,
        announce: bool = True,
    ) -> Leg | None:
        """Bring ``number`` into ``connection``: a ringing leg if it is a device, else a number
        (one that forwards sends it on; one in do-not-disturb does not join: busy)."""
        number, line, busy = self.route(number)
        if busy:
            return None
        if line is None:
            if self._undo is not None:
                self._keep_connection(connection)
            connection.append(number)
            return None
        return self.add_leg(
            connection, line, State.RINGING, call_type, number, ani, user_data, announce=announce
        )

    def sync(self, leg: Leg) -> None:
        """Take the leg's participants from its connection again (no event)."""
        if self._undo is not None:
            self._keep(leg)
        leg._participants = self._others(leg)
        self.refresh(leg)

    @staticmethod
    def barged_in(connection: Connection) -> tuple[Leg, ...]:
        """The supervisors' legs that barged in on ``connection``: parties to everyone else."""
        return tuple(
            m
            for m in connection.monitors
            if m._answered and m._watch.mode is SupervisionMode.BARGE_IN  # type: ignore[union-attr]
        )

    @classmethod
    def _others(cls, leg: Leg) -> tuple[str, ...]:
        watch = leg._watch
        if watch is not None:  # a supervisor's leg shows the parties of the call it monitors
            return tuple(_number(p) for p in watch.call)
        connection = leg._connection
        others = tuple(_number(p) for p in connection if p is not leg)
        if connection.monitors:  # a barged-in supervisor is a party
            others += tuple(m.device.dn for m in cls.barged_in(connection))
        return others

    def finish(self, leg: Leg, *, leave: bool = True, touch: bool = True) -> None:
        """After a release: drop the leg, dissolve its consult pair, optionally leave."""
        legs, mine = self.legs, leg.device.legs
        undo = self._undo
        if undo is not None:
            self._keep(leg)
            undo.append((_KEY, legs, leg.id, leg))
            undo.append((_KEY, mine, leg.id, leg))
        del legs[leg.id], mine[leg.id]
        released = leg.device.released
        if undo is not None:
            undo.append((_ATTRIBUTE, leg.device, "released", released.copy()))
        released.append(leg.id)
        # an emptied dict keeps its largest table; a fresh one gives the memory back
        if not legs:
            if undo is not None:
                undo.append((_ATTRIBUTE, self, "legs", legs))
            self.legs = {}
        if not mine:
            if undo is not None:
                undo.append((_ATTRIBUTE, leg.device, "legs", mine))
            leg.device.legs = {}
        partner = leg._consult or leg._parent
        if partner is not None:
            if self._undo is not None:
                self._keep(partner)
            partner._parent = partner._consult = None
            leg._parent = leg._consult = None
            if touch:
                self.touch(partner)
        if leg._watch is not None or leg._connection.monitors:
            if leg._watch is not None:
                self.unwatch(leg)
            else:  # supervisors of scope Agent leave with the agent
                self.release_monitors(leg._connection, leg)
        if leave:
            self.leave(leg._connection, leg)

    def leave(self, connection: Connection, party: Leg | str) -> None:
        if self._undo is not None:
            self._keep_connection(connection)
        connection.remove(party)
        self.settle(connection)

    def drop(self, connection: Connection, party: Leg | str) -> None:
        """Take ``party`` out of ``connection`` without settling it (the caller will)."""
        if self._undo is not None:
            self._keep_connection(connection)
        connection.remove(party)

    def settle(self, connection: Connection, *, skip: Leg | None = None) -> None:
        """After parties changed: a lone party is released, and so are legs left ringing with
        nobody who placed or answered the call [ours]; otherwise participants resync."""
        parties = connection
        if self._undo is not None:
            self._keep_connection(connection)
        if len(parties) < 3 or connection.owner not in parties:
            connection.owner = None
        if len(parties) < 2 or all(isinstance(p, Leg) and p._state is _RINGING for p in parties):
            for leg in connection.legs():
                if leg._state is not _RELEASED:
                    self.fire(leg, NetworkEvent.FAR_END_RELEASED)
            if connection.monitors:  # the call ended: so do its supervisors' legs
                self.release_monitors(connection)
            return
        for monitor in connection.monitors:  # a supervisor's leg shows the call's parties
            numbers = tuple(_number(p) for p in connection)
            if monitor._state is not _RELEASED and numbers != monitor._participants:
                if self._undo is not None:
                    self._keep(monitor)
                monitor._participants = numbers
                self.pending.append(ParticipantsChanged(self.snapshot(monitor)))
        for leg in connection.legs():
            if leg._state is _RELEASED:
                continue
            others = self._others(leg)
            if others != leg._participants:
                if self._undo is not None:
                    self._keep(leg)
                leg._participants = others
                self.refresh(leg)
                if leg is not skip:
                    self.pending.append(ParticipantsChanged(self.snapshot(leg)))
            elif leg is not skip:
                self.touch(leg)

    def make_owner(self, connection: Connection, leg: Leg) -> None:
        """``leg`` made ``connection`` a conference: it owns it, unless someone already does."""
        if connection.owner is None and len(connection) >= 3:
            if self._undo is not None:
                self._keep_connection(connection)
            connection.owner = leg

    def answered(self, connection: Connection, by: Leg | None) -> None:
        """Someone answered: every unanswered leg waiting on this connection is connected."""
        for leg in connection.legs():
            if leg is not by and not leg._answered and leg._state in AWAITING_FAR_END:
                self.fire(leg, NetworkEvent.FAR_END_ANSWERED, finish=False)
                self.touch(leg._parent)

    def merge(self, into: Connection, consult: Leg) -> None:
        """Join the consult's other parties to ``into`` (the parent's call).

        A party on both calls is joined once [ours]: an outside number keeps one place, and a
        device that would have two legs on the call keeps its older leg; the newer is released.
        """
        moved = [p for p in consult._connection if p is not consult]
        if self._undo is not None:
            self._keep_connection(consult._connection)
            self._keep_connection(into)
        consult._connection.clear()
        kept: dict[str, Leg | str] = {}
        redundant: list[Leg] = []
        for party in [*into, *moved]:
            number = party.device.dn if isinstance(party, Leg) else normalize(party)
            other = kept.get(number)
            if other is None:
                kept[number] = party
            elif isinstance(party, Leg):
                older, newer = party, other
                if isinstance(other, Leg) and other.id < party.id:  # ids grow with creation
                    older, newer = other, party
                kept[number] = older
                if isinstance(newer, Leg):
                    redundant.append(newer)
        into[:] = kept.values()
        gone = consult._connection
        twice: list[Leg] = []
        if gone.monitors:  # the consult's call was supervised: its supervisors come along
            moved_monitors: list[Leg] = []
            for monitor in gone.monitors:
                if any(m.device is monitor.device for m in into.monitors):
                    twice.append(monitor)  # one supervisor leg per call: the newer goes
                    continue
                watch = monitor._watch
                assert watch is not None
                if self._undo is not None:
                    self._undo.append((_ATTRIBUTE, watch, "call", watch.call))
                watch.call = into
                moved_monitors.append(monitor)
            self._set_monitors(into, (*into.monitors, *moved_monitors))
            self._set_monitors(gone, tuple(twice))
        if gone.supervised:
            if self._undo is not None:
                self._undo.append((_ATTRIBUTE, into, "supervised", into.supervised))
            into.supervised = (*into.supervised, *gone.supervised)
        for party in into:
            if isinstance(party, Leg):
                if self._undo is not None:
                    self._keep(party)
                party._connection = into
        for leg in redundant:
            self.move_and_announce(leg, NetworkEvent.FAR_END_RELEASED)
            self.finish(leg, leave=False)
        for monitor in twice:
            if monitor._state is not _RELEASED:
                self.fire(monitor, NetworkEvent.FAR_END_RELEASED)

    def clear(self, connection: Connection) -> None:
        """Release every live leg left on ``connection`` (and the supervisors' legs on it: the
        call ended) and empty it."""
        for leg in connection.legs():
            if leg._state is not _RELEASED:
                self.move_and_announce(leg, NetworkEvent.FAR_END_RELEASED)
                self.finish(leg, leave=False)
        if connection.monitors:
            self.release_monitors(connection)
        if self._undo is not None:
            self._keep_connection(connection)
        connection.clear()


def merged(base: UserData, extra: UserData | None) -> UserData:
    """``base`` updated with ``extra`` (JSON-object semantics: a key keeps its first place)."""
    if not extra:
        return base
    out = dict(base)
    out.update(extra)
    return tuple(out.items())
