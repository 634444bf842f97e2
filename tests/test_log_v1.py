"""Version 1 logs, written before version 2, still read, replay and restore as they did.

``tests/data/v1.log`` was written by the version 1 writer (``python -m callstate run
examples/consult_transfer.json --seed 1 --log tests/data/v1.log``). The same run now writes a
version 2 log; both must give the same header (but the version), entries, replay and switch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from callstate import Call, LogReader, ManualClock, Switch, User, replay, run
from callstate.cli import main

ROOT = Path(__file__).resolve().parents[1]
V1 = ROOT / "tests" / "data" / "v1.log"


@pytest.fixture
def v2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The version 2 log of the run that wrote ``v1.log``."""
    path = tmp_path / "v2.log"
    scenario = ROOT / "examples" / "consult_transfer.json"
    assert main(["run", str(scenario), "--seed", "1", "--log", str(path)]) == 0
    capsys.readouterr()
    return path


def state_of(switch: Switch) -> list[tuple[object, ...]]:
    """Every device and its live legs."""
    return [(d.dn, d.id, sorted(d.features), [leg_of(c) for c in d.calls]) for d in switch.devices]


def leg_of(call: Call) -> tuple[object, ...]:
    return (call.id, call.conn_id, call.state, call.capabilities, dict(call.user_data))


def test_the_fixture_is_a_version_1_log() -> None:
    lines = V1.read_text().splitlines()
    assert lines[0].startswith('{"callstate_log":1,')
    assert all(set(json.loads(line)) == {"at", "request", "events"} for line in lines[1:])


def test_a_version_1_log_reads_as_the_same_run_in_version_2(v2: Path) -> None:
    old, new = LogReader.read(V1), LogReader.read(v2)
    assert v2.read_text().startswith('{"callstate_log":3,')
    assert {**old.header, "callstate_log": 3} == new.header
    assert len(old.entries) == 10
    assert old.entries == new.entries  # line numbers, clock readings, requests and events
    assert old.events == new.events
    assert (old.cut_line, old.cut_bytes) == (new.cut_line, new.cut_bytes) == (None, 0)


def test_a_version_1_log_replays_and_restores_as_version_2(v2: Path) -> None:
    old, new = LogReader.read(V1), LogReader.read(v2)
    for form in ("8.5.0", "8.5.2"):
        for user in (User.admin(), User.agent("15000"), User.agent("15002")):
            assert replay(old, form).get_calls(user) == replay(new, form).get_calls(user)
    from_v1, _ = Switch.restore(V1)
    from_v2, _ = Switch.restore(v2)
    assert state_of(from_v1) == state_of(from_v2)
    assert state_of(from_v1)  # the run left devices (and the comparison was of something)


@pytest.mark.parametrize("keep", [1, 18, 19, 60])
def test_a_version_1_log_cut_inside_its_header_is_a_log_of_nothing(
    tmp_path: Path, keep: int
) -> None:
    cut = tmp_path / "cut.log"
    cut.write_bytes(V1.read_bytes()[:keep])
    reader = LogReader.read(cut)
    assert (reader.header, reader.entries, reader.cut_line, reader.cut_bytes) == ({}, [], 1, keep)


def test_a_version_1_log_cut_anywhere_reads_as_its_complete_lines(tmp_path: Path) -> None:
    data = V1.read_bytes()
    full = LogReader.read(V1)
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    cut = tmp_path / "cut.log"
    for offset in range(ends[0], len(data), 97):
        cut.write_bytes(data[:offset])
        reader = LogReader.read(cut)
        complete = [end for end in ends if end <= offset]
        assert reader.header == full.header
        assert reader.entries == full.entries[: len(complete) - 1]
        if offset == complete[-1]:
            assert (reader.cut_line, reader.cut_bytes) == (None, 0)
        else:
            assert (reader.cut_line, reader.cut_bytes) == (len(complete) + 1, offset - complete[-1])


def test_a_resumed_version_1_log_goes_on_in_version_2(tmp_path: Path, v2: Path) -> None:
    """Resuming appends version 2 lines after the version 1 ones; the file reads whole."""
    resumed = tmp_path / "resumed.log"
    shutil.copy(V1, resumed)
    continued = tmp_path / "continued.log"
    shutil.copy(v2, continued)
    clock = ManualClock()
    clock.now = 60.0
    switches = [
        Switch.restore(resumed, clock=clock, resume_log=True)[0],
        Switch.restore(continued, clock=clock, resume_log=True)[0],
    ]
    for switch in switches:
        switch.add_device("15009")
        switch.device("15009").dial("+14155550199")
        switch.close_log()
    lines = resumed.read_text().splitlines()
    assert lines[0].startswith('{"callstate_log":1,')
    assert [line[0] for line in lines[1:]] == ["{"] * 10 + ["["] * 2
    old, new = LogReader.read(resumed), LogReader.read(continued)
    assert old.entries == new.entries
    assert len(old.entries) == 12
    assert state_of(Switch.restore(resumed)[0]) == state_of(Switch.restore(continued)[0])


V2 = Path(__file__).resolve().parent / "data" / "consult_transfer.v2.log"


def test_a_version_2_log_reads_replays_and_restores_as_this_version(tmp_path: Path) -> None:
    """A log written before devices and supervision (15-field snapshots): read, replayed and
    restored as the same run written now."""
    old = LogReader.read(V2)
    assert V2.read_text().startswith('{"callstate_log":2,')
    now = tmp_path / "now.log"
    scenario = json.loads((V2.parents[2] / "examples" / "consult_transfer.json").read_text())
    list(run(scenario, seed=4, log=now))
    new = LogReader.read(now)
    assert [e.line for e in old.entries] == [e.line for e in new.entries]
    assert old.events == new.events  # the three supervision flags read false
    for form in ("8.5.0", "8.5.2"):
        assert replay(old, form).get_calls(User.admin()) == replay(new, form).get_calls(
            User.admin()
        )
    restored, _ = Switch.restore(V2)
    assert state_of(restored) == state_of(Switch.restore(now)[0])
