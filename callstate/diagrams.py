"""State diagrams rendered from the transition table (Mermaid always, SVG when Graphviz is there).

The diagrams are read back from a freshly built ``transitions`` machine, so they show what the
machine will do, not what someone wrote about it. Edges are sorted and merged per (from, to),
so the output is byte-for-byte reproducible. Rows that do not change state (``SendDtmf``, user
data, ...) are left out: they are the capabilities table's business (``diagrams/capabilities.md``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Final

from .enums import NetworkEvent, Operation, State, SupervisionMode
from .table import CAPABILITIES, OFFERED, Context, all_contexts, build_machine

__all__ = ["DIAGRAMS", "capabilities_table", "edges", "mermaid", "supervisor_modes", "write"]

#: how to read an edge label (Mermaid comments: shown in the source, not in the picture)
_LEGEND: Final = (
    "    %% Edge labels: Operation = an agent's request (its operationName);",
    "    %% (Event) = the far end or the switch moved the leg;",
    "    %% [guard & guard] = the leg's context the row needs (table.GUARDS).",
)

#: guards that make a row part of the consult-pair diagram
_PAIR_GUARDS = frozenset(
    {
        "in_pair",
        "answered",
        "unanswered",
        "transfer_ready",
        "parent_paired",
        "consult_paired",
    }
)


def edges(*, pair_only: bool = False) -> list[tuple[str, str, str]]:
    """Sorted (source, dest, label) state changes of a fresh machine."""
    machine = build_machine()
    merged: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                if transition.dest is None:
                    continue
                guards = [getattr(c.func, "__name__", str(c.func)) for c in transition.conditions]
                if pair_only and not _PAIR_GUARDS & set(guards):
                    continue
                label = name if not guards else f"{name} [{' & '.join(guards)}]"
                if name in NetworkEvent.__members__.values():
                    label = f"({label})"
                merged[(State[source].value, State[transition.dest].value)].add(label)
    return sorted((src, dst, ", ".join(sorted(labels))) for (src, dst), labels in merged.items())


def mermaid(*, pair_only: bool = False) -> str:
    """A Mermaid ``stateDiagram-v2`` of the table. Far-end and switch events are in parentheses."""
    lines = ["stateDiagram-v2", *_LEGEND]
    if not pair_only:
        lines += ["    [*] --> Dialing : Dial", "    [*] --> Ringing : (inbound call)"]
    lines += [f"    {src} --> {dst} : {label}" for src, dst, label in edges(pair_only=pair_only)]
    if not pair_only:
        lines.append("    Released --> [*]")
    return "\n".join(lines) + "\n"


def dot(*, pair_only: bool = False) -> str:
    """The same diagram in Graphviz DOT."""
    lines = ["digraph call {", "    rankdir=LR;", "    node [shape=box, style=rounded];"]
    lines += [
        f'    "{src}" -> "{dst}" [label="{label}"];'
        for src, dst, label in edges(pair_only=pair_only)
    ]
    return "\n".join([*lines, "}"]) + "\n"


def capabilities_table() -> str:
    """Markdown: the capabilities of each state for an answered leg with no features, pair or
    conference, then what each context rule adds or removes, all derived from ``CAPABILITIES``."""
    plain = Context(answered=True)
    lines = [
        "# Capabilities (generated from the table)",
        "",
        "| state | capabilities |",
        "|---|---|",
    ]
    for state in State:
        caps = ", ".join(CAPABILITIES[(state, plain)]) or "(none)"
        lines.append(f"| {state} | {caps} |")
    lines += ["", "| context | state | adds | removes |", "|---|---|---|---|"]
    for context in all_contexts():
        changed = [f for f in Context._fields if getattr(context, f) != getattr(plain, f)]
        if len(changed) != 1:
            continue
        label = f"{changed[0]}={getattr(context, changed[0])}"
        for state in State:
            base, now = set(CAPABILITIES[(state, plain)]), set(CAPABILITIES[(state, context)])
            if base != now:
                adds, removes = ", ".join(sorted(now - base)), ", ".join(sorted(base - now))
                lines.append(f"| {label} | {state} | {adds} | {removes} |")
    return "\n".join(lines) + "\n"


def supervisor_modes() -> str:
    """A Mermaid ``stateDiagram-v2`` of a supervisor's leg once joined: its modes, and the
    operations the table offers in each (a mode switch leads to the mode it names; the
    monitored-user mute toggles stay in BargeIn). Derived from ``OFFERED``."""
    switches = {
        Operation.SWITCH_TO_LISTEN_IN: SupervisionMode.LISTEN_IN,
        Operation.SWITCH_TO_BARGE_IN: SupervisionMode.BARGE_IN,
    }
    lines = ["stateDiagram-v2"]
    for mode in SupervisionMode:
        lines.append(f"    [*] --> {mode} : {mode} (device)")
    toggles = {Operation.MUTE_MONITORED_USER, Operation.UNMUTE_MONITORED_USER}
    for mode in SupervisionMode:
        offered: set[str] = set()
        for muted in (False, True):
            context = Context(answered=True, supervising=mode, monitored_muted=muted)
            offered |= OFFERED[(State.ESTABLISHED, context)]
        for op in sorted(offered & set(switches), key=str):
            lines.append(f"    {mode} --> {switches[Operation(op)]} : {op}")
        for op in sorted(offered & toggles, key=str):
            lines.append(f"    {mode} --> {mode} : {op}")
    return "\n".join(lines) + "\n"


#: file stem -> whether it shows only the consult-pair rows
DIAGRAMS = {"call": False, "pair": True}


def graphviz() -> str | None:
    """The ``dot`` program, if Graphviz is installed (SVGs are drawn only then)."""
    return shutil.which("dot")


def write(directory: Path) -> list[Path]:
    """Write every diagram as ``.mmd`` (and ``.svg`` if ``dot`` is installed); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    table = directory / "capabilities.md"
    table.write_text(capabilities_table(), encoding="utf-8")
    modes = directory / "supervisor.mmd"
    modes.write_text(supervisor_modes(), encoding="utf-8")
    written = [table, modes]
    dot_program = graphviz()
    for stem, pair_only in DIAGRAMS.items():
        path = directory / f"{stem}.mmd"
        path.write_text(mermaid(pair_only=pair_only), encoding="utf-8")
        written.append(path)
        if dot_program:
            svg = directory / f"{stem}.svg"
            subprocess.run(
                [dot_program, "-Tsvg", "-o", str(svg)],
                input=dot(pair_only=pair_only).encode(),
                check=True,
            )
            written.append(svg)
    return written
