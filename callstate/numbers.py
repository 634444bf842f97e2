"""Phone numbers: what counts as a destination, and the facts the projection prints.

Two kinds of number exist here. A *DN* is digits only (``15001``): a directory number on the
switch or another internal extension. A *public number* starts with ``+country_code`` and must
parse with ``phonenumbers`` and be a possible number for its country. Anything else is refused.
Facts (formats, country, location) are computed once per distinct number and cached.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberFormat, geocoder

__all__ = ["NumberFacts", "facts", "normalize", "parse_number"]

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


@functools.lru_cache(maxsize=65536)
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


@functools.lru_cache(maxsize=65536)
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
