"""The lines of a log file: a header, then one line per request, each sealed by its checksum.

Format version 3, written now::

    {"callstate_log":3,"base_uri":...,"seed":...,"ids":{...},"crc":"HHHHHHHH"}
    [AT,REQUEST,[EVENT,...],"HHHHHHHH"]

Each line is closed by the CRC-32 of the line without it (and without its newline), in 8 hex
digits (a fixed width, so that a line's length does not depend on its checksum): a damaged line
is refused by its number. ``AT`` is the switch clock when the request ran, ``REQUEST`` an object
(``{"op":"perform",...}``) and each ``EVENT`` a record as ``callstate.log.codec`` writes it.

Lines are written by orjson, or by ``json`` (ASCII-escaped) where orjson refuses a value
(``callstate.wire.dumps``): a non-string key, a lone surrogate, an integer beyond 64 bits, a
device's ``Supervision`` (a named tuple); so nothing the switch accepts makes logging fail.
Lines are read with ``json``, which reads what either wrote exactly.

Version 2 is version 3 before devices and supervision: call snapshots of 15 fields, no device
events; it is still read. Version 1 (``{"callstate_log":1,...}``, no checksums, one
``{"at":...,"request":...,"events":[...]}`` object per line, events as ``codec.encode`` writes
them) is still read too. A version 1 or 2 log resumed by this version (``Switch.restore(...,
resume_log=True)``) goes on with version 3 lines; a line after a version 1 header may take
either shape, and after a version 2 or 3 header it is an array.

This module makes and reads one line; ``writer`` and ``reader`` handle the file.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..events import Event
from ..wire import dumps
from .codec import event_from_json, events_from_records, plain, records

__all__ = [
    "FORMAT_VERSION",
    "HEADER_STARTS",
    "Entry",
    "LogError",
    "current_entry",
    "current_header",
    "header_line",
    "intact",
    "opening",
    "parsed",
    "read_entry",
    "request_line",
    "request_payload",
    "sealed",
]

FORMAT_VERSION: Final = 3
#: the start of a header line of each version readable, exactly as its writer wrote it
HEADER_STARTS: Final = (b'{"callstate_log":1,', b'{"callstate_log":2,', b'{"callstate_log":3,')


class LogError(ValueError):
    """A log line that cannot be read; ``line`` is its 1-based number."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"log line {line}: {reason}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One request line of a log."""

    line: int
    at: float
    request: Mapping[str, Any]
    events: tuple[Event, ...]


# -- writing --------------------------------------------------------------------------------------
def header_line(base_uri: str, seed: int | None, ids: Mapping[str, str]) -> bytes:
    """A log's first line (sealed, with its newline): what a switch restarts from."""
    header = {"callstate_log": FORMAT_VERSION, "base_uri": base_uri, "seed": seed}
    header["ids"] = dict(ids)
    payload = dumps(header, plain)
    return payload[:-1] + b',"crc":"%08x"}\n' % zlib.crc32(payload)


def request_payload(
    at: float, request: Mapping[str, Any], events: Iterable[Event]
) -> tuple[bytes, bytes]:
    """A request line in two parts: ``[AT,REQUEST,EVENTS]``, and what replaces its closing
    ``]`` to seal it (``,"CRC"]`` and the newline)."""
    payload = dumps((at, request, records(events)), plain)
    return payload, b',"%08x"]\n' % zlib.crc32(payload)


def request_line(at: float, request: Mapping[str, Any], events: Iterable[Event]) -> bytes:
    """One request's line (sealed, with its newline), byte for byte as ``LogWriter`` writes it."""
    payload, tail = request_payload(at, request, events)
    return payload[:-1] + tail


# -- reading --------------------------------------------------------------------------------------
def intact(block: bytes) -> bool:
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


def sealed(number: int, line: bytes, value: Any) -> Any:
    """Check the checksum that closes a version 2 or 3 line: 8 hex digits after the line's last
    comma (``,"crc":"HHHHHHHH"}`` for the header, ``,"HHHHHHHH"]`` for a request) cover the line
    without them. ``value``, the line read, without its checksum; ``LogError`` if it does not
    match."""
    if isinstance(value, dict):
        at = line.rfind(b',"crc":')
        crc, payload = value.pop("crc", None), line[:at] + b"}"
    else:
        at = line.rfind(b",")
        crc, payload = (value.pop() if value else None), line[:at] + b"]"
    if not isinstance(crc, str) or at < 0 or crc != f"{zlib.crc32(payload):08x}":
        raise LogError(number, "damaged: its checksum does not match")
    return value


def _checked_header(value: dict[str, Any]) -> dict[str, Any]:
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


def parsed(number: int, line: bytes) -> Any:
    """The JSON value of line ``number``; ``LogError`` if it holds none."""
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


def read_entry(number: int, data: Any, version: int) -> Entry:
    """A request line read (its checksum checked and removed): an array since version 2; an
    object too after a version 1 header."""
    try:
        if isinstance(data, list):
            at, request, logged = data
            events = events_from_records(logged)
        elif version == 1:
            at, request, logged = data["at"], data["request"], data["events"]
            events = tuple(event_from_json(e) for e in logged)
        else:
            raise ValueError(f"a version {version} request line is an array")
        if not isinstance(request, dict) or not isinstance(at, int | float):
            raise ValueError("malformed request")
        return Entry(number, float(at), request, events)
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise LogError(number, f"not a request line ({error})") from None


def opening(line: bytes) -> tuple[dict[str, Any], int]:
    """The header of a log's first line and its format version (any version read);
    ``LogError`` if it is not one."""
    value = parsed(1, line)
    stated = value.get("callstate_log") if isinstance(value, dict) else None
    if type(stated) is not int or stated not in (1, 2, FORMAT_VERSION):
        raise LogError(1, "not a callstate log header")
    if stated >= 2:
        value = sealed(1, line, value)
    elif "crc" in value:  # a version 2 or 3 header whose version was damaged
        raise LogError(1, "damaged: a version 1 header has no checksum")
    return _checked_header(value), stated


def current_header(line: bytes) -> dict[str, Any]:
    """The header a log's first line holds (a current one, sealed; its newline may be left
    off); ``LogError`` if it is not one."""
    value = parsed(1, line.rstrip(b"\n"))
    if not isinstance(value, dict) or value.get("callstate_log") != FORMAT_VERSION:
        raise LogError(1, "not a callstate log header")
    return _checked_header(sealed(1, line.rstrip(b"\n"), value))


def current_entry(number: int, line: bytes) -> Entry:
    """The request a current log's line ``number`` holds (sealed; its newline may be left
    off); ``LogError`` if it is not one."""
    line = line.rstrip(b"\n")
    value = parsed(number, line)
    if not isinstance(value, list):
        raise LogError(number, "not a request line")
    return read_entry(number, sealed(number, line, value), FORMAT_VERSION)
