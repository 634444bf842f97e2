"""What one client can hold of a ``serve`` process: a request must arrive in time, idle
connections close, open connections are bounded with a JSON refusal, malformed HTTP gets JSON,
a stop cuts half-sent requests without error lines — and a flood of slow and idle connections
does not stop a normal user."""

from __future__ import annotations

import json
import re
import resource
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import CONFIG, basic, noise, server


def config(**http: Any) -> dict[str, Any]:
    return {**CONFIG, "http": http}


def read_all(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    sock.settimeout(timeout)
    started, data = time.monotonic(), b""
    while chunk := sock.recv(4096):
        data += chunk
    return data, time.monotonic() - started


def cut_while_sending(sock: socket.socket, data: bytes) -> bool:
    """Send ``data`` a byte every 0.1 s; whether the server cut the connection first."""
    sock.settimeout(5)
    try:
        for byte in data:
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        return True
    return False


def request(path: str, *lines: str, body: str = "") -> bytes:
    head = "\r\n".join([f"{path} HTTP/1.1", "Host: x", *lines])
    return (head + "\r\n\r\n" + body).encode()


def body_of(response: bytes) -> dict[str, Any]:
    return dict(json.loads(response.split(b"\r\n\r\n", 1)[1]))


def test_malformed_http_gets_json(tmp_path: Path) -> None:
    with server(tmp_path) as served:
        for bad in (
            b"GARBAGE\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/9\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", served.port)) as sock:
                sock.sendall(bad)
                answer, _ = read_all(sock, 5)
            assert answer.startswith(b"HTTP/1.1 400"), answer
            assert b"content-type: application/json" in answer
            assert body_of(answer) == {"statusCode": 1, "statusMessage": "malformed HTTP request"}
    assert noise(served.stderr()) == []


def test_a_request_that_does_not_arrive_in_time_is_cut(tmp_path: Path) -> None:
    with server(tmp_path, config(requestTimeout=1, idleTimeout=1)) as served:
        address = ("127.0.0.1", served.port)
        with socket.create_connection(address) as silent:
            answer, took = read_all(silent, 5)
        assert (answer, 0.8 < took < 3) == (b"", True)
        with socket.create_connection(address) as slow:  # a head sent a byte at a time
            started = time.monotonic()
            assert cut_while_sending(slow, b"GET /api/v2/me HTTP/1.1\r\nHost: x\r\n" * 3)
            assert time.monotonic() - started < 3
        with socket.create_connection(address) as partial:
            partial.sendall(
                f"GET /api/v2/me HTTP/1.1\r\nAuthorization: {basic('agent1')}\r\n".encode()
            )
            answer, took = read_all(partial, 5)
        assert answer.startswith(b"HTTP/1.1 408")
        assert body_of(answer)["statusMessage"] == "the request did not arrive in time"
        with socket.create_connection(address) as unread:  # answered (401) before its body
            unread.sendall(request("POST /api/v2/me/calls/X", "Content-Length: 100", body="{"))
            answer, _ = read_all(unread, 5)
        assert answer.startswith(b"HTTP/1.1 401")
        assert b"408" not in answer  # one answer to a request, never two
        with socket.create_connection(address) as idle:  # a whole request, then nothing
            idle.sendall(request("GET /api/v2/me", f"Authorization: {basic('agent1')}"))
            answer, took = read_all(idle, 5)
        assert answer.startswith(b"HTTP/1.1 200")
        assert 0.8 < took < 3  # closed once idle for a second
    assert noise(served.stderr()) == []


def test_open_connections_are_bounded_with_a_json_refusal(tmp_path: Path) -> None:
    with server(tmp_path, config(maxConnections=20)) as served:
        held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(20)]
        try:
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", served.port)) as extra:
                answer, _ = read_all(extra, 5)
            assert answer.startswith(b"HTTP/1.1 503")
            assert b"retry-after: 1" in answer
            assert "too many connections (the bound is 20)" in body_of(answer)["statusMessage"]
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert (
            httpx.get(
                f"{served.url}/api/v2/me", headers={"Authorization": basic("agent1")}
            ).status_code
            == 200
        )


def test_a_stop_cuts_half_sent_requests_without_error_lines(tmp_path: Path) -> None:
    with server(tmp_path) as served:
        auth = basic("agent1")
        socks = []
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", served.port))
            lines = (f"Authorization: {auth}", "Content-Length: 100")
            sock.sendall(request("POST /api/v2/me/calls/X", *lines, body="{"))
            socks.append(sock)
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", served.port))
            sock.sendall(b"GET /api/v2/me HTTP/1.1\r\nHost: x\r\n")
            socks.append(sock)
        time.sleep(0.3)
        started = time.monotonic()
        assert served.stop() == 0
        assert time.monotonic() - started < 2
        for sock in socks:
            sock.close()
    assert noise(served.stderr()) == []


def test_a_flood_of_slow_and_idle_connections_does_not_stop_a_normal_user(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2400 and hard >= 2400:
        resource.setrlimit(resource.RLIMIT_NOFILE, (2400, hard))
    elif soft < 2400:
        pytest.skip(f"this machine allows {hard} open files: too few for 1,100 connections")
    with server(tmp_path) as served:
        flood = []
        for i in range(1100):
            sock = socket.create_connection(("127.0.0.1", served.port))
            if i % 2:  # slow: a head that never ends; the others idle
                sock.sendall(b"GET /api/v2/me HTTP/1.1\r\nHost: x\r\n")
            flood.append(sock)
        try:
            times = []
            with httpx.Client(
                base_url=served.url, headers={"Authorization": basic("agent2")}
            ) as http:
                for _ in range(100):
                    started = time.perf_counter()
                    reply = http.get("/api/v2/me/calls")
                    times.append(time.perf_counter() - started)
                    assert reply.status_code == 200
            times.sort()
            p99 = times[98]
            median = statistics.median(times) * 1000
            print(
                f"beside 1,100 slow/idle connections: median {median:.1f}, p99 {p99 * 1000:.1f} ms"
            )
            assert p99 < 0.5
        finally:
            for sock in flood:
                sock.close()
    assert "Traceback" not in served.stderr()


def test_http_as_clients_use_it_pipelining_head_upgrades_and_big_bodies(tmp_path: Path) -> None:
    with server(tmp_path, config(requestTimeout=2, idleTimeout=1)) as served:
        address = ("127.0.0.1", served.port)
        auth = f"Authorization: {basic('agent1')}"
        with socket.create_connection(address) as sock:  # three requests sent at once
            sock.sendall(
                request("GET /api/v2/me/calls", auth)
                + request("GET /api/v2/nowhere", auth)
                + request("GET /simulator/health", "Connection: close")
            )
            answer, _ = read_all(sock, 5)
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
        assert statuses == [b"200", b"404", b"200"]
        assert answer.count(b"connection: close") == 1  # the last one asked for it
        with socket.create_connection(address) as sock:  # HEAD: the head alone
            sock.sendall(request("HEAD /api/v2/me", auth, "Connection: close"))
            answer, _ = read_all(sock, 5)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 405")
        assert body == b""
        with socket.create_connection(address) as sock:  # HTTP/1.0: closed after the answer
            sock.sendall(b"GET /simulator/health HTTP/1.0\r\n\r\n")
            answer, took = read_all(sock, 5)
        assert answer.startswith(b"HTTP/1.1 200")
        assert took < 0.5
        with socket.create_connection(address) as sock:  # WebSocket: long-polling only
            sock.sendall(
                request(
                    "GET /api/v2/notifications",
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version: 13",
                )
            )
            answer, _ = read_all(sock, 5)
        assert answer.startswith(b"HTTP/1.1 403")
        assert body_of(answer)["statusCode"] == 3
        with socket.create_connection(address) as sock:  # Expect: 100-continue
            sock.sendall(
                request("POST /api/v2/me", auth, "Content-Length: 2", "Expect: 100-continue")
            )
            first = sock.recv(4096)
            assert first == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"{}")
            sock.settimeout(5)
            rest = sock.recv(4096)
        assert rest.startswith(b"HTTP/1.1 400")  # no operationName
        with socket.create_connection(address) as sock:  # a body past 1 MiB: refused unread
            sock.sendall(request("POST /api/v2/me", auth, f"Content-Length: {2 << 20}"))
            answer, _ = read_all(sock, 5)
        assert answer.startswith(b"HTTP/1.1 413")
        assert body_of(answer)["statusCode"] == 2
    assert noise(served.stderr()) == []
