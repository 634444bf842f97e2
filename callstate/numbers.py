"""Phone numbers: what counts as a destination, and the facts the projection prints.

Two kinds of number exist here. A *DN* is digits only (``15001``): a directory number on the
switch or another internal extension. A *public number* starts with ``+country_code`` and must
parse with ``phonenumbers`` and be a possible number for its country. Anything else is refused.
Facts (formats, country, location) are computed once per distinct number and cached: the
first sight of a new public number costs a few hundred microseconds of ``phonenumbers``
validation and geocoding, every later one a dictionary lookup. The caches are bounded (the
``CACHE_SIZE`` most recently used numbers per cache) and outlive the calls that filled them;
``clear_caches()`` empties them, e.g. after a simulation run that dialled many distinct numbers.

``phonenumbers`` is imported on the first public number, and its geocoder (about 0.3 s of
imports: the location data of every country) only by ``facts``, which the 8.5.0
``participantsInfo`` needs; ``formats`` (the 8.5.2 participant) does without it. A process
that only sees DNs, or only prints the 8.5.2 form, never pays for the geocoder.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

__all__ = [
    "CACHE_SIZE",
    "MAX_DN",
    "NumberFacts",
    "NumberFormats",
    "cached",
    "clear_caches",
    "facts",
    "formats",
    "is_dn",
    "normalize",
    "parse_number",
    "warm",
]

#: the longest DN (directory number) a device may have
MAX_DN: Final = 32


def is_dn(value: object) -> bool:
    """Whether ``value`` is a DN: 1 to ``MAX_DN`` ASCII digits."""
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= MAX_DN


#: numbers kept by each per-number cache (least recently used dropped first)
CACHE_SIZE: Final = 65536
_R = TypeVar("_R")
_CLEARS: list[Callable[[], None]] = []


def cached(function: Callable[[str], _R]) -> Callable[[str], _R]:
    """Cache ``function`` per number (bounded by ``CACHE_SIZE``); ``clear_caches`` empties it."""
    wrapper = functools.lru_cache(maxsize=CACHE_SIZE)(function)
    _CLEARS.append(wrapper.cache_clear)
    return wrapper


def warm() -> None:
    """Load ``phonenumbers`` and its geocoder's location data now (about 0.8 s and 100 MB),
    rather than on the first outside number ``facts`` meets: a server of the 8.5.0 form calls
    it at start, so that no request waits for it mid-traffic."""
    facts("+14155550100")


def clear_caches() -> None:
    """Forget every cached number (parsing, facts, and the projection's per-number parts)."""
    for clear in _CLEARS:
        clear()


_DN = re.compile(r"[0-9]+")
_PUNCTUATION = re.compile(r"[\s().\-/]")


@dataclass(frozen=True, slots=True)
class NumberFormats:
    """How GWS writes one number (the 8.5.2 participant); no geocoding needed."""

    phone_number: str
    digits: str
    e164: str
    formatted: str


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


@cached
def normalize(number: str) -> str:
    """``digits``: the number without spaces and punctuation (a leading ``+`` kept)."""
    return _PUNCTUATION.sub("", number)


def parse_number(number: object) -> str | None:
    """Return the normalized number if ``number`` is a DN or a possible public number, else None."""
    return _parse(number) if isinstance(number, str) else None


@cached
def _parse(number: str) -> str | None:
    if len(number) > 4 * MAX_DN:  # far longer than any number, punctuation and all
        return None
    if _DN.fullmatch(number):
        return number if len(number) <= MAX_DN else None
    digits = normalize(number)
    if not digits.startswith("+") or not _DN.fullmatch(digits[1:]):
        return None
    import phonenumbers

    try:
        parsed = phonenumbers.parse(digits)
    except phonenumbers.NumberParseException:
        return None
    return digits if phonenumbers.is_possible_number(parsed) else None


def _parsed(digits: str) -> PhoneNumber:
    import phonenumbers

    return phonenumbers.parse(digits)


@cached
def formats(number: str) -> NumberFormats:
    """Formats of a number already accepted by ``parse_number`` (cached per distinct number).

    A DN has no E.164 form (``""``) and is its own formatted number; so is anything that is not
    a possible public number (a damaged log can hold one), rather than an error.
    """
    digits = normalize(number)
    if not digits.startswith("+") or parse_number(number) is None:
        return NumberFormats(number, digits, "", number)
    from phonenumbers import PhoneNumberFormat, format_number

    parsed = _parsed(digits)
    return NumberFormats(
        phone_number=number,
        digits=digits,
        e164=format_number(parsed, PhoneNumberFormat.E164),
        formatted=format_number(parsed, PhoneNumberFormat.INTERNATIONAL),
    )


@cached
def facts(number: str) -> NumberFacts:
    """Facts for a number already accepted by ``parse_number`` (cached per distinct number)."""
    f = formats(number)
    if not f.e164:  # a DN, or not a possible public number
        return NumberFacts(number, f.digits, "", number, number, None, "", "", "", False, False)
    import phonenumbers
    from phonenumbers import geocoder

    parsed = _parsed(f.digits)
    return NumberFacts(
        phone_number=number,
        digits=f.digits,
        e164=f.e164,
        formatted=f.formatted,
        local=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
        location=geocoder.description_for_number(parsed, "en") or None,
        country_name=geocoder.country_name_for_number(parsed, "en"),
        country_code=phonenumbers.region_code_for_number(parsed) or "",
        calling_code=str(parsed.country_code),
        is_valid=phonenumbers.is_valid_number(parsed),
        is_public=True,
    )
