"""The switch: devices, their legs, the far end, and in-order event delivery.

``Switch`` owns every live leg and the moves that involve several legs; ``Device`` checks an
agent's request completely (operation name, call, capabilities, parameters) and ``operations``
carries it out, checking what only the operation can know (a destination) before anything
changes, so a refused request changes nothing and emits nothing. Events are queued while a
request runs and delivered, in order, to every subscriber once it is done; a subscriber may itself
make requests, whose events follow.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from .call import Call, Connection
from .device import Device
from .enums import CallType, Feature, NetworkEvent, Operation, State
from .errors import (
    CallNotFoundError,
    DeviceNotFoundError,
    InvalidParameterError,
)
from .events import (
    CallEvent,
    CapabilitiesChanged,
    ParticipantsChanged,
    StateChanged,
    UserData,
)
from .ids import IdGenerator
from .log import LogReader, LogWriter
from .numbers import normalize, parse_number
from .operations import stop_recording
from .params import Params, check_params
from .streams import AsyncSubscriber, AsyncSubscription, EventStream
from .table import DECISIONS as _DECISIONS
from .table import next_state

__all__ = ["ManualClock", "Subscriber", "Subscription", "Switch"]

Subscriber = Callable[[CallEvent], object]
ErrorHandler = Callable[[Exception, CallEvent | None], object]

_LOG = logging.getLogger("callstate")
_T = TypeVar("_T")
_RELEASED: Final = State.RELEASED
_RINGING: Final = State.RINGING
_ANSWERING: Final = frozenset({Operation.ANSWER, NetworkEvent.FAR_END_ANSWERED})
#: states of a leg that waits for the far end to answer (a ringing leg waits for its agent)
_AWAITING_FAR_END: Final = frozenset({State.DIALING, State.HELD})


class ManualClock:
    """A clock that reads ``now`` and moves only when told to (replays, scenarios, tests)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _log_subscriber_error(error: Exception, event: CallEvent | None) -> None:
    _LOG.error("subscriber failed on %r", event, exc_info=error)


class Subscription:
    """Handle returned by ``Switch.subscribe``; call it (or ``close()``) to unsubscribe."""

    __slots__ = ("_callback", "_switch")

    def __init__(self, switch: Switch, callback: Subscriber) -> None:
        self._switch = switch
        self._callback = callback

    def close(self) -> None:
        subscribers = self._switch._subscribers
        if self._callback in subscribers:
            self._switch._subscribers = tuple(s for s in subscribers if s is not self._callback)

    __call__ = close

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Switch:
    """A simulated switch: devices, their calls, the far end, and the event stream."""

    def __init__(
        self,
        base_uri: str = "http://127.0.0.1:8080/api/v2",
        seed: int | None = None,
        *,
        clock: Callable[[], float] | None = None,
        on_subscriber_error: ErrorHandler | None = None,
        log: str | Path | None = None,
    ) -> None:
        self.base_uri: Final = base_uri.rstrip("/")
        self.seed: Final = seed
        self._ids = IdGenerator(seed)
        self._clock = clock or time.time
        self._now = 0.0
        self._on_error = on_subscriber_error or _log_subscriber_error
        self._devices: dict[str, Device] = {}
        self._calls: dict[str, Call] = {}
        self._subscribers: tuple[Subscriber, ...] = ()
        self._queue: deque[CallEvent] = deque()
        self._delivering = False
        self._log: LogWriter | None = None
        self._streams: set[EventStream] = set()
        self._admission: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        if log is not None:
            self.write_log(log)

    def write_log(self, path: str | Path, *, append: bool = False) -> None:
        """From now on, write every request and its events to ``path`` (see ``callstate.log``)."""
        self.close_log()
        self._log = LogWriter(open(path, "a" if append else "w", encoding="utf-8"))  # noqa: SIM115
        if not append:
            self._log.header(self.base_uri, self.seed, self._ids.state())

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    @classmethod
    def restore(
        cls,
        source: str | Path,
        *,
        clock: Callable[[], float] | None = None,
        resume_log: bool = False,
    ) -> tuple[Switch, LogReader]:
        """Rebuild a switch from its log: same devices, calls, states and ids.

        The requests are run again with the logged clock readings and must produce the logged
        events (``LogError`` names the line otherwise). A last line cut mid-way is skipped and
        reported by the returned reader (``cut_line``). With ``resume_log``, the switch goes on
        appending to ``source`` (a cut last line is truncated away first).
        """
        from .restore import restore

        return restore(cls, source, clock=clock, resume_log=resume_log)

    # -- setup and lookup -------------------------------------------------------------------------
    def add_device(
        self, dn: str, *, features: Iterable[str] = (), _device_id: str | None = None
    ) -> Device:
        """Register an agent device. ``features``: ``"mute"``, ``"recording"``."""
        if not (isinstance(dn, str) and dn.isdigit() and dn.isascii()):
            raise ValueError(f"a DN is digits only, not {dn!r}")
        if dn in self._devices:
            raise ValueError(f"device {dn} already exists")
        try:
            flags = frozenset(Feature(f) for f in features)
        except ValueError:
            raise ValueError(
                f"features are {[str(f) for f in Feature]}, not {features!r}"
            ) from None
        start = self._begin()
        device_id = self._ids.device_id()  # drawn even when restoring, to keep later ids equal
        device = Device(self, dn, _device_id or device_id, flags)
        self._devices[dn] = device
        request = {"op": "add_device", "dn": dn, "features": sorted(flags), "id": device.id}
        self._commit(start, request)
        return device

    def device(self, dn: str) -> Device:
        try:
            return self._devices[dn]
        except KeyError:
            raise DeviceNotFoundError(f"no device {dn!r}") from None

    @property
    def devices(self) -> tuple[Device, ...]:
        return tuple(self._devices.values())

    @property
    def calls(self) -> tuple[Call, ...]:
        """Every live leg on the switch, oldest first."""
        return tuple(self._calls.values())

    def call(self, call_id: str) -> Call:
        try:
            return self._calls[call_id]
        except KeyError:
            raise CallNotFoundError("no such call", call_id=call_id) from None

    def subscribe(self, callback: Subscriber) -> Subscription:
        """Deliver every future event to ``callback``, in order; returns the unsubscribe handle.

        A callback that raises does not stop delivery to the others: the error goes, with the
        event, to ``on_subscriber_error`` (by default the ``callstate`` logger).
        """
        self._subscribers = (*self._subscribers, callback)
        return Subscription(self, callback)

    def subscribe_async(
        self, callback: AsyncSubscriber, *, maxsize: int = 1024
    ) -> AsyncSubscription:
        """Deliver every future event to coroutine function ``callback``, in order, from a task
        of the running loop; errors go to ``on_subscriber_error`` like a sync subscriber's."""
        return AsyncSubscription(self, callback, maxsize)

    def events(self, *, maxsize: int = 1024) -> EventStream:
        """An async stream of every event of the switch, in order."""
        return EventStream(self, maxsize=maxsize)

    async def drained(self) -> None:
        """Wait until every event stream that a live task reads, other than the calling task,
        is at most half full. A full stream nobody has read yet gets one turn of the loop for
        its reader to start; if none has, it is not waited for (it may overflow instead).
        When this returns, that holds (nothing ran in between)."""
        me = asyncio.current_task()
        yielded = False
        while True:
            unread, blocking = False, None
            for stream in self._streams:
                if stream.full:
                    reader = stream.reader
                    if reader is None or reader.done():
                        unread = True
                    elif reader is not me:
                        blocking = stream
                        break
            if blocking is not None:
                await blocking.drained()
            elif unread and not yielded:
                yielded = True
                await asyncio.sleep(0)
            else:
                return

    async def _admit(self, request: Callable[[], _T]) -> _T:
        """Run ``request`` for a coroutine, with back-pressure (see ``callstate.streams``).

        A consumer (a task reading a stream of this switch) runs it at once: it must never wait
        for streams, or two consumers could wait for each other. Other tasks are admitted one at
        a time, first come first served, each once every read stream has room; the next waits
        until the one before has run and the streams have room again.
        """
        me = asyncio.current_task()
        if any(stream.reader is me for stream in self._streams):
            return request()
        loop = asyncio.get_running_loop()
        if self._admission is None or self._admission[0] is not loop:  # a lock serves one loop
            self._admission = (loop, asyncio.Lock())
        async with self._admission[1]:
            await self.drained()
            result = request()
            await self.drained()
            return result

    # -- the far end ------------------------------------------------------------------------------
    def external_call(
        self, number: str, *, to: str, user_data: Mapping[str, Any] | None = None
    ) -> Call:
        """An outside party (``number``) calls device ``to``: a new ``Ringing`` leg there."""
        if parse_number(number) is None or number in self._devices:
            raise InvalidParameterError(f"{number!r} is not an outside number", operation="Call")
        device = self.device(to)
        try:
            data = check_params(Operation.ATTACH_USER_DATA, {"userData": user_data or {}}).user_data
        except InvalidParameterError as error:  # name the request that was made
            raise InvalidParameterError(error.reason, operation="Call") from None
        start = self._begin()
        connection = Connection(self._ids.conn_id(), [number])
        call_type = CallType.INBOUND if number.startswith("+") else CallType.INTERNAL
        leg = self._add_leg(connection, device, State.RINGING, call_type, to, number, data or ())
        request = {"op": "external_call", "number": number, "to": to, "userData": user_data}
        self._commit(start, request)
        return leg

    def external_answer(self, party: str | Call, *, to: str | None = None) -> Call:
        """The outside party a leg is calling answers it."""
        leg = self._far_end_leg(party, to, "Answer", unanswered=True)
        start = self._begin()
        self._answered(leg._connection, by=None)
        self._commit(start, self._far_end_request("external_answer", party, to))
        return leg

    def external_busy(self, party: str | Call, *, to: str | None = None) -> Call:
        """The outside party a leg is calling is busy (or does not answer)."""
        leg = self._far_end_leg(party, to, "Busy", unanswered=True)
        start = self._begin()
        self._fire(leg, NetworkEvent.FAR_END_BUSY)
        self._commit(start, self._far_end_request("external_busy", party, to))
        return leg

    def external_hangup(self, party: str | Call, *, to: str | None = None) -> Call:
        """The outside party hangs up: it leaves its call (two-party calls end)."""
        leg = self._far_end_leg(party, to, "Hangup", unanswered=False)
        number = self._outside_party(leg, party)
        assert number is not None
        start = self._begin()
        self._leave(leg._connection, number)
        self._commit(start, self._far_end_request("external_hangup", party, to))
        return leg

    @staticmethod
    def _far_end_request(op: str, party: str | Call, to: str | None) -> dict[str, Any]:
        return {
            "op": op,
            "party": party if isinstance(party, str) else {"call": party.id},
            "to": to,
        }

    def _outside_party(self, leg: Call, party: str | Call) -> str | None:
        wanted = normalize(party) if isinstance(party, str) else None
        for p in leg._connection.parties:
            if isinstance(p, str) and (wanted is None or normalize(p) == wanted):
                return p
        return None

    def _far_end_leg(
        self, party: str | Call, to: str | None, what: str, *, unanswered: bool
    ) -> Call:
        if isinstance(party, Call):
            # the leg itself, not a leg of another switch that happens to share its id
            candidates: Iterable[Call] = (party,) if self._calls.get(party.id) is party else ()
        else:
            pool = self.device(to)._calls if to is not None else self._calls
            candidates = reversed(pool.values())
        for leg in candidates:
            waiting = not leg._answered and leg._state in _AWAITING_FAR_END
            if self._outside_party(leg, party) is not None and (waiting or not unanswered):
                return leg
        raise CallNotFoundError(f"no live call with outside party {party!r}", operation=what)

    # -- building blocks used by the operations ---------------------------------------------------
    def _now_duration(self, leg: Call) -> int:
        return int(self._now - leg.started_at)

    def _begin(self) -> int:
        """A request starts: read the clock once; return where its events will start."""
        self._now = self._clock()
        return len(self._queue)

    def _commit(self, start: int, request: dict[str, Any]) -> None:
        """A request succeeded: log it with its events, then deliver what is queued."""
        if self._log is not None:
            self._log.request(self._now, request, itertools.islice(self._queue, start, None))
        self._flush()

    def _emit(self, event: CallEvent) -> None:
        self._queue.append(event)

    def _flush(self) -> None:
        if self._delivering:
            return
        self._delivering = True
        try:
            queue = self._queue
            while queue:
                event = queue.popleft()
                for subscriber in self._subscribers:
                    try:
                        subscriber(event)
                    except Exception as error:
                        self._report(error, event)
        finally:
            self._delivering = False

    def _report(self, error: Exception, event: CallEvent | None) -> None:
        """Hand a subscriber's error to ``on_subscriber_error``; if that fails too, log both."""
        try:
            self._on_error(error, event)
        except Exception as handler_error:
            _LOG.error("on_subscriber_error failed on %r", error, exc_info=handler_error)
            _log_subscriber_error(error, event)

    def _snapshot_event(self, kind: type[CallEvent], leg: Call) -> None:
        self._emit(kind(leg._snapshot(self._now_duration(leg))))

    def _add_leg(
        self,
        connection: Connection,
        device: Device,
        state: State,
        call_type: CallType,
        dnis: str,
        ani: str,
        user_data: UserData,
        parent: Call | None = None,
        *,
        announce: bool = True,
    ) -> Call:
        leg = Call(
            call_id=self._ids.call_id(),
            device=device,
            state=state,
            call_type=call_type,
            connection=connection,
            dnis=dnis,
            ani=ani,
            user_data=user_data,
            started_at=self._now,
            parent=parent,
        )
        connection.parties.append(leg)
        leg._participants = leg._others()
        leg._refresh()
        self._calls[leg.id] = device._calls[leg.id] = leg
        if announce:
            self._announce(leg, None)
        return leg

    def _add_party(
        self,
        connection: Connection,
        number: str,
        call_type: CallType,
        ani: str,
        user_data: UserData,
        *,
        announce: bool = True,
    ) -> Call | None:
        """Bring ``number`` into ``connection``: a ringing leg if it is a device, else a number."""
        device = self._devices.get(number)
        if device is None:
            connection.parties.append(number)
            return None
        return self._add_leg(
            connection, device, State.RINGING, call_type, number, ani, user_data, announce=announce
        )

    def _check_destination(self, leg: Call, number: str, operation: Operation) -> None:
        """Refuse calling oneself or someone already on the call (before anything changes)."""
        digits = normalize(number)
        if digits == leg.device.dn or digits in map(normalize, leg._participants):
            raise InvalidParameterError(
                f"{number} is already on this call",
                call_id=leg.id,
                state=leg._state,
                operation=operation,
            )

    def _move(self, leg: Call, trigger: Operation | NetworkEvent) -> State:
        """Fire one row of the table on ``leg``; return the state it left. Emits nothing."""
        previous = leg._state
        dest = _DECISIONS.get((trigger, previous, leg._context))
        if dest is None:
            dest = next_state(trigger, previous, leg._context)
            if dest is None:
                raise AssertionError(f"table refused {trigger} on {leg!r}")  # capabilities lied
        leg._state = dest
        if trigger in _ANSWERING:
            leg._answered = True
        if leg._state is _RELEASED and leg._recording is not None:
            stop_recording(leg)
        leg._refresh()
        return previous

    def _announce(self, leg: Call, previous: State | None) -> None:
        if previous is not leg._state:
            self._emit(StateChanged(leg._snapshot(self._now_duration(leg)), previous))

    def _move_and_announce(self, leg: Call, trigger: Operation | NetworkEvent) -> None:
        """Move; tell the agent of a new state, or else of new capabilities."""
        capabilities = leg._capabilities
        previous = self._move(leg, trigger)
        if previous is not leg._state:
            self._announce(leg, previous)
        elif leg._capabilities != capabilities:
            self._snapshot_event(CapabilitiesChanged, leg)

    def _touch(self, leg: Call | None) -> None:
        """Tell a live leg's agent that its capabilities changed because of another leg."""
        if leg is not None and leg._state is not _RELEASED and leg._refresh():
            self._snapshot_event(CapabilitiesChanged, leg)

    def _fire(self, leg: Call, trigger: Operation | NetworkEvent) -> None:
        """Move, announce and, for a release, let the leg go and settle its connection."""
        self._move_and_announce(leg, trigger)
        if leg._state is _RELEASED:
            self._finish(leg)

    def _finish(self, leg: Call, *, leave: bool = True, touch: bool = True) -> None:
        """After a release: drop the leg, dissolve its consult pair, optionally leave."""
        del self._calls[leg.id], leg.device._calls[leg.id]
        # an emptied dict keeps its largest table; a fresh one gives the memory back
        if not self._calls:
            self._calls = {}
        if not leg.device._calls:
            leg.device._calls = {}
        partner = leg._consult or leg._parent
        if partner is not None:
            partner._parent = partner._consult = None
            leg._parent = leg._consult = None
            if touch:
                self._touch(partner)
        if leave:
            self._leave(leg._connection, leg)

    def _leave(self, connection: Connection, party: Call | str) -> None:
        connection.parties.remove(party)
        self._settle(connection)

    def _settle(self, connection: Connection, *, skip: Call | None = None) -> None:
        """After parties changed: a lone party is released, and so are legs left ringing with
        nobody who placed or answered the call [ours]; otherwise participants resync."""
        parties = connection.parties
        if len(parties) < 3 or connection.owner not in parties:
            connection.owner = None
        if len(parties) < 2 or all(isinstance(p, Call) and p._state is _RINGING for p in parties):
            for leg in connection.legs():
                if leg._state is not _RELEASED:
                    self._fire(leg, NetworkEvent.FAR_END_RELEASED)
            return
        for leg in connection.legs():
            if leg._state is _RELEASED:
                continue
            others = leg._others()
            if others != leg._participants:
                leg._participants = others
                leg._refresh()
                if leg is not skip:
                    self._snapshot_event(ParticipantsChanged, leg)
            elif leg is not skip:
                self._touch(leg)

    def _answered(self, connection: Connection, by: Call | None) -> None:
        """Someone answered: every unanswered leg waiting on this connection is connected."""
        for leg in connection.legs():
            if leg is not by and not leg._answered and leg._state in _AWAITING_FAR_END:
                self._move_and_announce(leg, NetworkEvent.FAR_END_ANSWERED)
                self._touch(leg._parent)

    def _dial(self, device: Device, params: Params) -> Call:
        number = params.destination
        assert number is not None
        if normalize(number) == device.dn:
            raise InvalidParameterError(f"{number} is this device", operation=Operation.DIAL)
        call_type = CallType.OUTBOUND if number.startswith("+") else CallType.INTERNAL
        connection = Connection(self._ids.conn_id(), [])
        data = params.user_data or ()
        leg = self._add_leg(
            connection, device, State.DIALING, call_type, number, device.dn, data, announce=False
        )
        self._add_party(connection, number, call_type, device.dn, data, announce=False)
        leg._participants = leg._others()
        self._announce(leg, None)
        for other in connection.legs()[1:]:
            self._announce(other, None)
        return leg
