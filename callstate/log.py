"""The event log: a switch's history as JSON lines, and every event as one JSON object.

``encode``/``decode`` turn one event into one JSON line and back, losslessly (a readable object:
``{"type": "StateChanged", "call": {"id": ..., "state": ..., ...}, "previous": ...}``).

A log file (``Switch(log=path)``) starts with a header line; then each successful request —
adding a device, a dial, an agent operation, a far-end event — is one line holding the switch
clock when it ran, the request, and the events it produced. Format version 3, written now::

    {"callstate_log":3,"base_uri":...,"seed":...,"ids":{...},"crc":"HHHHHHHH"}
    [AT,REQUEST,[EVENT,...],"HHHHHHHH"]

(each line closed by the CRC-32 of the line without it, in 8 hex digits: a damaged line is
refused by its number) where ``AT`` is the clock reading, ``REQUEST`` an object
(``{"op":"perform",...}``) and each ``EVENT`` an array ``[TYPE,[FIELDS],EXTRA]``: ``TYPE`` the
event class name, ``FIELDS`` the 18 ``CallSnapshot`` fields in this order::

    id, conn_id, device, device_id, state, call_type, participants, dnis, ani, capabilities,
    user_data, mute, recording, parent_id, duration, monitoring, supervisor_listening_in,
    monitored_user_muted

(logs written before supervision have the first 15: the flags then read false)

(``user_data`` as ``[key, value]`` pairs, in order) and ``EXTRA`` only for ``StateChanged``
(``previous``) and ``DtmfSent`` (``digits``). A ``DeviceStateChanged`` holds the 7
``DeviceSnapshot`` fields instead (``device, device_id, user_state, do_not_disturb, forward_to,
capabilities, supervision``; ``supervision`` null or ``[mode, scope, monitoring, target,
target_id]``). Positional arrays are what make writing cheap: the
writer copies the snapshot's attributes into a tuple in one C call and orjson encodes it, with no
per-field dict. Every event carries its whole snapshot, so each line stands alone: a cut or
resumed log needs no state from earlier lines. (Writing a leg's constant fields once and
referring to them later was measured: it saves bytes but no time, so it is not done.)

Version 2 is version 3 before devices and supervision: call snapshots of 15 fields, no device
events; it is still read. Version 1 (``{"callstate_log":1,...}``, one
``{"at":...,"request":...,"events":[...]}`` object per line, events as ``encode`` writes them)
is still read too. A version 1 or 2 log resumed by this version (``Switch.restore(...,
resume_log=True)``) goes on with version 3 lines; the reader takes either shape after a version
1 header, and array lines after a version 2 or 3 header.

Each line is with the operating system as its request completes (copied into the mapped file,
or written with one ``os.write``: see ``LogWriter``), so a crash of the process loses at most the
line being written. (Nothing is synced to disk: a crash of the machine may lose more. Pages it
left unwritten read as zero bytes, and the log is cut at the first of them.) A log still open,
or left by a process that died, ends in zero bytes its writer had reserved; reading ignores them
(``reserved_bytes``) and resuming writes over them. ``read`` returns every complete line and
reports a cut last line; a malformed line anywhere else is refused with its line number. A file
holding only the beginning of a header (the crash came while the header was written) is a log
with an empty ``header`` and no request; an empty file or a first line that is not the start of
a header is not a log.

``replay`` rebuilds a projection from the events; ``restore`` rebuilds a switch by running the
requests again on the same ids and clock readings, checking that they produce the logged events.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import mmap
import os
import stat
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

import orjson

from .enums import (
    AgentState,
    CallType,
    DeviceOperation,
    MonitoringMode,
    Mute,
    Operation,
    RecordingState,
    State,
    SupervisionMode,
    SupervisionScope,
)
from .errors import CallStateError, InvalidParameterError, shown
from .events import (
    CallEvent,
    CallSnapshot,
    CapabilitiesChanged,
    DeviceSnapshot,
    DeviceStateChanged,
    DtmfSent,
    Event,
    MonitoredUserMutedChanged,
    MuteChanged,
    ParticipantsChanged,
    RecordingChanged,
    StateChanged,
    Supervision,
    SupervisionChanged,
    UserDataChanged,
)

if TYPE_CHECKING:
    from .projection import Form, Projection

__all__ = [
    "Entry",
    "LogError",
    "LogReader",
    "decode",
    "encode",
    "event_from_json",
    "event_to_json",
    "header_line",
    "request_line",
]

FORMAT_VERSION: Final = 3
#: the start of a header line of each version readable, exactly as its writer wrote it
_HEADER_STARTS: Final = (b'{"callstate_log":1,', b'{"callstate_log":2,', b'{"callstate_log":3,')
_KINDS: Final[Mapping[str, type[CallEvent]]] = {
    kind.__name__: kind
    for kind in (
        StateChanged,
        CapabilitiesChanged,
        MuteChanged,
        ParticipantsChanged,
        UserDataChanged,
        DtmfSent,
        RecordingChanged,
        MonitoredUserMutedChanged,
        SupervisionChanged,
    )
}
#: the keys of what some kinds carry besides the snapshot, in a version 1 event
_EXTRA_KEYS: Final[Mapping[type[CallEvent], tuple[str, ...]]] = {
    StateChanged: ("previous",),
    DtmfSent: ("digits",),
}
#: fields of a call snapshot as written: 15 before supervision, 18 since (3 flags at the end)
_FIELD_COUNTS: Final = (15, 18)
_USER_DATA: Final = 10  # its index: pairs in the record, a tuple of tuples in the snapshot
E = TypeVar("E", bound=Enum)


#: madvise: fault a range of a mapping in for writing, ahead of use (Linux 5.14 and later)
_MADV_POPULATE_WRITE: Final = 23
#: errors that say the file cannot grow: no falling back to plain writes, which would fail too
_NO_ROOM: Final = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
#: room the writer keeps ahead for the next line, so that copying it in cannot fail
_HEADROOM: Final = 1 << 18
#: the most the writer reserves at a time
_MAX_STEP: Final = 1 << 23
#: what a crash can leave unwritten in a file: whole pages
_PAGE: Final = 4096
#: the least the writer reserves at a time, and the unit of reservation
_CHUNK: Final = 1 << 16
#: the bytes of a line's end a mark keeps: its checksum (8 hex digits), the closing, the newline
_TAIL: Final = 12


def _intact(block: bytes) -> bool:
    """Whether every line of ``block`` (whole sealed request lines) matches its checksum."""
    crc32 = zlib.crc32
    for line in block.split(b"\n")[:-1]:
        if line[-12:-10] != b',"' or line[-2:] != b'"]':
            return False
        try:
            if crc32(line[:-12] + b"]") != int(line[-10:-2], 16):
                return False
        except ValueError:
            return False
    return True


class LogError(ValueError):
    """A log line that cannot be read; ``line`` is its 1-based number."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"log line {line}: {reason}")


# -- JSON -----------------------------------------------------------------------------------------
def _plain(value: object) -> dict[Any, Any]:
    """Requests may carry any ``Mapping`` (the checks accept them); JSON needs a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _payload(data: object) -> bytes:
    """``data`` as compact JSON (no newline).

    orjson refuses a few values the ``json`` module writes exactly — non-string keys, lone
    surrogates; such a line is written by ``json`` instead, so nothing the switch accepts makes
    logging fail. (Lines are read with ``json``, which reads both exactly.)
    """
    try:
        return orjson.dumps(data, default=_plain)
    except orjson.JSONEncodeError:
        return json.dumps(data, separators=(",", ":"), default=_plain).encode()


def _header(value: dict[str, Any]) -> dict[str, Any]:
    """A header read back, its fields checked: what restoring a switch takes from it."""
    ids = value.get("ids")
    seed = value.get("seed")
    if not (
        isinstance(value.get("base_uri"), str)
        and (seed is None or (type(seed) is int))
        and isinstance(ids, dict)
        and all(isinstance(ids.get(k), str) for k in ("call_prefix", "conn_prefix"))
    ):
        raise LogError(1, "a header with base_uri (text), seed (integer or null) and ids")
    return value


def _sealed(number: int, line: bytes, value: Any) -> Any:
    """Check the CRC-32 that closes a version 2 line: 8 hex digits after the line's last comma
    (``,"crc":"HHHHHHHH"}`` for the header, ``,"HHHHHHHH"]`` for a request; a fixed width, so
    that a line's length does not depend on its checksum) cover the line without them."""
    if isinstance(value, dict):
        at = line.rfind(b',"crc":')
        crc, payload = value.pop("crc", None), line[:at] + b"}"
    else:
        at = line.rfind(b",")
        crc, payload = (value.pop() if value else None), line[:at] + b"]"
    if not isinstance(crc, str) or at < 0 or crc != f"{zlib.crc32(payload):08x}":
        raise LogError(number, "damaged: its checksum does not match")
    return value


# -- one line ------------------------------------------------------------------------------------
def header_line(base_uri: str, seed: int | None, ids: Mapping[str, str]) -> bytes:
    """A log's first line (sealed, with its newline): what a switch restarts from."""
    header = {"callstate_log": FORMAT_VERSION, "base_uri": base_uri, "seed": seed}
    header["ids"] = dict(ids)
    payload = _payload(header)
    return payload[:-1] + b',"crc":"%08x"}\n' % zlib.crc32(payload)


def _request_payload(
    at: float, request: Mapping[str, Any], events: Iterable[Event]
) -> tuple[bytes, bytes]:
    """A request line in two parts: ``[AT,REQUEST,EVENTS]``, and what replaces its closing
    ``]`` to seal it (``,"CRC"]`` and the newline)."""
    # an event is (call, *extra) and a snapshot a named tuple of its 18 fields in order (a
    # device event: (device,), its snapshot the 7 device fields)
    records = [(event.kind, tuple(event[0]), *event[1:]) for event in events]
    line = (at, request, records)
    try:
        payload = orjson.dumps(line, default=_plain)
    except orjson.JSONEncodeError:  # see _payload
        payload = _payload(line)
    return payload, b',"%08x"]\n' % zlib.crc32(payload)


def request_line(at: float, request: Mapping[str, Any], events: Iterable[Event]) -> bytes:
    """One request's line (sealed, with its newline), byte for byte as ``LogWriter`` writes it."""
    payload, tail = _request_payload(at, request, events)
    return payload[:-1] + tail


# -- one event <-> one JSON object --------------------------------------------------------------
def event_to_json(event: Event) -> dict[str, Any]:
    if isinstance(event, DeviceStateChanged):
        d = event.device
        fields = d._asdict()
        fields["capabilities"] = [op.value for op in d.capabilities]
        watch = d.supervision
        fields["supervision"] = None if watch is None else [str(v) for v in watch]
        return {"type": event.kind, "device": {k: _json_value(v) for k, v in fields.items()}}
    assert isinstance(event, CallEvent)
    c = event.call
    out: dict[str, Any] = {
        "type": type(event).__name__,
        "call": {
            "id": c.id,
            "conn_id": c.conn_id,
            "device": c.device,
            "device_id": c.device_id,
            "state": c.state.value,
            "call_type": c.call_type.value,
            "participants": list(c.participants),
            "dnis": c.dnis,
            "ani": c.ani,
            "capabilities": [op.value for op in c.capabilities],
            "user_data": dict(c.user_data),
            "mute": c.mute.value,
            "recording": c.recording.value if c.recording is not None else None,
            "parent_id": c.parent_id,
            "duration": c.duration,
            "monitoring": c.monitoring,
            "supervisor_listening_in": c.supervisor_listening_in,
            "monitored_user_muted": c.monitored_user_muted,
        },
    }
    if isinstance(event, StateChanged):
        out["previous"] = event.previous.value if event.previous is not None else None
    elif isinstance(event, DtmfSent):
        out["digits"] = event.digits
    return out


def _json_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {shown(value)}")
    return value


def _optional(value: Any) -> str | None:
    return None if value is None else _str(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {shown(value)}")
    return value


def _value(value: Any) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("user_data must map strings to strings or integers")
    return value


def _pair(pair: Any) -> tuple[str, str | int]:
    if not isinstance(pair, list) or len(pair) != 2:
        raise ValueError(f"a user_data pair must be [key, value], got {shown(pair)}")
    return _str(pair[0]), _value(pair[1])


def _snapshot(
    id: Any,
    conn_id: Any,
    device: Any,
    device_id: Any,
    state: Any,
    call_type: Any,
    participants: Any,
    dnis: Any,
    ani: Any,
    capabilities: Any,
    user_data: tuple[tuple[str, str | int], ...],
    mute: Any,
    recording: Any,
    parent_id: Any,
    duration: Any,
    monitoring: Any = False,
    supervisor_listening_in: Any = False,
    monitored_user_muted: Any = False,
) -> CallSnapshot:
    """A snapshot from decoded JSON values (both versions); ``ValueError`` for a wrong one."""
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise ValueError("duration must be an integer")
    flags = (monitoring, supervisor_listening_in, monitored_user_muted)
    if not all(isinstance(flag, bool) for flag in flags):
        raise ValueError("the supervision flags are true or false")
    return CallSnapshot(
        id=_str(id),
        conn_id=_str(conn_id),
        device=_str(device),
        device_id=_str(device_id),
        state=_member(State, state),
        call_type=_member(CallType, call_type),
        participants=tuple(_str(p) for p in _list(participants)),
        dnis=_str(dnis),
        ani=_str(ani),
        capabilities=tuple(_member(Operation, op) for op in _list(capabilities)),
        user_data=user_data,
        mute=_member(Mute, mute),
        recording=_member(RecordingState, recording) if recording is not None else None,
        parent_id=_optional(parent_id),
        duration=duration,
        monitoring=monitoring,
        supervisor_listening_in=supervisor_listening_in,
        monitored_user_muted=monitored_user_muted,
    )


#: each enum's members by value: a dict lookup, where calling the enum costs a microsecond
_MEMBERS: Final[Mapping[type[Enum], Mapping[object, Enum]]] = {
    kind: {member.value: member for member in kind}
    for kind in (
        State,
        CallType,
        Operation,
        Mute,
        RecordingState,
        AgentState,
        DeviceOperation,
        SupervisionMode,
        SupervisionScope,
        MonitoringMode,
    )
}


def _member(kind: type[E], value: Any) -> E:
    try:
        return _MEMBERS[kind][value]  # type: ignore[return-value]
    except (KeyError, TypeError):  # TypeError: an unhashable value (a list, an object)
        raise ValueError(f"{shown(value)} is not a valid {kind.__name__}") from None


def _event(kind: type[CallEvent], snapshot: CallSnapshot, extra: list[Any]) -> CallEvent:
    """The event of ``kind``; ``extra`` holds ``previous`` or ``digits`` for the kinds with one."""
    if kind is StateChanged:
        (previous,) = extra
        return StateChanged(snapshot, _member(State, previous) if previous is not None else None)
    if kind is DtmfSent:
        (digits,) = extra
        return DtmfSent(snapshot, _str(digits))
    if extra:
        raise ValueError(f"{kind.__name__} carries nothing more, got {shown(extra)}")
    return kind(snapshot)


def _device(
    device: Any,
    device_id: Any,
    user_state: Any,
    do_not_disturb: Any,
    forward_to: Any,
    capabilities: Any,
    supervision: Any,
) -> DeviceSnapshot:
    """A device snapshot from decoded JSON values; ``ValueError`` for a wrong one."""
    if not isinstance(do_not_disturb, bool):
        raise ValueError("do_not_disturb must be true or false")
    watched = None
    if supervision is not None:
        if isinstance(supervision, dict):
            supervision = [supervision.get(name) for name in Supervision._fields]
        mode, scope, monitoring, target, target_id = _list(supervision)
        watched = Supervision(
            _member(SupervisionMode, mode),
            _member(SupervisionScope, scope),
            _member(MonitoringMode, monitoring),
            _str(target),
            _str(target_id),
        )
    return DeviceSnapshot(
        _str(device),
        _str(device_id),
        _member(AgentState, user_state),
        do_not_disturb,
        _optional(forward_to),
        tuple(_member(DeviceOperation, op) for op in _list(capabilities)),
        watched,
    )


def event_from_json(data: Any) -> Event:
    """The event ``event_to_json`` produced; ``ValueError`` for anything else."""
    try:
        if data["type"] == DeviceStateChanged.kind:
            d = data["device"]
            return DeviceStateChanged(_device(*(d[name] for name in DeviceSnapshot._fields)))
        kind = _KINDS[data["type"]]
        c = data["call"]
        user_data = c["user_data"]
        if not isinstance(user_data, dict):
            raise ValueError("user_data must map strings to strings or integers")
        snapshot = _snapshot(
            c["id"],
            c["conn_id"],
            c["device"],
            c["device_id"],
            c["state"],
            c["call_type"],
            c["participants"],
            c["dnis"],
            c["ani"],
            c["capabilities"],
            tuple((k, _value(v)) for k, v in user_data.items()),
            c["mute"],
            c["recording"],
            c["parent_id"],
            c["duration"],
            c.get("monitoring", False),
            c.get("supervisor_listening_in", False),
            c.get("monitored_user_muted", False),
        )
        return _event(kind, snapshot, [data[key] for key in _EXTRA_KEYS.get(kind, ())])
    except (KeyError, TypeError) as error:
        raise ValueError(f"not an event: {error!r}") from None


def _event_from_record(record: Any) -> Event:
    """The event a version 2 record ``[TYPE, [FIELDS], EXTRA...]`` holds; ``ValueError`` else."""
    try:
        name, fields, *extra = _list(record)
        if name == DeviceStateChanged.kind and not extra:
            return DeviceStateChanged(_device(*_list(fields)))
        kind = _KINDS[name]
        values = _list(fields)
        if len(values) not in _FIELD_COUNTS:
            raise ValueError(f"an event has 15 or 18 fields, got {len(values)}")
        values[_USER_DATA] = tuple(_pair(pair) for pair in _list(values[_USER_DATA]))
        return _event(kind, _snapshot(*values), extra)
    except (KeyError, TypeError) as error:
        raise ValueError(f"not an event: {error!r}") from None


def encode(event: Event) -> str:
    """One event as one line of JSON (no newline)."""
    if not isinstance(event, CallEvent | DeviceStateChanged):
        raise InvalidParameterError(f"{shown(event)} is not a CallEvent", operation="encode")
    return _payload(event_to_json(event)).decode()


def decode(line: str) -> Event:
    """The event on one line of JSON; ``ValueError`` if it is not one."""
    if not isinstance(line, str | bytes | bytearray):
        raise InvalidParameterError(f"{shown(line)} is not a line of text", operation="decode")
    try:
        return event_from_json(json.loads(line))
    except RecursionError:
        raise ValueError("not an event: nested too deeply") from None


# -- the log file ---------------------------------------------------------------------------------
def _line_end(fd: int, end: int) -> int:
    """Where the last complete line of a file ends at or before ``end`` (a line cut off by a
    crash is not kept: new lines go in its place)."""
    while end:
        size = min(end, _CHUNK)
        block = os.pread(fd, size, end - size)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return end - size + newline + 1
        end -= size
    return 0


def _content_end(fd: int) -> int:
    """Where a log file's lines end: its size, less the zero bytes a writer had reserved and
    not used (a log that was not closed, e.g. after a crash), which the new lines replace."""
    end = os.lseek(fd, 0, os.SEEK_END)
    while end:
        block = os.pread(fd, min(end, _CHUNK), end - min(end, _CHUNK))
        kept = len(block.rstrip(b"\0"))
        if kept:
            return end - len(block) + kept
        end -= len(block)
    return 0


def lock(fd: int) -> None:
    """Lock the log open as ``fd`` for this writer alone; ``OSError`` if another has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OSError(
            errno.EBUSY, "the log is in use by another writer (another server?)"
        ) from None


class LogWriter:
    """Writes the header, then one line per request as the request completes.

    ``file`` is an open binary file (``Switch.write_log`` opens it ``w+b`` or ``a+b``, unbuffered);
    the writer owns it. On a regular file the writer maps the file into memory and copies each
    line into the mapping: the line is in the operating system's page cache as soon as the copy
    is done — where a ``write`` would put it, at a fraction of a system call's cost — so a crash
    of the process still loses at most the line being written. Space is reserved ahead in
    chunks (``posix_fallocate``: a full disk is an ``OSError`` when a chunk is reserved, never a
    fault while copying), so until the log is closed the file ends in zero bytes after the last
    line; ``LogReader`` ignores them, and ``close`` cuts them off. Anything else (a pipe, a
    device, a file system that cannot reserve space) gets one ``os.write`` per line.
    """

    __slots__ = ("_base", "_fd", "_file", "_map", "_pos", "_size", "_started", "_tail", "failure")

    def __init__(self, file: IO[bytes], *, truncate: bool = False) -> None:
        """Take ``file`` (``truncate``: empty it first). A regular file is locked (``flock``)
        while the writer has it: a second writer, in this process or another, is refused with
        an ``OSError`` before it changes anything — two servers appending to one log would
        write over each other's lines."""
        self._file = file
        self._map: mmap.mmap | None = None
        self._tail = b""
        #: why the log has no room for another line (checked before each request), else None
        self.failure: Exception | None = None
        #: file offsets: the mapping's start, the end of the lines, the end of the mapping
        self._base = self._pos = self._size = self._started = 0
        try:
            self._fd = fd = file.fileno()
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return
            lock(fd)
            if truncate:
                os.ftruncate(fd, 0)
            # new lines go after the last complete one, over a cut line and unused reserved space
            end = _line_end(fd, _content_end(fd))
            if end != os.fstat(fd).st_size:
                os.ftruncate(fd, end)
            self._pos = self._started = end
            #: the last bytes of the last line (its checksum and newline): with ``_pos``, where
            #: the log stands (``mark``)
            self._tail = os.pread(fd, _TAIL, max(0, end - _TAIL)) if end else b""
            if hasattr(os, "posix_fallocate"):
                self._reserve(_CHUNK)
        except BaseException:
            file.close()
            raise

    @property
    def mark(self) -> tuple[int, bytes]:
        """Where the log stands: the offset after its last line, and that line's last bytes
        (its checksum), which ``LogReader.read_after`` checks before it trusts the offset."""
        return self._pos, self._tail

    def checksum(self) -> int:
        """The CRC-32 of the log's lines so far (the file up to ``mark``'s offset): a checkpoint
        keeps it, so that a restart can check the log it continues in one pass."""
        crc, done, end = 0, 0, self._pos
        while done < end:
            chunk = os.pread(self._fd, min(1 << 23, end - done), done)
            if not chunk:
                raise OSError(f"the log ends at {done} bytes, before its last line's end")
            crc = zlib.crc32(chunk, crc)
            done += len(chunk)
        return crc

    @property
    def empty(self) -> bool:
        """Whether the file held no line when the writer took it (a header is then due)."""
        return self._started == 0

    def writes_to(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` names the file this writer writes."""
        try:
            there, here = os.stat(path), os.fstat(self._fd)
        except OSError:
            return False
        return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)

    def _reserve(self, need: int) -> None:
        """Make room for ``need`` more bytes after the last line: reserve the next stretch of
        the file (an eighth of the log so far, within bounds) and map just that window, so
        that growing costs the same however long the log is. Where that fails, write each
        line from now on."""
        step = min(max(_CHUNK, self._pos // 8), _MAX_STEP)
        size = (self._pos + need + step + _CHUNK - 1) // _CHUNK * _CHUNK
        base = self._pos // mmap.ALLOCATIONGRANULARITY * mmap.ALLOCATIONGRANULARITY
        try:
            os.posix_fallocate(self._fd, self._pos, size - self._pos)
            mapped = mmap.mmap(self._fd, size - base, offset=base)
        except OSError as error:
            if error.errno in _NO_ROOM:  # writing each line would fail as well
                raise
            self._unmap()
            return
        except ValueError:
            self._unmap()
            return
        with contextlib.suppress(OSError, ValueError):  # fault the window in (Linux 5.14+)
            mapped.madvise(_MADV_POPULATE_WRITE)
        if self._map is not None:
            self._map.close()
        self._map, self._base, self._size = mapped, base, size

    def _unmap(self) -> None:
        """Stop mapping: cut the reserved space off, and write the next line at the end."""
        if self._map is not None:
            self._map.close()
            self._map = None
        self._size = 0
        os.ftruncate(self._fd, self._pos)
        os.lseek(self._fd, self._pos, os.SEEK_SET)

    def header(self, base_uri: str, seed: int | None, ids: Mapping[str, str]) -> None:
        self._write(header_line(base_uri, seed, ids))

    def request(self, at: float, request: Mapping[str, Any], events: Iterable[Event]) -> None:
        payload, tail = _request_payload(at, request, events)
        # the common case inline (this runs once per request): room in the mapping, copy
        start = self._pos
        end = start + len(payload) - 1 + len(tail)
        mapped = self._map
        if mapped is not None and end <= self._size:
            # the payload, then the tail over its "]", the newline last: a line that ends in
            # one was copied whole
            at = start - self._base
            mapped[at : at + len(payload)] = payload
            at += len(payload) - 1
            mapped[at : at + len(tail) - 1] = tail[:-1]
            mapped[end - self._base - 1] = 10
            self._pos = end
            self._tail = tail[-_TAIL:]
            if self._size - end < _HEADROOM:
                self._ahead()
        else:
            try:
                self._write(payload[:-1] + tail)
            except OSError as error:  # keep nothing of the line; recover() tries again later
                self.failure = error
                if self._map is None:  # a short write may have left part of the line
                    with contextlib.suppress(OSError):
                        os.ftruncate(self._fd, self._pos)
                raise

    def recover(self) -> bool:
        """After a ``failure`` (a full disk): try to make room again; whether it worked. A
        writer that writes each line takes the next request on trust (its write then says)."""
        if self.failure is None:
            return True
        if self._map is not None or self._size:
            try:
                self._reserve(_HEADROOM)
            except OSError:
                return False
        else:
            with contextlib.suppress(OSError):  # what a failed write may have left (a file)
                os.ftruncate(self._fd, self._pos)
                os.lseek(self._fd, self._pos, os.SEEK_SET)
        self.failure = None
        return True

    def _ahead(self) -> None:
        """Keep room for the next request's line. Without it (a full disk), say so in
        ``failure``: the switch then refuses the next request before it changes anything."""
        try:
            self._reserve(_HEADROOM)
        except OSError as error:
            self.failure = error

    def _write(self, line: bytes) -> None:
        end = self._pos + len(line)
        if self._map is not None and end > self._size:
            self._reserve(len(line))
        mapped = self._map
        if mapped is None:
            written = os.write(self._fd, line)
            while written < len(line):  # a short write (rare on files): write the rest
                written += os.write(self._fd, line[written:])
        else:
            base = self._base
            mapped[self._pos - base : end - base - 1] = line[:-1]
            mapped[end - base - 1] = line[-1]
        self._pos = end
        self._tail = line[-_TAIL:]

    def close(self) -> None:
        """Unmap, cut the reserved space off, and close the file."""
        try:
            if self._map is not None:
                self._map.close()
                self._map = None
                os.ftruncate(self._fd, self._pos)
        finally:
            self._file.close()


@dataclass(frozen=True, slots=True)
class Entry:
    """One request line of a log."""

    line: int
    at: float
    request: Mapping[str, Any]
    events: tuple[Event, ...]


@dataclass(slots=True)
class LogReader:
    """A log read back: its header, its complete request lines, and whether the end was cut."""

    header: Mapping[str, Any]
    entries: list[Entry] = field(default_factory=list)
    #: 1-based number of a last line cut off mid-way (ignored), else None
    cut_line: int | None = None
    #: bytes of that cut line
    cut_bytes: int = 0
    #: zero bytes after the last line: space a writer reserved and had not used (or cut off)
    reserved_bytes: int = 0

    @classmethod
    def read(cls, source: str | Path | IO[str] | IO[bytes]) -> LogReader:
        """Read a log file (by path, or an open text or binary file)."""
        if isinstance(source, str | os.PathLike):
            with open(source, "rb") as file:
                return cls._parse(file.read())
        if not callable(getattr(source, "read", None)):
            raise InvalidParameterError(
                f"a log is a path or an open file, not {shown(source)}", operation="read"
            )
        try:
            data = source.read()
        except UnicodeDecodeError as error:  # a text file that is not UTF-8
            line = error.object[: error.start].count(b"\n") + 1
            raise LogError(line, "not UTF-8 text") from None
        if isinstance(data, str):
            # surrogates (undecodable bytes, if any) make their line "not UTF-8 text", as on disk
            return cls._parse(data.encode("utf-8", "surrogatepass"))
        if not isinstance(data, bytes | bytearray):
            raise InvalidParameterError(
                f"{shown(source)} read {shown(data)}, not text", operation="read"
            )
        return cls._parse(bytes(data))

    @classmethod
    def read_after(
        cls, path: str | Path, mark: tuple[int, bytes], checksum: int | None = None
    ) -> LogReader | None:
        """The log at ``path`` from ``mark`` on (a ``LogWriter.mark`` taken earlier): its
        header and the lines written after the mark, numbered as in the whole file. None if
        the file does not end that way at that offset (another or a rewritten log), or if the
        lines before it are not intact: their ``checksum`` (``LogWriter.checksum`` at the
        mark), or without one each line's own."""
        offset, tail = mark
        with open(path, "rb") as file:
            data = file.read()
        if not tail or offset > len(data) or data[offset - len(tail) : offset] != tail:
            return None
        first = data.find(b"\n") + 1
        if not 0 < first <= offset:
            return None
        view = memoryview(data)
        if checksum is not None:
            intact = zlib.crc32(view[:offset]) == checksum
        else:
            intact = _intact(data[first:offset])
        if not intact:
            return None  # damaged before the mark: reading it all says where, and how
        skipped = data.count(b"\n", first, offset)
        return cls._parse(data[:first] + data[offset:], skipped)

    @classmethod
    def _parse(cls, data: bytes, skipped: int = 0) -> LogReader:
        padded = len(data)
        data = data.rstrip(b"\0")  # space a live (or crashed) writer reserved: not the log's
        reserved, tail = padded - len(data), 0
        hole = data.find(b"\0")
        if hole >= 0:
            run = len(data) - hole - len(data[hole:].lstrip(b"\0"))
            page = -(-hole // _PAGE) * _PAGE  # the first page boundary at or after the hole
            if page + _PAGE > hole + run:  # no whole page of zeros: damage, not a crash
                raise LogError(data.count(b"\n", 0, hole) + 1, "damaged: zero bytes in a line")
            # a page a machine crash left unwritten: nothing from its line on is sure
            start = data.rfind(b"\n", 0, hole) + 1
            tail = len(data) - start
            data = data[:start]
        lines = data.split(b"\n")
        last = lines.pop()  # b"" when the file ends with a newline, else a line cut mid-way
        if not lines and not last:
            raise LogError(1, "empty log")
        reader: LogReader | None = None
        version = 0
        for index, line in enumerate(lines, start=1):
            number = index if index == 1 else index + skipped  # ``read_after`` left some out
            value = cls._json(number, line)
            if reader is None:
                stated = value.get("callstate_log") if isinstance(value, dict) else None
                if type(stated) is not int or stated not in (1, 2, FORMAT_VERSION):
                    raise LogError(number, "not a callstate log header")
                if stated >= 2:
                    value = _sealed(number, line, value)
                elif "crc" in value:  # a version 2 or 3 header whose version was damaged
                    raise LogError(number, "damaged: a version 1 header has no checksum")
                reader, version = cls(header=_header(value)), stated
                continue
            if isinstance(value, list):  # version 2 or 3 lines, after any header
                value = _sealed(number, line, value)
            reader.entries.append(cls._entry(number, value, version))
        if reader is None:  # no complete line: the header itself was being written
            if not any(start.startswith(last[: len(start)]) for start in _HEADER_STARTS):
                raise LogError(1, "not a callstate log header")
            reader = cls(header={})
        if last or tail:
            reader.cut_line = len(lines) + 1 + skipped
            reader.cut_bytes = len(last) + tail
        reader.reserved_bytes = reserved
        return reader

    @staticmethod
    def _json(number: int, line: bytes) -> Any:
        try:
            return json.loads(line.decode())
        except UnicodeDecodeError:
            raise LogError(number, "not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise LogError(number, f"not JSON ({error.msg})") from None
        except ValueError as error:  # e.g. an integer too long to read
            raise LogError(number, f"not a log line ({error})") from None
        except RecursionError:
            raise LogError(number, "not a log line: nested too deeply") from None

    @staticmethod
    def _entry(number: int, data: Any, version: int) -> Entry:
        """A request line: an array in version 2; an object too after a version 1 header."""
        try:
            if isinstance(data, list):
                at, request, records = data
                events = tuple(_event_from_record(r) for r in _list(records))
            elif version == 1:
                at, request, records = data["at"], data["request"], data["events"]
                events = tuple(event_from_json(e) for e in records)
            else:
                raise ValueError(f"a version {version} request line is an array")
            if not isinstance(request, dict) or not isinstance(at, int | float):
                raise ValueError("malformed request")
            return Entry(number, float(at), request, events)
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            raise LogError(number, f"not a request line ({error})") from None

    @property
    def events(self) -> list[Event]:
        return [event for entry in self.entries for event in entry.events]

    @classmethod
    def header_of(cls, line: bytes) -> dict[str, Any]:
        """The header a log's first line holds (a current one, sealed; its newline may be
        left off); ``LogError`` if it is not one."""
        value = cls._json(1, line.rstrip(b"\n"))
        if not isinstance(value, dict) or value.get("callstate_log") != FORMAT_VERSION:
            raise LogError(1, "not a callstate log header")
        return _header(_sealed(1, line.rstrip(b"\n"), value))

    @classmethod
    def entry_of(cls, number: int, line: bytes) -> Entry:
        """The request a current log's line ``number`` holds (sealed; its newline may be left
        off); ``LogError`` if it is not one."""
        line = line.rstrip(b"\n")
        value = cls._json(number, line)
        if not isinstance(value, list):
            raise LogError(number, "not a request line")
        return cls._entry(number, _sealed(number, line, value), FORMAT_VERSION)


def replay(reader: LogReader, form: Form | None = None) -> Projection:
    """A ``Projection`` rebuilt from the logged events alone (``form``: as ``Projection``'s,
    default ``DEFAULT_FORM``)."""
    from .projection import DEFAULT_FORM, Projection

    if not isinstance(reader, LogReader):
        raise InvalidParameterError(f"{shown(reader)} is not a LogReader", operation="replay")

    base_uri = reader.header.get("base_uri", "http://127.0.0.1:8080/api/v2")
    projection = Projection(base_uri, DEFAULT_FORM if form is None else form)
    for event in reader.events:
        projection.apply(event)
    return projection


def check_replayed(entry: Entry, produced: list[Event]) -> None:
    """Restoring ran ``entry`` again: it must have produced the logged events."""
    if tuple(produced) != entry.events:
        raise LogError(entry.line, "running the request again gave other events")


def refused(entry: Entry, error: CallStateError) -> LogError:
    return LogError(entry.line, f"the logged request is refused now: {error.status_message}")
