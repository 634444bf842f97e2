"""``run --pretty``: the output lines of a scenario as a table a person reads in a terminal.

One row per output line — the step that caused it, who it is for, what it is, the state it leaves,
and the few facts that tell it apart (the call, its type and parties; a refusal's message; what a
GET found) — rather than the full JSON, whose dozens of fields per call hide the story. Call ids
are shortened to their last 6 characters (enough to tell the calls of one run apart; ``--seed``
numbers them). The JSON lines stay the default and the thing to parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["HEADER", "Table"]

_WIDTHS: Final = (4, 14, 30, 12)
_TITLES: Final = ("STEP", "WHO", "WHAT", "STATE", "DETAIL")


def _cells(*cells: str) -> str:
    step, *middle, detail = cells
    padded = [step.rjust(_WIDTHS[0])]
    padded += [cell.ljust(width) for cell, width in zip(middle, _WIDTHS[1:], strict=True)]
    return "  ".join((*padded, detail)).rstrip()


#: the table's first line
HEADER: Final = _cells(*_TITLES)


class Table:
    """Rows of one run; it learns each device's DN from the device messages, to name a
    monitored device by its DN rather than its URI."""

    def __init__(self) -> None:
        self._dns: dict[str, str] = {}

    def row(self, step: int, line: Mapping[str, Any], *, expected: bool = False) -> str:
        """The row of one output line of step number ``step`` (counted from 1); ``expected``:
        a refusal the step said it expects."""
        who = str(line.get("device") or line.get("external") or line.get("user") or "")
        if "error" in line:
            error = line["error"]
            note = "(expected) " if expected else ""
            what, state = f"refused {error['statusCode']}", ""
            detail = note + error["statusMessage"]
        elif "response" in line:
            what, state, detail = self._response(line["response"])
        else:
            what, state, detail = self._message(line["message"]["data"])
        return _cells(str(step), who, what, state, detail)

    def _device(self, device: Mapping[str, Any]) -> str:
        dn = str(device.get("phoneNumber", ""))
        self._dns[str(device.get("id"))] = dn
        facts = [dn]
        if device.get("doNotDisturb") == "On":
            facts.append("do not disturb")
        if device.get("callForwarding"):
            facts.append(f"forwarding to {device['callForwarding']}")
        monitoring = device.get("supervisorMonitoringState")
        if monitoring:
            target = str(monitoring.get("targetDeviceUri", "")).rsplit("/", 1)[-1]
            facts.append(f"{monitoring.get('state')} on {self._dns.get(target, target)}")
        return ", ".join(facts)

    def _message(self, data: Mapping[str, Any]) -> tuple[str, str, str]:
        if "call" in data:
            call = data["call"]
            return data["notificationType"], call["state"], _call(call)
        devices = data.get("devices") or [{}]
        state = str(devices[0].get("userState", {}).get("state", ""))
        return "DeviceStateChange", state, "; ".join(self._device(d) for d in devices)

    def _response(self, response: Mapping[str, Any]) -> tuple[str, str, str]:
        if "call" in response:
            call = response["call"]
            return "GET call", call["state"], _call(call)
        if "calls" in response:
            calls = response["calls"]
            found = "; ".join(f"{_short(c['id'])} {c['state']}" for c in calls)
            return "GET calls", _count(calls, "call"), found or "none"
        if "devices" in response:
            devices = response["devices"]
            found = "; ".join(f"{self._device(d)} {d['userState']['state']}" for d in devices)
            return "GET devices", _count(devices, "device"), found or "none"
        return "GET", f"status {response.get('statusCode')}", response.get("statusMessage", "")


def _short(call_id: str) -> str:
    return call_id[-6:]


def _parties(call: Mapping[str, Any]) -> str:
    numbers = [p if isinstance(p, str) else p.get("phoneNumber", "?") for p in call["participants"]]
    return ", ".join(numbers) or "nobody"


def _call(call: Mapping[str, Any]) -> str:
    text = f"call {_short(call['id'])} {call['callType']} with {_parties(call)}"
    if call.get("mute") == "On":
        text += ", muted"
    return text


def _count(items: list[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"
