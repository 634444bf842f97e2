"""Writing version 2 log lines by hand, as the log writer seals them."""

from __future__ import annotations

import json
import zlib
from typing import Any


def seal(value: Any) -> str:
    """``value`` as a version 2 line carries it: compact JSON closed by its CRC-32 in 8 hex
    digits (``,"HHHHHHHH"]`` for a request line, ``,"crc":"HHHHHHHH"}`` for the header), without
    the newline."""
    text = json.dumps(value, separators=(",", ":"))
    crc = f"{zlib.crc32(text.encode()):08x}"
    if isinstance(value, dict):
        return text[:-1] + f',"crc":"{crc}"}}'
    return text[:-1] + f',"{crc}"]'


def unsealed(line: str) -> Any:
    """The value of a version 2 line, its CRC-32 taken off."""
    value = json.loads(line)
    if isinstance(value, dict):
        value.pop("crc")
    else:
        value.pop()
    return value
