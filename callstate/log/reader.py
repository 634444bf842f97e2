"""Reading a log file back, and what is made of it: a projection (``replay``) or a switch.

``LogReader.read`` returns every complete line and reports a cut last line; a malformed line
anywhere else is refused with its line number (``LogError``). Zero bytes at the end are space a
writer reserved and had not used (a log still open, or left by a process that died): they are
ignored (``reserved_bytes``). Zero bytes inside are pages a crash of the machine left unwritten
when they make at least one whole page: nothing from the line holding the first of them on is
sure, so the log is cut there (reported as a cut last line); fewer are damage, and refused. A
file holding only the beginning of a header (the crash came while the header was written) is a
log with an empty ``header`` and no request; an empty file or a first line that is not the start
of a header is not a log.

``replay`` rebuilds a projection from the events; ``restore`` rebuilds a switch by running the
requests again on the same ids and clock readings, checking that they produce the logged events
(``check_replayed``, ``refused``).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from ..errors import CallStateError, InvalidParameterError, shown
from ..events import Event
from .lines import (
    HEADER_STARTS,
    Entry,
    LogError,
    current_entry,
    current_header,
    intact,
    opening,
    parsed,
    read_entry,
    sealed,
)

if TYPE_CHECKING:
    from ..projection import Form, Projection

__all__ = ["LogReader", "check_replayed", "refused", "replay"]

#: what a crash can leave unwritten in a file: whole pages
_PAGE: Final = 4096


def _unwritten(data: bytes) -> tuple[bytes, int]:
    """``data`` without what a crash of the machine left unwritten (from the line holding a
    whole page of zero bytes on), and how many bytes that cut off; ``LogError`` for zero bytes
    that are not a whole page."""
    hole = data.find(b"\0")
    if hole < 0:
        return data, 0
    run = len(data) - hole - len(data[hole:].lstrip(b"\0"))
    page = -(-hole // _PAGE) * _PAGE  # the first page boundary at or after the hole
    if page + _PAGE > hole + run:  # no whole page of zeros: damage, not a crash
        raise LogError(data.count(b"\n", 0, hole) + 1, "damaged: zero bytes in a line")
    # a page a machine crash left unwritten: nothing from its line on is sure
    start = data.rfind(b"\n", 0, hole) + 1
    return data[:start], len(data) - start


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
            sound = zlib.crc32(view[:offset]) == checksum
        else:
            sound = intact(data[first:offset])
        if not sound:
            return None  # damaged before the mark: reading it all says where, and how
        skipped = data.count(b"\n", first, offset)
        return cls._parse(data[:first] + data[offset:], skipped)

    @classmethod
    def _parse(cls, data: bytes, skipped: int = 0) -> LogReader:
        """The log in ``data``; ``skipped``: request lines ``read_after`` left out after the
        header (the lines after it keep their numbers in the whole file)."""
        padded = len(data)
        data = data.rstrip(b"\0")  # space a live (or crashed) writer reserved: not the log's
        reserved = padded - len(data)
        data, tail = _unwritten(data)
        lines = data.split(b"\n")
        last = lines.pop()  # b"" when the file ends with a newline, else a line cut mid-way
        if lines:
            header, version = opening(lines[0])
            reader = cls(header=header)
            append = reader.entries.append
            for number, line in enumerate(islice(lines, 1, None), start=2 + skipped):
                value = parsed(number, line)
                if isinstance(value, list):  # version 2 or 3 lines, after any header
                    value = sealed(number, line, value)
                append(read_entry(number, value, version))
        elif not last:
            raise LogError(1, "empty log")
        elif any(start.startswith(last[: len(start)]) for start in HEADER_STARTS):
            reader = cls(header={})  # no complete line: the header itself was being written
        else:
            raise LogError(1, "not a callstate log header")
        if last or tail:
            reader.cut_line = len(lines) + 1 + skipped
            reader.cut_bytes = len(last) + tail
        reader.reserved_bytes = reserved
        return reader

    @property
    def events(self) -> list[Event]:
        return [event for entry in self.entries for event in entry.events]

    @staticmethod
    def header_of(line: bytes) -> dict[str, Any]:
        """The header a log's first line holds (a current one, sealed; its newline may be left
        off); ``LogError`` if it is not one."""
        return current_header(line)

    @staticmethod
    def entry_of(number: int, line: bytes) -> Entry:
        """The request a current log's line ``number`` holds (sealed; its newline may be left
        off); ``LogError`` if it is not one."""
        return current_entry(number, line)


def replay(reader: LogReader, form: Form | None = None) -> Projection:
    """A ``Projection`` rebuilt from the logged events alone (``form``: as ``Projection``'s,
    default ``DEFAULT_FORM``)."""
    from ..projection import DEFAULT_FORM, Projection

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
