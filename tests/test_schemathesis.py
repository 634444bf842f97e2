"""schemathesis against a live server, from the OpenAPI document the server itself serves: every
operation, as an agent and as an admin (and as an agent with CSRF protection on), with every
check schemathesis has (server errors, documented statuses, content types, headers and response
schemas, refusal of invalid data, the 405 of an undocumented method, ...) but one:
``positive_data_acceptance`` wants every schema-valid body accepted, while a valid operation the
call's state does not offer now answers 400 statusCode 2 (``gws-server.md`` §1).

The run is deterministic (``--generation-deterministic``: no seed, no example database) and runs
in a temporary folder, so that nothing of it lands in the repository."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import Served, server

from callstate.config import DEMO
from callstate.openapi import encoded

#: examples per operation and phase: the three runs take about 30 s on a small machine
EXAMPLES = 20


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with server(tmp_path_factory.mktemp("served"), dict(DEMO)) as running:
        yield running


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo center with CSRF protection on: every change without its token is refused 403
    (statusCode 3) before its route is looked at, as a CSRF filter in front of GWS's routes
    does, so an undocumented method gets 403 there rather than 405."""
    config = {**DEMO, "http": {"csrfProtection": True}}
    with server(tmp_path_factory.mktemp("guarded"), config) as running:
        yield running


def test_the_served_description_needs_no_user(live: Served) -> None:
    first = httpx.get(f"{live.url}/api/v2/openapi.json")
    again = httpx.get(f"{live.url}/api/v2/openapi.json/", auth=("agent1", "wrong"))
    assert (first.status_code, first.headers["content-type"]) == (200, "application/json")
    assert first.content == again.content == encoded(f"{live.url}/api/v2")
    assert first.json()["servers"] == [{"url": live.url}]
    # another method needs a user, as every route but the public GETs does
    assert httpx.post(f"{live.url}/api/v2/openapi.json").status_code == 401
    refused = httpx.post(f"{live.url}/api/v2/openapi.json", auth=("agent1", "agent1"))
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET")


@pytest.mark.parametrize(
    ("user", "where", "excluded"),
    [
        ("agent1", "live", "positive_data_acceptance"),
        ("admin", "live", "positive_data_acceptance"),
        ("agent1", "guarded", "positive_data_acceptance,unsupported_method"),
    ],
)
def test_schemathesis_finds_nothing(
    user: str, where: str, excluded: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    served: Served = request.getfixturevalue(where)
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{served.url}/api/v2/openapi.json"),
        *("--auth", f"{user}:{user}", "--max-examples", str(EXAMPLES)),
        *("--generation-deterministic", "--workers", "1", "--no-color"),
        *("--checks", "all", "--exclude-checks", excluded),
        *("--request-timeout", "10"),
    ]
    done = subprocess.run(
        command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-6000:]
    # every operation was tried, but the document's own (schemathesis leaves its URL out)
    operations = sum(len(methods) for methods in httpx.get(command[4]).json()["paths"].values())
    assert f"{operations - 1} selected / {operations - 1} total" in report
    assert "Failures:" not in report
