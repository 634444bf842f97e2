"""Golden conformance: replay the documented GWS requests and compare with the documented messages.

The samples (``../shared/spec/samples.json``) are "flattened": call fields and envelope fields in
one object. Each test builds the documented situation with the public API, replays the request
and compares the agent's notifications, field by field, with the sample's. A notification marked
``"uncertain": true`` is incomplete in the known text: only the fields it shows are compared.

The entries used here are also committed in ``tests/data/samples_subset.json`` so the golden tests
run on a clean clone; when the shared spec is present (beside the repository, or where the
``CALLSTATE_SAMPLES`` environment variable points), the same tests run against it as well and
the copy is checked against the original.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from callstate import CallEvent, Device, Form, Projection, Switch

SHARED = Path(
    os.environ.get("CALLSTATE_SAMPLES")
    or Path(__file__).resolve().parents[2] / "shared" / "spec" / "samples.json"
)
SUBSET = Path(__file__).resolve().parent / "data" / "samples_subset.json"

#: fields of the flattened sample that belong to the CometD envelope, not to the call
ENVELOPE = ("notificationType", "messageType", "phoneNumber", "extensions", "channel")


@dataclass
class Situation:
    """A switch in the documented state, just before the documented request."""

    switch: Switch
    agent: Device
    call_id: str | None = None
    projection: Projection = field(default_factory=Projection)
    events: list[CallEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.switch.subscribe(self.projection)
        self.switch.subscribe(self.events.append)


def _answered(caller: str, callee: str, **features: list[str]) -> tuple[Switch, str, str]:
    """``caller`` dials ``callee`` and ``callee`` answers; returns the two leg ids."""
    switch = Switch(seed=1)
    a = switch.add_device(caller, features=features.get(caller, []))
    b = switch.add_device(callee, features=features.get(callee, []))
    call = a.dial(callee)
    (ringing,) = b.calls
    b.perform(ringing.id, "Answer")
    return switch, call.id, ringing.id


def dial_15000_to_15002() -> Situation:
    switch = Switch(seed=1)
    agent = switch.add_device("15000")
    switch.add_device("15002")
    return Situation(switch, agent)


def dial_5005_to_5001() -> Situation:
    switch = Switch(seed=1)
    agent = switch.add_device("5005")
    switch.add_device("5001")
    return Situation(switch, agent)


def ringing_from_15001() -> Situation:
    switch = Switch(seed=1)
    agent, caller = switch.add_device("15000"), switch.add_device("15001")
    caller.dial("15000")
    (ringing,) = agent.calls
    return Situation(switch, agent, ringing.id)


def received_from_15001() -> Situation:
    switch, _, received = _answered("15001", "15000")
    return Situation(switch, switch.device("15000"), received)


def conference_member_3001() -> Situation:
    """3001 called 3002, who conferenced 3003 in: 3001 is in a conference it does not own."""
    switch = Switch(seed=1)
    agent = switch.add_device("3001", features=["mute", "recording"])
    host, third = switch.add_device("3002"), switch.add_device("3003")
    call = agent.dial("3002")
    (hosted,) = host.calls
    host.perform(hosted.id, "Answer")
    host.perform(hosted.id, "InitiateConference", destination={"phoneNumber": "3003"})
    (consult,) = third.calls
    third.perform(consult.id, "Answer")
    host.perform(hosted.id, "CompleteConference")
    return Situation(switch, agent, call.id)


def established_to_15001() -> Situation:
    switch, placed, _ = _answered("15000", "15001")
    switch.add_device("15002")
    return Situation(switch, switch.device("15000"), placed)


def consult_answered_by_15002() -> Situation:
    situation = established_to_15001()
    agent, target = situation.agent, situation.switch.device("15002")
    assert situation.call_id is not None
    agent.perform(situation.call_id, "InitiateTransfer", destination={"phoneNumber": "15002"})
    (ringing,) = target.calls
    target.perform(ringing.id, "Answer")
    consult = agent.call(situation.call_id).consult
    assert consult is not None
    return Situation(situation.switch, agent, consult.id)


def dialing_to_15001() -> Situation:
    switch = Switch(seed=1)
    agent = switch.add_device("15000")
    switch.add_device("15001")
    return Situation(switch, agent, agent.dial("15001").id)


def dialing_with_account_number() -> Situation:
    situation = dialing_to_15001()
    assert situation.call_id is not None
    situation.agent.perform(
        situation.call_id, "AttachUserData", userData={"AccountNumber": "12345"}
    )
    return situation


def recording_agent_15000() -> Situation:
    switch, placed, _ = _answered("15000", "15001", **{"15000": ["recording"]})
    return Situation(switch, switch.device("15000"), placed)


def recording_agent_5001() -> Situation:
    switch, _, received = _answered("5000", "5001", **{"5001": ["recording"]})
    return Situation(switch, switch.device("5001"), received)


#: (operation, sample) -> (how to build the situation, the form the sample is printed in)
CASES: dict[tuple[str, str], tuple[Callable[[], Situation], Form]] = {
    ("Dial", "Sample 1"): (dial_15000_to_15002, "8.5.2"),
    ("Dial", "Sample #1 (Oct 2015 draft revision)"): (dial_15000_to_15002, "8.5.2"),
    ("Dial", "Sample #1 (legacy revision)"): (dial_5005_to_5001, "8.5.0"),
    ("Answer", "Sample"): (ringing_from_15001, "8.5.2"),
    ("Hangup", "Sample"): (received_from_15001, "8.5.2"),
    ("Hold", "Sample"): (received_from_15001, "8.5.2"),
    ("SendDtmf", "Sample"): (received_from_15001, "8.5.2"),
    ("MuteCall", "Sample"): (conference_member_3001, "8.5.2"),
    ("InitiateTransfer", "Sample 1"): (established_to_15001, "8.5.2"),
    ("CompleteTransfer", "Sample 1"): (consult_answered_by_15002, "8.5.2"),
    ("AttachUserData", "Sample"): (dialing_to_15001, "8.5.2"),
    ("UpdateUserData", "Sample 1"): (dialing_with_account_number, "8.5.2"),
    ("UpdateUserData", "Sample 2 (multiple key/value pairs)"): (
        dialing_with_account_number,
        "8.5.2",
    ),
    ("StartCallRecording", "Sample"): (recording_agent_15000, "8.5.2"),
    ("StartCallRecording", "Example (legacy revision)"): (recording_agent_5001, "8.5.0"),
}


@cache
def load_samples(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    entries = json.loads(path.read_text(encoding="utf-8"))
    return {(e["operation"], e["sample"]): e for e in entries}


def samples_fixture(subset: Path) -> Any:
    """A ``samples`` fixture: the entries committed in ``subset``, then the shared spec's (when
    it is beside the repository)."""

    @pytest.fixture(params=["subset", "shared"])
    def samples(request: pytest.FixtureRequest) -> dict[tuple[str, str], dict[str, Any]]:
        if request.param == "shared":
            if not SHARED.exists():
                pytest.skip(f"{SHARED} is not here (clean clone); the committed subset still runs")
            return load_samples(SHARED)
        return load_samples(subset)

    return samples


samples = samples_fixture(SUBSET)


def replay(situation: Situation, body: dict[str, Any]) -> list[CallEvent]:
    """POST ``body`` as the agent; return the agent's events it caused."""
    params = dict(body)
    name = params.pop("operationName")
    situation.events.clear()
    agent = situation.agent
    if name == "Dial":
        agent.dial(params.pop("destination"), **params)
    else:
        assert situation.call_id is not None
        agent.perform(situation.call_id, name, **params)
    return [e for e in situation.events if e.call.device == agent.dn]


def flatten(message: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(call, envelope) of one of our CometD messages."""
    data = message["data"]
    envelope = {k: v for k, v in data.items() if k != "call"}
    envelope["channel"] = message["channel"]
    return data["call"], envelope


def assert_matches(
    message: dict[str, Any], sample: dict[str, Any], body: dict[str, Any], form: Form
) -> None:
    call, envelope = flatten(message)
    certain = not sample.get("uncertain", False)

    def compare(name: str, ours: dict[str, Any]) -> None:
        if name in sample:
            assert ours.get(name) == sample[name], name
        elif certain:
            assert name not in ours, name

    for name in ("state", "callType", "mute", "dnis", "recordingState"):
        compare(name, call)
    if "ani" in sample:  # legacy samples print it on received calls only; ours always has it
        assert call["ani"] == sample["ani"]
    for name in ("notificationType", "messageType", "phoneNumber", "channel"):
        compare(name, envelope)
    if form == "8.5.2":  # legacy samples differ among themselves on where extensions go
        assert ("extensions" in envelope) == ("extensions" in sample) or not certain
        if "extensions" in sample:
            assert envelope["extensions"]["BusinessCall"] == sample["extensions"]["BusinessCall"]
    if "capabilities" in sample:
        assert set(call["capabilities"]) == set(sample["capabilities"])
        assert len(call["capabilities"]) == len(sample["capabilities"])
    if "participants" in sample:
        assert len(call["participants"]) == len(sample["participants"])
        for ours, theirs in zip(call["participants"], sample["participants"], strict=True):
            if isinstance(theirs, str):
                assert ours == theirs
            else:
                assert {k: ours[k] for k in theirs} == theirs
    if "participantsInfo" in sample:
        assert len(call["participantsInfo"]) == len(sample["participantsInfo"])
    for ours, theirs in zip(
        call.get("participantsInfo", []), sample.get("participantsInfo", []), strict=True
    ):
        shared_keys = set(ours) & set(theirs)
        assert shared_keys, "participantsInfo shares no field with the sample"
        assert {k: ours[k] for k in shared_keys} == {k: theirs[k] for k in shared_keys}
    if certain or "parentCallUri" in sample:
        assert ("parentCallUri" in call) == ("parentCallUri" in sample)
    if certain or "userData" in sample:
        assert ("userData" in call) == ("userData" in sample)
    for key, value in body.get("userData", {}).items():
        assert call["userData"][key] == value
    if body["operationName"].endswith("CallRecording") and "userData" in sample:
        assert call["userData"]["GSIP_RECORD"] == sample["userData"]["GSIP_RECORD"]


@pytest.mark.parametrize("key", list(CASES), ids=" / ".join)
def test_sample_notifications(
    samples: dict[tuple[str, str], dict[str, Any]], key: tuple[str, str]
) -> None:
    entry = samples[key]
    build, form = CASES[key]
    situation = build()
    body = entry["request"]["body"]
    events = replay(situation, body)
    documented = entry["notifications"]
    if "notifications_missing" in entry:
        assert len(events) >= len(documented)
    else:
        assert len(events) == len(documented)
    for event, sample in zip(events, documented, strict=False):
        message = situation.projection.notification(event, form=form)
        assert message is not None
        assert_matches(message, sample, body, form)


def test_legacy_participants_info_of_an_internal_dn(
    samples: dict[tuple[str, str], dict[str, Any]],
) -> None:
    entry = samples[("StartCallRecording", "Example (legacy revision)")]
    situation = recording_agent_5001()
    (event,) = replay(situation, entry["request"]["body"])
    message = situation.projection.notification(event, form="8.5.0")
    assert message is not None
    (sample,) = entry["notifications"]
    assert message["data"]["call"]["participantsInfo"] == sample["participantsInfo"]
    assert message["data"]["call"]["ani"] == sample["ani"]


def test_subset_is_a_faithful_copy() -> None:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not here (clean clone)")
    shared, subset = load_samples(SHARED), load_samples(SUBSET)
    assert set(subset) == set(CASES)
    for key, entry in subset.items():
        assert entry == shared[key], key


def test_every_documented_voice_call_sample_is_covered() -> None:
    """Every voice sample is replayed, here or in test_samples_supervision, but the
    outbound-record one (the Outbound API is not a voice operation)."""
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not here (clean clone)")
    supervision = load_samples(SUBSET.parent / "samples_supervision.json")
    outbound_record = ("Dial", "Outbound API: dial an outbound (preview) record")
    uncovered = {
        key
        for key in load_samples(SHARED)
        if key != outbound_record and key not in CASES and key not in supervision
    }
    assert not uncovered
