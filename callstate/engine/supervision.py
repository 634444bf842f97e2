"""Supervision: a supervisor's device monitors an agent's device, and is offered a leg on each
call of it that becomes established (ListenIn, Coach, BargeIn).

The core knows supervision only as the ``Supervising`` protocol it calls at its seams (a leg
became established, a request is about to be committed, a leg or a call ended, a call's parties
changed, two calls merge); ``Supervisor`` is that protocol's implementation, plugged into one
engine. A supervisor's leg is an ordinary leg with a ``Watch``: it rings on the supervisor's
device, joins the monitored call when answered, shows that call's parties, and never makes a
conference of it (it is one of the call's ``monitors``, not one of its parties).
"""

from __future__ import annotations

from typing import Final

from ..enums import CallType, MonitoringMode, Mute, NetworkEvent, State, SupervisionMode
from ..enums import SupervisionScope as Scope
from ..events import MuteChanged, ParticipantsChanged, Supervision, SupervisionChanged
from .core import Engine
from .records import Connection, Leg, Line, Watch, number

__all__ = ["Supervisor"]

_RELEASED: Final = State.RELEASED
_ESTABLISHED: Final = State.ESTABLISHED
_BARGE_IN: Final = SupervisionMode.BARGE_IN
_LISTEN_IN: Final = SupervisionMode.LISTEN_IN
_GONE: Final = NetworkEvent.FAR_END_RELEASED


class Supervisor:
    """The supervision of one engine (see the module's doc); it plugs itself in."""

    __slots__ = ("_engine", "_established", "_index")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        #: monitored device DN -> the supervisors' devices monitoring it
        self._index: dict[str, tuple[Line, ...]] = {}
        #: legs of monitored devices that became Established in this request
        self._established: list[Leg] = []
        engine.plug(self)

    # -- the core's seams -------------------------------------------------------------------------
    def established(self, leg: Leg) -> None:
        if self._index and leg._device._dn in self._index:
            self._established.append(leg)  # supervisors join it when the request is done

    def committing(self) -> None:
        if not self._established:
            return
        established, self._established = self._established, []
        for leg in established:
            if leg._state is not _ESTABLISHED:
                continue
            for line in self._index.get(leg._device._dn, ()):
                if line._supervision is not None:
                    self._join(line, leg)

    def finished(self, leg: Leg) -> None:
        if leg._watch is not None:
            self._unwatch(leg)
        elif leg._connection._monitors:  # supervisors of scope Agent leave with the agent
            self._release_monitors(leg._connection, leg)

    def ended(self, connection: Connection) -> None:
        if connection._monitors:
            self._release_monitors(connection)

    def parties_changed(self, connection: Connection) -> None:
        """A supervisor's leg shows the parties of the call it monitors."""
        engine = self._engine
        numbers = tuple(number(p) for p in connection)
        for monitor in connection._monitors:
            if monitor._state is not _RELEASED and numbers != monitor._participants:
                engine.journal.keep(monitor)
                monitor._participants = numbers
                engine.pending.append(ParticipantsChanged(engine.snapshot(monitor)))

    def merging(self, into: Connection, gone: Connection) -> tuple[Leg, ...]:
        """``gone``'s supervisors follow its parties into ``into``; returns those already
        there through another leg (one supervisor leg per call: the caller releases these)."""
        journal = self._engine.journal
        twice: list[Leg] = []
        if gone._monitors:
            moved: list[Leg] = []
            for monitor in gone._monitors:
                if any(m._device is monitor._device for m in into._monitors):
                    twice.append(monitor)
                    continue
                watch = monitor._watch
                assert watch is not None
                journal.attribute(watch, "_call")
                watch._call = into
                moved.append(monitor)
            self._set_monitors(into, (*into._monitors, *moved))
            self._set_monitors(gone, tuple(twice))
        if gone._supervised:
            journal.attribute(into, "_supervised")
            into._supervised = (*into._supervised, *gone._supervised)
        return tuple(twice)

    # -- requests ---------------------------------------------------------------------------------
    def supervise(self, line: Line, watch: Supervision | None, *, offered: bool = True) -> None:
        """Start (or replace) ``line``'s monitoring of another device, or end it (``None``).
        Starting joins the monitored device's established calls at once. Supervisor's legs
        offered but not answered yet follow (``offered``): a new mode is theirs, an end
        releases them."""
        engine = self._engine
        old = line._supervision
        index = dict(self._index)
        if old is not None:
            kept = tuple(s for s in index.get(old.target, ()) if s is not line)
            if kept:
                index[old.target] = kept
            else:
                index.pop(old.target, None)
        if watch is not None:
            index[watch.target] = (*index.get(watch.target, ()), line)
        engine.journal.attribute(self, "_index")
        self._index = index
        engine.set_device(line, supervision=watch)
        if offered:
            for leg in list(line._legs.values()):
                self._follow(leg, watch)
        if watch is not None:
            for leg in list(engine.lines[watch.target]._legs.values()):
                if leg._state is _ESTABLISHED and line._supervision is not None:
                    self._join(line, leg)

    def _follow(self, leg: Leg, watch: Supervision | None) -> None:
        """A supervisor's leg offered but not joined follows its device's new monitoring."""
        engine = self._engine
        offered = leg._watch
        if offered is None or leg._answered:
            return
        watched = offered._watched
        if watch is None or watched is None or watched._device._dn != watch.target:
            engine.fire(leg, _GONE)  # cancelled (or another agent)
            return
        before = leg._mute
        engine.journal.attribute(offered, "_scope")
        offered._scope = watch.scope
        self.set_watch(leg, mode=watch.mode)
        if leg._mute is not before:
            engine.pending.append(MuteChanged(engine.snapshot(leg)))

    def set_watch(
        self, leg: Leg, *, mode: SupervisionMode | None = None, muted: bool | None = None
    ) -> None:
        """Change a supervisor's leg: its mode (and so its mute), or its muting of the agent."""
        watch = leg._watch
        assert watch is not None
        journal = self._engine.journal
        journal.keep(leg)
        journal.attribute(watch, "_mode")
        journal.attribute(watch, "_muted")
        if mode is not None:
            watch._mode = mode
            leg._mute = Mute.ON if mode is _LISTEN_IN else Mute.OFF
        if muted is not None:
            watch._muted = muted
        self._engine.refresh(leg)

    def changed(self, leg: Leg, *, parties: bool) -> None:
        """A supervisor's leg joined, left or changed mode: tell the monitored agent's leg of its
        new flags (``SupervisionChanged``), and, if ``parties`` (a barged-in supervisor came or
        went), every leg of the call of its participants."""
        engine = self._engine
        watch = leg._watch
        assert watch is not None
        watched = watch._watched
        for other in watch._call.legs():
            if other._state is _RELEASED:
                continue
            if parties:
                before = other._participants
                engine.sync(other)
                if other._participants != before:
                    engine.pending.append(ParticipantsChanged(engine.snapshot(other)))
                    continue
            if other is watched:
                engine.pending.append(SupervisionChanged(engine.snapshot(other)))

    # -- the moves of supervisors' legs -----------------------------------------------------------
    def _join(self, line: Line, watched: Leg) -> None:
        """Offer ``line`` (a supervisor's device) a leg on ``watched``'s call: it rings, and
        joins when answered. Its participants are the call's parties, its dnis the monitored
        agent's DN."""
        engine = self._engine
        connection = watched._connection
        watch = line._supervision
        if watch is None or watched._watch is not None or watched._device is line:
            return
        if any(m._device is line for m in connection._monitors):
            return  # one supervisor leg per call
        if any(offered is watch for offered in connection._supervised):
            return  # this monitoring's leg on this call was offered, and left it
        engine.journal.attribute(connection, "_supervised")
        connection._supervised = (*connection._supervised, watch)
        own = engine.connect()
        target = watched._device._dn
        leg = engine.new_leg(own, line, State.RINGING, CallType.INTERNAL, target, target, ())
        leg._watch = Watch(watch.mode, watch.scope, watched)
        leg._mute = Mute.ON if watch.mode is _LISTEN_IN else Mute.OFF
        leg._participants = tuple(number(p) for p in connection)
        self._set_monitors(connection, (*connection._monitors, leg))
        engine.refresh(leg)
        engine.announce(leg, None)
        if watch.monitoring is MonitoringMode.NEXT_CALL:  # one call joined: monitoring ends
            self.supervise(line, None, offered=False)

    def _set_monitors(self, connection: Connection, monitors: tuple[Leg, ...]) -> None:
        self._engine.journal.attribute(connection, "_monitors")
        connection._monitors = monitors

    def _unwatch(self, leg: Leg) -> None:
        """A supervisor's leg ended: it leaves the monitored call."""
        watch = leg._watch
        assert watch is not None
        connection = watch._call
        self._set_monitors(connection, tuple(m for m in connection._monitors if m is not leg))
        self.changed(leg, parties=leg._answered and watch._mode is _BARGE_IN)

    def _release_monitors(self, connection: Connection, watched: Leg | None = None) -> None:
        """The call ended (or, with ``watched``, that agent's leg left it): release the
        supervisors' legs on it (those of scope Agent watching ``watched``)."""
        for monitor in connection._monitors:
            watch = monitor._watch
            assert watch is not None
            if monitor._state is _RELEASED:
                continue
            agent_gone = watch._watched is watched and watch._scope is Scope.AGENT
            if watched is None or agent_gone:
                self._engine.fire(monitor, _GONE)
