"""A whole agent session against ``callstate serve``, driven the way GWS clients others wrote
drive GWS (``tests/rawclient.py``: the CometD Java/.NET clients' URLs and message shapes, a
cookie store, a long-poll beside the requests), and the server rules those clients rely on:
meta messages on every message-type URL, wildcard subscriptions, cookie-only sessions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rawclient import NOTIFICATIONS, GwsClient
from serving import PASSWORDS, Served, basic, server

OUTSIDE = "5551234"  # an outside caller with a DN-like number: its calls are Inbound


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with server(tmp_path_factory.mktemp("gws")) as running:
        yield running


@pytest.fixture
def clients(served: Served) -> Iterator[list[GwsClient]]:
    made: list[GwsClient] = []
    yield made
    for client in made:
        client.close()


def connect(served: Served, clients: list[GwsClient], user: str, channel: str) -> GwsClient:
    client = GwsClient(served.port)
    clients.append(client)
    client.login(user, PASSWORDS[user])
    client.handshake()
    assert client.subscribe(channel)["successful"]
    client.start_polling()
    return client


def shown(message: dict[str, Any]) -> tuple[Any, ...]:
    """What one notification says, in a line: topic, message type, and the call's notification
    type, id, state, callType and participants, or the device's or channel's agent state."""
    data = message["data"]
    if message["channel"] == "/v2/me/calls":
        call = data["call"]
        parties = tuple(p["phoneNumber"] for p in call["participants"])
        return (
            "calls",
            data["notificationType"],
            call["id"],
            call["state"],
            call["callType"],
            parties,
        )
    if message["channel"] == "/v2/me/devices":
        [device] = data["devices"]
        return ("devices", data["messageType"], device["phoneNumber"], device["userState"]["state"])
    [channel] = data["channels"]
    assert data["messageType"] == "ChannelStateChangeMessageV2"
    return ("channels", channel["channel"], channel["phoneNumber"], channel["userState"]["state"])


def far_end(served: Served, step: dict[str, Any]) -> dict[str, Any]:
    reply = httpx.post(
        f"{served.url}/simulator/far-end", json=step, headers={"Authorization": basic("admin")}
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def ok(answer: tuple[int, Any]) -> None:
    assert answer == (200, {"statusCode": 0}), answer


def test_a_whole_agent_session(  # noqa: PLR0915 (one client's session, in order)
    served: Served, clients: list[GwsClient]
) -> None:
    # log in (Basic once), recover state, open CometD with the cookie alone
    agent = GwsClient(served.port)
    clients.append(agent)
    me = agent.login("agent1", PASSWORDS["agent1"])
    assert me["user"]["roles"] == ["ROLE_AGENT"]
    status, whole = agent.get("/api/v2/me?subresources=*")
    assert status == 200
    assert [d["phoneNumber"] for d in whole["user"]["devices"]] == ["15000"]
    assert [c["channel"] for c in whole["user"]["channels"]] == ["voice"]
    assert whole["user"]["calls"] == []
    agent.handshake()
    assert agent.subscribe("/v2/me/**")["successful"]
    agent.start_polling()
    target = connect(served, clients, "agent2", "/v2/me/*")

    ok(
        agent.post(
            "/api/v2/me", {"operationName": "StartContactCenterSession", "channels": ["voice"]}
        )
    )
    ok(agent.post("/api/v2/me", {"operationName": "Ready"}))
    assert [shown(m) for m in agent.take(4)] == [
        ("devices", "DeviceStateChangeMessage", "15000", "NotReady"),
        ("channels", "voice", "15000", "NotReady"),
        ("devices", "DeviceStateChangeMessage", "15000", "Ready"),
        ("channels", "voice", "15000", "Ready"),
    ]

    # an inbound call from an outside number, answered, data attached
    call = far_end(served, {"external": OUTSIDE, "event": "Call", "to": "15000"})["callId"]
    inbound = ("Inbound", (OUTSIDE,))
    assert [shown(m) for m in agent.take(1)] == [
        ("calls", "StatusChange", call, "Ringing", *inbound)
    ]
    ok(agent.post(f"/api/v2/me/calls/{call}", {"operationName": "Answer"}))
    data = {"operationName": "AttachUserData", "userData": {"AccountId": "42"}}
    ok(agent.post(f"/api/v2/me/calls/{call}", data))
    answered, attached = agent.take(2)
    assert shown(answered) == ("calls", "StatusChange", call, "Established", *inbound)
    assert shown(attached) == ("calls", "AttachedDataChanged", call, "Established", *inbound)
    assert attached["data"]["call"]["userData"] == {"AccountId": "42"}

    # a consult transfer to agent2
    consult_to = {"operationName": "InitiateTransfer", "destination": {"phoneNumber": "15001"}}
    ok(agent.post(f"/api/v2/me/calls/{call}", consult_to))
    held, dialing = agent.take(2)
    consult = dialing["data"]["call"]["id"]
    assert shown(held) == ("calls", "StatusChange", call, "Held", *inbound)
    assert shown(dialing) == ("calls", "StatusChange", consult, "Dialing", "Consult", ("15001",))
    [ringing] = target.take(1)
    theirs = ringing["data"]["call"]["id"]
    assert shown(ringing) == ("calls", "StatusChange", theirs, "Ringing", "Consult", ("15000",))
    assert ringing["data"]["call"]["userData"] == {"AccountId": "42"}  # the data goes along
    ok(target.post(f"/api/v2/me/calls/{theirs}", {"operationName": "Answer"}))
    assert [shown(m) for m in target.take(1)] == [
        ("calls", "StatusChange", theirs, "Established", "Consult", ("15000",))
    ]
    assert [shown(m) for m in agent.take(2)] == [
        ("calls", "StatusChange", consult, "Established", "Consult", ("15001",)),
        ("calls", "StatusChange", call, "Held", *inbound),  # now it may complete the transfer
    ]
    ok(agent.post(f"/api/v2/me/calls/{consult}", {"operationName": "CompleteTransfer"}))
    assert [shown(m) for m in agent.take(2)] == [
        ("calls", "StatusChange", call, "Released", *inbound),
        ("calls", "StatusChange", consult, "Released", "Consult", ("15001",)),
    ]
    assert [shown(m) for m in target.take(1)] == [
        ("calls", "ParticipantsUpdated", theirs, "Established", "Consult", (OUTSIDE,))
    ]
    assert agent.get("/api/v2/me/calls") == (200, {"statusCode": 0, "calls": []})

    # agent2 hangs up; agent1 is told nothing of it
    ok(target.post(f"/api/v2/me/calls/{theirs}", {"operationName": "Hangup"}))
    assert [shown(m) for m in target.take(1)] == [
        ("calls", "StatusChange", theirs, "Released", "Consult", (OUTSIDE,))
    ]

    # not ready, then the end of the contact-center session (which ends the HTTP session: its
    # messages reach the connect held at that moment, and the cookie authenticates no more)
    ok(agent.post("/api/v2/me", {"operationName": "NotReady"}))
    assert [shown(m) for m in agent.take(2)] == [
        ("devices", "DeviceStateChangeMessage", "15000", "NotReady"),
        ("channels", "voice", "15000", "NotReady"),
    ]
    agent.held()
    ok(agent.post("/api/v2/me", {"operationName": "EndContactCenterSession"}))
    assert [shown(m) for m in agent.take(2)] == [
        ("devices", "DeviceStateChangeMessage", "15000", "NotReady"),
        ("channels", "voice", "15000", "NotReady"),
    ]
    assert "JSESSIONID" not in agent.cookies  # the server cleared it
    status, refused = agent.disconnect()
    assert (status, refused["statusCode"]) == (401, 20)
    secret = base64.b64encode(b"agent1:" + PASSWORDS["agent1"].encode()).decode()
    status, [bye] = agent.disconnect({"Authorization": f"Basic {secret}"})
    assert (status, bye["channel"], bye["successful"]) == (200, "/meta/disconnect", True)
    assert agent.quiet()
    assert target.quiet()
    assert agent.errors == []
    assert target.errors == []
    ok(target.post("/api/v2/me", {"operationName": "EndContactCenterSession"}))


def test_meta_messages_are_taken_on_every_message_type_url(served: Served) -> None:
    auth = {"Authorization": basic("agent3")}
    with httpx.Client(base_url=served.url, headers=auth) as http:
        for suffix in (
            "",
            "/",
            "/handshake",
            "/connect",
            "/subscribe",
            "/unsubscribe",
            "/disconnect",
        ):
            url = NOTIFICATIONS + suffix
            [hello] = http.post(url, json=[{"channel": "/meta/handshake", "id": "1"}]).json()
            assert hello["successful"], (suffix, hello)
            client = hello["clientId"]
            for message in (
                {"channel": "/meta/subscribe", "subscription": "/v2/me/calls"},
                {"channel": "/meta/connect", "connectionType": "long-polling"},
                {"channel": "/meta/unsubscribe", "subscription": "/v2/me/calls"},
                {"channel": "/meta/disconnect"},
            ):
                reply = http.post(url, json={**message, "clientId": client}).json()
                assert reply[-1]["successful"], (suffix, reply)
        assert http.post(NOTIFICATIONS + "/publish", json=[]).status_code == 404


def test_wildcards_over_the_wire_deliver_only_what_the_user_may_see(
    served: Served, clients: list[GwsClient]
) -> None:
    everything = connect(served, clients, "agent3", "/**")
    one_level = connect(served, clients, "agent2", "/v2/me/*")
    assert everything.subscribe("/v2/me/chats")["successful"]  # a media we do not model
    assert everything.subscribe("/v2/me/emails")["successful"]
    refused = everything.subscribe("/meta/**")
    assert (refused["successful"], refused["error"]) == (False, "403::subscription denied")
    # agent1's device and call: neither agent3 nor agent2 sees them
    call = {"external": "+14155550111", "event": "Call", "to": "15000"}
    far_end(served, call)
    with httpx.Client(base_url=served.url, headers={"Authorization": basic("agent1")}) as http:
        ready = http.post("/api/v2/me/channels/voice", json={"operationName": "Ready"})
        assert ready.status_code == 200
    # agent3's own: told once each, on the topic it belongs to
    ok(everything.post("/api/v2/me", {"operationName": "DoNotDisturbOn"}))
    device, channel = everything.take(2)
    assert shown(device)[:2] == ("devices", "DeviceStateChangeMessage")
    assert device["data"]["devices"][0]["doNotDisturb"] == "On"
    assert shown(channel)[:2] == ("channels", "voice")
    assert channel["data"]["channels"][0]["dndState"] == "On"
    ok(everything.post("/api/v2/me", {"operationName": "DoNotDisturbOff"}))
    assert [m["channel"] for m in everything.take(2)] == ["/v2/me/devices", "/v2/me/channels"]
    assert everything.quiet()
    assert one_level.quiet()
    far_end(served, {**call, "event": "Hangup"})


def test_a_cookie_only_client_handshakes_and_disconnects(served: Served) -> None:
    with httpx.Client(base_url=served.url) as http:
        assert http.get("/api/v2/me", headers={"Authorization": basic("agent2")}).status_code == 200
        assert "JSESSIONID" in http.cookies
        [hello] = http.post(
            NOTIFICATIONS + "/handshake", json=[{"channel": "/meta/handshake"}]
        ).json()
        assert hello["successful"]
        body = [{"channel": "/meta/disconnect", "clientId": hello["clientId"]}]
        [bye] = http.post(NOTIFICATIONS + "/disconnect", json=body).json()
        assert bye["successful"]
        http.cookies.clear()
        answer = http.post(NOTIFICATIONS + "/handshake", json=[{"channel": "/meta/handshake"}])
        assert (answer.status_code, json.loads(answer.text)["statusCode"]) == (401, 20)


def test_a_bayeux_id_beyond_64_bits_comes_back_exactly(served: Served) -> None:
    body = b'[{"channel": "/meta/handshake", "id": 123456789012345678901234567890}]'
    reply = httpx.post(
        served.url + NOTIFICATIONS,
        content=body,
        headers={"Authorization": basic("agent1"), "Content-Type": "application/json"},
    )
    assert b'"id":123456789012345678901234567890' in reply.content
    nan = httpx.post(
        served.url + NOTIFICATIONS,
        content=b'[{"channel": "/meta/handshake", "id": NaN}]',
        headers={"Authorization": basic("agent1")},
    )
    assert (nan.status_code, nan.json()["statusCode"]) == (400, 1)
