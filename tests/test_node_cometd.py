"""The served CometD endpoint with the official CometD JavaScript client, under node.

``tests/node/cometd_flow.mjs`` drives ``python -m callstate serve`` with npm ``cometd`` (adapted to
node by ``cometd-nodejs-client``): 50 call cycles between two agents, every notification exactly
once and in order, each agent seeing only its own legs, a third agent seeing nothing, a client id
refused with another user's credentials, clean disconnects. The npm packages come from the folder
named by ``CALLSTATE_NODE_MODULES`` (a folder holding ``node_modules``, as ``.ci/run`` prepares it)
or, without it, from ``npm install`` run here. Skipped only when ``node`` is not on PATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from serving import CONFIG, server

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = "cometd_flow.mjs"
CYCLES = 50
HEALTH_WAIT = 20.0
NODE_TIMEOUT = 120.0
STOP_WAIT = 10.0

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None,
    reason="node is not on PATH: the CometD JavaScript client test needs Node.js",
)


def test_official_cometd_client(node_modules: Path, tmp_path: Path) -> None:
    # ESM resolves bare imports from the importing file's folder (NODE_PATH is ignored), so the
    # script runs from a folder that holds it and a link to the installed node_modules.
    run = tmp_path / "flow"
    run.mkdir()
    shutil.copy(NODE_DIR / SCRIPT, run / SCRIPT)
    (run / "node_modules").symlink_to(node_modules.resolve() / "node_modules")
    with server(tmp_path, CONFIG) as served:
        try:
            flow = subprocess.run(
                ["node", SCRIPT, served.url, str(CYCLES)],
                cwd=run,
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as timeout:
            pytest.fail(
                f"{SCRIPT} ran over {NODE_TIMEOUT:.0f} s:\n{_text(timeout.stdout)}"
                f"{_text(timeout.stderr)}"
            )
        stopped = served.stop()
    server_err = served.stderr()

    assert flow.returncode == 0, (
        f"{SCRIPT} failed (exit {flow.returncode}):\n{flow.stdout}{flow.stderr}"
        f"server stderr:\n{_tail(server_err)}"
    )
    summary = json.loads(flow.stdout.strip().splitlines()[-1])
    print(json.dumps(summary))
    assert summary["ok"] is True
    assert summary["messages"] == {"agent1": 3 * CYCLES, "agent2": 3 * CYCLES, "agent3": 0}
    assert summary["hijack"].startswith("402::")
    assert stopped == 0, (
        f"on SIGTERM the server exited {stopped} (None: still running, killed), not 0 "
        f"(gws-server.md §5)"
    )
    assert "Traceback" not in server_err, server_err


def _text(output: str | bytes | None) -> str:
    if output is None:
        return ""
    return output.decode(errors="replace") if isinstance(output, bytes) else output


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
