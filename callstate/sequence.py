"""A Mermaid ``sequenceDiagram`` of a scenario run: who did what, and what each was told.

``python -m callstate run SCENARIO --sequence OUT.mmd`` writes one: the devices, the far-end
numbers and admin users as participants around the switch; each agent request and far-end event
as an arrow to the switch, each notification as an arrow back (the leg's state and the
notification type; a device message with the device's agent state and supervision), refusals
and GETs too.
"""

from __future__ import annotations

from typing import Any

from .scenario import (
    AgentStep,
    ClearStep,
    ExternalStep,
    GetStep,
    ResetStep,
    Script,
    Step,
    WaitStep,
)

__all__ = ["Sequence"]


def _alias(name: str) -> str:
    """A Mermaid participant id for a DN, a number or ``admin``."""
    return "P" + "".join(c if c.isalnum() else "_" for c in name)


class Sequence:
    """Collects a run (pass ``sequence.step`` as ``run(..., trace=...)``) and draws it."""

    def __init__(self, script: Script) -> None:
        self.order: list[str] = ["Switch"]
        self.names: dict[str, str] = {}
        for device in script.devices:
            role = "" if device.role == "agent" else f" ({device.role})"
            self._meet(device.dn, f"{device.dn}{role}")
        self.lines: list[str] = []

    def _meet(self, who: str, shown: str | None = None) -> str:
        alias = _alias(who)
        if alias not in self.names:
            self.names[alias] = shown or who
            self.order.append(alias)
        return alias

    def step(self, step: Step, produced: list[dict[str, Any]]) -> None:
        out = self.lines
        if isinstance(step, WaitStep):
            out.append(f"    Note over Switch: {step.wait:g} s pass")
        elif isinstance(step, GetStep):
            who = self._meet(step.user)
            out.append(f"    {who}->>Switch: GET {step.get}")
        elif isinstance(step, ExternalStep):
            who = self._meet(step.external)
            to = f" to {step.to}" if step.to else ""
            out.append(f"    {who}->>Switch: {step.event}{to}")
        elif isinstance(step, ResetStep):
            out.append(f"    {self._meet('admin')}->>Switch: reset")
        elif isinstance(step, ClearStep):
            out.append(f"    {self._meet('admin')}->>Switch: ClearCall ({step.clear})")
        elif isinstance(step, AgentStep):
            who = self._meet(step.device)
            on = f" ({step.call})" if step.call else ""
            out.append(f"    {who}->>Switch: {step.operation}{on}")
        for line in produced:
            out.append(self._answer(line))

    def _answer(self, line: dict[str, Any]) -> str:
        if "response" in line:
            response = line["response"]
            found = response.get("calls", response.get("devices", [response.get("call")]))
            count = len([f for f in found if f]) if response["statusCode"] == 0 else 0
            what = f"{count} found" if response["statusCode"] == 0 else "not found"
            return f"    Switch-->>{self._meet(line['user'])}: {what}"
        if "error" in line:
            who = self._meet(line.get("device") or line.get("external") or "admin")
            return f"    Switch--x{who}: refused (statusCode {line['error']['statusCode']})"
        data = line["message"]["data"]
        who = self._meet(line["device"])
        if "call" in data:
            call = data["call"]
            return f"    Switch-->>{who}: {call['state']} ({data['notificationType']})"
        device = data["devices"][0]
        watch = device.get("supervisorMonitoringState")
        extra = f", {watch['state']} {watch['scope']}" if watch else ""
        return f"    Switch-->>{who}: device {device['userState']['state']}{extra}"

    def mermaid(self) -> str:
        head = ["sequenceDiagram"]
        head += [
            "    participant Switch"
            if alias == "Switch"
            else f"    participant {alias} as {self.names[alias]}"
            for alias in self.order
        ]
        return "\n".join([*head, *self.lines]) + "\n"
