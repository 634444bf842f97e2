"""The access log (``callstate.access``) and the CometD session log (``callstate.cometd``).

Against a live server in this process — the served app on the lean protocol, as ``serve`` runs
it, and the same app as plain ASGI — with ``caplog``; and ``serve --log-level`` in a process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from serving import CONFIG, basic, free_port, server

from callstate.access import shown_path, status_code
from callstate.api import Api
from callstate.bayeux import Bayeux
from callstate.config import load
from callstate.connections import Limits
from callstate.lean_http import lean_protocol
from callstate.server import NOTIFICATIONS, app

ACCESS, COMETD = "callstate.access", "callstate.cometd"
DIAL = {"operationName": "Dial", "destination": {"phoneNumber": "15001"}}


def served_app() -> Any:
    config = load(json.dumps(CONFIG))
    api = Api.from_config(config, seed=1, form="8.5.2")
    return app(api, Bayeux(api.projection, config.cometd))


@asynccontextmanager
async def live() -> AsyncIterator[httpx.AsyncClient]:
    """The served app on the lean protocol (as ``serve`` runs it), on a free port."""
    served = served_app()
    adapter = served.state.adapter
    port = free_port()
    config = uvicorn.Config(
        served,
        host="127.0.0.1",
        port=port,
        http=lean_protocol(Limits(), adapter.lean, adapter.quick),
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            client.port = port  # type: ignore[attr-defined]
            yield client
    finally:
        served.state.bayeux.close()
        running.should_exit = True
        await task


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == logger]


def line_of(caplog: pytest.LogCaptureFixture, pattern: str) -> tuple[int, str]:
    found = [(lv, m) for lv, m in lines(caplog, ACCESS) if re.fullmatch(pattern, m)]
    assert len(found) == 1, (pattern, lines(caplog, ACCESS))
    return found[0]


def auth(user: str) -> dict[str, str]:
    return {"authorization": basic(user)}


async def requests_of_every_kind(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v2/me/calls", headers=auth("agent1"))).status_code == 200
    refused = await client.post(
        "/api/v2/me/calls/nope", json={"operationName": "Answer"}, headers=auth("agent1")
    )
    assert refused.status_code == 404
    client.cookies.clear()  # no session: the request below has no user
    assert (await client.get("/api/v2/me?subresources=secret")).status_code == 401
    held = await client.get("/api/v2/me?subresources=calls&x", headers=auth("agent2"))
    assert held.status_code == 200
    client.cookies.clear()
    assert (await client.get("/simulator/health")).status_code == 200


def check_every_kind(caplog: pytest.LogCaptureFixture) -> None:
    ms = r" \d+\.\dms"
    assert line_of(caplog, "GET /api/v2/me/calls agent1 200" + ms)[0] == logging.INFO
    line_of(caplog, "POST /api/v2/me/calls/nope agent1 404 statusCode=6" + ms)
    line_of(caplog, r"GET /api/v2/me\?subresources - 401 statusCode=20" + ms)  # no value
    line_of(caplog, r"GET /api/v2/me\?subresources&x agent2 200" + ms)
    line_of(caplog, "GET /simulator/health - 200" + ms)
    assert not any("secret" in m for _, m in lines(caplog, ACCESS))


@pytest.mark.asyncio
async def test_the_lean_path_logs_one_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callstate")
    async with live() as client:
        await requests_of_every_kind(client)
        admin = auth("admin")
        reset = await client.post("/simulator/reset", headers=admin)
        assert reset.json() == {"statusCode": 0}
        denied = await client.post("/simulator/reset", headers=auth("agent1"))
        assert denied.status_code == 403
        # HTTP the protocol refuses itself: logged too
        port = client.port  # type: ignore[attr-defined]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        assert b" 400 " in await asyncio.wait_for(reader.read(4096), 10)
        writer.close()
    check_every_kind(caplog)
    line_of(caplog, r"POST /simulator/reset admin 200 \d+\.\dms")
    line_of(caplog, r"POST /simulator/reset agent1 403 statusCode=5 \d+\.\dms")
    line_of(caplog, r"- - - 400 statusCode=1 \d+\.\dms")


@pytest.mark.asyncio
async def test_the_asgi_path_logs_the_same_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callstate")
    transport = httpx.ASGITransport(app=served_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await requests_of_every_kind(client)
    check_every_kind(caplog)


async def bayeux(
    client: httpx.AsyncClient, user: str, *messages: dict[str, Any]
) -> list[dict[str, Any]]:
    answer = await client.post(NOTIFICATIONS, json=list(messages), headers=auth(user))
    assert answer.status_code == 200
    result: list[dict[str, Any]] = answer.json()
    return result


@pytest.mark.asyncio
@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO])
async def test_cometd_sessions_and_polls(caplog: pytest.LogCaptureFixture, level: int) -> None:
    caplog.set_level(level, logger="callstate")
    async with live() as client:
        [shake] = await bayeux(client, "agent2", {"channel": "/meta/handshake"})
        me = shake["clientId"]
        subscribe = {"channel": "/meta/subscribe", "clientId": me, "subscription": "/v2/me/calls"}
        await bayeux(client, "agent2", subscribe)
        await bayeux(client, "agent2", {**subscribe, "subscription": "/meta/nothing"})
        connect = {"channel": "/meta/connect", "clientId": me, "connectionType": "long-polling"}
        await bayeux(client, "agent2", connect)  # the first: answered at once
        held = asyncio.create_task(bayeux(client, "agent2", connect))  # held (no task)
        await asyncio.sleep(0.2)
        dialed = await client.post(
            "/api/v2/me/devices/15000/calls", json=DIAL, headers=auth("agent1")
        )
        assert dialed.status_code == 200
        told = await asyncio.wait_for(held, 10)
        assert told[0]["data"]["call"]["state"] == "Ringing"
        await bayeux(client, "agent2", {"channel": "/meta/disconnect", "clientId": me})
    assert lines(caplog, COMETD) == [
        (logging.INFO, f"handshake clientId={me} user=agent2"),
        (logging.INFO, f"subscribe clientId={me} user=agent2 channel=/v2/me/calls"),
        (logging.INFO, f"subscribe clientId={me} user=agent2 channel=/meta/nothing refused"),
        (logging.INFO, f"disconnect clientId={me} user=agent2"),
    ]
    shown = lines(caplog, ACCESS)
    polls = [(lv, m) for lv, m in shown if m.startswith(f"POST {NOTIFICATIONS} agent2")]
    assert len(polls) == (6 if level == logging.DEBUG else 4)  # the two connects: DEBUG
    assert [lv for lv, _ in polls].count(logging.DEBUG) == (2 if level == logging.DEBUG else 0)


@pytest.mark.asyncio
async def test_a_dropped_session_is_logged_with_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callstate")
    async with live() as client:
        ids = [
            (await bayeux(client, "agent1", {"channel": "/meta/handshake"}))[0]["clientId"]
            for _ in range(17)  # 16 sessions a user: the 17th pushes the oldest out
        ]
    dropped = [m for _, m in lines(caplog, COMETD) if m.startswith("dropped")]
    assert dropped == [
        f"dropped clientId={ids[0]} user=agent1: "
        "too many sessions of this user: the oldest was dropped"
    ]


@pytest.mark.asyncio
async def test_a_reset_over_the_network_tells_cometd_clients_their_calls_went(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="callstate")
    async with live() as client:
        [shake] = await bayeux(client, "agent2", {"channel": "/meta/handshake"})
        me = shake["clientId"]
        sub = {"channel": "/meta/subscribe", "clientId": me, "subscription": "/v2/me/calls"}
        connect = {"channel": "/meta/connect", "clientId": me, "connectionType": "long-polling"}
        await bayeux(client, "agent2", sub, connect)
        await client.post("/api/v2/me/devices/15000/calls", json=DIAL, headers=auth("agent1"))
        await bayeux(client, "agent2", connect)  # its Ringing
        held = asyncio.create_task(bayeux(client, "agent2", connect))
        await asyncio.sleep(0.2)
        assert (await client.post("/simulator/reset", headers=auth("admin"))).status_code == 200
        told = await asyncio.wait_for(held, 10)
        assert [m["data"]["call"]["state"] for m in told if "data" in m] == ["Released"]
        calls = await client.get("/api/v2/me/calls", headers=auth("admin"))
        assert calls.json() == {"statusCode": 0, "calls": []}
    line_of(caplog, r"POST /simulator/reset admin 200 \d+\.\dms")


def test_log_level_warning_silences_the_access_lines(tmp_path: Path) -> None:
    for level, shown in (("warning", False), ("info", True)):
        folder = tmp_path / level
        folder.mkdir()
        with server(folder, CONFIG, "--log-level", level) as running:
            got = httpx.get(f"{running.url}/api/v2/me/calls", headers=auth("agent1"))
            assert got.status_code == 200
            refused = httpx.post(f"{running.url}/simulator/reset", headers=auth("agent1"))
            assert refused.status_code == 403
            assert running.stop() == 0
        err = running.stderr()
        found = re.search(
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO callstate\.access "
            r"POST /simulator/reset agent1 403 statusCode=5 \d+\.\dms$",
            err,
            re.MULTILINE,
        )
        assert (found is not None) == shown, err
        assert ("callstate.access" in err) == shown


def test_the_line_s_parts() -> None:
    assert status_code(b'{"statusCode":20,"statusMessage":"x"}') == 20
    assert status_code(b'{"statusCode":0}') == 0
    assert status_code(b"[]") == 0
    assert shown_path("/a", b"k=secret&j=2&flag") == "/a?k&j&flag"
    assert shown_path("/a\nINFO forged") == "'/a\\nINFO forged'"
