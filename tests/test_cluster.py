"""Several processes over NATS JetStream: a switch process, fronts, and the stream between.

Real processes (``python -m callstate serve --nats ...``) on the NATS server at
``CALLSTATE_NATS_URL`` (default ``nats://127.0.0.1:4222``, JetStream on). Without one these
tests fail, loudly: ``CALLSTATE_SKIP_NATS=1`` skips them instead. The test that stops NATS
itself starts a NATS server of its own (``nats-server`` on the PATH or in ``/usr/sbin``).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiocometd_noloop import Client, ConnectionType
from serving import CONFIG, Basic, basic, free_port

from callstate.api import Api
from callstate.config import load
from callstate.log import LogReader
from callstate.switch import Switch

pytestmark = pytest.mark.nats

DIAL = b'{"operationName":"Dial","destination":"15001"}'
HOLD = b'{"operationName":"Hold"}'

NATS_URL = os.environ.get("CALLSTATE_NATS_URL", "nats://127.0.0.1:4222")


def _reachable(url: str) -> str | None:
    import nats

    async def probe() -> str | None:
        try:
            client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        try:
            await client.jetstream().account_info()
        except Exception as error:
            return f"JetStream is off ({type(error).__name__}: {error})"
        finally:
            await client.close()
        return None

    return asyncio.run(probe())


@pytest.fixture(scope="module")
def nats_url() -> str:
    why = _reachable(NATS_URL)
    if why is not None:
        if os.environ.get("CALLSTATE_SKIP_NATS") == "1":
            pytest.skip(f"NATS at {NATS_URL} is not reachable and CALLSTATE_SKIP_NATS=1")
        pytest.fail(
            f"NATS with JetStream is not reachable at {NATS_URL} ({why}): start it, set "
            "CALLSTATE_NATS_URL, or set CALLSTATE_SKIP_NATS=1 to skip these tests",
            pytrace=False,
        )
    return NATS_URL


async def _stream_call(url: str, what: str, stream: str) -> Any:
    import nats

    client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = client.jetstream()
        if what == "delete":
            with suppress(Exception):
                await js.delete_stream(stream)
            return None
        info = await js.stream_info(stream)
        messages = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            messages.append((await js.get_msg(stream, seq)).data)
        return messages
    finally:
        await client.close()


def stream_messages(url: str, stream: str) -> list[bytes]:
    return list(asyncio.run(_stream_call(url, "read", stream)))


@pytest.fixture
def stream(nats_url: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    asyncio.run(_stream_call(nats_url, "delete", name))


class Proc:
    """One ``callstate serve`` process of a cluster."""

    def __init__(self, process: subprocess.Popen[bytes], folder: Path, port: int | None) -> None:
        self.process = process
        self.folder = folder
        self.port = port
        self.url = f"http://127.0.0.1:{port}/api/v2"

    def out(self) -> str:
        return (self.folder / "out").read_text() + (self.folder / "err").read_text()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class Cluster:
    def __init__(self, tmp: Path, url: str, stream: str) -> None:
        self.tmp = tmp
        self.url = url
        self.stream = stream
        self.procs: list[Proc] = []
        self.config = tmp / "config.json"
        self.config.write_text(json.dumps(CONFIG))

    def _start(self, role: str, *extra: str, port: int | None = None) -> Proc:
        folder = self.tmp / f"{role}{len(self.procs)}"
        folder.mkdir()
        command = [sys.executable, "-m", "callstate", "serve", "--config", str(self.config)]
        command += ["--nats", self.url, "--stream", self.stream, "--role", role, *extra]
        if port is not None:
            command += ["--port", str(port), "--format", "8.5.2"]
        with (folder / "out").open("wb") as out, (folder / "err").open("wb") as err:
            process = subprocess.Popen(command, stdout=out, stderr=err, cwd=folder)
        proc = Proc(process, folder, port)
        self.procs.append(proc)
        return proc

    def switch(self, *, wait: bool = True) -> Proc:
        proc = self._start("switch", "--seed", "1")
        if wait:
            _until(lambda: "callstate switch of stream" in proc.out(), proc, "switch started")
        return proc

    def front(self, port: int | None = None) -> Proc:
        proc = self._start("front", port=port or free_port())

        def up() -> bool:
            with suppress(httpx.TransportError):
                return httpx.get(f"{proc.url[:-7]}/simulator/health", timeout=1).is_success
            return False

        _until(up, proc, "front serving")
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.stop(signal.SIGKILL)


def _until(check: Any, proc: Proc | None = None, what: str = "", timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.process.poll() is not None:
            raise AssertionError(f"exited before {what}: {proc.out()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout} s: {proc and proc.out()}")
        time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path: Path, nats_url: str, stream: str) -> Iterator[Cluster]:
    made = Cluster(tmp_path, nats_url, stream)
    try:
        yield made
    finally:
        made.close()


def post(front: Proc, user: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        front.url + path, json=body, headers={"authorization": basic(user)}, timeout=15
    )


def get(front: Proc, user: str, path: str) -> httpx.Response:
    return httpx.get(front.url + path, headers={"authorization": basic(user)}, timeout=15)


def dial(front: Proc, user: str, dn: str, destination: str) -> httpx.Response:
    return post(
        front,
        user,
        f"/me/devices/{dn}/calls",
        {"operationName": "Dial", "destination": destination},
    )


def legs(front: Proc, user: str) -> list[tuple[str, str]]:
    calls = get(front, user, "/me/calls").json()["calls"]
    return sorted((c["id"], c["state"]) for c in calls)


def test_fronts_serve_reads_and_forward_changes(cluster: Cluster) -> None:
    cluster.switch()
    a, b = cluster.front(), cluster.front()
    before = len(stream_messages(cluster.url, cluster.stream))
    answer = dial(a, "agent1", "15000", "15001")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"statusCode": 0}
    # read your write on the front that took it: no waiting
    [(call_id, state)] = legs(a, "agent1")
    assert state == "Dialing"
    # another front follows the stream
    _until(lambda: legs(b, "agent2") and legs(b, "agent2")[0][1] == "Ringing", what="ringing")
    assert len(stream_messages(cluster.url, cluster.stream)) == before + 1
    # a refusal is the switch's, word for word, and appends nothing
    refused = post(a, "agent1", f"/me/calls/{call_id}", {"operationName": "Hold"})
    alone = Api.from_config(load(json.dumps(CONFIG)), seed=1)  # the same, in one process
    alone.handle("POST", "/api/v2/me/devices/15000/calls", DIAL, basic("agent1"))
    expected = alone.handle("POST", f"/api/v2/me/calls/{call_id}", HOLD, basic("agent1"))
    assert (refused.status_code, refused.content) == (expected.status, expected.body)
    assert refused.status_code == 400
    assert len(stream_messages(cluster.url, cluster.stream)) == before + 1
    # and a wrong user is refused at the front, before the switch is asked
    wrong = httpx.post(
        a.url + "/me/devices/15000/calls",
        json={"operationName": "Dial", "destination": "15001"},
        headers={"authorization": basic("agent1", "nope")},
    )
    assert wrong.status_code == 401
    # someone else's call is no more found through a front than in one process
    assert get(b, "agent3", f"/me/calls/{call_id}").status_code == 404
    answered = post(
        b, "agent2", f"/me/calls/{legs(b, 'agent2')[0][0]}", {"operationName": "Answer"}
    )
    assert answered.status_code == 200, answered.text
    assert [s for _, s in legs(b, "agent2")] == ["Established"]
    _until(lambda: [s for _, s in legs(a, "agent1")] == ["Established"], what="established")
    # the user routes: agent state through POST /me, read back from the other front
    assert post(a, "agent1", "/me", {"operationName": "Ready"}).status_code == 200
    channel = lambda: get(b, "agent1", "/me/channels").json()["channels"][0]  # noqa: E731
    _until(lambda: channel()["userState"]["state"] == "Ready", what="agent state")


def test_a_late_front_catches_up_and_the_stream_is_the_log(cluster: Cluster) -> None:
    cluster.switch()
    a = cluster.front()
    for n in range(5):
        assert dial(a, "agent1", "15000", f"+1415555{n:04d}").status_code == 200
    assert dial(a, "agent2", "15001", "15002").status_code == 200
    late = cluster.front()
    assert legs(late, "admin") == legs(a, "admin")
    assert len(legs(late, "admin")) == 7
    # the stream's messages, one after the other, are a log: a switch restores from them
    data = b"".join(stream_messages(cluster.url, cluster.stream))
    switch, reader = Switch.restore(io.BytesIO(data))
    assert reader.cut_line is None
    assert sorted((c.id, c.state.value) for c in switch.calls) == legs(a, "admin")
    assert LogReader.read(io.BytesIO(data)).header["seed"] == 1


def test_the_switch_process_goes_and_comes_back(cluster: Cluster) -> None:
    switch = cluster.switch()
    front = cluster.front()
    assert dial(front, "agent1", "15000", "15001").status_code == 200
    switch.stop(signal.SIGKILL)
    # reads go on; changes are refused with a JSON 503 that says nothing was done
    assert len(legs(front, "admin")) == 2
    refused = dial(front, "agent2", "15001", "15002")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "statusCode": 4,
        "statusMessage": "no switch process is running: nothing was done",
    }
    assert len(legs(front, "admin")) == 2
    # a new switch process rebuilds the switch from the stream, and takes changes again
    again = cluster.switch()
    assert "requests run again (3 devices, 2 live calls)" in again.out()
    assert dial(front, "agent2", "15001", "15002").status_code == 200
    ids = [i for i, _ in legs(front, "admin")]
    assert len(ids) == len(set(ids)) == 4
    # one switch process per stream: another is not started beside it
    third = cluster.switch(wait=False)
    assert third.process.wait(20) == 2
    assert f"a switch process already serves stream {cluster.stream}" in third.out()


def test_killing_a_front_loses_no_acknowledged_change(cluster: Cluster) -> None:
    cluster.switch()
    doomed, other = cluster.front(), cluster.front()
    acknowledged = 0
    for n in range(20):
        if dial(doomed, "agent1", "15000", f"+1415555{n:04d}").status_code == 200:
            acknowledged += 1
        if n == 10:
            doomed.stop(signal.SIGKILL)
            break
    assert acknowledged == 11
    _until(lambda: len(legs(other, "agent1")) == acknowledged, what="every dial")


def _nats_server() -> str | None:
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )


@contextmanager
def private_nats(folder: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    binary = _nats_server()
    if binary is None:
        pytest.skip("no nats-server binary to start a NATS server of this test's own")
    command = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(folder)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _until(lambda: _reachable(f"nats://127.0.0.1:{port}") is None, what="NATS up")
        yield process
    finally:
        process.kill()
        process.wait()


def test_nats_goes_and_comes_back(tmp_path: Path, nats_url: str) -> None:
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    cluster = Cluster(tmp_path, url, "callstate")
    try:
        with private_nats(tmp_path / "nats", port):
            cluster.switch()
            front = cluster.front()
            assert dial(front, "agent1", "15000", "15001").status_code == 200
        # NATS is gone: reads are answered from the front's own projection, changes refused
        assert len(legs(front, "admin")) == 2
        refused = dial(front, "agent2", "15001", "15002")
        assert refused.status_code == 503
        assert refused.json()["statusCode"] == 4
        with private_nats(tmp_path / "nats", port):  # back, with its stream on disk

            def taken() -> bool:
                return dial(front, "agent2", "15001", "15002").status_code == 200

            _until(taken, what="a change taken again", timeout=30)
            assert len(legs(front, "admin")) == 4
    finally:
        cluster.close()


@pytest.mark.asyncio
async def test_a_cometd_session_on_one_front_hears_changes_made_through_another(
    cluster: Cluster,
) -> None:
    await asyncio.to_thread(cluster.switch)
    a, b = await asyncio.to_thread(cluster.front), await asyncio.to_thread(cluster.front)
    client = Client(f"{b.url}/notifications", ConnectionType.LONG_POLLING, auth=Basic("agent2"))
    await asyncio.wait_for(client.open(), 10)
    try:
        await asyncio.wait_for(client.subscribe("/v2/me/calls"), 10)
        async with httpx.AsyncClient(headers={"authorization": basic("agent1")}) as http:
            answer = await http.post(f"{a.url}/me/devices/15000/calls", content=DIAL)
            assert answer.status_code == 200
            [leg] = (await http.get(f"{a.url}/me/calls")).json()["calls"]
            assert (
                await http.post(f"{a.url}/me/calls/{leg['id']}", json={"operationName": "Hangup"})
            ).status_code == 200
        states = []
        while len(states) < 2:
            message = await asyncio.wait_for(client.receive(), 10)
            states.append(message["data"]["call"]["state"])
        assert states == ["Ringing", "Released"]
        with pytest.raises(TimeoutError):  # each change once
            await asyncio.wait_for(client.receive(), 1)
    finally:
        await asyncio.wait_for(client.close(), 10)


def test_an_admin_clears_a_call_and_resets_the_switch_through_a_front(cluster: Cluster) -> None:
    switch = cluster.switch()
    a, b = cluster.front(), cluster.front()
    simulator = a.url.removesuffix("/api/v2") + "/simulator"
    admin = {"authorization": basic("admin")}
    assert dial(a, "agent1", "15000", "15001").status_code == 200
    _until(lambda: len(legs(b, "agent2")) == 1, what="ringing on the other front")
    [(ringing, _)] = legs(a, "agent2")
    body = {"operationName": "ClearCall"}
    cleared = httpx.post(f"{simulator}/calls/{ringing}", json=body, headers=admin, timeout=15)
    assert cleared.json() == {"statusCode": 0}
    assert legs(a, "admin") == []  # read your write
    _until(lambda: legs(b, "admin") == [], what="cleared on the other front")
    assert dial(a, "agent1", "15000", "15001").status_code == 200
    assert post(a, "agent2", "/me/channels/voice", {"operationName": "Ready"}).status_code == 200
    refused = httpx.post(f"{simulator}/reset", headers={"authorization": basic("agent1")})
    assert refused.status_code == 403
    before = len(stream_messages(cluster.url, cluster.stream))
    reset = httpx.post(f"{simulator}/reset", headers=admin, timeout=15)
    assert reset.json() == {"statusCode": 0}
    assert legs(a, "admin") == []
    _until(lambda: legs(b, "admin") == [], what="reset on the other front")
    state = lambda: get(b, "agent2", "/me/channels").json()["channels"][0]["userState"]  # noqa: E731
    _until(lambda: state()["state"] == "NotReady", what="agent state back")
    assert len(stream_messages(cluster.url, cluster.stream)) == before + 1  # one request line
    # a restarted switch process rebuilds the same state from the stream
    switch.stop()
    cluster.switch()
    assert dial(a, "agent1", "15000", "15001").status_code == 200
    assert [s for _, s in legs(a, "admin")] == ["Dialing", "Ringing"]
    # access lines: the front that took each request, and the switch process that ran it
    for proc in (a, switch):
        assert re.search(r"INFO callstate\.access POST /simulator/reset admin 200 ", proc.out())
    assert re.search(r"POST /simulator/reset agent1 403 statusCode=5 ", a.out())
