"""``examples/center.json``, the config that docs/server.md shows, is one ``serve`` takes."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
from serving import server

from callstate.config import UserRole, load

CENTER = Path(__file__).resolve().parents[1] / "examples" / "center.json"


def test_the_example_config_loads() -> None:
    config = load(CENTER.read_text(encoding="utf-8"))
    roles = {account.username: account.role for account in config.users}
    assert UserRole.SUPERVISOR in roles.values()
    assert UserRole.ADMIN in roles.values()
    agents = [a for a in config.users if a.role is UserRole.AGENT]
    assert all(a.skills and a.first_name for a in agents)
    assert any(features for _, features in config.devices)
    assert config.cometd.timeout == 25
    assert config.http.csrf_protection is True
    supervisor = next(a for a in config.users if a.role is UserRole.SUPERVISOR)
    assert supervisor.dn is not None
    assert config.device_role(supervisor.dn) == "supervisor"


def test_serve_takes_the_example_config_and_its_users_log_in(tmp_path: Path) -> None:
    with server(tmp_path, CENTER) as served:
        secret = base64.b64encode(b"kristi:Kr1st1-sales").decode()
        me = httpx.get(f"{served.url}/api/v2/me", headers={"Authorization": f"Basic {secret}"})
        wrong = httpx.get(f"{served.url}/api/v2/me", auth=("kristi", "s3cret"))
        boss = httpx.get(f"{served.url}/api/v2/me", auth=("maria", "M4ria-lead"))
        stopped = served.stop()
    assert me.status_code == 200, me.text
    user = me.json()["user"]
    assert (user["userName"], user["firstName"], user["roles"]) == (
        "kristi",
        "Kristi",
        ["ROLE_AGENT"],
    )
    assert wrong.status_code == 401
    assert boss.json()["user"]["roles"] == ["ROLE_SUPERVISOR"]
    assert stopped == 0
    assert "Traceback" not in served.stderr()
