"""JSON as the wire carries it: strict reading of request bodies, compact writing of answers.

Reading goes through the standard library, not orjson: orjson reads an integer beyond 64 bits
as a float (a userData value or a Bayeux ``id`` would come back changed), while ``json`` keeps
it exact. ``NaN`` and ``Infinity``, which ``json`` would accept, are not JSON and are refused.
Writing tries orjson first and falls back to ``json`` (ASCII-escaped) for what orjson refuses:
integers beyond 64 bits and lone surrogates, which a request may carry and a reply may echo,
non-string keys, and named tuples. ``dumps`` writes all the JSON the package sends or logs:
answers and notifications (``projection``, ``api``, ``bayeux``, ...) and the event log's lines
(the readable JSON the CLI prints and the schema files are ``json``'s).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["dumps", "loads"]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def loads(body: bytes) -> Any:
    """The JSON value of a UTF-8 body; ``ValueError`` if it is not one."""
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Compact JSON bytes of ``value``; ``default`` turns what JSON has no form for into what it
    has (as for ``json.dumps``), or raises ``TypeError``."""
    try:
        return orjson.dumps(value, default=default)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), default=default).encode()
