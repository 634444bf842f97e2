"""Checkpoints: a switch saved with ``save_state`` and rebuilt from it plus the log lines after it
is the switch ``restore`` rebuilds from the whole log — same legs, devices and next ids — and a
checkpoint that does not fit its log is refused, so that the whole log is run instead."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from callstate import Projection, Switch, User
from callstate.log import LogReader


def busy_day(switch: Switch, start: int, stop: int) -> None:
    """Calls, consults, conferences, holds, data, agent states and supervision."""
    devices = switch.devices
    for i in range(start, stop):
        a, b, c = devices[i % 6], devices[(i + 1) % 6], devices[(i + 2) % 6]
        call = a.dial(b.dn)
        b.perform(b.calls[-1].id, "Answer")
        a.perform(call.id, "AttachUserData", userData={"n": i})
        if i % 3 == 0:
            consult = a.perform(call.id, "InitiateConference", destination={"phoneNumber": c.dn})
            assert consult is not None
            c.perform(c.calls[-1].id, "Answer")
            consult.perform("CompleteConference")
        if i % 4 == 1:
            a.perform(call.id, "Hold")
        outside = switch.external_call(f"+1415555{i:04d}", to=b.dn)
        b.perform(outside.id, "Answer")
        a.operate("Ready" if i % 2 else "AuxWork")
        if i % 5 == 4:
            for leg in list(a.calls):
                a.perform(leg.id, "Hangup")
    supervisor = switch.device("19000")
    supervisor.operate("ListenIn", targetDeviceUri=devices[0].id)


def world(log: Path) -> tuple[Switch, Projection]:
    switch = Switch(seed=11, log=log)
    projection = Projection(form="8.5.2")
    switch.subscribe(projection)
    for n in range(6):
        projection.know(switch.add_device(f"1500{n}", features=["mute", "recording"]).snapshot())
    projection.know(switch.add_device("19000", role="supervisor").snapshot())
    return switch, projection


def state(switch: Switch) -> Any:
    legs = [
        (
            c.id,
            c.device.dn,
            c.state,
            c.capabilities,
            c.context,
            c.participants,
            c.user_data,
            c.mute,
            c.recording_state,
            c.answered,
            c.conn_id,
            None if c.parent is None else c.parent.id,
            None if c.consult is None else c.consult.id,
            None if c.watch is None else (c.watch.mode, c.watch.scope, c.watch.muted),
        )
        for c in switch.calls
    ]
    return legs, [d.snapshot() for d in switch.devices]


def test_a_checkpoint_and_the_lines_after_it_rebuild_the_same_switch(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    switch, projection = world(log)
    busy_day(switch, 0, 20)
    saved = io.BytesIO()
    switch.save_state(saved, projection)
    busy_day(switch, 20, 45)
    switch.close_log()
    checkpoint = tmp_path / "calls.log.checkpoint"
    checkpoint.write_bytes(saved.getvalue())

    quick, reader, (rebuilt,) = Switch.restore_checkpoint(checkpoint, log)
    whole, everything = Switch.restore(log)
    assert 0 < len(reader.entries) < len(everything.entries)
    assert reader.entries[0].line == everything.entries[-len(reader.entries)].line
    assert state(quick) == state(whole) == state(switch)
    for event in reader.events:
        rebuilt.apply(event)
    for user in (User.admin(), User.agent("15001"), User.agent("19000")):
        assert rebuilt.get_calls(user) == projection.get_calls(user)
    # the same ids next, on both
    assert quick.device("15002").dial("15003").id == whole.device("15002").dial("15003").id


def test_a_checkpoint_that_does_not_fit_its_log_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    switch, projection = world(log)
    busy_day(switch, 0, 5)
    checkpoint = tmp_path / "calls.log.checkpoint"
    with checkpoint.open("wb") as file:
        switch.save_state(file, projection)
    busy_day(switch, 5, 8)
    switch.close_log()
    good = log.read_bytes()
    other = tmp_path / "other.log"
    other_switch, _ = world(other)
    busy_day(other_switch, 0, 9)
    other_switch.close_log()
    with pytest.raises(ValueError, match="does not continue"):
        Switch.restore_checkpoint(checkpoint, other)
    at = good.index(b"AuxWork")  # a flipped byte before the mark
    log.write_bytes(good[:at] + b"b" + good[at + 1 :])
    with pytest.raises(ValueError, match="does not continue"):
        Switch.restore_checkpoint(checkpoint, log)
    log.write_bytes(good)
    checkpoint.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a saved switch"):
        Switch.restore_checkpoint(checkpoint, log)
    assert LogReader.read(log).entries  # the log itself still restores
