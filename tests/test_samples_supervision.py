"""Golden conformance for supervision: the documented ListenIn, Coach, BargeIn,
CancelSupervisorMonitoring, SwitchToListenIn and MuteMonitoredUser samples.

The entries are committed in ``tests/data/samples_supervision.json`` (checked against the shared
spec when it is beside the repository). The samples' supervisor is 5005, in do-not-disturb (the
samples show it), monitoring agent 5001, who talks to 5000.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_samples import SHARED, assert_matches, load_samples, samples_fixture

from callstate import (
    CallEvent,
    Device,
    DeviceStateChanged,
    Event,
    Projection,
    Switch,
)

SUBSET = Path(__file__).resolve().parent / "data" / "samples_supervision.json"
DEVICE_FIELDS = (
    "deviceState",
    "userState",
    "phoneNumber",
    "e164Number",
    "telephonyNetwork",
    "doNotDisturb",
    "capabilities",
)


class Center:
    """5000 talks to agent 5001; 5005 is a supervisor in do-not-disturb."""

    def __init__(self) -> None:
        self.switch = Switch(seed=1)
        self.projection = Projection(form="8.5.2")
        self.events: list[Event] = []
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)
        self.caller = self.switch.add_device("5000")
        self.agent = self.switch.add_device("5001")
        self.supervisor = self.switch.add_device("5005", role="supervisor")
        self.supervisor.operate("DoNotDisturbOn")
        call = self.caller.dial("5001")
        (ringing,) = self.agent.calls
        ringing.perform("Answer")
        self.call = call

    def monitor(self, mode: str) -> Device:
        self.supervisor.operate(mode, targetDeviceUri=self.target_uri)
        return self.supervisor

    def joined(self, mode: str) -> str:
        self.monitor(mode)
        (leg,) = self.supervisor.calls
        leg.perform("Answer")
        return leg.id

    @property
    def target_uri(self) -> str:
        return f"http://localhost:8080/api/v2/devices/{self.agent.id}"

    def post(self, body: dict[str, Any], call_id: str | None = None) -> list[Event]:
        params = dict(body)
        name = params.pop("operationName")
        if "targetDeviceUri" in params:  # the sample's target is this center's agent
            params["targetDeviceUri"] = self.target_uri
        self.events.clear()
        if call_id is None:
            self.supervisor.operate(name, **params)
        else:
            self.supervisor.perform(call_id, name, **params)
        return [e for e in self.events if e[0].device == "5005"]


samples = samples_fixture(SUBSET)


def assert_device_matches(
    center: Center, event: Event, sample: dict[str, Any], *, certain: bool
) -> None:
    assert isinstance(event, DeviceStateChanged)
    message = center.projection.device_notification(event)
    assert message is not None
    assert message["channel"] == sample["channel"]
    assert message["data"]["messageType"] == sample["messageType"]
    [ours] = message["data"]["devices"]
    [theirs] = sample["devices"]
    for name in DEVICE_FIELDS:
        assert ours[name] == theirs[name], name
    assert ours["id"] == center.supervisor.id
    if certain:
        assert set(ours) == set(theirs)
        assert (
            ours.get("supervisorMonitoringState", {}).keys()
            == theirs.get("supervisorMonitoringState", {}).keys()
        )
    if "supervisorMonitoringState" in theirs:
        state = ours["supervisorMonitoringState"]
        documented = theirs["supervisorMonitoringState"]
        for name in ("state", "mode", "scope"):
            assert state[name] == documented[name], name
        assert state["targetDeviceUri"].endswith(f"/devices/{center.agent.id}")


@pytest.mark.parametrize("mode", ["ListenIn", "Coach", "BargeIn"])
def test_starting_to_monitor(samples: dict[tuple[str, str], dict[str, Any]], mode: str) -> None:
    entry = samples[(mode, "Sample")]
    center = Center()
    events = center.post(entry["request"]["body"])
    device_events = [e for e in events if isinstance(e, DeviceStateChanged)]
    [documented] = entry["notifications"]
    assert len(device_events) == 1
    certain = not documented.get("uncertain", False)
    assert_device_matches(center, device_events[0], documented, certain=certain)
    # and the agent's established call gets a supervisor's leg, ringing (gws-devices §4)
    [leg] = center.supervisor.calls
    assert (leg.state, leg.dnis, leg.participants) == ("Ringing", "5001", ("5000", "5001"))


def test_cancelling_monitoring(samples: dict[tuple[str, str], dict[str, Any]]) -> None:
    entry = samples[("CancelSupervisorMonitoring", "Sample")]
    center = Center()
    center.monitor("ListenIn")
    events = center.post(entry["request"]["body"])
    [event] = [e for e in events if isinstance(e, DeviceStateChanged)]
    [documented] = entry["notifications"]
    assert_device_matches(center, event, documented, certain=True)


def test_cancelling_releases_a_leg_offered_but_not_joined() -> None:
    """Only a joined supervisor's leg stays after a cancel (gws-devices §4)."""
    center = Center()
    center.monitor("ListenIn")
    (ringing,) = center.supervisor.calls
    center.supervisor.operate("CancelSupervisorMonitoring")
    assert ringing.state == "Released"
    assert center.supervisor.calls == ()


@pytest.mark.parametrize(
    ("operation", "mode"),
    [("SwitchToListenIn", "BargeIn"), ("MuteMonitoredUser", "BargeIn")],
)
def test_the_supervisors_leg(
    samples: dict[tuple[str, str], dict[str, Any]], operation: str, mode: str
) -> None:
    entry = samples[(operation, "Sample")]
    center = Center()
    leg = center.joined(mode)
    body = entry["request"]["body"]
    events = [e for e in center.post(body, leg) if isinstance(e, CallEvent)]
    documented = entry["notifications"]
    assert len(events) == len(documented)
    for event, sample in zip(events, documented, strict=True):
        message = center.projection.notification(event, form="8.5.2")
        assert message is not None
        assert_matches(message, sample, body, "8.5.2")
        call = message["data"]["call"]
        for name in ("supervisorListeningIn", "monitoredUserMuted"):
            assert call[name] == sample[name], name


def test_subset_is_a_faithful_copy() -> None:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not here (clean clone)")
    shared = load_samples(SHARED)
    for key, entry in load_samples(SUBSET).items():
        assert entry == shared[key], key
