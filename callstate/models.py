"""Pydantic models of the Calls API JSON: the call resource (8.5.2 and 8.5.0 forms), the device
resource, the user resource and its voice channel, the GET responses and the CometD
notifications. Field names are the wire names;
optional fields that do not apply are left unset and omitted on output (``dump``), as GWS omits
them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AgentStateSetting",
    "AgentStatesResponse",
    "CallResource",
    "CallResponse",
    "CallsResponse",
    "ChannelNotification",
    "ChannelNotificationData",
    "ChannelsResponse",
    "Country",
    "DeviceNotification",
    "DeviceNotificationData",
    "DeviceResource",
    "DeviceResponse",
    "DeviceUrisResponse",
    "DevicesResponse",
    "ErrorResponse",
    "LegacyCallResource",
    "Notification",
    "NotificationData",
    "OkResponse",
    "Participant",
    "ParticipantInfo",
    "SettingsLink",
    "SettingsListResponse",
    "SettingsSectionResponse",
    "Skill",
    "SkillsResponse",
    "SupervisorMonitoringState",
    "UserResource",
    "UserResponse",
    "UserState",
    "VersionResponse",
    "VoiceChannel",
    "dump",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON object GWS would send: wire names, unset optional fields left out."""
    return model.model_dump(mode="json", exclude_unset=True)


class Participant(_Wire):
    """A participant in the current (8.5.2) form."""

    e164Number: str
    formattedPhoneNumber: str
    phoneNumber: str
    digits: str


class Country(_Wire):
    name: str
    code: str
    callingCode: str


class ParticipantInfo(_Wire):
    """8.5.0 ``participantsInfo`` item; ``localPhoneNumber`` only for public numbers."""

    country: Country
    formattedPhoneNumber: str
    location: str | None
    localPhoneNumber: str | None = None
    E164digits: str
    isValidNumber: bool


class _CallBase(_Wire):
    id: str
    state: str
    callUuid: str
    connId: str
    deviceUri: str
    dnis: str
    callType: str
    capabilities: list[str]
    userData: dict[str, str | int] | None = None
    duration: str
    mute: str
    recordingState: str | None = None
    supervisorListeningIn: bool
    monitoredUserMuted: bool
    uri: str
    parentCallUri: str | None = None
    parentCallPath: str | None = None


class CallResource(_CallBase):
    """The call resource in the current (8.5.2) form."""

    participants: list[Participant]
    monitoring: bool
    path: str


class LegacyCallResource(_CallBase):
    """The call resource in the 8.5.0 form: string participants, ``ani``, ``participantsInfo``."""

    participants: list[str]
    participantsInfo: list[ParticipantInfo]
    ani: str


class NotificationData(_Wire):
    notificationType: str
    call: CallResource | LegacyCallResource
    phoneNumber: str
    messageType: str = "CallStateChangeMessage"
    extensions: dict[str, int] | None = None


class Notification(_Wire):
    """A CometD message on ``/v2/me/calls``."""

    data: NotificationData
    channel: str = "/v2/me/calls"


class CallsResponse(_Wire):
    """``GET /api/v2/me/calls``."""

    statusCode: int = 0
    calls: list[CallResource | LegacyCallResource]


class CallResponse(_Wire):
    """``GET /api/v2/me/calls/{id}``."""

    statusCode: int = 0
    call: CallResource | LegacyCallResource


class ErrorResponse(_Wire):
    """Any refused request: a non-zero ``statusCode`` and its ``statusMessage``."""

    statusCode: int
    statusMessage: str


class UserState(_Wire):
    """An agent state as GWS names it (``workMode`` for the not-ready ones)."""

    id: str
    displayName: str
    state: str
    workMode: str | None = None


class SupervisorMonitoringState(_Wire):
    """On a supervisor's device: whom it monitors, and how."""

    state: str
    mode: str
    scope: str
    targetDeviceUri: str


class DeviceResource(_Wire):
    """The device resource (``GET /me/devices``, ``/v2/me/devices`` messages)."""

    id: str
    deviceState: str
    userState: UserState
    phoneNumber: str
    e164Number: str
    telephonyNetwork: str
    doNotDisturb: str
    voiceEnvironmentUri: str
    capabilities: list[str]
    supervisorMonitoringState: SupervisorMonitoringState | None = None
    callForwarding: str | None = None


class DevicesResponse(_Wire):
    """``GET /api/v2/me/devices``."""

    statusCode: int = 0
    devices: list[DeviceResource]


class DeviceResponse(_Wire):
    """``GET /api/v2/devices/{id}``: what a ``deviceUri`` names."""

    statusCode: int = 0
    device: DeviceResource


class DeviceUrisResponse(_Wire):
    """``GET /api/v2/devices`` (an admin's; with ``?fields=*``: a ``DevicesResponse``)."""

    statusCode: int = 0
    uris: list[str]


class DeviceNotificationData(_Wire):
    messageType: str = "DeviceStateChangeMessage"
    devices: list[DeviceResource]


class DeviceNotification(_Wire):
    """A CometD message on ``/v2/me/devices``."""

    data: DeviceNotificationData
    channel: str = "/v2/me/devices"


class VoiceChannel(_Wire):
    """The agent's voice channel (``GET /me/channels``, ``/v2/me/channels`` messages)."""

    channel: str = "voice"
    phoneNumber: str
    dndState: str
    userState: UserState


class ChannelsResponse(_Wire):
    """``GET /api/v2/me/channels``."""

    statusCode: int = 0
    channels: list[VoiceChannel]


class ChannelNotificationData(_Wire):
    messageType: str = "ChannelStateChangeMessageV2"
    channels: list[VoiceChannel]


class ChannelNotification(_Wire):
    """A CometD message on ``/v2/me/channels``."""

    data: ChannelNotificationData
    channel: str = "/v2/me/channels"


class Skill(_Wire):
    id: str
    name: str
    level: int


class SkillsResponse(_Wire):
    """``GET /api/v2/me/skills``."""

    statusCode: int = 0
    skills: list[Skill]


class UserResource(_Wire):
    """The user (``GET /api/v2/me``), with the subresources ``?subresources=`` asked for."""

    id: str
    userName: str
    firstName: str | None = None
    lastName: str | None = None
    roles: list[str]
    enabled: bool
    changePasswordOnFirstLogin: bool
    uri: str
    path: str
    deviceUri: str | None = None
    devices: list[DeviceResource] | None = None
    channels: list[VoiceChannel] | None = None
    skills: list[Skill] | None = None
    settings: dict[str, dict[str, Any]] | None = None
    calls: list[CallResource | LegacyCallResource] | None = None


class UserResponse(_Wire):
    """``GET /api/v2/me``."""

    statusCode: int = 0
    user: UserResource


class AgentStateSetting(UserState):
    """An agent state a device takes, with the operation that sets it."""

    operationName: str


class AgentStatesResponse(_Wire):
    """``GET /api/v2/settings/agent-states``."""

    statusCode: int = 0
    settings: list[AgentStateSetting]


class OkResponse(_Wire):
    """A request done (a POST's answer): ``statusCode`` 0."""

    statusCode: int = 0


class SettingsLink(_Wire):
    displayName: str
    key: str
    uri: str


class SettingsListResponse(_Wire):
    """``GET /api/v2/settings``: the sections, by name."""

    statusCode: int = 0
    settings: list[SettingsLink]


class SettingsSectionResponse(_Wire):
    """``GET /api/v2/settings/{name}``: one section's options."""

    statusCode: int = 0
    settings: dict[str, Any]


class VersionResponse(_Wire):
    """``GET /api/v2/diagnostics/version``."""

    statusCode: int = 0
    version: str
