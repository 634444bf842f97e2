"""A request whose log line cannot be written changes nothing: every step of a busy day is first
run against a log that fails, then for real — the failed run must leave no trace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from callstate import Call, CallEvent, LogReader, LogWriteError, Projection, Switch, User
from callstate.log import LogWriter

CUSTOMER, OTHER = "+14155550100", "+442071234567"


def fingerprint(switch: Switch, projection: Projection) -> tuple[Any, ...]:
    legs = tuple(
        (
            c.id,
            c.device.dn,
            c.state,
            c.capabilities,
            c.participants,
            tuple(c.user_data.items()),
            c.mute,
            c.recording_state,
            c.conn_id,
            c.parent.id if c.parent else None,
            c.consult.id if c.consult else None,
        )
        for c in switch.calls
    )
    per_device = tuple((d.dn, tuple(c.id for c in d.calls)) for d in switch.devices)
    return legs, per_device, projection.get_calls_json(User.admin())


def busy_day(switch: Switch) -> list[Callable[[], object]]:
    """Steps touching every kind of move: each a request of its own."""
    a, b, c = (switch.device(dn) for dn in ("15000", "15001", "15002"))
    held: dict[str, Call] = {}

    def first() -> Call:
        return held["customer"]

    def step_call() -> None:
        held["customer"] = switch.external_call(CUSTOMER, to="15000", user_data={"k": "v"})

    return [
        lambda: switch.add_device("15003"),
        step_call,
        lambda: first().perform("Answer"),
        lambda: first().perform("MuteCall"),
        lambda: first().perform("StartCallRecording"),
        lambda: first().perform("AttachUserData", userData={"x": 1}),
        lambda: first().perform("SendDtmf", digits="12"),
        lambda: first().perform("InitiateTransfer", destination={"phoneNumber": "15001"}),
        lambda: b.calls[0].perform("Answer"),
        lambda: a.perform(first().id, "SwapCalls"),
        lambda: a.perform(first().id, "SwapCalls"),
        lambda: a.perform(first().consult.id, "CompleteConference"),  # type: ignore[union-attr]
        lambda: first().perform("SingleStepConference", destination={"phoneNumber": "15002"}),
        lambda: c.calls[0].perform("Answer"),
        lambda: first().perform("RemoveParticipantFromConference", participant="15002"),
        lambda: c.dial(OTHER),
        lambda: switch.external_answer(c.calls[0]),
        lambda: c.calls[0].perform("InitiateConference", destination={"phoneNumber": "15003"}),
        lambda: switch.external_hangup(OTHER),
        lambda: first().perform("SingleStepTransfer", destination={"phoneNumber": "15002"}),
        lambda: switch.external_call(OTHER, to="15001"),
        lambda: switch.external_busy(c.dial("+14155550199")),
    ]


def test_every_kind_of_request_is_undone_when_its_line_cannot_be_written(
    tmp_path: Path,
) -> None:
    switch = Switch(seed=12, log=tmp_path / "0.log")
    for dn in ("15000", "15001", "15002"):
        switch.add_device(dn, features=["mute", "recording"])
    projection = Projection()
    switch.subscribe(projection)
    seen: list[CallEvent] = []
    switch.subscribe(seen.append)
    steps = busy_day(switch)
    undone = 0
    for number, step in enumerate(steps, start=1):
        before, events = fingerprint(switch, projection), len(seen)
        with mock.patch.object(LogWriter, "request", side_effect=OSError(27, "File too large")):
            refused: LogWriteError | None = None
            try:
                step()
            except LogWriteError as error:
                refused = error
        if refused is not None:
            assert "nothing was changed" in str(refused)
            undone += 1
        assert fingerprint(switch, projection) == before, f"step {number} left a trace"
        assert len(seen) == events, f"step {number} emitted events"
        switch.write_log(tmp_path / f"{number}.log")  # a new log: requests are taken again
        step()
    assert undone >= len(steps) - 1  # every step but those the faces do in two requests
    # ids drawn by undone requests are drawn again: the last log restores to the live switch
    switch.close_log()
    restored, _ = Switch.restore(tmp_path / "0.log")
    assert [d.dn for d in restored.devices] == ["15000", "15001", "15002"]


def test_an_undone_request_hands_out_the_same_ids_again(tmp_path: Path) -> None:
    switch = Switch(seed=3, log=tmp_path / "a.log")
    phone = switch.add_device("15000")
    with (
        mock.patch.object(LogWriter, "request", side_effect=OSError(28, "No space")),
        pytest.raises(LogWriteError),
    ):
        phone.dial(CUSTOMER)
    assert phone.calls == ()
    switch.write_log(tmp_path / "b.log")
    call = phone.dial(CUSTOMER)
    twin = Switch(seed=3)
    assert call.id == twin.add_device("15000").dial(CUSTOMER).id
    switch.close_log()
    (entry,) = LogReader.read(tmp_path / "b.log").entries
    assert entry.events[0].call.id == call.id
