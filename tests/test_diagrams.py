"""Diagram freshness: the committed diagrams are what the table gives today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "diagrams"


def callstate(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m callstate ARGS`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "callstate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("diagrams")
    done = callstate("diagrams", "--out", str(out))
    assert done.returncode == 0, done.stderr
    printed = {Path(line).name for line in done.stdout.splitlines()}
    assert {"call.mmd", "pair.mmd"} <= printed
    return out


@pytest.mark.parametrize("name", ["call.mmd", "pair.mmd"])
def test_committed_diagram_is_current(generated: Path, name: str) -> None:
    fresh = (generated / name).read_text(encoding="utf-8")
    assert fresh.startswith("stateDiagram-v2\n")
    assert (COMMITTED / name).read_text(encoding="utf-8") == fresh, (
        f"diagrams/{name} is stale: run `python -m callstate diagrams`"
    )


def test_every_generated_text_file_that_is_committed_is_current(generated: Path) -> None:
    compared = 0
    for fresh in sorted(generated.iterdir()):
        committed = COMMITTED / fresh.name
        if fresh.suffix in {".mmd", ".md"} and committed.exists():
            assert committed.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
                fresh.name
            )
            compared += 1
    assert compared >= 2


def test_the_call_diagram_shows_every_state(generated: Path) -> None:
    text = (generated / "call.mmd").read_text(encoding="utf-8")
    for state in ("Dialing", "Ringing", "Established", "Held", "Released"):
        assert f" {state} " in text or f"> {state}" in text, state
    assert [line for line in text.splitlines() if line.strip().startswith("Released --> ")] == [
        "    Released --> [*]"
    ]


def test_generating_twice_gives_the_same_bytes(generated: Path, tmp_path: Path) -> None:
    done = callstate("diagrams", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for name in ("call.mmd", "pair.mmd"):
        assert (tmp_path / name).read_bytes() == (generated / name).read_bytes()


def test_the_readme_shows_the_generated_call_diagram() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == (COMMITTED / "call.mmd").read_text(encoding="utf-8"), (
        "README.md: paste diagrams/call.mmd into the mermaid block"
    )


def test_the_diagrams_say_how_to_read_them_and_when_svgs_are_missing(tmp_path: Path) -> None:
    import shutil

    done = callstate("diagrams", "--out", str(tmp_path))
    assert done.returncode == 0
    legend = (tmp_path / "call.mmd").read_text(encoding="utf-8")
    assert "%% (Event) = the far end or the switch" in legend
    assert "[guard & guard]" in legend
    if shutil.which("dot") is None:
        assert "Graphviz (dot) is not installed" in done.stderr
    else:
        assert (tmp_path / "call.svg").exists()


@pytest.mark.parametrize("example", ["consult_transfer", "conference"])
def test_committed_sequence_diagrams_are_current(example: str, tmp_path: Path) -> None:
    """``diagrams/EXAMPLE.sequence.mmd`` is what ``run examples/EXAMPLE.json --seed 1
    --sequence`` draws now."""
    out = tmp_path / "sequence.mmd"
    done = callstate("run", f"examples/{example}.json", "--seed", "1", "--sequence", str(out))
    assert done.returncode == 0, done.stderr
    drawn = out.read_text(encoding="utf-8")
    assert drawn.startswith("sequenceDiagram\n")
    assert drawn == (COMMITTED / f"{example}.sequence.mmd").read_text(encoding="utf-8"), (
        f"regenerate: python -m callstate run examples/{example}.json --seed 1 "
        f"--sequence diagrams/{example}.sequence.mmd"
    )
