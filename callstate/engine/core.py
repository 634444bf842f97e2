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
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol

from ..bus import Bus
from ..enums import (
    AgentState,
    CallType,
    DeviceRole,
    Mute,
    NetworkEvent,
    Operation,
    RecordingState,
    SupervisionMode,
)
from ..enums import State as S
from ..errors import (
    CallNotFoundError,
    DeviceNotFoundError,
    InvalidParameterError,
    LogWriteError,
    shown,
)
from ..events import (
    CallEvent,
    CallSnapshot,
    CapabilitiesChanged,
    DeviceSnapshot,
    DeviceStateChanged,
    Event,
    ParticipantsChanged,
    StateChanged,
    Supervision,
    UserData,
)
from ..ids import IdGenerator
from ..numbers import normalize
from ..table import DECISIONS, DEVICE_CAPABILITIES, DeviceContext, next_state
from .derive import flags, others, rederive
from .journal import Journal, UndoJournal
from .records import Connection, Leg, Line

__all__ = [
    "AWAITING_FAR_END",
    "MAX_CLOCK",
    "Engine",
    "ManualClock",
    "Recorder",
    "Supervising",
    "Trigger",
    "merged",
]

Trigger = Operation | NetworkEvent

#: the furthest a clock reading may be from 0, in seconds (about 31,700 years)
MAX_CLOCK: Final = 1e12
_LOW, _HIGH = -MAX_CLOCK, MAX_CLOCK

_RELEASED: Final = S.RELEASED
_RINGING: Final = S.RINGING
_ESTABLISHED: Final = S.ESTABLISHED
_GONE: Final = NetworkEvent.FAR_END_RELEASED
_ANSWERING: Final = frozenset({Operation.ANSWER, NetworkEvent.FAR_END_ANSWERED})
#: states of a leg that waits for the far end to answer (a ringing leg waits for its agent)
AWAITING_FAR_END: Final = frozenset({S.DIALING, S.HELD})
#: recordingState -> the GSIP_RECORD value GWS attaches with it
_GSIP_RECORD: Final = {
    RecordingState.RECORDING: "ON",
    RecordingState.PAUSED: "PAUSED",
    RecordingState.STOPPED: "OFF",
}
_MISSING: Final = object()
_new: Final = tuple.__new__
#: the journal of a switch without a log: it keeps nothing
_NO_JOURNAL: Final = Journal()


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


class Supervising(Protocol):
    """Supervision as the core and the requests see it (``callstate.engine.supervision``
    implements it). The core calls the first six at its seams; requests call the last three."""

    def established(self, leg: Leg) -> None:
        """``leg`` has just become Established."""

    def committing(self) -> None:
        """The request's moves are done; its events are about to be recorded."""

    def finished(self, leg: Leg) -> None:
        """A released leg that is a supervisor's, or is on a supervised call, was let go."""

    def ended(self, connection: Connection) -> None:
        """``connection``'s call ended."""

    def parties_changed(self, connection: Connection) -> None:
        """``connection`` (a supervised call) gained or lost a party."""

    def merging(self, into: Connection, gone: Connection) -> tuple[Leg, ...]:
        """``gone``'s parties join ``into``; returns the supervisors' legs to release."""

    def supervise(self, line: Line, watch: Supervision | None, *, offered: bool = True) -> None:
        """Start, replace (``watch``) or end (``None``) a device's monitoring."""

    def set_watch(
        self, leg: Leg, *, mode: SupervisionMode | None = None, muted: bool | None = None
    ) -> None:
        """Change a supervisor's leg's mode or its muting of the monitored agent."""

    def changed(self, leg: Leg, *, parties: bool) -> None:
        """A supervisor's leg joined, left or changed mode: tell the call's legs."""


class _Unsupervised:
    """An engine before supervision is plugged in: no leg is ever a supervisor's."""

    __slots__ = ()

    def established(self, leg: Leg) -> None:
        pass

    def committing(self) -> None:
        pass

    def finished(self, leg: Leg) -> None:
        pass

    def ended(self, connection: Connection) -> None:
        pass

    def parties_changed(self, connection: Connection) -> None:
        pass

    def merging(self, into: Connection, gone: Connection) -> tuple[Leg, ...]:
        return ()

    def supervise(self, line: Line, watch: Supervision | None, *, offered: bool = True) -> None:
        raise AssertionError("this engine has no supervision")

    def set_watch(
        self, leg: Leg, *, mode: SupervisionMode | None = None, muted: bool | None = None
    ) -> None:
        raise AssertionError("this engine has no supervision")

    def changed(self, leg: Leg, *, parties: bool) -> None:
        raise AssertionError("this engine has no supervision")


class Engine:
    """The legs and connections of one switch, and the moves that change them."""

    def __init__(
        self,
        seed: int | None,
        *,
        clock: Callable[[], float] | None = None,
        bus: Bus | None = None,
    ) -> None:
        self.ids = IdGenerator(seed)
        self.clock = clock or time.time
        self.bus = bus or Bus()
        self.recorder: Recorder | None = None
        #: why the recorder last failed; requests are refused until it is replaced
        self.log_failure: Exception | None = None
        #: the clock reading of the request being run
        self.now = 0.0
        self.lines: dict[str, Line] = {}
        #: every live leg by id, oldest first
        self.legs: dict[str, Leg] = {}
        #: events of the request being run, in order
        self.pending: list[Event] = []
        #: how to undo the request being run, should its log line not be written (``commit``)
        self.journal: Journal = _NO_JOURNAL
        self.supervision: Supervising = _Unsupervised()

    def plug(self, supervision: Supervising) -> None:
        """Supervise with ``supervision`` (before the first request)."""
        self.supervision = supervision

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
            self.journal = UndoJournal(self.ids)
        elif self.journal is not _NO_JOURNAL:  # the log was closed: nothing to note any more
            self.journal = _NO_JOURNAL
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
        self.supervision.committing()
        events, self.pending = self.pending, []
        if self.recorder is not None and request is not None:
            journal, self.journal = self.journal, _NO_JOURNAL
            try:
                self.recorder.request(self.now, request, events)
            except Exception as error:  # the log cannot keep it: it did not happen
                journal.rollback()
                self._refuse_unlogged(error)
        if events:
            self.bus.publish(events)

    def _refuse_unlogged(self, error: Exception) -> None:
        assert self.recorder is not None
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

    # -- devices ----------------------------------------------------------------------------------
    def device_id(self) -> str:
        """A new device's id (drawn from the seeded generator)."""
        self.journal.drawing(self.ids)
        return self.ids.device_id()

    def add_line(self, line: Line) -> None:
        self.journal.adding(line.dn, self.lines)
        self.lines[line.dn] = line

    @staticmethod
    def device_snapshot(line: Line) -> DeviceSnapshot:
        """The device as it stands now."""
        context = DeviceContext(
            line._do_not_disturb,
            line._forward_to is not None,
            line._role is DeviceRole.SUPERVISOR,
            line._supervision is not None,
        )
        return DeviceSnapshot(
            line._dn,
            line._id,
            line._user_state,
            line._do_not_disturb,
            line._forward_to,
            DEVICE_CAPABILITIES[context],
            line._supervision,
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
            changes["_user_state"] = user_state
        if do_not_disturb is not None:
            changes["_do_not_disturb"] = do_not_disturb
        if forward_to is not _MISSING:
            changes["_forward_to"] = forward_to
        if supervision is not _MISSING:
            changes["_supervision"] = supervision
        for name, value in changes.items():
            self.journal.attribute(line, name)
            setattr(line, name, value)
        self.pending.append(DeviceStateChanged(self.device_snapshot(line)))

    # -- lookups ----------------------------------------------------------------------------------
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
        line = leg._device
        if leg._watch is None and not leg._connection._monitors:  # no supervision: the flags
            monitoring = listening = muted = False  # are all false, without a call
        else:
            monitoring, listening, muted = flags(leg)
        return _new(
            CallSnapshot,
            (
                leg._id,
                leg._connection._conn_id,
                line._dn,
                line._id,
                leg._state,
                leg._call_type,
                leg._participants,
                leg._dnis,
                leg._ani,
                leg._derived[1],
                leg._user_data,
                leg._mute,
                leg._recording,
                leg._parent_id,
                int(self.now - leg._started_at),
                monitoring,
                listening,
                muted,
            ),
        )

    def emit(self, event: CallEvent) -> None:
        self.pending.append(event)

    def tell(self, kind: type[CallEvent], leg: Leg) -> None:
        """Queue a ``kind`` event (one with no field but the leg) for ``leg``."""
        self.pending.append(kind(self.snapshot(leg)))

    def announce(self, leg: Leg, previous: S | None) -> None:
        """Queue a ``StateChanged`` if the leg's state is not ``previous``."""
        if previous is not leg._state:
            self.pending.append(_new(StateChanged, (self.snapshot(leg), previous)))

    # -- one leg ----------------------------------------------------------------------------------
    def refresh(self, leg: Leg) -> bool:
        """Work out the leg's context and capabilities again; return whether they changed."""
        self.journal.keep(leg)
        return rederive(leg)

    def fire(self, leg: Leg, trigger: Trigger, *, announce: bool = True, finish: bool = True) -> S:
        """Fire one row of the table on ``leg``; return the state it left.

        With ``announce``, tell the agent of the new state, or else of new capabilities; with
        ``finish``, let a released leg go and settle its connection.
        """
        self.journal.keep(leg)
        previous = leg._state
        before = leg._derived
        dest = DECISIONS.get((trigger, previous, before[0]))
        if dest is None:
            dest = next_state(trigger, previous, before[0])
            if dest is None:
                raise AssertionError(f"table refused {trigger} on {leg!r}")  # capabilities lied
        leg._state = dest
        if dest is _ESTABLISHED and previous is not _ESTABLISHED:
            self.supervision.established(leg)
        if trigger in _ANSWERING:
            leg._answered = True
        if dest is _RELEASED and leg._recording is not None:
            self._stop_recording(leg)
        rederive(leg)
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

    def move(self, leg: Leg, trigger: Trigger) -> S:
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
        self.journal.keep(leg)
        leg._mute = value
        rederive(leg)

    def set_user_data(self, leg: Leg, data: UserData) -> None:
        self.journal.keep(leg)
        leg._user_data = data

    def set_recording(self, leg: Leg, state: RecordingState) -> None:
        """Set the recording state, and the ``GSIP_RECORD`` user data GWS attaches with it."""
        self.journal.keep(leg)
        leg._recording = state
        leg._user_data = merged(leg._user_data, (("GSIP_RECORD", _GSIP_RECORD[state]),))
        rederive(leg)

    def _stop_recording(self, leg: Leg) -> None:
        """Releasing a leg stops its recording (spec §4)."""
        if leg._recording in (RecordingState.RECORDING, RecordingState.PAUSED):
            self.set_recording(leg, RecordingState.STOPPED)

    # -- legs and parties -------------------------------------------------------------------------
    def connect(self, *numbers: str) -> Connection:
        """A new connection, with ``numbers`` (outside parties) already on it."""
        return Connection(self.ids.conn_id(), numbers)

    def new_leg(
        self,
        connection: Connection,
        line: Line,
        state: S,
        call_type: CallType,
        dnis: str,
        ani: str,
        user_data: UserData,
        parent: Leg | None = None,
    ) -> Leg:
        """A new leg on ``line`` joining ``connection`` last (a consult of ``parent``, if
        given), with no participants and nothing derived yet: the caller sets them."""
        leg = Leg(
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
        self.journal.creating(self, leg)
        connection.append(leg)
        if parent is not None:
            parent._consult = leg
        self.legs[leg._id] = line._legs[leg._id] = leg
        return leg

    def add_leg(
        self,
        connection: Connection,
        line: Line,
        state: S,
        call_type: CallType,
        dnis: str,
        ani: str,
        user_data: UserData,
        *,
        announce: bool = True,
    ) -> Leg:
        """A new leg on ``line``, joining ``connection`` last."""
        leg = self.new_leg(connection, line, state, call_type, dnis, ani, user_data)
        leg._participants = others(leg)
        rederive(leg)
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
        dn = line._dn
        leg = self.new_leg(connection, line, S.DIALING, call_type, number, dn, user_data, parent)
        reached, target_line, busy = self.route(number, line)
        leg._participants = (reached,)
        rederive(leg)
        if target_line is None:
            connection.append(reached)
            return leg, None, busy
        target = self.new_leg(connection, target_line, _RINGING, call_type, number, dn, user_data)
        target._participants = (dn,)
        rederive(target)
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
        if line._do_not_disturb:
            return number, None, True
        forward = line._forward_to
        if forward is None:
            return number, line, False
        target = self.lines.get(forward)
        if target is None:
            return forward, None, False
        busy = target._do_not_disturb or target is caller
        return forward, None if busy else target, busy

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
            self.journal.keep_connection(connection)
            connection.append(number)
            return None
        return self.add_leg(
            connection, line, S.RINGING, call_type, number, ani, user_data, announce=announce
        )

    def sync(self, leg: Leg) -> None:
        """Take the leg's participants from its connection again (no event)."""
        self.journal.keep(leg)
        leg._participants = others(leg)
        rederive(leg)

    # -- leaving ----------------------------------------------------------------------------------
    def finish(self, leg: Leg, *, leave: bool = True, touch: bool = True) -> None:
        """After a release: drop the leg, dissolve its consult pair, optionally leave."""
        self.journal.forgetting(self, leg)
        legs, line = self.legs, leg._device
        mine = line._legs
        del legs[leg._id], mine[leg._id]
        line._released.append(leg._id)  # its device keeps its id a while
        # an emptied dict keeps its largest table; a fresh one gives the memory back
        if not legs:
            self.legs = {}
        if not mine:
            line._legs = {}
        partner = leg._consult or leg._parent
        if partner is not None:
            partner._parent = partner._consult = None
            leg._parent = leg._consult = None
            if touch:
                self.touch(partner)
        if leg._watch is not None or leg._connection._monitors:
            self.supervision.finished(leg)
        if leave:
            self.leave(leg._connection, leg)

    def leave(self, connection: Connection, party: Leg | str) -> None:
        self.journal.keep_connection(connection)
        connection.remove(party)
        self.settle(connection)

    def drop(self, connection: Connection, party: Leg | str) -> None:
        """Take ``party`` out of ``connection`` without settling it (the caller will)."""
        self.journal.keep_connection(connection)
        connection.remove(party)

    def settle(self, connection: Connection, *, skip: Leg | None = None) -> None:
        """After parties changed: a lone party is released, and so are legs left ringing with
        nobody who placed or answered the call [ours]; otherwise participants resync."""
        self.journal.keep_connection(connection)
        if len(connection) < 3 or connection._owner not in connection:
            connection._owner = None
        if len(connection) < 2 or all(
            isinstance(p, Leg) and p._state is _RINGING for p in connection
        ):
            self._end(connection)
            return
        if connection._monitors:
            self.supervision.parties_changed(connection)
        for leg in connection.legs():
            if leg._state is not _RELEASED:
                self._resync(leg, told=leg is not skip)

    def _end(self, connection: Connection) -> None:
        """The call ended: its legs are released (and its supervisors' legs)."""
        for leg in connection.legs():
            if leg._state is not _RELEASED:
                self.fire(leg, _GONE)
        if connection._monitors:
            self.supervision.ended(connection)

    def _resync(self, leg: Leg, *, told: bool) -> None:
        """The leg's parties may have changed: take them again and, if ``told``, say what
        changed (participants, or else capabilities)."""
        found = others(leg)
        if found != leg._participants:
            self.journal.keep(leg)
            leg._participants = found
            rederive(leg)
            if told:
                self.pending.append(ParticipantsChanged(self.snapshot(leg)))
        elif told:
            self.touch(leg)

    def make_owner(self, connection: Connection, leg: Leg) -> None:
        """``leg`` made ``connection`` a conference: it owns it, unless someone already does."""
        if connection._owner is None and len(connection) >= 3:
            self.journal.keep_connection(connection)
            connection._owner = leg

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
        gone = consult._connection
        journal = self.journal
        journal.keep_connection(gone)
        journal.keep_connection(into)
        moved = [p for p in gone if p is not consult]
        gone.clear()
        into[:], redundant = _once_each([*into, *moved])
        twice = self.supervision.merging(into, gone)
        for party in into:
            if isinstance(party, Leg):
                journal.keep(party)
                party._connection = into
        for leg in redundant:
            self.move_and_announce(leg, _GONE)
            self.finish(leg, leave=False)
        for monitor in twice:
            if monitor._state is not _RELEASED:
                self.fire(monitor, _GONE)

    def clear(self, connection: Connection) -> None:
        """Release every live leg left on ``connection`` (and the supervisors' legs on it: the
        call ended) and empty it."""
        for leg in connection.legs():
            if leg._state is not _RELEASED:
                self.move_and_announce(leg, _GONE)
                self.finish(leg, leave=False)
        if connection._monitors:
            self.supervision.ended(connection)
        self.journal.keep_connection(connection)
        connection.clear()


def _once_each(parties: list[Leg | str]) -> tuple[list[Leg | str], list[Leg]]:
    """``parties`` with each number once (a device's older leg kept), and the newer legs of
    devices that were there twice."""
    kept: dict[str, Leg | str] = {}
    redundant: list[Leg] = []
    for party in parties:
        key = party._device._dn if isinstance(party, Leg) else normalize(party)
        other = kept.get(key)
        if other is None:
            kept[key] = party
        elif isinstance(party, Leg):
            older, newer = party, other
            if isinstance(other, Leg) and other._id < party._id:  # ids grow with creation
                older, newer = other, party
            kept[key] = older
            if isinstance(newer, Leg):
                redundant.append(newer)
    return list(kept.values()), redundant


def merged(base: UserData, extra: UserData | None) -> UserData:
    """``base`` updated with ``extra`` (JSON-object semantics: a key keeps its first place)."""
    if not extra:
        return base
    out = dict(base)
    out.update(extra)
    return tuple(out.items())
