"""A leg of a call, and the connection that joins legs and outside parties.

A ``Call`` is what one agent sees: one leg on one device, with its own id, state and
capabilities (it is the GWS call resource). A ``Connection`` is the call in the switch's sense:
the set of parties talking to each other, each either a leg on a device of the switch or an
outside number. A leg's ``participants`` are the other parties of its connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .enums import (
    CallType,
    ConferenceRole,
    Feature,
    Mute,
    Operation,
    PairRole,
    RecordingState,
    State,
)
from .events import CallSnapshot, UserData
from .table import CAPABILITIES, OFFERED, Context

if TYPE_CHECKING:
    from .device import Device

__all__ = ["Call", "Connection"]

_CONTEXTS: Final[dict[Context, Context]] = {}


def _intern(context: Context) -> Context:
    # A handful of distinct contexts exist; sharing them keeps each leg small.
    return _CONTEXTS.setdefault(context, context)


class Connection:
    """Parties talking to each other: legs on devices and outside numbers, in joining order."""

    __slots__ = ("conn_id", "owner", "parties")

    def __init__(self, conn_id: str, parties: list[Call | str]) -> None:
        self.conn_id = conn_id
        self.parties = parties
        #: The leg that made this a conference (may remove parties and clear it).
        self.owner: Call | None = None

    def legs(self) -> list[Call]:
        return [p for p in self.parties if isinstance(p, Call)]


class Call:
    """One leg of a call on one device. Read it; change it only through its device."""

    __slots__ = (
        "__weakref__",
        "_answered",
        "_capabilities",
        "_connection",
        "_consult",
        "_context",
        "_mute",
        "_offered",
        "_parent",
        "_participants",
        "_recording",
        "_state",
        "_user_data",
        "ani",
        "call_type",
        "device",
        "dnis",
        "id",
        "parent_id",
        "started_at",
    )

    def __init__(
        self,
        *,
        call_id: str,
        device: Device,
        state: State,
        call_type: CallType,
        connection: Connection,
        dnis: str,
        ani: str,
        user_data: UserData,
        started_at: float,
        parent: Call | None = None,
    ) -> None:
        self.id: Final = call_id
        self.device: Final = device
        self.call_type: Final = call_type
        self.dnis: Final = dnis
        self.ani: Final = ani
        self.started_at: Final = started_at
        self.parent_id: Final = parent.id if parent is not None else None
        self._state = state
        self._connection = connection
        self._user_data = user_data
        self._answered = False
        self._mute = Mute.OFF
        self._recording = RecordingState.STOPPED if Feature.RECORDING in device.features else None
        self._parent = parent
        self._consult: Call | None = None
        self._participants: tuple[str, ...] = ()
        self._context = Context()
        self._capabilities: tuple[Operation, ...] = ()
        self._offered: frozenset[str] = frozenset()

    # -- what users read ------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def capabilities(self) -> tuple[Operation, ...]:
        """The operations allowed right now, sorted; an operation succeeds iff it is here."""
        return self._capabilities

    @property
    def participants(self) -> tuple[str, ...]:
        """The numbers of the other parties, in the order they joined."""
        return self._participants

    @property
    def user_data(self) -> dict[str, str | int]:
        return dict(self._user_data)

    @property
    def mute(self) -> Mute:
        return self._mute

    @property
    def recording_state(self) -> RecordingState | None:
        return self._recording

    @property
    def conn_id(self) -> str:
        return self._connection.conn_id

    @property
    def parent(self) -> Call | None:
        """The call this consult was started from, while both are live."""
        return self._parent

    @property
    def consult(self) -> Call | None:
        """The live consult started from this call, if any."""
        return self._consult

    def perform(self, operation: str, **params: Any) -> None:
        """Shorthand for ``self.device.perform(self.id, operation, **params)``."""
        self.device.perform(self.id, operation, **params)

    def __repr__(self) -> str:
        return f"<Call {self.id} {self.device.dn} {self._state} {list(self._participants)}>"

    # -- derived state, kept by the switch -------------------------------------------------------
    def _pair_role(self) -> PairRole:
        if self._consult is not None:
            return PairRole.PARENT_PAIRED if self._consult._answered else PairRole.PARENT_PENDING
        if self._parent is not None:
            return PairRole.CONSULT_PAIRED if self._answered else PairRole.CONSULT_PENDING
        return PairRole.NONE

    def _conference_role(self) -> ConferenceRole:
        connection = self._connection
        if len(connection.parties) < 3:
            return ConferenceRole.NONE
        return ConferenceRole.OWNER if connection.owner is self else ConferenceRole.MEMBER

    def _refresh(self) -> bool:
        """Recompute context and capabilities; return whether the capabilities changed."""
        before = self._capabilities
        features = self.device.features
        self._context = _intern(
            Context(
                self._mute if Feature.MUTE in features else None,
                self._recording,
                self._pair_role(),
                self._conference_role(),
                self._answered,
            )
        )
        key = (self._state, self._context)
        self._capabilities = CAPABILITIES[key]
        self._offered = OFFERED[key]
        return self._capabilities != before

    def _others(self) -> tuple[str, ...]:
        return tuple(
            p.device.dn if isinstance(p, Call) else p
            for p in self._connection.parties
            if p is not self
        )

    def _snapshot(self, duration: int) -> CallSnapshot:
        device = self.device
        return CallSnapshot(
            id=self.id,
            conn_id=self._connection.conn_id,
            device=device.dn,
            device_id=device.id,
            state=self._state,
            call_type=self.call_type,
            participants=self._participants,
            dnis=self.dnis,
            ani=self.ani,
            capabilities=self._capabilities,
            user_data=self._user_data,
            mute=self._mute,
            recording=self._recording,
            parent_id=self.parent_id,
            duration=duration,
        )
