"""The request surface is typed: operation names are the enums or their exact strings, so a
misspelled literal is a type error in user code under ``mypy --strict``."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from callstate import AgentState, DeviceOperation, Operation
from callstate.enums import DeviceOperationName, OperationName

USER_CODE = """\
from callstate import Operation, Switch

switch = Switch(seed=1)
device = switch.add_device("15000")
call = device.dial("15001")
device.perform(call.id, "Answer")
device.perform(call.id, Operation.HOLD)
call.perform("Retrieve")
device.operate("Ready")
device.operate("DoNotDisturbOn")
device.perform(call.id, "Anwser")
device.operate("Raedy")
"""


def test_the_literal_names_are_the_enums() -> None:
    assert list(typing.get_args(OperationName)) == [op.value for op in Operation]
    names = [op.value for op in DeviceOperation] + [state.value for state in AgentState]
    assert list(typing.get_args(DeviceOperationName)) == names


def test_mypy_rejects_misspelled_names_and_only_them(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    path = tmp_path / "user_code.py"
    path.write_text(USER_CODE)
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, (out, err)
    assert [line.split(":")[1] for line in errors] == ["11", "12"], out
    assert "Anwser" in errors[0]
    assert "Raedy" in errors[1]
