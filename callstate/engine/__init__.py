"""The engine: every leg, every connection, and every move that changes them.

``core`` holds the moves (``Engine``), ``records`` what they change (``Line``, ``Leg``,
``Connection``, ``Watch``: read-only outside this package), ``derive`` what a leg's records
imply (context, capabilities, participants), ``journal`` how a request is undone when the log
refuses it, and ``supervision`` the supervisors' legs, plugged into the core at its seams.
``new_engine`` gives an engine with supervision plugged in.
"""

from __future__ import annotations

from collections.abc import Callable

from ..bus import Bus
from .core import (
    AWAITING_FAR_END,
    MAX_CLOCK,
    Engine,
    ManualClock,
    Recorder,
    Supervising,
    Trigger,
    merged,
)
from .derive import barged_in
from .records import KEPT_RELEASED, Connection, Leg, Line, Watch
from .supervision import Supervisor

__all__ = [
    "AWAITING_FAR_END",
    "KEPT_RELEASED",
    "MAX_CLOCK",
    "Connection",
    "Engine",
    "Leg",
    "Line",
    "ManualClock",
    "Recorder",
    "Supervising",
    "Supervisor",
    "Trigger",
    "Watch",
    "barged_in",
    "merged",
    "new_engine",
]


def new_engine(
    seed: int | None, *, clock: Callable[[], float] | None = None, bus: Bus | None = None
) -> Engine:
    """An engine whose legs may be supervisors' (``Supervisor`` plugged in)."""
    engine = Engine(seed, clock=clock, bus=bus)
    Supervisor(engine)
    return engine
