"""Writing a log file: each request's line is with the operating system as the request completes.

A line is copied into the mapped file, or written with one ``os.write`` (see ``LogWriter``), so
a crash of the process loses at most the line being written. (Nothing is synced to disk: a crash
of the machine may lose more; ``reader`` says what it then reads.) On a regular file space is
reserved ahead, so a log still open, or left by a process that died, ends in zero bytes its
writer had reserved: reading ignores them, and a writer taking the file again writes over them
and over a last line cut mid-way. A regular file has one writer at a time (``lock``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import stat
import zlib
from collections.abc import Iterable, Mapping
from typing import IO, Any, Final

from ..events import Event
from .lines import header_line, request_payload

__all__ = ["LogWriter", "lock"]

#: madvise: fault a range of a mapping in for writing, ahead of use (Linux 5.14 and later)
_MADV_POPULATE_WRITE: Final = 23
#: errors that say the file cannot grow: no falling back to plain writes, which would fail too
_NO_ROOM: Final = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
#: room the writer keeps ahead for the next line, so that copying it in cannot fail
_HEADROOM: Final = 1 << 18
#: the most the writer reserves at a time
_MAX_STEP: Final = 1 << 23
#: the least the writer reserves at a time, and the unit of reservation
_CHUNK: Final = 1 << 16
#: the bytes of a line's end a mark keeps: its checksum (8 hex digits), the closing, the newline
_TAIL: Final = 12


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
        payload, tail = request_payload(at, request, events)
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
