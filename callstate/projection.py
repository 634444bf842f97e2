"""The read-only projection: events in, Calls API JSON out.

A ``Projection`` is a subscriber. It keeps the latest snapshot of every live leg, taken only
from events (it never looks at a ``Call``), and answers the two GETs and the CometD message of
each event for a given user. Released legs leave the list once their Released event is in.

Visibility (spec §1): an admin sees every call; an agent sees only the legs on its own device.
A call the user may not see answers exactly like one that does not exist (``statusCode`` 6),
so other agents' call ids cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from .enums import NotificationType, State
from .events import CallEvent, CallSnapshot
from .models import (
    CallResource,
    CallResponse,
    CallsResponse,
    Country,
    ErrorResponse,
    LegacyCallResource,
    Notification,
    NotificationData,
    Participant,
    ParticipantInfo,
    dump,
)
from .numbers import cached, facts

__all__ = ["FORMS", "Form", "Projection", "Role", "User"]

Form = Literal["8.5.0", "8.5.2"]
FORMS: Final[tuple[Form, ...]] = ("8.5.0", "8.5.2")

#: notifications that GWS prints without ``extensions``
_NO_EXTENSIONS: Final = frozenset(
    {NotificationType.ATTACHED_DATA_CHANGED, NotificationType.CALL_RECORDING_STATE_CHANGE}
)


class Role(StrEnum):
    """GWS roles that decide what ``GET /me/calls`` shows."""

    AGENT = "agent"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    """Who is asking: an agent on device ``dn``, or an admin (Contact Center Admin)."""

    role: Role
    dn: str | None = None

    @classmethod
    def admin(cls) -> User:
        return cls(Role.ADMIN)

    @classmethod
    def agent(cls, dn: str) -> User:
        return cls(Role.AGENT, dn)

    @classmethod
    def parse(cls, text: str) -> User:
        """``"admin"`` or an agent's DN (digits), as the CLI and scenarios write them."""
        if text == Role.ADMIN:
            return cls.admin()
        if not text.isascii() or not text.isdigit():
            raise ValueError(f"user {text!r} is neither 'admin' nor a DN (digits only)")
        return cls.agent(text)

    def sees(self, call: CallSnapshot) -> bool:
        return self.role is Role.ADMIN or call.device == self.dn


@cached
def _participant(number: str) -> Participant:
    f = facts(number)
    return Participant(
        e164Number=f.e164,
        formattedPhoneNumber=f.formatted,
        phoneNumber=f.phone_number,
        digits=f.digits,
    )


@cached
def _participant_info(number: str) -> ParticipantInfo:
    f = facts(number)
    country = Country(name=f.country_name, code=f.country_code, callingCode=f.calling_code)
    common: dict[str, Any] = {
        "country": country,
        "formattedPhoneNumber": f.formatted,
        "location": f.location,
        "E164digits": f.e164 or f.digits,
        "isValidNumber": f.is_valid,
    }
    if f.is_public:
        common["localPhoneNumber"] = f.local
    return ParticipantInfo(**common)


class Projection:
    """Calls API views of a switch, rebuilt from its events alone.

    It knows only what its events told it: subscribe it before the switch's first request (or
    rebuild one from a log with ``callstate.log.replay``). A leg that was live before it
    subscribed appears with its next event.
    """

    def __init__(self, base_uri: str = "http://127.0.0.1:8080/api/v2", form: Form = "8.5.2"):
        if form not in FORMS:
            raise ValueError(f"form is one of {FORMS}, not {form!r}")
        self.base_uri: Final = base_uri.rstrip("/")
        self.form: Final = form
        self._calls: dict[str, CallSnapshot] = {}

    # -- input ----------------------------------------------------------------------------------
    def apply(self, event: CallEvent) -> None:
        """Take one event in (a projection is a subscriber: ``switch.subscribe(projection)``)."""
        call = event.call
        if call.state is State.RELEASED:
            self._calls.pop(call.id, None)
            if not self._calls:  # an emptied dict keeps its largest table; start afresh
                self._calls = {}
        else:
            self._calls[call.id] = call

    __call__ = apply

    @property
    def snapshots(self) -> tuple[CallSnapshot, ...]:
        """Every live leg as the events last showed it, oldest first."""
        return tuple(self._calls.values())

    # -- output ---------------------------------------------------------------------------------
    def call_resource(self, call: CallSnapshot, form: Form | None = None) -> dict[str, Any]:
        """The GWS call resource of one snapshot, as a JSON object."""
        return dump(self._resource(call, form or self.form))

    def get_calls(self, user: User, form: Form | None = None) -> dict[str, Any]:
        """``GET /api/v2/me/calls`` as ``user`` sees it."""
        form = form or self.form
        calls = [self._resource(c, form) for c in self._calls.values() if user.sees(c)]
        return dump(CallsResponse(statusCode=0, calls=calls))

    def get_call(self, user: User, call_id: str, form: Form | None = None) -> dict[str, Any]:
        """``GET /api/v2/me/calls/{id}``; unknown and not-yours answer the same."""
        call = self._calls.get(call_id)
        if call is None or not user.sees(call):
            return dump(ErrorResponse(statusCode=6, statusMessage=f"call {call_id} not found"))
        return dump(CallResponse(statusCode=0, call=self._resource(call, form or self.form)))

    def notification(
        self, event: CallEvent, user: User | None = None, form: Form | None = None
    ) -> dict[str, Any] | None:
        """The CometD message for ``event``; ``None`` if ``user`` (default: the leg's agent)
        may not see it."""
        call = event.call
        if user is not None and not user.sees(call):
            return None
        kind = event.notification_type
        data: dict[str, Any] = {
            "notificationType": kind.value,
            "call": self._resource(call, form or self.form),
            "phoneNumber": call.device,
            "messageType": "CallStateChangeMessage",
        }
        if kind not in _NO_EXTENSIONS:
            data["extensions"] = {"BusinessCall": 0}
        return dump(Notification(data=NotificationData(**data), channel="/v2/me/calls"))

    def _resource(self, call: CallSnapshot, form: Form) -> CallResource | LegacyCallResource:
        base = self.base_uri
        fields: dict[str, Any] = {
            "id": call.id,
            "state": call.state.value,
            "callUuid": call.id,
            "connId": call.conn_id,
            "deviceUri": f"{base}/devices/{call.device_id}",
            "uri": f"{base}/me/calls/{call.id}",
            "dnis": call.dnis,
            "callType": call.call_type.value,
            "capabilities": [c.value for c in call.capabilities],
            "duration": str(call.duration),
            "mute": call.mute.value,
            "supervisorListeningIn": False,
            "monitoredUserMuted": False,
        }
        if call.user_data:
            fields["userData"] = dict(call.user_data)
        if call.recording is not None:
            fields["recordingState"] = call.recording.value
        if call.parent_id is not None:
            fields["parentCallUri"] = f"{base}/me/calls/{call.parent_id}"
            fields["parentCallPath"] = f"/calls/{call.parent_id}"
        if form == "8.5.2":
            return CallResource(
                participants=[_participant(p) for p in call.participants],
                monitoring=False,
                path=f"/calls/{call.id}",
                **fields,
            )
        return LegacyCallResource(
            participants=list(call.participants),
            participantsInfo=[_participant_info(p) for p in call.participants],
            ani=call.ani,
            **fields,
        )
