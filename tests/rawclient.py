"""A GWS client that talks the way the CometD Java and .NET clients (and the GWS mobile samples)
talk, written at the byte level so that nothing a library does for us hides what the server must
accept:

- HTTP/1.1 over one kept-alive socket per connection, ``Content-Type: application/json;
  charset=UTF-8``; cookies kept from ``Set-Cookie`` and sent back (a cookie store);
- after one request with Basic credentials, only the ``JSESSIONID`` cookie authenticates;
- every Bayeux message is a one-element JSON array posted to the endpoint with the message type
  appended (``/api/v2/notifications/handshake``, ``/connect``, ``/subscribe``, ``/unsubscribe``,
  ``/disconnect``), as the Java client's ``appendMessageTypeToURL`` does; the handshake offers
  ``long-polling`` with ``minimumVersion`` and ``advice``, connects name ``connectionType``;
- the long-poll runs on a connection of its own, in a thread, while requests go on another,
  as those clients hold a connect and post operations at the same time.
"""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import socket
import threading
from typing import Any

NOTIFICATIONS = "/api/v2/notifications"


class Connection:
    """One kept-alive HTTP/1.1 connection, sharing a cookie store."""

    def __init__(self, port: int, cookies: dict[str, str]) -> None:
        self.port = port
        self.cookies = cookies
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes a thread blocked reading it
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if payload or method == "POST":
            lines += ["Content-Type: application/json;charset=UTF-8"]
            lines += [f"Content-Length: {len(payload)}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        status, response_headers, raw = self._response()
        cookie = response_headers.get("set-cookie")
        if cookie:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            if value:
                self.cookies[name] = value
            else:  # the server ended it
                self.cookies.pop(name, None)
        return status, response_headers, json.loads(raw) if raw else None

    def _response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        size = int(headers.get("content-length", "0"))
        while len(self.buffer) < size:
            self._read()
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return int(status_line.split()[1]), headers, body

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk


class GwsClient:
    """An agent's client: REST on one connection, CometD long-polling on another."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.rest = Connection(port, self.cookies)
        self.poll = Connection(port, self.cookies)
        self.client_id: str | None = None
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._next_id = 0
        self._polling: threading.Thread | None = None
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        #: set while a connect is on its way or held
        self.connecting = threading.Event()
        #: the HTTP status and body of a connect the server refused (the loop then stops)
        self.refused: tuple[int, Any] | None = None

    # -- REST -------------------------------------------------------------------------------------
    def login(self, user: str, password: str) -> dict[str, Any]:
        """``GET /api/v2/me`` with Basic credentials: the one request that carries them."""
        secret = base64.b64encode(f"{user}:{password}".encode()).decode()
        status, _, body = self.rest.request(
            "GET", "/api/v2/me", headers={"Authorization": f"Basic {secret}"}
        )
        assert status == 200, body
        assert "JSESSIONID" in self.cookies, "no session cookie after a Basic request"
        return dict(body)

    def get(self, path: str) -> tuple[int, Any]:
        status, _, body = self.rest.request("GET", path)
        return status, body

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        status, _, answer = self.rest.request("POST", path, body)
        return status, answer

    # -- Bayeux -----------------------------------------------------------------------------------
    def _message(self, channel: str, **fields: Any) -> dict[str, Any]:
        self._next_id += 1
        message = {"id": str(self._next_id), "channel": channel, **fields}
        if self.client_id is not None:
            message["clientId"] = self.client_id
        return message

    def bayeux(self, connection: Connection, message: dict[str, Any]) -> list[dict[str, Any]]:
        kind = message["channel"].rsplit("/", 1)[1]
        status, _, replies = connection.request("POST", f"{NOTIFICATIONS}/{kind}", [message])
        assert status == 200, replies
        return list(replies)

    def handshake(self) -> dict[str, Any]:
        [reply] = self.bayeux(
            self.rest,
            self._message(
                "/meta/handshake",
                version="1.0",
                minimumVersion="1.0",
                supportedConnectionTypes=["long-polling"],
                advice={"timeout": 60000, "interval": 0},
            ),
        )
        assert reply["successful"], reply
        self.client_id = reply["clientId"]
        return reply

    def subscribe(self, channel: str) -> dict[str, Any]:
        [reply] = self.bayeux(self.rest, self._message("/meta/subscribe", subscription=channel))
        return reply

    def start_polling(self) -> None:
        """The first connect (answered at once), then connects held in a thread."""
        replies = self.bayeux(
            self.poll,
            self._message("/meta/connect", connectionType="long-polling", advice={"timeout": 0}),
        )
        assert replies[-1]["successful"], replies
        self._polling = threading.Thread(target=self._loop, daemon=True)
        self._polling.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                message = self._message("/meta/connect", connectionType="long-polling")
                self.connecting.set()
                status, _, replies = self.poll.request(
                    "POST", f"{NOTIFICATIONS}/connect", [message]
                )
                self.connecting.clear()
                if status != 200:  # e.g. 401 once the HTTP session has ended
                    self.refused = (status, replies)
                    return
                for reply in replies:
                    if reply.get("channel") == "/meta/connect":
                        if not reply["successful"]:
                            return
                    else:
                        self.messages.put(reply)
        except (OSError, ConnectionError, AssertionError) as error:
            if not self._stop.is_set():
                self.errors.append(error)

    def take(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The next ``count`` messages (fails if they do not come within ``timeout``)."""
        got = [self.messages.get(timeout=timeout) for _ in range(count)]
        return got

    def quiet(self, wait: float = 0.3) -> bool:
        """No message came within ``wait`` seconds."""
        try:
            extra = self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        self.messages.put(extra)
        return False

    def held(self, wait: float = 0.3) -> None:
        """Wait until a connect is on its way, and ``wait`` seconds more (for the server to hold
        it), so that what happens next reaches a held connect."""
        assert self.connecting.wait(10), "no connect was sent"
        threading.Event().wait(wait)

    def disconnect(self, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """``/meta/disconnect`` (the held connect then ends); the HTTP status and the replies."""
        self._stop.set()
        message = self._message("/meta/disconnect")
        status, _, replies = self.rest.request(
            "POST", f"{NOTIFICATIONS}/disconnect", [message], headers
        )
        return status, replies

    def close(self) -> None:
        self._stop.set()
        self.rest.close()
        self.poll.close()
        if self._polling is not None:
            self._polling.join(5)
