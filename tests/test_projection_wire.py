"""The projection's fast JSON equals the pydantic models' dump, key order included.

The oracle below builds every answer through the pydantic models of ``callstate.models`` (the
documented shapes), the way the projection used to. Random snapshots and events (both forms,
with attached data, recording, parents, public numbers and DNs) must give the same JSON from
the dict methods and the same bytes, once decoded, from the ``*_json`` methods.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from callstate import (
    CallEvent,
    CallSnapshot,
    CallType,
    CapabilitiesChanged,
    DtmfSent,
    Form,
    Mute,
    MuteChanged,
    Operation,
    ParticipantsChanged,
    Projection,
    RecordingChanged,
    RecordingState,
    State,
    StateChanged,
    User,
    UserDataChanged,
)
from callstate.models import (
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
from callstate.numbers import facts

BASE = "http://gws.example/api/v2"
FORMS: list[Form] = ["8.5.0", "8.5.2"]
NUMBERS = [
    "15000",
    "15001",
    "3001",
    "+14155550100",  # San Francisco, CA
    "+442071234567",  # London
    "+18005550100",  # toll free: no location, no country name
    "+19999999999",  # possible, not valid
    "+33612345678",
]
NO_EXTENSIONS = {"AttachedDataChanged", "CallRecordingStateChange"}


# -- the oracle: pydantic models, as the projection built them before ---------------------------
def oracle_resource(call: CallSnapshot, form: Form) -> CallResource | LegacyCallResource:
    fields: dict[str, Any] = {
        "id": call.id,
        "state": call.state.value,
        "callUuid": call.id,
        "connId": call.conn_id,
        "deviceUri": f"{BASE}/devices/{call.device_id}",
        "uri": f"{BASE}/me/calls/{call.id}",
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
        fields["parentCallUri"] = f"{BASE}/me/calls/{call.parent_id}"
        fields["parentCallPath"] = f"/calls/{call.parent_id}"
    if form == "8.5.2":
        return CallResource(
            participants=[oracle_participant(p) for p in call.participants],
            monitoring=False,
            path=f"/calls/{call.id}",
            **fields,
        )
    return LegacyCallResource(
        participants=list(call.participants),
        participantsInfo=[oracle_info(p) for p in call.participants],
        ani=call.ani,
        **fields,
    )


def oracle_participant(number: str) -> Participant:
    f = facts(number)
    return Participant(
        e164Number=f.e164,
        formattedPhoneNumber=f.formatted,
        phoneNumber=f.phone_number,
        digits=f.digits,
    )


def oracle_info(number: str) -> ParticipantInfo:
    f = facts(number)
    common: dict[str, Any] = {
        "country": Country(name=f.country_name, code=f.country_code, callingCode=f.calling_code),
        "formattedPhoneNumber": f.formatted,
        "location": f.location,
        "E164digits": f.e164 or f.digits,
        "isValidNumber": f.is_valid,
    }
    if f.is_public:
        common["localPhoneNumber"] = f.local
    return ParticipantInfo(**common)


def oracle_notification(event: CallEvent, form: Form) -> dict[str, Any]:
    kind = event.notification_type.value
    data: dict[str, Any] = {
        "notificationType": kind,
        "call": oracle_resource(event.call, form),
        "phoneNumber": event.call.device,
        "messageType": "CallStateChangeMessage",
    }
    if kind not in NO_EXTENSIONS:
        data["extensions"] = {"BusinessCall": 0}
    return dump(Notification(data=NotificationData(**data), channel="/v2/me/calls"))


def same(answer: Any, expected: Any) -> None:
    """Equal values and equal key order (``==`` on dicts ignores the order)."""
    assert answer == expected
    assert json.dumps(answer) == json.dumps(expected)


def same_bytes(answer: bytes | None, expected: Any) -> None:
    """The body is the compact encoding of ``expected``, key order included. Values beyond
    orjson (integers over 64 bits, lone surrogates) are ASCII-escaped by ``json`` in the part
    that holds them: then only the decoded value and its order are compared."""
    assert answer is not None
    same(json.loads(answer), expected)
    try:
        wire = orjson.dumps(expected)
    except orjson.JSONEncodeError:
        return
    assert answer == wire


# -- random snapshots and events -----------------------------------------------------------------
ids = st.text("0123456789ABCDEF", min_size=4, max_size=8)
values = st.one_of(
    st.text(max_size=8), st.integers(), st.integers(min_value=2**64), st.just("\ud800")
)
user_data = st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=3).map(
    lambda d: tuple(d.items())
)


#: legs of the GET test, each on its device (a leg never changes device)
LEGS = {"A1": "15000", "A2": "15000", "B1": "15001", "B2": "15001", "C1": "3001"}


@st.composite
def snapshots(draw: st.DrawFn, call_ids: st.SearchStrategy[str] = ids) -> CallSnapshot:
    call_id = draw(call_ids)
    device = LEGS.get(call_id) or draw(st.sampled_from(["15000", "15001", "3001"]))
    return CallSnapshot(
        id=call_id,
        conn_id=draw(ids),
        device=device,
        device_id=f"DEV{device}",
        state=draw(st.sampled_from(list(State))),
        call_type=draw(st.sampled_from(list(CallType))),
        participants=tuple(draw(st.lists(st.sampled_from(NUMBERS), max_size=3))),
        dnis=draw(st.sampled_from(NUMBERS)),
        ani=draw(st.sampled_from(NUMBERS)),
        capabilities=tuple(draw(st.lists(st.sampled_from(list(Operation)), unique=True))),
        user_data=draw(user_data),
        mute=draw(st.sampled_from(list(Mute))),
        recording=draw(st.none() | st.sampled_from(list(RecordingState))),
        parent_id=draw(st.none() | ids),
        duration=draw(st.integers(min_value=0, max_value=10**6)),
    )


@st.composite
def events(draw: st.DrawFn, call_ids: st.SearchStrategy[str] = ids) -> CallEvent:
    snapshot = draw(snapshots(call_ids))
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return StateChanged(snapshot, draw(st.none() | st.sampled_from(list(State))))
    if kind == 1:
        return DtmfSent(snapshot, draw(st.text("0123456789*#", min_size=1)))
    simple = [CapabilitiesChanged, MuteChanged, ParticipantsChanged, UserDataChanged]
    simple.append(RecordingChanged)
    return simple[kind - 2](snapshot)


@settings(max_examples=200, deadline=None)
@given(snapshots(), st.sampled_from(FORMS))
def test_a_resource_is_the_models_dump(call: CallSnapshot, form: Form) -> None:
    projection = Projection(BASE + "/", form="8.5.0")
    same(projection.call_resource(call, form), dump(oracle_resource(call, form)))


@settings(max_examples=200, deadline=None)
@given(events(), st.sampled_from(FORMS), st.booleans())
def test_a_notification_is_the_models_dump(event: CallEvent, form: Form, applied: bool) -> None:
    projection = Projection(BASE, form=form)
    if applied:
        projection.apply(event)
    expected = oracle_notification(event, form)
    same(projection.notification(event), expected)
    same_bytes(projection.notification_json(event), expected)
    same_bytes(projection.notification_json(event, User.admin(), form), expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(events(st.sampled_from(list(LEGS))), max_size=25))
def test_get_answers_are_the_models_dump(stream: list[CallEvent]) -> None:
    """Any sequence of events: both GETs, every user, both forms, dicts and bytes."""
    projection = Projection(BASE)
    live: dict[str, CallSnapshot] = {}
    for event in stream:
        projection.apply(event)
        projection.get_calls_json(User.admin(), "8.5.0")  # keep some legs encoded between events
        if event.call.state is State.RELEASED:
            live.pop(event.call.id, None)
        else:
            live[event.call.id] = event.call
    users = [User.admin(), User.agent("15000"), User.agent("15001"), User.agent("3001")]
    for form in FORMS:
        for user in users:
            mine = [oracle_resource(c, form) for c in live.values() if user.sees(c)]
            listed = dump(CallsResponse(statusCode=0, calls=mine))
            same(projection.get_calls(user, form), listed)
            same_bytes(projection.get_calls_json(user, form), listed)
            for call_id in [*LEGS, "NOSUCHCALL"]:
                call = live.get(call_id)
                if call is not None and user.sees(call):
                    resource = oracle_resource(call, form)
                    one = dump(CallResponse(statusCode=0, call=resource))
                else:
                    message = f"call {call_id} not found"
                    one = dump(ErrorResponse(statusCode=6, statusMessage=message))
                same(projection.get_call(user, call_id, form), one)
                same_bytes(projection.get_call_json(user, call_id, form), one)
