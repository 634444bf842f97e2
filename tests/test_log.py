"""The event codec, the log file and the ``replay`` command.

``encode``/``decode`` must be lossless for every event (generated and taken from real runs);
a log is written line by line while the switch runs and read back exactly; ``python -m callstate
replay`` prints what a final ``GET /me/calls`` of the run would have printed.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sealing import seal, unsealed

import callstate.events as events_module
import callstate.log.writer as log_module
import callstate.scenario as scenario_module
from callstate import (
    CallEvent,
    CallNotFoundError,
    CallSnapshot,
    CallType,
    CapabilitiesChanged,
    DtmfSent,
    LogWriteError,
    ManualClock,
    MonitoredUserMutedChanged,
    Mute,
    MuteChanged,
    Operation,
    ParticipantsChanged,
    Projection,
    RecordingChanged,
    RecordingState,
    State,
    StateChanged,
    SupervisionChanged,
    Switch,
    User,
    UserDataChanged,
    decode,
    encode,
    replay,
)
from callstate.cli import main
from callstate.log import LogError, LogReader, LogWriter, event_from_json, event_to_json

ROOT = Path(__file__).resolve().parents[1]
#: the scenarios of examples/ (center.json beside them is a server config)
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.json") if "steps" in p.read_text())
BASE = "http://127.0.0.1:8080/api/v2"
IDS = {"call_prefix": "X" * 26, "conn_prefix": "0" * 10}
HEADER_LINE = (seal({"callstate_log": 2, "base_uri": "x", "seed": 1, "ids": IDS}) + "\n").encode()
ADMIN = User.admin()

# -- strategies -----------------------------------------------------------------------------------
TEXT = st.text(max_size=12)
SNAPSHOTS = st.builds(
    CallSnapshot,
    id=TEXT,
    conn_id=TEXT,
    device=TEXT,
    device_id=TEXT,
    state=st.sampled_from(State),
    call_type=st.sampled_from(CallType),
    participants=st.lists(TEXT, max_size=4).map(tuple),
    dnis=TEXT,
    ani=TEXT,
    capabilities=st.lists(st.sampled_from(Operation), unique=True, max_size=8).map(tuple),
    user_data=st.lists(
        st.tuples(TEXT, st.one_of(TEXT, st.integers())), unique_by=lambda pair: pair[0], max_size=5
    ).map(tuple),
    mute=st.sampled_from(Mute),
    recording=st.none() | st.sampled_from(RecordingState),
    parent_id=st.none() | TEXT,
    duration=st.integers(min_value=0),
    monitoring=st.booleans(),
    supervisor_listening_in=st.booleans(),
    monitored_user_muted=st.booleans(),
)
PLAIN_KINDS = (
    CapabilitiesChanged,
    MuteChanged,
    ParticipantsChanged,
    UserDataChanged,
    SupervisionChanged,
    MonitoredUserMutedChanged,
)
EVENTS_BY_KIND: dict[type[CallEvent], st.SearchStrategy[CallEvent]] = {
    StateChanged: st.builds(StateChanged, SNAPSHOTS, st.none() | st.sampled_from(State)),
    DtmfSent: st.builds(DtmfSent, SNAPSHOTS, st.text(alphabet="0123456789*#", min_size=1)),
    RecordingChanged: st.builds(RecordingChanged, SNAPSHOTS),
    **{kind: st.builds(kind, SNAPSHOTS) for kind in PLAIN_KINDS},
}
EVENTS = st.one_of(*EVENTS_BY_KIND.values())


def test_the_strategies_cover_every_event_class() -> None:
    kinds = {
        kind
        for kind in vars(events_module).values()
        if isinstance(kind, type) and issubclass(kind, CallEvent) and kind is not CallEvent
    }
    assert set(EVENTS_BY_KIND) == kinds


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_decode_inverts_encode(event: CallEvent) -> None:
    line = encode(event)
    assert "\n" not in line
    assert isinstance(json.loads(line), dict)
    back = decode(line)
    assert back == event
    assert type(back) is type(event)
    assert event_from_json(json.loads(json.dumps(event_to_json(event)))) == event
    assert encode(back) == line


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_every_kind_round_trips(data: st.DataObject) -> None:
    for kind, strategy in EVENTS_BY_KIND.items():
        event = data.draw(strategy)
        assert type(decode(encode(event))) is kind
        assert decode(encode(event)) == event


# -- real runs ------------------------------------------------------------------------------------
def run_recorded(
    scenario: dict[str, Any], log: Path | None = None, seed: int | None = 7, form: str = "8.5.0"
) -> tuple[list[CallEvent], list[dict[str, Any]]]:
    """Run a scenario, returning every event its switch emitted and the output lines."""
    recorded: list[CallEvent] = []

    class RecordingSwitch(Switch):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.subscribe(recorded.append)

    with mock.patch.object(scenario_module, "Switch", RecordingSwitch):
        lines = list(scenario_module.run(scenario, seed=seed, log=log, form=form))  # type: ignore[arg-type]
    return recorded, lines


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_events_of_real_runs_round_trip(example: Path, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    events, _ = run_recorded(load(example), log)
    assert len(events) >= 4
    assert {type(e) for e in events} >= {StateChanged}
    for event in events:
        assert decode(encode(event)) == event
    reader = LogReader.read(log)
    assert reader.events == events
    assert reader.cut_line is None


def test_events_of_every_kind_from_a_real_switch_round_trip() -> None:
    switch = Switch(seed=3)
    events: list[CallEvent] = []
    switch.subscribe(events.append)
    agent = switch.add_device("15000", features=["mute", "recording"])
    switch.add_device("15001")
    call = switch.external_call("+14155550100", to="15000", user_data={"n": 1, "s": "x"})
    call.perform("Answer")
    call.perform("MuteCall")
    call.perform("StartCallRecording")
    call.perform("SendDtmf", digits="12#")
    call.perform("UpdateUserData", userData={"n": 2})
    call.perform("SingleStepConference", destination={"phoneNumber": "15001"})
    call.perform("InitiateTransfer", destination={"phoneNumber": "+442071234567"})
    assert call.consult is not None
    switch.external_answer(call.consult)
    agent.perform(call.consult.id, "Hangup")
    call.perform("Retrieve")
    boss = switch.add_device("15009", role="supervisor")
    boss.operate("ListenIn", targetDeviceUri=agent.id)
    (monitor,) = boss.calls
    monitor.perform("Answer")  # the agent's leg: SupervisionChanged
    monitor.perform("SwitchToBargeIn")
    monitor.perform("MuteMonitoredUser")
    call.perform("Hangup")
    assert {type(e) for e in events if isinstance(e, CallEvent)} == set(EVENTS_BY_KIND)
    for event in events:
        assert decode(encode(event)) == event


# -- malformed events -----------------------------------------------------------------------------
def a_real_event_json() -> dict[str, Any]:
    switch = Switch(seed=1)
    events: list[CallEvent] = []
    switch.subscribe(events.append)
    switch.add_device("15000", features=["recording"])
    switch.external_call("+14155550100", to="15000", user_data={"a": "b"})
    return event_to_json(events[0])


def mutated(path: tuple[str, ...], value: Any) -> str:
    data = a_real_event_json()
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(data)


MALFORMED = [
    "",
    "not json",
    "{",
    "null",
    "42",
    '"StateChanged"',
    "[]",
    "{}",
    '{"type": "StateChanged"}',
    '{"type": "NoSuchEvent", "call": {}}',
    mutated(("type",), "NoSuchEvent"),
    mutated(("type",), KeyError),
    mutated(("call",), KeyError),
    mutated(("call",), []),
    mutated(("call",), "call"),
    mutated(("previous",), KeyError),
    mutated(("previous",), "Gone"),
    mutated(("call", "id"), 5),
    mutated(("call", "id"), None),
    mutated(("call", "conn_id"), KeyError),
    mutated(("call", "state"), "Ringingg"),
    mutated(("call", "state"), None),
    mutated(("call", "call_type"), "Sideways"),
    mutated(("call", "participants"), [1]),
    mutated(("call", "participants"), None),
    mutated(("call", "capabilities"), ["Fly"]),
    mutated(("call", "capabilities"), 3),
    mutated(("call", "user_data"), [["a", "b"]]),
    mutated(("call", "user_data"), {"a": True}),
    mutated(("call", "user_data"), {"a": 1.5}),
    mutated(("call", "user_data"), {"a": None}),
    mutated(("call", "user_data"), {"a": ["b"]}),
    mutated(("call", "mute"), "Loud"),
    mutated(("call", "recording"), "Rolling"),
    mutated(("call", "parent_id"), 7),
    mutated(("call", "duration"), "5"),
    mutated(("call", "duration"), 1.5),
    mutated(("call", "duration"), True),
    mutated(("call", "duration"), None),
    mutated(("call", "dnis"), KeyError),
]


def test_the_base_event_decodes() -> None:
    event = decode(json.dumps(a_real_event_json()))
    assert isinstance(event, StateChanged)
    assert event.call.user_data == (("a", "b"),)


@pytest.mark.parametrize("line", MALFORMED)
def test_malformed_events_raise_value_error(line: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        decode(line)


def test_a_dtmf_event_without_digits_is_refused() -> None:
    data = a_real_event_json()
    data["type"] = "DtmfSent"
    del data["previous"]
    with pytest.raises(ValueError):  # noqa: PT011
        decode(json.dumps(data))
    data["digits"] = 5
    with pytest.raises(ValueError):  # noqa: PT011
        decode(json.dumps(data))
    data["digits"] = "5"
    assert isinstance(decode(json.dumps(data)), DtmfSent)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("call", "participants"), "15001"),
        (("call", "participants"), {"15001": 1}),
        (("call", "capabilities"), {}),
        (("call", "capabilities"), ""),
    ],
)
def test_strings_and_objects_are_not_lists(path: tuple[str, ...], value: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        decode(mutated(path, value))


# -- log files ------------------------------------------------------------------------------------
def logged_switch(path: Path) -> tuple[Switch, ManualClock, list[CallEvent]]:
    clock = ManualClock()
    clock.now = 1700000000.25
    switch = Switch(seed=11, clock=clock, log=path)
    events: list[CallEvent] = []
    switch.subscribe(events.append)
    return switch, clock, events


def drive(switch: Switch, clock: ManualClock) -> Iterator[None]:
    """A small call flow; yields after every request (so the log can be looked at)."""
    agent = switch.add_device("15000", features=["mute", "recording"])
    yield
    switch.add_device("15001")
    yield
    call = switch.external_call("+14155550100", to="15000", user_data={"Account": 42})
    yield
    clock.now += 3.5
    call.perform("Answer")
    yield
    call.perform("InitiateTransfer", destination={"phoneNumber": "15001"})
    yield
    (ringing,) = switch.device("15001").calls
    clock.now += 1
    ringing.perform("Answer")
    yield
    assert call.consult is not None
    agent.perform(call.consult.id, "CompleteTransfer")
    yield
    ringing.perform("SendDtmf", digits="42#")
    yield


def live_text(path: Path) -> str:
    """A live log's text: its lines, then zero bytes the writer reserved for the next ones."""
    text = path.read_text()
    assert "\0" not in text.rstrip("\0")
    return text.rstrip("\0")


def lines_of(path: Path) -> list[str]:
    return live_text(path).splitlines()


def test_the_log_is_written_while_the_switch_runs(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch, clock, events = logged_switch(path)
    assert len(lines_of(path)) == 1  # the header, before any request
    seen = 0
    for count, _ in enumerate(drive(switch, clock), start=2):
        text = live_text(path)
        assert text.endswith("\n")
        lines = text.splitlines()
        assert len(lines) == count  # written: in the file before the next request
        at, request, records = unsealed(lines[-1])
        assert at == clock.now
        assert request["op"] in {"add_device", "external_call", "perform"}
        assert len(records) == len(events) - seen
        assert LogReader.read(path).entries[-1].events == tuple(events[seen:])
        seen = len(events)
    # a refused request writes nothing
    before = path.read_text()
    with pytest.raises(CallNotFoundError):
        switch.device("15000").perform("nope", "Hangup")
    assert path.read_text() == before
    switch.close_log()
    assert path.read_text() == before.rstrip("\0")  # closing cuts the reserved space off


def test_every_line_is_json_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch, clock, events = logged_switch(path)
    clock_readings = []
    for _ in drive(switch, clock):
        clock_readings.append(clock.now)
    switch.close_log()
    raw = [unsealed(line) for line in lines_of(path)]
    header, *rows = raw
    assert lines_of(path)[0].startswith('{"callstate_log":3,')
    assert header == {"callstate_log": 3, "base_uri": BASE, "seed": 11, "ids": header["ids"]}
    assert set(header["ids"]) >= {"call_prefix", "conn_prefix"}
    for row in rows:
        assert len(row) == 3
    reader = LogReader.read(path)
    assert reader.header == header
    assert reader.cut_line is None
    assert reader.cut_bytes == 0
    assert [e.line for e in reader.entries] == list(range(2, len(raw) + 1))
    assert [e.at for e in reader.entries] == clock_readings
    assert [dict(e.request) for e in reader.entries] == [row[1] for row in rows]
    ops = [e.request["op"] for e in reader.entries]
    assert ops == ["add_device", "add_device", "external_call", *["perform"] * 5]
    assert reader.entries[0].events == ()
    assert reader.events == events
    # reading from an open file gives the same
    with path.open() as file:
        assert LogReader.read(file).events == events
    # the replayed projection equals a live one
    live = Projection(BASE, "8.5.0")
    for event in events:
        live.apply(event)
    for form in ("8.5.0", "8.5.2"):
        assert replay(reader, form).get_calls(ADMIN) == live.get_calls(ADMIN, form)


@pytest.mark.parametrize(
    "bad",
    [
        "{not json",
        "",
        "[1, 2]",
        "null",
        '{"at": 1}',
        '{"at": "noon", "request": {"op": "add_device"}, "events": []}',
        '{"at": 1, "request": "add_device", "events": []}',
        '{"at": 1, "request": {"op": "add_device"}, "events": [{"type": "Nope"}]}',
        '{"at": 1, "request": {"op": "add_device"}, "events": 5}',
        '{"callstate_log": 1, "base_uri": "x", "seed": null, "ids": {}}',
        '{"callstate_log": 2, "base_uri": "x", "seed": null, "ids": {}}',
        # a version 1 line is no version 2 line
        '{"at": 1, "request": {"op": "add_device"}, "events": []}',
        "[]",
        '[1, {"op": "add_device"}]',
        '[1, {"op": "add_device"}, [], 4]',
        '["noon", {"op": "add_device"}, []]',
        "[null, {}, []]",
        '[1, "add_device", []]',
        '[1, {"op": "add_device"}, 5]',
        '[1, {"op": "add_device"}, {}]',
        '[1, {"op": "add_device"}, [["Nope", []]]]',
        '[1, {"op": "add_device"}, [{"type": "StateChanged"}]]',
    ],
)
@pytest.mark.parametrize("where", [2, 5, -1])
def test_a_malformed_line_names_its_number(tmp_path: Path, bad: str, where: int) -> None:
    path = tmp_path / "switch.log"
    switch, clock, _ = logged_switch(path)
    for _ in drive(switch, clock):
        pass
    switch.close_log()
    lines = lines_of(path)
    index = where if where >= 0 else len(lines) - 1  # -1: the last complete line
    lines[index] = bad
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LogError) as raised:
        LogReader.read(path)
    assert raised.value.line == index + 1
    assert f"line {index + 1}" in str(raised.value)


def record_line(record: Any) -> str:
    """A request line (of a log with seed 1) whose only event is ``record``."""
    return seal([1.5, {"op": "external_call"}, [record]])


def a_real_record() -> list[Any]:
    """The event record of a log's third line: a new leg's StateChanged with user data."""
    return copy.deepcopy(_real_record())


@functools.cache
def _real_record() -> list[Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "switch.log"
        switch = Switch(seed=1, log=path)
        switch.add_device("15000", features=["recording"])
        switch.external_call("+14155550100", to="15000", user_data={"a": "b", "n": 3})
        switch.close_log()
        record: list[Any] = json.loads(lines_of(path)[2])[2][0]
    return record


def record_mutated(index: int | None, value: Any, field: int | None = None) -> Any:
    """A real record with item ``index`` (or field ``field`` of its snapshot) set to ``value``."""
    record = a_real_record()
    if field is not None:
        record[1][field] = value
    elif value is KeyError:
        del record[index]
    else:
        record[index] = value
    return record


FIELD = {name: n for n, name in enumerate(CallSnapshot._fields)}
MALFORMED_RECORDS = {
    "object": {"type": "StateChanged"},
    "string": "StateChanged",
    "number": 5,
    "empty": [],
    "type only": ["StateChanged"],
    "unknown type": record_mutated(0, "NoSuchEvent"),
    "unhashable type": record_mutated(0, ["StateChanged"]),
    "no previous": record_mutated(2, KeyError),
    "bad previous": record_mutated(2, "Gone"),
    "one extra too many": [*a_real_record(), None],
    "extra on a plain kind": ["MuteChanged", *a_real_record()[1:]],
    "dtmf without digits": ["DtmfSent", a_real_record()[1]],
    "dtmf digits not a string": ["DtmfSent", a_real_record()[1], 5],
    "fields an object": record_mutated(1, {"id": "x"}),
    "fields a string": record_mutated(1, "x" * 15),
    "14 fields": record_mutated(1, a_real_record()[1][:-1]),
    "16 fields": record_mutated(1, [*a_real_record()[1], 0]),
    "id a number": record_mutated(None, 5, FIELD["id"]),
    "conn_id null": record_mutated(None, None, FIELD["conn_id"]),
    "bad state": record_mutated(None, "Ringingg", FIELD["state"]),
    "bad call type": record_mutated(None, "Sideways", FIELD["call_type"]),
    "participant a number": record_mutated(None, [1], FIELD["participants"]),
    "participants a string": record_mutated(None, "15001", FIELD["participants"]),
    "bad capability": record_mutated(None, ["Fly"], FIELD["capabilities"]),
    "capabilities a string": record_mutated(None, "", FIELD["capabilities"]),
    "user data an object": record_mutated(None, {"a": "b"}, FIELD["user_data"]),
    "user data pair short": record_mutated(None, [["a"]], FIELD["user_data"]),
    "user data pair long": record_mutated(None, [["a", "b", "c"]], FIELD["user_data"]),
    "user data pair a string": record_mutated(None, ["ab"], FIELD["user_data"]),
    "user data key a number": record_mutated(None, [[1, "b"]], FIELD["user_data"]),
    "user data value a bool": record_mutated(None, [["a", True]], FIELD["user_data"]),
    "user data value a float": record_mutated(None, [["a", 1.5]], FIELD["user_data"]),
    "user data value null": record_mutated(None, [["a", None]], FIELD["user_data"]),
    "user data value a list": record_mutated(None, [["a", ["b"]]], FIELD["user_data"]),
    "bad mute": record_mutated(None, "Loud", FIELD["mute"]),
    "bad recording": record_mutated(None, "Rolling", FIELD["recording"]),
    "parent id a number": record_mutated(None, 7, FIELD["parent_id"]),
    "duration a string": record_mutated(None, "5", FIELD["duration"]),
    "duration a float": record_mutated(None, 1.5, FIELD["duration"]),
    "duration a bool": record_mutated(None, True, FIELD["duration"]),
    "duration null": record_mutated(None, None, FIELD["duration"]),
}


def test_the_real_record_reads_and_its_mutations_are_all_different(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    header = seal({"callstate_log": 2, "base_uri": "x", "seed": 1, "ids": IDS}) + "\n"
    path.write_text(header + record_line(a_real_record()) + "\n")
    (event,) = LogReader.read(path).events
    assert isinstance(event, StateChanged)
    assert event.previous is None
    assert event.call.user_data == (("a", "b"), ("n", 3))
    assert event.call.recording is not None
    assert len({json.dumps(r) for r in MALFORMED_RECORDS.values()}) == len(MALFORMED_RECORDS)


@pytest.mark.parametrize("record", MALFORMED_RECORDS.values(), ids=MALFORMED_RECORDS.keys())
def test_a_malformed_event_record_names_its_line(tmp_path: Path, record: Any) -> None:
    path = tmp_path / "switch.log"
    header = seal({"callstate_log": 2, "base_uri": "x", "seed": 1, "ids": IDS}) + "\n"
    good = record_line(a_real_record()) + "\n"
    path.write_text(header + good + record_line(record) + "\n" + good)
    with pytest.raises(LogError) as raised:
        LogReader.read(path)
    assert raised.value.line == 3
    assert "not a request line" in str(raised.value)


@settings(max_examples=200, deadline=None)
@given(st.lists(EVENTS, max_size=4), st.floats(0, 4e9))
def test_the_log_keeps_every_event_exactly(events: list[CallEvent], at: float) -> None:
    """Any events (any text, integers beyond 64 bits) read back equal from a log line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "switch.log"
        writer = LogWriter(open(path, "wb", buffering=0))  # noqa: SIM115
        writer.header(BASE, None, IDS)
        writer.request(at, MappingProxyType({"op": "x", "params": MappingProxyType({})}), events)
        writer.close()
        (entry,) = LogReader.read(path).entries
    assert entry.events == tuple(events)
    assert [type(e) for e in entry.events] == [type(e) for e in events]
    assert (entry.at, entry.request) == (at, {"op": "x", "params": {}})


def test_values_orjson_refuses_are_logged_and_restored(tmp_path: Path) -> None:
    """The switch takes them, so the log must too: such lines are written by ``json``."""
    path = tmp_path / "switch.log"
    switch = Switch(seed=4, log=path)
    switch.add_device("15000")
    odd = {"top": 2**63 - 1, "bottom": -(2**63), "surrogate": "\ud800", "fine": "é"}
    call = switch.external_call("+14155550100", to="15000", user_data=odd)
    call.perform("Answer")
    call.perform("UpdateUserData", userData=MappingProxyType({"more": "\udfff"}))
    switch.close_log()
    reader = LogReader.read(path)
    assert dict(reader.events[-1].call.user_data) == {**odd, "more": "\udfff"}
    assert reader.entries[-1].request["params"] == {"userData": {"more": "\udfff"}}
    restored, _ = Switch.restore(path)
    assert restored.call(call.id).user_data == call.user_data


def test_a_short_write_is_completed(tmp_path: Path) -> None:
    """``os.write`` may write part of a line; the writer writes the rest before returning."""
    path = tmp_path / "switch.log"
    real_write = os.write

    def short_write(fd: int, data: bytes) -> int:
        return real_write(fd, data[:7])

    with mock.patch.object(log_module.os, "write", short_write):
        switch, clock, events = logged_switch(path)
        for _ in drive(switch, clock):
            pass
        switch.close_log()
    reader = LogReader.read(path)
    assert reader.events == events
    assert reader.cut_line is None


def test_a_binary_unbuffered_file_is_written_alike(tmp_path: Path) -> None:
    text_path, binary_path = tmp_path / "text.log", tmp_path / "binary.log"
    text_file = open(text_path, "w")  # noqa: SIM115 (the writer closes it)
    for file in (text_file, open(binary_path, "wb", buffering=0)):  # noqa: SIM115
        writer = LogWriter(file)
        writer.header(BASE, 3, {"call_prefix": "X"})
        writer.request(2.5, {"op": "add_device", "dn": "15000"}, [])
        writer.close()
    assert text_path.read_bytes() == binary_path.read_bytes()
    assert text_path.read_bytes().count(b"\n") == 2


def test_a_cut_last_line_is_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch, clock, _ = logged_switch(path)
    for _ in drive(switch, clock):
        pass
    switch.close_log()
    full = LogReader.read(path)
    text = path.read_text()
    last_start = text.rindex("\n", 0, len(text) - 1) + 1
    for keep in (1, 10, len(text) - last_start - 1):
        cut = tmp_path / f"cut{keep}.log"
        cut.write_text(text[: last_start + keep])
        reader = LogReader.read(cut)
        assert reader.cut_line == len(full.entries) + 1
        assert reader.cut_bytes == keep
        assert reader.entries == full.entries[:-1]
    # garbage on a cut last line is not an error either: it is what a crash leaves
    cut = tmp_path / "garbage.log"
    cut.write_text(text[:last_start] + "{garb")
    assert LogReader.read(cut).cut_line == len(full.entries) + 1


def test_a_cut_inside_a_multibyte_character_is_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=2, log=path)
    switch.add_device("15000")
    switch.external_call("+14155550100", to="15000", user_data={"name": "Zoë €"})
    switch.close_log()
    data = path.read_bytes()
    inside = data.rindex("€".encode()) + 1
    path.write_bytes(data[:inside])
    reader = LogReader.read(path)
    assert (reader.cut_line, len(reader.entries)) == (3, 1)
    assert reader.cut_bytes == inside - (data.rindex(b"\n", 0, inside) + 1)
    with path.open("rb") as file:  # an open binary file reads alike
        assert LogReader.read(file) == reader


def test_a_complete_line_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=2, log=path)
    switch.add_device("15000")
    switch.add_device("15001")
    switch.close_log()
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1].replace(b"15000", b"1500\xff") + lines[2])
    with pytest.raises(LogError) as raised:
        LogReader.read(path)
    assert (raised.value.line, raised.value.reason) == (2, "not UTF-8 text")


def test_an_open_text_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    path.write_bytes(HEADER_LINE + b'[1,{"op":"\xff"},[]]\n')
    with path.open(encoding="utf-8") as file, pytest.raises(LogError) as raised:
        LogReader.read(file)
    assert (raised.value.line, raised.value.reason) == (2, "not UTF-8 text")


@pytest.mark.parametrize(
    "content",
    [
        "",
        "\n",
        '{"callstate_log": 1, "base_uri": "x", "seed": nul',  # not as the writer writes it
        '{"callstate_log": 2, "base_uri": "x", "seed": nul',
        '{"callstate_log":4,"base_uri":"x","se',  # another format
        '{"callstate_log":0,',
        '{"callstate-log',
        '{"callstate_log": 3, "base_uri": "x", "seed": null, "ids": {}}\n',
        '{"callstate_log": true, "base_uri": "x", "seed": null, "ids": {}}\n',
        '{"callstate_log": "2", "base_uri": "x", "seed": null, "ids": {}}\n',
        '[2, "callstate_log"]\n',
        '{"at": 0.0, "request": {"op": "add_device"}, "events": []}\n',
        "[1]\n",
        "hello world\n",
    ],
    ids=repr,
)
def test_empty_and_foreign_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "not.log"
    path.write_text(content)
    with pytest.raises(LogError) as raised:
        LogReader.read(path)
    assert raised.value.line == 1


@pytest.mark.parametrize("name", ["README.md", "pyproject.toml", "examples/inbound.json"])
def test_project_files_are_not_logs(name: str) -> None:
    with pytest.raises(LogError) as raised:
        LogReader.read(ROOT / name)
    assert raised.value.line == 1


def test_a_binary_file_is_refused_with_log_error(tmp_path: Path) -> None:
    path = tmp_path / "binary.log"
    path.write_bytes(b"\xff\xfe\x00\x01garbage\n")
    with pytest.raises(LogError):
        LogReader.read(path)


# -- the command line ---------------------------------------------------------------------------
def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        status = main([str(a) for a in args])
    except SystemExit as exit_:  # argparse
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def variants(example: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every prefix of an example's steps, so that some calls are still live at the end."""
    scenario = load(example)
    steps = [s for s in scenario["steps"] if "get" not in s]
    for k in range(1, len(steps) + 1):
        yield k, {"devices": scenario["devices"], "steps": steps[:k]}


@pytest.mark.parametrize("form", ["8.5.0", "8.5.2"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_replay_prints_what_a_final_get_would(
    example: Path, form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live_seen = 0
    for k, scenario in variants(example):
        dns = [d["dn"] for d in scenario["devices"]]
        users = ["admin", *dns]
        gets = [{"get": "/me/calls", "user": u} for u in users]
        path = write_json(tmp_path / f"s{k}.json", {**scenario, "steps": scenario["steps"] + gets})
        log = tmp_path / f"s{k}.log"
        status, out, err = run_cli(
            capsys, "run", path, "--seed", "5", "--log", log, "--format", form
        )
        assert (status, err) == (0, "")
        lines = [json.loads(line) for line in out.splitlines()]
        responses = {line["user"]: line["response"] for line in lines[-len(users) :]}
        # the projection of the run itself agrees with its last GET
        events, _ = run_recorded(scenario, seed=5, form=form)
        live = Projection(BASE, form)  # type: ignore[arg-type]
        for event in events:
            live.apply(event)
        assert responses["admin"] == live.get_calls(ADMIN)
        live_seen += bool(responses["admin"]["calls"])
        for user in users:
            status, out, err = run_cli(capsys, "replay", log, "--user", user, "--format", form)
            assert (status, err) == (0, ""), err
            assert json.loads(out) == responses[user], (k, user)
            if user != "admin":
                mine = json.loads(out)["calls"]
                assert all(c in responses["admin"]["calls"] for c in mine)
                wanted = [c.id for c in live.snapshots if c.device == user]
                assert [c["id"] for c in mine] == wanted
    assert live_seen  # some prefix left calls up, so the comparison was not only of []


def test_replay_defaults_to_admin_and_the_legacy_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "run.log"
    scenario = {"devices": [{"dn": "15000"}, {"dn": "15001"}], "steps": []}
    scenario["steps"] = [
        {
            "device": "15000",
            "operation": "Dial",
            "params": {"destination": {"phoneNumber": "15001"}},
        }
    ]
    run_recorded(scenario, log=log, seed=2)
    status, out, _ = run_cli(capsys, "replay", log)
    assert status == 0
    calls = json.loads(out)["calls"]
    assert len(calls) == 2
    assert all("participantsInfo" in c for c in calls)
    status, out, _ = run_cli(capsys, "replay", log, "--user", "15001")
    assert [c["state"] for c in json.loads(out)["calls"]] == ["Ringing"]
    status, out, _ = run_cli(capsys, "replay", log, "--user", "19999")
    assert json.loads(out) == {"statusCode": 0, "calls": []}


def consult_log(tmp_path: Path) -> Path:
    """A log of the consult example stopped before its last steps (calls still up)."""
    scenario = load(ROOT / "examples" / "consult_transfer.json")
    scenario["steps"] = scenario["steps"][:5]
    log = tmp_path / "consult.log"
    run_recorded(scenario, log=log, seed=9)
    return log


@pytest.mark.parametrize("keep", [1, 17, -1])
def test_replay_of_a_cut_log_reports_the_cut_and_replays_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep: int
) -> None:
    log = consult_log(tmp_path)
    data = log.read_bytes()
    last_start = data.rindex(b"\n", 0, len(data) - 1) + 1
    whole = data[:last_start]
    line_count = whole.count(b"\n")
    cut_at = last_start + keep if keep > 0 else len(data) - 1  # -1: only the newline is lost
    cut = tmp_path / "cut.log"
    cut.write_bytes(data[:cut_at])
    complete = tmp_path / "complete.log"
    complete.write_bytes(whole)
    for user in ("admin", "15000"):
        status, out, err = run_cli(capsys, "replay", cut, "--user", user)
        assert status == 0
        assert f"line {line_count + 1}" in err
        assert str(cut) in err
        assert "cut" in err
        assert f"replayed the {line_count - 1} complete requests" in err  # the header is no request
        status2, expected, err2 = run_cli(capsys, "replay", complete, "--user", user)
        assert (status2, err2) == (0, "")
        assert out == expected
        assert json.loads(out)["calls"]


@pytest.mark.parametrize("keep", [1, 18, 40])
def test_replay_of_a_log_cut_inside_its_header_is_an_empty_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep: int
) -> None:
    cut = tmp_path / "cut.log"
    cut.write_bytes(consult_log(tmp_path).read_bytes()[:keep])
    status, out, err = run_cli(capsys, "replay", cut)
    assert status == 0
    assert json.loads(out) == {"statusCode": 0, "calls": []}
    assert f"line 1 is cut off ({keep} bytes); replayed the 0 complete requests" in err


def cli_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callstate", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_and_replay_as_processes(tmp_path: Path) -> None:
    scenario = load(ROOT / "examples" / "conference.json")
    steps = [s for s in scenario["steps"] if "get" not in s][:6]
    final = {"get": "/me/calls", "user": "admin"}
    path = write_json(tmp_path / "s.json", {**scenario, "steps": [*steps, final]})
    log = tmp_path / "run.log"
    done = cli_process("run", path, "--log", log)  # no seed: the ids are random
    assert (done.returncode, done.stderr) == (0, "")
    expected = json.loads(done.stdout.splitlines()[-1])["response"]
    assert expected["calls"]
    replayed = cli_process("replay", log)
    assert (replayed.returncode, replayed.stderr) == (0, "")
    assert json.loads(replayed.stdout) == expected


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """``callstate run ... | head -1``: the closed pipe ends the run quietly."""
    scenario = load(ROOT / "examples" / "inbound.json")
    gets = [{"get": "/me/calls", "user": "admin"}] * 2000  # far more than a pipe buffer holds
    path = write_json(tmp_path / "long.json", {**scenario, "steps": [*scenario["steps"], *gets]})
    done = subprocess.run(
        f"{shlex.quote(sys.executable)} -m callstate run {shlex.quote(str(path))} | head -1",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 1
    assert done.stderr == ""


def test_replay_of_a_malformed_middle_line_exits_2_without_traceback(tmp_path: Path) -> None:
    where = 4
    log = consult_log(tmp_path)
    lines = log.read_text().splitlines(keepends=True)
    assert len(lines) > where + 1
    lines[where - 1] = '{"at": 1, "request": {"op": "perform"}, "events": [{"type": 3}]}\n'
    log.write_text("".join(lines))
    done = cli_process("replay", log)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"line {where}" in done.stderr
    assert "Traceback" not in done.stderr


def test_replay_refuses_a_user_that_is_neither_admin_nor_a_dn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "run.log"
    assert run_cli(capsys, "run", ROOT / "examples" / "inbound.json", "--log", log)[0] == 0
    status, out, err = run_cli(capsys, "replay", log, "--user", "agent7")
    assert (status, out) == (2, "")
    assert "'agent7' is neither 'admin' nor a DN" in err


def test_run_with_an_unwritable_log_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-dir" / "run.log"
    status, out, err = run_cli(capsys, "run", ROOT / "examples" / "inbound.json", "--log", missing)
    assert (status, out) == (2, "")
    assert f"cannot write {missing}" in err


def test_replay_of_an_empty_or_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    status, out, err = run_cli(capsys, "replay", empty)
    assert (status, out) == (2, "")
    assert "line 1" in err
    status, out, err = run_cli(capsys, "replay", tmp_path / "missing.log")
    assert (status, out) == (2, "")
    assert "missing.log" in err
    status, out, err = run_cli(capsys, "replay", ROOT / "examples" / "inbound.json")
    assert (status, out) == (2, "")


def test_replay_of_a_binary_file_exits_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "binary.log"
    path.write_bytes(b"\xff\xfe\x00\x01garbage\n")
    done = cli_process("replay", path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("where", [2, 3, 5])
def test_replay_names_a_malformed_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: int
) -> None:
    log = consult_log(tmp_path)
    lines = log.read_text().splitlines(keepends=True)
    lines[where - 1] = "{oops\n"
    log.write_text("".join(lines))
    status, out, err = run_cli(capsys, "replay", log, "--user", "15000")
    assert (status, out) == (2, "")
    assert f"line {where}" in err
    assert "Traceback" not in err


# -- the writer's reserved space ------------------------------------------------------------------
def test_a_crashed_writer_leaves_reserved_zeros_that_reading_and_resuming_drop(
    tmp_path: Path,
) -> None:
    path, crashed = tmp_path / "live.log", tmp_path / "crashed.log"
    switch, clock, events = logged_switch(path)
    for _ in drive(switch, clock):
        pass
    crashed.write_bytes(path.read_bytes())  # what a crash now would leave on disk
    switch.close_log()
    assert crashed.read_bytes().endswith(b"\0")
    reader = LogReader.read(crashed)
    assert reader.events == events
    assert reader.cut_line is None
    assert reader.reserved_bytes == len(crashed.read_bytes()) - len(path.read_bytes())
    restored, _ = Switch.restore(crashed, clock=clock, resume_log=True)
    restored.add_device("15009")
    restored.close_log()
    assert crashed.read_bytes().startswith(path.read_bytes())
    assert b"\0" not in crashed.read_bytes()
    assert [d.dn for d in Switch.restore(crashed)[0].devices][-1] == "15009"


def test_a_log_longer_than_the_reserved_space_grows_it(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    switch = Switch(seed=4, log=path)
    phone = switch.add_device("15000")
    seen: list[CallEvent] = []
    switch.subscribe(seen.append)
    for i in range(400):  # several times the first reservation
        call = phone.dial(f"+1415555{i:04d}")
        call.perform("Hangup")
    size_live = path.stat().st_size
    switch.close_log()
    assert path.stat().st_size < size_live
    assert path.stat().st_size > 4 * log_module._CHUNK
    assert LogReader.read(path).events == seen


def test_a_log_to_something_that_cannot_be_mapped_is_written_line_by_line(
    tmp_path: Path,
) -> None:
    read_end, write_end = os.pipe()
    writer = LogWriter(os.fdopen(write_end, "wb", buffering=0))
    writer.header(BASE, 3, IDS)
    writer.request(2.5, {"op": "add_device", "dn": "15000"}, [])
    writer.close()
    with os.fdopen(read_end, "rb") as pipe:
        reader = LogReader.read(pipe)
    assert reader.header["seed"] == 3
    assert [entry.request for entry in reader.entries] == [{"op": "add_device", "dn": "15000"}]


def test_appending_to_a_log_left_open_writes_after_its_last_line(tmp_path: Path) -> None:
    path, crashed = tmp_path / "live.log", tmp_path / "crashed.log"
    switch, clock, _ = logged_switch(path)
    for _ in drive(switch, clock):
        pass
    crashed.write_bytes(path.read_bytes())  # a log whose writer never closed it
    switch.close_log()
    again = Switch(seed=11)
    again.write_log(crashed, append=True)
    again.add_device("15009")
    again.close_log()
    lines = crashed.read_bytes().split(b"\n")
    assert b"\0" not in crashed.read_bytes()
    assert crashed.read_bytes().startswith(path.read_bytes())
    assert json.loads(lines[-2])[1]["dn"] == "15009"


def test_without_space_reservation_the_writer_writes_each_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "posix_fallocate")  # as on macOS
    path = tmp_path / "switch.log"
    switch, clock, events = logged_switch(path)
    for _ in drive(switch, clock):
        pass
    assert b"\0" not in path.read_bytes()  # no reserved space, even while open
    switch.close_log()
    assert LogReader.read(path).events == events


def test_a_log_that_cannot_keep_a_request_stops_the_switch_until_it_is_replaced(
    tmp_path: Path,
) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=5, log=path)
    phone = switch.add_device("15000")
    projection = Projection()
    switch.subscribe(projection)
    call = phone.dial("+14155550101")
    no_space = OSError(28, "No space left")
    with (
        mock.patch.object(LogWriter, "request", side_effect=no_space),
        pytest.raises(LogWriteError, match="No space") as raised,
    ):
        phone.dial("+14155550100")
    assert raised.value.status_code == 4
    assert "nothing was changed" in str(raised.value)
    assert [s.id for s in projection.snapshots] == [call.id]  # the dial did not happen
    assert phone.calls == (call,)
    # every later request is refused, and changes nothing
    with pytest.raises(LogWriteError):
        call.perform("Hangup")
    with pytest.raises(LogWriteError):
        switch.external_call("+14155550102", to="15000")
    assert phone.calls == (call,)
    # the log holds the state the switch has
    restored, _ = Switch.restore(path)
    assert [c.id for c in restored.calls] == [call.id]
    # a new log takes requests again
    switch.write_log(tmp_path / "again.log")
    call.perform("Hangup")
    assert phone.calls == ()
    switch.close_log()


def test_a_page_of_zero_bytes_inside_a_log_cuts_it_there(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch, clock, _ = logged_switch(path)
    for _ in drive(switch, clock):
        pass
    call = switch.external_call("+14155550111", to="15000")
    while path.stat().st_size - LogReader.read(path).reserved_bytes < 3 * 4096:
        call.perform("UpdateUserData", userData={"pad": "x" * 500})
    switch.close_log()
    data = path.read_bytes()
    holed = data[:4096] + b"\0" * 4096 + data[8192:]  # a page a machine crash never wrote
    path.write_bytes(holed)
    start = data.rfind(b"\n", 0, 4096) + 1  # the line the hole begins in
    reader = LogReader.read(path)
    assert reader.cut_line == data.count(b"\n", 0, start) + 1
    assert [e.line for e in reader.entries] == list(range(2, reader.cut_line))
    assert reader.cut_bytes == len(holed) - start
    restored, _ = Switch.restore(path, clock=clock, resume_log=True)
    restored.close_log()
    assert path.read_bytes() == data[:start]


def test_when_reserving_fails_later_the_writer_writes_each_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=4, log=path)
    phone = switch.add_device("15000")
    seen: list[CallEvent] = []
    switch.subscribe(seen.append)

    def refuse(fd: int, offset: int, length: int) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", refuse)
    for i in range(300):  # past the first reservation
        phone.dial(f"+1415555{i:04d}").perform("Hangup")
    assert b"\0" not in path.read_bytes()
    switch.close_log()
    assert LogReader.read(path).events == seen


def test_the_reserved_space_stays_a_fraction_of_the_log(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=4, log=path)
    phone = switch.add_device("15000")
    for i in range(3000):
        phone.dial(f"+1415555{i % 10000:04d}").perform("Hangup")
    reserved = LogReader.read(path).reserved_bytes
    used = path.stat().st_size - reserved
    assert reserved <= max(used // 8, log_module._CHUNK) + 2 * log_module._CHUNK
    switch.close_log()


def test_events_match_by_position_as_they_did() -> None:
    switch = Switch(seed=1)
    seen: list[CallEvent] = []
    switch.subscribe(seen.append)
    switch.add_device("15000").dial("+14155550100").perform("SendDtmf", digits="12")
    match seen[0]:
        case StateChanged(call, previous):
            assert (call.state, previous) == (State.DIALING, None)
        case _:
            pytest.fail("not a StateChanged")
    match seen[-1]:
        case DtmfSent(call, digits):
            assert digits == "12"
        case _:
            pytest.fail("not a DtmfSent")


# -- integrity: every line carries a CRC-32 -------------------------------------------------------
def test_every_flipped_bit_of_a_log_is_caught_or_is_a_cut_last_line(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch, clock, _ = logged_switch(path)
    for _ in drive(switch, clock):
        pass
    switch.close_log()
    data = path.read_bytes()
    full = LogReader.read(path)
    flipped = tmp_path / "flipped.log"
    for offset in range(len(data)):
        for bit in (0x01, 0x20):
            damaged = bytearray(data)
            damaged[offset] ^= bit
            flipped.write_bytes(damaged)
            caught: LogError | None = None
            try:
                reader = LogReader.read(flipped)
            except LogError as error:
                caught = error
            if caught is not None:
                assert 1 <= caught.line <= data.count(b"\n")
                with pytest.raises(LogError):
                    Switch.restore(flipped)
                continue
            # only the last newline can go unnoticed: the last line then reads as cut
            assert offset == len(data) - 1, (offset, bit)
            assert reader.entries == full.entries[:-1]
            assert reader.cut_line == len(full.entries) + 1


def test_a_log_nested_too_deeply_is_refused_by_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.log"
    path.write_bytes(HEADER_LINE + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    with pytest.raises(LogError) as raised:
        LogReader.read(path)
    assert raised.value.line == 2


@pytest.mark.parametrize(
    "header",
    [
        {"callstate_log": 2, "base_uri": 5, "seed": 1, "ids": IDS},
        {"callstate_log": 2, "base_uri": "x", "seed": "1", "ids": IDS},
        {"callstate_log": 2, "base_uri": "x", "seed": 1, "ids": {"call_prefix": "X"}},
        {"callstate_log": 2, "base_uri": "x", "seed": 1},
    ],
)
def test_a_header_without_what_restoring_needs_is_refused(
    tmp_path: Path, header: dict[str, Any]
) -> None:
    path = tmp_path / "switch.log"
    path.write_text(seal(header) + "\n")
    with pytest.raises(LogError) as raised:
        Switch.restore(path)
    assert raised.value.line == 1


def test_a_full_disk_refuses_the_next_request_before_it_changes_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=6, log=path)
    phone = switch.add_device("15000")
    seen: list[CallEvent] = []
    switch.subscribe(seen.append)

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    refused: LogWriteError | None = None
    for i in range(5000):  # until the room kept ahead runs out
        try:
            phone.dial(f"+1415555{i % 10000:04d}").perform("Hangup")
        except LogWriteError as error:
            refused = error
            break
    assert refused is not None
    assert "nothing was changed" in str(refused)
    assert refused.status_code == 4
    before = (len(seen), phone.calls)
    with pytest.raises(LogWriteError):
        phone.dial("+14155550100")
    assert (len(seen), phone.calls) == before
    # the log holds every request the switch made: a restore gives the live state
    restored, reader = Switch.restore(path)
    assert reader.events == seen
    assert [(c.id, c.state) for c in restored.calls] == [(c.id, c.state) for c in phone.calls]
    monkeypatch.undo()
    switch.write_log(tmp_path / "again.log")
    phone.dial("+14155550100")
    switch.close_log()


def test_a_zero_byte_that_is_not_a_whole_page_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch, clock, _ = logged_switch(path)
    for _ in drive(switch, clock):
        pass
    switch.close_log()
    data = bytearray(path.read_bytes())
    second = data.index(b"\n") + 10  # inside line 2
    data[second] = 0
    path.write_bytes(data)
    with pytest.raises(LogError, match="zero bytes") as raised:
        LogReader.read(path)
    assert raised.value.line == 2


def test_a_damaged_version_digit_does_not_turn_the_checksum_off(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=2, log=path)
    switch.add_device("15000")
    switch.close_log()
    data = path.read_bytes().replace(b'"callstate_log":2', b'"callstate_log":1', 1)
    path.write_bytes(data.replace(b"127.0.0.1", b"127.0.0.9", 1))
    with pytest.raises(LogError) as raised:
        LogReader.read(path)
    assert raised.value.line == 1


def test_a_log_that_cannot_be_opened_leaves_the_current_one_in_use(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=2, log=path)
    phone = switch.add_device("15000")
    with pytest.raises(LogWriteError):
        switch.write_log(tmp_path / "missing" / "x.log")
    phone.dial("+14155550100")  # still logged where it was
    switch.close_log()
    assert [e.request["op"] for e in LogReader.read(path).entries] == ["add_device", "dial"]


# -- opening logs again -----------------------------------------------------------------------
@pytest.mark.parametrize("append", [True, False])
def test_reopening_the_log_in_use_loses_nothing(tmp_path: Path, append: bool) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=1, log=path)
    phone = switch.add_device("15000")
    for _ in range(50):
        switch.write_log(path, append=True)  # the same file, again and again
        phone.dial("+14155550100").perform("Hangup")
    call = phone.dial("+14155550100")
    switch.write_log(path, append=append)
    switch.close_log()
    if append:
        restored, reader = Switch.restore(path)
        assert reader.cut_line is None
        assert [c.id for c in restored.calls] == [call.id]
    else:  # a fresh log of a switch that has a past: it replays, it does not restore
        assert LogReader.read(path).entries == []


def test_appending_to_an_empty_file_starts_it_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "new.log"
    switch = Switch(seed=1)
    switch.write_log(path, append=True)
    switch.add_device("15000").dial("+14155550100")
    switch.close_log()
    restored, _ = Switch.restore(path)
    assert len(restored.calls) == 1


def test_appending_to_a_log_with_a_cut_last_line_replaces_that_line(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    switch = Switch(seed=1, log=path)
    phone = switch.add_device("15000")
    phone.dial("+14155550100")
    switch.close_log()
    path.write_bytes(path.read_bytes()[:-10])  # a crash while the dial was written
    restored, reader = Switch.restore(path)
    assert reader.cut_line == 3
    restored.write_log(path, append=True)
    restored.device("15000").dial("+14155550101")
    restored.close_log()
    again, reader = Switch.restore(path)
    assert reader.cut_line is None
    assert [c.dnis for c in again.calls] == ["+14155550101"]


def test_a_replay_that_cannot_print_says_so_in_one_line(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    path = tmp_path / "switch.log"
    switch = Switch(seed=1, log=path)
    switch.add_device("15000")
    switch.close_log()
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "callstate", "replay", str(path)],
            stdout=full,
            capture_output=False,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=60,
        )
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
