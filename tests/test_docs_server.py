"""The examples of ``docs/server.md`` run as written: the "another framework" server, the
CometD clients in Python and JavaScript (against a live server), and the supervision sequence."""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import PASSWORDS, server

from callstate.api import Api
from callstate.config import DEMO, load

DOC = Path(__file__).resolve().parents[1] / "docs" / "server.md"


def block(language: str, holding: str) -> str:
    """The code block of ``language`` in the doc that holds ``holding``."""
    text = DOC.read_text(encoding="utf-8")
    found = [b.split("```", 1)[0] for b in text.split(f"```{language}\n")[1:]]
    (code,) = [b for b in found if holding in b]
    return code


@pytest.mark.skipif(not DOC.exists(), reason="docs/ are not beside these tests")
def test_the_standard_library_example_serves_the_api() -> None:
    code = block("python", "BaseHTTPRequestHandler")
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    config = {
        "devices": [{"dn": "15000"}],
        "users": [{"username": "agent1", "password": "pw", "role": "agent", "dn": "15000"}],
    }
    api = Api.from_config(load(config), seed=1)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), namespace["handler"](api))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/api/v2/me/devices/15000/calls"
    auth = "Basic " + base64.b64encode(b"agent1:pw").decode()
    body = json.dumps({"operationName": "Dial", "destination": {"phoneNumber": "15001"}})
    try:
        request = urllib.request.Request(url, body.encode(), {"Authorization": auth})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == {"statusCode": 0}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, body.encode()), timeout=5)
        assert refused.value.code == 401
        assert json.loads(refused.value.read())["statusCode"] == 20
        refused.value.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [c.state for c in api.switch.device("15000").calls] == ["Dialing"]


# -- the CometD clients ------------------------------------------------------------------------
def call_cycles(base: str, done: Callable[[], bool]) -> list[str]:
    """agent1 dials agent2 and hangs up, again and again until ``done`` (at most 20 s: a client
    may subscribe only after the first cycles); the ids of the calls made."""
    made: list[str] = []
    deadline = time.monotonic() + 20
    with httpx.Client(base_url=f"{base}/api/v2", auth=("agent1", PASSWORDS["agent1"])) as http:
        while not done() and time.monotonic() < deadline:
            dial = {"operationName": "Dial", "destination": {"phoneNumber": "15001"}}
            assert http.post("/me/devices/15000/calls", json=dial).json() == {"statusCode": 0}
            (call,) = http.get("/me/calls").json()["calls"]
            made.append(call["id"])
            hangup = {"operationName": "Hangup"}
            assert http.post(f"/me/calls/{call['id']}", json=hangup).json() == {"statusCode": 0}
            time.sleep(0.3)
    return made


def check_printed(lines: list[str], made: list[str]) -> None:
    """The first two lines a client printed: a Dialing and a Released of calls agent1 made."""
    assert len(lines) >= 2, lines
    parsed = [line.split() for line in lines[:2]]
    assert all(len(p) == 3 and p[0] == "StatusChange" and p[1] in made for p in parsed), lines
    assert {p[2] for p in parsed} <= {"Dialing", "Released"}


@pytest.mark.skipif(not DOC.exists(), reason="docs/ are not beside these tests")
@pytest.mark.asyncio
async def test_the_python_cometd_example_prints_call_notifications(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace: dict[str, Any] = {"__name__": "server_md_example"}
    exec(compile(block("python", "aiocometd_noloop"), str(DOC), "exec"), namespace)
    with server(tmp_path) as served:
        watch = namespace["watch_calls"](served.url, "agent1", PASSWORDS["agent1"], 2)
        watcher = asyncio.ensure_future(watch)
        made = await asyncio.to_thread(call_cycles, served.url, watcher.done)
        await asyncio.wait_for(watcher, 10)
    check_printed(capsys.readouterr().out.splitlines(), made)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.skipif(not DOC.exists(), reason="docs/ are not beside these tests")
def test_the_javascript_cometd_example_prints_call_notifications(
    tmp_path: Path, node_modules: Path
) -> None:
    run = tmp_path / "watch"
    run.mkdir()
    (run / "watch.mjs").write_text(block("js", "cometd"), encoding="utf-8")
    (run / "node_modules").symlink_to(node_modules.resolve() / "node_modules")
    printed: queue.Queue[str] = queue.Queue()
    lines: list[str] = []
    with server(tmp_path) as served:
        node = subprocess.Popen(
            ["node", "watch.mjs", served.url, "agent1", PASSWORDS["agent1"]],
            cwd=run,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert node.stdout is not None
        reader = threading.Thread(target=lambda: [printed.put(x) for x in node.stdout], daemon=True)
        reader.start()

        def two_lines() -> bool:
            while not printed.empty():
                lines.append(printed.get().strip())
            return len(lines) >= 2 or node.poll() is not None

        try:
            made = call_cycles(served.url, two_lines)
        finally:
            node.terminate()
            _, errors = node.communicate(timeout=10)
    two_lines()
    check_printed(lines, made)
    assert "handshake failed" not in errors


# -- the supervision sequence ------------------------------------------------------------------
def test_the_documented_supervision_sequence_runs_on_the_api() -> None:
    api = Api.from_config(load(DEMO), seed=1)
    ids: dict[str, str] = {}

    def send(line: str) -> dict[str, Any]:
        user, method, rest = line.split(maxsplit=2)
        path, _, body = rest.partition(" ")
        for name, value in ids.items():
            path = path.replace(f"{{{name}}}", value)
        secret = base64.b64encode(f"{user}:{user}".encode()).decode()  # demo: password = name
        reply = api.handle(method, path, body.encode(), f"Basic {secret}")
        answer: dict[str, Any] = json.loads(reply.body)
        assert (reply.status, answer["statusCode"]) == (200, 0), (line, answer)
        return answer

    def call(dn: str) -> Any:
        (leg,) = api.switch.device(dn).calls
        return leg

    lines = [line for line in block("text", "ListenIn").splitlines() if line.strip()]
    assert len(lines) == 11
    send(lines[0])
    assert api.switch.device("15010").snapshot().supervision is not None
    ids["agentCall"] = send(lines[1])["callId"]
    send(lines[2])
    (ringing,) = send(lines[3])["calls"]
    assert ringing["state"] == "Ringing"
    ids["supervisorCall"] = ringing["id"]
    send(lines[4])
    assert (call("15010").state, call("15010").mute) == ("Established", "On")  # ListenIn
    send(lines[5])
    assert call("15010").mute == "Off"  # BargeIn
    assert "15010" in call("15000").participants
    for line in lines[6:9]:  # mute and unmute the agent, back to ListenIn
        send(line)
    assert call("15010").mute == "On"
    assert "15010" not in call("15000").participants
    send(lines[9])
    assert api.switch.device("15010").calls == ()
    assert call("15000").state == "Established"  # the agent's call goes on
    send(lines[10])
    assert api.switch.device("15010").snapshot().supervision is None
    coach = api.handle(
        "POST",
        f"/api/v2/me/calls/{ids['agentCall']}",
        b'{"operationName": "SwitchToCoach"}',
        "Basic " + base64.b64encode(b"agent1:agent1").decode(),
    )
    assert (coach.status, json.loads(coach.body)["statusCode"]) == (400, 1)
