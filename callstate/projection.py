"""The read-only projection: events in, Calls API JSON out.

A ``Projection`` is a subscriber. It keeps the latest snapshot of every live leg, taken only
from events (it never looks at a ``Call``), and answers the two GETs and the CometD message of
each event for a given user. Released legs leave the list once their Released event is in.

Visibility (spec §1): an admin sees every call; an agent sees only the legs on its own device.
A call the user may not see answers exactly like one that does not exist (``statusCode`` 6),
so other agents' call ids cannot be probed.

Two kinds of answer: the ``*_json`` methods return the exact bytes of the HTTP/CometD body (what
a server sends), the others a fresh JSON object (dicts and lists the caller owns). Both are
built directly, in the key order of the pydantic models in ``callstate.models`` (which define
and document the shapes, and check these in the tests), without validating through pydantic.

Why it stays fast with many live calls:

* legs are indexed by device, so an agent's list costs its own calls, not everybody's; an
  agent's list is the admin's (oldest first by first appearance) filtered to its device;
* each leg's encoded resource (per form) is built on first need and kept until the leg's next
  event, so ``GET /me/calls`` joins ready bytes. Bytes are not tracked by the garbage
  collector and the caches are ``dict[str, bytes]`` (dicts of atomic values are untracked
  too): the projection adds no GC-tracked object per live leg, and a full ``gc.collect()``
  with 100,000 live legs costs what the core's own objects cost;
* a notification is encoded once per (event, form) however many users ask for it, in a small
  cache keyed by the event's identity (holding the event, so a reused ``id`` cannot match).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from . import cometd
from .device_view import channel_message, device_message, device_resource
from .enums import NotificationType, State
from .errors import InvalidParameterError, shown
from .events import CallEvent, CallSnapshot, DeviceSnapshot, DeviceStateChanged, Event
from .numbers import MAX_DN, cached, facts, formats, is_dn
from .wire import dumps

__all__ = ["DEFAULT_FORM", "FORMS", "Form", "Projection", "Role", "User"]

Form = Literal["8.5.0", "8.5.2"]
FORMS: Final[tuple[Form, ...]] = ("8.5.0", "8.5.2")
#: the form every entry point prints unless told otherwise: GWS 8.5.0's, with ``participants``
#: as numbers, ``ani`` and ``participantsInfo`` (what the documented samples show)
DEFAULT_FORM: Final[Form] = "8.5.0"

#: notifications that GWS prints without ``extensions``
_NO_EXTENSIONS: Final = frozenset(
    {NotificationType.ATTACHED_DATA_CHANGED, NotificationType.CALL_RECORDING_STATE_CHANGE}
)
#: notifications kept encoded: enough for every consumer of a burst of events to find its own
_NOTICES: Final = 64
_NO_CALLS: Final[dict[str, CallSnapshot]] = {}


class Role(StrEnum):
    """GWS roles that decide what ``GET /me/calls`` shows."""

    AGENT = "agent"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    """Who is asking: an agent on device ``dn``, or an admin (Contact Center Admin)."""

    role: Role
    dn: str | None = None

    def __post_init__(self) -> None:
        if self.role is Role.ADMIN and self.dn is None:
            return
        if self.role is Role.AGENT and is_dn(self.dn):
            return
        raise InvalidParameterError(
            f"a user is an admin, or an agent with a DN (1 to {MAX_DN} digits), "
            f"not {shown(self.role)} with {shown(self.dn)}",
            operation="User",
        )

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
        if not is_dn(text):
            raise InvalidParameterError(
                f"user {shown(text)} is neither 'admin' nor a DN (digits only)", operation="User"
            )
        return cls.agent(text)

    def sees(self, call: CallSnapshot) -> bool:
        return self.role is Role.ADMIN or call.device == self.dn


def _call_message(kind: NotificationType, call: Any, phone_number: Any) -> dict[str, Any]:
    """The CometD message of a call event (``CallStateChangeMessage``), keys in the models'
    order, around ``call`` (the leg's resource) and ``phone_number`` (its DN)."""
    data: dict[str, Any] = {
        "notificationType": kind.value,
        "call": call,
        "phoneNumber": phone_number,
        "messageType": "CallStateChangeMessage",
    }
    if kind not in _NO_EXTENSIONS:
        data["extensions"] = {"BusinessCall": 0}
    return cometd.message(cometd.CALLS, data)


def _call_frame(kind: NotificationType) -> tuple[bytes, bytes, bytes]:
    """``_call_message`` of ``kind`` encoded and cut around its two values: the message of a
    leg and its DN, both encoded, is ``before + leg + between + DN + after``."""
    holes = ("\0call", "\0phoneNumber")  # stand-ins no message holds
    encoded = dumps(_call_message(kind, *holes))
    before, rest = encoded.split(dumps(holes[0]))
    between, after = rest.split(dumps(holes[1]))
    return before, between, after


#: each kind's call message, encoded once around the leg and DN of an event
_CALL_FRAMES: Final = {kind: _call_frame(kind) for kind in NotificationType}


@cached
def _participant(number: str) -> dict[str, str]:
    """8.5.2 participant (shared: encoded as is, copied for the dict answers)."""
    f = formats(number)
    return {
        "e164Number": f.e164,
        "formattedPhoneNumber": f.formatted,
        "phoneNumber": f.phone_number,
        "digits": f.digits,
    }


@cached
def _participant_info(number: str) -> dict[str, Any]:
    """8.5.0 ``participantsInfo`` item; ``localPhoneNumber`` only for public numbers."""
    f = facts(number)
    info: dict[str, Any] = {
        "country": {"name": f.country_name, "code": f.country_code, "callingCode": f.calling_code},
        "formattedPhoneNumber": f.formatted,
        "location": f.location,
    }
    if f.is_public:
        info["localPhoneNumber"] = f.local
    info["E164digits"] = f.e164 or f.digits
    info["isValidNumber"] = f.is_valid
    return info


_RELEASED: Final = State.RELEASED


def _checked(user: object) -> User:
    if not isinstance(user, User):
        raise InvalidParameterError(f"{shown(user)} is not a User (User.admin(), User.agent(dn))")
    return user


def _event(event: object) -> CallEvent:
    if not isinstance(event, CallEvent):
        raise InvalidParameterError(f"{shown(event)} is not a CallEvent")
    return event


class Projection:
    """Calls API views of a switch, rebuilt from its events alone.

    It knows only what its events told it: subscribe it before the switch's first request (or
    rebuild one from a log with ``callstate.log.replay``). A leg that was live before it
    subscribed appears with its next event.
    """

    def __init__(self, base_uri: str = "http://127.0.0.1:8080/api/v2", form: Form = DEFAULT_FORM):
        """``base_uri``: the base of the URIs in resources (the switch's); ``form``: the call
        resource form answers use unless told otherwise (``"8.5.0"``, the default:
        ``participants`` as numbers, ``participantsInfo``, ``ani``; ``"8.5.2"``: participant
        objects, ``uri``, ``path``)."""
        if not isinstance(base_uri, str):
            raise InvalidParameterError(
                f"base_uri is a URL string, not {shown(base_uri)}", operation="Projection"
            )
        if form not in FORMS:
            raise InvalidParameterError(
                f"form is one of {FORMS}, not {shown(form)}", operation="Projection"
            )
        self.base_uri: Final = base_uri.rstrip("/")
        self.form: Final = form
        #: every live leg, oldest first (by first appearance): the admin's list
        self._calls: dict[str, CallSnapshot] = {}
        #: the same legs by device DN, each in the same order: an agent's list
        self._by_device: dict[str, dict[str, CallSnapshot]] = {}
        #: form -> leg id -> encoded resource of the leg's current snapshot
        self._encoded: dict[str, dict[str, bytes]] = {form: {} for form in FORMS}
        #: whether any encoding is kept (most events find none to forget)
        self._encodings = False
        #: (id(event), form) -> (event, encoded notification), oldest first
        self._notices: dict[tuple[int, str], tuple[Event, bytes]] = {}
        #: every device an event showed, by DN, as it last showed it
        self._devices: dict[str, DeviceSnapshot] = {}
        #: device id -> DN (ids never change)
        self._device_ids: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        """What a checkpoint keeps: the legs and devices, not the encodings (made again)."""
        state = dict(self.__dict__)
        state.update(_encoded={form: {} for form in FORMS}, _encodings=False, _notices={})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # (a checkpoint written before devices were looked up by id has no such index)
        self._device_ids = {d.device_id: dn for dn, d in self._devices.items()}

    def rebased(self, base_uri: str, form: Form) -> Projection:
        """A projection of the same legs and devices, for another ``base_uri`` or ``form``
        (the same snapshots; nothing encoded yet)."""
        other = Projection(base_uri, form)
        other._calls = dict(self._calls)
        other._by_device = {dn: dict(legs) for dn, legs in self._by_device.items()}
        other._devices = dict(self._devices)
        other._device_ids = dict(self._device_ids)
        return other

    # -- input ----------------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        """Take one event in (a projection is a subscriber: ``switch.subscribe(projection)``).

        A leg belongs to one device for its whole life (the core never moves it), so the index
        by device is kept without looking at the snapshot it replaces.
        """
        if not isinstance(event, CallEvent):
            if isinstance(event, DeviceStateChanged):
                self.know(event.device)
                return
            raise InvalidParameterError(f"{shown(event)} is not a CallEvent or DeviceEvent")
        call = event.call
        call_id = call.id
        if self._encodings:
            self._forget_encodings(call_id)
        calls, by_device, device = self._calls, self._by_device, call.device
        if call.state is _RELEASED:
            old = calls.pop(call_id, None)
            if old is not None:
                if not calls:  # an emptied dict keeps its largest table; start afresh
                    self._calls = {}
                self._unindex(old)
            return
        legs = by_device.get(device)
        if legs is None or call_id not in legs:  # a new leg (or one said to change device)
            old = calls.get(call_id)
            if old is not None:  # a leg stays on its device; a log (made by hand) that says
                self._unindex(old)  # otherwise is followed, never leaked
            legs = by_device.get(device)
            if legs is None:
                legs = by_device[device] = {}
        calls[call_id] = call
        legs[call_id] = call

    def _unindex(self, call: CallSnapshot) -> None:
        legs = self._by_device.get(call.device)
        if legs is not None:
            legs.pop(call.id, None)
            if not legs:
                del self._by_device[call.device]

    def _forget_encodings(self, call_id: str) -> None:
        """The leg changed: its kept encodings no longer show it."""
        encoded = self._encoded
        for form, legs in encoded.items():
            if legs.pop(call_id, None) is not None and not legs:
                encoded[form] = {}  # an emptied dict keeps its largest table
        self._encodings = any(encoded.values())

    __call__ = apply

    def know(self, device: DeviceSnapshot) -> None:
        """Take a device as it stands (``Device.snapshot()``): a projection learns devices from
        their events, and a device that has had none yet is made known this way."""
        if not isinstance(device, DeviceSnapshot):
            raise InvalidParameterError(f"{shown(device)} is not a DeviceSnapshot")
        self._devices[device.device] = device
        self._device_ids[device.device_id] = device.device

    @property
    def devices(self) -> tuple[DeviceSnapshot, ...]:
        """Every device known, as its last event (or ``know``) showed it."""
        return tuple(self._devices.values())

    def device(self, dn: str) -> DeviceSnapshot | None:
        """The device ``dn`` as its last event (or ``know``) showed it; None if unknown."""
        return self._devices.get(dn)

    def get_devices(self, user: User) -> dict[str, Any]:
        """``GET /api/v2/me/devices`` as ``user`` sees it: an agent its own device; an admin,
        who owns none, none (``list_devices`` lists every device)."""
        mine = None if _checked(user).role is Role.ADMIN else self._devices.get(user.dn or "")
        devices = [] if mine is None else [device_resource(mine, self.base_uri)]
        return {"statusCode": 0, "devices": devices}

    def list_devices(self, user: User, *, fields: bool = False) -> dict[str, Any]:
        """``GET /api/v2/devices``: the ``uris`` of every device known, or with ``fields``
        (``?fields=*``) the ``devices`` themselves. GWS asks for the Contact Center Admin role:
        anyone else is refused (statusCode 5), which tells nothing of what exists."""
        if _checked(user).role is not Role.ADMIN:
            return {"statusCode": 5, "statusMessage": "only an admin lists every device"}
        devices = self._devices.values()
        if fields:
            return {
                "statusCode": 0,
                "devices": [device_resource(d, self.base_uri) for d in devices],
            }
        uris = [f"{self.base_uri}/devices/{d.device_id}" for d in devices]
        return {"statusCode": 0, "uris": uris}

    def get_device(self, user: User, device_id: str) -> dict[str, Any]:
        """``GET /api/v2/devices/{id}``, what a ``deviceUri`` names: the device by its id (or
        its DN); an agent sees its own device only, an admin every one, and someone else's
        answers exactly as a missing one."""
        dn = self._device_ids.get(device_id, device_id) if isinstance(device_id, str) else ""
        device = self._devices.get(dn)
        if device is None or not (_checked(user).role is Role.ADMIN or user.dn == dn):
            named = device_id if isinstance(device_id, str) else shown(device_id)
            return {"statusCode": 6, "statusMessage": f"device {named} not found"}
        return {"statusCode": 0, "device": device_resource(device, self.base_uri)}

    @property
    def snapshots(self) -> tuple[CallSnapshot, ...]:
        """Every live leg as the events last showed it, oldest first."""
        return tuple(self._calls.values())

    def _visible(self, user: User) -> dict[str, CallSnapshot]:
        """The live legs ``user`` sees, oldest first (same rule as ``User.sees``)."""
        if _checked(user).role is Role.ADMIN:
            return self._calls
        if user.dn is None:
            return _NO_CALLS
        return self._by_device.get(user.dn, _NO_CALLS)

    # -- output: JSON objects -------------------------------------------------------------------
    def call_resource(self, call: CallSnapshot, form: Form | None = None) -> dict[str, Any]:
        """The GWS call resource of one snapshot, as a JSON object."""
        if not isinstance(call, CallSnapshot):
            raise InvalidParameterError(f"{shown(call)} is not a CallSnapshot")
        return self._resource(call, self._form(form), fresh=True)

    def get_calls(self, user: User, form: Form | None = None) -> dict[str, Any]:
        """``GET /api/v2/me/calls`` as ``user`` sees it."""
        form = self._form(form)
        calls = self._visible(user).values()
        return {"statusCode": 0, "calls": [self._resource(c, form, fresh=True) for c in calls]}

    def get_call(self, user: User, call_id: str, form: Form | None = None) -> dict[str, Any]:
        """``GET /api/v2/me/calls/{id}``; unknown and not-yours answer the same."""
        form = self._form(form)
        call = self._calls.get(call_id) if isinstance(call_id, str) else None
        if call is None or not _checked(user).sees(call):
            return _not_found(call_id)
        return {"statusCode": 0, "call": self._resource(call, form, fresh=True)}

    def notification(
        self, event: CallEvent, user: User | None = None, form: Form | None = None
    ) -> dict[str, Any] | None:
        """The CometD message for ``event``; ``None`` if ``user`` (default: the leg's agent)
        may not see it."""
        form = self._form(form)
        call = _event(event).call
        if user is not None and not _checked(user).sees(call):
            return None
        return _call_message(
            event.notification_type, self._resource(call, form, fresh=True), call.device
        )

    # -- output: wire bytes ---------------------------------------------------------------------
    def get_calls_json(self, user: User, form: Form | None = None) -> bytes:
        """``GET /api/v2/me/calls`` as ``user`` sees it: the response body, compact JSON."""
        form = self._form(form)
        encoded = self._encoded[form]
        legs = [
            encoded.get(call_id) or self._encode_leg(call, form)
            for call_id, call in self._visible(user).items()
        ]
        if not legs:
            return b'{"statusCode":0,"calls":[]}'
        # copy the (large) body once: the envelope goes onto the first and last legs
        legs[0] = b'{"statusCode":0,"calls":[' + legs[0]
        legs[-1] += b"]}"
        return b",".join(legs)

    def get_call_json(self, user: User, call_id: str, form: Form | None = None) -> bytes:
        """``GET /api/v2/me/calls/{id}``: the response body; unknown and not-yours answer the
        same."""
        form = self._form(form)
        call = self._calls.get(call_id) if isinstance(call_id, str) else None
        if call is None or not _checked(user).sees(call):
            return dumps(_not_found(call_id))
        leg = self._encoded[form].get(call_id) or self._encode_leg(call, form)
        return b'{"statusCode":0,"call":' + leg + b"}"

    def device_notification(
        self, event: DeviceStateChanged, user: User | None = None
    ) -> dict[str, Any] | None:
        """The ``/v2/me/devices`` message for ``event``; ``None`` if ``user`` (default: the
        device's agent) may not see it."""
        if not isinstance(event, DeviceStateChanged):
            raise InvalidParameterError(f"{shown(event)} is not a DeviceStateChanged")
        device = event.device
        if user is not None and _checked(user).role is not Role.ADMIN and user.dn != device.device:
            return None
        return device_message(device, self.base_uri)

    def device_notification_json(self, event: DeviceStateChanged) -> bytes:
        """``device_notification`` encoded, once however many ask for it."""
        return self._device_json(event, "device")

    def channel_notification_json(self, event: DeviceStateChanged) -> bytes:
        """The ``/v2/me/channels`` message of the device's voice channel after ``event``
        (``ChannelStateChangeMessageV2``), encoded once however many ask for it."""
        return self._device_json(event, "channel")

    def _device_json(self, event: DeviceStateChanged, kind: str) -> bytes:
        key = (id(event), kind)
        hit = self._notices.get(key)
        if hit is not None and hit[0] is event:
            return hit[1]
        if kind == "channel":
            message: dict[str, Any] | None = channel_message(event.device)
        else:
            message = self.device_notification(event)
        assert message is not None
        encoded = dumps(message)
        if len(self._notices) >= _NOTICES:
            del self._notices[next(iter(self._notices))]
        self._notices[key] = (event, encoded)
        return encoded

    def notification_json(
        self, event: CallEvent, user: User | None = None, form: Form | None = None
    ) -> bytes | None:
        """The CometD message for ``event``, encoded once per (event, form); ``None`` if
        ``user`` (default: the leg's agent) may not see it."""
        form = self._form(form)
        call = _event(event).call
        if user is not None and not _checked(user).sees(call):
            return None
        key = (id(event), form)
        notices = self._notices
        hit = notices.get(key)
        if hit is not None and hit[0] is event:
            return hit[1]
        if self._calls.get(call.id) is call:
            leg = self._encoded[form].get(call.id) or self._encode_leg(call, form)
        else:  # an event already superseded (or not applied): its own snapshot, not kept
            leg = dumps(self._resource(call, form, fresh=False))
        before, between, after = _CALL_FRAMES[event.notification_type]
        message = b"".join((before, leg, between, dumps(call.device), after))
        if hit is None and len(notices) >= _NOTICES:
            del notices[next(iter(notices))]
        notices[key] = (event, message)
        return message

    def _form(self, form: Form | None) -> Form:
        if form is None:
            return self.form
        if form not in FORMS:
            raise InvalidParameterError(f"form is one of {FORMS}, not {shown(form)}")
        return form

    def _encode_leg(self, call: CallSnapshot, form: Form) -> bytes:
        """Encode a live leg's current snapshot and keep it until the leg's next event."""
        leg = self._encoded[form][call.id] = dumps(self._resource(call, form, fresh=False))
        self._encodings = True
        return leg

    def _resource(self, call: CallSnapshot, form: str, *, fresh: bool) -> dict[str, Any]:
        """The call resource, keys in the models' order.

        ``fresh``: plain values only, nothing shared (the caller owns the result). Otherwise
        the result is for encoding only: it holds the snapshot's enums and tuples as they are
        (orjson writes a ``StrEnum`` as its value and a tuple as an array) and the shared
        per-number parts, which saves most of the building.
        """
        base = self.base_uri
        call_id = call.id
        resource: dict[str, Any] = {
            "id": call_id,
            "state": call.state._value_ if fresh else call.state,
            "callUuid": call_id,
            "connId": call.conn_id,
            "deviceUri": f"{base}/devices/{call.device_id}",
            "dnis": call.dnis,
            "callType": call.call_type._value_ if fresh else call.call_type,
            "capabilities": [c._value_ for c in call.capabilities] if fresh else call.capabilities,
        }
        if call.user_data:
            resource["userData"] = dict(call.user_data)
        resource["duration"] = str(call.duration)
        resource["mute"] = call.mute._value_ if fresh else call.mute
        if call.recording is not None:
            resource["recordingState"] = call.recording._value_ if fresh else call.recording
        resource["supervisorListeningIn"] = call.supervisor_listening_in
        resource["monitoredUserMuted"] = call.monitored_user_muted
        resource["uri"] = f"{base}/me/calls/{call_id}"
        if call.parent_id is not None:
            resource["parentCallUri"] = f"{base}/me/calls/{call.parent_id}"
            resource["parentCallPath"] = f"/calls/{call.parent_id}"
        if form == "8.5.2":
            parts = [_participant(p) for p in call.participants]
            resource["participants"] = [dict(p) for p in parts] if fresh else parts
            resource["monitoring"] = call.monitoring
            resource["path"] = f"/calls/{call_id}"
        else:
            infos = [_participant_info(p) for p in call.participants]
            resource["participants"] = list(call.participants) if fresh else call.participants
            resource["participantsInfo"] = (
                [{**i, "country": dict(i["country"])} for i in infos] if fresh else infos
            )
            resource["ani"] = call.ani
        return resource


def _not_found(call_id: object) -> dict[str, Any]:
    named = call_id if isinstance(call_id, str) else shown(call_id)
    return {"statusCode": 6, "statusMessage": f"call {named} not found"}
