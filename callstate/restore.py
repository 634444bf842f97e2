"""Restoring a switch from its log (see ``callstate.log`` for the format)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .call import Call
from .errors import CallStateError
from .events import CallEvent
from .log import LogError, LogReader, check_replayed, refused
from .switch import ManualClock

if TYPE_CHECKING:
    from .switch import Switch

__all__ = ["restore"]


def restore(
    switch_class: type[Switch],
    source: str | Path,
    *,
    clock: Callable[[], float] | None = None,
    resume_log: bool = False,
) -> tuple[Switch, LogReader]:
    """See ``Switch.restore``."""
    reader = LogReader.read(source)
    header = reader.header
    replay_clock = ManualClock()
    if header:
        switch = switch_class(header["base_uri"], header["seed"], clock=replay_clock)
        switch._ids.restore(header["ids"])
    else:  # cut inside its header: nothing had happened yet
        switch = switch_class(clock=replay_clock)
    produced: list[CallEvent] = []
    with switch.subscribe(produced.append):
        for entry in reader.entries:
            replay_clock.now = entry.at
            produced.clear()
            try:
                _apply(switch, entry.request)
            except CallStateError as error:
                raise refused(entry, error) from None
            except (KeyError, TypeError, ValueError) as error:
                raise LogError(entry.line, f"not a request this switch knows: {error!r}") from None
            check_replayed(entry, produced)
    switch._clock = clock or time.time
    if resume_log:
        if reader.cut_line is not None:
            with open(source, "rb+") as file:
                file.truncate(file.seek(0, 2) - reader.cut_bytes)
        switch.write_log(source, append=bool(header))
    return switch, reader


def _apply(switch: Switch, request: Mapping[str, Any]) -> None:
    """Run one logged request again."""
    op = request["op"]
    if op == "add_device":
        switch.add_device(request["dn"], features=request["features"], _device_id=request["id"])
    elif op == "dial":
        params = dict(request["params"])
        switch.device(request["device"]).dial(params.pop("destination"), **params)
    elif op == "perform":
        device = switch.device(request["device"])
        device.perform(request["call"], request["operation"], **request["params"])
    elif op == "external_call":
        switch.external_call(request["number"], to=request["to"], user_data=request["userData"])
    else:
        party = request["party"]
        target: str | Call = party if isinstance(party, str) else switch.call(party["call"])
        far_end = {
            "external_answer": switch.external_answer,
            "external_busy": switch.external_busy,
            "external_hangup": switch.external_hangup,
        }[op]
        far_end(target, to=request["to"])
