"""One error hierarchy for every refused request.

Each error names the call, its state and the operation, and carries the GWS ``statusCode``
(spec §1) that an HTTP front end would answer with. A request that raises changed nothing:
no leg moved and no event was emitted.
"""

from __future__ import annotations

from typing import ClassVar

from .enums import State

__all__ = [
    "CallNotFoundError",
    "CallStateError",
    "DeviceBusyError",
    "DeviceNotFoundError",
    "InvalidParameterError",
    "LogWriteError",
    "MissingParameterError",
    "NotPermittedError",
    "OperationNotAvailableError",
    "UnknownOperationError",
    "shown",
]


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters; never fails (some values
    cannot be shown: a 5,000-digit integer, an object whose ``__repr__`` raises)."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CallStateError(Exception):
    """Base of every refusal. ``status_code`` is the GWS return code (never 0)."""

    status_code: ClassVar[int] = 4

    def __init__(
        self,
        reason: str,
        *,
        call_id: str | None = None,
        state: State | None = None,
        operation: str | None = None,
        device: str | None = None,
    ) -> None:
        self.reason = reason
        self.call_id = call_id if call_id is None or type(call_id) is str else shown(call_id)
        self.state = state
        self.operation = (
            operation if operation is None or isinstance(operation, str) else shown(operation)
        )
        #: the device a device-level request was posted to (its DN)
        self.device = device
        super().__init__(self.status_message)

    @property
    def status_message(self) -> str:
        """The GWS ``statusMessage``: operation, call (or device) and state, then the reason."""
        what = self.operation or "request"
        where = f" on call {self.call_id}" if self.call_id else ""
        if not where and self.device:
            where = f" on device {self.device}"
        state = f" ({self.state})" if self.state else ""
        return f"{what}{where}{state}: {self.reason}"


class UnknownOperationError(CallStateError):
    """The ``operationName`` is not a GWS voice operation."""

    status_code = 1


class MissingParameterError(CallStateError):
    """A required parameter was not given."""

    status_code = 1


class InvalidParameterError(CallStateError, ValueError):
    """A parameter is malformed or does not fit the call as it is now. Also raised for a bad
    argument to a constructor or a setup call (a ``ValueError`` too, as those raised before)."""

    status_code = 2


class OperationNotAvailableError(CallStateError):
    """The operation is not in the call's ``capabilities`` right now."""

    status_code = 2


class NotPermittedError(CallStateError):
    """The user's role does not allow the operation (an agent trying to supervise)."""

    status_code = 5


class DeviceBusyError(CallStateError):
    """A far-end call to a device that cannot take it (do-not-disturb) [ours: statusCode 2]."""

    status_code = 2


class CallNotFoundError(CallStateError):
    """No such call for this user: unknown, released, or someone else's (indistinguishable)."""

    status_code = 6


class DeviceNotFoundError(CallStateError):
    """No device with that DN on the switch."""

    status_code = 6


class LogWriteError(CallStateError):
    """The event log could not keep a request (a full disk, a file too large, ...).

    The log is fail-stop: the request that met it changed nothing (it is undone, and its events
    are not delivered), and from then on the switch refuses every request with this error until
    the log is opened again (``Switch.write_log``) or closed (``Switch.close_log``). The log thus
    holds every request the switch made, and a restore gives the state the switch has.
    """

    status_code = 4
