"""A ``python -m callstate serve`` process for tests that talk to it over the network."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from aiocometd_noloop.extensions import AuthExtension

CONFIG: dict[str, Any] = {
    "devices": [
        {"dn": "15000", "features": ["mute", "recording"]},
        {"dn": "15001", "features": ["mute"]},
        {"dn": "15002"},
    ],
    "users": [
        {"username": "agent1", "password": "s3cret", "role": "agent", "dn": "15000"},
        {"username": "agent2", "password": "s3cret", "role": "agent", "dn": "15001"},
        {"username": "agent3", "password": "s3cret", "role": "supervisor", "dn": "15002"},
        {"username": "admin", "password": "s3cret", "role": "admin"},
    ],
    "cometd": {"timeout": 5, "maxInterval": 5},
}
PASSWORDS = {u["username"]: u["password"] for u in CONFIG["users"]}
DNS = {u["username"]: u.get("dn") for u in CONFIG["users"]}


def basic(user: str, password: str | None = None) -> str:
    secret = f"{user}:{PASSWORDS[user] if password is None else password}".encode()
    return "Basic " + base64.b64encode(secret).decode()


class Basic(AuthExtension):  # type: ignore[misc]
    """HTTP Basic on every CometD request."""

    def __init__(self, user: str) -> None:
        self.header = basic(user)

    async def outgoing(self, payload: Any, headers: dict[str, str]) -> None:
        headers["Authorization"] = self.header

    async def incoming(self, payload: Any, headers: Any = None) -> None:
        pass

    async def authenticate(self) -> None:
        pass


#: a line of ``serve``'s own logs at INFO (``--log-level info``, the default)
_LOGGED = re.compile(r"^\S+ \S+ INFO callstate\.(access|cometd) ")


def noise(stderr: str) -> list[str]:
    """The lines of a server's stderr that are not its INFO access and CometD lines: warnings,
    errors, tracebacks."""
    return [line for line in stderr.splitlines() if not _LOGGED.match(line)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    def __init__(self, process: subprocess.Popen[bytes], port: int, folder: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.folder = folder
        #: the exit status once stopped (None: it had to be killed)
        self.status: int | None = None

    def stderr(self) -> str:
        return (self.folder / "server.err").read_text()

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then the exit status (None: still running after ``timeout``, killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self.status = None
        return self.status


@contextmanager
def server(tmp: Path, config: dict[str, Any] | Path | None = None, *extra: str) -> Iterator[Served]:
    """A server on a free port, up (health answers) before the body runs; stopped after (its
    output in ``tmp``: ``server.out``, ``server.err``). ``config``: a config, or the path of a
    config file to serve as it is."""
    if isinstance(config, Path):
        path = config.resolve()
    else:
        path = tmp / "config.json"
        path.write_text(json.dumps(config or CONFIG))
    port = free_port()
    command = [sys.executable, "-m", "callstate", "serve", "--config", str(path)]
    command += ["--port", str(port), "--seed", "1", "--format", "8.5.2", *extra]
    with (tmp / "server.out").open("wb") as out, (tmp / "server.err").open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=tmp)
    served = Served(process, port, tmp)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server exited at start: {served.stderr()}")
            try:
                if httpx.get(f"{served.url}/simulator/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the server did not answer within 20 s")
            time.sleep(0.05)
        yield served
    finally:
        if process.poll() is None:
            served.stop()
