"""The user side of the API without HTTP: the user resource and its subresources, settings,
POST /me (contact-center session, agent state), and HTTP sessions (cookie, CSRF, expiry)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from callstate import ManualClock
from callstate.api import Api, Reply
from callstate.config import ConfigError, HttpSettings, load
from callstate.events import DeviceStateChanged
from callstate.http_sessions import HttpSessions, cookie_value

CONFIG: dict[str, Any] = {
    "devices": [{"dn": "15000", "features": ["mute"]}, {"dn": "15001"}],
    "users": [
        {
            "username": "agent1",
            "password": "pw1",
            "role": "agent",
            "dn": "15000",
            "firstName": "Kristi",
            "lastName": "Sippola",
            "skills": [{"name": "Sales", "level": 5}, {"name": "English", "level": 9}],
        },
        {"username": "boss", "password": "pw2", "role": "supervisor", "dn": "15001"},
        {"username": "admin", "password": "pw3", "role": "admin"},
    ],
    "settings": {"interaction-workspace": {"voice.auto-answer": False, "login.list": "a,b"}},
}
PASSWORDS = {"agent1": "pw1", "boss": "pw2", "admin": "pw3"}


def basic(user: str, password: str | None = None) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()


def make(config: dict[str, Any] | None = None, clock: ManualClock | None = None) -> Api:
    loaded = load(config or CONFIG)
    api = Api.from_config(loaded, seed=4)
    if clock is None:
        return api
    return Api(api.switch, api.projection, loaded.users, http=loaded.http, clock=clock)


def call(api: Api, user: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    reply = api.handle(
        method, path, b"" if body is None else json.dumps(body).encode(), basic(user)
    )
    answer: dict[str, Any] = json.loads(reply.body)
    answer["_http"] = reply.status
    return answer


def cookie_of(reply: Reply) -> str | None:
    for name, value in reply.headers:
        if name == "set-cookie":
            return value.split(";", 1)[0]
    return None


# -- the user resource ----------------------------------------------------------------------------
def test_the_user_resource_as_gws_prints_it() -> None:
    api = make()
    user = call(api, "agent1", "GET", "/api/v2/me")["user"]
    ident = user["id"]
    assert len(ident) == 32
    assert int(ident, 16) >= 0
    device = api.switch.device("15000")
    assert user == {
        "id": ident,
        "userName": "agent1",
        "firstName": "Kristi",
        "lastName": "Sippola",
        "roles": ["ROLE_AGENT"],
        "enabled": True,
        "changePasswordOnFirstLogin": False,
        "uri": f"http://127.0.0.1:8080/api/v2/users/{ident}",
        "path": f"/users/{ident}",
        "deviceUri": f"http://127.0.0.1:8080/api/v2/devices/{device.id}",
    }
    assert (
        make().handle("GET", "/api/v2/me", b"", basic("agent1")).body
        == api.handle("GET", "/api/v2/me", b"", basic("agent1")).body
    )  # the same id on a new server
    assert call(api, "boss", "GET", "/api/v2/me")["user"]["roles"] == ["ROLE_SUPERVISOR"]
    assert call(api, "admin", "GET", "/api/v2/me")["user"]["roles"] == ["ROLE_ADMIN"]


def test_subresources_embed_devices_channels_skills_settings_and_live_calls() -> None:
    api = make()
    api.switch.external_call("+14155550100", to="15000")
    user = call(api, "agent1", "GET", "/api/v2/me?subresources=*")["user"]
    assert [d["phoneNumber"] for d in user["devices"]] == ["15000"]
    assert user["channels"] == [
        {
            "channel": "voice",
            "phoneNumber": "15000",
            "dndState": "Off",
            "userState": {
                "id": "900D55CC-2BB0-431F-8BF9-D3525B383BE6",
                "displayName": "Not Ready",
                "state": "NotReady",
            },
        }
    ]
    assert [(s["name"], s["level"]) for s in user["skills"]] == [("Sales", 5), ("English", 9)]
    assert user["settings"] == CONFIG["settings"]
    [ringing] = user["calls"]
    assert (ringing["state"], ringing["callType"]) == ("Ringing", "Inbound")
    some = call(api, "agent1", "GET", "/api/v2/me?subresources=devices,settings&fields=*")["user"]
    assert {"devices", "settings"} <= set(some)
    assert not {"channels", "skills", "calls"} & set(some)
    star = call(api, "agent1", "GET", "/api/v2/me?subresources=%2a")["user"]
    assert {"devices", "channels", "skills", "settings", "calls"} <= set(star)
    spaced = call(api, "agent1", "GET", "/api/v2/me?subresources=devices,%20skills")["user"]
    assert {"devices", "skills"} <= set(spaced)
    encoded = call(api, "agent1", "GET", "/api/v2/me?subresources=devices%2Cfeatures")["user"]
    assert "devices" in encoded
    assert "features" not in encoded
    plain = call(api, "agent1", "GET", "/api/v2/me")["user"]
    assert not {"devices", "channels", "skills", "settings", "calls"} & set(plain)
    admin = call(api, "admin", "GET", "/api/v2/me?subresources=*")["user"]
    assert (admin["devices"], admin["channels"], admin["skills"]) == ([], [], [])
    assert len(admin["calls"]) == 1  # an admin sees every call
    other = call(api, "boss", "GET", "/api/v2/me?subresources=calls")["user"]
    assert other["calls"] == []  # not agent1's call


def test_channels_skills_and_settings_routes() -> None:
    api = make()
    channels = call(api, "agent1", "GET", "/api/v2/me/channels")
    assert [c["channel"] for c in channels["channels"]] == ["voice"]
    assert call(api, "boss", "GET", "/api/v2/me/skills")["skills"] == []
    listed = call(api, "agent1", "GET", "/api/v2/settings")["settings"]
    assert [s["displayName"] for s in listed] == ["agent-states", "interaction-workspace"]
    assert listed[0]["uri"] == "http://127.0.0.1:8080/api/v2/settings/agent-states"
    states = call(api, "agent1", "GET", "/api/v2/settings/agent-states")["settings"]
    assert [(s["operationName"], s["state"], s.get("workMode")) for s in states] == [
        ("Ready", "Ready", None),
        ("NotReady", "NotReady", None),
        ("AfterCallWork", "NotReady", "AfterCallWork"),
        ("AuxWork", "NotReady", "AuxWork"),
    ]
    section = call(api, "agent1", "GET", "/api/v2/settings/interaction-workspace")
    assert section["settings"] == CONFIG["settings"]["interaction-workspace"]
    assert call(api, "agent1", "GET", "/api/v2/diagnostics/version")["version"] == "8.5.2"
    missing = call(api, "agent1", "GET", "/api/v2/settings/nothing")
    assert (missing["_http"], missing["statusCode"]) == (404, 6)
    wrong = call(api, "agent1", "POST", "/api/v2/settings/agent-states", {})
    assert (wrong["_http"], wrong["statusCode"]) == (405, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"settings": {"agent-states": {}}}, "settings.agent-states is built in"),
        ({"settings": {"a/b": {}}}, "no URL path can carry"),
        ({"settings": {"x": []}}, "settings.x must be a JSON object"),
        ({"http": {"sessionTimeout": 0}}, "http.sessionTimeout must be"),
        ({"http": {"csrfProtection": "yes"}}, "http.csrfProtection must be true or false"),
        ({"http": {"other": 1}}, "http has unknown key 'other'"),
    ],
)
def test_bad_settings_and_http_configs_are_refused_in_one_line(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load({**CONFIG, **change})


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"skills": {}}, "skills must be a list"),
        ({"skills": [{"name": "A", "level": 101}]}, "level must be an integer"),
        ({"skills": [{"name": "A"}, {"name": "A"}]}, "skill 'A' is given twice"),
        ({"firstName": 3}, "needs 'firstName'"),
    ],
)
def test_bad_user_fields_are_refused(user: dict[str, Any], message: str) -> None:
    config = json.loads(json.dumps(CONFIG))
    config["users"][1].update(user)
    with pytest.raises(ConfigError, match=message):
        load(config)


# -- POST /me -------------------------------------------------------------------------------------
def device_states(events: list[Any]) -> list[tuple[str, str]]:
    return [
        (e.device.device, e.device.user_state.value)
        for e in events
        if isinstance(e, DeviceStateChanged)
    ]


def test_a_contact_center_session_logs_in_sets_states_and_logs_out() -> None:
    api = make()
    events: list[Any] = []
    api.switch.subscribe(events.append)
    start = {"operationName": "StartContactCenterSession", "channels": ["voice", "chat"]}
    assert call(api, "agent1", "POST", "/api/v2/me", start)["statusCode"] == 0
    assert device_states(events) == [("15000", "NotReady")]
    assert call(api, "agent1", "POST", "/api/v2/me", start)["statusCode"] == 0  # already in
    assert call(api, "agent1", "POST", "/api/v2/me", {"operationName": "Ready"})["statusCode"] == 0
    aux = {"operationName": "NotReady", "workMode": "AuxWork"}
    assert call(api, "agent1", "POST", "/api/v2/me", aux)["statusCode"] == 0
    dnd = {"operationName": "DoNotDisturbOn"}
    assert call(api, "agent1", "POST", "/api/v2/me", dnd)["statusCode"] == 0
    end = {"operationName": "EndContactCenterSession"}
    assert call(api, "agent1", "POST", "/api/v2/me", end)["statusCode"] == 0
    assert call(api, "agent1", "POST", "/api/v2/me", end)["statusCode"] == 0  # out already
    assert device_states(events) == [
        ("15000", "NotReady"),
        ("15000", "Ready"),
        ("15000", "AuxWork"),
        ("15000", "AuxWork"),  # do-not-disturb on
        ("15000", "NotReady"),
    ]
    assert api.switch.device("15000").snapshot().do_not_disturb


@pytest.mark.parametrize(
    ("user", "body", "http", "status_code", "words"),
    [
        ("agent1", {}, 400, 1, "'operationName' is required"),
        ("agent1", {"operationName": "Logout"}, 400, 1, "Logout: not a user operation"),
        ("agent1", {"operationName": "Ready", "reason": "x"}, 400, 2, "unknown parameter 'reason'"),
        ("agent1", {"operationName": "Ready", "workMode": "AuxWork"}, 400, 2, "'workMode'"),
        ("agent1", {"operationName": "NotReady", "workMode": "Lunch"}, 400, 2, "'workMode'"),
        # a JSON object is unhashable: refused like any other value, not a 500
        ("agent1", {"operationName": "NotReady", "workMode": {}}, 400, 2, "'workMode'"),
        ("agent1", {"operationName": "NotReady", "workMode": ["AuxWork"]}, 400, 2, "'workMode'"),
        (
            "agent1",
            {"operationName": "StartContactCenterSession", "channels": "voice"},
            400,
            2,
            "'channels'",
        ),
        (
            "agent1",
            {"operationName": "StartContactCenterSession", "place": "15001"},
            400,
            2,
            "not this user's place",
        ),
        (
            "agent1",
            {"operationName": "StartContactCenterSession", "queue": {"a": 1}},
            400,
            2,
            "'queue' is a string",
        ),
        (
            "agent1",
            {"operationName": "StartContactCenterSession", "pin": "1"},
            400,
            2,
            "unknown parameter 'pin'",
        ),
        ("agent1", {"operationName": "EndContactCenterSession", "x": 1}, 400, 2, "unknown"),
        ("admin", {"operationName": "Ready"}, 403, 5, "admin owns no device"),
        ("admin", {"operationName": "StartContactCenterSession"}, 403, 5, "admin owns no device"),
    ],
)
def test_refused_user_operations_change_nothing(
    user: str, body: dict[str, Any], http: int, status_code: int, words: str
) -> None:
    api = make()
    events: list[Any] = []
    api.switch.subscribe(events.append)
    before = api.switch.device("15000").snapshot()
    answer = call(api, user, "POST", "/api/v2/me", body)
    assert (answer["_http"], answer["statusCode"]) == (http, status_code)
    assert words in answer["statusMessage"]
    assert events == []
    assert api.switch.device("15000").snapshot() == before


# -- sessions -------------------------------------------------------------------------------------
def test_basic_gets_a_session_cookie_that_then_authenticates_alone() -> None:
    api = make()
    first = api.handle("GET", "/api/v2/me", b"", basic("agent1"))
    cookie = cookie_of(first)
    assert cookie is not None
    assert cookie.startswith("JSESSIONID=")
    assert ("set-cookie", f"{cookie}; Path=/; HttpOnly; SameSite=Lax") in first.headers
    again = api.handle("GET", "/api/v2/me/calls", b"", cookie=cookie)
    assert again.status == 200
    assert cookie_of(again) is None
    with_basic = api.handle("GET", "/api/v2/me", b"", basic("agent1"), cookie=cookie)
    assert cookie_of(with_basic) is None
    # wrong Basic credentials fail even beside a good cookie
    assert api.handle("GET", "/api/v2/me", b"", basic("agent1", "bad"), cookie=cookie).status == 401
    # another user's Basic beside agent1's cookie: that user, in a session of its own
    boss = api.handle("GET", "/api/v2/me", b"", basic("boss"), cookie=cookie)
    assert json.loads(boss.body)["user"]["userName"] == "boss"
    assert cookie_of(boss) is not None
    for forged in ("JSESSIONID=nope", "JSESSIONID=", "other=1", cookie.upper()):
        assert api.handle("GET", "/api/v2/me", b"", cookie=forged).status == 401
    assert len(api.sessions) == 2


def test_ending_the_contact_center_session_ends_the_http_session() -> None:
    api = make()
    cookie = cookie_of(api.handle("GET", "/api/v2/me", b"", basic("agent1")))
    end = b'{"operationName": "EndContactCenterSession"}'
    reply = api.handle("POST", "/api/v2/me", end, cookie=cookie)
    assert reply.status == 200
    assert ("set-cookie", "JSESSIONID=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax") in reply.headers
    assert api.handle("GET", "/api/v2/me", b"", cookie=cookie).status == 401
    # Basic keeps working, with a new session
    assert cookie_of(api.handle("GET", "/api/v2/me", b"", basic("agent1"))) not in (None, cookie)


def test_sessions_expire_after_the_timeout_without_a_request() -> None:
    clock = ManualClock()
    config = {**CONFIG, "http": {"sessionTimeout": 60}}
    api = make(config, clock)
    cookie = cookie_of(api.handle("GET", "/api/v2/me", b"", basic("agent1")))
    clock.now = 59
    assert api.handle("GET", "/api/v2/me", b"", cookie=cookie).status == 200  # used: kept
    clock.now = 118
    assert api.handle("GET", "/api/v2/me", b"", cookie=cookie).status == 200
    clock.now = 179
    assert api.handle("GET", "/api/v2/me", b"", cookie=cookie).status == 401
    assert len(api.sessions) == 0


def test_a_user_holds_a_bounded_number_of_sessions_the_least_used_going_first() -> None:
    clock = ManualClock()
    sessions = HttpSessions(timeout=100, per_user=3, provisional=3, clock=clock)
    made = [sessions.start("agent1") for _ in range(3)]
    assert sessions.find(f"JSESSIONID={made[0].id}") is made[0]  # in use: the last to go
    newer = sessions.start("agent1")
    other = sessions.start("boss")
    assert len(sessions) == 4
    alive = [s for s in [*made, newer] if sessions.find(f"JSESSIONID={s.id}") is not None]
    assert alive == [made[0], made[2], newer]
    assert sessions.find(f"a=b; JSESSIONID={other.id}") is other
    clock.now = 150
    assert sessions.sweep() == 4
    assert len(sessions) == 0


def test_cookie_less_requests_cannot_push_out_a_session_in_use() -> None:
    api = make()
    desktop = cookie_of(api.handle("GET", "/api/v2/me", b"", basic("agent1")))
    assert api.handle("GET", "/api/v2/me", b"", cookie=desktop).status == 200  # sent back
    for _ in range(500):  # a script that keeps no cookies
        assert api.handle("GET", "/api/v2/me/calls", b"", basic("agent1")).status == 200
    assert api.handle("GET", "/api/v2/me", b"", cookie=desktop).status == 200
    assert len(api.sessions) <= 1 + api.sessions.provisional


def test_a_refused_login_does_not_keep_a_session_alive() -> None:
    clock = ManualClock()
    api = make({**CONFIG, "http": {"sessionTimeout": 60}}, clock)
    cookie = cookie_of(api.handle("GET", "/api/v2/me", b"", basic("agent1")))
    for now in (40, 80):
        clock.now = now
        assert (
            api.handle("GET", "/api/v2/me", b"", basic("agent1", "bad"), cookie=cookie).status
            == 401
        )
    assert api.handle("GET", "/api/v2/me", b"", cookie=cookie).status == 401


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("JSESSIONID=abc", "abc"),
        ("a=1; JSESSIONID=abc; b=2", "abc"),
        ('JSESSIONID="abc"', "abc"),
        ("XJSESSIONID=abc", None),
        ("JSESSIONID", None),
        ("JSESSIONID=" + "x" * 65, None),
        (None, None),
    ],
)
def test_the_cookie_header_is_read_as_browsers_write_it(
    header: str | None, value: str | None
) -> None:
    assert cookie_value(header, "JSESSIONID") == value


def test_with_csrf_protection_changes_need_the_session_token() -> None:
    api = make({**CONFIG, "http": {"csrfProtection": True}})
    assert api.http == HttpSettings(csrf_protection=True)
    got = api.handle("GET", "/api/v2/me", b"", basic("agent1"))
    headers = dict(got.headers)
    assert headers["x-csrf-header"] == "X-CSRF-TOKEN"
    token, cookie = headers["x-csrf-token"], cookie_of(got)
    ready = b'{"operationName": "Ready"}'
    for kwargs in (
        {},  # Basic alone: no session, no token
        {"cookie": cookie},
        {"cookie": cookie, "csrf_token": "wrong"},
        {"csrf_token": token},  # a token without its session
    ):
        refused = api.handle("POST", "/api/v2/me/channels/voice", ready, basic("agent1"), **kwargs)
        assert (refused.status, json.loads(refused.body)["statusCode"]) == (403, 3)
        assert b"CSRF token" in refused.body
    assert api.switch.device("15000").snapshot().user_state.value == "NotReady"
    done = api.handle("POST", "/api/v2/me/channels/voice", ready, cookie=cookie, csrf_token=token)
    assert done.status == 200
    assert api.switch.device("15000").snapshot().user_state.value == "Ready"
    assert (
        api.handle("GET", "/api/v2/me/calls", b"", cookie=cookie).status == 200
    )  # reads need none
