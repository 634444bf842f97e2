"""``python -m callstate run``: JSON lines, reproducible with a seed, both forms, clean refusals."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
INBOUND = "examples/inbound.json"
BASE = "http://127.0.0.1:8080/api/v2"

#: spec §3: fields every call resource has, in both forms
COMMON_FIELDS = {
    "id",
    "state",
    "callUuid",
    "connId",
    "deviceUri",
    "uri",
    "participants",
    "dnis",
    "callType",
    "capabilities",
    "duration",
    "mute",
    "supervisorListeningIn",
    "monitoredUserMuted",
}
CURRENT_FIELDS = COMMON_FIELDS | {"path", "monitoring"}
LEGACY_FIELDS = COMMON_FIELDS | {"ani", "participantsInfo"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callstate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@cache
def run_lines(*args: str) -> tuple[str, ...]:
    done = cli("run", *args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return tuple(done.stdout.splitlines())


def parsed(*args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run_lines(*args)]


def calls_in(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        if "message" in line and "call" in line["message"]["data"]:  # not a device message
            found.append(line["message"]["data"]["call"])
        elif "response" in line:
            response = line["response"]
            found += response.get("calls", [])
            if "call" in response:
                found.append(response["call"])
    return found


def write_scenario(tmp_path: Path, scenario: Any) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(scenario if isinstance(scenario, str) else json.dumps(scenario))
    return str(path)


def check_call(call: dict[str, Any], fields: set[str]) -> None:
    assert fields <= set(call), fields - set(call)
    assert call["id"] == call["callUuid"]
    assert re.fullmatch(r"[0-9a-f]{16}", call["connId"])
    assert call["uri"] == f"{BASE}/me/calls/{call['id']}"
    assert call["deviceUri"].startswith(f"{BASE}/devices/")
    assert call["state"] in {"Dialing", "Ringing", "Established", "Held", "Released"}
    assert call["callType"] in {"Internal", "Inbound", "Outbound", "Consult"}
    assert call["mute"] in {"On", "Off"}
    assert re.fullmatch(r"[0-9]+", call["duration"])
    assert call["capabilities"] == sorted(set(call["capabilities"]))
    for flag in ("supervisorListeningIn", "monitoredUserMuted"):
        assert isinstance(call[flag], bool)
    assert call.get("recordingState") in {None, "Recording", "Paused", "Stopped"}
    assert call.get("userData", {"x": 1}) != {}
    if call["state"] == "Released":
        assert call["capabilities"] == []


def test_run_prints_json_lines_with_the_spec_fields() -> None:
    lines = parsed(INBOUND, "--seed", "1")
    kinds = [next(k for k in ("message", "response", "error") if k in line) for line in lines]
    assert set(kinds) == {"message", "response"}
    calls = calls_in(lines)
    assert len(calls) >= 5
    for call in calls:
        check_call(call, LEGACY_FIELDS)
        assert all(isinstance(p, str) for p in call["participants"])
        assert "path" not in call
    states = [line["message"]["data"]["call"]["state"] for line in lines if "message" in line]
    assert states == ["Ringing", "Established", "Held", "Established", "Released"]
    for line in lines:
        if "message" in line:
            data = line["message"]["data"]
            assert line["message"]["channel"] == "/v2/me/calls"
            assert data["messageType"] == "CallStateChangeMessage"
            assert data["phoneNumber"] == line["device"] == "15000"


def test_run_answers_gets_with_visibility() -> None:
    responses = [line for line in parsed(INBOUND, "--seed", "1") if "response" in line]
    own, foreign, admin_after_hangup = responses
    assert own["user"] == "15000"
    assert own["response"]["statusCode"] == 0
    assert own["response"]["call"]["callType"] == "Inbound"
    assert own["response"]["call"]["participants"] == ["+14155550100"]
    assert own["response"]["call"]["userData"] == {"AccountNumber": "12345678"}
    assert foreign["response"]["statusCode"] == 6
    assert set(foreign["response"]) == {"statusCode", "statusMessage"}
    assert admin_after_hangup["response"] == {"statusCode": 0, "calls": []}


def test_the_same_seed_prints_the_same_lines() -> None:
    first = cli("run", INBOUND, "--seed", "1")
    second = cli("run", INBOUND, "--seed", "1")
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert first.stdout.strip()


def test_another_seed_prints_other_ids() -> None:
    one, two = parsed(INBOUND, "--seed", "1"), parsed(INBOUND, "--seed", "2")
    assert len(one) == len(two)
    ids_one = {c["id"] for c in calls_in(one)}
    ids_two = {c["id"] for c in calls_in(two)}
    assert ids_one.isdisjoint(ids_two)


@pytest.mark.parametrize(
    "example",
    sorted(p.name for p in (ROOT / "examples").glob("*.json") if "steps" in p.read_text()),
)
def test_current_form_has_participant_objects_uri_and_path(example: str) -> None:
    lines = parsed(f"examples/{example}", "--seed", "1", "--format", "8.5.2")
    calls = calls_in(lines)
    assert calls
    for call in calls:
        check_call(call, CURRENT_FIELDS)
        assert call["path"] == f"/calls/{call['id']}"
        assert call["monitoring"] is (example == "supervision.json" and call["monitoring"])
        assert "participantsInfo" not in call
        for participant in call["participants"]:
            assert set(participant) == {
                "digits",
                "phoneNumber",
                "formattedPhoneNumber",
                "e164Number",
            }
        if "parentCallUri" in call:
            assert call["callType"] == "Consult"
            parent = call["parentCallUri"].removeprefix(f"{BASE}/me/calls/")
            assert call["parentCallPath"] == f"/calls/{parent}"
        else:
            assert "parentCallPath" not in call
    consults = [c for c in calls if "parentCallUri" in c]
    assert bool(consults) == ("consult" in example or "conference" in example)


def test_current_form_formats_an_outside_number() -> None:
    lines = parsed(INBOUND, "--seed", "1", "--format", "8.5.2")
    (participant,) = calls_in(lines)[0]["participants"]
    assert participant == {
        "digits": "+14155550100",
        "phoneNumber": "+14155550100",
        "formattedPhoneNumber": "+1 415-555-0100",
        "e164Number": "+14155550100",
    }


@pytest.mark.parametrize(
    "scenario",
    [
        "not json",
        "[1, 2]",
        {"devices": [{"dn": "15000"}]},
        {"devices": [{"dn": "15000", "colour": "red"}], "steps": []},
        {"devices": [{"dn": "15000", "features": ["video"]}], "steps": []},
        {"devices": [], "steps": [{"wait": -1}]},
        {"devices": [], "steps": [{"device": "15000"}]},
        {"devices": [], "steps": [{"external": "+14155550100", "event": "Ring"}]},
        {"devices": [], "steps": [{"external": "+14155550100", "event": "Call"}]},
        {
            "devices": [],
            "steps": [{"external": "+1415555", "event": "Call", "to": "1", "params": {"x": 1}}],
        },
        {
            "devices": [],
            "steps": [{"external": "+1", "event": "Hangup", "params": {"userData": {"a": "b"}}}],
        },
        {"devices": [], "steps": [{"get": "/me/phones", "user": "admin"}]},
        {"devices": [], "steps": [{"get": "/me/calls/a/b", "user": "admin"}]},
        {"devices": [], "steps": [{"get": "/me/calls", "user": "supervisor"}]},
    ],
    ids=repr,
)
def test_an_invalid_scenario_exits_2_with_a_message(tmp_path: Path, scenario: Any) -> None:
    path = write_scenario(tmp_path, scenario)
    done = cli("run", path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr
    assert all(line.startswith(f"callstate: {path}: ") for line in done.stderr.splitlines())
    assert "Traceback" not in done.stderr


def test_a_missing_scenario_file_exits_2(tmp_path: Path) -> None:
    done = cli("run", str(tmp_path / "absent.json"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "devices", [[{"dn": "15x"}], [{"dn": "15000"}, {"dn": "15000"}]], ids=["letters", "twice"]
)
def test_a_scenario_with_bad_devices_exits_2(tmp_path: Path, devices: list[Any]) -> None:
    done = cli("run", write_scenario(tmp_path, {"devices": devices, "steps": []}))
    assert "Traceback" not in done.stderr
    assert done.returncode == 2


def test_unknown_operation_steps_print_an_error_line_and_the_run_goes_on(tmp_path: Path) -> None:
    scenario = {
        "devices": [{"dn": "15000"}, {"dn": "15001"}],
        "steps": [
            {"device": "15000", "operation": "MakeCall"},
            {
                "device": "15000",
                "operation": "Dial",
                "params": {"destination": {"phoneNumber": "x"}},
            },
            {
                "device": "15000",
                "operation": "Dial",
                "params": {"destination": {"phoneNumber": "15001"}},
            },
            {"device": "15000", "operation": "Teleport", "call": "whatever"},
            {"device": "15000", "operation": "Retrieve"},
            {"get": "/me/calls", "user": "admin"},
        ],
    }
    path = write_scenario(tmp_path, scenario)
    done = cli("run", path, "--seed", "4")
    assert done.returncode == 1, done.stderr  # refused steps that did not expect it
    assert [line.split(": ")[1:3] for line in done.stderr.splitlines()] == [
        [path, "step 1 (15000 MakeCall)"],
        [path, "step 2 (15000 Dial)"],
        [path, "step 4 (15000 Teleport)"],
        [path, "step 5 (15000 Retrieve)"],
    ]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    errors = [line for line in lines if "error" in line]
    codes = [e["error"]["statusCode"] for e in errors]
    assert codes == [1, 2, 1, 2]
    assert all(e["device"] == "15000" for e in errors)
    assert "MakeCall" in errors[0]["error"]["statusMessage"]
    assert "Hangup" in errors[0]["error"]["statusMessage"]
    assert "Teleport" in errors[2]["error"]["statusMessage"]
    (get,) = [line for line in lines if "response" in line]
    assert [c["state"] for c in get["response"]["calls"]] == ["Dialing", "Ringing"]


# -- bad input: exit 2 with one line on stderr, never a traceback ---------------------------------
@pytest.mark.parametrize(
    ("step", "complaint"),
    [
        ('{"wait": 1e309}', "finite number"),
        ('{"wait": "1"}', "valid number"),
        ('{"wait": -1}', "greater than or equal to 0"),
        ('{"wait": 1e13}', "less than or equal to"),
    ],
)
def test_a_bad_wait_is_refused_in_one_line(tmp_path: Path, step: str, complaint: str) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(f'{{"devices": [{{"dn": "15000"}}], "steps": [{step}]}}')
    done = cli("run", str(scenario))
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"callstate: {scenario}: step 1, wait: ")
    assert complaint in done.stderr


def test_diagrams_into_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    done = cli("diagrams", "--out", str(taken))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"callstate: cannot write diagrams to {taken}: File exists"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_log_that_cannot_be_written_is_refused_in_one_line() -> None:
    done = cli("run", str(ROOT / "examples" / "inbound.json"), "--log", "/dev/full")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "callstate: cannot write /dev/full: No space left on device"
    ]


@pytest.mark.parametrize(
    "args",
    [("run", "examples/inbound.json", "--format", "9"), ("replay",), (), ("run", "x", "--nope")],
)
def test_a_bad_command_line_is_told_in_one_line(args: tuple[str, ...]) -> None:
    done = cli(*args)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("callstate: ")
    assert line.endswith("--help)")


def test_version_and_help_for_every_argument() -> None:
    from callstate import __version__

    done = cli("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"callstate {__version__}")
    top = cli("--help").stdout
    assert "``" not in top  # plain text, not reStructuredText
    for command in ("run", "replay", "serve", "diagrams"):
        assert command in top
        shown = cli(command, "--help")
        assert shown.returncode == 0
        options = shown.stdout.split("options:", 1)[1]
        entries = re.split(r"\n  (?=-)", options)  # one entry per option, its help included
        for entry in entries[1:]:
            if not entry.startswith("-h"):
                assert "(default:" in entry, entry
