"""Device-level requests: agent state, do-not-disturb, forwarding and supervision.

One handler per operation, over the engine's ``set_device``; the checks (name, role,
capabilities, parameters) are done before, in ``requests.operate``. A device operation is
offered when ``table.DEVICE_ROWS`` says so for the device's context, like a call operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from .engine import Engine, Line
from .enums import AgentState, DeviceOperation, MonitoringMode, SupervisionMode, SupervisionScope
from .errors import InvalidParameterError
from .events import Supervision
from .params import Params

__all__ = ["DEVICE_OPERATIONS", "set_agent_state"]

D = DeviceOperation
Handler = Callable[[Engine, Line, Params], None]


def set_agent_state(engine: Engine, line: Line, state: AgentState) -> None:
    """Ready, NotReady, AfterCallWork, AuxWork: always available [doc]. Setting the state the
    agent is already in still tells it (GWS answers every request with a message)."""
    engine.set_device(line, user_state=state)


def _do_not_disturb(value: bool) -> Handler:
    def handler(engine: Engine, line: Line, params: Params) -> None:
        engine.set_device(line, do_not_disturb=value)

    return handler


def _forward_on(engine: Engine, line: Line, params: Params) -> None:
    assert params.forward_to is not None
    if params.forward_to == line.dn:
        raise InvalidParameterError(
            "parameter 'forwardTo' is this device", operation=D.FORWARD_CALLS_ON, device=line.dn
        )
    engine.set_device(line, forward_to=params.forward_to)


def _forward_off(engine: Engine, line: Line, params: Params) -> None:
    engine.set_device(line, forward_to=None)


def _target(engine: Engine, line: Line, uri: str, op: DeviceOperation) -> Line:
    """The device a ``targetDeviceUri`` names: by the id its URI ends with (any host: the
    documented sample posts ``localhost``), or a DN."""
    last = uri.rstrip("/").rsplit("/", 1)[-1]
    for candidate in engine.lines.values():
        if last in (candidate.id, candidate.dn):
            if candidate is line:
                break
            return candidate
    raise InvalidParameterError(
        f"parameter 'targetDeviceUri': {uri} names no other device of this switch",
        operation=op,
        device=line.dn,
    )


def _supervise(mode: SupervisionMode, op: DeviceOperation) -> Handler:
    def handler(engine: Engine, line: Line, params: Params) -> None:
        assert params.target_device_uri is not None
        target = _target(engine, line, params.target_device_uri, op)
        watch = Supervision(
            mode,
            params.scope or SupervisionScope.CALL,
            params.mode or MonitoringMode.ALL_CALLS,
            target.dn,
            target.id,
        )
        engine.supervision.supervise(line, watch)

    return handler


def _cancel(engine: Engine, line: Line, params: Params) -> None:
    engine.supervision.supervise(line, None)


DEVICE_OPERATIONS: Final[Mapping[DeviceOperation, Handler]] = {
    D.DO_NOT_DISTURB_ON: _do_not_disturb(True),
    D.DO_NOT_DISTURB_OFF: _do_not_disturb(False),
    D.FORWARD_CALLS_ON: _forward_on,
    D.FORWARD_CALLS_OFF: _forward_off,
    D.LISTEN_IN: _supervise(SupervisionMode.LISTEN_IN, D.LISTEN_IN),
    D.COACH: _supervise(SupervisionMode.COACH, D.COACH),
    D.BARGE_IN: _supervise(SupervisionMode.BARGE_IN, D.BARGE_IN),
    D.CANCEL_SUPERVISOR_MONITORING: _cancel,
}
