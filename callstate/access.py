"""The access log: one line per HTTP request, on the stdlib logger ``callstate.access``.

A line reads ``METHOD PATH USER STATUS [statusCode=N] MILLISECONDSms``, e.g.
``POST /api/v2/me/calls/0A1B agent1 404 statusCode=6 0.3ms``:

- PATH is the path alone, with the query string's keys but not its values (a value may carry
  a secret); a path holding control characters is shown escaped (one request, one line);
- USER is the account that sent the request, ``-`` when none authenticated (a 401, the health
  check without credentials, a refusal before the request was read);
- STATUS is the HTTP status, ``-`` when the client went before its answer (a held poll whose
  connection closed); ``statusCode`` is the GWS code of a JSON answer, shown when not 0.

CometD polls (a POST whose messages are all ``/meta/connect``; thousands a second at scale) are
logged at DEBUG, every other request at INFO. The CometD sessions' own events (handshake,
subscribe, disconnect, a session dropped) are on ``callstate.cometd`` (``callstate.bayeux``).

Cost: callers read the clock once when a request starts (``perf_counter``), ask
``ACCESS.isEnabledFor(level)`` when it ends, and only then call ``request``, which hands the
logger one record with one lazy ``%``-format: a disabled level formats nothing. Measured on a
``GET /api/v2/me/calls`` through the served app (8 µs without logging): no difference with the
level off; on, about 4 µs to make the line and its record and, with a stderr handler
formatting time, level and name, about 7 µs more in the handler.
"""

from __future__ import annotations

import logging
from time import perf_counter
from typing import Final

__all__ = ["ACCESS", "DEBUG", "INFO", "refused", "request", "shown_path", "status_code"]

ACCESS: Final = logging.getLogger("callstate.access")
DEBUG: Final = logging.DEBUG
INFO: Final = logging.INFO
_PREFIX: Final = b'{"statusCode":'
_LINE: Final = "%s %s %s %s %.1fms"
_REFUSED: Final = "%s %s %s %s statusCode=%d %.1fms"


def status_code(body: bytes) -> int:
    """The GWS ``statusCode`` a JSON answer starts with (every answer of the Calls API does),
    else 0."""
    if not body.startswith(_PREFIX):
        return 0
    code = 0
    for digit in body[len(_PREFIX) : len(_PREFIX) + 4]:
        if not 48 <= digit <= 57:  # b"0" to b"9"
            break
        code = code * 10 + digit - 48
    return code


def shown_path(path: str, query: bytes | str = b"") -> str:
    """``path`` with the keys of ``query`` (``?a&b``) but none of its values, printable."""
    if query:
        text = query.decode("latin-1") if isinstance(query, bytes) else query
        path = f"{path}?{'&'.join(part.partition('=')[0] for part in text.split('&'))}"
    return path if path.isprintable() else ascii(path)


def request(
    level: int,
    method: str,
    path: str,
    query: bytes | str,
    user: str,
    status: int | None,
    body: bytes,
    started: float,
) -> None:
    """Log one request (asked only once ``ACCESS.isEnabledFor(level)``): ``status`` None when
    the client went before its answer; ``started``: ``perf_counter()`` when it arrived."""
    took = (perf_counter() - started) * 1000
    target = shown_path(path, query)
    code = status_code(body)
    shown = "-" if status is None else status
    args: tuple[object, ...] = (method, target, user, shown, took)
    line = _LINE
    if code:
        line, args = _REFUSED, (method, target, user, shown, code, took)
    # the record made here rather than by ``ACCESS.log``, which would also walk the stack to
    # find its caller (a third of a line's cost, and the caller is always this function)
    ACCESS.handle(ACCESS.makeRecord(ACCESS.name, level, __file__, 0, line, args, None))


def refused(method: str | None, path: str | None, answer: bytes, started: float) -> None:
    """Log a request the HTTP layer refused itself (``answer``: the whole HTTP response it
    wrote: malformed, too big, too late, too many connections); method and path when read."""
    if not ACCESS.isEnabledFor(INFO):
        return
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head[9:12]) if head[9:12].isdigit() else None
    request(INFO, method or "-", path or "-", b"", "-", status, body, started)
