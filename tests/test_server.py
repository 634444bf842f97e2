"""The served switch, driven by clients someone else wrote: httpx for REST, aiocometd for CometD.

Each test starts its own ``python -m callstate serve`` process (``tests/serving.py``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiocometd_noloop import Client, ConnectionType
from serving import CONFIG, DNS, Basic, Served, basic, server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:aiohttp")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with server(tmp_path) as running:
        yield running


@asynccontextmanager
async def cometd(served: Served, user: str) -> AsyncIterator[Client]:
    client = Client(
        f"{served.url}/api/v2/notifications", ConnectionType.LONG_POLLING, auth=Basic(user)
    )
    await asyncio.wait_for(client.open(), 10)
    try:
        await asyncio.wait_for(client.subscribe("/v2/me/calls"), 10)
        yield client
    finally:
        await asyncio.wait_for(client.close(), 10)


class Rest:
    def __init__(self, served: Served, user: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=f"{served.url}/api/v2", headers={"Authorization": basic(user)}, timeout=10
        )
        self.dn = DNS[user]

    async def __aenter__(self) -> Rest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(path, json=body)
        answer: dict[str, Any] = response.json()
        assert response.status_code == 200, answer
        return answer

    async def dial(self, to: str) -> None:
        body = {"operationName": "Dial", "destination": {"phoneNumber": to}}
        await self.post(f"/me/devices/{self.dn}/calls", body)

    async def do(self, call_id: str, operation: str) -> None:
        await self.post(f"/me/calls/{call_id}", {"operationName": operation})


async def next_state(client: Client) -> tuple[str, str, str]:
    message = await asyncio.wait_for(client.receive(), 10)
    data = message["data"]
    return data["phoneNumber"], data["call"]["id"], data["call"]["state"]


@pytest.mark.asyncio
async def test_dial_ring_answer_hangup_seen_by_both_agents(served: Served) -> None:
    async with (
        Rest(served, "agent1") as one,
        Rest(served, "agent2") as two,
        cometd(served, "agent1") as caller,
        cometd(served, "agent2") as callee,
    ):
        await one.dial("15001")
        dn, dialing, state = await next_state(caller)
        assert (dn, state) == ("15000", "Dialing")
        dn, ringing, state = await next_state(callee)
        assert (dn, state) == ("15001", "Ringing")
        await two.do(ringing, "Answer")
        assert await next_state(caller) == ("15000", dialing, "Established")
        assert await next_state(callee) == ("15001", ringing, "Established")
        listed = (await one.http.get("/me/calls")).json()["calls"]
        assert [(c["id"], c["state"]) for c in listed] == [(dialing, "Established")]
        await one.do(dialing, "Hangup")
        assert await next_state(caller) == ("15000", dialing, "Released")
        assert await next_state(callee) == ("15001", ringing, "Released")


@pytest.mark.asyncio
async def test_fifty_fast_cycles_each_message_once_in_order(served: Served) -> None:
    async with (
        Rest(served, "agent1") as one,
        Rest(served, "agent2") as two,
        cometd(served, "agent1") as caller,
        cometd(served, "agent2") as callee,
        cometd(served, "agent3") as bystander,
        cometd(served, "admin") as admin,
    ):
        seen: dict[str, list[tuple[str, str, str]]] = {"caller": [], "callee": [], "admin": []}
        for _ in range(50):
            await one.dial("15001")
            seen["caller"].append(await next_state(caller))
            ringing = await next_state(callee)
            seen["callee"].append(ringing)
            await two.do(ringing[1], "Answer")
            await one.do(seen["caller"][-1][1], "Hangup")
            for _ in range(2):
                seen["caller"].append(await next_state(caller))
                seen["callee"].append(await next_state(callee))
        for _ in range(50 * 6):
            seen["admin"].append(await next_state(admin))
        for who, dn, first in (("caller", "15000", "Dialing"), ("callee", "15001", "Ringing")):
            messages = seen[who]
            assert {m[0] for m in messages} == {dn}
            ids = [m[1] for m in messages[::3]]
            assert len(set(ids)) == 50
            expected = [(dn, i, s) for i in ids for s in (first, "Established", "Released")]
            assert messages == expected
        assert sorted(seen["admin"]) == sorted(seen["caller"] + seen["callee"])
        health = (await one.http.get(f"{served.url}/simulator/health")).json()
        pauses = health.pop("gc")
        assert health == {"statusCode": 0, "calls": 0, "clients": 4}
        assert len(pauses["collections"]) == len(pauses["longestMs"]) == 3
        assert len(pauses["collected"]) == 3
        assert pauses["frozen"] > 0  # what start built, and every second what lives on
        with pytest.raises(asyncio.TimeoutError):  # nothing more, and nothing for agent3
            await asyncio.wait_for(caller.receive(), 0.3)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(bystander.receive(), 0.1)


@pytest.mark.asyncio
async def test_a_refused_operation_is_answered_and_notifies_nobody(served: Served) -> None:
    async with (
        Rest(served, "agent1") as one,
        Rest(served, "admin") as admin,
        cometd(served, "agent1") as caller,
    ):
        await one.dial("+14155550100")
        _, call_id, _ = await next_state(caller)
        response = await one.http.post(f"/me/calls/{call_id}", json={"operationName": "Retrieve"})
        assert response.status_code == 400
        assert response.json()["statusCode"] == 2
        far_end = {"external": "+14155550100", "event": "Answer"}
        await admin.post(f"{served.url}/simulator/far-end", far_end)
        assert (await next_state(caller))[2] == "Established"  # the refusal sent nothing


@pytest.mark.asyncio
async def test_far_end_call_reaches_the_agent(served: Served) -> None:
    async with (
        httpx.AsyncClient(base_url=served.url, headers={"Authorization": basic("admin")}) as admin,
        httpx.AsyncClient(
            base_url=served.url, headers={"Authorization": basic("agent1")}
        ) as agent1,
        cometd(served, "agent2") as agent,
    ):
        step = {"external": "+14155550100", "event": "Call", "to": "15001"}
        answer = (await admin.post("/simulator/far-end", json=step)).json()
        assert await next_state(agent) == ("15001", answer["callId"], "Ringing")
        ghost = {"external": "+14155550199", "event": "Hangup"}
        missing = await admin.post("/simulator/far-end", json=ghost)
        assert (missing.status_code, missing.json()["statusCode"]) == (404, 6)
        refused = await agent1.post("/simulator/far-end", json=step)
        assert (refused.status_code, refused.json()["statusCode"]) == (403, 5)


BAD_REQUESTS = [
    ("POST", "/", None, 405),  # the web page is only read (tests/test_web.py)
    ("GET", "/web/missing.js", None, 404),
    ("GET", "/favicon.ico", None, 404),
    ("PATCH", "/api/v2/me/calls", None, 405),
    ("POST", "/api/v2/me/calls/X", b"{oops", 400),
    ("POST", "/api/v2/me/calls/X", b"[]", 400),
    ("POST", "/api/v2/me/calls/X", b"{}" + b" " * 70_000, 413),
    ("GET", "/api/v2/notifications", None, 405),
    ("POST", "/api/v2/notifications", b"{oops", 400),
    ("POST", "/api/v2/notifications", b"7", 400),
    ("POST", "/api/v2/notifications/elsewhere", b"[]", 404),
    ("POST", "/api/v2/notificationsX", b"[]", 404),
    # a ``?`` encoded in the path is part of it, not the query's start (no such call: 404)
    ("POST", "/api/v2/me/calls/%3Fx", b'{"operationName": "Answer"}', 404),
    ("GET", "/api/v2/me/calls%3F", None, 404),
]


def test_bad_requests_get_json_never_html(served: Served) -> None:
    with httpx.Client(base_url=served.url, headers={"Authorization": basic("agent1")}) as http:
        for method, path, body, status in BAD_REQUESTS:
            response = http.request(method, path, content=body)
            assert response.status_code == status, (method, path, response.text)
            assert response.headers["content-type"] == "application/json"
            assert isinstance(response.json()["statusCode"], int)
            if status == 405:  # RFC 9110: a 405 names the methods the path takes
                allow = "GET, HEAD" if path == "/" else "GET" if "calls" in path else "POST"
                assert response.headers["allow"] == allow
    anonymous = httpx.get(f"{served.url}/api/v2/me/calls")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="callstate"'
    wrong = httpx.post(
        f"{served.url}/api/v2/notifications/handshake",
        json={"channel": "/meta/handshake"},
        headers={"Authorization": basic("agent1", "nope")},
    )
    assert (wrong.status_code, wrong.json()["statusCode"]) == (401, 20)


def bayeux(served: Served, user: str, *messages: dict[str, Any], **kw: Any) -> Any:
    response = httpx.post(
        f"{served.url}/api/v2/notifications",
        json=list(messages),
        headers={"Authorization": basic(user)},
        **kw,
    )
    assert response.status_code == 200
    return response.json()


def handshake(served: Served, user: str) -> str:
    [hello] = bayeux(served, user, {"channel": "/meta/handshake", "version": "1.0"})
    client = str(hello["clientId"])
    [sub] = bayeux(
        served,
        user,
        {"channel": "/meta/subscribe", "clientId": client, "subscription": "/v2/me/calls"},
    )
    assert sub["successful"]
    [first] = bayeux(served, user, {"channel": "/meta/connect", "clientId": client})
    assert first["successful"]
    return client


def test_a_client_id_used_with_other_credentials_is_unknown(served: Served) -> None:
    client = handshake(served, "agent1")
    dial = {"operationName": "Dial", "destination": "15001"}
    with httpx.Client(base_url=served.url, headers={"Authorization": basic("agent1")}) as http:
        assert http.post("/api/v2/me/devices/15000/calls", json=dial).status_code == 200
    stolen = bayeux(served, "agent2", {"channel": "/meta/connect", "clientId": client})
    assert [m.get("data") for m in stolen] == [None]
    assert stolen[0]["error"].startswith("402::")
    mine = bayeux(
        served, "agent1", {"channel": "/meta/connect", "clientId": client, "advice": {"timeout": 0}}
    )
    assert [m["data"]["call"]["state"] for m in mine if "data" in m] == ["Dialing"]


def test_a_client_gone_mid_poll_loses_nothing(served: Served) -> None:
    client = handshake(served, "agent1")
    with pytest.raises(httpx.ReadTimeout):  # the client gives up on a held connect
        bayeux(served, "agent1", {"channel": "/meta/connect", "clientId": client}, timeout=0.3)
    dial = {"operationName": "Dial", "destination": {"phoneNumber": "15001"}}
    with httpx.Client(base_url=served.url, headers={"Authorization": basic("agent1")}) as http:
        assert http.post("/api/v2/me/devices/15000/calls", json=dial).status_code == 200
    replies = bayeux(served, "agent1", {"channel": "/meta/connect", "clientId": client})
    assert [m["data"]["call"]["state"] for m in replies if "data" in m] == ["Dialing"]


@pytest.mark.asyncio
async def test_shutdown_answers_held_connects_and_exits_zero(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    with server(tmp_path, CONFIG, "--log", str(log)) as running:
        client = handshake(running, "agent1")
        async with httpx.AsyncClient(timeout=10) as http:
            held = asyncio.ensure_future(
                http.post(
                    f"{running.url}/api/v2/notifications",
                    json=[{"channel": "/meta/connect", "clientId": client}],
                    headers={"Authorization": basic("agent1")},
                )
            )
            await asyncio.sleep(0.3)
            assert not held.done()
            loop = asyncio.get_running_loop()
            status = loop.run_in_executor(None, running.stop)
            reply = (await asyncio.wait_for(held, 5)).json()
            assert reply[-1]["advice"]["reconnect"] == "handshake"
            assert await asyncio.wait_for(status, 10) == 0
    assert log.read_text().startswith("{")  # the event log was written and closed


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callstate", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("{", "not JSON"),
        (json.dumps({"devices": [], "users": []}), "no users"),
        (json.dumps({**CONFIG, "users": [{"username": "x"}]}), "password"),
    ],
)
def test_a_bad_config_is_refused_at_start(tmp_path: Path, config: str, says: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(config)
    done = run_cli("--config", str(path))
    assert done.returncode == 2
    assert says in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_missing_config_file_is_refused_at_start(tmp_path: Path) -> None:
    done = run_cli("--config", str(tmp_path / "nowhere.json"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr


def test_the_demo_center_prints_its_users(tmp_path: Path) -> None:
    from serving import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "callstate", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(7)]
        assert "agent1" in "".join(banner)
        assert "admin" in "".join(banner)
        assert f"127.0.0.1:{port}" in banner[-1]
    finally:
        process.terminate()
        assert process.wait(10) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_a_busy_port_is_refused_at_start_in_one_line(served: Served) -> None:
    config = served.folder / "config.json"
    done = run_cli("--config", str(config), "--port", str(served.port))
    assert done.returncode == 2
    assert "cannot listen" in done.stderr
    assert done.stderr.count("\n") == 1


def test_an_unfinished_request_neither_waits_for_credentials_nor_blocks_a_stop(
    served: Served,
) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as anonymous:
        anonymous.sendall(
            b"POST /api/v2/me/calls/X HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        )
        answer = anonymous.recv(4096)  # refused before the body is read
        assert answer.startswith(b"HTTP/1.1 401")
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as slow:
        head = f"POST /api/v2/me/calls/X HTTP/1.1\r\nHost: x\r\nAuthorization: {basic('agent1')}"
        slow.sendall(head.encode() + b"\r\nContent-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        assert served.stop() == 0
        assert time.monotonic() - started < 8
    assert "Traceback" not in served.stderr()


def test_device_uris_resolve_over_http(served: Served) -> None:
    with httpx.Client(base_url=served.url, headers={"Authorization": basic("agent1")}) as http:
        uri = http.get("/api/v2/me").json()["user"]["deviceUri"]
        assert uri.startswith(served.url)  # the address the client used
        device = http.get(uri).json()["device"]
        assert device["phoneNumber"] == "15000"
        assert http.get("/api/v2/devices").status_code == 403
    with httpx.Client(base_url=served.url, headers={"Authorization": basic("agent2")}) as http:
        assert http.get(uri).json() == {
            "statusCode": 6,
            "statusMessage": f"device {device['id']} not found",
        }
    with httpx.Client(base_url=served.url, headers={"Authorization": basic("admin")}) as http:
        assert http.get("/api/v2/me/devices").json()["devices"] == []
        assert uri in http.get("/api/v2/devices").json()["uris"]
        listed = http.get("/api/v2/devices", params={"fields": "*"}).json()["devices"]
        assert [d["phoneNumber"] for d in listed] == ["15000", "15001", "15002"]
