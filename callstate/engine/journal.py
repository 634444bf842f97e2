"""How to undo the request being run, should the log refuse to keep it (fail-stop).

A switch with an event log only lets a request happen once its line is written; when the write
fails, the request must not have happened. Before the engine first changes a record in a
request it notes how the record was (``UndoJournal``), and ``rollback`` puts every noted record
back, newest change first, and rewinds the id generator. Without a log nothing is ever undone:
the engine then holds a ``Journal``, whose notes cost one call that does nothing, instead of a
check at every change.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from ..ids import IdGenerator
from .records import Connection, Leg

__all__ = ["Journal", "Legs", "UndoJournal"]

_MISSING: Final = object()
#: kinds of entries
_LEG, _CONNECTION, _KEY, _ATTRIBUTE = "leg", "connection", "key", "attribute"


class Legs(Protocol):
    """Whatever holds every live leg by id (the engine)."""

    legs: dict[str, Leg]


class Journal:
    """The journal of a switch without a log: it keeps nothing (nothing is ever undone)."""

    __slots__ = ()

    def keep(self, leg: Leg) -> None:
        """Before a request changes ``leg`` (the first time): note how it was."""

    def keep_connection(self, connection: Connection) -> None:
        """Before a request changes ``connection``'s parties or owner: note them."""

    def adding(self, key: str, table: dict[str, Any]) -> None:
        """``key`` is about to be added to ``table``."""

    def creating(self, owner: Legs, leg: Leg) -> None:
        """``leg`` is about to join its connection and the live legs (of ``owner`` and of its
        device), as the consult of its parent if it has one."""

    def forgetting(self, owner: Legs, leg: Leg) -> None:
        """``leg`` (released) is about to leave the live legs, of ``owner`` and of its device
        (each table may be replaced by an empty one), and its consult pair."""

    def attribute(self, record: object, name: str) -> None:
        """``record.name`` is about to change: note its value."""

    def drawing(self, ids: IdGenerator) -> None:
        """A random id is about to be drawn from ``ids``: note the generator's state."""

    def rollback(self) -> None:
        """Put back everything the request changed, newest change first."""


class UndoJournal(Journal):
    """The journal of one request on a switch with a log."""

    __slots__ = ("_entries", "_ids", "_kept", "_mark", "_rng")

    def __init__(self, ids: IdGenerator) -> None:
        self._entries: list[tuple[Any, ...]] = []
        self._kept: set[int] = set()
        self._ids = ids
        self._mark = ids.mark()
        self._rng: object | None = None

    def keep(self, leg: Leg) -> None:
        if id(leg) not in self._kept:
            self._kept.add(id(leg))
            self._entries.append((_LEG, leg, (
                leg._state, leg._answered, leg._derived, leg._mute, leg._recording,
                leg._user_data, leg._participants, leg._parent, leg._consult, leg._connection,
            )))  # fmt: skip

    def keep_connection(self, connection: Connection) -> None:
        if id(connection) not in self._kept:
            self._kept.add(id(connection))
            self._entries.append((_CONNECTION, connection, list(connection), connection._owner))

    def adding(self, key: str, table: dict[str, Any]) -> None:
        self._entries.append((_KEY, table, key, _MISSING))

    def creating(self, owner: Legs, leg: Leg) -> None:
        self.keep_connection(leg._connection)
        entries, key = self._entries, leg._id
        entries.append((_KEY, owner.legs, key, _MISSING))
        entries.append((_KEY, leg._device._legs, key, _MISSING))
        if leg._parent is not None:
            self.keep(leg._parent)

    def forgetting(self, owner: Legs, leg: Leg) -> None:
        self.keep(leg)
        line, key = leg._device, leg._id
        entries = self._entries
        entries.append((_KEY, owner.legs, key, leg))
        entries.append((_KEY, line._legs, key, leg))
        entries.append((_ATTRIBUTE, line, "_released", line._released.copy()))
        entries.append((_ATTRIBUTE, owner, "legs", owner.legs))
        entries.append((_ATTRIBUTE, line, "_legs", line._legs))
        partner = leg._consult or leg._parent
        if partner is not None:
            self.keep(partner)

    def attribute(self, record: object, name: str) -> None:
        self._entries.append((_ATTRIBUTE, record, name, getattr(record, name)))

    def drawing(self, ids: IdGenerator) -> None:
        if self._rng is None:
            self._rng = ids.rng_state()

    def rollback(self) -> None:
        reordered: list[dict[str, Any]] = []
        for entry in reversed(self._entries):
            kind = entry[0]
            if kind is _LEG:
                leg = entry[1]
                (
                    leg._state, leg._answered, leg._derived, leg._mute, leg._recording,
                    leg._user_data, leg._participants, leg._parent, leg._consult,
                    leg._connection,
                ) = entry[2]  # fmt: skip
            elif kind is _CONNECTION:
                entry[1][:] = entry[2]
                entry[1]._owner = entry[3]
            elif kind is _KEY:
                table, key, old = entry[1], entry[2], entry[3]
                if old is _MISSING:
                    table.pop(key, None)
                else:
                    table[key] = old
                    reordered.append(table)
            else:  # _ATTRIBUTE
                setattr(entry[1], entry[2], entry[3])
        for table in reordered:  # legs put back: oldest first again (ids grow with creation)
            items = sorted(table.items())
            table.clear()
            table.update(items)
        self._ids.rewind(self._mark, self._rng)
