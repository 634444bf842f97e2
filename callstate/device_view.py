"""The GWS device resource and ``DeviceStateChangeMessage`` of a device snapshot.

Shapes as ``gws-devices.md`` §1 documents them. The user state carries the documented ids; the
voice environment is one per switch, its id derived from the base URI (GWS names one; a
simulated switch has exactly one).
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any, Final

from . import cometd
from .enums import AgentState
from .events import DeviceSnapshot

__all__ = [
    "USER_STATES",
    "channel_message",
    "device_message",
    "device_resource",
    "voice_channel",
]

#: agent state -> the documented userState object
USER_STATES: Final[dict[AgentState, dict[str, str]]] = {
    AgentState.READY: {
        "id": "9430250E-0A1B-421F-B372-F29E69366DED",
        "displayName": "Ready",
        "state": "Ready",
    },
    AgentState.NOT_READY: {
        "id": "900D55CC-2BB0-431F-8BF9-D3525B383BE6",
        "displayName": "Not Ready",
        "state": "NotReady",
    },
    AgentState.AFTER_CALL_WORK: {
        "id": "D3663509-3D82-4DD3-A82E-2EA8EFA02AEF",
        "displayName": "AfterCallWork",
        "state": "NotReady",
        "workMode": "AfterCallWork",
    },
    AgentState.AUX_WORK: {
        "id": "2B36138D-C564-4562-A8CB-3C32D564F296",
        "displayName": "AuxWork",
        "state": "NotReady",
        "workMode": "AuxWork",
    },
}


@cache
def _environment(base_uri: str) -> str:
    return f"{base_uri}/voice-environments/{uuid.uuid5(uuid.NAMESPACE_URL, base_uri)}"


def device_resource(device: DeviceSnapshot, base_uri: str) -> dict[str, Any]:
    """The device resource (a fresh JSON object)."""
    resource: dict[str, Any] = {
        "id": device.device_id,
        "deviceState": "Active",
        "userState": dict(USER_STATES[device.user_state]),
        "phoneNumber": device.device,
        "e164Number": device.device,
        "telephonyNetwork": "Private",
        "doNotDisturb": "On" if device.do_not_disturb else "Off",
        "voiceEnvironmentUri": _environment(base_uri),
        "capabilities": [c.value for c in device.capabilities],
    }
    watch = device.supervision
    if watch is not None:
        resource["supervisorMonitoringState"] = {
            "state": watch.mode.value,
            "mode": watch.monitoring.value,
            "scope": watch.scope.value,
            "targetDeviceUri": f"{base_uri}/devices/{watch.target_id}",
        }
    if device.forward_to is not None:
        resource["callForwarding"] = device.forward_to
    return resource


def device_message(device: DeviceSnapshot, base_uri: str) -> dict[str, Any]:
    """The CometD message on ``/v2/me/devices``."""
    return cometd.message(
        cometd.DEVICES,
        {
            "messageType": "DeviceStateChangeMessage",
            "devices": [device_resource(device, base_uri)],
        },
    )


def voice_channel(device: DeviceSnapshot) -> dict[str, Any]:
    """The ``voice`` channel of the device's agent: its agent state and do-not-disturb, as GWS
    shows a channel (``/me/channels`` and ``ChannelStateChangeMessageV2``)."""
    return {
        "channel": "voice",
        "phoneNumber": device.device,
        "dndState": "On" if device.do_not_disturb else "Off",
        "userState": dict(USER_STATES[device.user_state]),
    }


def channel_message(device: DeviceSnapshot) -> dict[str, Any]:
    """The CometD message on ``/v2/me/channels`` when the voice channel's state changes."""
    return cometd.message(
        cometd.CHANNELS,
        {"messageType": "ChannelStateChangeMessageV2", "channels": [voice_channel(device)]},
    )
