"""Phone numbers: what counts as a destination, and the facts the projection prints.

Two kinds of number exist here. A *DN* is digits only (``15001``): a directory number on the
switch or another internal extension. A *public number* starts with ``+country_code`` and must
parse with ``phonenumbers`` and be a possible number for its country. Anything else is refused.
Facts (formats, country, location) are computed once per distinct number and cached: the
first sight of a new public number costs a few hundred microseconds of ``phonenumbers``
validation and geocoding, every later one a dictionary lookup. The caches are bounded (the
``CACHE_SIZE`` most recently used numbers per cache) and outlive the calls that filled them;
``clear_caches()`` empties them, e.g. after a simulation run that dialled many distinct numbers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

import phonenumbers
from phonenumbers import PhoneNumberFormat, geocoder

__all__ = [
    "CACHE_SIZE",
    "NumberFacts",
    "cached",
    "clear_caches",
    "facts",
    "normalize",
    "parse_number",
]

#: numbers kept by each per-number cache (least recently used dropped first)
CACHE_SIZE: Final = 65536
_R = TypeVar("_R")
_CLEARS: list[Callable[[], None]] = []


def cached(function: Callable[[str], _R]) -> Callable[[str], _R]:
    """Cache ``function`` per number (bounded by ``CACHE_SIZE``); ``clear_caches`` empties it."""
    wrapper = functools.lru_cache(maxsize=CACHE_SIZE)(function)
    _CLEARS.append(wrapper.cache_clear)
    return wrapper


def clear_caches() -> None:
    """Forget every cached number (parsing, facts, and the projection's per-number parts)."""
    for clear in _CLEARS:
        clear()


_DN = re.compile(r"[0-9]+")
_PUNCTUATION = re.compile(r"[\s().\-/]")


@dataclass(frozen=True, slots=True)
class NumberFacts:
    """Everything GWS prints about one number."""

    phone_number: str
    digits: str
    e164: str
    formatted: str
    local: str
    location: str | None
    country_name: str
    country_code: str
    calling_code: str
    is_valid: bool
    is_public: bool


def normalize(number: str) -> str:
    """``digits``: the number without spaces and punctuation (a leading ``+`` kept)."""
    return _PUNCTUATION.sub("", number)


def parse_number(number: object) -> str | None:
    """Return the normalized number if ``number`` is a DN or a possible public number, else None."""
    return _parse(number) if isinstance(number, str) else None


@cached
def _parse(number: str) -> str | None:
    if _DN.fullmatch(number):
        return number
    digits = normalize(number)
    if not digits.startswith("+") or not _DN.fullmatch(digits[1:]):
        return None
    try:
        parsed = phonenumbers.parse(digits)
    except phonenumbers.NumberParseException:
        return None
    return digits if phonenumbers.is_possible_number(parsed) else None


@cached
def facts(number: str) -> NumberFacts:
    """Facts for a number already accepted by ``parse_number`` (cached per distinct number)."""
    digits = normalize(number)
    if not digits.startswith("+"):
        return NumberFacts(number, digits, "", number, number, None, "", "", "", False, False)
    parsed = phonenumbers.parse(digits)
    region = phonenumbers.region_code_for_number(parsed) or ""
    return NumberFacts(
        phone_number=number,
        digits=digits,
        e164=phonenumbers.format_number(parsed, PhoneNumberFormat.E164),
        formatted=phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL),
        local=phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL),
        location=geocoder.description_for_number(parsed, "en") or None,
        country_name=geocoder.country_name_for_number(parsed, "en"),
        country_code=region,
        calling_code=str(parsed.country_code),
        is_valid=phonenumbers.is_valid_number(parsed),
        is_public=True,
    )
