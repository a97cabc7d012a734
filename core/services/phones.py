"""Phone numbers normalised to E.164 with ``phonenumbers``, so one number matches however typed.

"03-1234-5678", "+81 3 1234 5678" and "0081312345678" are one number for a Japanese desk;
national numbers are read in the organisation's ``phone_region``.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from core.models import Organisation

DEFAULT_REGION = "JP"


def organisation_region(session: Session) -> str:
    """The region national numbers are read in (the organisation's setting)."""
    return session.scalar(select(Organisation.phone_region).limit(1)) or DEFAULT_REGION


def to_e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """``raw`` as E.164 ("+81312345678"), or None when it is empty or not a possible number."""
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: A search term is taken for (part of) a phone number when it holds only these and enough
#: digits; fewer digits would match too many numbers to be useful.
_PHONE_CHARACTERS = frozenset("0123456789+-() .")
_PHONE_SEARCH_DIGITS = 6


def phone_matches(term: str, region: str, *e164_columns: Any) -> ColumnElement[bool] | None:
    """A condition on E.164 columns matching a phone typed in any form, or None if ``term``
    does not look like a phone number.

    "+81312345678", "03-1234-5678", "０３－１２３４－５６７８" and "(03) 1234 5678" find the
    same number; a part of one ("1234-5678") finds the numbers it is a part of.
    """
    plain = unicodedata.normalize("NFKC", term or "").strip()
    digits = "".join(c for c in plain if c.isdigit())
    if not plain or set(plain) - _PHONE_CHARACTERS or len(digits) < _PHONE_SEARCH_DIGITS:
        return None
    conditions: list[ColumnElement[bool]] = []
    number = to_e164(plain, region)
    if number is not None:
        conditions.extend(column == number for column in e164_columns)
    # Digits typed nationally start with the trunk prefix 0, which E.164 drops.
    part = digits if plain.startswith("+") else digits.lstrip("0")
    conditions.extend(column.contains(part, autoescape=True) for column in e164_columns)
    return or_(*conditions)
