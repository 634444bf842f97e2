"""``callstate serve --log``: a restart resumes the log (after SIGTERM and kill -9 alike, with
every acknowledged request), a damaged log or one of another config is refused in one line and
left as it was, ``--fresh`` moves the old log aside, and a full disk is told in one line at start
and refuses writes (not reads) while serving, until there is room again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import CONFIG, Served, basic, free_port, server

DIAL = "/api/v2/me/devices/15000/calls"


def dial_body(i: int) -> dict[str, Any]:
    return {"operationName": "Dial", "destination": {"phoneNumber": f"+1415555{i:04d}"}}


def live_numbers(served: Served) -> set[str]:
    answer = httpx.get(
        f"{served.url}/api/v2/me/calls", headers={"Authorization": basic("agent1")}, timeout=10
    ).json()
    return {call["dnis"] for call in answer["calls"]}


def start_failing(tmp: Path, log: Path, *extra: str, config: Any = None) -> tuple[int, str]:
    """Run ``serve`` expecting it not to start: its exit status and its stderr."""
    path = tmp / "config.json"
    path.write_text(json.dumps(config or CONFIG))
    command = [sys.executable, "-m", "callstate", "serve", "--config", str(path)]
    command += ["--port", str(free_port()), "--log", str(log), *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stderr


def logged(tmp: Path, dials: int) -> Path:
    """A log that a server wrote: agent1 dialled ``dials`` outside numbers, then it stopped."""
    log = tmp / "calls.log"
    with server(tmp, None, "--log", str(log)) as served, httpx.Client() as http:
        for i in range(dials):
            reply = http.post(
                served.url + DIAL, json=dial_body(i), headers={"Authorization": basic("agent1")}
            )
            assert reply.status_code == 200
    return log


class Dialer:
    """Agent1 dials outside numbers as fast as the server answers, in a thread, keeping the
    numbers whose dial was acknowledged (200)."""

    def __init__(self, served: Served, first: int = 0) -> None:
        self.served = served
        self.acknowledged: list[str] = []
        self.next = first
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(headers={"Authorization": basic("agent1")}, timeout=5) as http:
            while not self.stop.is_set():
                body = dial_body(self.next)
                try:
                    reply = http.post(self.served.url + DIAL, json=body)
                except httpx.TransportError:
                    return  # the server went away: that request was never acknowledged
                if reply.status_code == 200:
                    self.acknowledged.append(body["destination"]["phoneNumber"])
                self.next += 1

    def __enter__(self) -> Dialer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_restart_resumes_the_log_with_every_acknowledged_request(
    tmp_path: Path, how: signal.Signals
) -> None:
    log = tmp_path / "calls.log"
    checkpoint = tmp_path / "calls.log.checkpoint"
    every = ("--checkpoint-mb", "0.05")  # about 75 requests
    with server(tmp_path, None, "--log", str(log), *every) as served:
        with Dialer(served) as dialer:
            deadline = time.monotonic() + 20
            while len(dialer.acknowledged) < 200 or not checkpoint.exists():
                assert time.monotonic() < deadline, "no checkpoint was written"
                threading.Event().wait(0.02)
            later = len(dialer.acknowledged) + 50
            while len(dialer.acknowledged) < later:
                threading.Event().wait(0.02)
            served.process.send_signal(how)  # under load, past a checkpoint
            served.process.wait(10)
        acknowledged = set(dialer.acknowledged)
    kept = log.read_bytes().rstrip(b"\0")  # a killed writer leaves reserved space
    assert kept
    with server(tmp_path, None, "--log", str(log), *every) as served:
        banner = (tmp_path / "server.out").read_text()
        assert f"restored {log}" in banner
        assert "from its checkpoint and the " in banner
        if how == signal.SIGTERM:  # saved at the stop: nothing to run again
            assert "the 0 requests after it" in banner
        assert acknowledged <= live_numbers(served)
        reply = httpx.post(
            served.url + DIAL, json=dial_body(9999), headers={"Authorization": basic("agent1")}
        )
        assert reply.status_code == 200
    after = log.read_bytes()
    assert after.startswith(kept[: kept.rfind(b"\n") + 1])  # appended to, nothing rewritten
    assert after.count(b"\n") > kept.count(b"\n")
    with server(tmp_path, None, "--log", str(log)) as served:
        assert acknowledged | {"+14155559999"} <= live_numbers(served)


def test_fresh_moves_the_old_log_aside_and_starts_a_new_one(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    with server(tmp_path, None, "--log", str(log)) as served:
        httpx.post(served.url + DIAL, json=dial_body(1), headers={"Authorization": basic("agent1")})
    old = log.read_bytes()
    with server(tmp_path, None, "--log", str(log), "--fresh") as served:
        assert live_numbers(served) == set()
        assert "moved aside" in (tmp_path / "server.out").read_text()
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("calls.log"))
    assert len(names) == 4  # the new log and its checkpoint, the old ones aside
    [aside] = [tmp_path / n for n in names if n.startswith("calls.log.20") and n.count(".") == 2]
    assert aside.read_bytes() == old
    assert (tmp_path / f"{aside.name}.checkpoint").exists()
    assert log.read_bytes() != old


def damaged(log: Path, how: str) -> None:
    data = log.read_bytes().rstrip(b"\0")
    lines = data.split(b"\n")
    if how == "empty":
        log.write_bytes(b"")
    elif how == "garbage":
        log.write_bytes(b"this is not a log\n" + data)
    elif how == "flipped byte":
        at = data.index(b"Dial", len(lines[0]))
        log.write_bytes(data[:at] + b"d" + data[at + 1 :])
    elif how == "cut middle line":
        log.write_bytes(b"\n".join([*lines[:3], lines[3][:50], *lines[4:]]))


@pytest.mark.parametrize("how", ["empty", "garbage", "flipped byte", "cut middle line"])
def test_a_damaged_log_is_refused_in_one_line_and_left_as_it_was(tmp_path: Path, how: str) -> None:
    log = logged(tmp_path, 5)
    damaged(log, how)
    before = log.read_bytes()
    status, stderr = start_failing(tmp_path, log)
    assert status == 2
    [line] = stderr.splitlines()
    replayed = subprocess.run(
        [sys.executable, "-m", "callstate", "replay", str(log)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert replayed.returncode == 2
    assert line == replayed.stderr.strip()  # the words `callstate replay` uses
    assert log.read_bytes() == before


def test_a_cut_last_line_is_truncated_away(tmp_path: Path) -> None:
    log = logged(tmp_path, 3)
    data = log.read_bytes().rstrip(b"\0")
    log.write_bytes(data[:-40])  # the last request's line, cut by a crash
    with server(tmp_path, None, "--log", str(log)) as served:
        assert live_numbers(served) == {"+14155550000", "+14155550001"}
        assert "was cut off" in (tmp_path / "server.out").read_text()
    assert log.read_bytes().count(b"\n") == data.count(b"\n") - 1


def test_a_log_of_another_config_is_refused_and_untouched(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    with server(tmp_path, None, "--log", str(log)):
        pass
    before = log.read_bytes()
    other = json.loads(json.dumps(CONFIG))
    other["devices"][0]["features"] = []
    status, stderr = start_failing(tmp_path, log, config=other)
    assert status == 2
    [line] = stderr.splitlines()
    assert "written for another config: device 15000 has other features" in line
    assert "--fresh" in line
    assert log.read_bytes() == before
    more = json.loads(json.dumps(CONFIG))  # a config that only adds a device is taken
    more["devices"].append({"dn": "15003"})
    with server(tmp_path, more, "--log", str(log)) as served:
        devices = httpx.get(
            f"{served.url}/api/v2/me/devices", headers={"Authorization": basic("agent1")}
        )
        assert devices.status_code == 200


# -- a full disk ----------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB file system (tmpfs) of its own, where the machine lets a test mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the full-disk tests run in CI as root)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the file that does it."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"x" * 4096)
    return filler


def test_a_full_disk_at_start_is_one_line(tmp_path: Path, small_disk: Path) -> None:
    fill(small_disk)
    status, stderr = start_failing(tmp_path, small_disk / "calls.log")
    assert status == 2
    [line] = stderr.splitlines()
    assert "No space left on device" in line


def test_a_full_disk_while_serving_refuses_writes_until_there_is_room(
    tmp_path: Path, small_disk: Path
) -> None:
    log = small_disk / "calls.log"
    auth = {"Authorization": basic("agent1")}
    with server(tmp_path, None, "--log", str(log)) as served:
        ok = [
            i
            for i in range(3)
            if httpx.post(served.url + DIAL, json=dial_body(i), headers=auth).status_code == 200
        ]
        assert ok == [0, 1, 2]
        filler = fill(small_disk)
        refused = []
        for i in range(3, 400):  # the space the log had reserved runs out: refusals
            reply = httpx.post(served.url + DIAL, json=dial_body(i), headers=auth)
            if reply.status_code == 200:
                ok.append(i)
            else:
                refused.append(
                    (reply.status_code, reply.json()["statusCode"], reply.json()["statusMessage"])
                )
                if len(refused) == 3:
                    break
        assert [r[:2] for r in refused] == [(500, 4)] * 3
        assert "event log" in refused[0][2]
        assert (
            httpx.get(f"{served.url}/api/v2/me/calls", headers=auth).status_code == 200
        )  # reads go on
        acknowledged = {f"+1415555{i:04d}" for i in ok}
        assert live_numbers(served) == acknowledged  # a refused dial changed nothing
        filler.unlink()  # room again: writes are taken without a restart
        reply = httpx.post(served.url + DIAL, json=dial_body(9000), headers=auth)
        assert reply.status_code == 200, reply.text
        acknowledged.add("+14155559000")
    with server(tmp_path, None, "--log", str(log)) as served:
        assert live_numbers(served) == acknowledged


def test_a_damaged_checkpoint_is_passed_over_and_the_log_run_whole(tmp_path: Path) -> None:
    log = logged(tmp_path, 4)
    checkpoint = tmp_path / "calls.log.checkpoint"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    with server(tmp_path, None, "--log", str(log)) as served:
        banner = (tmp_path / "server.out").read_text()
        assert "calls.log.checkpoint passed over (not a saved switch" in banner
        assert live_numbers(served) == {f"+1415555{i:04d}" for i in range(4)}
    assert checkpoint.read_bytes() != data[: len(data) // 2]  # a new one at the stop


def test_a_second_server_on_a_log_in_use_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    with server(tmp_path, None, "--log", str(log)) as served:
        httpx.post(served.url + DIAL, json=dial_body(1), headers={"Authorization": basic("agent1")})
        before = log.read_bytes()
        second = tmp_path / "second"
        second.mkdir()
        status, stderr = start_failing(second, log)
        assert status == 2
        [line] = stderr.splitlines()
        assert "in use by another writer" in line
        assert log.read_bytes() == before  # not even its reserved space was cut
        assert live_numbers(served) == {"+14155550001"}
