"""State diagrams rendered from the transition table (Mermaid always, SVG when Graphviz is there).

The call diagram is read back from a freshly built ``transitions`` machine, so it shows what the
machine will do, not what someone wrote about it. The consult-pair diagram is explored on a real
switch: every pair operation and far-end event is tried from every pair reached, and the diagram
shows where the parent and consult legs went (their states and ``PairRole`` values). Edges are
sorted and merged per (from, to), so the output is byte-for-byte reproducible. Rows that do not
change state (``SendDtmf``, user data, ...) are left out: they are the capabilities table's
business (``diagrams/capabilities.md``). The SVGs put one label per line: the call's top to
bottom, the pair's left to right (its two groups side by side).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict, deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple

from .enums import NetworkEvent, Operation, PairRole, State, SupervisionMode
from .errors import CallStateError
from .table import CAPABILITIES, OFFERED, Context, all_contexts, build_machine

if TYPE_CHECKING:
    from .device import Call
    from .switch import Switch

__all__ = [
    "DIAGRAMS",
    "PAIR_OPERATIONS",
    "Graph",
    "call_graph",
    "capabilities_table",
    "dot",
    "edges",
    "mermaid",
    "pair_graph",
    "supervisor_modes",
    "write",
]

#: how to read an edge label (Mermaid comments: shown in the source, not in the picture)
_LEGEND: Final = (
    "    %% Edge labels: Operation = an agent's request (its operationName);",
    "    %% (Event) = the far end or the switch moved the leg;",
    "    %% [guard & guard] = the leg's context the row needs (table.GUARDS).",
)
_PAIR_LEGEND: Final = (
    "    %% One agent's consult pair, explored on a real switch: a state is the parent leg's and",
    "    %% the consult leg's state, with their PairRoles below, or how the pair ended; an edge",
    "    %% label is the leg and its Operation (parent: Hold; either: both legs offer it), or",
    "    %% (the far end's event): the caller and the consult target are outside numbers.",
    "    %% Mute, recording and user data change no state: left out.",
)


class Graph(NamedTuple):
    """A diagram's content: its states (id -> label lines) and its edges (source id, dest id,
    labels), both sorted. ``"[*]"`` is the start (as a source) or the end (as a dest). A group
    (id -> label, member states) is a composite state: an edge from it applies to every member
    (statechart style), which is how the edges every member shares are drawn once."""

    states: dict[str, tuple[str, ...]]
    edges: list[tuple[str, str, tuple[str, ...]]]
    groups: dict[str, tuple[str, tuple[str, ...]]]


def _grouped(
    merged: dict[tuple[str, str], set[str]], groups: dict[str, tuple[str, tuple[str, ...]]]
) -> dict[tuple[str, str], set[str]]:
    """``merged`` with every label that all members of a group share towards the same state
    outside the group moved onto one edge from the group."""
    out = {edge: set(found) for edge, found in merged.items()}
    for group, (_, members) in groups.items():
        outside = {dst for (src, dst) in merged if src in members and dst not in members}
        for dst in sorted(outside):
            shared = set.intersection(*(out.get((member, dst), set()) for member in members))
            if shared:
                out[(group, dst)] = shared
                for member in members:
                    out[(member, dst)] -= shared
    return {edge: found for edge, found in out.items() if found}


def edges() -> list[tuple[str, str, str]]:
    """Sorted (source, dest, label) state changes of a fresh machine (labels merged with ", ")."""
    machine = build_machine()
    merged: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                if transition.dest is None:
                    continue
                guards = [getattr(c.func, "__name__", str(c.func)) for c in transition.conditions]
                label = name if not guards else f"{name} [{' & '.join(guards)}]"
                if name in NetworkEvent.__members__.values():
                    label = f"({label})"
                merged[(State[source].value, State[transition.dest].value)].add(label)
    return sorted((src, dst, ", ".join(sorted(labels))) for (src, dst), labels in merged.items())


def call_graph() -> Graph:
    """The call diagram: the five states and the table's state changes."""
    found = [(src, dst, tuple(label.split(", "))) for src, dst, label in edges()]
    return Graph(
        {state.value: (state.value,) for state in State},
        [
            ("[*]", State.DIALING.value, ("Dial",)),
            ("[*]", State.RINGING.value, ("(inbound call)",)),
            *found,
            (State.RELEASED.value, "[*]", ()),
        ],
        {},
    )


# -- the consult pair, explored --------------------------------------------------------------------
#: what an agent does to the legs of a consult pair (the operations that move them)
PAIR_OPERATIONS: Final = (
    Operation.HOLD,
    Operation.RETRIEVE,
    Operation.SWAP_CALLS,
    Operation.COMPLETE_TRANSFER,
    Operation.COMPLETE_CONFERENCE,
    Operation.HANGUP,
)
#: the far end's moves: (who, what it does)
_FAR_END: Final = (
    ("target", "answers"),
    ("target", "is busy"),
    ("target", "hangs up"),
    ("caller", "hangs up"),
)
_CALLER, _TARGET = "+14155550100", "+442071234567"
_Step = tuple[str, str]
#: (parent state, consult state, still paired, pair roles, whether the parent is a conference)
_PairKey = tuple[State, State, bool, str, bool]


def _pair_switch(start: Operation, steps: Sequence[_Step]) -> tuple[Switch, Call, Call]:
    """A switch where agent 15000 answered the caller and started ``start`` to the target, then
    took ``steps``."""
    from .switch import Switch

    switch = Switch(seed=1)
    agent = switch.add_device("15000")
    parent = switch.external_call(_CALLER, to="15000")
    agent.perform(parent.id, Operation.ANSWER)
    consult = agent.perform(parent.id, start, destination={"phoneNumber": _TARGET})
    assert consult is not None
    for who, what in steps:
        _step(switch, parent if who in ("parent", "caller") else consult, who, what)
    return switch, parent, consult


def _step(switch: Switch, leg: Call, who: str, what: str) -> None:
    if who in ("parent", "consult"):
        leg.perform(Operation(what))
    elif what == "answers":
        switch.external_answer(leg)
    elif what == "is busy":
        switch.external_busy(leg)
    else:
        switch.external_hangup(leg)


def _pair_key(parent: Call, consult: Call) -> _PairKey:
    live = State.RELEASED not in (parent.state, consult.state)
    roles = (parent.context.pair, consult.context.pair)
    paired = live and PairRole.NONE not in roles
    conference = parent.state is not State.RELEASED and len(parent.participants) > 1
    return (parent.state, consult.state, paired, " / ".join(roles) if paired else "", conference)


#: where a pair can end: id -> label lines
_OUTCOMES: Final = {
    "transferred": ("transferred", "both legs Released"),
    "conference": ("conference", "parent Established with both far ends, consult Released"),
    "consult_over": ("consult Released", "the parent stays as it was"),
    "parent_over": ("parent Released", "the consult stays, alone"),
}


def _pair_state(key: _PairKey) -> tuple[str, tuple[str, ...]]:
    """A pair state's id and label lines: a live pair by its legs' states and roles, an ended
    one by how it ended (``_OUTCOMES``)."""
    parent, consult, paired, roles, conference = key
    if paired:
        ident = f"{parent}_{consult}_{'paired' if 'Paired' in roles else 'pending'}"
        return ident, (f"parent {parent} · consult {consult}",)
    if parent is State.RELEASED:
        ident = "transferred" if consult is State.RELEASED else "parent_over"
    else:
        ident = "conference" if conference else "consult_over"
    return ident, _OUTCOMES[ident]


def _either(labels: set[str]) -> tuple[str, ...]:
    """Sorted labels, an operation both legs offer written once as ``either: Op``."""
    ops = {label.split(": ", 1)[1] for label in labels if ": " in label}
    both = {op for op in ops if {f"parent: {op}", f"consult: {op}"} <= labels}
    kept = {label for label in labels if ": " not in label or label.split(": ", 1)[1] not in both}
    return tuple(sorted(kept | {f"either: {op}" for op in both}))


def _pair_moves(parent: Call, consult: Call) -> list[_Step]:
    """The steps worth trying now: the pair operations each leg offers, and the far end's."""
    moves = [
        (who, op.value)
        for who, leg in (("parent", parent), ("consult", consult))
        for op in PAIR_OPERATIONS
        if op in leg.offered
    ]
    return moves + list(_FAR_END)


def pair_graph() -> Graph:
    """The consult-pair diagram, explored breadth first on real switches: from the pair that
    InitiateTransfer or InitiateConference makes (the table treats both alike), every pair
    operation either leg offers and every far-end event is tried; a refused far-end event draws
    no edge. A state where either leg has left the pair ends the walk."""
    labels: dict[str, tuple[str, ...]] = {}
    merged: dict[tuple[str, str], set[str]] = defaultdict(set)
    ended: set[str] = set()

    def name(parent: Call, consult: Call) -> str:
        key = _pair_key(parent, consult)
        ident, labels[ident] = _pair_state(key)
        if not key[2]:
            ended.add(ident)
        return ident

    for start in (Operation.INITIATE_TRANSFER, Operation.INITIATE_CONFERENCE):
        _, parent, consult = _pair_switch(start, ())
        first = name(parent, consult)
        merged[("[*]", first)].add(f"parent: {start}")
        queue: deque[tuple[_Step, ...]] = deque([()])
        seen = {first}
        while queue:
            path = queue.popleft()
            switch, parent, consult = _pair_switch(start, path)
            here = name(parent, consult)
            if here in ended:
                continue
            for who, what in _pair_moves(parent, consult):
                switch, parent, consult = _pair_switch(start, path)
                try:
                    _step(switch, parent if who in ("parent", "caller") else consult, who, what)
                except CallStateError:
                    if who in ("parent", "consult"):
                        raise  # offered, so it must succeed
                    continue
                there = name(parent, consult)
                if there == here:
                    continue
                merged[(here, there)].add(
                    f"{who}: {what}" if who in ("parent", "consult") else f"({who} {what})"
                )
                if there not in seen:
                    seen.add(there)
                    queue.append((*path, (who, what)))
    live = sorted(set(labels) - ended)
    groups = {
        "pending": (
            f"consult not answered: {PairRole.PARENT_PENDING} / {PairRole.CONSULT_PENDING}",
            tuple(state for state in live if state.endswith("_pending")),
        ),
        "paired": (
            f"consult answered: {PairRole.PARENT_PAIRED} / {PairRole.CONSULT_PAIRED}",
            tuple(state for state in live if state.endswith("_paired")),
        ),
    }
    return Graph(
        {state: labels[state] for state in [*live, *(o for o in _OUTCOMES if o in ended)]},
        sorted(
            ((src, dst, _either(found)) for (src, dst), found in _grouped(merged, groups).items()),
            key=lambda edge: (edge[0] != "[*]", edge),
        ),
        groups,
    )


# -- rendering -------------------------------------------------------------------------------------
def _mermaid(graph: Graph, legend: Sequence[str]) -> str:
    lines = ["stateDiagram-v2", *legend]
    grouped = {member for _, members in graph.groups.values() for member in members}

    def declare(state: str, indent: str) -> None:
        label = graph.states[state]
        if label != (state,):
            lines.append(f'{indent}state "{label[0]}" as {state}')
            lines.extend(f"{indent}{state} : {more}" for more in label[1:])

    for group, (title, members) in graph.groups.items():
        lines.append(f'    state "{title}" as {group} {{')
        for member in members:
            declare(member, "        ")
        lines.append("    }")
    for state in graph.states:
        if state not in grouped:
            declare(state, "    ")
    for src, dst, found in graph.edges:
        lines.append(
            f"    {src} --> {dst} : {', '.join(found)}" if found else f"    {src} --> {dst}"
        )
    return "\n".join(lines) + "\n"


def mermaid(*, pair: bool = False) -> str:
    """A Mermaid ``stateDiagram-v2``: the call diagram, or (``pair``) the consult pair's."""
    if pair:
        return _mermaid(pair_graph(), _PAIR_LEGEND)
    return _mermaid(call_graph(), _LEGEND)


def _wrapped(label: str) -> str:
    """One edge label on its own line(s): the guards under the operation, indented."""
    if " [" not in label:
        return label + "\\l"
    head, guards = label.split(" [", 1)
    return f"{head}\\l    [{guards}\\l"


def dot(*, pair: bool = False) -> str:
    """The same diagram in Graphviz DOT, one edge label per line (guards on a line of their own);
    the call top to bottom, the pair (its groups as clusters) left to right."""
    graph = pair_graph() if pair else call_graph()
    lines = [
        f"digraph {'pair' if pair else 'call'} {{",
        f"    rankdir={'LR' if graph.groups else 'TB'};",
        "    compound=true;",
        '    fontname="Helvetica";',
        "    nodesep=0.6;",
        "    ranksep=0.5;",
        '    node [shape=box, style=rounded, fontname="Helvetica", fontsize=12];',
        '    edge [fontname="Helvetica", fontsize=10];',
        '    start [shape=circle, style=filled, fillcolor=black, label="", width=0.18];',
    ]
    if any(dst == "[*]" for _, dst, _ in graph.edges):
        lines.append(
            '    end [shape=doublecircle, style=filled, fillcolor=black, label="", width=0.12];'
        )
    newline = "\\n"
    grouped = {member for _, members in graph.groups.values() for member in members}
    for group, (title, members) in graph.groups.items():
        lines.append(f'    subgraph "cluster_{group}" {{')
        lines.append(f'        label="{title}"; style=rounded; color=gray50; fontsize=11;')
        lines.extend(f'        "{m}" [label="{newline.join(graph.states[m])}"];' for m in members)
        lines.append("    }")
    for state, label in graph.states.items():
        if state not in grouped:
            lines.append(f'    "{state}" [label="{newline.join(label)}"];')
    for source, dst, found in graph.edges:
        attributes = [f'label="{"".join(_wrapped(label) for label in found)}"'] if found else []
        src = source
        if source in graph.groups:  # drawn from the group's border (``compound``)
            attributes.append(f'ltail="cluster_{source}"')
            src = graph.groups[source][1][0]
        tail = "start" if src == "[*]" else f'"{src}"'
        head = "end" if dst == "[*]" else f'"{dst}"'
        shown = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"    {tail} -> {head}{shown};")
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
        if offered & toggles:  # one self-loop: renderers draw only one per state
            lines.append(f"    {mode} --> {mode} : {', '.join(sorted(offered & toggles))}")
    return "\n".join(lines) + "\n"


#: file stem -> whether it is the consult pair's diagram (else the call's)
DIAGRAMS: Final = {"call": False, "pair": True}


def graphviz() -> str | None:
    """The ``dot`` program, if Graphviz is installed (SVGs are drawn only then)."""
    return shutil.which("dot")


def write(directory: Path) -> list[Path]:
    """Write the diagrams into ``directory``: ``capabilities.md``, ``supervisor.mmd``, and the
    call and pair diagrams as ``.mmd`` and ``.dot`` (and ``.svg`` if ``dot`` is installed);
    return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    table = directory / "capabilities.md"
    table.write_text(capabilities_table(), encoding="utf-8")
    modes = directory / "supervisor.mmd"
    modes.write_text(supervisor_modes(), encoding="utf-8")
    written = [table, modes]
    dot_program = graphviz()
    for stem, pair in DIAGRAMS.items():
        path = directory / f"{stem}.mmd"
        path.write_text(mermaid(pair=pair), encoding="utf-8")
        source = directory / f"{stem}.dot"
        source.write_text(dot(pair=pair), encoding="utf-8")
        written += [path, source]
        if dot_program:
            svg = directory / f"{stem}.svg"
            subprocess.run([dot_program, "-Tsvg", "-o", str(svg), str(source)], check=True)
            written.append(svg)
    return written
