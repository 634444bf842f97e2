"""The event log: a switch's history as JSON lines, and every event as one JSON object.

A log file (``Switch(log=path)``) starts with a header line; then each successful request —
adding a device, a dial, an agent operation, a far-end event — is one line holding the switch
clock when it ran, the request, and the events it produced. The package holds one job a module:

- ``codec``: one event as JSON and back (``encode``/``decode``, ``event_to_json``/
  ``event_from_json``), and the positional records the lines hold, described there;
- ``lines``: one line of the file, made and read: the header, a request's line, their
  checksums, the format versions read (described there);
- ``writer``: ``LogWriter``, which puts each line with the operating system as its request
  completes;
- ``reader``: ``LogReader``, which reads a file back (cut and damaged lines, reserved space),
  and ``replay`` to a projection.

Everything the rest of the package uses is imported from here.
"""

from .codec import decode, encode, event_from_json, event_to_json
from .lines import Entry, LogError, header_line, request_line
from .reader import LogReader, check_replayed, refused, replay
from .writer import LogWriter, lock

__all__ = [
    "Entry",
    "LogError",
    "LogReader",
    "LogWriter",
    "check_replayed",
    "decode",
    "encode",
    "event_from_json",
    "event_to_json",
    "header_line",
    "lock",
    "refused",
    "replay",
    "request_line",
]
