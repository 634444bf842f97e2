"""callstate: a GWS 8.5 voice call as an event-driven state machine, served as the Calls API.

The public API is exactly what ``__all__`` lists. ``Scenario`` and ``run`` load on first use
(the scenario reader needs pydantic, which nothing else on the call path does).
"""

import importlib
from typing import TYPE_CHECKING

from .device import Call, Device
from .enums import (
    AgentState,
    CallType,
    Capability,
    ConferenceRole,
    DeviceOperation,
    DeviceRole,
    Feature,
    MonitoringMode,
    Mute,
    NetworkEvent,
    NotificationType,
    Operation,
    PairRole,
    RecordingState,
    State,
    SupervisionMode,
    SupervisionScope,
)
from .errors import (
    CallNotFoundError,
    CallStateError,
    DeviceBusyError,
    DeviceNotFoundError,
    InvalidParameterError,
    LogWriteError,
    MissingParameterError,
    NotPermittedError,
    OperationNotAvailableError,
    UnknownOperationError,
)
from .events import (
    CallEvent,
    CallSnapshot,
    CapabilitiesChanged,
    DeviceEvent,
    DeviceSnapshot,
    DeviceStateChanged,
    DtmfSent,
    Event,
    MonitoredUserMutedChanged,
    MuteChanged,
    ParticipantsChanged,
    RecordingChanged,
    StateChanged,
    Supervision,
    SupervisionChanged,
    UserDataChanged,
)
from .log import LogError, LogReader, decode, encode, replay
from .projection import DEFAULT_FORM, Form, Projection, Role, User
from .streams import AsyncSubscription, EventOverflowError, EventStream
from .switch import ManualClock, Restored, Subscription, Switch

__all__ = [
    "DEFAULT_FORM",
    "AgentState",
    "AsyncSubscription",
    "Call",
    "CallEvent",
    "CallNotFoundError",
    "CallSnapshot",
    "CallStateError",
    "CallType",
    "CapabilitiesChanged",
    "Capability",
    "ConferenceRole",
    "Device",
    "DeviceBusyError",
    "DeviceEvent",
    "DeviceNotFoundError",
    "DeviceOperation",
    "DeviceRole",
    "DeviceSnapshot",
    "DeviceStateChanged",
    "DtmfSent",
    "Event",
    "EventOverflowError",
    "EventStream",
    "Feature",
    "Form",
    "InvalidParameterError",
    "LogError",
    "LogReader",
    "LogWriteError",
    "ManualClock",
    "MissingParameterError",
    "MonitoredUserMutedChanged",
    "MonitoringMode",
    "Mute",
    "MuteChanged",
    "NetworkEvent",
    "NotPermittedError",
    "NotificationType",
    "Operation",
    "OperationNotAvailableError",
    "PairRole",
    "ParticipantsChanged",
    "Projection",
    "RecordingChanged",
    "RecordingState",
    "Restored",
    "Role",
    "Scenario",
    "State",
    "StateChanged",
    "Subscription",
    "Supervision",
    "SupervisionChanged",
    "SupervisionMode",
    "SupervisionScope",
    "Switch",
    "UnknownOperationError",
    "User",
    "UserDataChanged",
    "decode",
    "encode",
    "replay",
    "run",
]

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .scenario import Scenario, run

#: public names loaded on first use -> their module
_LAZY = {"Scenario": ".scenario", "run": ".scenario"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
