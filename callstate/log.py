"""The event log: every event as one JSON object, and a switch's history as JSON lines.

``encode``/``decode`` turn one event into one JSON line and back, losslessly.

A log file (``Switch(log=path)``) starts with a header line; then each successful request —
adding a device, a dial, an agent operation, a far-end event — is one line holding the request,
the switch clock when it ran, and the events it produced::

    {"callstate_log": 1, "base_uri": ..., "seed": ..., "ids": {...}}
    {"at": 1700000000.5, "request": {"op": "perform", ...}, "events": [EVENT, ...]}

Lines are written and flushed as the switch runs, so a crash loses at most the line being
written. ``read`` returns every complete line and reports a cut last line; a malformed line
anywhere else is refused with its line number. A file holding only the beginning of a header
(the crash came while the header was written) is a log with an empty ``header`` and no request;
an empty file or a first line that is not the start of a header is not a log.

``replay`` rebuilds a projection from the events; ``restore`` rebuilds a switch by running the
requests again on the same ids and clock readings, checking that they produce the logged events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from .enums import CallType, Mute, Operation, RecordingState, State
from .errors import CallStateError
from .events import (
    CallEvent,
    CallSnapshot,
    CapabilitiesChanged,
    DtmfSent,
    MuteChanged,
    ParticipantsChanged,
    RecordingChanged,
    StateChanged,
    UserDataChanged,
)

if TYPE_CHECKING:
    from .projection import Form, Projection

__all__ = [
    "LogError",
    "LogReader",
    "decode",
    "encode",
    "event_from_json",
    "event_to_json",
]

FORMAT_VERSION: Final = 1
_HEADER_START: Final = f'{{"callstate_log":{FORMAT_VERSION},'  # as LogWriter writes it
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
    )
}


class LogError(ValueError):
    """A log line that cannot be read; ``line`` is its 1-based number."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"log line {line}: {reason}")


# -- one event <-> one JSON object --------------------------------------------------------------
def event_to_json(event: CallEvent) -> dict[str, Any]:
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
        },
    }
    if isinstance(event, StateChanged):
        out["previous"] = event.previous.value if event.previous is not None else None
    elif isinstance(event, DtmfSent):
        out["digits"] = event.digits
    return out


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _optional(value: Any) -> str | None:
    return None if value is None else _str(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {value!r}")
    return value


def event_from_json(data: Any) -> CallEvent:
    """The event ``event_to_json`` produced; ``ValueError`` for anything else."""
    try:
        kind = _KINDS[data["type"]]
        c = data["call"]
        user_data = c["user_data"]
        if not isinstance(user_data, dict) or any(
            isinstance(v, bool) or not isinstance(v, str | int) for v in user_data.values()
        ):
            raise ValueError("user_data must map strings to strings or integers")
        duration = c["duration"]
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise ValueError("duration must be an integer")
        snapshot = CallSnapshot(
            id=_str(c["id"]),
            conn_id=_str(c["conn_id"]),
            device=_str(c["device"]),
            device_id=_str(c["device_id"]),
            state=State(c["state"]),
            call_type=CallType(c["call_type"]),
            participants=tuple(_str(p) for p in _list(c["participants"])),
            dnis=_str(c["dnis"]),
            ani=_str(c["ani"]),
            capabilities=tuple(Operation(op) for op in _list(c["capabilities"])),
            user_data=tuple((_str(k), v) for k, v in user_data.items()),
            mute=Mute(c["mute"]),
            recording=RecordingState(c["recording"]) if c["recording"] is not None else None,
            parent_id=_optional(c["parent_id"]),
            duration=duration,
        )
        if kind is StateChanged:
            previous = data["previous"]
            return StateChanged(snapshot, State(previous) if previous is not None else None)
        if kind is DtmfSent:
            return DtmfSent(snapshot, _str(data["digits"]))
        return kind(snapshot)
    except (KeyError, TypeError) as error:
        raise ValueError(f"not an event: {error!r}") from None


def encode(event: CallEvent) -> str:
    """One event as one line of JSON (no newline)."""
    return json.dumps(event_to_json(event), separators=(",", ":"))


def decode(line: str) -> CallEvent:
    """The event on one line of JSON; ``ValueError`` if it is not one."""
    return event_from_json(json.loads(line))


# -- the log file ---------------------------------------------------------------------------------
class LogWriter:
    """Appends one flushed line per request to a text file."""

    __slots__ = ("_file",)

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    def header(self, base_uri: str, seed: int | None, ids: Mapping[str, str]) -> None:
        self._line(
            {"callstate_log": FORMAT_VERSION, "base_uri": base_uri, "seed": seed, "ids": dict(ids)}
        )

    def request(self, at: float, request: Mapping[str, Any], events: Iterable[CallEvent]) -> None:
        self._line(
            {"at": at, "request": dict(request), "events": [event_to_json(e) for e in events]}
        )

    def _line(self, data: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(data, separators=(",", ":"), default=_plain) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True, slots=True)
class Entry:
    """One request line of a log."""

    line: int
    at: float
    request: Mapping[str, Any]
    events: tuple[CallEvent, ...]


@dataclass(slots=True)
class LogReader:
    """A log read back: its header, its complete request lines, and whether the end was cut."""

    header: Mapping[str, Any]
    entries: list[Entry] = field(default_factory=list)
    #: 1-based number of a last line cut off mid-way (ignored), else None
    cut_line: int | None = None
    #: bytes of that cut line
    cut_bytes: int = 0

    @classmethod
    def read(cls, source: str | Path | IO[str]) -> LogReader:
        try:
            if isinstance(source, str | Path):
                with open(source, encoding="utf-8", newline="") as file:
                    return cls._parse(file.read())
            return cls._parse(source.read())
        except UnicodeDecodeError as error:
            text = error.object[: error.start]
            line = (text.count(b"\n") if isinstance(text, bytes) else text.count("\n")) + 1
            raise LogError(line, "not UTF-8 text") from None

    @classmethod
    def _parse(cls, text: str) -> LogReader:
        lines = text.split("\n")
        last = lines.pop()  # "" when the file ends with a newline, else a line cut mid-way
        if not lines and not last:
            raise LogError(1, "empty log")
        reader: LogReader | None = None
        for number, line in enumerate(lines, start=1):
            data = cls._json(number, line)
            if reader is None:
                if not isinstance(data, dict) or data.get("callstate_log") != FORMAT_VERSION:
                    raise LogError(number, "not a callstate log header")
                reader = cls(header=data)
                continue
            reader.entries.append(cls._entry(number, data))
        if reader is None:  # no complete line: the header itself was being written
            start = last[: len(_HEADER_START)]
            if not _HEADER_START.startswith(start):
                raise LogError(1, "not a callstate log header")
            reader = cls(header={})
        if last:
            reader.cut_line = len(lines) + 1
            reader.cut_bytes = len(last.encode())
        return reader

    @staticmethod
    def _json(number: int, line: str) -> Any:
        try:
            return json.loads(line)
        except json.JSONDecodeError as error:
            raise LogError(number, f"not JSON ({error.msg})") from None

    @staticmethod
    def _entry(number: int, data: Any) -> Entry:
        try:
            at, request, events = data["at"], data["request"], data["events"]
            if not isinstance(request, dict) or not isinstance(at, int | float):
                raise ValueError("malformed request")
            return Entry(number, float(at), request, tuple(event_from_json(e) for e in events))
        except (KeyError, TypeError, ValueError) as error:
            raise LogError(number, f"not a request line ({error})") from None

    @property
    def events(self) -> list[CallEvent]:
        return [event for entry in self.entries for event in entry.events]


def replay(reader: LogReader, form: Form = "8.5.2") -> Projection:
    """A ``Projection`` rebuilt from the logged events alone."""
    from .projection import Projection

    projection = Projection(reader.header.get("base_uri", "http://127.0.0.1:8080/api/v2"), form)
    for event in reader.events:
        projection.apply(event)
    return projection


def check_replayed(entry: Entry, produced: list[CallEvent]) -> None:
    """Restoring ran ``entry`` again: it must have produced the logged events."""
    if tuple(produced) != entry.events:
        raise LogError(entry.line, "running the request again gave other events")


def refused(entry: Entry, error: CallStateError) -> LogError:
    return LogError(entry.line, f"the logged request is refused now: {error.status_message}")


def _plain(value: object) -> dict[Any, Any]:
    """Requests may carry any ``Mapping`` (the checks accept them); JSON needs a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
