"""Phone numbers: what is accepted, the facts printed, and the per-number caches."""

from __future__ import annotations

from typing import Any

import pytest

from callstate import Projection, Switch, User, numbers


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("15001", "15001"),
        ("+1 415-555-0100", "+14155550100"),
        ("+44 (20) 7123 4567", "+442071234567"),
        ("4155550100x", None),
        ("+1", None),
        ("", None),
        (15001, None),
    ],
)
def test_what_counts_as_a_number(text: object, parsed: str | None) -> None:
    assert numbers.parse_number(text) == parsed


def test_facts_of_a_public_number_and_of_a_dn() -> None:
    public = numbers.facts("+14155550100")
    assert (public.e164, public.country_code, public.calling_code) == ("+14155550100", "US", "1")
    assert public.is_public
    dn = numbers.facts("15001")
    assert (dn.e164, dn.location, dn.is_public, dn.is_valid) == ("", None, False, False)


def test_clear_caches_forgets_every_number_and_changes_no_answer() -> None:
    switch = Switch(seed=3)
    projection = Projection(form="8.5.0")
    switch.subscribe(projection)
    call = switch.add_device("15000").dial("+442071234567")
    admin = User.admin()
    before = [projection.get_call(admin, call.id, form) for form in ("8.5.0", "8.5.2")]
    assert all(size > 0 for size in cache_sizes()), cache_sizes()

    numbers.clear_caches()

    assert cache_sizes() == [0, 0, 0, 0, 0]
    after = [projection.get_call(admin, call.id, form) for form in ("8.5.0", "8.5.2")]
    assert after == before  # recomputed, identical


def cache_sizes() -> list[int]:
    """How many numbers each per-number cache holds (parse, formats, facts, the projection's
    two)."""
    from callstate import projection

    cached: list[Any] = [
        numbers._parse,
        numbers.formats,
        numbers.facts,
        projection._participant,
        projection._participant_info,
    ]
    return [int(f.cache_info().currsize) for f in cached]


def test_formats_agree_with_facts() -> None:
    for number in ("+1 415-555-0100", "+442071234567", "15001"):
        f, full = numbers.formats(number), numbers.facts(number)
        assert (f.phone_number, f.digits, f.e164, f.formatted) == (
            full.phone_number,
            full.digits,
            full.e164,
            full.formatted,
        )


def test_warm_loads_the_geocoder_ahead() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from callstate.numbers import warm\n"
        "assert 'phonenumbers.geocoder' not in sys.modules\n"
        "warm()\n"
        "assert 'phonenumbers.geocoder' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
