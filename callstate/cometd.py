"""The CometD topics that carry messages, and the one shape of their messages.

Every message a client receives on a topic is ``{"data": {...}, "channel": topic}``, in that key
order: ``message`` builds it, for the projection's call messages and the device view's device and
channel messages alike (the projection's encoded call messages are cut from what it returns).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["CALLS", "CHANNELS", "DEVICES", "TOPICS", "message"]

CALLS: Final = "/v2/me/calls"
DEVICES: Final = "/v2/me/devices"
CHANNELS: Final = "/v2/me/channels"
#: the topics that carry messages
TOPICS: Final = (CALLS, DEVICES, CHANNELS)


def message(topic: str, data: dict[str, Any]) -> dict[str, Any]:
    """The CometD message carrying ``data`` on ``topic``."""
    return {"data": data, "channel": topic}
