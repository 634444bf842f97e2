"""Fixtures shared by test modules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
NPM_TIMEOUT = 300.0


@pytest.fixture(scope="session")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``node_modules`` with the packages of ``tests/node/package.json``."""
    given = os.environ.get("CALLSTATE_NODE_MODULES")
    if given:
        folder = Path(given)
        for package in json.loads((NODE_DIR / "package.json").read_text())["dependencies"]:
            if not (folder / "node_modules" / package / "package.json").is_file():
                pytest.fail(
                    f"CALLSTATE_NODE_MODULES={given}: {package} is not installed in "
                    f"{folder / 'node_modules'} (npm install there with tests/node/package.json)"
                )
        return folder
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("node is on PATH but npm is not: install npm or set CALLSTATE_NODE_MODULES")
    folder = tmp_path_factory.mktemp("node")
    shutil.copy(NODE_DIR / "package.json", folder / "package.json")
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm install in {folder} ran over {NPM_TIMEOUT:.0f} s: is npm's registry up?")
    if done.returncode != 0:
        pytest.fail(
            f"npm install in {folder} failed (exit {done.returncode}); the npm registry must be "
            f"reachable, or set CALLSTATE_NODE_MODULES to a folder with the packages installed:\n"
            f"{_tail(done.stdout + done.stderr)}"
        )
    return folder


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
