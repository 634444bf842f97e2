"""A switch rebuilt from its log is the switch that wrote it.

A hypothesis state machine drives a logged switch with random agent requests (mostly ones the
calls offer, with plausible parameters) and far-end events, and checks that every subscriber
saw the same events, that the log replays to the live projection, that ``Switch.restore`` gives
an equal switch that goes on exactly like the original, and that a log cut at any byte reads
and restores as the complete lines before the cut.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from sealing import seal, unsealed

from callstate import (
    Call,
    CallEvent,
    CallStateError,
    LogError,
    LogReader,
    ManualClock,
    Operation,
    Projection,
    Restored,
    State,
    Switch,
    User,
    decode,
    encode,
    replay,
)
from callstate.projection import FORMS

O = Operation
BASE = "http://127.0.0.1:8080/api/v2"
DEVICES = {"15000": ("mute", "recording"), "15001": (), "15002": ("mute",)}
OUTSIDE = ("+14155550100", "+442071234567", "+33142868200")
NUMBERS = (*DEVICES, *OUTSIDE, "+1 415-555-0100", "19999")
ADMIN = User.admin()
USERS = (ADMIN, *(User.agent(dn) for dn in DEVICES))
ALL_NAMES = (*(op.value for op in Operation), "Bogus")
#: operations that change no state (chosen less often, so calls move more)
QUIET = {
    O.ATTACH_USER_DATA,
    O.UPDATE_USER_DATA,
    O.DELETE_USER_DATA,
    O.DELETE_USER_DATA_PAIR,
    O.SEND_DTMF,
}
#: operations that need a consult pair or a conference (sought out, so they happen)
RARE = {
    O.COMPLETE_TRANSFER,
    O.COMPLETE_CONFERENCE,
    O.SWAP_CALLS,
    O.REMOVE_PARTICIPANT_FROM_CONFERENCE,
    O.CLEAR_CALL,
    O.RETRIEVE,
    O.RESUME_CALL_RECORDING,
    O.UNMUTE_CALL,
}

USER_DATA = st.dictionaries(
    st.sampled_from(["k1", "k2", "GSIP_RECORD"]),
    st.one_of(st.sampled_from(["a", "b", ""]), st.integers(-3, 3)),
    max_size=2,
)
DESTINATION = st.sampled_from(NUMBERS).map(lambda n: {"phoneNumber": n})


# -- comparing switches ---------------------------------------------------------------------------
def call_state(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "device": call.device.dn,
        "state": call.state,
        "capabilities": call.capabilities,
        "participants": call.participants,
        "user_data": list(call.user_data.items()),
        "mute": call.mute,
        "recording_state": call.recording_state,
        "conn_id": call.conn_id,
        "call_type": call.call_type,
        "dnis": call.dnis,
        "ani": call.ani,
        "parent_id": call.parent_id,
        "parent": call.parent.id if call.parent is not None else None,
        "consult": call.consult.id if call.consult is not None else None,
        "started_at": call.started_at,
    }


def state_of(switch: Switch) -> dict[str, Any]:
    return {
        "base_uri": switch.base_uri,
        "devices": [
            (d.dn, d.id, sorted(d.features), [c.id for c in d.calls]) for d in switch.devices
        ],
        "calls": [call_state(c) for c in switch.calls],
    }


def carry_on(switch: Switch) -> list[CallEvent]:
    """The same further requests on any switch: new calls, then hang up everything."""
    events: list[CallEvent] = []
    with switch.subscribe(events.append):
        for dn, number in (("15001", "+14155550100"), ("15002", "15000")):
            with contextlib.suppress(CallStateError):
                switch.device(dn).dial(number, userData={"after": 1})
        switch.external_call("+442071234567", to="15000")
        for _ in range(200):
            if not switch.calls:
                break
            call = switch.calls[0]
            if O.ANSWER in call.capabilities:
                call.perform("Answer")
            else:
                assert O.HANGUP in call.capabilities, call
                call.perform("Hangup")
        assert switch.calls == ()
    return events


def log_bytes(path: Path) -> bytes:
    """A log's lines (a live log ends in zero bytes its writer reserved: not part of it)."""
    return path.read_bytes().rstrip(b"\0")


def line_ends(data: bytes) -> list[int]:
    """Offsets just past each newline."""
    return [i + 1 for i, b in enumerate(data) if b == 0x0A]


def check_cut(data: bytes, offset: int, workdir: Path, full: LogReader) -> None:
    """A log cut at ``offset`` reads and restores as the complete lines before the cut."""
    ends = line_ends(data)
    cut = workdir / "cut.log"
    cut.write_bytes(data[:offset])
    if offset == 0:  # an empty file says nothing of being a log
        with pytest.raises(LogError) as raised:
            LogReader.read(cut)
        assert raised.value.line == 1
        with pytest.raises(LogError):
            Switch.restore(cut)
        return
    if offset < ends[0]:  # cut inside the header: a log of nothing yet
        reader = LogReader.read(cut)
        assert (reader.header, reader.entries) == ({}, [])
        assert (reader.cut_line, reader.cut_bytes) == (1, offset)
        restored, _ = Switch.restore(cut)
        assert (list(restored.devices), list(restored.calls)) == ([], [])
        return
    complete = [e for e in ends if e <= offset]
    entries = len(complete) - 1
    reader = LogReader.read(cut)
    assert len(reader.entries) == entries
    assert reader.entries == full.entries[:entries]
    assert reader.header == full.header
    if offset == complete[-1]:
        assert (reader.cut_line, reader.cut_bytes) == (None, 0)
    else:
        assert reader.cut_line == len(complete) + 1
        assert reader.cut_bytes == offset - complete[-1]
    whole = workdir / "whole.log"
    whole.write_bytes(data[: complete[-1]])
    from_cut, cut_reader = Switch.restore(cut)
    from_whole, whole_reader = Switch.restore(whole)
    assert cut_reader.cut_line == reader.cut_line
    assert whole_reader.cut_line is None
    assert state_of(from_cut) == state_of(from_whole)


# -- the machine --------------------------------------------------------------------------------
class RestoreMachine(RuleBasedStateMachine):
    """Random traffic on a logged switch; restore and replay must agree with it."""

    @initialize(seed=st.none() | st.integers(0, 1000), t0=st.floats(0, 2e9))
    def start(self, seed: int | None, t0: float) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.path = self.dir / "switch.log"
        self.clock = ManualClock()
        self.clock.now = t0
        self.errors: list[tuple[Exception, CallEvent | None]] = []
        self.switch = Switch(
            BASE,
            seed,
            clock=self.clock,
            log=self.path,
            on_subscriber_error=lambda e, ev: self.errors.append((e, ev)),
        )
        self.seen: list[CallEvent] = []
        self.encoded: list[str] = []
        self.late: list[CallEvent] = []
        self.projections = {form: Projection(BASE, form) for form in FORMS}
        self.switch.subscribe(self.seen.append)
        for projection in self.projections.values():
            self.switch.subscribe(projection)
        self.switch.subscribe(lambda e: self.encoded.append(encode(e)))
        for dn, features in DEVICES.items():
            self.switch.add_device(dn, features=features)
        self.switch.subscribe(self.late.append)  # devices make no events: it misses nothing

    # -- traffic ----------------------------------------------------------------------------------
    @rule(data=st.data(), count=st.integers(1, 12))
    def traffic(self, data: st.DataObject, count: int) -> None:
        """A burst of requests: mostly agent operations, then dials and the far end."""
        for _ in range(count):
            kind = data.draw(st.integers(0, 20), label="kind")
            if kind < 12 and self.switch.calls:
                self.operate(data)
            elif kind < 14:
                self.dial(data)
            elif kind < 16:
                self.external_call(data)
            elif kind < 19:
                self.far_end(data)
            elif kind < 20:
                self.clock.now += data.draw(st.sampled_from([0.25, 1.0, 3.0, 61.5]))
            else:
                self.admin(data)

    def dial(self, data: st.DataObject) -> None:
        device = self.switch.device(data.draw(st.sampled_from(list(DEVICES))))
        number = data.draw(st.sampled_from(NUMBERS))
        params = data.draw(st.fixed_dictionaries({}, optional={"userData": USER_DATA}))
        with contextlib.suppress(CallStateError):
            device.dial(number, **params)

    def operate(self, data: st.DataObject) -> None:
        calls = self.switch.calls
        pick = data.draw(st.integers(0, 19))
        rare = [c for c in calls if RARE.intersection(c.capabilities)]
        call = data.draw(st.sampled_from(rare if rare and pick < 6 else calls))
        capabilities = call.capabilities
        moving = [op for op in capabilities if op not in QUIET]
        if pick < 6 and RARE.intersection(capabilities):
            name: str = data.draw(st.sampled_from(sorted(RARE.intersection(capabilities))))
        elif moving and pick < 14:
            name = data.draw(st.sampled_from(moving)).value
        elif capabilities and pick < 17:
            name = data.draw(st.sampled_from(capabilities)).value
        else:
            name = data.draw(st.sampled_from(ALL_NAMES))
        params = data.draw(params_for(name, call))
        device = call.device
        if data.draw(st.integers(0, 19)) == 0:  # now and then, somebody else's call
            device = self.switch.device(data.draw(st.sampled_from(list(DEVICES))))
        with contextlib.suppress(CallStateError):
            device.perform(call.id, name, **params)

    def external_call(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from((*OUTSIDE, "15001")))
        to = data.draw(st.sampled_from(list(DEVICES)))
        user_data = data.draw(st.none() | USER_DATA)
        with contextlib.suppress(CallStateError):
            self.switch.external_call(number, to=to, user_data=user_data)

    def far_end(self, data: st.DataObject) -> None:
        what = data.draw(st.sampled_from(["answer", "answer", "busy", "hangup"]))
        to = data.draw(st.none() | st.sampled_from(list(DEVICES)))
        calls = self.switch.calls
        outside = sorted({p for c in calls for p in c.participants if p not in DEVICES})
        party: str | Call
        choice = data.draw(st.integers(0, 3))
        if calls and choice == 0:
            party, to = data.draw(st.sampled_from(calls)), None
        elif outside and choice < 3:
            party = data.draw(st.sampled_from(outside))
        else:
            party = data.draw(st.sampled_from(OUTSIDE))
        act = {
            "answer": self.switch.external_answer,
            "busy": self.switch.external_busy,
            "hangup": self.switch.external_hangup,
        }[what]
        with contextlib.suppress(CallStateError):
            act(party, to=to)

    def admin(self, data: st.DataObject) -> None:
        """The simulator's admin: now and then a reset, else a call cleared (or a wrong id)."""
        calls = self.switch.calls
        choice = data.draw(st.integers(0, 5))
        if choice == 0:
            self.switch.reset()
            return
        call: str | Call = data.draw(st.sampled_from(calls)) if calls and choice > 1 else "nope"
        with contextlib.suppress(CallStateError):
            self.switch.clear_call(call)

    @rule(data=st.data(), count=st.integers(1, 12))
    def more_traffic(self, data: st.DataObject, count: int) -> None:
        """The same again: so that two steps in three are traffic, one a check."""
        self.traffic(data, count)

    # -- checks along the way -------------------------------------------------------------------
    @rule(data=st.data())
    def restore_and_cut_the_log(self, data: st.DataObject) -> None:
        restored, reader = Switch.restore(self.path, clock=self.clock)
        assert reader.cut_line is None
        assert state_of(restored) == state_of(self.switch)
        raw = log_bytes(self.path)
        ends = line_ends(raw)
        offsets = {
            data.draw(st.integers(0, len(raw)), label="anywhere"),
            data.draw(st.sampled_from(ends), label="a line end") - data.draw(st.integers(0, 1)),
        }
        for offset in sorted(offsets):
            check_cut(raw, offset, self.dir, reader)

    # -- at the end -------------------------------------------------------------------------------
    def teardown(self) -> None:
        if not hasattr(self, "switch"):
            return
        try:
            self.final_checks()
        finally:
            self.switch.close_log()
            self.tmp.cleanup()

    def final_checks(self) -> None:
        switch = self.switch
        assert self.errors == []
        # (a) every subscriber saw the same events in the same order, and so does the log
        reader = LogReader.read(self.path)
        assert reader.cut_line is None
        assert [decode(line) for line in self.encoded] == self.seen
        assert self.late == self.seen
        assert reader.events == self.seen
        # (b) the replayed projection is the live one, in both forms, for every user
        for form in FORMS:
            replayed = replay(reader, form)
            live = self.projections[form]
            assert [s.id for s in live.snapshots] == [c.id for c in switch.calls]
            for user in USERS:
                assert replayed.get_calls(user) == live.get_calls(user)
            assert replayed.get_calls(ADMIN, "8.5.0") == live.get_calls(ADMIN, "8.5.0")
        # (c) the restored switch is the original, and goes on like it
        restored, restored_reader = Switch.restore(self.path, clock=self.clock)
        assert restored_reader.entries == reader.entries
        assert (restored.seed, restored.base_uri) == (switch.seed, switch.base_uri)
        assert state_of(restored) == state_of(switch)
        self.clock.now += 5
        assert carry_on(restored) == carry_on(switch)
        assert state_of(restored) == state_of(switch)


def params_for(name: str, call: Call) -> st.SearchStrategy[dict[str, Any]]:
    """Plausible parameters for ``name`` on ``call`` (now and then a wrong one)."""
    uri_of = st.sampled_from(
        [
            *(f"{BASE}/me/calls/{c.id}" for c in (call, call.parent, call.consult) if c),
            f"{BASE}/me/calls/NOPE",
        ]
    )
    if name in {"SingleStepTransfer", "SingleStepConference", "InitiateTransfer"}:
        return st.fixed_dictionaries({"destination": DESTINATION}, optional={"userData": USER_DATA})
    if name == "InitiateConference":
        return st.fixed_dictionaries({"destination": DESTINATION})
    if name == "SendDtmf":
        return st.fixed_dictionaries({"digits": st.sampled_from(["1", "*#", "0123", "x"])})
    if name in {"CompleteTransfer", "CompleteConference"}:
        return st.fixed_dictionaries({}, optional={"consultCallUri": uri_of})
    if name == "SwapCalls":
        return st.fixed_dictionaries({}, optional={"otherCallUri": uri_of})
    if name == "RemoveParticipantFromConference":
        return st.fixed_dictionaries(
            {"participant": st.sampled_from([*call.participants, *NUMBERS])}
        )
    if name in {"AttachUserData", "UpdateUserData"}:
        return st.fixed_dictionaries({"userData": USER_DATA})
    if name == "DeleteUserDataPair":
        return st.fixed_dictionaries({"key": st.sampled_from([*call.user_data, "nope"])})
    if name == "Dial":
        return st.fixed_dictionaries({"destination": DESTINATION})
    return st.just({})


TestRestore = RestoreMachine.TestCase
TestRestore.settings = settings(
    max_examples=50,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- deterministic --------------------------------------------------------------------------------
@pytest.fixture
def opened() -> Iterator[list[Switch]]:
    """Switches whose logs are closed after the test."""
    switches: list[Switch] = []
    yield switches
    for switch in switches:
        switch.close_log()


def busy_switch(
    path: Path, opened: list[Switch], seed: int | None = 21
) -> tuple[Switch, ManualClock]:
    """A logged switch left with live calls of many kinds: a consult pair, a conference,
    recording, mute, user data, a ringing call and a dialing one."""
    clock = ManualClock()
    clock.now = 1000.0
    switch = Switch(BASE, seed, clock=clock, log=path)
    opened.append(switch)
    for dn, features in DEVICES.items():
        switch.add_device(dn, features=features)
    b, c = switch.device("15001"), switch.device("15002")
    customer = switch.external_call("+14155550100", to="15000", user_data={"acct": 7})
    clock.now += 2
    customer.perform("Answer")
    customer.perform("StartCallRecording")
    customer.perform("MuteCall")
    clock.now += 3
    customer.perform("InitiateTransfer", destination={"phoneNumber": "15001"})
    (consulted,) = b.calls
    consulted.perform("Answer")
    internal = c.dial("15001")
    clock.now += 1
    outbound = c.dial("+442071234567")
    switch.external_answer(outbound)
    outbound.perform("SingleStepConference", destination={"phoneNumber": "+33142868200"})
    outbound.perform("AttachUserData", userData={"topic": "x"})
    switch.external_call("+33142868200", to="15000")
    assert internal.state is State.DIALING
    return switch, clock


def ids_in(reader: LogReader) -> tuple[set[str], set[str]]:
    calls = {e.call.id for e in reader.events}
    conns = {e.call.conn_id for e in reader.events}
    return calls, conns


@pytest.mark.parametrize("seed", [21, None])
def test_restore_then_carry_on_with_fresh_ids(
    tmp_path: Path, opened: list[Switch], seed: int | None
) -> None:
    path = tmp_path / "switch.log"
    original, clock = busy_switch(path, opened, seed)
    restored, reader = Switch.restore(path, clock=clock)
    assert state_of(restored) == state_of(original)
    assert len(restored.calls) >= 7
    used_calls, used_conns = ids_in(reader)
    # new requests work on the restored switch, and get ids never used before
    new_events: list[CallEvent] = []
    restored.subscribe(new_events.append)
    fresh = restored.device("15002").dial("+14155550100")
    incoming = restored.external_call("+442071234567", to="15001")
    assert fresh.id not in used_calls
    assert incoming.id not in used_calls
    assert fresh.id != incoming.id
    assert fresh.conn_id not in used_conns
    assert incoming.conn_id not in used_conns
    device = restored.add_device("15003", features=["mute"])
    assert device.id not in {d.id for d in original.devices}
    # the restored calls go on: the consult pair completes, the conference clears
    agent = restored.device("15000")
    parent = next(c for c in agent.calls if c.consult is not None)
    assert parent.consult is not None
    agent.perform(parent.consult.id, "CompleteTransfer")
    assert all(c.call_type != "Consult" for c in agent.calls)
    owner = next(c for c in restored.device("15002").calls if O.CLEAR_CALL in c.capabilities)
    owner.perform("ClearCall")
    assert restored.calls
    assert {e.call.id for e in new_events} >= {fresh.id, incoming.id, parent.id, owner.id}
    # the original, given the same requests, gives the same ids (prefixes and counters are kept)
    same = original.device("15002").dial("+14155550100")
    assert same.id == fresh.id
    assert same.conn_id == fresh.conn_id


def test_requests_with_read_only_mappings_are_logged_and_restored(
    tmp_path: Path, opened: list[Switch]
) -> None:
    """Parameters may be any Mapping, not only dicts; the log still holds them as JSON."""
    path = tmp_path / "switch.log"
    switch = Switch(seed=5, log=path)
    opened.append(switch)
    switch.add_device("15000")
    switch.add_device("15001")
    data = MappingProxyType({"k": "v"})
    call = switch.external_call("+14155550100", to="15000", user_data=data)
    call.perform("Answer")
    call.perform("AttachUserData", userData=MappingProxyType({"x": 1}))
    call.perform(
        "InitiateTransfer", destination=MappingProxyType({"phoneNumber": "15001"}), userData=data
    )
    restored, _ = Switch.restore(path)
    opened.append(restored)
    assert state_of(restored) == state_of(switch)


def test_restore_equals_and_continues_like_the_original(
    tmp_path: Path, opened: list[Switch]
) -> None:
    path = tmp_path / "switch.log"
    original, clock = busy_switch(path, opened)
    restored, _ = Switch.restore(path, clock=clock)
    clock.now += 10
    assert carry_on(restored) == carry_on(original)
    assert state_of(restored) == state_of(original)


def test_resume_log_appends_and_a_second_restore_reproduces_everything(
    tmp_path: Path, opened: list[Switch]
) -> None:
    path = tmp_path / "switch.log"
    original, clock = busy_switch(path, opened)
    original.close_log()
    before = LogReader.read(path)
    restored, _ = Switch.restore(path, clock=clock, resume_log=True)
    opened.append(restored)
    clock.now += 4
    seen: list[CallEvent] = []
    restored.subscribe(seen.append)
    restored.device("15001").dial("+14155550100")
    restored.external_call("+442071234567", to="15002")
    customer = next(c for c in restored.device("15000").calls if c.consult is not None)
    customer.perform("UpdateUserData", userData={"acct": 8})
    restored.close_log()
    text = path.read_text()
    assert text.count('"callstate_log"') == 1
    assert all(json.loads(line) for line in text.splitlines())
    after = LogReader.read(path)
    assert after.entries[: len(before.entries)] == before.entries
    assert len(after.entries) == len(before.entries) + 3
    assert after.events[len(before.events) :] == seen
    again, _ = Switch.restore(path, clock=clock)
    assert state_of(again) == state_of(restored)
    assert carry_on(again) == carry_on(restored)


def test_resume_log_drops_a_cut_last_line_first(tmp_path: Path, opened: list[Switch]) -> None:
    path = tmp_path / "switch.log"
    original, clock = busy_switch(path, opened)
    original.close_log()
    data = path.read_bytes()
    last_start = data.rindex(b"\n", 0, len(data) - 1) + 1
    path.write_bytes(data[: last_start + 9])  # a crash while the last line was written
    whole = tmp_path / "whole.log"
    whole.write_bytes(data[:last_start])
    restored, reader = Switch.restore(path, clock=clock, resume_log=True)
    opened.append(restored)
    assert reader.cut_line is not None
    assert reader.cut_bytes == 9
    assert state_of(restored) == state_of(Switch.restore(whole)[0])
    assert log_bytes(path) == data[:last_start]  # truncated before appending
    restored.device("15001").dial("+14155550100")
    restored.close_log()
    again, again_reader = Switch.restore(path, clock=clock)
    assert again_reader.cut_line is None
    assert state_of(again) == state_of(restored)


@pytest.mark.parametrize("keep", [1, 17, 30])
def test_a_log_cut_inside_its_header_restores_an_empty_switch_and_resumes(
    tmp_path: Path, opened: list[Switch], keep: int
) -> None:
    path = tmp_path / "switch.log"
    original, clock = busy_switch(path, opened)
    original.close_log()
    path.write_bytes(path.read_bytes()[:keep])  # the crash came while the header was written
    restored, reader = Switch.restore(path, clock=clock, resume_log=True)
    opened.append(restored)
    assert (reader.header, reader.entries, reader.cut_line, reader.cut_bytes) == ({}, [], 1, keep)
    assert (list(restored.devices), list(restored.calls)) == ([], [])
    restored.add_device("15000").dial("+14155550100")
    restored.close_log()
    again, again_reader = Switch.restore(path, clock=clock)  # a whole log again: a new header
    assert again_reader.cut_line is None
    assert again_reader.header["callstate_log"] == 3
    assert state_of(again) == state_of(restored)


def test_a_subscriber_that_makes_requests_is_restored_too(
    tmp_path: Path, opened: list[Switch]
) -> None:
    path = tmp_path / "switch.log"
    clock = ManualClock()
    switch = Switch(BASE, 5, clock=clock, log=path)
    opened.append(switch)
    seen: list[CallEvent] = []
    switch.subscribe(seen.append)

    def auto_answer(event: CallEvent) -> None:
        if event.call.device == "15001" and event.call.state is State.RINGING:
            clock.now += 1
            switch.device("15001").perform(event.call.id, "Answer")
            switch.device("15001").perform(event.call.id, "AttachUserData", userData={"auto": 1})

    switch.subscribe(auto_answer)
    for dn, features in DEVICES.items():
        switch.add_device(dn, features=features)
    call = switch.device("15000").dial("15001")
    switch.external_call("+14155550100", to="15001")
    clock.now += 2
    call.perform("Hold")
    assert call.state is State.HELD
    reader = LogReader.read(path)
    assert reader.events == seen
    restored, _ = Switch.restore(path, clock=clock)
    assert state_of(restored) == state_of(switch)
    assert [c.state for c in restored.device("15001").calls] == [State.ESTABLISHED] * 2


# -- logs that no longer apply --------------------------------------------------------------------
def small_log(path: Path) -> list[str]:
    clock = ManualClock()
    switch = Switch(BASE, 3, clock=clock, log=path)
    switch.add_device("15000", features=["mute"])  # line 2
    call = switch.external_call("+14155550100", to="15000")  # line 3
    clock.now += 5
    call.perform("Answer")  # line 4
    clock.now += 5
    call.perform("Hold")  # line 5
    call.perform("Retrieve")  # line 6
    switch.close_log()
    return path.read_text().splitlines(keepends=True)


def restore_error(path: Path, lines: list[str]) -> LogError:
    path.write_text("".join(lines))
    with pytest.raises(LogError) as raised:
        Switch.restore(path)
    return raised.value


def test_a_request_that_is_refused_now_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    lines = small_log(path)
    error = restore_error(path, lines[:3] + lines[4:])  # no Answer: Hold on a ringing call
    assert error.line == 4
    assert "line 4" in str(error)
    assert "Hold" in str(error)
    error = restore_error(path, lines[:4] + lines[5:])  # no Hold: Retrieve is not offered
    assert error.line == 5


def test_a_request_that_gives_other_events_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    lines = small_log(path)
    tampered = json.loads(lines[4])  # [at, request, [[type, [fields], previous], ...]]
    tampered[2][0][1][4] = "Established"  # field 4 of the snapshot: state
    error = restore_error(path, [*lines[:4], json.dumps(tampered) + "\n", *lines[5:]])
    assert error.line == 5
    # the logged clock readings are used: another reading gives other durations
    later = json.loads(lines[4])
    later[0] += 100  # the clock reading
    error = restore_error(path, [*lines[:4], json.dumps(later) + "\n", *lines[5:]])
    assert error.line == 5
    # events left out of a line
    fewer = json.loads(lines[3])
    fewer[2] = fewer[2][:-1]  # the events
    error = restore_error(path, [*lines[:3], json.dumps(fewer) + "\n", *lines[4:]])
    assert error.line == 4


def test_a_header_with_other_ids_fails_on_the_first_line_with_events(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    lines = small_log(path)
    header = unsealed(lines[0])
    header["ids"]["call_prefix"] = "0" * 26
    error = restore_error(path, [seal(header) + "\n", *lines[1:]])
    assert error.line == 3


def test_a_request_for_a_missing_device_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    lines = small_log(path)
    error = restore_error(path, [lines[0], *lines[2:]])  # the device was never added
    assert error.line == 2


def test_a_device_added_twice_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "switch.log"
    lines = small_log(path)
    error = restore_error(path, [*lines[:2], lines[1], *lines[2:]])
    assert error.line == 3


@pytest.mark.parametrize(
    "request_",
    [
        {"op": "teleport"},
        {"op": "perform", "device": "15000"},
        {"op": "dial", "device": "15000"},
    ],
)
def test_an_unknown_or_incomplete_request_names_its_line(
    tmp_path: Path, request_: dict[str, Any]
) -> None:
    path = tmp_path / "switch.log"
    lines = small_log(path)
    bogus = json.dumps({"at": 0, "request": request_, "events": []}) + "\n"
    error = restore_error(path, [*lines[:3], bogus, *lines[3:]])
    assert error.line == 4


def test_restore_returns_a_named_result_that_unpacks(tmp_path: Path, opened: list[Switch]) -> None:
    path = tmp_path / "switch.log"
    original, clock = busy_switch(path, opened)
    result = Switch.restore(path, clock=clock)
    opened.append(result.switch)
    assert isinstance(result, Restored)
    assert result._fields == ("switch", "reader")
    assert state_of(result.switch) == state_of(original)
    assert result.reader.cut_line is None
    assert result.reader.entries
    switch, reader = result
    assert (switch, reader) == (result.switch, result.reader)
