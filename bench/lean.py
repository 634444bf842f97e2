"""Many CometD clients at once: a lean load generator, and the scale run of ``bench/server.py``.

``python bench/server.py --agents 10000 --arrival burst`` (or ``spread``; ``--fronts 2`` for
several processes over NATS JetStream) runs ``scale`` below: the server is the real
``python -m callstate serve`` (or one switch process and F fronts), and the clients are raw
asyncio protocols (one keep-alive HTTP/1.1 connection each, Basic credentials on every request,
nothing parsed but the status line, ``Content-Length`` and the JSON body) in several worker
processes, so that the generator is not what is measured. Every worker prints its own CPU.

The run, on one schedule every process knows (times on the machine's monotonic clock):

1. *arrival*: every agent's client handshakes, subscribes to ``/v2/me/calls`` and starts
   polling — all at once (``burst``, as after a restart) or spread evenly over ``--spread-s``;
2. *idle*: every client holds its long-poll; the server's CPU over the window, divided by the
   connects it answered in it, is the cost of one idle client's long-poll turn; its RSS beside
   the RSS before any client, per client, the memory of one;
3. *operations*: pairs of agents cycle calls (Dial, Answer, Hangup) at ``--ops`` per second in
   all; POST -> notification latency is from sending the POST to the posting agent's receipt of
   the message its own leg got (Dialing, Established, Released).

A session is *dropped* when its client must handshake again (a connect answered
``advice.reconnect: handshake`` or unsuccessful, or a request refused or cut off), or when a
handshake fails; the target is none. Every POST waits for its answer before the next one of the
same client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

HOST: Final = "127.0.0.1"
PASSWORD: Final = "bench"
FIRST_DN: Final = 17000
NOTIFICATIONS: Final = b"/api/v2/notifications"
TICK: Final = os.sysconf("SC_CLK_TCK")
#: a held connect answers within the server's timeout; past this, the client gives up on it
REQUEST_TIMEOUT: Final = 90.0


def credentials(user: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode())


# -- one client connection --------------------------------------------------------------------
class Http(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None:
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if b"\r\n" in head[at:] else None])
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        self.waiter = None
        if not waiter.done():
            waiter.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        waiter, self.waiter = self.waiter, None
        self.transport = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError("closed"))

    async def post(self, path: bytes, body: bytes, auth: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise ConnectionError("closed")
        self.waiter = waiter = asyncio.get_running_loop().create_future()
        self.transport.write(
            b"POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path, HOST.encode(), auth, len(body), body)
        )
        return await asyncio.wait_for(waiter, REQUEST_TIMEOUT)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connection(port: int) -> Http:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(Http, HOST, port)
    return protocol


# -- one worker process ------------------------------------------------------------------------
@dataclass
class Tally:
    handshakes: int = 0
    failed_handshakes: int = 0
    dropped: int = 0
    ready: list[float] = field(default_factory=list)
    #: connects answered, by whole second since the start
    turns: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    lost: int = 0
    #: operations whose POST was cut off unanswered (a front killed under it)
    unanswered: int = 0
    #: operations answered 200, as the log keys them (see ``log_key``)
    acked: list[list[str]] = field(default_factory=list)
    #: handshakes on a front other than the agent's first (its front was gone)
    moved: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def lose(self, why: str) -> None:
        """An operation that was refused or whose notification did not come."""
        self.lost += 1
        self.errors[why] = self.errors.get(why, 0) + 1


class Agent:
    def __init__(self, user: str, dn: str, ports: list[int], tally: Tally, start: float) -> None:
        self.user = user
        self.dn = dn
        #: the fronts' ports, this agent's own first; a refused connection moves to the next
        self.ports = ports
        self.at = 0
        self.auth = credentials(user)
        self.tally = tally
        self.start = start
        #: (state) -> future set with the receipt time and call id of this agent's next such message
        self.expected: dict[str, asyncio.Future[tuple[float, str]]] = {}
        self.stopping = False

    @property
    def port(self) -> int:
        return self.ports[self.at]

    async def connect(self) -> Http:
        """A connection to this agent's front, or to the next one if it refuses (it is gone)."""
        try:
            return await connection(self.port)
        except OSError:
            self.at = (self.at + 1) % len(self.ports)
            raise

    def expect(self, state: str) -> asyncio.Future[tuple[float, str]]:
        future = asyncio.get_running_loop().create_future()
        self.expected[state] = future
        return future

    async def _session(self, http: Http) -> str | None:
        handshake = [
            {"channel": "/meta/handshake", "version": "1.0",
             "supportedConnectionTypes": ["long-polling"]}
        ]  # fmt: skip
        status, body = await http.post(NOTIFICATIONS, json.dumps(handshake).encode(), self.auth)
        reply = json.loads(body) if status == 200 else None
        if not reply or not reply[0].get("successful"):
            self.tally.failed_handshakes += 1
            return None
        self.tally.handshakes += 1
        client_id = reply[0]["clientId"]
        subscribe = [
            {"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/v2/me/calls"}
        ]
        status, body = await http.post(NOTIFICATIONS, json.dumps(subscribe).encode(), self.auth)
        if status != 200 or not json.loads(body)[0].get("successful"):
            self.tally.failed_handshakes += 1
            return None
        return str(client_id)

    async def run(self, until: float) -> None:
        loop = asyncio.get_running_loop()
        first = True
        while loop.time() < until and not self.stopping:
            try:
                http = await self.connect()
            except OSError as error:
                self._error(type(error).__name__)
                await asyncio.sleep(1)
                continue
            try:
                client_id = await self._session(http)
                if client_id is None:
                    await asyncio.sleep(1)
                    continue
                self.tally.moved += self.at != 0
                if first:
                    self.tally.ready.append(time.monotonic())
                    first = False
                await self._poll(http, client_id, until)
            except (ConnectionError, TimeoutError, OSError, ValueError) as error:
                self._error(type(error).__name__)
                if not self.stopping:
                    self.tally.dropped += 1
            finally:
                http.close()

    async def _poll(self, http: Http, client_id: str, until: float) -> None:
        connect = json.dumps(
            [{"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling"}]
        ).encode()
        loop = asyncio.get_running_loop()
        while loop.time() < until and not self.stopping:
            status, body = await http.post(NOTIFICATIONS, connect, self.auth)
            now = time.monotonic()
            if status != 200:
                self._error(f"HTTP {status}")
                self.tally.dropped += 1
                return
            second = int(now - self.start)
            self.tally.turns[second] = self.tally.turns.get(second, 0) + 1
            for message in json.loads(body):
                channel = message.get("channel")
                if channel == "/meta/connect":
                    advice = message.get("advice") or {}
                    if not message.get("successful") or advice.get("reconnect") == "handshake":
                        if not self.stopping:
                            self.tally.dropped += 1
                        return
                elif channel == "/v2/me/calls":
                    call = message["data"]["call"]
                    future = self.expected.pop(call["state"], None)
                    if future is not None and not future.done():
                        future.set_result((now, call["id"]))

    def _error(self, kind: str) -> None:
        self.tally.errors[kind] = self.tally.errors.get(kind, 0) + 1


def log_key(op: str, dn: str, call: str = "", operation: str = "") -> list[str]:
    """An operation as the event log keys it: ``dial`` by device, ``perform`` by device, call
    and operation name (how a POST acknowledged is found again in the switch's stream)."""
    return [op, dn, call, operation]


async def cycle_calls(  # noqa: PLR0915 (one call's steps, in order)
    caller: Agent, callee: Agent, interval: float, start: float, until: float, tally: Tally
) -> None:
    """Calls from ``caller`` to ``callee``, one operation every ``interval`` seconds. A step
    that fails (no answer, no notification) ends that call's cycle; the next one starts on
    time, from fresh connections if a front went away."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    https: dict[str, Http] = {}

    async def operate(
        agent: Agent, path: str, body: dict[str, Any], state: str, key: list[str]
    ) -> str | None:
        mine = agent.expect(state)
        sent = time.monotonic()
        try:
            if agent.dn not in https:
                https[agent.dn] = await agent.connect()
            status, _ = await https[agent.dn].post(
                path.encode(), json.dumps(body).encode(), agent.auth
            )
        except (ConnectionError, OSError, TimeoutError):
            tally.unanswered += 1  # its front went away: done or not, nobody said
            gone = https.pop(agent.dn, None)
            if gone is not None:
                gone.close()
            return None
        if status != 200:
            tally.lose(f"{body['operationName']} answered {status}")
            return None
        tally.acked.append(key)
        try:
            received, call_id = await asyncio.wait_for(mine, 10)
        except TimeoutError:
            tally.lose(f"{body['operationName']}: no {state} notification in 10 s")
            return None
        tally.latencies_ms.append((received - sent) * 1000)
        return call_id

    hang_up_first = caller
    next_at = loop.time()

    async def pace() -> None:
        nonlocal next_at
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def one_call() -> None:
        nonlocal hang_up_first
        ringing = callee.expect("Ringing")
        dial = {"operationName": "Dial", "destination": callee.dn}
        path = f"/api/v2/me/devices/{caller.dn}/calls"
        caller_call = await operate(caller, path, dial, "Dialing", log_key("dial", caller.dn))
        if caller_call is None:
            return
        try:
            _, callee_call = await asyncio.wait_for(ringing, 10)
        except TimeoutError:
            tally.lose("Dial: no Ringing notification to the callee in 10 s")
            return
        await pace()
        answer = {"operationName": "Answer"}
        key = log_key("perform", callee.dn, callee_call, "Answer")
        await operate(callee, f"/api/v2/me/calls/{callee_call}", answer, "Established", key)
        await pace()
        hanger = hang_up_first
        other = callee if hanger is caller else caller
        released = other.expect("Released")
        call = caller_call if hanger is caller else callee_call
        hang = {"operationName": "Hangup"}
        key = log_key("perform", hanger.dn, call, "Hangup")
        if await operate(hanger, f"/api/v2/me/calls/{call}", hang, "Released", key) is None:
            return
        try:
            await asyncio.wait_for(released, 10)
        except TimeoutError:
            tally.lose("Hangup: no Released notification to the other party in 10 s")
        hang_up_first = other

    try:
        while loop.time() < until:
            await one_call()
            await pace()
    finally:
        for http in https.values():
            http.close()


async def worker(plan: dict[str, Any]) -> dict[str, Any]:
    tally = Tally()
    start, ops_at, end = plan["start"], plan["ops_at"], plan["end"]
    loop = asyncio.get_running_loop()
    # the schedule is on time.monotonic(); this loop's clock is the same clock
    agents = [Agent(user, dn, ports, tally, start) for user, dn, ports in plan["agents"]]
    spread = plan["spread"]

    async def arrive(index: int, agent: Agent) -> None:
        offset = spread * plan["offsets"][index]
        await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
        # polls until every driver is done (``stopping``), not until ``end``: the last call of
        # a pair may start just before ``end``, and its Answer and Hangup, after it, must still
        # be heard
        await agent.run(float("inf"))

    cpu0 = time.process_time()
    tasks = [asyncio.create_task(arrive(i, a)) for i, a in enumerate(agents)]
    pairs = plan["pairs"]
    interval = plan["interval"]
    drivers = [
        asyncio.create_task(
            cycle_calls(agents[2 * k], agents[2 * k + 1], interval, ops_at, end, tally)
        )
        for k in range(pairs)
    ]
    await asyncio.gather(*drivers, return_exceptions=True)
    await asyncio.sleep(max(0.0, end - loop.time()))
    for agent in agents:
        agent.stopping = True
    cpu = time.process_time() - cpu0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "handshakes": tally.handshakes,
        "failed_handshakes": tally.failed_handshakes,
        "dropped": tally.dropped,
        "ready": tally.ready,
        "turns": tally.turns,
        "latencies_ms": tally.latencies_ms,
        "lost": tally.lost,
        "unanswered": tally.unanswered,
        "acked": tally.acked,
        "moved": tally.moved,
        "errors": tally.errors,
        "cpu_s": cpu,
    }


def worker_main(path: str) -> None:
    plan = json.loads(Path(path).read_text())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(worker(plan))
    Path(plan["out"]).write_text(json.dumps(result))


# -- the processes measured --------------------------------------------------------------------
class Proc:
    def __init__(self, command: list[str], cwd: str) -> None:
        self.out = open(Path(cwd) / f"p{id(self)}.out", "w+")  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=self.out, stderr=subprocess.STDOUT, cwd=cwd)
        #: the last CPU read: what a process killed on purpose had spent
        self.spent = (0.0, 0.0)

    def cpu(self) -> tuple[float, float]:
        """User and system CPU seconds (the last read, once the process is gone)."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return self.spent
        self.spent = int(fields[11]) / TICK, int(fields[12]) / TICK
        return self.spent

    def rss_kb(self) -> int:
        """Resident memory (0 once the process is gone)."""
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except FileNotFoundError:
            pass
        return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_health(port: int, proc: Proc, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/simulator/health", timeout=5):
                return
        except OSError:
            if proc.process.poll() is not None or time.monotonic() > deadline:
                proc.out.seek(0)
                raise RuntimeError(f"the server did not come up: {proc.out.read()}") from None
            time.sleep(0.1)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _full_collection(port: int) -> dict[str, Any]:
    """``POST /simulator/gc``: a full collection in the server, and its pause."""
    post = urllib.request.Request(
        f"http://{HOST}:{port}/simulator/gc",
        method="POST",
        headers={"Authorization": credentials("admin").decode()},
    )
    with urllib.request.urlopen(post, timeout=60) as answer:
        return dict(json.loads(answer.read()))


async def _live_calls(port: int, dns: list[str], count: int) -> int:
    """``count`` calls from outside numbers, ringing on the agents in turn (far-end ``Call``
    as the admin, from 8 connections); how many were made."""
    auth = credentials("admin")
    made = 0

    async def caller(first: int) -> None:
        nonlocal made
        http = await connection(port)
        try:
            for n in range(first, count, 8):
                body = {"external": f"+1650{n:07d}", "event": "Call", "to": dns[n % len(dns)]}
                status, _ = await http.post(b"/simulator/far-end", json.dumps(body).encode(), auth)
                made += status == 200
        finally:
            http.close()

    await asyncio.gather(*(caller(k) for k in range(8)))
    return made


async def _logged(nats: str, stream: str) -> Counter[tuple[str, ...]]:
    """The operations the switch's stream holds, keyed as ``log_key`` keys them."""
    import nats as nats_py

    from callstate.log import LogReader

    client = await nats_py.connect(nats)
    try:
        js = client.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        sub = await js.subscribe(f"{stream}.log", stream=stream, ordered_consumer=True)
        keys: Counter[tuple[str, ...]] = Counter()
        seq = 0
        while seq < last:
            msg = await sub.next_msg(timeout=30)
            seq = msg.metadata.sequence.stream
            if seq == 1:
                continue  # the header
            request = LogReader.entry_of(seq, msg.data).request
            key = log_key(
                str(request["op"]),
                str(request.get("device", "")),
                str(request.get("call", "")),
                str(request.get("operation", "")),
            )
            keys[tuple(key)] += 1
        return keys
    finally:
        await client.close()


async def _drop(nats: str, stream: str) -> None:
    """The run's stream deleted (once its switch is stopped)."""
    import nats as nats_py

    client = await nats_py.connect(nats)
    try:
        await client.jetstream().delete_stream(stream)
    finally:
        await client.close()


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{HOST}:{port}/simulator/health", timeout=30) as answer:
        return dict(json.loads(answer.read()))


def scale(  # noqa: PLR0915 (one run's schedule, read top to bottom)
    agents: int,
    arrival: str,
    *,
    spread_s: float,
    fronts: int,
    ops: float,
    idle_s: float,
    ops_s: float,
    workers: int,
    nats: str,
    timeout_s: int,
    live_calls: int = 0,
    kill_front: bool = False,
    log_level: str = "info",
) -> dict[str, Any]:
    """One scale run; the figures, also printed. ``kill_front``: the last front is killed
    (SIGKILL) halfway through the operations; its clients move to the other fronts, and every
    operation a front acknowledged is looked for in the switch's stream."""
    if kill_front and fronts < 2:
        raise ValueError("killing a front needs two fronts or more")
    folder = tempfile.mkdtemp(prefix="callstate-scale-")
    dns = [str(FIRST_DN + i) for i in range(agents)]
    config = {
        "devices": [{"dn": dn} for dn in dns],
        "users": [
            *({"username": f"a{dn}", "password": PASSWORD, "role": "agent", "dn": dn}
              for dn in dns),
            {"username": "admin", "password": PASSWORD, "role": "admin"},
        ],
        # a long poll of timeout_s; sessions live while the connects come back within 3 times
        "cometd": {"timeout": timeout_s, "maxInterval": 3 * timeout_s,
                   "sessionsPerUser": 4},
        "http": {"maxConnections": agents * 2 + 1000},
    }  # fmt: skip
    config_path = Path(folder) / "center.json"
    config_path.write_text(json.dumps(config))
    serve = [sys.executable, "-m", "callstate", "serve", "--config", str(config_path)]
    serve += ["--format", "8.5.2", "--seed", "1", "--log-level", log_level]
    procs: list[Proc] = []
    ports: list[int] = []
    switch: Proc | None = None
    stream = ""
    try:
        if fronts == 0:
            port = _free_port()
            procs.append(Proc([*serve, "--port", str(port)], folder))
            ports.append(port)
        else:
            stream = f"bench_{os.getpid()}_{int(time.time())}"
            cluster = ["--nats", nats, "--stream", stream]
            switch = Proc([*serve, *cluster, "--role", "switch"], folder)
            time.sleep(2)
            for _ in range(fronts):
                port = _free_port()
                procs.append(Proc([*serve, *cluster, "--port", str(port)], folder))
                ports.append(port)
        for port, proc in zip(ports, procs, strict=True):
            _wait_health(port, proc)
        made = asyncio.run(_live_calls(ports[0], dns, live_calls)) if live_calls else 0
        rss0 = sum(p.rss_kb() for p in procs)
        # the schedule
        start = time.monotonic() + 3.0
        arrive_budget = (spread_s if arrival == "spread" else 0) + max(20.0, agents / 500)
        idle_from = start + arrive_budget
        idle_end = idle_from + idle_s
        probe_at = idle_end + 0.5  # a full collection, between the idle and operation windows
        ops_at = idle_end + 4.0
        end = ops_at + ops_s
        pairs = 20
        # 3 operations per call, ``pairs`` pairs: one operation every pairs/ops seconds each
        interval = pairs / ops
        plans = []
        for w in range(workers):
            mine = list(range(w, agents, workers))
            plan_agents = [
                (f"a{dns[i]}", dns[i], ports[i % len(ports) :] + ports[: i % len(ports)])
                for i in mine
            ]
            offsets = [i / agents for i in mine]
            worker_pairs = pairs // workers + (1 if w < pairs % workers else 0)
            out = str(Path(folder) / f"worker{w}.json")
            plan: dict[str, Any] = {
                "agents": plan_agents, "offsets": offsets, "start": start, "ops_at": ops_at,
                "end": end, "spread": spread_s if arrival == "spread" else 0.0,
                "pairs": worker_pairs, "interval": interval, "out": out,
            }  # fmt: skip
            path = Path(folder) / f"plan{w}.json"
            path.write_text(json.dumps(plan))
            plans.append(plan)
        generators = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", str(Path(folder) / f"plan{w}.json")]
            )
            for w in range(workers)
        ]
        # samples of the servers' CPU and RSS, on the schedule's clock
        samples: list[tuple[float, float, float, int]] = []
        probe: dict[str, Any] = {}
        kill_at = ops_at + ops_s / 2 if kill_front else None
        while time.monotonic() < end + 1:
            if not probe and time.monotonic() >= probe_at:
                probe = _full_collection(ports[0])
            if kill_at is not None and time.monotonic() >= kill_at:
                procs[-1].process.kill()
                procs[-1].process.wait()
                kill_at = None
            cpus = [p.cpu() for p in procs]
            user, system = sum(c[0] for c in cpus), sum(c[1] for c in cpus)
            samples.append((time.monotonic(), user, system, sum(p.rss_kb() for p in procs)))
            time.sleep(0.5)
        for g in generators:
            g.wait(REQUEST_TIMEOUT + 30)
        results = [json.loads(Path(p["out"]).read_text()) for p in plans]
        health = _health(ports[0])
        logged = asyncio.run(_logged(nats, stream)) if stream else None
    finally:
        for proc in procs:
            proc.stop()
        if switch is not None:
            switch.stop()
        if stream:
            asyncio.run(_drop(nats, stream))

    def at(t: float) -> tuple[float, float, int]:
        best = min(samples, key=lambda s: abs(s[0] - t))
        return best[1], best[2], best[3]

    ready = sorted(t for r in results for t in r["ready"])
    all_ready = ready[-1] - start if len(ready) == agents else None
    # the idle window: from when all are in (or the planned time) to the operations
    idle_start = max(idle_from, (ready[-1] if ready else idle_from) + 1)
    user_a, system_a, _ = at(idle_start)
    user_b, system_b, rss_idle = at(idle_end)
    turns = sum(
        n
        for r in results
        for second, n in r["turns"].items()
        if idle_start - start <= int(second) < idle_end - start
    )
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    acked = Counter(tuple(key) for r in results for key in r["acked"])
    figures = {
        "agents": agents,
        "arrival": arrival,
        "fronts": fronts,
        "handshakes": sum(r["handshakes"] for r in results),
        "failed_handshakes": sum(r["failed_handshakes"] for r in results),
        "dropped": sum(r["dropped"] for r in results),
        "all_in_s": None if all_ready is None else round(all_ready, 2),
        "idle_turns": turns,
        "cpu_us_per_turn": (
            round((user_b + system_b - user_a - system_a) / turns * 1e6, 1) if turns else None
        ),
        "of_which_system_us": round((system_b - system_a) / turns * 1e6, 1) if turns else None,
        "rss_kb_per_client": round((rss_idle - rss0) / agents, 2),
        "live_calls_made": made,
        "full_gc": probe,
        "ops_done": len(latencies),
        "ops_lost": sum(r["lost"] for r in results),
        "ops_unanswered": sum(r["unanswered"] for r in results),
        "ops_acked": sum(acked.values()),
        "acked_not_in_stream": (
            None if logged is None else sum((acked - logged).values())
        ),
        "moved_handshakes": sum(r["moved"] for r in results),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "generator_cpu_pct": round(
            100 * sum(r["cpu_s"] for r in results) / (end - start) / workers, 1
        ),
        "errors": {k: sum(r["errors"].get(k, 0) for r in results)
                   for r in results for k in r["errors"]},
        "server_health": health,
    }  # fmt: skip
    return figures


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--worker":
    worker_main(sys.argv[2])
