"""Identifiers shaped like the ones GWS prints, reproducible from a seed.

Call ids look like ``012PUFMMS0ASNAK48O7GK2LAES000004``: a 26-character prefix fixed per switch
and a 6-digit base-32 counter (``0-9A-V``), as the documentation samples do; ``callUuid`` equals
``id``. ``connId`` is 16 hex digits, a fixed prefix and a counter. Device ids are UUIDs.
With a seed, every id is a function of the seed and of the order of creation.
"""

from __future__ import annotations

import random
import uuid

__all__ = ["IdGenerator", "base32"]

_BASE32 = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
#: every two-digit base-32 number, so that a 6-digit counter is three lookups
_PAIRS = tuple(a + b for a in _BASE32 for b in _BASE32)
_LIMIT = 32**6


def base32(n: int) -> str:
    """``n`` as the 6 base-32 digits that end a call id (``OverflowError`` past 32**6 - 1)."""
    if not 0 <= n < _LIMIT:
        raise OverflowError(f"{n} is not a 6-digit base-32 number")
    return _PAIRS[n >> 20] + _PAIRS[n >> 10 & 1023] + _PAIRS[n & 1023]


class IdGenerator:
    """Hands out call ids, connection ids and device ids."""

    __slots__ = ("_call_prefix", "_calls", "_conn_prefix", "_conns", "_rng")

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._call_prefix = "".join(self._rng.choice(_BASE32) for _ in range(26))
        self._conn_prefix = f"{self._rng.getrandbits(40):010x}"
        self._calls = 0
        self._conns = 0

    def state(self) -> dict[str, str]:
        """What a log must keep to hand out the same ids again (counters replay themselves)."""
        return {"call_prefix": self._call_prefix, "conn_prefix": self._conn_prefix}

    def restore(self, state: dict[str, str]) -> None:
        self._call_prefix = state["call_prefix"]
        self._conn_prefix = state["conn_prefix"]

    def mark(self) -> tuple[int, int]:
        """Where the counters stand (``rewind`` goes back there)."""
        return self._calls, self._conns

    def rewind(self, mark: tuple[int, int], rng: object | None = None) -> None:
        """Hand out the ids after ``mark`` again (and the device ids after ``rng``, a
        ``rng_state()``): a request that was undone used none."""
        self._calls, self._conns = mark
        if rng is not None:
            self._rng.setstate(rng)  # type: ignore[arg-type]

    def rng_state(self) -> object:
        """The state device ids are drawn from (see ``rewind``)."""
        return self._rng.getstate()

    def call_id(self) -> str:
        self._calls += 1
        return self._call_prefix + base32(self._calls)

    def conn_id(self) -> str:
        self._conns += 1
        return f"{self._conn_prefix}{self._conns:06x}"

    def device_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
