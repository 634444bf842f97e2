"""Serving benchmark: one server process, N agents on CometD, calls cycled through REST.

Run from the repository root::

    python bench/server.py                    # 100 agents, 20 s of calls measured (< 1 minute)
    python bench/server.py --quick            # smoke run, < 30 s
    python bench/server.py --agents 200 --seconds 30 --concurrency 20

One server process (``callstate.server.create_app`` under the uvicorn server of ``python -m
callstate serve``) serves N agents and an admin; beside the Calls API, in the same process and
through the same uvicorn and Starlette, a bare route ``GET /bench/bare`` answers
``{"statusCode": 0}`` and does nothing else: the floor the Calls API is compared with. This
script is the load generator, on one asyncio loop: N CometD clients (``aiocometd_noloop``,
long-polling, Basic credentials on every request, one per agent, subscribed to
``/v2/me/calls``) and, per agent, one keep-alive ``httpx`` client for REST.

Agents are paired: agent 2k dials agent 2k+1, which answers (it learns its call id from its
Ringing message), then one of them hangs up (caller and callee in turn). Every pair cycles calls,
``--concurrency`` calls at once (default N/10), and each POST waits for the notifications it
causes before the next one. Measured, in this order:

- the server's RSS with no client and with N clients handshaken, subscribed and polling idle;
- rounds of operation POSTs (Dial, Answer, Hangup) interleaved with rounds of ``GET /bench/bare``
  from ``--concurrency`` workers through the same agents' clients: throughput of each, and the
  server's CPU per request (its CPU over the round / the requests answered: with the load
  generator on the same 2 cores, the rates may measure the load generator rather than the
  server, the CPU per request does not); rates, CPU and ratios are medians over the rounds;
- POST latency, and POST -> notification latency: from sending the POST to the receipt, by the
  client that posted, of the message it causes on its own leg (Dialing, Established, Released);
  percentiles over every sample of every round, wall time;
- every client's messages against the expected sequence of each of its legs: none missing,
  none duplicated, none out of order.

``--profile FILE`` runs the server under cProfile during the operation rounds only, and writes
the stats to FILE (read them with ``python -m pstats FILE``). Profiling slows the server down:
that run's figures are not the benchmark's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

from harness import Report, cpu_name, median

#: wall time: latencies span two processes
CLOCK: Final = time.perf_counter
HOST: Final = "127.0.0.1"
PASSWORD: Final = "bench"
FIRST_DN: Final = 17000
CALLS: Final = "/v2/me/calls"
NOTIFICATIONS: Final = "/api/v2/notifications"
BARE: Final = "/bench/bare"
#: the states of each leg's messages, by the state of its first message
SEQUENCES: Final = {
    "Dialing": ("Dialing", "Established", "Released"),
    "Ringing": ("Ringing", "Established", "Released"),
}
#: how long an awaited notification may take before it counts as lost
LOST_AFTER: Final = 10.0
RATIO_TARGET: Final = 0.5
P99_TARGET_MS: Final = 50.0
MEMORY_TARGET_KB: Final = 20.0
#: load generator CPU (% of a core) from which its rounds measure it rather than the server
SATURATED: Final = 90.0
TICK: Final = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Settings:
    agents: int
    seconds: float  # operation rounds, in all
    bare_seconds: float  # bare-route rounds, in all
    rounds: int
    concurrency: int  # calls cycled at once = bare-route workers
    quick: bool
    profile: str | None


# -- the server process ---------------------------------------------------------------------------
def serve(config_path: str, profile: str | None) -> int:
    """The server (in a child process): the Calls API plus ``GET /bench/bare``, on a free port,
    which it prints as its first line."""
    import socket

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

    from callstate.config import load
    from callstate.server import create_app, run

    # IPPROTO_TCP given, so that asyncio sets TCP_NODELAY on the accepted sockets (it checks the
    # protocol number): without it a keep-alive response waits ~40 ms for a delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(2048)
    port = sock.getsockname()[1]
    config = load(Path(config_path).read_text())
    base_uri = f"http://{HOST}:{port}/api/v2"
    calls_api = create_app(config, seed=1, form="8.5.2", base_uri=base_uri)

    async def bare(_: Request) -> JSONResponse:
        return JSONResponse({"statusCode": 0})

    bare_app = Starlette(routes=[Route(BARE, bare)])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == BARE:
            await bare_app(scope, receive, send)
        else:  # lifespan too: the Calls API starts its sweeper
            await calls_api(scope, receive, send)

    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()

        def pause(*_: Any) -> None:
            profiler.disable()
            profiler.dump_stats(profile)  # the stats so far: SIGTERM may end the process

        signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
        signal.signal(signal.SIGUSR2, pause)
    # the server of ``python -m callstate serve``: on SIGTERM, held connects answer at once
    return run(app, calls_api.state.bayeux, sockets=[sock], ready=lambda: print(port, flush=True))


class ServerProcess:
    """The server child: ``start`` it; ``stop`` it (SIGTERM) whatever happens."""

    def __init__(self, config: dict[str, Any], profile: str | None) -> None:
        self.config = config
        self.profile = profile
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self._dir = tempfile.TemporaryDirectory(prefix="callstate-bench-")

    def start(self) -> None:
        path = Path(self._dir.name) / "config.json"
        path.write_text(json.dumps(self.config))
        command = [sys.executable, os.path.abspath(__file__), "--serve", str(path)]
        if self.profile is not None:
            command += ["--profile", os.path.abspath(self.profile)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the server did not start (it said {line!r})")
        self.port = int(line)
        deadline = time.monotonic() + 30
        while True:  # up when its health route answers
            try:
                url = f"http://{HOST}:{self.port}/simulator/health"
                with urllib.request.urlopen(url, timeout=5):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not come up") from None
                time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM (SIGKILL if it has not exited 10 s later); its exit status."""
        try:
            if self.process is None:
                return None
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            return self.process.returncode
        finally:
            self._dir.cleanup()

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    # -- what /proc says about it --------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_kb(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc/PID/status")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime

    def sockets(self) -> int:
        fds = Path(f"/proc/{self.pid}/fd")
        return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


def machine_busy() -> float:
    """CPU seconds every process of the machine has used (from /proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(t) for t in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK  # less idle and iowait


def center(agents: int) -> dict[str, Any]:
    """The served config: ``agents`` agents on devices 17000..., and an admin."""
    dns = [str(FIRST_DN + i) for i in range(agents)]
    users: list[dict[str, Any]] = [
        {"username": f"agent{i}", "password": PASSWORD, "role": "agent", "dn": dn}
        for i, dn in enumerate(dns)
    ]
    users.append({"username": "admin", "password": PASSWORD, "role": "admin"})
    return {"devices": [{"dn": dn} for dn in dns], "users": users}


def authorization(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()


# -- the load generator ---------------------------------------------------------------------------
class Lost(Exception):
    """An awaited notification did not come within ``LOST_AFTER`` seconds."""


@dataclass
class Samples:
    """Requests of one kind: when each was sent, answered, and its notification received."""

    sent: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    notified: list[float] = field(default_factory=list)

    def add(self, sent: float, answered: float, notified: float = float("nan")) -> None:
        self.sent.append(sent)
        self.answered.append(answered)
        self.notified.append(notified)

    def __len__(self) -> int:
        return len(self.sent)


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = math.ceil(len(ordered) * q / 100)
    return ordered[max(1, rank) - 1]


@functools.cache
def extension_class() -> type:
    """An aiocometd auth extension that sends the agent's credentials on every request and
    hands it the incoming messages."""
    from aiocometd_noloop import AuthExtension

    class Extension(AuthExtension):  # type: ignore[misc]
        def __init__(self, agent: Agent) -> None:
            self.agent = agent

        async def outgoing(self, payload: list[Any], headers: dict[str, str]) -> None:
            headers["Authorization"] = self.agent.authorization

        async def incoming(self, payload: list[Any], headers: Any = None) -> None:
            self.agent.take(payload)

    return Extension


class Agent:
    """One agent of the load generator: its credentials, its REST and CometD clients, and what
    the CometD client received: each leg's states, in order of arrival.

    Notifications are taken in the auth extension's ``incoming`` (right after the client parsed
    a response) and removed from the payload there, so the client does not also queue them for a
    ``receive`` nobody calls (each ``receive`` would cost three tasks, on this side)."""

    def __init__(self, index: int, username: str | None = None) -> None:
        self.username = username or f"agent{index}"
        self.dn = str(FIRST_DN + index)
        self.authorization = authorization(self.username)
        self.client: Any = None  # aiocometd
        self.http: Any = None  # httpx
        self.legs: dict[str, list[str]] = {}
        #: legs of a cycle cut short by a lost notification: not held to the full sequence
        self.excused: set[str] = set()
        #: (call id, state) -> the future set by that message (call id None: a new leg's first)
        self.waiters: dict[tuple[str | None, str], asyncio.Future[tuple[str, float]]] = {}
        self.cycles = 0  # legs it had in completed calls
        self.foreign = 0  # messages about another device

    def take(self, payload: list[Any]) -> None:
        now = CLOCK()
        kept = []
        for message in payload:
            if message.get("channel") != CALLS:
                kept.append(message)
                continue
            data = message.get("data") or {}
            call = data.get("call") or {}
            call_id, state = call.get("id"), str(call.get("state"))
            if data.get("phoneNumber") != self.dn or not isinstance(call_id, str):
                self.foreign += 1
                continue
            states = self.legs.get(call_id)
            key: tuple[str | None, str]
            if states is None:
                self.legs[call_id] = [state]
                key = (None, state)
            else:
                states.append(state)
                key = (call_id, state)
            waiter = self.waiters.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result((call_id, now))
        if len(kept) != len(payload):
            payload[:] = kept

    def expect(self, call_id: str | None, state: str) -> asyncio.Future[tuple[str, float]]:
        """A future set to (call id, time of receipt) by the leg's next ``state`` (call id None:
        a new leg's first); ask before posting what causes it."""
        waiter: asyncio.Future[tuple[str, float]] = asyncio.get_running_loop().create_future()
        self.waiters[(call_id, state)] = waiter
        return waiter

    def rest(self, base: str) -> None:
        """Its REST client: one request at a time, on a keep-alive connection."""
        import httpx

        self.http = httpx.AsyncClient(
            base_url=base,
            headers={"authorization": self.authorization, "content-type": "application/json"},
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
            timeout=30.0,
            trust_env=False,
        )

    async def open(self, base: str) -> None:
        """Its CometD client: handshaken, connected, subscribed to ``/v2/me/calls``."""
        import orjson
        from aiocometd_noloop import Client, ConnectionType

        self.client = Client(
            base + NOTIFICATIONS,
            connection_types=ConnectionType.LONG_POLLING,
            auth=extension_class()(self),
            json_dumps=lambda obj: orjson.dumps(obj).decode(),
            json_loads=orjson.loads,
        )
        await self.client.open()
        await self.client.subscribe(CALLS)

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.close()
        http, self.http = self.http, None
        if http is not None:
            await http.aclose()


async def arrival(waiter: asyncio.Future[tuple[str, float]]) -> tuple[str, float]:
    try:
        return await asyncio.wait_for(waiter, LOST_AFTER)
    except TimeoutError:
        raise Lost from None


def lighter_httpcore() -> None:
    """httpcore tries ``import sniffio`` on every request; without sniffio (anyio 4 does not need
    it) each failed try scans sys.path: ~0.3 ms of this side's CPU per request. A None entry in
    sys.modules makes the same ImportError immediate."""
    import importlib.util

    if importlib.util.find_spec("sniffio") is None:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


class Load:
    """Calls cycled by pairs of agents, and the bare-route workers."""

    def __init__(self) -> None:
        import orjson

        self.dumps = orjson.dumps
        self.answer = orjson.dumps({"operationName": "Answer"})
        self.hangup = orjson.dumps({"operationName": "Hangup"})
        self.lost = 0
        self.errors: list[str] = []

    async def post(self, agent: Agent, path: str, body: bytes) -> tuple[float, float]:
        sent = CLOCK()
        response = await agent.http.post(path, content=body)
        answered = CLOCK()
        if response.status_code != 200:
            raise RuntimeError(f"POST {path} by {agent.username}: {response.text}")
        return sent, answered

    async def cycle(self, caller: Agent, callee: Agent, turn: int, out: Samples) -> None:
        """One call: the caller dials the callee, who answers; one of them hangs up (``turn``).
        Each POST's sample ends with the message it causes on the poster's own leg."""
        dialing, ringing = caller.expect(None, "Dialing"), callee.expect(None, "Ringing")
        dial = self.dumps({"operationName": "Dial", "destination": {"phoneNumber": callee.dn}})
        sent, answered = await self.post(caller, f"/api/v2/me/devices/{caller.dn}/calls", dial)
        caller_leg, notified = await arrival(dialing)
        out.add(sent, answered, notified)
        callee_leg, _ = await arrival(ringing)
        legs = ((caller, caller_leg), (callee, callee_leg))
        try:
            established = [agent.expect(leg, "Established") for agent, leg in legs]
            sent, answered = await self.post(callee, f"/api/v2/me/calls/{callee_leg}", self.answer)
            _, notified = await arrival(established[1])
            out.add(sent, answered, notified)
            await arrival(established[0])
            hanging = turn % 2
            released = [agent.expect(leg, "Released") for agent, leg in legs]
            agent, leg = legs[hanging]
            sent, answered = await self.post(agent, f"/api/v2/me/calls/{leg}", self.hangup)
            _, notified = await arrival(released[hanging])
            out.add(sent, answered, notified)
            await arrival(released[1 - hanging])
        except Lost:
            for agent, leg in legs:
                agent.excused.add(leg)
            raise
        caller.cycles += 1
        callee.cycles += 1

    async def pair(
        self, caller: Agent, callee: Agent, slots: asyncio.Semaphore, until: float, out: Samples
    ) -> None:
        """Calls from caller to callee until ``until``, each in one of the ``slots``."""
        turn = 0
        try:
            while CLOCK() < until:
                async with slots:
                    if CLOCK() >= until:
                        break
                    await self.cycle(caller, callee, turn, out)
                turn += 1
        except Lost:
            self.lost += 1
            self.errors.append(f"{caller.username}->{callee.username}: a notification was lost")
        except Exception as error:
            self.errors.append(f"{caller.username}->{callee.username}: {error!r}")

    async def bare(self, agent: Agent, until: float, out: Samples) -> None:
        """``GET /bench/bare`` again and again until ``until``."""
        get = agent.http.get
        while CLOCK() < until:
            sent = CLOCK()
            response = await get(BARE)
            answered = CLOCK()
            if response.status_code != 200:
                self.errors.append(f"GET {BARE}: HTTP {response.status_code}")
                return
            out.add(sent, answered)


# -- rounds ---------------------------------------------------------------------------------------
@dataclass
class Round:
    kind: str  # "ops" or "bare"
    window: float  # seconds from the start to the deadline
    samples: Samples  # the requests answered within the window
    requests: int  # every request answered (the last calls end after the deadline)
    span: float  # wall seconds until every worker stopped
    server_cpu: float  # CPU seconds in that span: the server's,
    client_cpu: float  # this process's,
    others_cpu: float  # and the rest of the machine's (other processes, the kernel)

    @property
    def rate(self) -> float:
        """Requests answered within the window, per second."""
        return len(self.samples) / self.window

    @property
    def server_us(self) -> float:
        """Server CPU per request (and what it caused: notifications, reconnects), in us."""
        return self.server_cpu / max(1, self.requests) * 1e6

    def share(self, cpu: float) -> float:
        """``cpu`` as a percentage of one core over the span."""
        return cpu / self.span * 100


Workers = Callable[[float, Samples], list[Coroutine[Any, Any, None]]]


async def timed_round(kind: str, seconds: float, server: ServerProcess, workers: Workers) -> Round:
    """Run ``workers``, which start no request after the deadline they are given."""
    everything = Samples()
    cpu0, own0, all0 = server.cpu_seconds(), time.process_time(), machine_busy()
    start = CLOCK()
    until = start + seconds
    await asyncio.gather(*workers(until, everything))
    span = CLOCK() - start
    server_cpu = server.cpu_seconds() - cpu0
    client_cpu = time.process_time() - own0
    others = max(0.0, machine_busy() - all0 - server_cpu - client_cpu)  # (tick jitter)
    kept = Samples()
    for sent, answered, notified in zip(
        everything.sent, everything.answered, everything.notified, strict=True
    ):
        if answered <= until:
            kept.add(sent, answered, notified)
    return Round(kind, seconds, kept, len(everything), span, server_cpu, client_cpu, others)


async def rounds(
    settings: Settings, server: ServerProcess, load: Load, agents: list[Agent]
) -> dict[str, list[Round]]:
    """``settings.rounds`` rounds of each kind, interleaved, in turn first."""
    pairs = [(agents[2 * k], agents[2 * k + 1]) for k in range(len(agents) // 2)]
    c = settings.concurrency

    def ops(until: float, out: Samples) -> list[Coroutine[Any, Any, None]]:
        slots = asyncio.Semaphore(c)  # FIFO: every pair gets its turns
        return [load.pair(a, b, slots, until, out) for a, b in pairs]

    def bare(until: float, out: Samples) -> list[Coroutine[Any, Any, None]]:
        return [load.bare(agents[2 * (k % len(pairs))], until, out) for k in range(c)]

    kinds: list[tuple[str, float, Workers]] = [
        ("ops", settings.seconds / settings.rounds, ops),
        ("bare", settings.bare_seconds / settings.rounds, bare),
    ]
    done: dict[str, list[Round]] = {"ops": [], "bare": []}
    for r in range(settings.rounds):
        for kind, seconds, workers in kinds[r % 2 :] + kinds[: r % 2]:
            profiled = kind == "ops" and settings.profile is not None
            if profiled:
                server.signal(signal.SIGUSR1)
            result = await timed_round(kind, seconds, server, workers)
            if profiled:
                server.signal(signal.SIGUSR2)
            done[kind].append(result)
            print(
                f"  .. round {r + 1} {kind}: {result.rate:,.0f} req/s, server "
                f"{result.server_us:,.0f} us CPU/request; CPU: server "
                f"{result.share(result.server_cpu):.0f}%, load generator "
                f"{result.share(result.client_cpu):.0f}%, rest of the machine "
                f"{result.share(result.others_cpu):.0f}%",
                file=sys.stderr,
                flush=True,
            )
            if load.errors:
                return done
    return done


# -- the figures ----------------------------------------------------------------------------------
@dataclass
class Tally:
    legs: int = 0
    expected: int = 0
    received: int = 0
    missing: int = 0
    duplicated: int = 0
    disordered: int = 0
    unknown: int = 0  # legs whose first message was neither Dialing nor Ringing
    foreign: int = 0


def tally(agents: list[Agent]) -> Tally:
    """Every client's messages against the sequences expected on its legs."""
    t = Tally()
    for agent in agents:
        t.foreign += agent.foreign
        complete = 0
        for leg, states in agent.legs.items():
            t.received += len(states)
            if leg in agent.excused:
                continue
            complete += 1
            expected = SEQUENCES.get(states[0])
            if expected is None:
                t.unknown += 1
                continue
            t.legs += 1
            t.expected += len(expected)
            t.missing += sum(1 for s in expected if s not in states)
            t.duplicated += sum(states.count(s) - 1 for s in set(states) if s in expected)
            t.duplicated += sum(1 for s in states if s not in expected)
            if [s for s in states if s in expected] != [s for s in expected if s in states]:
                t.disordered += 1
        absent = max(0, agent.cycles - complete)  # legs of completed calls never heard of
        t.expected += 3 * absent
        t.missing += 3 * absent
    return t


def report_idle(report: Report, n: int, idle0: float, idle_n: float, sockets: int) -> None:
    per_client = (idle_n - idle0) / n
    report.section(f"{n} idle CometD clients (handshaken, subscribed, long-polling): server RSS")
    report.add("server RSS, no client (after a warm-up)", idle0 / 1024, "MB", 5, digits=1)
    report.add(f"server RSS, {n} clients polling", idle_n / 1024, "MB", 5, digits=1)
    report.add(f"  sockets the server holds with {n} clients", sockets)
    ok = per_client <= MEMORY_TARGET_KB
    target = f"<= {MEMORY_TARGET_KB:.0f} kB"
    report.add("memory per idle connected client", per_client, "kB", 1, target, ok, digits=1)


def report_load(
    settings: Settings, report: Report, done: dict[str, list[Round]], notes: list[str]
) -> None:
    reps = min(len(done["ops"]), len(done["bare"]))
    if not reps:
        return
    ops, bare = done["ops"][:reps], done["bare"][:reps]
    c, o, b = settings.concurrency, ops[0].window, bare[0].window
    report.section(
        f"{c} calls at once among {settings.agents // 2} pairs (Dial, Answer, Hangup; each POST "
        f"waits for its notifications) against {c} workers on GET {BARE}; {reps} rounds of "
        f"{o:.1f} s and {b:.1f} s"
    )
    target = f">= {RATIO_TARGET:.0%}"
    ratio = median(o.rate / b.rate for o, b in zip(ops, bare, strict=True))
    report.add("operation POSTs", median(r.rate for r in ops), "req/s", reps)
    report.add(
        f"GET {BARE} (a bare Starlette JSON route)", median(r.rate for r in bare), "req/s", reps
    )
    report.add(
        "operation POSTs / bare route", ratio * 100, "%", reps, target, ratio >= RATIO_TARGET
    )
    for label, rs in (("operation", ops), ("bare", bare)):
        for who, cpu in (
            ("server", "server_cpu"),
            ("load generator", "client_cpu"),
            ("rest of the machine", "others_cpu"),
        ):
            share = median(r.share(getattr(r, cpu)) for r in rs)
            report.add(f"  CPU in {label} rounds: {who}", share, "% of 1 core", reps)
    capacity = median(b.server_us / o.server_us for o, b in zip(ops, bare, strict=True))
    report.add(
        "server CPU per operation POST, its notifications included",
        median(r.server_us for r in ops),
        "us",
        reps,
    )
    report.add(f"server CPU per GET {BARE}", median(r.server_us for r in bare), "us", reps)
    report.add(
        "operation POSTs / bare route, per server CPU second",
        capacity * 100,
        "%",
        reps,
        target,
        capacity >= RATIO_TARGET,
    )

    def ms(pairs: Iterable[tuple[float, float]]) -> list[float]:
        return [(b - a) * 1e3 for a, b in pairs]

    post = ms((s, a) for r in ops for s, a in zip(r.samples.sent, r.samples.answered, strict=True))
    notified = ms(
        (s, n) for r in ops for s, n in zip(r.samples.sent, r.samples.notified, strict=True)
    )
    got = ms((s, a) for r in bare for s, a in zip(r.samples.sent, r.samples.answered, strict=True))
    k = len(post)
    report.add("operation POST latency p50", percentile(post, 50), "ms", k, digits=1)
    report.add("operation POST latency p99", percentile(post, 99), "ms", k, digits=1)
    report.add(f"GET {BARE} latency p50", percentile(got, 50), "ms", len(got), digits=1)
    report.add(f"GET {BARE} latency p99", percentile(got, 99), "ms", len(got), digits=1)
    report.add("POST -> the poster's notification p50", percentile(notified, 50), "ms", k, digits=1)
    p99 = percentile(notified, 99)
    label = "POST -> the poster's notification p99"
    if settings.agents != 100:
        label += f" ({settings.agents} agents; target for 100)"
    report.add(label, p99, "ms", k, f"<= {P99_TARGET_MS:.0f} ms", p99 <= P99_TARGET_MS, digits=1)
    report.add("POST -> the poster's notification max", max(notified), "ms", k, digits=1)
    for label, rs in (("operation", ops), ("bare-route", bare)):
        if median(r.share(r.client_cpu) for r in rs) >= SATURATED:
            notes.append(
                f"the load generator used a whole core in the {label} rounds: their rate is its "
                "limit as much as the server's (the server CPU per request is not)"
            )


def report_notifications(report: Report, t: Tally, lost: int, calls_left: int) -> None:
    lost += t.missing
    report.section("notifications: each client's messages against the expected ones, per leg")
    report.add("legs checked (3 messages each)", t.legs)
    report.add("messages expected on them", t.expected)
    report.add("messages received", t.received)
    report.add("lost (expected, not received)", lost, "", "", "0", lost == 0)
    report.add("duplicated (or unexpected)", t.duplicated, "", "", "0", t.duplicated == 0)
    report.add("legs out of order", t.disordered, "", "", "0", t.disordered == 0)
    if t.unknown or t.foreign:
        report.add("legs with an unexpected first message", t.unknown)
        report.add("messages about another device", t.foreign)
    report.add(
        "live calls after the run (admin GET /me/calls)", calls_left, "", "", "0", calls_left == 0
    )


async def rss(server: ServerProcess, reads: int = 5) -> float:
    """The median of ``reads`` RSS reads (kB), 0.1 s apart."""
    values = []
    for _ in range(reads):
        values.append(server.rss_kb())
        await asyncio.sleep(0.1)
    return median(values)


async def limited(coros: Iterable[Awaitable[None]], at_once: int) -> None:
    gate = asyncio.Semaphore(at_once)

    async def one(coro: Awaitable[None]) -> None:
        async with gate:
            await coro

    await asyncio.gather(*(one(c) for c in coros))


async def bench(
    settings: Settings, server: ServerProcess, report: Report, notes: list[str]
) -> list[str]:
    """The benchmark against a started server; the problems seen (none: empty)."""
    lighter_httpcore()
    base = f"http://{HOST}:{server.port}"
    load = Load()
    agents = [Agent(i) for i in range(settings.agents)]
    admin = Agent(-1, "admin")
    warm = [Agent(0), Agent(1)]
    everyone = (*agents, admin, *warm)
    for agent in everyone:
        agent.rest(base)
    problems: list[str] = []

    async def admin_get(path: str) -> Any:
        return (await admin.http.get(path)).json()

    try:
        # every code path once (lazy imports, caches), then the RSS with no client
        await asyncio.gather(*(a.open(base) for a in warm))
        for turn in range(4):
            await load.cycle(warm[0], warm[1], turn, Samples())
        await load.bare(warm[0], CLOCK() + 0.2, Samples())
        await asyncio.gather(*(a.close() for a in warm))
        await admin_get("/api/v2/me/calls")
        await asyncio.sleep(0.5)
        if (clients := (await admin_get("/simulator/health"))["clients"]) != 0:
            problems.append(f"{clients} CometD sessions left after the warm-up")
        idle0 = await rss(server)

        await limited((a.open(base) for a in agents), 20)
        await asyncio.sleep(1.0)
        if (clients := (await admin_get("/simulator/health"))["clients"]) != settings.agents:
            problems.append(f"the server counts {clients} CometD clients, not {settings.agents}")
        idle_n = await rss(server)
        report_idle(report, settings.agents, idle0, idle_n, server.sockets())

        done = await rounds(settings, server, load, agents)
        await asyncio.sleep(0.5)  # late (duplicated) messages, if any
        calls_left = len((await admin_get("/api/v2/me/calls"))["calls"])
        report_load(settings, report, done, notes)
        report_notifications(report, tally(agents), load.lost, calls_left)
        report.add("server RSS after the run", server.rss_kb() / 1024, "MB", 1, digits=1)
        return problems + load.errors
    finally:
        await asyncio.gather(*(a.close() for a in everyone), return_exceptions=True)


async def quietly(coro: Coroutine[Any, Any, list[str]]) -> list[str]:
    """``coro``, without the loop's report of each CometD client's cancelled connect task when
    the client closes (aiocometd_noloop's ``_connect_done`` takes its result unguarded)."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not isinstance(context.get("exception"), asyncio.CancelledError):
            loop.default_exception_handler(context)

    asyncio.get_running_loop().set_exception_handler(handler)
    return await coro


def describe_machine() -> str:
    cpu = cpu_name()

    def package(name: str) -> str:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            return f"no {name}"

    packages = ("starlette", "uvicorn", "h11", "httptools", "uvloop", "httpx", "aiohttp")
    return (
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs ({cpu}), load {os.getloadavg()[0]:.2f}; "
        + ", ".join(package(p) for p in packages)
    )


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 (the options, listed)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100, help="agents, even (default 100)")
    parser.add_argument("--seconds", type=float, help="operation rounds in all (default 20)")
    parser.add_argument("--rounds", type=int, help="rounds of each kind (default 3)")
    parser.add_argument("--concurrency", type=int, help="calls at once (default: agents / 10)")
    parser.add_argument("--quick", action="store_true", help="smoke run (< 30 s)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the server's operation rounds")
    parser.add_argument("--serve", metavar="CONFIG", help=argparse.SUPPRESS)
    scale = parser.add_argument_group("scale run (bench/lean.py): many clients, a lean generator")
    scale.add_argument(
        "--arrival",
        choices=("burst", "spread"),
        help="run the scale run: every client arrives at once, or spread over --spread-s",
    )
    scale.add_argument("--spread-s", type=float, default=25.0, help="spread arrival (s)")
    scale.add_argument(
        "--fronts", type=int, default=0, help="0: one process; F: a switch and F fronts (NATS)"
    )
    scale.add_argument("--ops", type=float, default=40.0, help="operations per second in all")
    scale.add_argument("--idle-s", type=float, default=45.0, help="idle window (s)")
    scale.add_argument("--ops-s", type=float, default=30.0, help="operations window (s)")
    scale.add_argument("--workers", type=int, default=2, help="load generator processes")
    scale.add_argument("--timeout-s", type=int, default=15, help="CometD long-poll timeout (s)")
    scale.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS for --fronts")
    scale.add_argument(
        "--live-calls", type=int, default=0, help="calls made to ring before the clients come"
    )
    scale.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="the served processes' --log-level (info: a line per request but polls)",
    )
    scale.add_argument(
        "--kill-front",
        action="store_true",
        help="SIGKILL the last front halfway through the operations (needs --fronts 2 or more)",
    )
    args = parser.parse_args(argv)
    if args.kill_front and args.fronts < 2:
        parser.error("--kill-front needs --fronts 2 or more")
    if args.serve:
        return serve(args.serve, args.profile)
    if args.arrival is not None:
        return scale_run(args)
    if args.agents < 2 or args.agents % 2:
        parser.error("--agents must be an even number, at least 2")
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    concurrency = min(args.agents // 2, args.concurrency or max(1, args.agents // 10))
    settings = Settings(
        agents=args.agents,
        seconds=seconds,
        bare_seconds=seconds / 2,
        rounds=args.rounds or (2 if args.quick else 3),
        concurrency=concurrency,
        quick=args.quick,
        profile=args.profile,
    )
    try:
        import uvloop  # type: ignore[import-not-found]

        run: Callable[[Coroutine[Any, Any, list[str]]], list[str]] = uvloop.run
        loop = "uvloop"
    except ImportError:
        run, loop = asyncio.run, "asyncio"
    report = Report()
    server = ServerProcess(center(settings.agents), settings.profile)
    t0 = CLOCK()
    problems: list[str] = []
    notes: list[str] = []
    try:
        server.start()
        problems = run(quietly(bench(settings, server, report, notes)))
    finally:
        status = server.stop()
    mode = "quick" if settings.quick else "full"
    print(f"callstate serving benchmark ({mode}, {CLOCK() - t0:.0f} s)")
    print(describe_machine())
    print(
        f"the server (one process, uvicorn) and this load generator (one {loop} loop) share "
        f"this machine's {os.cpu_count()} CPUs; times are wall-clock; p50/p99 over every sample "
        "of every round; rates, CPU and ratios are medians over the rounds (N)"
    )
    print(report.render())
    passed, judged = report.verdicts()
    print(f"targets: {passed} of {judged} pass; server stopped by SIGTERM, exit status {status}")
    for note in notes:
        print(f"note: {note}")
    for problem in problems[:10]:
        print(f"problem: {problem}")
    if len(problems) > 10:
        print(f"... and {len(problems) - 10} more problems")
    return 1 if problems else 0


def scale_run(args: argparse.Namespace) -> int:
    """``--arrival``: the scale run of ``bench/lean.py``, its figures beside the targets."""
    from lean import scale

    figures = scale(
        args.agents,
        args.arrival,
        spread_s=args.spread_s,
        fronts=args.fronts,
        ops=args.ops,
        idle_s=args.idle_s,
        ops_s=args.ops_s,
        workers=args.workers,
        nats=args.nats,
        timeout_s=args.timeout_s,
        live_calls=args.live_calls,
        kill_front=args.kill_front,
        log_level=args.log_level,
    )
    print(describe_machine())
    where = "one process" if not args.fronts else f"a switch process and {args.fronts} fronts"
    if args.kill_front:
        where += " (the last killed halfway through the operations)"
    print(
        f"scale run: {args.agents} CometD clients arriving {args.arrival}, {where}, "
        f"{args.workers} generator processes, {args.ops:g} operations/s, "
        f"--log-level {args.log_level}"
    )
    targets: dict[str, tuple[str, float | None, str]] = {
        "dropped": ("sessions dropped", 0, "{}"),
        "p99_ms": ("p99 POST -> notification (ms)", 100, "{}"),
        "cpu_us_per_turn": ("server CPU per idle long-poll turn (us)", 150, "{}"),
        "rss_kb_per_client": ("server memory per idle client (kB)", 12, "{}"),
        "full_gc_ms": ("full GC pause, clients and live calls (ms)", 50, "{}"),
        "acked_not_in_stream": ("acknowledged operations not in the stream", 0, "{}"),
    }
    if args.kill_front:  # the killed front's clients are dropped, and handshake elsewhere
        targets["dropped"] = ("sessions dropped (those of the killed front)", None, "{}")
    figures["full_gc_ms"] = figures["full_gc"].get("ms")
    for key, (label, target, shape) in targets.items():
        value = figures[key]
        judged = value is not None and target is not None
        verdict = ("PASS" if value <= target else "FAIL") if judged else "-"
        print(f"  {label:<44} {shape.format(value):>10}   target <= {target}  {verdict}")
    for key, value in figures.items():
        if key not in targets:
            print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
