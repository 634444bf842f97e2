"""The ``Dockerfile``: what it builds and runs, read from its text (no Docker engine runs on the
machines the tests run on; ``.ci/run`` builds and smoke-runs the image where one does)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from callstate.cli import parser

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"

pytestmark = pytest.mark.skipif(not DOCKERFILE.exists(), reason="the Dockerfile is not here")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined, no comments."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def only(keyword: str) -> str:
    (value,) = [rest for key, rest in instructions() if key == keyword]
    return value


def test_the_base_image_is_python_3_11_slim() -> None:
    assert instructions()[0] == ("FROM", "python:3.11-slim")


def test_the_project_is_installed_with_the_server_extra() -> None:
    runs = [shlex.split(rest) for key, rest in instructions() if key == "RUN"]
    installs = [words for words in runs if words[:2] == ["pip", "install"]]
    assert len(installs) == 1, runs
    words = installs[0]
    assert "--no-cache-dir" in words
    install = words[: words.index("&&")] if "&&" in words else words
    assert ".[server]" in install
    copied = [rest.split() for key, rest in instructions() if key == "COPY"]
    assert [".", "/app"] in copied
    assert only("WORKDIR") == "/app"


def test_the_command_is_a_serve_the_cli_parses_on_the_exposed_port() -> None:
    command = json.loads(only("CMD"))
    assert command[:3] == ["python", "-m", "callstate"]
    args = parser().parse_args(command[3:])
    assert (args.command, args.host) == ("serve", "0.0.0.0")
    assert only("EXPOSE") == str(args.port)


def test_it_runs_as_a_user_that_is_not_root() -> None:
    user = only("USER")
    assert user not in ("root", "0", "")
    runs = " ".join(rest for key, rest in instructions() if key == "RUN")
    assert f"useradd --create-home --uid 10001 {user}" in runs
    keywords = [key for key, _ in instructions()]
    assert keywords.index("USER") < keywords.index("CMD")


def test_the_build_context_leaves_out_the_environment_and_history() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "**/__pycache__"} <= set(ignored)
