"""The scenario reader's plain check agrees with the pydantic schema, which stays the judge.

Random scenarios, well-formed or slightly off: whatever the plain check accepts, the schema
accepts and reads the same; whatever it is not sure of, ``read`` hands to the schema, so the
result or the refusal (and its message) are the schema's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from callstate import Scenario
from callstate.scenario import Script, _script_of, read
from callstate.scenario_steps import plain as _plain

texts = st.sampled_from(["15000", "15001", "admin", "", "1 5", "abc", "/me/calls", "x\u00e9"])
anything = st.one_of(
    texts, st.integers(-2, 2), st.floats(allow_nan=False), st.none(), st.booleans()
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``value``, one time in twenty any JSON scalar instead."""
    return st.integers(0, 19).flatmap(lambda i: anything if i == 0 else value)


devices = st.fixed_dictionaries(
    {"dn": maybe(st.sampled_from(["15000", "15001", "3001"]))},
    optional={"features": maybe(st.lists(maybe(st.sampled_from(["mute", "recording"]))))},
)
agent = st.fixed_dictionaries(
    {"device": maybe(st.just("15000")), "operation": maybe(st.sampled_from(["Dial", "Hold"]))},
    optional={
        "params": maybe(st.dictionaries(texts, anything, max_size=2)),
        "call": maybe(st.sampled_from(["c1", None])),
        "as": maybe(st.sampled_from(["c1", None])),
    },
)
external = st.fixed_dictionaries(
    {
        "external": maybe(st.just("+14155550100")),
        "event": maybe(st.sampled_from(["Call", "Answer", "Hangup", "Busy", "Ring"])),
    },
    optional={
        "to": maybe(st.sampled_from(["15000", None])),
        "params": maybe(
            st.fixed_dictionaries(
                {}, optional={"userData": maybe(st.none() | st.dictionaries(texts, texts))}
            )
        ),
        "as": maybe(st.just("c2")),
    },
)
get = st.fixed_dictionaries(
    {
        "get": maybe(
            st.sampled_from(
                [
                    *("/me/calls", "/me/calls/", "/me/calls/c1", "/me/call", "/me/devices"),
                    *("/devices", "/devices/", "/devices?fields=*", "/devices?fields=id"),
                    *("/devices/15000", "/devices/15000/calls", "/devices//"),
                ]
            )
        ),
        "user": maybe(st.sampled_from(["admin", "15000", "Admin", "15 000"])),
    }
)
wait = st.fixed_dictionaries({"wait": maybe(st.one_of(st.integers(-1, 5), st.floats(-1, 5)))})
#: one step in ten has a key of no step (or a field's name instead of its alias)
extra = st.integers(0, 9).flatmap(
    lambda i: (
        st.dictionaries(st.sampled_from(["label", "user_data", "bogus"]), anything, min_size=1)
        if i == 0
        else st.just({})
    )
)
steps = st.tuples(st.one_of(agent, external, get, wait), extra).map(lambda t: {**t[0], **t[1]})
scenarios = st.fixed_dictionaries(
    {"devices": maybe(st.lists(devices, max_size=3)), "steps": maybe(st.lists(steps, max_size=4))}
)


def outcome(reading: Callable[[], Script]) -> Script | str:
    """The script read, or the refusal's full message."""
    try:
        return reading()
    except ValidationError as error:
        return f"refused: {error}"


@settings(max_examples=400, deadline=None)
@given(scenarios)
def test_what_the_plain_check_accepts_the_schema_reads_the_same(data: dict[str, Any]) -> None:
    plain = _plain(data)
    if plain is not None:
        assert _script_of(Scenario.model_validate(data)) == plain


@settings(max_examples=300, deadline=None)
@given(scenarios)
def test_read_answers_as_the_schema(data: dict[str, Any]) -> None:
    text = json.dumps(data)
    assert outcome(lambda: read(text.encode())) == outcome(
        lambda: _script_of(Scenario.model_validate_json(text))
    )


def test_the_examples_need_no_schema() -> None:
    from pathlib import Path

    for path in sorted(Path(__file__).resolve().parents[1].glob("examples/*.json")):
        if path.name == "center.json":  # a server config (docs/server.md), not a scenario
            continue
        assert _plain(json.loads(path.read_bytes())) is not None, path


@pytest.mark.parametrize(
    "text",
    [
        '{"devices": [], "steps": [{"wait": NaN}]}',
        '{"devices": [], "steps": [], "steps": []}',
        '\ufeff{"devices": [], "steps": []}',
        '{"devices": [{"dn": "\\u0031"}], "steps": []}',
        '{"devices": [{"dn": "15000", "dn": "x"}], "steps": []}',
    ],
)
def test_what_json_alone_cannot_vouch_for_goes_to_the_schema(text: str) -> None:
    assert outcome(lambda: read(text.encode())) == outcome(
        lambda: _script_of(Scenario.model_validate_json(text.encode()))
    )
