"""The vocabulary of a call: every value here is the exact GWS wire string."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, TypeAlias


class State(StrEnum):
    """The state of one leg of a call (GWS ``state``)."""

    #: The agent dialed; the far end has not answered yet.
    DIALING = "Dialing"
    #: A call is offered to the agent's device.
    RINGING = "Ringing"
    #: Both ends are talking.
    ESTABLISHED = "Established"
    #: The agent put the call on hold.
    HELD = "Held"
    #: Final: the leg is over; it offers and accepts nothing.
    RELEASED = "Released"


class Operation(StrEnum):
    """A GWS voice ``operationName``; a capability is the name of an allowed operation."""

    #: Place a new call from a device (device-level, never a capability).
    DIAL = "Dial"
    ANSWER = "Answer"
    HANGUP = "Hangup"
    HOLD = "Hold"
    RETRIEVE = "Retrieve"
    SEND_DTMF = "SendDtmf"
    MUTE_CALL = "MuteCall"
    UNMUTE_CALL = "UnmuteCall"
    SINGLE_STEP_TRANSFER = "SingleStepTransfer"
    SINGLE_STEP_CONFERENCE = "SingleStepConference"
    INITIATE_TRANSFER = "InitiateTransfer"
    INITIATE_CONFERENCE = "InitiateConference"
    COMPLETE_TRANSFER = "CompleteTransfer"
    COMPLETE_CONFERENCE = "CompleteConference"
    SWAP_CALLS = "SwapCalls"
    REMOVE_PARTICIPANT_FROM_CONFERENCE = "RemoveParticipantFromConference"
    CLEAR_CALL = "ClearCall"
    ATTACH_USER_DATA = "AttachUserData"
    UPDATE_USER_DATA = "UpdateUserData"
    DELETE_USER_DATA = "DeleteUserData"
    DELETE_USER_DATA_PAIR = "DeleteUserDataPair"
    START_CALL_RECORDING = "StartCallRecording"
    PAUSE_CALL_RECORDING = "PauseCallRecording"
    RESUME_CALL_RECORDING = "ResumeCallRecording"
    STOP_CALL_RECORDING = "StopCallRecording"
    #: Supervisor leg: listen in (muted) from barge-in or coach.
    SWITCH_TO_LISTEN_IN = "SwitchToListenIn"
    #: Supervisor leg: barge in (heard by every party) from listen-in or coach.
    SWITCH_TO_BARGE_IN = "SwitchToBargeIn"
    #: Supervisor leg in barge-in: mute / unmute the monitored agent (never a capability).
    MUTE_MONITORED_USER = "MuteMonitoredUser"
    UNMUTE_MONITORED_USER = "UnmuteMonitoredUser"
    #: Set the disposition of a live or recently released leg (never a capability).
    SET_CALL_DISPOSITION = "SetCallDisposition"


#: Capabilities are operation names: one enum serves both, so the wire needs no mapping.
Capability = Operation


class NetworkEvent(StrEnum):
    """What the far end, or the switch on its behalf, does to a leg: triggers, not capabilities."""

    #: The party we dialed answered.
    FAR_END_ANSWERED = "FarEndAnswered"
    #: The other party hung up, or the switch tore the leg down.
    FAR_END_RELEASED = "FarEndReleased"
    #: The party we dialed was busy or did not answer.
    FAR_END_BUSY = "FarEndBusy"
    #: The switch held this leg because its pair partner was swapped in.
    SWITCH_HELD = "SwitchHeld"
    #: The switch retrieved this leg (its pair partner was swapped out, or a conference completed).
    SWITCH_RETRIEVED = "SwitchRetrieved"


class CallType(StrEnum):
    """GWS ``callType``."""

    INTERNAL = "Internal"
    INBOUND = "Inbound"
    OUTBOUND = "Outbound"
    CONSULT = "Consult"


class Mute(StrEnum):
    """GWS ``mute``."""

    OFF = "Off"
    ON = "On"


class RecordingState(StrEnum):
    """GWS ``recordingState``; present only on devices with the recording feature."""

    STOPPED = "Stopped"
    RECORDING = "Recording"
    PAUSED = "Paused"


class PairRole(StrEnum):
    """Where a leg stands in a consult pair (a parent and the consult it started)."""

    #: Not part of a live consult pair.
    NONE = "None"
    #: A parent whose consult has not been answered yet.
    PARENT_PENDING = "ParentPending"
    #: A parent whose consult has been answered.
    PARENT_PAIRED = "ParentPaired"
    #: A consult that has not been answered yet.
    CONSULT_PENDING = "ConsultPending"
    #: A consult that has been answered.
    CONSULT_PAIRED = "ConsultPaired"


class ConferenceRole(StrEnum):
    """Whether a leg is in a conference (two or more other participants) and owns it."""

    NONE = "None"
    MEMBER = "Member"
    OWNER = "Owner"


class NotificationType(StrEnum):
    """GWS CometD ``notificationType``."""

    STATUS_CHANGE = "StatusChange"
    PARTICIPANTS_UPDATED = "ParticipantsUpdated"
    ATTACHED_DATA_CHANGED = "AttachedDataChanged"
    DTMF_SENT = "DtmfSent"
    CALL_RECORDING_STATE_CHANGE = "CallRecordingStateChange"
    MONITORED_USER_MUTED_STATE_CHANGE = "MonitoredUserMutedStateChange"


class Feature(StrEnum):
    """Optional device features that add context rules to capabilities."""

    MUTE = "mute"
    RECORDING = "recording"


class DeviceOperation(StrEnum):
    """A device-level ``operationName`` (``POST /me/devices/{id}``); also a device capability."""

    FORWARD_CALLS_ON = "ForwardCallsOn"
    FORWARD_CALLS_OFF = "ForwardCallsOff"
    DO_NOT_DISTURB_ON = "DoNotDisturbOn"
    DO_NOT_DISTURB_OFF = "DoNotDisturbOff"
    LISTEN_IN = "ListenIn"
    COACH = "Coach"
    BARGE_IN = "BargeIn"
    CANCEL_SUPERVISOR_MONITORING = "CancelSupervisorMonitoring"


class AgentState(StrEnum):
    """An agent state operation (``POST /me/channels/voice``), named as the state it sets."""

    READY = "Ready"
    NOT_READY = "NotReady"
    AFTER_CALL_WORK = "AfterCallWork"
    AUX_WORK = "AuxWork"


class DeviceRole(StrEnum):
    """Who works at a device: only a supervisor's device supervises."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"


class SupervisionMode(StrEnum):
    """How a supervisor takes part in a monitored call."""

    #: hears the call, is heard by nobody
    LISTEN_IN = "ListenIn"
    #: hears the call, is heard by the agent only
    COACH = "Coach"
    #: a party of the call, heard by everyone
    BARGE_IN = "BargeIn"


class SupervisionScope(StrEnum):
    """``Call``: the supervisor stays on a monitored call to its end; ``Agent``: while the agent
    is on it."""

    CALL = "Call"
    AGENT = "Agent"


class MonitoringMode(StrEnum):
    """``NextCall``: monitoring ends once one call is joined; ``AllCalls``: until cancelled."""

    NEXT_CALL = "NextCall"
    ALL_CALLS = "AllCalls"


#: Every ``Operation`` by its wire name: what ``perform`` takes besides the enum (a
#: misspelled literal is a type error under mypy --strict).
OperationName: TypeAlias = Literal[
    "Dial",
    "Answer",
    "Hangup",
    "Hold",
    "Retrieve",
    "SendDtmf",
    "MuteCall",
    "UnmuteCall",
    "SingleStepTransfer",
    "SingleStepConference",
    "InitiateTransfer",
    "InitiateConference",
    "CompleteTransfer",
    "CompleteConference",
    "SwapCalls",
    "RemoveParticipantFromConference",
    "ClearCall",
    "AttachUserData",
    "UpdateUserData",
    "DeleteUserData",
    "DeleteUserDataPair",
    "StartCallRecording",
    "PauseCallRecording",
    "ResumeCallRecording",
    "StopCallRecording",
    "SwitchToListenIn",
    "SwitchToBargeIn",
    "MuteMonitoredUser",
    "UnmuteMonitoredUser",
    "SetCallDisposition",
]


#: Every device operation and agent state by name: what ``Device.operate`` takes.
DeviceOperationName: TypeAlias = Literal[
    "ForwardCallsOn",
    "ForwardCallsOff",
    "DoNotDisturbOn",
    "DoNotDisturbOff",
    "ListenIn",
    "Coach",
    "BargeIn",
    "CancelSupervisorMonitoring",
    "Ready",
    "NotReady",
    "AfterCallWork",
    "AuxWork",
]
