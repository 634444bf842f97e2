"""The web page: a softphone and a live board in plain HTML/CSS/JS, served at ``/``.

``answer`` serves ``GET /`` (the page) and ``GET /web/{name}`` from a fixed set of files of this
folder (no other path reaches the disk), without credentials: the page asks for them itself and
then works with the session cookie, like any GWS client. Two files are made from the package
rather than written by hand, so that the page never repeats what the table says:
``diagram.json`` (the call diagram of ``callstate.diagrams``, laid out in ranks here) and
``parameters.json`` (which parameters each operation takes, ``callstate.params``). Anything else
under ``/web/`` is a JSON 404; another method than GET or HEAD a JSON 405.
"""

from __future__ import annotations

import functools
from collections import deque
from pathlib import Path
from typing import Any, Final

from ..api import Reply
from ..diagrams import call_graph
from ..params import PARAMETERS
from ..wire import dumps

__all__ = ["FILES", "answer", "diagram", "serves"]

_HERE: Final = Path(__file__).parent
_JS: Final = "text/javascript; charset=utf-8"
#: the files served under ``/web/`` and their types: nothing else is read from the folder
FILES: Final = {
    "index.html": "text/html; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "app.js": _JS,
    "api.js": _JS,
    "bayeux.js": _JS,
    "board.js": _JS,
    "diagram.js": _JS,
    "dom.js": _JS,
    "softphone.js": _JS,
    "diagram.json": "application/json",
    "parameters.json": "application/json",
}
_PREFIX: Final = "/web/"
#: the page's own files change only with the package: a browser may keep them, but asks again
_HEADERS: Final = (("cache-control", "no-cache"), ("x-content-type-options", "nosniff"))
#: the diagram's layout: pixels between ranks (rows), between states of a rank, a state's box
_RANK, _SPACE, _BOX = 110, 170, (120, 40)
#: room above the first rank and below the last (a loop drawn above a state)
_MARGIN: Final = 30


def serves(path: str) -> bool:
    """Whether ``path`` is the page's (``/`` and everything under ``/web``)."""
    return path in ("/", "/web") or path.startswith(_PREFIX)


def answer(method: str, path: str) -> Reply:
    """The answer to a request for a path ``serves``."""
    name = "index.html" if path == "/" else path[len(_PREFIX) :]
    if name not in FILES:
        return _error(404, 6, f"no such file {path[:100]!r} (the page's files: {', '.join(FILES)})")
    if method not in ("GET", "HEAD"):
        reply = _error(405, 3, f"{method} is not allowed on {path} (allowed: GET, HEAD)")
        return Reply(reply.status, reply.body, (("allow", "GET, HEAD"),))
    return Reply(200, _content(name), (("content-type", FILES[name]), *_HEADERS))


@functools.cache
def _content(name: str) -> bytes:
    if name == "diagram.json":
        return dumps(diagram())
    if name == "parameters.json":
        return dumps({op: {"required": r, "optional": o} for op, (r, o) in PARAMETERS.items()})
    return (_HERE / name).read_bytes()


def diagram() -> dict[str, Any]:
    """The call diagram (``callstate.diagrams.call_graph``) with a place for each state: ranks
    by distance from the start, states of a rank side by side in the table's order. ``start``
    and ``end`` stand for ``[*]``; an edge's ``labels`` are the table's (operations, and far-end
    events in brackets)."""
    graph = call_graph()
    edges = [
        (_node(src, start=True), _node(dst, start=False), labels)
        for src, dst, labels in graph.edges
    ]
    rank = {"start": 0}
    todo = deque(["start"])
    while todo:  # breadth first: a state's rank is its shortest distance from the start
        here = todo.popleft()
        for src, dst, _ in edges:
            if src == here and dst not in rank and dst != "end":
                rank[dst] = rank[here] + 1
                todo.append(dst)
    rank["end"] = max(rank.values()) + 1
    order = ["start", *graph.states, "end"]
    rows: dict[int, list[str]] = {}
    for node in order:
        rows.setdefault(rank[node], []).append(node)
    widest = max(len(row) for row in rows.values())
    width, height = widest * _SPACE, (len(rows) - 1) * _RANK + 2 * _MARGIN
    nodes = []
    for level, row in sorted(rows.items()):
        left = (width - len(row) * _SPACE) / 2 + _SPACE / 2
        for i, node in enumerate(row):
            label = "" if node in ("start", "end") else graph.states[node][0]
            x, y = left + i * _SPACE, _MARGIN + level * _RANK
            nodes.append({"id": node, "label": label, "x": x, "y": y})
    return {
        "width": width,
        "height": height,
        "box": list(_BOX),
        "nodes": nodes,
        "edges": [{"from": src, "to": dst, "labels": list(labels)} for src, dst, labels in edges],
    }


def _node(name: str, *, start: bool) -> str:
    if name == "[*]":
        return "start" if start else "end"
    return name


def _error(http: int, status_code: int, message: str) -> Reply:
    return Reply(http, dumps({"statusCode": status_code, "statusMessage": message}))
