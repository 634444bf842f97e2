"""The switch: the face of one simulated switch — its devices, their calls, the far end, and
the subscribers that hear every event.

``Switch`` holds an ``Engine`` (``callstate.engine``: the legs, connections and moves), the
``Bus`` that delivers events (``callstate.bus``) and the async ``Streams`` (``callstate.streams``).
Each request is one engine request: checked by ``callstate.requests``, carried out by the
engine, then recorded by the log if there is one, then delivered in order to every subscriber.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, Final, NamedTuple

from .bus import Bus, ErrorHandler, Subscriber, Subscription
from .device import Call, Device, Faces, leg_of
from .engine import Engine, Leg, Line, ManualClock, Recorder, new_engine
from .enums import DeviceRole
from .errors import InvalidParameterError, LogWriteError, shown
from .events import Event
from .log import LogReader, LogWriter, header_line, lock
from .requests import (
    check_device,
    clear_call,
    external_answer,
    external_busy,
    external_call,
    external_hangup,
    reset,
)
from .restore import replay_requests
from .streams import AsyncSubscriber, AsyncSubscription, EventStream, Streams

__all__ = ["ManualClock", "Recorder", "Restored", "Subscriber", "Subscription", "Switch"]


def _check_switch_arguments(
    base_uri: object, seed: object, clock: object, on_error: object, log: object
) -> None:
    def refuse(reason: str) -> InvalidParameterError:
        return InvalidParameterError(reason, operation="Switch")

    if not isinstance(base_uri, str):
        raise refuse(f"base_uri is a URL string, not {shown(base_uri)}")
    if seed is not None and (
        not isinstance(seed, int) or isinstance(seed, bool) or not -(2**63) <= seed < 2**63
    ):
        raise refuse(f"seed is a 64-bit integer or None, not {shown(seed)}")
    for name, value in (("clock", clock), ("on_subscriber_error", on_error)):
        if value is not None and not callable(value):
            raise refuse(f"{name} is a callable or None, not {shown(value)}")
    if log is not None and not isinstance(log, str | os.PathLike):
        raise refuse(f"log is a path or None, not {shown(log)}")


#: the layout of ``save_state``'s pickle
_STATE_VERSION: Final = 2


class _Unwritable:
    """The recorder of a switch whose log could not be opened again: it refuses every request
    (see ``Engine.begin``) until a log is opened or ``close_log`` is called."""

    def __init__(self, failure: Exception) -> None:
        self.failure: Exception | None = failure

    def request(self, at: float, request: Mapping[str, Any], events: Iterable[Event]) -> None:
        raise AssertionError("an unwritable log takes no request")  # begin refused it

    def recover(self) -> bool:
        return False


class Switch:
    """A simulated switch: devices, their calls, the far end, and the event stream.

    Parameters:
        base_uri: the Calls API base the resources' URIs are built on (``uri``, ``deviceUri``).
        seed: makes every id (calls, connections, devices) reproducible; ``None``: random.
        clock: returns the time in seconds (default ``time.time``); a ``ManualClock`` makes
            ``duration`` reproducible. Read once per request.
        on_subscriber_error: called with ``(error, event)`` when a subscriber raises (default:
            logged on the ``callstate`` logger); delivery to the others goes on.
        log: a path to write the event log to (``callstate.log``); ``None``: no log.

    Bad arguments raise ``InvalidParameterError`` (a ``CallStateError`` and a ``ValueError``).
    """

    def __init__(
        self,
        base_uri: str = "http://127.0.0.1:8080/api/v2",
        seed: int | None = None,
        *,
        clock: Callable[[], float] | None = None,
        on_subscriber_error: ErrorHandler | None = None,
        log: str | Path | None = None,
    ) -> None:
        _check_switch_arguments(base_uri, seed, clock, on_subscriber_error, log)
        self.base_uri: Final = base_uri.rstrip("/")
        self.seed: Final = seed
        self._bus = Bus(on_subscriber_error)
        self._engine = new_engine(seed, clock=clock, bus=self._bus)
        self._streams = Streams(self._bus)
        self._faces = Faces(self._engine, self._streams)
        self._log: LogWriter | None = None
        if log is not None:
            self.write_log(log)

    # -- the log ----------------------------------------------------------------------------------
    def write_log(self, path: str | Path, *, append: bool = False) -> None:
        """From now on, write every request and its events to ``path`` (see ``callstate.log``).

        With ``append``, new lines follow the last complete line already there (a header is
        written first into an empty file). Only a log the switch has written from its start —
        its own, resumed with ``append`` — restores; a log started later replays but does not
        restore. If the file cannot be written, ``LogWriteError``: the log in use stays in use,
        unless it is the same file, which is then closed first (and requests are refused until a
        log is opened or ``close_log`` is called).
        """
        if not isinstance(path, str | os.PathLike):
            raise InvalidParameterError(
                f"a log is a path, not {shown(path)}", operation="write_log"
            )
        if type(append) is not bool:
            raise InvalidParameterError(
                f"append is True or False, not {shown(append)}", operation="write_log"
            )
        reopening = self._log is not None and self._log.writes_to(path)
        if reopening:  # its writer first cuts the space it reserved off the file
            self.close_log()
        try:
            # opened without emptying it: the writer empties it once it holds the lock
            log = LogWriter(open(path, "a+b", buffering=0), truncate=not append)  # noqa: SIM115
            if log.empty:
                log.header(self.base_uri, self.seed, self._engine.ids.state())
        except (OSError, ValueError) as error:
            if reopening:  # no log now: refuse requests rather than run unlogged
                self._engine.recorder = _Unwritable(error)
            raise LogWriteError(
                f"cannot write a log to {shown(str(path))}: {error}", operation="write_log"
            ) from error
        self.close_log()  # a failed log is replaced: requests are taken again
        self._log = log
        self._engine.recorder = log

    def close_log(self) -> None:
        """Stop logging (and, after a ``LogWriteError``, take requests again)."""
        log, self._log = self._log, None
        self._engine.recorder = None
        self._engine.log_failure = None
        if log is not None:
            log.close()

    @classmethod
    def restore(
        cls,
        source: str | Path | IO[bytes],
        *,
        clock: Callable[[], float] | None = None,
        resume_log: bool = False,
    ) -> Restored:
        """Rebuild a switch from its log: same devices, calls, states and ids.

        Returns a ``Restored``: ``.switch``, the rebuilt switch, and ``.reader``, the log as
        read (its ``header``, ``entries``, and ``cut_line`` when the last line was cut mid-way
        and skipped); it unpacks as ``switch, reader = Switch.restore(path)``. The requests
        are run again with the logged clock readings and must produce the logged events
        (``LogError`` names the line otherwise). With ``resume_log``, the switch goes on
        appending to ``source`` (a cut last line is truncated away first).
        """
        if clock is not None and not callable(clock):
            raise InvalidParameterError(
                f"clock is a callable, not {shown(clock)}", operation="restore"
            )
        if resume_log and not isinstance(source, str | os.PathLike):
            raise InvalidParameterError(
                "resume_log needs the log's path, not an open file", operation="restore"
            )
        reader = LogReader.read(source)
        replay_clock = ManualClock()
        switch = cls.from_header(reader.header, replay_clock)
        replay_requests(switch, reader, replay_clock)
        switch._engine.clock = clock or time.time
        if resume_log and isinstance(source, str | os.PathLike):
            switch.resume_log(source, reader)
        return Restored(switch, reader)

    @classmethod
    def from_header(cls, header: Mapping[str, Any], clock: Callable[[], float]) -> Switch:
        """A new switch as the log with this header began (``LogReader.header``; empty: a log
        cut inside its header, so nothing had happened yet), on ``clock``: running the log's
        requests on it again (``callstate.restore``) rebuilds the logged switch."""
        if not header:
            return cls(clock=clock)
        switch = cls(header["base_uri"], header["seed"], clock=clock)
        switch._engine.ids.restore(header["ids"])
        return switch

    def record(self, recorder: Recorder) -> bytes:
        """From now on, hand each request and its events to ``recorder`` rather than to a log
        file (``callstate.cluster`` appends them to a NATS JetStream stream); returns the
        header line a log of this switch would start with. A recorder that raises keeps the
        request from happening, as a log that cannot write does (see ``Recorder``)."""
        self.close_log()
        self._engine.recorder = recorder
        return header_line(self.base_uri, self.seed, self._engine.ids.state())

    def resume_log(self, path: str | Path, reader: LogReader) -> None:
        """Go on appending to ``path``, the log this switch was just restored from (``reader``
        read it): a cut last line, and space a crashed writer had reserved, are truncated away
        first. (``restore(..., resume_log=True)`` does both steps; apart, a caller can check
        the restored switch before the file is touched.)"""
        unused = reader.cut_bytes + reader.reserved_bytes
        if unused:  # a cut last line, and space a crashed writer had reserved
            try:
                with open(path, "rb+") as file:
                    lock(file.fileno())  # not under a live writer's feet
                    file.truncate(file.seek(0, 2) - unused)
            except OSError as error:
                raise LogWriteError(
                    f"cannot write a log to {shown(str(path))}: {error}", operation="resume_log"
                ) from error
        self.write_log(path, append=bool(reader.header))

    # -- checkpoints ------------------------------------------------------------------------------
    @property
    def log_mark(self) -> tuple[int, bytes] | None:
        """Where the log stands (``LogWriter.mark``), or None without a log."""
        return None if self._log is None else self._log.mark

    def save_state(self, file: IO[bytes], *extra: object) -> None:
        """Write the whole switch — devices, calls, ids, where its log stands — and ``extra``
        objects (a projection following it) to ``file``, a pickle that ``load_state`` reads back.
        Subscribers, streams, the clock and the log itself are not saved. Between requests only.

        A checkpoint: restoring from it and from the log lines written after ``log_mark``
        rebuilds the switch without running every request again. Read it only from where the
        log itself is trusted (unpickling runs what the file says)."""
        if self._engine.pending:
            raise InvalidParameterError("a request is running", operation="save_state")
        cut = {id(self._bus): "bus", id(self._streams): "streams", id(self._engine.clock): "clock"}
        if self._log is not None:
            cut[id(self._log)] = "log"

        class Cutting(pickle.Pickler):
            def persistent_id(self, obj: object) -> str | None:
                return cut.get(id(obj))

        checksum = None if self._log is None else self._log.checksum()
        Cutting(file, protocol=pickle.HIGHEST_PROTOCOL).dump(
            (_STATE_VERSION, (self.log_mark, checksum), self, extra)
        )

    @classmethod
    def load_state(
        cls,
        file: IO[bytes],
        *,
        clock: Callable[[], float] | None = None,
        on_subscriber_error: ErrorHandler | None = None,
    ) -> tuple[Switch, tuple[tuple[int, bytes] | None, int | None], tuple[Any, ...]]:
        """A switch saved by ``save_state``, with no subscriber and no log (``resume_log``
        continues one), the log mark it was saved at with the log's checksum there, and the
        ``extra`` objects saved with it. ``ValueError`` if the file is not such a state."""
        bus = Bus(on_subscriber_error)
        given = {"bus": bus, "streams": Streams(bus), "clock": clock or time.time, "log": None}

        class Joining(pickle.Unpickler):
            def persistent_load(self, pid: Any) -> Any:
                return given[pid]

        try:
            version, mark, switch, extra = Joining(file).load()
        except Exception as error:  # a damaged or foreign file: the caller replays the log
            raise ValueError(f"not a saved switch ({type(error).__name__}: {error})") from None
        if version != _STATE_VERSION or not isinstance(switch, cls):
            raise ValueError(f"not a saved switch of this version ({shown(version)})")
        return switch, mark, extra

    @classmethod
    def restore_checkpoint(
        cls,
        checkpoint: str | Path,
        log: str | Path,
        *,
        clock: Callable[[], float] | None = None,
    ) -> tuple[Switch, LogReader, tuple[Any, ...]]:
        """Rebuild a switch from a checkpoint (``save_state``) and the lines its log gained
        since: the state is loaded, and only those requests are run again (and checked, as
        ``restore`` checks them). Returns the switch, a reader of those lines, and the objects
        saved with the state. ``ValueError`` when the checkpoint does not fit the log (another
        log, or one rewritten since): then ``restore`` the whole log."""
        replay_clock = ManualClock()
        with open(checkpoint, "rb") as file:
            switch, (mark, checksum), extra = cls.load_state(file, clock=replay_clock)
        if mark is None:
            raise ValueError("the checkpoint was saved without a log")
        reader = LogReader.read_after(log, mark, checksum)
        if reader is None:
            raise ValueError("the log does not continue the checkpoint")
        header = reader.header
        if (header.get("base_uri"), header.get("seed")) != (switch.base_uri, switch.seed):
            raise ValueError("the checkpoint is of another log")
        replay_requests(switch, reader, replay_clock)
        switch._engine.clock = clock or time.time
        return switch, reader, extra

    # -- setup and lookup -------------------------------------------------------------------------
    def add_device(
        self,
        dn: str,
        *,
        features: Iterable[str] = (),
        role: str = "agent",
        _device_id: str | None = None,
    ) -> Device:
        """Register a device. ``features``: ``"mute"``, ``"recording"``; ``role``: ``"agent"``
        or ``"supervisor"`` (only a supervisor's device supervises)."""
        engine = self._engine
        flags = check_device(engine, dn, features)
        if role not in ("agent", "supervisor"):
            raise InvalidParameterError(
                f"role is 'agent' or 'supervisor', not {shown(role)}", operation="add_device"
            )
        engine.begin()
        device_id = engine.device_id()  # drawn even when restoring, to keep later ids equal
        line = Line(dn, _device_id or device_id, flags, DeviceRole(role))
        engine.add_line(line)
        device = self._faces.add(line)
        if engine.recorder:
            request = {"op": "add_device", "dn": dn, "features": sorted(flags), "id": device.id}
            if role != "agent":  # the line as earlier versions wrote it, for an agent
                request["role"] = role
            engine.commit(request)
        else:
            engine.commit()
        return device

    def device(self, dn: str) -> Device:
        return self._faces.device(self._engine.line(dn))

    @property
    def devices(self) -> tuple[Device, ...]:
        device = self._faces.device
        return tuple(device(line) for line in self._engine.lines.values())

    @property
    def calls(self) -> tuple[Call, ...]:
        """Every live leg on the switch, oldest first."""
        call = self._faces.call
        return tuple(call(leg) for leg in self._engine.legs.values())

    def call(self, call_id: str) -> Call:
        return self._faces.call(self._engine.leg(call_id))

    # -- subscribers ------------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Subscription:
        """Deliver every future event to ``callback``, in order; returns the unsubscribe handle.

        A callback that raises does not stop delivery to the others: the error goes, with the
        event, to ``on_subscriber_error`` (by default the ``callstate`` logger).
        """
        if not callable(callback):
            raise InvalidParameterError(f"{shown(callback)} is not callable", operation="subscribe")
        return self._bus.subscribe(callback)

    def subscribe_async(
        self, callback: AsyncSubscriber, *, maxsize: int = 1024
    ) -> AsyncSubscription:
        """Deliver every future event to coroutine function ``callback``, in order, from a task
        of the running loop; errors go to ``on_subscriber_error`` like a sync subscriber's."""
        if not callable(callback):
            raise InvalidParameterError(
                f"{shown(callback)} is not callable", operation="subscribe_async"
            )
        return AsyncSubscription(self._streams, callback, maxsize)

    def events(self, *, maxsize: int = 1024) -> EventStream:
        """An async stream of every event of the switch, in order."""
        return EventStream(self._streams, maxsize=maxsize)

    @property
    def streams(self) -> frozenset[EventStream]:
        """The event streams open on this switch (a closed or overflowed stream leaves)."""
        return frozenset(self._streams.open)

    async def drained(self) -> None:
        """Wait until every event stream that a live task reads, other than the calling task,
        is at most half full. A full stream nobody has read yet gets one turn of the loop for
        its reader to start; if none has, it is not waited for (it may overflow instead).
        When this returns, that holds (nothing ran in between)."""
        await self._streams.drained()

    # -- the far end ------------------------------------------------------------------------------
    def external_call(
        self, number: str, *, to: str, user_data: Mapping[str, Any] | None = None
    ) -> Call:
        """An outside party (``number``) calls device ``to``: a new ``Ringing`` leg there."""
        engine = self._engine
        engine.begin()
        leg = external_call(engine, number, to, user_data)
        engine.commit(
            {"op": "external_call", "number": number, "to": to, "userData": user_data}
            if engine.recorder
            else None
        )
        return self._faces.call(leg)

    def external_answer(self, party: str | Call, *, to: str | None = None) -> Call:
        """The outside party a leg is calling answers it."""
        return self._far_end(external_answer, "external_answer", party, to)

    def external_busy(self, party: str | Call, *, to: str | None = None) -> Call:
        """The outside party a leg is calling is busy (or does not answer)."""
        return self._far_end(external_busy, "external_busy", party, to)

    def external_hangup(self, party: str | Call, *, to: str | None = None) -> Call:
        """The outside party hangs up: it leaves its call (two-party calls end)."""
        return self._far_end(external_hangup, "external_hangup", party, to)

    def _far_end(
        self,
        request: Callable[[Engine, str | Leg, str | None], Leg],
        op: str,
        party: str | Call,
        to: str | None,
    ) -> Call:
        engine = self._engine
        engine.begin()
        leg = request(engine, leg_of(party) if isinstance(party, Call) else party, to)
        if engine.recorder:
            who = party if isinstance(party, str) else {"call": party.id}
            engine.commit({"op": op, "party": who, "to": to})
        else:
            engine.commit()
        return self._faces.call(leg)

    # -- the simulator's admin --------------------------------------------------------------------
    def clear_call(self, call: str | Call) -> Call:
        """Clear a call in any state, a ``Ringing`` one included: every leg of it is released
        (``Released`` events, as if the far end hung up on each party). ``call``: any of its
        legs, or a leg's id (``CallNotFoundError`` if no leg lives with that id)."""
        engine = self._engine
        engine.begin()
        leg = clear_call(engine, leg_of(call) if isinstance(call, Call) else call)
        engine.commit({"op": "clear_call", "call": leg.id} if engine.recorder else None)
        return self._faces.call(leg)

    def reset(self) -> None:
        """Clear every call (as ``clear_call``), then put every device back as it was added:
        ``NotReady``, without do-not-disturb, forwarding or supervision (each change told by a
        ``DeviceStateChanged``). Devices, the log and subscribers stay; ids go on."""
        engine = self._engine
        engine.begin()
        reset(engine)
        engine.commit({"op": "reset"} if engine.recorder else None)


class Restored(NamedTuple):
    """What ``Switch.restore`` gives: the rebuilt switch and the log it was rebuilt from."""

    #: the switch as the log left it, ready for new requests
    switch: Switch
    #: the log as read: ``header``, ``entries``, ``cut_line``/``cut_bytes`` of a cut last line
    reader: LogReader
