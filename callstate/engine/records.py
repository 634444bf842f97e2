"""The engine's records: a device (``Line``), a leg of a call (``Leg``), a call in the switch's
sense (``Connection``) and what makes a leg a supervisor's (``Watch``).

Everyone reads them; only the engine package changes them. Every field is a slot whose name
starts with an underscore, read through a property: the modules of ``callstate.engine`` (core,
journal, derive, supervision) write the slots, and from anywhere else setting a field raises
``AttributeError`` — a change that skipped the engine would skip its event and its log line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from ..enums import (
    AgentState,
    CallType,
    DeviceRole,
    Feature,
    Mute,
    Operation,
    RecordingState,
    State,
    SupervisionMode,
    SupervisionScope,
)
from ..events import Supervision, UserData
from ..table import Context

__all__ = ["KEPT_RELEASED", "Connection", "Derived", "Leg", "Line", "Watch", "number"]

#: released legs a device keeps addressable, for SetCallDisposition only [ours]
KEPT_RELEASED: Final = 16

#: (context, capabilities, capabilities as a set): what a leg's state and context offer
Derived = tuple[Context, tuple[Operation, ...], frozenset[str]]
UNDERIVED: Final[Derived] = (Context(), (), frozenset())


class Line:
    """A device as the engine knows it: its DN, id, features, role and live legs, and what an
    agent sets on it (agent state, do-not-disturb, forwarding, supervision)."""

    __slots__ = (
        "_dn",
        "_do_not_disturb",
        "_features",
        "_forward_to",
        "_id",
        "_legs",
        "_released",
        "_role",
        "_supervision",
        "_user_state",
    )

    def __init__(
        self,
        dn: str,
        device_id: str,
        features: frozenset[Feature],
        role: DeviceRole = DeviceRole.AGENT,
    ) -> None:
        self._dn = dn
        self._id = device_id
        self._features = features
        self._role = role
        self._legs: dict[str, Leg] = {}
        self._released: deque[str] = deque(maxlen=KEPT_RELEASED)
        #: a device starts NotReady, without do-not-disturb, forwarding or supervision [ours]
        self._user_state = AgentState.NOT_READY
        self._do_not_disturb = False
        self._forward_to: str | None = None
        self._supervision: Supervision | None = None

    @property
    def dn(self) -> str:
        return self._dn

    @property
    def id(self) -> str:
        return self._id

    @property
    def features(self) -> frozenset[Feature]:
        return self._features

    @property
    def role(self) -> DeviceRole:
        return self._role

    @property
    def legs(self) -> Mapping[str, Leg]:
        """Live legs on this device by id, oldest first."""
        return MappingProxyType(self._legs)

    def live(self, call_id: str) -> Leg | None:
        """This device's live leg ``call_id``, if it has one (``call_id`` must be hashable)."""
        return self._legs.get(call_id)

    @property
    def released(self) -> tuple[str, ...]:
        """Ids of the most recently released legs, oldest first (for SetCallDisposition)."""
        return tuple(self._released)

    @property
    def user_state(self) -> AgentState:
        return self._user_state

    @property
    def do_not_disturb(self) -> bool:
        return self._do_not_disturb

    @property
    def forward_to(self) -> str | None:
        return self._forward_to

    @property
    def supervision(self) -> Supervision | None:
        """The monitoring this (supervisor's) device does, if any."""
        return self._supervision

    def __repr__(self) -> str:
        return f"<Line {self._dn}>"


class Connection(list["Leg | str"]):
    """A call in the switch's sense: the list of parties talking to each other, in joining
    order, each a leg on a device or an outside number. (It is the list itself, not an object
    holding one: a simulator keeps hundreds of thousands of these alive, and every object
    counts in a garbage collection. Being a list, it could be changed in place from outside;
    nothing outside the engine does, and the engine's journal relies on that.)
    """

    __slots__ = ("_conn_id", "_monitors", "_owner", "_supervised")

    def __init__(self, conn_id: str, parties: Iterable[Leg | str] = ()) -> None:
        super().__init__(parties)
        self._conn_id = conn_id
        self._owner: Leg | None = None
        self._monitors: tuple[Leg, ...] = ()
        self._supervised: tuple[Supervision, ...] = ()

    @property
    def conn_id(self) -> str:
        return self._conn_id

    @property
    def owner(self) -> Leg | None:
        """The leg that made this a conference (may remove parties and clear it)."""
        return self._owner

    @property
    def monitors(self) -> tuple[Leg, ...]:
        """Supervisors' legs on this call (not parties of it: they make no conference)."""
        return self._monitors

    @property
    def supervised(self) -> tuple[Supervision, ...]:
        """The monitorings (each device's ``Supervision``) that were offered a leg on this
        call: one that left it is not offered it again (a new ListenIn, Coach or BargeIn is)."""
        return self._supervised

    def legs(self) -> list[Leg]:
        return [p for p in self if isinstance(p, Leg)]


class Watch:
    """What makes a leg a supervisor's: the mode it is in, whether it muted the monitored
    agent, the monitored agent's leg it joined for, and the call it is on (the agent's call,
    which a transfer may join to another)."""

    __slots__ = ("_call", "_mode", "_muted", "_scope", "_watched")

    def __init__(self, mode: SupervisionMode, scope: SupervisionScope, watched: Leg) -> None:
        self._mode = mode
        self._scope = scope
        self._muted = False
        self._watched: Leg | None = watched
        self._call: Connection = watched._connection

    @property
    def mode(self) -> SupervisionMode:
        return self._mode

    @property
    def scope(self) -> SupervisionScope:
        return self._scope

    @property
    def muted(self) -> bool:
        """Whether the supervisor muted the monitored agent."""
        return self._muted

    @property
    def watched(self) -> Leg | None:
        return self._watched

    @property
    def call(self) -> Connection:
        return self._call


class Leg:
    """One leg of a call on one device."""

    __slots__ = (
        "_ani",
        "_answered",
        "_call_type",
        "_connection",
        "_consult",
        "_derived",
        "_device",
        "_dnis",
        "_id",
        "_mute",
        "_parent",
        "_parent_id",
        "_participants",
        "_recording",
        "_started_at",
        "_state",
        "_user_data",
        "_watch",
    )

    def __init__(
        self,
        call_id: str,
        device: Line,
        state: State,
        call_type: CallType,
        connection: Connection,
        dnis: str,
        ani: str,
        user_data: UserData,
        started_at: float,
        parent: Leg | None,
    ) -> None:
        self._id = call_id
        self._device = device
        self._call_type = call_type
        self._dnis = dnis
        self._ani = ani
        self._started_at = started_at
        self._parent_id = parent._id if parent is not None else None
        self._state = state
        self._connection = connection
        self._user_data = user_data
        self._answered = False
        self._mute = Mute.OFF
        self._recording = RecordingState.STOPPED if Feature.RECORDING in device._features else None
        self._parent = parent
        self._consult: Leg | None = None
        self._participants: tuple[str, ...] = ()
        #: (context, capabilities, capabilities as a set), shared by every leg alike
        self._derived: Derived = UNDERIVED
        #: a supervisor's leg: how it takes part in the call it monitors (None: any other leg)
        self._watch: Watch | None = None

    @property
    def id(self) -> str:
        return self._id

    @property
    def device(self) -> Line:
        return self._device

    @property
    def call_type(self) -> CallType:
        return self._call_type

    @property
    def dnis(self) -> str:
        return self._dnis

    @property
    def ani(self) -> str:
        return self._ani

    @property
    def started_at(self) -> float:
        return self._started_at

    @property
    def parent_id(self) -> str | None:
        return self._parent_id

    @property
    def watch(self) -> Watch | None:
        """A supervisor's leg: its mode and the monitored leg; None for any other leg."""
        return self._watch

    @property
    def state(self) -> State:
        return self._state

    @property
    def capabilities(self) -> tuple[Operation, ...]:
        """The operations allowed right now, sorted; an operation succeeds iff it is here."""
        return self._derived[1]

    @property
    def offered(self) -> frozenset[str]:
        """``capabilities`` as a set (for membership tests)."""
        return self._derived[2]

    @property
    def context(self) -> Context:
        """What, besides its state, decides what the leg may do (see ``callstate.table``)."""
        return self._derived[0]

    @property
    def participants(self) -> tuple[str, ...]:
        """The numbers of the other parties, in the order they joined."""
        return self._participants

    @property
    def user_data(self) -> dict[str, str | int]:
        return dict(self._user_data)

    @property
    def user_data_items(self) -> UserData:
        """``user_data`` as the ordered, immutable pairs the events carry."""
        return self._user_data

    @property
    def mute(self) -> Mute:
        return self._mute

    @property
    def recording_state(self) -> RecordingState | None:
        return self._recording

    @property
    def answered(self) -> bool:
        """Whether the far end (or the agent, for a ringing leg) has answered."""
        return self._answered

    @property
    def connection(self) -> Connection:
        return self._connection

    @property
    def conn_id(self) -> str:
        return self._connection._conn_id

    @property
    def parent(self) -> Leg | None:
        """The call this consult was started from, while both are live."""
        return self._parent

    @property
    def consult(self) -> Leg | None:
        """The live consult started from this call, if any."""
        return self._consult

    def __repr__(self) -> str:
        return f"<Call {self._id} {self._device._dn} {self._state} {list(self._participants)}>"


def number(party: Leg | str) -> str:
    """A party's number: its device's DN, or the outside number itself."""
    return party._device._dn if isinstance(party, Leg) else party
