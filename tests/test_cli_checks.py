"""``python -m callstate run``: readable refusals of bad scenario files, the exit status of a run
whose steps were refused (and the ``expect`` that says a refusal is wanted), and ``--pretty``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_cli import cli, write_scenario

ROOT = Path(__file__).resolve().parents[1]
#: the scenarios of examples/ (center.json beside them is a server config)
SCENARIOS = sorted(p for p in (ROOT / "examples").glob("*.json") if "steps" in p.read_text())
TWO = [{"dn": "15000"}, {"dn": "15001"}]
DIAL = {"device": "15000", "operation": "Dial", "params": {"destination": {"phoneNumber": "15001"}}}


def scenario_file(tmp_path: Path, scenario: Any) -> str:
    return write_scenario(tmp_path, scenario)


# -- a bad scenario file: one line per problem, the file, the step and the field; exit 2 ---------
@pytest.mark.parametrize(
    ("scenario", "problems"),
    [
        ('{"devices": [], "steps": [', ["Invalid JSON: EOF while parsing"]),
        (
            {"devices": TWO, "steps": [DIAL, {"device": "15001"}]},
            ["step 2, operation: Field required"],
        ),
        (
            {"devices": TWO, "steps": [{"dial": "15000"}, "Answer"]},
            [
                "step 1: a step is a JSON object with 'device' (an agent request), 'external' "
                "(the far end), 'get', 'wait', 'reset' or 'clear'",
                "step 2: a step is a JSON object with 'device' (an agent request), 'external' "
                "(the far end), 'get', 'wait', 'reset' or 'clear'",
            ],
        ),
        (
            {"devices": TWO, "steps": [{"external": "+1", "event": "Call"}, {"wait": "1"}]},
            [
                "step 1: a far-end Call needs 'to': the DN it calls",
                "step 2, wait: Input should be a valid number",
            ],
        ),
        (
            {"devices": TWO, "steps": [{**DIAL, "expect": {"statusCode": "2"}}, {**DIAL, "x": 1}]},
            [
                "step 1, expect.statusCode: Input should be a valid integer",
                "step 2, x: Extra inputs are not permitted",
            ],
        ),
        (
            {"devices": [{"dn": "15000", "features": ["video"]}], "steps": []},
            ["device 1, features[0]: Input should be 'mute' or 'recording'"],
        ),
        ({"devices": [{"dn": "1"}, {"dn": "1"}], "steps": []}, ["device DNs must be unique"]),
    ],
    ids=["json", "missing", "kind", "values", "expect", "device", "twice"],
)
def test_a_bad_scenario_is_told_one_line_per_problem(
    tmp_path: Path, scenario: Any, problems: list[str]
) -> None:
    path = scenario_file(tmp_path, scenario)
    done = cli("run", path)
    assert (done.returncode, done.stdout) == (2, "")
    lines = done.stderr.splitlines()
    assert len(lines) == len(problems), done.stderr
    for line, problem in zip(lines, problems, strict=True):
        assert line.startswith(f"callstate: {path}: {problem}"), line
    assert "pydantic" not in done.stderr
    assert "input_value" not in done.stderr


# -- refused steps and expectations --------------------------------------------------------------
def run_steps(tmp_path: Path, *steps: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return cli(
        "run", scenario_file(tmp_path, {"devices": TWO, "steps": list(steps)}), "--seed", "1"
    )


HOLD_TWICE = [
    DIAL,
    {"device": "15001", "operation": "Answer"},
    {"device": "15001", "operation": "Hold"},
]


def test_a_refused_step_makes_the_run_exit_1_after_printing_everything(tmp_path: Path) -> None:
    done = run_steps(tmp_path, *HOLD_TWICE, {"device": "15001", "operation": "Hold"}, DIAL)
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[-3]["error"]["statusCode"] == 2  # the run went on after the refusal
    assert "message" in lines[-1]
    (told,) = done.stderr.splitlines()
    assert told.startswith(f"callstate: {tmp_path / 'scenario.json'}: step 4 (15001 Hold): ")
    assert "refused with statusCode 2" in told


def test_a_refused_clear_makes_the_run_exit_1_and_a_clear_that_worked_does_not(
    tmp_path: Path,
) -> None:
    dial = {**DIAL, "as": "c1"}
    assert run_steps(tmp_path, dial, {"clear": "c1"}, {"reset": True}).returncode == 0
    done = run_steps(tmp_path, {"clear": "nope"})
    assert done.returncode == 1
    assert "step 1: refused with statusCode 6: ClearCall on call nope" in done.stderr


def test_a_refusal_the_step_expects_is_success(tmp_path: Path) -> None:
    hold = {"device": "15001", "operation": "Hold", "expect": {"statusCode": 2}}
    far = {"external": "+14155550100", "event": "Hangup", "expect": {"statusCode": 6}}
    done = run_steps(tmp_path, *HOLD_TWICE, hold, far)
    assert (done.returncode, done.stderr) == (0, "")
    errors = [json.loads(line)["error"] for line in done.stdout.splitlines() if '"error"' in line]
    assert [e["statusCode"] for e in errors] == [2, 6]  # still printed


@pytest.mark.parametrize(
    ("step", "told"),
    [
        (
            {"device": "15001", "operation": "Hold", "expect": {"statusCode": 6}},
            "step 4 (15001 Hold): expected statusCode 6: refused with statusCode 2: ",
        ),
        (
            {"device": "15001", "operation": "Retrieve", "expect": {"statusCode": 2}},
            "step 4 (15001 Retrieve): expected statusCode 2: succeeded",
        ),
        (
            {
                "external": "+14155550100",
                "event": "Call",
                "to": "15000",
                "expect": {"statusCode": 1},
            },
            "step 4 (+14155550100 Call): expected statusCode 1: succeeded",
        ),
    ],
    ids=["another-code", "succeeded", "far-end"],
)
def test_an_expectation_not_met_makes_the_run_exit_1(
    tmp_path: Path, step: dict[str, Any], told: str
) -> None:
    done = run_steps(tmp_path, *HOLD_TWICE, step)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"callstate: {tmp_path / 'scenario.json'}: {told}"), line


@pytest.mark.parametrize("example", SCENARIOS, ids=lambda p: p.stem)
def test_every_example_runs_clean(example: Path) -> None:
    done = cli("run", str(example), "--seed", "1")
    assert (done.returncode, done.stderr) == (0, "")


# -- --pretty ------------------------------------------------------------------------------------
def test_pretty_prints_a_row_per_line_with_its_step(tmp_path: Path) -> None:
    example = str(ROOT / "examples" / "supervision.json")
    plain = cli("run", example, "--seed", "1")
    pretty = cli("run", example, "--seed", "1", "--pretty")
    assert (pretty.returncode, pretty.stderr) == (0, "")
    header, *rows = pretty.stdout.splitlines()
    assert header.split() == ["STEP", "WHO", "WHAT", "STATE", "DETAIL"]
    lines = [json.loads(line) for line in plain.stdout.splitlines()]
    assert len(rows) == len(lines)
    steps = json.loads(Path(example).read_text())["steps"]
    assert rows[0].split()[:4] == ["1", "15001", "DeviceStateChange", "Ready"]
    refused = next(i for i, line in enumerate(lines) if "error" in line)
    assert rows[refused].split()[:4] == ["3", "15001", "refused", "5"]
    assert "(expected) ListenIn on device 15001" in rows[refused]
    assert steps[2]["expect"] == {"statusCode": 5}
    ringing = next(
        i
        for i, line in enumerate(lines)
        if "message" in line and line["device"] == "15009" and "call" in line["message"]["data"]
    )
    assert rows[ringing].split()[:4] == ["5", "15009", "StatusChange", "Ringing"]
    assert "Internal with +14155550100, 15001, muted" in rows[ringing]
    assert "ListenIn on 15001" in rows[1]  # the monitored device by its DN
    assert rows[-1].split()[:3] == ["15", "15009", "GET"]


def test_pretty_does_not_change_the_exit_status(tmp_path: Path) -> None:
    path = scenario_file(
        tmp_path, {"devices": TWO, "steps": [{"device": "15000", "operation": "Hold"}]}
    )
    done = cli("run", path, "--pretty")
    assert done.returncode == 1
    assert done.stdout.splitlines()[1].split()[:4] == ["1", "15000", "refused", "6"]
