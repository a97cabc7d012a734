"""Phone numbers: one number however it is typed, in the organisation's region."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import Agent, Organisation
from core.services import customers
from core.services.base import Unit
from core.services.phones import to_e164

UnitFor = Callable[[Agent | None], Unit]


@pytest.mark.parametrize(
    "typed",
    [
        "03-1234-5678",
        "(03) 1234 5678",
        "+81 3 1234 5678",
        "+81-3-1234-5678",
        "０３－１２３４－５６７８",
    ],
)
def test_japanese_numbers_typed_any_way_are_one_number(typed: str) -> None:
    assert to_e164(typed, "JP") == "+81312345678"


@pytest.mark.parametrize("typed", ["", "   ", None, "call me", "12"])
def test_empty_or_impossible_numbers_have_no_e164_form(typed: str | None) -> None:
    assert to_e164(typed, "JP") is None


def test_national_numbers_are_read_in_the_organisations_region(
    db: Session, unit_for: UnitFor
) -> None:
    db.execute(update(Organisation).values(phone_region="US"))
    contact = customers.create_contact(unit_for(None), last_name="Smith", phone="(415) 555-0132")
    assert contact.phone_e164 == "+14155550132"
    assert db.scalar(select(Organisation.phone_region)) == "US"


def test_contact_and_account_writes_keep_the_e164_columns_in_step(unit_for: UnitFor) -> None:
    unit = unit_for(None)
    contact = customers.create_contact(unit, last_name="Sato", phone="03-1234-5678")
    assert (contact.phone_e164, contact.mobile_e164) == ("+81312345678", None)
    customers.update_contact(unit, contact, phone="", mobile="090-1234-5678")
    assert (contact.phone_e164, contact.mobile_e164) == (None, "+819012345678")
    account = customers.create_account(unit, name="Acme", phone="06-6123-4567")
    assert account.phone_e164 == "+81661234567"
    customers.update_account(unit, account, phone="+1 415 555 0132")
    assert account.phone_e164 == "+14155550132"
