"""Phone numbers normalised to E.164 with ``phonenumbers``, so one number matches however typed.

"03-1234-5678", "+81 3 1234 5678" and "0081312345678" are one number for a Japanese desk;
national numbers are read in the organisation's ``phone_region``.
"""

from __future__ import annotations

import phonenumbers
from sqlalchemy import select
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
