"""Names in the order Japanese and English readers expect, and found in either order."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.models import Agent, Contact, Department
from core.names import display_name, family_first, is_east_asian, normalise
from core.services import customers, merge, tickets, views
from core.services.base import Unit

UnitFor = Callable[[Agent | None], Unit]


# ------------------------------------------------------------------------------- display order


def test_kanji_name_is_family_first_in_every_language() -> None:
    assert display_name("花子", "山田", "ja") == "山田 花子"
    assert display_name("花子", "山田", "en") == "山田 花子"


def test_katakana_name_is_family_first_too() -> None:
    assert display_name("ハナコ", "ヤマダ", "en") == "ヤマダ ハナコ"


def test_latin_name_follows_the_page_language() -> None:
    assert display_name("Hanako", "Yamada", "en") == "Hanako Yamada"
    assert display_name("Hanako", "Yamada", "ja") == "Yamada Hanako"


def test_override_fixes_the_order_either_way() -> None:
    assert display_name("花子", "山田", "en", "given_first") == "花子 山田"
    assert display_name("Hanako", "Yamada", "en", "family_first") == "Yamada Hanako"
    assert display_name("Hanako", "Yamada", "ja", "given_first") == "Hanako Yamada"


def test_a_single_part_is_shown_alone() -> None:
    assert display_name("", "山田", "ja") == "山田"
    assert display_name("Hanako", "  ", "en") == "Hanako"
    assert display_name(None, None, "en") == ""


def test_language_with_a_region_counts_as_its_language() -> None:
    assert family_first("Hanako", "Yamada", "ja_JP")
    assert not family_first("Hanako", "Yamada", "en-GB")


def test_east_asian_script_is_recognised_and_latin_is_not() -> None:
    assert is_east_asian("山") and is_east_asian("ｶﾀｶﾅ") and is_east_asian("김")
    assert not is_east_asian("Yamada") and not is_east_asian("Müller")


def test_search_terms_are_normalised_from_full_width() -> None:
    assert normalise("　山田　　花子 ") == "山田 花子"
    assert normalise("０３－１２３４") == "03-1234"


def test_contact_name_uses_its_name_order(unit_for: UnitFor) -> None:
    contact = customers.create_contact(
        unit_for(None), last_name="Yamada", first_name="Hanako", name_order="family_first"
    )
    assert contact.name == "Yamada Hanako"
    customers.update_contact(unit_for(None), contact, name_order="auto")
    assert contact.name == "Hanako Yamada"


def test_unknown_name_order_is_refused(unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        customers.create_contact(unit_for(None), last_name="Yamada", name_order="backwards")
    assert set(failure.value.errors) == {"name_order"}


# ----------------------------------------------------------------------------------- search


@pytest.fixture
def yamada(unit_for: UnitFor, db: Session) -> Contact:
    contact = customers.create_contact(
        unit_for(None), last_name="山田", first_name="花子", phone="03-1234-5678"
    )
    customers.create_contact(
        unit_for(None), last_name="佐藤", first_name="太郎", phone="06-6543-2100"
    )
    db.commit()
    return contact


SEARCH_TERMS = [
    "山田 花子",
    "花子 山田",
    "山田花子",
    "花子山田",
    "山田　花子",
    "花子　山田",
    "山田",
    "+81312345678",
    "03-1234-5678",
    "０３－１２３４－５６７８",
    "(03) 1234 5678",
    "1234-5678",
]


@pytest.mark.parametrize("term", SEARCH_TERMS)
def test_contact_list_search_finds_name_in_either_order_and_phone_in_any_form(
    unit_for: UnitFor, yamada: Contact, term: str
) -> None:
    found = customers.list_contacts(unit_for(None), search=term)
    assert [c.id for c in found] == [yamada.id]


@pytest.mark.parametrize("term", SEARCH_TERMS)
def test_contact_view_search_finds_name_in_either_order_and_phone_in_any_form(
    unit_for: UnitFor, yamada: Contact, term: str
) -> None:
    unit = unit_for(None)
    page = views.run_view(unit, views.get_view(unit, "contact", None), search=term)
    assert [c.id for c in page.rows] == [yamada.id]


def test_latin_name_is_found_in_either_order(unit_for: UnitFor) -> None:
    hanako = customers.create_contact(unit_for(None), last_name="Yamada", first_name="Hanako")
    for term in ("hanako yamada", "Yamada Hanako", "YamadaHanako"):
        assert [c.id for c in customers.list_contacts(unit_for(None), search=term)] == [hanako.id]


def test_whole_name_stored_in_the_family_name_is_found_without_its_space(
    unit_for: UnitFor,
) -> None:
    stuffed = customers.create_contact(unit_for(None), last_name="佐藤　花子")
    found = customers.list_contacts(unit_for(None), search="佐藤花子")
    assert [c.id for c in found] == [stuffed.id]


@pytest.mark.parametrize(
    "term", ["花子 山田", "山田花子", "０３－１２３４－５６７８", "+81312345678"]
)
def test_ticket_search_finds_the_contact_by_name_or_phone(
    unit_for: UnitFor, yamada: Contact, make_ticket, department: Department, term: str
) -> None:
    ticket = make_ticket("請求書について", contact=yamada)
    make_ticket("Another")
    found = tickets.list_tickets(unit_for(None), search=term)
    assert [t.id for t in found] == [ticket.id]


# ------------------------------------------------------------------------------------ merge


@pytest.fixture
def stuffed_and_split(unit_for: UnitFor, db: Session) -> tuple[Contact, Contact]:
    """The same person twice: the whole name in the family name (an old web form), and split."""
    stuffed = customers.create_contact(unit_for(None), last_name="佐藤 花子", email="h@example.com")
    split = customers.create_contact(unit_for(None), last_name="佐藤", first_name="花子")
    db.commit()
    return stuffed, split


def test_merge_review_takes_both_name_parts_from_one_record(
    unit_for: UnitFor, stuffed_and_split: tuple[Contact, Contact]
) -> None:
    stuffed, split = stuffed_and_split
    plan = merge.plan_merge(unit_for(None), [stuffed, split])
    defaults = {row.key: row.default_source for row in plan.fields}
    assert defaults["first_name"] == defaults["last_name"] == split.id
    assert defaults["email"] == stuffed.id


def test_merge_by_default_never_repeats_a_name(
    unit_for: UnitFor, stuffed_and_split: tuple[Contact, Contact]
) -> None:
    stuffed, split = stuffed_and_split
    merged = merge.merge_contacts(unit_for(None), stuffed, [split])
    assert (merged.last_name, merged.first_name) == ("佐藤", "花子")
    assert merged.name == "佐藤 花子"
    assert merged.email == "h@example.com"


def test_merge_with_the_review_page_defaults_never_repeats_a_name(
    unit_for: UnitFor, stuffed_and_split: tuple[Contact, Contact]
) -> None:
    stuffed, split = stuffed_and_split
    plan = merge.plan_merge(unit_for(None), [stuffed, split])
    choices = {row.key: row.default_source for row in plan.fields if row.default_source}
    merged = merge.merge_contacts(unit_for(None), stuffed, [split], choices)
    assert merged.name == "佐藤 花子"


def test_merge_takes_the_other_name_part_from_where_one_was_chosen(
    unit_for: UnitFor, stuffed_and_split: tuple[Contact, Contact]
) -> None:
    stuffed, split = stuffed_and_split
    merged = merge.merge_contacts(unit_for(None), split, [stuffed], {"last_name": stuffed.id})
    assert (merged.last_name, merged.first_name) == ("佐藤 花子", "")


def test_merge_keeps_the_name_order_of_the_record_the_name_comes_from(
    unit_for: UnitFor, db: Session
) -> None:
    survivor = customers.create_contact(unit_for(None), last_name="Yamada Hanako")
    other = customers.create_contact(
        unit_for(None), last_name="Yamada", first_name="Hanako", name_order="family_first"
    )
    merged = merge.merge_contacts(unit_for(None), survivor, [other])
    assert merged.name_order == "family_first"
    assert merged.name == "Yamada Hanako"


@pytest.mark.parametrize(
    ("operator", "value"),
    [("is", "花子 山田"), ("is", "山田花子"), ("starts_with", "花子 山"), ("contains", "花子山田")],
)
def test_view_condition_on_the_name_reads_either_order(
    unit_for: UnitFor, yamada: Contact, make_agent, operator: str, value: str
) -> None:
    agent = make_agent("views@example.com")
    unit = unit_for(agent)
    view = views.create_view(
        unit,
        entity="contact",
        name="Hanako",
        conditions=[{"field": "name", "operator": operator, "value": value}],
    )
    page = views.run_view(unit, views.get_view(unit, "contact", view.id))
    assert [c.id for c in page.rows] == [yamada.id]


def test_view_condition_name_is_not_leaves_the_name_out(
    unit_for: UnitFor, yamada: Contact, make_agent
) -> None:
    unit = unit_for(make_agent("views@example.com"))
    view = views.create_view(
        unit,
        entity="contact",
        name="Not Hanako",
        conditions=[{"field": "name", "operator": "is_not", "value": "花子 山田"}],
    )
    page = views.run_view(unit, views.get_view(unit, "contact", view.id))
    assert yamada.id not in [c.id for c in page.rows] and len(page.rows) == 1
