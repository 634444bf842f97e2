"""The framework-free request entry point: routes, statuses, the order of checks, visibility."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from callstate.api import MAX_BODY, Api, Reply
from callstate.config import load

CONFIG = {
    "devices": [{"dn": "15000", "features": ["mute"]}, {"dn": "15001"}, {"dn": "15002"}],
    "users": [
        {"username": "agent1", "password": "pw1", "role": "agent", "dn": "15000"},
        {"username": "agent2", "password": "pw2", "role": "agent", "dn": "15001"},
        {"username": "boss", "password": "pw3", "role": "supervisor", "dn": "15002"},
        {"username": "admin", "password": "pw4", "role": "admin"},
    ],
}
PASSWORDS = {"agent1": "pw1", "agent2": "pw2", "boss": "pw3", "admin": "pw4"}


def basic(user: str, password: str | None = None) -> str:
    secret = f"{user}:{password or PASSWORDS[user]}".encode()
    return "Basic " + base64.b64encode(secret).decode()


class Client:
    """Requests as one user, with every event the switch emitted since the last look."""

    def __init__(self, api: Api, user: str | None) -> None:
        self.api, self.user = api, user

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        reply = self.raw(method, path, b"" if body is None else json.dumps(body).encode())
        return reply.status, json.loads(reply.body)

    def raw(self, method: str, path: str, body: bytes = b"") -> Reply:
        credentials = basic(self.user) if self.user else None
        return self.api.handle(method, path, body, credentials)


@pytest.fixture
def api() -> Api:
    return Api.from_config(load(CONFIG), seed=1, form="8.5.2")


@pytest.fixture
def events(api: Api) -> list[Any]:
    seen: list[Any] = []
    api.switch.subscribe(seen.append)
    return seen


def as_(api: Api, user: str | None) -> Client:
    return Client(api, user)


def dial(api: Api, user: str = "agent1", to: str = "15001") -> str:
    device = api.switch.device("15000" if user == "agent1" else "15001")
    status, body = as_(api, user)(
        "POST",
        f"/api/v2/me/devices/{device.id}/calls",
        {"operationName": "Dial", "destination": {"phoneNumber": to}},
    )
    assert (status, body) == (200, {"statusCode": 0})
    return device.calls[-1].id


def test_a_call_is_dialed_answered_and_seen_by_its_two_agents(api: Api) -> None:
    caller = dial(api)
    callee = api.switch.device("15001").calls[0].id
    status, body = as_(api, "agent2")(
        "POST", f"/api/v2/me/calls/{callee}", {"operationName": "Answer"}
    )
    assert (status, body) == (200, {"statusCode": 0})
    status, mine = as_(api, "agent1")("GET", "/api/v2/me/calls")
    assert status == 200
    assert [(c["id"], c["state"]) for c in mine["calls"]] == [(caller, "Established")]
    status, theirs = as_(api, "agent2")("GET", f"/api/v2/me/calls/{callee}")
    assert (status, theirs["call"]["state"]) == (200, "Established")
    _, everything = as_(api, "admin")("GET", "/api/v2/me/calls")
    assert {c["id"] for c in everything["calls"]} == {caller, callee}


def test_the_dial_route_takes_the_device_id_or_its_dn(api: Api) -> None:
    ask = as_(api, "agent1")
    body = {"operationName": "Dial", "destination": {"phoneNumber": "+14155550100"}}
    assert ask("POST", "/api/v2/me/devices/15000/calls", body)[0] == 200
    assert len(api.switch.device("15000").calls) == 1


def test_someone_elses_call_answers_like_a_missing_one(api: Api, events: list[Any]) -> None:
    dial(api)
    callee = api.switch.device("15001").calls[0].id
    intruder = as_(api, "boss")
    stolen = intruder("GET", f"/api/v2/me/calls/{callee}")
    missing = intruder("GET", "/api/v2/me/calls/NOSUCHCALL")
    assert stolen[0] == missing[0] == 404
    assert stolen[1]["statusCode"] == missing[1]["statusCode"] == 6
    assert stolen[1]["statusMessage"].replace(callee, "X") == missing[1]["statusMessage"].replace(
        "NOSUCHCALL", "X"
    )
    before = len(events)
    post = intruder("POST", f"/api/v2/me/calls/{callee}", {"operationName": "Answer"})
    post_missing = intruder("POST", "/api/v2/me/calls/NOSUCHCALL", {"operationName": "Answer"})
    assert post[0] == post_missing[0] == 404
    assert post[1]["statusMessage"].replace(callee, "X") == post_missing[1][
        "statusMessage"
    ].replace("NOSUCHCALL", "X")
    assert intruder("GET", "/api/v2/me/calls") == (200, {"statusCode": 0, "calls": []})
    other_device = api.switch.device("15001").id
    dialed = intruder("POST", f"/api/v2/me/devices/{other_device}/calls", {"operationName": "Dial"})
    assert dialed[0] == 404
    assert len(events) == before


def test_a_refused_operation_answers_in_the_response_and_changes_nothing(
    api: Api, events: list[Any]
) -> None:
    caller = dial(api)
    before = len(events)
    status, body = as_(api, "agent1")(
        "POST", f"/api/v2/me/calls/{caller}", {"operationName": "Hold"}
    )
    assert (status, body["statusCode"]) == (400, 2)
    assert "Hold" in body["statusMessage"]
    assert caller in body["statusMessage"]
    assert "Dialing" in body["statusMessage"]
    assert len(events) == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, 1),
        ({"operationName": "Anwser"}, 400, 1),
        ({"operationName": 7}, 400, 1),
        ({"operationName": "SendDtmf"}, 400, 1),
        ({"operationName": "SendDtmf", "digits": "x!"}, 400, 2),
        ({"operationName": "Hangup", "nonsense": 1}, 400, 2),
    ],
)
def test_operation_checks_answer_with_their_status_code(
    api: Api, events: list[Any], body: dict[str, Any], status: int, code: int
) -> None:
    caller = dial(api)
    before = len(events)
    answer = as_(api, "agent1")("POST", f"/api/v2/me/calls/{caller}", body)
    assert (answer[0], answer[1]["statusCode"]) == (status, code)
    assert answer[1]["statusMessage"]
    assert len(events) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/", None, 404, 6),
        ("GET", "/api/v2/nothing", None, 404, 6),
        ("GET", "/api/v2/me/calls/a/b", None, 404, 6),
        ("DELETE", "/api/v2/me/calls", None, 405, 3),
        ("PUT", "/api/v2/me", None, 405, 3),
        ("GET", "/api/v2/me/devices/x/calls", None, 405, 3),
        ("POST", "/api/v2/me/calls/X", b"not json", 400, 1),
        ("POST", "/api/v2/me/calls/X", b"[1, 2]", 400, 1),
        ("POST", "/api/v2/me/calls/X", b'"text"', 400, 1),
        ("POST", "/api/v2/me/calls/X", b"\xff\xfe{}", 400, 1),
        ("POST", "/api/v2/me/calls/X", b"", 400, 1),
        ("POST", "/api/v2/me/calls/X", b"{" + b" " * MAX_BODY + b"}", 413, 2),
        ("POST", "/api/v2/me/calls/X", b'{"operationName": "Answer"}', 404, 6),
        ("POST", "/simulator/far-end", b"{}", 400, 1),
    ],
)
def test_bad_requests_get_json_answers(
    api: Api, method: str, path: str, body: bytes | None, status: int, code: int
) -> None:
    reply = as_(api, "agent1").raw(method, path, body or b"")
    payload = json.loads(reply.body)
    expected_code = 5 if path == "/simulator/far-end" else code  # an agent drives no far end
    assert reply.status == (403 if expected_code == 5 else status)
    assert payload["statusCode"] == expected_code
    assert isinstance(payload["statusMessage"], str)


def test_checks_answer_in_the_documented_order(api: Api) -> None:
    anonymous, admin = as_(api, None), as_(api, "admin")
    # authentication first, even on an unknown path
    assert anonymous.raw("GET", "/nowhere").status == 401
    # then route and method, before the body is looked at
    assert admin.raw("DELETE", "/api/v2/me/calls/X", b"\xff" * (MAX_BODY + 1)).status == 405
    # then size, then syntax, then role, then the resource
    assert admin.raw("POST", "/api/v2/me/calls/X", b"\xff" * (MAX_BODY + 1)).status == 413
    assert admin.raw("POST", "/api/v2/me/calls/X", b"[]").status == 400
    assert admin.raw("POST", "/api/v2/me/calls/X", b"{}").status == 403
    assert as_(api, "agent1").raw("POST", "/api/v2/me/calls/X", b"{}").status == 404


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer abc",
        "Basic !!!",
        "Basic " + base64.b64encode(b"agent1").decode(),
        "Basic " + base64.b64encode(b"agent1:wrong").decode(),
        "Basic " + base64.b64encode(b"nobody:pw1").decode(),
        "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
    ],
)
def test_authentication_failures_are_401_with_a_challenge(
    api: Api, authorization: str | None
) -> None:
    reply = api.handle("GET", "/api/v2/me/calls", b"", authorization)
    assert reply.status == 401
    assert ("www-authenticate", 'Basic realm="callstate"') in reply.headers
    assert json.loads(reply.body)["statusCode"] == 20


def test_me_and_devices(api: Api) -> None:
    device = api.switch.device("15000")
    status, me = as_(api, "agent1")("GET", "/api/v2/me")
    assert status == 200
    user = me["user"]  # the whole resource: tests/test_users.py
    assert (user["userName"], user["roles"]) == ("agent1", ["ROLE_AGENT"])
    assert user["deviceUri"] == f"http://127.0.0.1:8080/api/v2/devices/{device.id}"
    _, devices = as_(api, "agent1")("GET", "/api/v2/me/devices/")
    assert [(d["id"], d["phoneNumber"]) for d in devices["devices"]] == [(device.id, "15000")]
    assert as_(api, "admin")("GET", "/api/v2/me/devices")[1]["devices"] == []
    admin = as_(api, "admin")("GET", "/api/v2/me")[1]["user"]
    assert (admin["userName"], admin["roles"], "deviceUri" in admin) == (
        "admin",
        ["ROLE_ADMIN"],
        False,
    )


def test_an_admin_reads_every_call_but_posts_none(api: Api, events: list[Any]) -> None:
    caller = dial(api)
    before = len(events)
    admin = as_(api, "admin")
    assert admin("GET", f"/api/v2/me/calls/{caller}")[0] == 200
    assert admin("POST", f"/api/v2/me/calls/{caller}", {"operationName": "Hangup"})[0] == 403
    assert admin("POST", "/api/v2/me/devices/15000/calls", {"operationName": "Dial"})[0] == 403
    assert admin("POST", "/api/v2/me/channels/voice", {"operationName": "Ready"})[0] == 403
    assert len(events) == before


def test_the_far_end_calls_answers_and_hangs_up(api: Api) -> None:
    admin = as_(api, "admin")
    status, body = admin(
        "POST", "/simulator/far-end", {"external": "+14155550100", "event": "Call", "to": "15000"}
    )
    assert status == 200
    assert body["statusCode"] == 0
    leg = api.switch.call(body["callId"])
    assert leg.device.dn == "15000"
    assert leg.state == "Ringing"
    as_(api, "agent1")("POST", f"/api/v2/me/calls/{leg.id}", {"operationName": "Answer"})
    assert admin("POST", "/simulator/far-end", {"external": "+14155550100", "event": "Hangup"}) == (
        200,
        {"statusCode": 0},
    )
    assert api.switch.calls == ()
    assert admin("GET", "/simulator/health")[1] == {"statusCode": 0, "calls": 0, "clients": 0}


@pytest.mark.parametrize(
    ("step", "status", "code"),
    [
        ({"event": "Call", "to": "15000"}, 400, 1),
        ({"external": "+14155550100"}, 400, 1),
        ({"external": "+14155550100", "event": "Call"}, 400, 1),
        ({"external": "+14155550100", "event": "Ring", "to": "15000"}, 400, 2),
        ({"external": 5, "event": "Call", "to": "15000"}, 400, 2),
        ({"external": "+14155550100", "event": "Call", "to": 15000}, 400, 2),
        ({"external": "+14155550100", "event": "Call", "to": "15000", "x": 1}, 400, 2),
        ({"external": "+14155550100", "event": "Hangup", "userData": {}}, 400, 2),
        ({"external": "+14155550199", "event": "Answer"}, 404, 6),
        ({"external": "+14155550100", "event": "Call", "to": "19999"}, 404, 6),
    ],
)
def test_bad_far_end_steps(
    api: Api, events: list[Any], step: dict[str, Any], status: int, code: int
) -> None:
    answer = as_(api, "admin")("POST", "/simulator/far-end", step)
    assert (answer[0], answer[1]["statusCode"]) == (status, code)
    assert events == []


def test_health_needs_no_user_and_counts_live_legs(api: Api) -> None:
    dial(api)
    assert as_(api, None)("GET", "/simulator/health") == (
        200,
        {"statusCode": 0, "calls": 2, "clients": 0},
    )
    assert as_(api, None)("POST", "/simulator/health")[0] == 401  # only GET is public
    refused = as_(api, "agent1").raw("POST", "/simulator/health")
    assert refused.status == 405
    assert ("allow", "GET") in refused.headers


def test_device_and_agent_state_routes_exist_but_know_no_operation_yet(api: Api) -> None:
    agent = as_(api, "agent1")
    status, body = agent("POST", "/api/v2/me/channels/voice", {"operationName": "Dance"})
    assert (status, body["statusCode"]) == (400, 1)
    device = api.switch.device("15000").id
    assert agent("POST", f"/api/v2/me/devices/{device}", {"operationName": "Dance"})[0] == 400
    assert agent("POST", "/api/v2/me/devices/elsewhere", {"operationName": "Dance"})[0] == 404


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode("nobody:é".encode()).decode(),
        "Basic " + base64.b64encode("agent1:é".encode()).decode(),
        "Basic " + "A" * 5000,
        basic("agent1") + " " * 2000,
    ],
)
def test_odd_credentials_are_401_and_not_kept(api: Api, authorization: str) -> None:
    reply = api.handle("GET", "/api/v2/me", b"", authorization)
    assert (reply.status, json.loads(reply.body)["statusCode"]) == (401, 20)
    assert api.handle("GET", "/api/v2/me", b"", basic("agent1")).status == 200


def test_a_lone_surrogate_is_answered_as_json(api: Api) -> None:
    caller = dial(api)
    reply = as_(api, "agent1").raw(
        "POST", f"/api/v2/me/calls/{caller}", b'{"operationName": "\\ud800"}'
    )
    assert (reply.status, json.loads(reply.body)["statusCode"]) == (400, 1)


def test_nan_is_not_json(api: Api) -> None:
    caller = dial(api)
    reply = as_(api, "agent1").raw(
        "POST", f"/api/v2/me/calls/{caller}", b'{"operationName": "Hangup", "x": NaN}'
    )
    assert (reply.status, json.loads(reply.body)["statusCode"]) == (400, 1)


def test_big_integers_in_a_body_are_json(api: Api) -> None:
    caller = dial(api)
    body = b'{"operationName": "AttachUserData", "userData": {"n": 123456789012345678901234567890}}'
    reply = as_(api, "agent1").raw("POST", f"/api/v2/me/calls/{caller}", body)
    answer = json.loads(reply.body)
    assert (reply.status, answer["statusCode"]) == (400, 2)
    assert "64-bit" in answer["statusMessage"]  # read as the integer it is, not a float


def test_agent_state_do_not_disturb_and_devices_over_rest(api: Api) -> None:
    agent = as_(api, "agent1")
    assert agent("POST", "/api/v2/me/channels/voice", {"operationName": "Ready"})[0] == 200
    device = api.switch.device("15000")
    on = {"operationName": "DoNotDisturbOn"}
    assert agent("POST", f"/api/v2/me/devices/{device.id}", on) == (200, {"statusCode": 0})
    [shown] = agent("GET", "/api/v2/me/devices")[1]["devices"]
    assert (shown["userState"]["state"], shown["doNotDisturb"]) == ("Ready", "On")
    status, body = agent("POST", f"/api/v2/me/devices/{device.id}", on)  # not offered now
    assert (status, body["statusCode"]) == (400, 2)
    wrong_route = agent("POST", "/api/v2/me/channels/voice", {"operationName": "DoNotDisturbOff"})
    assert (wrong_route[0], wrong_route[1]["statusCode"]) == (400, 1)
    assert agent("POST", "/api/v2/me/channels/voice", {})[1]["statusCode"] == 1


def test_only_a_supervisor_supervises_over_rest(api: Api) -> None:
    target = api.switch.device("15000").id
    listen = {"operationName": "ListenIn", "targetDeviceUri": f"http://x/api/v2/devices/{target}"}
    refused = as_(api, "agent2")("POST", "/api/v2/me/devices/15001", listen)
    assert (refused[0], refused[1]["statusCode"]) == (403, 5)
    boss = as_(api, "boss")
    assert boss("POST", "/api/v2/me/devices/15002", listen) == (200, {"statusCode": 0})
    caller = dial(api)
    callee = api.switch.device("15001").calls[0].id
    as_(api, "agent2")("POST", f"/api/v2/me/calls/{callee}", {"operationName": "Answer"})
    _, mine = boss("GET", "/api/v2/me/calls")
    [monitor] = mine["calls"]
    assert (monitor["state"], monitor["dnis"]) == ("Ringing", "15000")
    assert caller != monitor["id"]


def test_an_admin_runs_a_full_collection_and_reads_its_cost(api: Api) -> None:
    status, body = as_(api, "admin")("POST", "/simulator/gc")
    assert status == 200
    assert body["statusCode"] == 0
    assert body["ms"] >= 0
    assert body["tracked"] > 0
    assert body["frozen"] >= 0
    assert as_(api, "agent1")("POST", "/simulator/gc") == (
        403,
        {"statusCode": 5, "statusMessage": "only an admin runs the collector"},
    )
    assert as_(api, None)("POST", "/simulator/gc")[0] == 401
    assert as_(api, "admin").raw("GET", "/simulator/gc").status == 405


def test_every_device_uri_resolves_for_its_user_and_an_admin_only(api: Api) -> None:
    mine, theirs = api.switch.device("15000"), api.switch.device("15001")
    _, me = as_(api, "agent1")("GET", "/api/v2/me")
    path = me["user"]["deviceUri"].removeprefix("http://127.0.0.1:8080")
    assert path == f"/api/v2/devices/{mine.id}"
    status, found = as_(api, "agent1")("GET", path)
    assert (status, found["device"]["id"]) == (200, mine.id)
    assert found["device"]["phoneNumber"] == "15000"
    assert as_(api, "admin")("GET", path) == (200, found)
    assert as_(api, "agent1")("GET", "/api/v2/devices/15000/") == (200, found)  # the DN too
    # someone else's device answers exactly as one that does not exist
    hidden = as_(api, "agent1")("GET", f"/api/v2/devices/{theirs.id}")
    missing = as_(api, "agent1")("GET", "/api/v2/devices/no-such-device")
    assert hidden == (404, {"statusCode": 6, "statusMessage": f"device {theirs.id} not found"})
    assert missing == (404, {"statusCode": 6, "statusMessage": "device no-such-device not found"})
    assert as_(api, "boss")("GET", path)[0] == 404  # a supervisor sees its own device only
    assert as_(api, "agent1")("POST", path, {})[0] == 405
    assert as_(api, "agent1")("GET", f"{path}/calls")[0] == 404
    assert as_(api, None)("GET", path)[0] == 401


def test_an_admin_lists_every_device_and_nobody_else_does(api: Api) -> None:
    ids = [api.switch.device(dn).id for dn in ("15000", "15001", "15002")]
    base = "http://127.0.0.1:8080/api/v2/devices/"
    assert as_(api, "admin")("GET", "/api/v2/devices") == (
        200,
        {"statusCode": 0, "uris": [base + i for i in ids]},
    )
    for query in ("?fields=*", "?fields=%2A", "?x=1&fields=*"):
        status, listed = as_(api, "admin")("GET", "/api/v2/devices" + query)
        assert (status, [d["id"] for d in listed["devices"]]) == (200, ids)
        assert listed["devices"][0] == as_(api, "admin")("GET", base[21:] + ids[0])[1]["device"]
    for user in ("agent1", "boss"):
        status, refused = as_(api, user)("GET", "/api/v2/devices?fields=*")
        assert (status, refused["statusCode"]) == (403, 5)
    assert as_(api, "admin")("POST", "/api/v2/devices", {})[0] == 405


def test_device_reads_answer_the_same_in_a_scenario_and_over_http() -> None:
    """``run`` answers a scenario's GETs with the projection, the server with ``Api``: the
    same bodies, for every user."""
    from callstate.scenario import run

    served = Api.from_config(load(CONFIG), seed=1, form="8.5.2")
    paths = ["/me/devices", "/devices", "/devices?fields=*", "/devices/15001", "/me/calls"]
    users = {"admin": "admin", "agent1": "15000", "boss": "15002"}
    scenario = {
        "devices": [
            {"dn": "15000", "features": ["mute"]},
            {"dn": "15001"},
            {"dn": "15002", "role": "supervisor"},
        ],
        "steps": [{"get": p, "user": u} for p in paths for u in users.values()],
    }
    lines = list(run(scenario, seed=1, form="8.5.2"))
    over_http = [as_(served, name)("GET", "/api/v2" + p)[1] for p in paths for name in users]
    assert [line["response"] for line in lines] == over_http
    assert over_http[0] == {"statusCode": 0, "devices": []}  # an admin owns no device
