"""What a leg's records imply: its context and capabilities, its participants, and the
supervision flags its events carry.

The table (``callstate.table``) says what each state and context offer; this module reads a
leg's records to find its context. A handful of distinct contexts exist, so each is worked
out once and shared by every leg alike: ``rederive`` is one tuple and one dict lookup.
"""

from __future__ import annotations

from typing import Any, Final

from ..enums import ConferenceRole, Feature, PairRole, State, SupervisionMode
from ..table import CAPABILITIES, OFFERED, Context
from .records import Connection, Derived, Leg, number

__all__ = ["barged_in", "flags", "others", "rederive"]

_HELD: Final = State.HELD
_MUTE: Final = Feature.MUTE
_BARGE_IN: Final = SupervisionMode.BARGE_IN
_NO_FLAGS: Final = (False, False, False)
_NONE, _PARENT_PENDING, _PARENT_PAIRED, _CONSULT_PENDING, _CONSULT_PAIRED = (
    PairRole.NONE,
    PairRole.PARENT_PENDING,
    PairRole.PARENT_PAIRED,
    PairRole.CONSULT_PENDING,
    PairRole.CONSULT_PAIRED,
)
_NOT_CONFERENCE, _OWNER, _MEMBER = ConferenceRole.NONE, ConferenceRole.OWNER, ConferenceRole.MEMBER

#: (state, *context fields) -> context and what it offers
_DERIVED: Final[dict[tuple[Any, ...], Derived]] = {}


def _derive(key: tuple[Any, ...]) -> Derived:
    state, *context_fields = key
    context = Context(*context_fields)
    derived = _DERIVED[key] = (context, CAPABILITIES[state, context], OFFERED[state, context])
    return derived


def rederive(leg: Leg) -> bool:
    """Work out the leg's context and capabilities again; return whether they changed."""
    before = leg._derived[1]
    consult, parent = leg._consult, leg._parent
    both_held = False
    if consult is not None:
        pair = _PARENT_PAIRED if consult._answered else _PARENT_PENDING
        both_held = leg._state is _HELD and consult._state is _HELD
    elif parent is not None:
        pair = _CONSULT_PAIRED if leg._answered else _CONSULT_PENDING
        both_held = leg._state is _HELD and parent._state is _HELD
    else:
        pair = _NONE
    connection = leg._connection
    if len(connection) < 3:
        conference = _NOT_CONFERENCE
    else:
        conference = _OWNER if connection._owner is leg else _MEMBER
    watch = leg._watch
    key: tuple[Any, ...]
    if watch is None:
        mute = leg._mute if _MUTE in leg._device._features else None
        key = (
            leg._state, mute, leg._recording, pair, conference, leg._answered, both_held,
            None, False,
        )  # fmt: skip
    else:  # the mode sets a supervisor leg's mute: no Mute/UnmuteCall of its own
        key = (
            leg._state, None, leg._recording, pair, conference, leg._answered, both_held,
            watch._mode, watch._muted,
        )  # fmt: skip
    derived = _DERIVED.get(key) or _derive(key)
    leg._derived = derived
    return derived[1] != before


def barged_in(connection: Connection) -> tuple[Leg, ...]:
    """The supervisors' legs that barged in on ``connection``: parties to everyone else."""
    return tuple(
        m
        for m in connection._monitors
        if m._answered and m._watch is not None and m._watch._mode is _BARGE_IN
    )


def others(leg: Leg) -> tuple[str, ...]:
    """The numbers of a leg's participants: the other parties of its call, and supervisors
    who barged in on it; a supervisor's leg shows the parties of the call it monitors."""
    watch = leg._watch
    if watch is not None:
        return tuple(number(p) for p in watch._call)
    connection = leg._connection
    found = tuple(number(p) for p in connection if p is not leg)
    if connection._monitors:
        found += tuple(m._device._dn for m in barged_in(connection))
    return found


def flags(leg: Leg) -> tuple[bool, bool, bool]:
    """(monitoring, supervisor listening in, monitored user muted) of a leg."""
    watch = leg._watch
    if watch is not None:
        return False, False, watch._muted
    monitors = leg._connection._monitors
    if not monitors:
        return _NO_FLAGS
    joined = [
        m._watch._mode
        for m in monitors
        if m._answered and m._watch is not None and m._watch._watched is leg
    ]
    listening = any(mode is not _BARGE_IN for mode in joined)
    return bool(joined), listening, False
