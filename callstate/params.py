"""GWS request parameters: which each operation takes, and how each is checked.

Parameters keep their GWS names (``destination``, ``userData``, ``digits``, ``key``, ...).
Checking happens before anything changes, so a bad parameter leaves every call as it was.
Unknown parameter names are refused too: a typo must not pass silently.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple

from .enums import DeviceOperation, MonitoringMode, Operation, SupervisionScope
from .errors import InvalidParameterError, MissingParameterError, shown
from .events import UserData
from .numbers import parse_number

__all__ = [
    "MAX_DTMF",
    "MAX_TEXT",
    "MAX_USER_DATA_KEY",
    "MAX_USER_DATA_PAIRS",
    "MAX_USER_DATA_TEXT",
    "NO_PARAMS",
    "PARAMETERS",
    "Params",
    "check_params",
    "closest",
    "did_you_mean",
]

O = Operation
_DESTINATION = ("destination",)
_DESTINATION_OPTIONAL = ("userData", "location")

D = DeviceOperation
_SUPERVISE = (("targetDeviceUri",), ("supervisorMonitoringScope", "supervisorMonitoringMode"))

#: operation (call or device) -> (required parameter names, optional parameter names)
PARAMETERS: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    O.SET_CALL_DISPOSITION: (("disposition",), ("dispositionKey", "callUri", "callUuid")),
    D.FORWARD_CALLS_ON: (("forwardTo",), ()),
    D.LISTEN_IN: _SUPERVISE,
    D.COACH: _SUPERVISE,
    D.BARGE_IN: _SUPERVISE,
    O.DIAL: (_DESTINATION, _DESTINATION_OPTIONAL),
    O.SEND_DTMF: (("digits",), ()),
    O.SINGLE_STEP_TRANSFER: (_DESTINATION, _DESTINATION_OPTIONAL),
    O.SINGLE_STEP_CONFERENCE: (_DESTINATION, _DESTINATION_OPTIONAL),
    O.INITIATE_TRANSFER: (_DESTINATION, _DESTINATION_OPTIONAL),
    O.INITIATE_CONFERENCE: (_DESTINATION, _DESTINATION_OPTIONAL),
    O.COMPLETE_TRANSFER: ((), ("consultCallUri",)),
    O.COMPLETE_CONFERENCE: ((), ("consultCallUri",)),
    O.SWAP_CALLS: ((), ("otherCallUri",)),
    O.REMOVE_PARTICIPANT_FROM_CONFERENCE: (("participant",), ()),
    O.ATTACH_USER_DATA: (("userData",), ()),
    O.UPDATE_USER_DATA: (("userData",), ()),
    O.DELETE_USER_DATA_PAIR: (("key",), ()),
}

_DTMF = re.compile(r"[0-9*#]+")
#: bounds on attached data: keys per request, characters per key and per string value
#: (integer values are 64-bit)
MAX_USER_DATA_PAIRS: Final = 1000
MAX_USER_DATA_KEY: Final = 256
MAX_USER_DATA_TEXT: Final = 65536
#: bounds on the other text parameters (a key, a location, a URI) and on DTMF digits per request
MAX_TEXT: Final = 2048
MAX_DTMF: Final = 256


class Params(NamedTuple):
    """Checked parameters of one request (``None``: not given)."""

    destination: str | None = None
    user_data: UserData | None = None
    digits: str | None = None
    key: str | None = None
    location: str | None = None
    consult_call_uri: str | None = None
    other_call_uri: str | None = None
    participant: str | None = None
    forward_to: str | None = None
    target_device_uri: str | None = None
    scope: SupervisionScope | None = None
    mode: MonitoringMode | None = None
    disposition: str | None = None
    disposition_key: str | None = None
    call_uri: str | None = None
    call_uuid: str | None = None


def _destination(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) == {"phoneNumber"}:
        number = value["phoneNumber"]
        if parse_number(number) is not None:
            return str(number)
        raise ValueError(
            f"{shown(number)} is neither a DN (digits only) nor a +country_code number"
        )
    raise ValueError('must be an object {"phoneNumber": NUMBER}')


def _user_data(value: Any) -> UserData:
    if not isinstance(value, Mapping):
        raise ValueError("must be a JSON object")
    if len(value) > MAX_USER_DATA_PAIRS:
        raise ValueError(f"holds at most {MAX_USER_DATA_PAIRS} keys, not {len(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_USER_DATA_KEY:
            raise ValueError(
                f"keys must be strings of 1 to {MAX_USER_DATA_KEY} characters, not {shown(key)}"
            )
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise ValueError(f"value of {key!r} must be a string or an integer")
        if isinstance(item, str) and len(item) > MAX_USER_DATA_TEXT:
            raise ValueError(f"value of {key!r} is over {MAX_USER_DATA_TEXT} characters")
        if isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise ValueError(f"value of {key!r} is beyond a 64-bit integer")
    return tuple(value.items())


def _digits(value: Any) -> str:
    if isinstance(value, str) and len(value) <= MAX_DTMF and _DTMF.fullmatch(value):
        return value
    raise ValueError(f"must be 1 to {MAX_DTMF} DTMF digits: 0-9, * and # only")


def _text(value: Any) -> str:
    if isinstance(value, str) and 0 < len(value) <= MAX_TEXT:
        return value
    raise ValueError(f"must be a string of 1 to {MAX_TEXT} characters")


def _number(value: Any) -> str:
    if parse_number(value) is None:
        raise ValueError(f"{shown(value)} is not a phone number")
    return str(value)


def _scope(value: Any) -> SupervisionScope:
    if value in ("Call", "Agent"):
        return SupervisionScope(value)
    raise ValueError("must be 'Call' or 'Agent'")


def _mode(value: Any) -> MonitoringMode:
    if value in ("NextCall", "AllCalls"):
        return MonitoringMode(value)
    raise ValueError("must be 'NextCall' or 'AllCalls'")


_CHECKS: Final[Mapping[str, tuple[str, Callable[[Any], Any]]]] = {
    "destination": ("destination", _destination),
    "userData": ("user_data", _user_data),
    "digits": ("digits", _digits),
    "key": ("key", _text),
    "location": ("location", _text),
    "consultCallUri": ("consult_call_uri", _text),
    "otherCallUri": ("other_call_uri", _text),
    "participant": ("participant", _number),
    "forwardTo": ("forward_to", _number),
    "targetDeviceUri": ("target_device_uri", _text),
    "supervisorMonitoringScope": ("scope", _scope),
    "supervisorMonitoringMode": ("mode", _mode),
    "disposition": ("disposition", _text),
    "dispositionKey": ("disposition_key", _text),
    "callUri": ("call_uri", _text),
    "callUuid": ("call_uuid", _text),
}

#: the parameters of a request that gave none
NO_PARAMS: Final = Params()


def closest(name: object, known: Iterable[str]) -> str | None:
    """The known name ``name`` looks like a typo of, if any."""
    if not isinstance(name, str) or len(name) > MAX_TEXT:
        return None
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return close[0] if close else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``", did you mean 'X'?"`` when ``name`` looks like a typo of a known name, else ``""``."""
    close = closest(name, known)
    return f", did you mean {close!r}?" if close else ""


def check_params(
    operation: str,
    given: Mapping[str, Any],
    *,
    call_id: str | None = None,
    state: Any = None,
    device: str | None = None,
) -> Params:
    """Check ``given`` against what ``operation`` takes; raise a ``CallStateError`` if it is bad
    (naming the call and its state, or the device, given here)."""
    required, optional = PARAMETERS.get(operation, ((), ()))
    if not given and not required:
        return NO_PARAMS
    where = {"call_id": call_id, "state": state, "operation": str(operation), "device": device}
    for name in required:
        if name not in given:
            strays = [g for g in given if isinstance(g, str) and g not in required + optional]
            close = [g for g in strays if did_you_mean(g, (name,))]
            hint = f" (given {close[0]!r}: a typo?)" if close else ""
            raise MissingParameterError(f"parameter {name!r} is required{hint}", **where)
    checked: dict[str, Any] = {}
    for name, value in given.items():
        if name not in required and name not in optional:
            takes = ", ".join(required + optional) or "no parameters"
            hint = did_you_mean(name, required + optional) if isinstance(name, str) else ""
            raise InvalidParameterError(
                f"unknown parameter {name!r}{hint} (takes: {takes})", **where
            )
        field, check = _CHECKS[name]
        try:
            checked[field] = check(value)
        except (ValueError, OverflowError) as err:
            raise InvalidParameterError(f"parameter {name!r} {err}", **where) from None
    return Params(**checked)
