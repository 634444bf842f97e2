"""The simulator's admin: a reset of the whole switch, and a call cleared in any state.

On the switch (``Switch.reset``, ``Switch.clear_call``), through the API (``POST
/simulator/reset``, ``POST /simulator/calls/{id}``), in the event log (restored and replayed to the
same state), and as scenario steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_api import CONFIG, Client, as_, dial

from callstate import Projection, Switch
from callstate.api import Api
from callstate.config import load
from callstate.errors import CallNotFoundError, LogWriteError
from callstate.events import DeviceStateChanged, StateChanged
from callstate.log import replay
from callstate.projection import User
from callstate.scenario import read, run

OUTSIDE = "+14155550100"


def busy_switch(log: Path | None = None) -> Switch:
    """Calls in every state, a consult pair, a supervised call, and devices changed from how
    they were added."""
    switch = Switch(seed=7, log=log)
    for dn in ("15000", "15001", "15002", "15003"):
        switch.add_device(dn)
    switch.add_device("15009", role="supervisor")
    boss, agent = switch.device("15009"), switch.device("15001")
    boss.operate("ListenIn", targetDeviceUri=agent.id)
    switch.device("15000").dial("15001")  # Dialing / Ringing
    (ringing,) = agent.calls
    ringing.perform("Answer")  # Established, joined by the supervisor
    boss.calls[0].perform("Answer")
    ringing.perform("InitiateTransfer", destination={"phoneNumber": "15002"})  # Held + consult
    switch.external_call(OUTSIDE, to="15003")  # an outside caller rings
    switch.device("15000").operate("Ready")
    switch.device("15002").operate("DoNotDisturbOn")
    switch.device("15003").operate("ForwardCallsOn", forwardTo="15000")
    return switch


def legs(switch: Switch) -> list[tuple[Any, ...]]:
    return [
        (c.id, c.device.dn, c.state, c.participants, tuple(c.capabilities)) for c in switch.calls
    ]


def device_states(switch: Switch) -> list[tuple[str, str, bool, str | None, object]]:
    return [
        (d.dn, d.snapshot().user_state, d.snapshot().do_not_disturb, d.snapshot().forward_to,
         d.snapshot().supervision)
        for d in switch.devices
    ]  # fmt: skip


def test_a_reset_releases_every_call_and_puts_every_device_back() -> None:
    switch = busy_switch()
    live = {c.id: c.device.dn for c in switch.calls}
    assert {c.state for c in switch.calls} >= {"Established", "Held", "Dialing", "Ringing"}
    events: list[Any] = []
    switch.subscribe(events.append)
    switch.reset()
    assert switch.calls == ()
    released = {e.call.id: e.call.device for e in events if isinstance(e, StateChanged)}
    assert {i: dn for i, dn in released.items() if i in live} == live  # each told, on its device
    assert all(e.call.state == "Released" for e in events if isinstance(e, StateChanged))
    assert device_states(switch) == [(dn, "NotReady", False, None, None) for dn in
                                     ("15000", "15001", "15002", "15003", "15009")]  # fmt: skip
    changed = [e.device.device for e in events if isinstance(e, DeviceStateChanged)]
    assert sorted(changed) == ["15000", "15002", "15003", "15009"]  # 15001 was already so
    # the switch goes on: ids keep growing, calls work as before
    before = max(live)
    call = switch.device("15000").dial("15001")
    assert call.id > before
    assert call.state == "Dialing"


def test_a_reset_of_a_quiet_switch_tells_nothing() -> None:
    switch = Switch(seed=1)
    switch.add_device("15000")
    events: list[Any] = []
    switch.subscribe(events.append)
    switch.reset()
    assert events == []


@pytest.mark.parametrize("state", ["Ringing", "Dialing", "Established", "Held"])
def test_an_admin_clears_a_call_in_any_state(state: str) -> None:
    switch = Switch(seed=3)
    for dn in ("15000", "15001"):
        switch.add_device(dn)
    placed = switch.device("15000").dial("15001")
    (offered,) = switch.device("15001").calls
    if state in ("Established", "Held"):
        offered.perform("Answer")
        if state == "Held":
            offered.perform("Hold")
    target = {"Ringing": offered, "Dialing": placed}.get(state, offered)
    assert target.state == state
    events: list[Any] = []
    switch.subscribe(events.append)
    cleared = switch.clear_call(target.id)
    assert cleared.state == "Released"
    assert switch.calls == ()
    assert sorted((e.call.device, e.call.state) for e in events) == [
        ("15000", "Released"),
        ("15001", "Released"),
    ]


def test_clearing_one_call_leaves_the_others_and_a_supervisor_leg_stands_for_its_call() -> None:
    switch = busy_switch()
    boss_leg = switch.device("15009").calls[0]
    monitored = set(boss_leg.participants)
    switch.clear_call(boss_leg)  # the monitored call, its parties and the supervisor
    left = {(c.device.dn, c.state) for c in switch.calls}
    assert ("15009", "Established") not in left
    assert monitored & {dn for dn, _ in left} <= {"15001"}  # 15001's consult lives on
    assert ("15003", "Ringing") in left  # the outside caller's call is another call


def test_an_unknown_or_ended_call_is_not_found_and_nothing_happens() -> None:
    switch = Switch(seed=3)
    for dn in ("15000", "15001"):
        switch.add_device(dn)
    placed = switch.device("15000").dial("15001")
    switch.clear_call(placed)
    other = Switch(seed=3)
    for dn in ("15000", "15001"):
        other.add_device(dn)
    twin = other.device("15000").dial("15001")  # same id, another switch
    events: list[Any] = []
    switch.subscribe(events.append)
    for call in ("nope", placed.id, placed, twin, 5):
        with pytest.raises(CallNotFoundError) as refused:
            switch.clear_call(call)  # type: ignore[arg-type]
        assert refused.value.status_code == 6
    assert events == []
    assert twin.state == "Dialing"


# -- the event log ------------------------------------------------------------------------------
def calls_view(projection: Projection) -> Any:
    return projection.get_calls(User.admin())


def test_restore_and_replay_after_reset_and_clear_give_the_same_state(tmp_path: Path) -> None:
    log = tmp_path / "switch.log"
    switch = busy_switch(log)
    projection = Projection(form="8.5.2")
    for device in switch.devices:
        projection.know(device.snapshot())
    switch.subscribe(projection)
    switch.clear_call(switch.device("15003").calls[0])  # a Ringing call cleared
    switch.reset()
    switch.device("15000").dial("15001")
    switch.device("15002").operate("AuxWork")
    switch.clear_call(switch.device("15001").calls[0])
    switch.device("15003").dial("15002")
    switch.close_log()
    restored, reader = Switch.restore(log)
    assert legs(restored) == legs(switch)
    assert device_states(restored) == device_states(switch)
    ops = [entry.request["op"] for entry in reader.entries]
    assert ops.count("reset") == 1
    assert ops.count("clear_call") == 2
    assert calls_view(replay(reader, "8.5.2")) == calls_view(projection)
    shown = subprocess.run(
        [sys.executable, "-m", "callstate", "replay", str(log), "--format", "8.5.2"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(shown) == calls_view(projection)


def test_a_refused_clear_or_reset_writes_no_line_and_a_reset_that_cannot_be_logged_did_not_happen(
    tmp_path: Path,
) -> None:
    log = tmp_path / "switch.log"
    switch = busy_switch(log)
    size = log.stat().st_size
    with pytest.raises(CallNotFoundError):
        switch.clear_call("nope")
    assert log.stat().st_size == size
    states = legs(switch)

    class Refusing:
        failure = None

        def request(self, *_: object) -> None:
            raise OSError("disk full")

        def recover(self) -> bool:
            return True

    switch.record(Refusing())
    with pytest.raises(LogWriteError):
        switch.reset()
    assert legs(switch) == states  # undone whole


# -- the API ------------------------------------------------------------------------------------
@pytest.fixture
def api() -> Api:
    return Api.from_config(load(CONFIG), seed=1, form="8.5.2")


def test_post_reset_as_admin_clears_calls_and_devices(api: Api) -> None:
    dial(api)
    as_(api, "agent2")("POST", "/api/v2/me/channels/voice", {"operationName": "Ready"})
    events: list[Any] = []
    api.switch.subscribe(events.append)
    admin = as_(api, "admin")
    assert admin("POST", "/simulator/reset") == (200, {"statusCode": 0})
    assert api.switch.calls == ()
    assert admin("GET", "/api/v2/me/calls") == (200, {"statusCode": 0, "calls": []})
    assert api.switch.device("15001").snapshot().user_state == "NotReady"
    assert len(events) == 3  # two legs released, one device back to NotReady
    assert admin("POST", "/simulator/reset", {}) == (200, {"statusCode": 0})


@pytest.mark.parametrize(
    ("user", "method", "path", "body", "status", "code"),
    [
        ("agent1", "POST", "/simulator/reset", b"", 403, 5),
        ("boss", "POST", "/simulator/reset", b"{}", 403, 5),
        ("admin", "GET", "/simulator/reset", b"", 405, 3),
        ("admin", "POST", "/simulator/reset", b"[]", 400, 1),
        ("admin", "POST", "/simulator/reset", b"{", 400, 1),
        ("admin", "POST", "/simulator/reset", b'{"all": true}', 400, 2),
        ("agent1", "POST", "/simulator/calls/CALL", b'{"operationName": "ClearCall"}', 403, 5),
        ("admin", "GET", "/simulator/calls/CALL", b"", 405, 3),
        ("admin", "POST", "/simulator/calls/nope", b'{"operationName": "ClearCall"}', 404, 6),
        ("admin", "POST", "/simulator/calls/CALL", b"", 400, 1),
        ("admin", "POST", "/simulator/calls/CALL", b"{}", 400, 1),
        ("admin", "POST", "/simulator/calls/CALL", b'{"operationName": "Hangup"}', 400, 1),
        ("admin", "POST", "/simulator/calls/CALL", b'{"operationName": 5}', 400, 1),
        ("admin", "POST", "/simulator/calls/CALL", b'{"operationName": "ClearCall", "x": 1}',
         400, 2),
        ("admin", "POST", "/simulator/calls", b'{"operationName": "ClearCall"}', 404, 6),
    ],
)  # fmt: skip
def test_refused_admin_requests_are_typed_and_change_nothing(
    api: Api, user: str, method: str, path: str, body: bytes, status: int, code: int
) -> None:
    call = dial(api)
    before = legs(api.switch)
    events: list[Any] = []
    api.switch.subscribe(events.append)
    reply = Client(api, user).raw(method, path.replace("CALL", call), body)
    answer = json.loads(reply.body)
    assert (reply.status, answer["statusCode"]) == (status, code)
    assert isinstance(answer["statusMessage"], str)
    assert answer["statusMessage"]
    assert events == []
    assert legs(api.switch) == before


def test_post_clear_call_releases_a_ringing_call_on_both_sides(api: Api) -> None:
    caller = dial(api)
    callee = api.switch.device("15001").calls[0]
    assert callee.state == "Ringing"
    admin = as_(api, "admin")
    answer = admin("POST", f"/simulator/calls/{callee.id}/", {"operationName": "ClearCall"})
    assert answer == (200, {"statusCode": 0})
    assert api.switch.calls == ()
    assert as_(api, "agent1")("GET", f"/api/v2/me/calls/{caller}")[0] == 404
    again = admin("POST", f"/simulator/calls/{callee.id}", {"operationName": "ClearCall"})
    assert again[0] == 404


# -- scenarios ----------------------------------------------------------------------------------
def test_scenario_reset_and_clear_steps() -> None:
    scenario = {
        "devices": [{"dn": "15000"}, {"dn": "15001"}],
        "steps": [
            {"external": OUTSIDE, "event": "Call", "to": "15000", "as": "in"},
            {"clear": "in"},
            {"clear": "in"},
            {"device": "15000", "operation": "Dial", "params": {"destination": "15001"}},
            {"device": "15001", "operation": "Ready"},
            {"reset": True},
            {"get": "/me/calls", "user": "admin"},
        ],
    }  # fmt: skip
    lines = list(run(scenario, seed=1))
    states = [(ln["device"], ln["message"]["data"].get("call", {}).get("state")) for ln in lines
              if "message" in ln]  # fmt: skip
    assert states[:2] == [("15000", "Ringing"), ("15000", "Released")]
    refused = [ln for ln in lines if "error" in ln]
    assert refused == [{"clear": "in", "error": {"statusCode": 6, "statusMessage": refused[0]
                                                 ["error"]["statusMessage"]}}]  # fmt: skip
    assert states[-3:] == [("15000", "Released"), ("15001", "Released"), ("15001", None)]
    assert lines[-1] == {"user": "admin", "response": {"statusCode": 0, "calls": []}}
    # the plain reader and the schema read the new steps alike
    text = json.dumps(scenario)
    assert read(text) == read(text.replace('"in"', '"\\u0069n"'))  # an escape: the schema


@pytest.mark.parametrize(
    "step", [{"reset": False}, {"reset": 1}, {"clear": 5}, {"reset": True, "x": 1}]
)
def test_malformed_admin_steps_are_refused_on_load(step: dict[str, Any]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        read(json.dumps({"devices": [], "steps": [step]}))
