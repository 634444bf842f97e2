"""callstate: a GWS 8.5 voice call as an event-driven state machine, served as the Calls API.

The public API is exactly what ``__all__`` lists.
"""

from .call import Call
from .enums import (
    CallType,
    Capability,
    ConferenceRole,
    Feature,
    Mute,
    NetworkEvent,
    NotificationType,
    Operation,
    PairRole,
    RecordingState,
    State,
)
from .errors import (
    CallNotFoundError,
    CallStateError,
    DeviceNotFoundError,
    InvalidParameterError,
    MissingParameterError,
    OperationNotAvailableError,
    UnknownOperationError,
)
from .events import (
    CallEvent,
    CallSnapshot,
    CapabilitiesChanged,
    DtmfSent,
    MuteChanged,
    ParticipantsChanged,
    RecordingChanged,
    StateChanged,
    UserDataChanged,
)
from .projection import Form, Projection, Role, User
from .scenario import Scenario, run
from .switch import Device, Subscription, Switch

__all__ = [
    "Call",
    "CallEvent",
    "CallNotFoundError",
    "CallSnapshot",
    "CallStateError",
    "CallType",
    "Capability",
    "CapabilitiesChanged",
    "ConferenceRole",
    "Device",
    "DeviceNotFoundError",
    "DtmfSent",
    "Feature",
    "Form",
    "InvalidParameterError",
    "MissingParameterError",
    "Mute",
    "MuteChanged",
    "NetworkEvent",
    "NotificationType",
    "Operation",
    "OperationNotAvailableError",
    "PairRole",
    "ParticipantsChanged",
    "Projection",
    "RecordingChanged",
    "RecordingState",
    "Role",
    "Scenario",
    "State",
    "StateChanged",
    "Subscription",
    "Switch",
    "UnknownOperationError",
    "User",
    "UserDataChanged",
    "run",
]

__version__ = "0.1.0"
