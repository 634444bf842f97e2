"""The web page (``callstate/web``), served by ``python -m callstate serve`` and driven in a real
headless Chromium (``playwright`` with the system's ``/usr/bin/chromium``; no browser download).

Without Chromium the browser tests are skipped, unless ``CALLSTATE_REQUIRE_BROWSER=1`` (CI sets
it once it has installed Chromium): then they fail. The server runs with CSRF protection on, so
that every change the page makes must carry the token the server gave it.
"""

from __future__ import annotations

import http.client
import json
import os
import struct
import tomllib
import zlib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import CONFIG, Served, basic, server

from callstate.config import DEMO, load
from callstate.diagrams import call_graph
from callstate.enums import State
from callstate.server import create_app
from callstate.web import FILES, diagram

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: the fill of the highlighted state in the diagram (style.css)
HIGHLIGHT = (0xFF, 0xCC, 0x00)
#: milliseconds the page gets to show what a test waits for
WAIT = 10_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = {**CONFIG, "http": {"csrfProtection": True}}
    with server(tmp_path_factory.mktemp("web"), config) as running:
        yield running


def _raw(
    served: Served, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A request sent as written (no client normalising ``..`` away)."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# -- the files ------------------------------------------------------------------------------------
def test_the_page_and_its_files_are_served_with_their_types(served: Served) -> None:
    for name, kind in FILES.items():
        response = httpx.get(f"{served.url}/web/{name}", timeout=10)
        assert response.status_code == 200, name
        assert response.headers["content-type"] == kind, name
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.content, name
    page = httpx.get(f"{served.url}/", timeout=10)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content == httpx.get(f"{served.url}/web/index.html", timeout=10).content
    assert b'<script type="module" src="/web/app.js">' in page.content
    parameters = httpx.get(f"{served.url}/web/parameters.json", timeout=10).json()
    assert parameters["InitiateTransfer"]["required"] == ["destination"]
    assert parameters["SendDtmf"]["required"] == ["digits"]
    status, headers, body = _raw(served, "HEAD", "/")
    assert (status, headers["content-length"], body) == (200, str(len(page.content)), b"")


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="not in the source tree")
def test_every_file_of_the_page_is_package_data() -> None:
    """``pip install .`` ships what the server serves (the two made files aside)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["callstate"]
    written = [name for name in FILES if (ROOT / "callstate" / "web" / name).exists()]
    assert len(written) == len(FILES) - 2
    for name in written:
        assert any(fnmatch(f"web/{name}", pattern) for pattern in patterns), name


@pytest.mark.parametrize(
    "path",
    ["/web/nothing.js", "/web/__init__.py", "/web/../pyproject.toml", "/web/", "/web", "/web/%2e"],
)
def test_any_other_file_is_a_json_404(served: Served, path: str) -> None:
    status, headers, body = _raw(served, "GET", path)
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["statusCode"] == 6


def test_the_files_are_only_read(served: Served) -> None:
    status, headers, body = _raw(served, "POST", "/web/app.js")
    assert (status, headers["allow"]) == (405, "GET, HEAD")
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["statusCode"] == 3


def test_the_page_needs_no_credentials_but_the_api_still_does(served: Served) -> None:
    assert httpx.get(f"{served.url}/", timeout=10).status_code == 200
    assert httpx.get(f"{served.url}/api/v2/me", timeout=10).status_code == 401
    assert httpx.get(f"{served.url}/index.html", timeout=10).status_code == 401  # not the page's


def test_a_script_is_refused_without_the_browsers_login_dialog(served: Served) -> None:
    """The page says itself that a login failed: its 401 comes without the challenge."""
    wrong = {"Authorization": basic("agent1", "wrong")}
    status, headers, _ = _raw(served, "GET", "/api/v2/me", wrong)
    assert (status, headers["www-authenticate"]) == (401, 'Basic realm="callstate"')
    scripted = {**wrong, "X-Requested-With": "XMLHttpRequest"}
    for path in ("/api/v2/me", "/api/v2/notifications"):
        status, headers, body = _raw(served, "GET", path, scripted)
        assert (status, json.loads(body)["statusCode"]) == (401, 20)
        assert "www-authenticate" not in headers


@pytest.mark.asyncio
async def test_the_starlette_path_serves_the_types_too() -> None:
    transport = httpx.ASGITransport(app=create_app(load(DEMO)))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        style = await client.get("/web/style.css")
        assert (style.status_code, style.headers["content-type"]) == (200, FILES["style.css"])
        missing = await client.get("/web/missing.css")
        assert (missing.status_code, missing.headers["content-type"]) == (404, "application/json")
        me = await client.get("/api/v2/me")
        assert (me.status_code, me.headers["content-type"]) == (401, "application/json")


def test_the_diagram_is_the_tables() -> None:
    """Every state has a place; the edges are the diagram module's, read from the machine."""
    made = diagram()
    places = {node["id"]: (node["x"], node["y"]) for node in made["nodes"]}
    assert set(places) == {"start", "end", *(state.value for state in State)}
    assert len(set(places.values())) == len(places)  # no two states on one spot
    ends = {"[*]"}
    expected = [
        (src if src not in ends else "start", dst if dst not in ends else "end", list(labels))
        for src, dst, labels in call_graph().edges
    ]
    assert [(e["from"], e["to"], e["labels"]) for e in made["edges"]] == expected
    assert ("Ringing", "Established", ["Answer"]) in expected
    # the start above the states it leads to, the end below every state
    assert places["start"][1] < places["Ringing"][1] < places["Released"][1] < places["end"][1]


# -- in the browser -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    required = os.environ.get("CALLSTATE_REQUIRE_BROWSER") == "1"
    if not CHROMIUM.exists():
        if required:
            pytest.fail(f"CALLSTATE_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium): no browser to drive")
    if required:
        from playwright.sync_api import sync_playwright
    else:
        sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _logged_in(browser: Any, served: Served, user: str) -> Any:
    """A page of a new browser context, logged in as ``user`` and connected to CometD."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    page.goto(f"{served.url}/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "s3cret")
    page.click("#login button")
    expect(page.locator("#link")).to_have_attribute("data-link", "connected", timeout=WAIT)
    return page


def _png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """A PNG's width, height, rows of pixels and bytes per pixel (8-bit RGB or RGBA, as
    Chromium writes them)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, packed = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            packed += chunk
    assert (depth, interlace) == (8, 0)
    assert color in (2, 6)
    size = 3 if color == 2 else 4
    raw, stride = zlib.decompress(packed), width * size
    rows, above = [], bytearray(stride)
    for y in range(height):
        kind_of_filter = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - size] if i >= size else 0
            b, c = above[i], above[i - size] if i >= size else 0
            if kind_of_filter == 1:
                line[i] = (line[i] + a) & 255
            elif kind_of_filter == 2:
                line[i] = (line[i] + b) & 255
            elif kind_of_filter == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind_of_filter == 4:
                p = a + b - c
                near = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))[2]
                line[i] = (line[i] + near) & 255
        rows.append(bytes(line))
        above = line
    return width, height, rows, size


def _share(png: bytes, colour: tuple[int, int, int]) -> float:
    """The share of a screenshot's pixels that have exactly ``colour``."""
    width, height, rows, size = _png(png)
    hits = sum(
        1 for row in rows for x in range(width) if tuple(row[x * size : x * size + 3]) == colour
    )
    return hits / (width * height)


def _state_node(page: Any, state: str, path: Path) -> float:
    """The highlight's share of the diagram's box for ``state``, from a screenshot."""
    shot = page.locator(f"#diagram .state[data-state={state}] rect").screenshot(path=path)
    return _share(shot, HIGHLIGHT)


def test_a_call_between_two_softphones_watched_on_the_board(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    caller = _logged_in(browser, served, "agent1")
    callee = _logged_in(browser, served, "agent2")
    board = _logged_in(browser, served, "admin")
    expect(board.locator("#softphone")).to_be_hidden()
    expect(caller.locator("#board")).to_be_hidden()
    expect(board.locator("#supervise")).to_be_hidden()  # an admin supervises nobody
    # an admin's board lists every device (GET /api/v2/devices?fields=*), by DN
    dns = [d["dn"] for d in CONFIG["devices"]]
    rows = board.locator("#board-devices tr[data-device-id]")
    expect(rows).to_have_count(len(dns), timeout=WAIT)
    assert [rows.nth(i).get_attribute("data-dn") for i in range(len(dns))] == dns

    caller.fill("#destination", "15001")
    caller.click("#dial button")
    ringing = callee.locator(".call[data-state=Ringing]")
    expect(ringing).to_have_count(1, timeout=WAIT)
    expect(ringing.locator(".participants")).to_have_text("15000")
    expect(caller.locator(".call[data-state=Dialing]")).to_have_count(1, timeout=WAIT)
    expect(callee.locator("#diagram")).to_have_attribute("data-state", "Ringing")
    before = callee.locator("#diagram").screenshot(path=tmp_path / "ringing.png")
    assert _state_node(callee, "Ringing", tmp_path / "ringing-node.png") > 0.6
    assert _state_node(callee, "Established", tmp_path / "established-node.png") == 0
    expect(board.locator("#board-calls tr[data-state=Ringing]")).to_have_count(1, timeout=WAIT)

    ringing.locator("button[data-op=Answer]").click()
    for page in (caller, callee):
        expect(page.locator(".call[data-state=Established]")).to_have_count(1, timeout=WAIT)
        expect(page.locator("#diagram")).to_have_attribute("data-state", "Established")
    after = callee.locator("#diagram").screenshot(path=tmp_path / "established.png")
    assert after != before
    assert _state_node(callee, "Established", tmp_path / "established-node.png") > 0.6
    assert _state_node(callee, "Ringing", tmp_path / "ringing-node.png") == 0
    expect(board.locator("#board-calls tr[data-state=Established]")).to_have_count(2, timeout=WAIT)

    caller.locator(".call button[data-op=Hold]").click()
    expect(caller.locator(".call[data-state=Held]")).to_have_count(1, timeout=WAIT)
    expect(board.locator("#board-calls tr[data-state=Held]")).to_have_count(1, timeout=WAIT)
    expect(callee.locator(".call[data-state=Established]")).to_have_count(1)
    caller.locator(".call button[data-op=Retrieve]").click()
    expect(caller.locator(".call[data-state=Established]")).to_have_count(1, timeout=WAIT)
    board.screenshot(path=tmp_path / "board.png", full_page=True)

    caller.locator(".call button[data-op=Hangup]").click()
    for page in (caller, callee):
        expect(page.locator(".call[data-state=Released]")).to_have_count(1, timeout=WAIT)
    for page in (caller, callee, board):
        expect(page.locator("[data-call-id][data-state]")).to_have_count(0, timeout=WAIT)
    assert caller.errors == callee.errors == board.errors == []


def test_agent_state_dnd_and_refusals(browser: Any, served: Served) -> None:
    from playwright.sync_api import expect

    page = _logged_in(browser, served, "agent2")
    device = page.locator("#device")
    page.click("button[data-agent-state=Ready]")
    expect(device).to_have_attribute("data-agent-state", "Ready", timeout=WAIT)
    page.click("#device-operations button[data-op=DoNotDisturbOn]")
    expect(device).to_have_attribute("data-dnd", "On", timeout=WAIT)
    page.click("#device-operations button[data-op=DoNotDisturbOff]")
    expect(device).to_have_attribute("data-dnd", "Off", timeout=WAIT)
    page.click("button[data-agent-state=NotReady]")
    expect(device).to_have_attribute("data-agent-state", "NotReady", timeout=WAIT)

    page.fill("#destination", "not a number")
    page.click("#dial button")
    status = page.locator("#status[data-kind=error]")
    expect(status).to_contain_text("neither a DN", timeout=WAIT)

    wrong = browser.new_context().new_page()
    wrong.goto(f"{served.url}/")
    wrong.fill("input[name=username]", "agent2")
    wrong.fill("input[name=password]", "wrong")
    wrong.click("#login button")
    expect(wrong.locator("#status[data-kind=error]")).to_contain_text("authentication required")
    expect(wrong.locator("#work")).to_be_hidden()

    page.click("#logout")
    expect(page.locator("#login")).to_be_visible(timeout=WAIT)
    again = page.context.request.get(f"{served.url}/api/v2/me")
    assert again.status == 401  # the session cookie went with the logout
    assert page.errors == []


def test_a_supervisor_listens_in_from_the_page(browser: Any, served: Served) -> None:
    from playwright.sync_api import expect

    supervisor = _logged_in(browser, served, "agent3")
    expect(supervisor.locator("#board")).to_be_visible()
    expect(supervisor.locator("#supervise")).to_be_visible()
    # a supervisor reads its own device only (someone else's answers as a missing one): it
    # names the agent's device by its DN, as a targetDeviceUri may
    supervisor.fill("#device-parameter", "15000")
    supervisor.locator("#device-operations button[data-op=ListenIn]").click()
    own = supervisor.locator("#device-operations button[data-op=CancelSupervisorMonitoring]")
    expect(own).to_have_count(1, timeout=WAIT)
    expect(supervisor.locator("#status")).to_have_text("")

    caller = _logged_in(browser, served, "agent1")
    callee = _logged_in(browser, served, "agent2")
    caller.fill("#destination", "15001")
    caller.click("#dial button")
    callee.locator(".call[data-state=Ringing] button[data-op=Answer]").click(timeout=WAIT)
    joined = supervisor.locator(".call[data-state=Ringing]")
    expect(joined).to_have_count(1, timeout=WAIT)
    joined.locator("button[data-op=Answer]").click()
    monitor = supervisor.locator(".call[data-state=Established]")
    expect(monitor).to_have_count(1, timeout=WAIT)
    expect(monitor.locator("button[data-op=SwitchToBargeIn]")).to_have_count(1)
    monitor.locator("button[data-op=SwitchToBargeIn]").click()
    expect(monitor.locator("button[data-op=SwitchToListenIn]")).to_have_count(1, timeout=WAIT)

    own.click()
    expect(own).to_have_count(0, timeout=WAIT)
    caller.locator(".call button[data-op=Hangup]").click()
    for page in (caller, callee, supervisor):
        expect(page.locator("[data-call-id][data-state]")).to_have_count(0, timeout=WAIT)
    assert supervisor.errors == caller.errors == callee.errors == []


def test_a_page_that_lost_its_cometd_session_handshakes_again_and_catches_up(
    browser: Any, served: Served
) -> None:
    """While the page cannot reach the server, the server forgets its CometD client (after
    ``maxInterval``) and a call comes: once through again, the page handshakes anew (the
    server's advice, or its own after failures) and reads the calls it missed."""
    from playwright.sync_api import expect

    callee = _logged_in(browser, served, "agent2")
    cut = "**/api/v2/notifications"
    callee.route(cut, lambda route: route.abort())
    link = callee.locator("#link")
    expect(link).to_contain_text("connection lost", timeout=WAIT)
    caller = _logged_in(browser, served, "agent1")
    caller.fill("#destination", "15001")
    caller.click("#dial button")
    expect(caller.locator(".call[data-state=Dialing]")).to_have_count(1, timeout=WAIT)
    callee.wait_for_timeout(6_000)  # beyond maxInterval (5 s): the server forgot the client
    expect(callee.locator(".call")).to_have_count(0)  # the notification did not come
    callee.unroute(cut)
    ringing = callee.locator(".call[data-state=Ringing]")
    expect(ringing).to_have_count(1, timeout=2 * WAIT)
    expect(link).to_have_attribute("data-link", "connected")
    ringing.locator("button[data-op=Answer]").click()  # and notifications flow again
    expect(caller.locator(".call[data-state=Established]")).to_have_count(1, timeout=WAIT)
    expect(callee.locator(".call[data-state=Established]")).to_have_count(1, timeout=WAIT)
    caller.locator(".call button[data-op=Hangup]").click()
    expect(callee.locator("[data-call-id][data-state]")).to_have_count(0, timeout=WAIT)
    assert callee.errors == caller.errors == []


def test_a_page_whose_session_ended_says_so(browser: Any, served: Served) -> None:
    """The session ends behind the page's back (here: the same browser ends it): the page's
    next connect is refused, and it stops and says so rather than trying for ever."""
    from playwright.sync_api import expect

    page = _logged_in(browser, served, "agent3")
    header, token = page.evaluate("callstate.session.csrf")
    ended = page.context.request.post(
        f"{served.url}/api/v2/me",
        data={"operationName": "EndContactCenterSession"},
        headers={header: token},
    )
    assert ended.status == 200
    link = page.locator("#link")
    expect(link).to_have_attribute("data-link", "session ended: log in again", timeout=WAIT)
    assert page.errors == []
