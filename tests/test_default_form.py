"""One default call resource form everywhere: ``DEFAULT_FORM`` (GWS 8.5.0's)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callstate import DEFAULT_FORM, Projection, Switch, User
from callstate.api import Api
from callstate.cli import main
from callstate.log import LogReader, replay
from callstate.scenario import run
from callstate.server import create_app


def test_the_default_is_the_8_5_0_form() -> None:
    assert DEFAULT_FORM == "8.5.0"
    switch = Switch(seed=1)
    projection = Projection()
    switch.subscribe(projection)
    alice = switch.add_device("15000")
    switch.add_device("15001")
    call = alice.dial("15001")
    resource = projection.get_call(User.agent("15000"), call.id)["call"]
    assert resource["participants"] == ["15001"]
    assert "participantsInfo" in resource
    assert "ani" in resource


def test_replay_prints_the_default_form(tmp_path: Path) -> None:
    path = tmp_path / "calls.log"
    switch = Switch(seed=1, log=path)
    alice = switch.add_device("15000")
    switch.add_device("15001")
    call = alice.dial("15001")
    switch.close_log()
    replayed = replay(LogReader.read(path))
    assert replayed.get_call(User.admin(), call.id)["call"]["participants"] == ["15001"]


@pytest.mark.parametrize("entry", [Projection.__init__, run, Api.from_config, create_app])
def test_every_entry_point_defaults_to_it(entry: Callable[..., Any]) -> None:
    assert inspect.signature(entry).parameters["form"].default == DEFAULT_FORM


@pytest.mark.parametrize("command", ["run", "replay", "serve"])
def test_every_command_defaults_to_it(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"call resource form (default: {DEFAULT_FORM})" in shown
