"""Diagram freshness: the committed diagrams are what the table gives today."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest
from test_cli import ROOT
from test_cli import cli as callstate

from callstate import diagrams

COMMITTED = ROOT / "diagrams"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("diagrams")
    done = callstate("diagrams", "--out", str(out))
    assert done.returncode == 0, done.stderr
    printed = {Path(line).name for line in done.stdout.splitlines()}
    assert {"call.mmd", "pair.mmd", "call.dot", "pair.dot"} <= printed
    return out


@pytest.mark.parametrize("name", ["call.mmd", "pair.mmd", "call.dot", "pair.dot"])
def test_committed_diagram_is_current(generated: Path, name: str) -> None:
    fresh = (generated / name).read_text(encoding="utf-8")
    assert fresh.startswith("stateDiagram-v2\n" if name.endswith(".mmd") else "digraph ")
    assert (COMMITTED / name).read_text(encoding="utf-8") == fresh, (
        f"diagrams/{name} is stale: run `python -m callstate diagrams`"
    )


def test_every_generated_text_file_that_is_committed_is_current(generated: Path) -> None:
    compared = 0
    for fresh in sorted(generated.iterdir()):
        committed = COMMITTED / fresh.name
        if fresh.suffix in {".mmd", ".md", ".dot"} and committed.exists():
            assert committed.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
                fresh.name
            )
            compared += 1
    assert compared >= 6


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
    for name in ("call.mmd", "pair.mmd", "call.dot", "pair.dot"):
        assert (tmp_path / name).read_bytes() == (generated / name).read_bytes()


def test_the_readme_shows_the_generated_call_diagram() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == (COMMITTED / "call.mmd").read_text(encoding="utf-8"), (
        "README.md: paste diagrams/call.mmd into the mermaid block"
    )


def test_the_diagrams_say_how_to_read_them_and_when_svgs_are_missing(tmp_path: Path) -> None:
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


def _svg_size(path: Path) -> tuple[float, float]:
    root = ElementTree.parse(path).getroot()
    return float(root.attrib["width"].removesuffix("pt")), float(
        root.attrib["height"].removesuffix("pt")
    )


@pytest.mark.parametrize("stem", ["call", "pair"])
def test_the_svgs_are_readable_pictures(stem: str, generated: Path) -> None:
    """Top to bottom (the pair: its two groups side by side), one label per line: neither a
    strip nor a poster. The committed SVG is what this Graphviz draws when it is the one that
    drew it."""
    if shutil.which("dot") is None:
        pytest.skip("Graphviz (dot) is not installed")
    width, height = _svg_size(generated / f"{stem}.svg")
    assert width <= 1800
    assert height <= 1200
    assert 0.5 <= width / height <= 2.0, (width, height)
    fresh = (generated / f"{stem}.svg").read_text(encoding="utf-8")
    committed = (COMMITTED / f"{stem}.svg").read_text(encoding="utf-8")
    version = re.search(r"Generated by graphviz version [^\n]*", fresh)
    assert version is not None
    if version.group(0) in committed:
        assert committed == fresh, (
            f"diagrams/{stem}.svg is stale: run `python -m callstate diagrams`"
        )


def test_the_wrapped_labels_put_guards_under_their_operation() -> None:
    source = (COMMITTED / "call.dot").read_text(encoding="utf-8")
    assert "rankdir=TB;" in source
    assert "InitiateTransfer\\l    [answered & not_consult]\\l" in source
    longest = max(
        len(line) for label in re.findall(r'label="([^"]*)"', source) for line in label.split("\\l")
    )
    assert longest <= 32


def test_the_pair_diagram_shows_both_legs_their_roles_and_every_way_out() -> None:
    graph = diagrams.pair_graph()
    pending, paired = graph.groups["pending"], graph.groups["paired"]
    assert "ParentPending / ConsultPending" in pending[0]
    assert "ParentPaired / ConsultPaired" in paired[0]
    assert {graph.states[s][0] for s in pending[1]} == {
        "parent Held · consult Dialing",
        "parent Established · consult Held",
        "parent Held · consult Held",
    }
    assert {graph.states[s][0] for s in paired[1]} == {
        "parent Held · consult Established",
        "parent Established · consult Held",
        "parent Held · consult Held",
    }
    edges = {(src, dst): found for src, dst, found in graph.edges}
    start = edges[("[*]", "Held_Dialing_pending")]
    assert start == ("parent: InitiateConference", "parent: InitiateTransfer")
    assert edges[("paired", "transferred")] == ("either: CompleteTransfer",)
    assert edges[("paired", "conference")] == ("either: CompleteConference",)
    assert edges[("pending", "transferred")] == ("parent: CompleteTransfer",)
    assert "(target is busy)" in edges[("pending", "consult_over")]
    for group in ("pending", "paired"):
        assert edges[(group, "parent_over")] == ("(caller hangs up)", "parent: Hangup")
    for state in pending[1]:  # answering moves every pending pair to its paired twin
        answered = [
            dst
            for (src, dst), found in edges.items()
            if src == state and "(target answers)" in found
        ]
        assert len(answered) == 1
        assert answered[0] in paired[1]


def test_the_pair_diagram_agrees_with_the_call_diagram() -> None:
    """Explored on a switch, the pair diagram's moves are the table's: a leg's operation takes
    it from a state to the one the call diagram says that operation leads to."""
    graph = diagrams.pair_graph()
    table = {
        (src, dst, label.split(" [")[0])
        for src, dst, found in diagrams.call_graph().edges
        for label in found
    }
    outcome = {  # how each ended pair leaves its legs: (parent, consult); None: as it was
        "transferred": ("Released", "Released"),
        "conference": ("Established", "Released"),
        "consult_over": (None, "Released"),
        "parent_over": ("Released", None),
    }

    def legs(state: str) -> tuple[str, str]:
        parent, consult = graph.states[state][0].removeprefix("parent ").split(" · consult ")
        return parent, consult

    checked = 0
    for src, dst, found in graph.edges:
        if src == "[*]":
            continue
        for member in graph.groups[src][1] if src in graph.groups else (src,):
            before = legs(member)
            after = outcome.get(dst) or legs(dst)
            after = tuple(a or b for a, b in zip(after, before, strict=True))
            for label in found:
                if label.startswith("("):
                    continue
                who, op = label.split(": ")
                for index in [0, 1] if who == "either" else [("parent", "consult").index(who)]:
                    if before[index] != after[index]:
                        assert (before[index], after[index], op) in table, (member, dst, label)
                        checked += 1
    assert checked >= 40, checked
