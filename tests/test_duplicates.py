"""Finding duplicate contacts and accounts by the organisation's rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from core.models import Agent, AuditEntry, Contact
from core.services import customers, duplicates
from core.services.base import Unit
from hostapi import clock

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def unit(unit_for: UnitFor) -> Unit:
    return unit_for(None)


def _contact(unit: Unit, last_name: str, first_name: str = "", **fields: object) -> Contact:
    return customers.create_contact(unit, last_name=last_name, first_name=first_name, **fields)


def _groups(unit: Unit, entity: str, rule: str) -> list[tuple[str, tuple[int, ...]]]:
    groups, _next = duplicates.find_groups(unit, entity, rule)
    return [(g.key, g.record_ids) for g in groups]


def test_contacts_with_the_same_email_form_a_group(unit: Unit) -> None:
    first = _contact(unit, "Yamada", email="Hanako@Example.com")
    second = _contact(unit, "Yamada", email="hanako@example.com")
    _contact(unit, "Sato", email="sato@example.com")
    assert _groups(unit, "contact", "email") == [("hanako@example.com", (first.id, second.id))]


def test_a_phone_matches_a_mobile_written_differently(unit: Unit) -> None:
    office = _contact(unit, "Yamada", phone="03-1234-5678")
    mobile = _contact(unit, "Suzuki", mobile="+81 3 1234 5678")
    _contact(unit, "Sato", phone="03-9999-0000")
    assert _groups(unit, "contact", "phone") == [("+81312345678", (office.id, mobile.id))]


def test_japanese_names_match_with_or_without_the_space(unit: Unit) -> None:
    split = _contact(unit, "山田", "花子")
    whole = _contact(unit, "山田花子")
    spaced = _contact(unit, "山田　花子")  # an ideographic space, as Japanese keyboards type it
    _contact(unit, "山田", "太郎")
    assert _groups(unit, "contact", "name") == [("山田花子", (split.id, whole.id, spaced.id))]


def test_names_match_across_case_width_and_spacing(unit: Unit) -> None:
    first = _contact(unit, "Yamada", "Hanako")
    second = _contact(unit, "ＹＡＭＡＤＡ", " hanako ")
    groups = _groups(unit, "contact", "name")
    assert [ids for _key, ids in groups] == [(first.id, second.id)]


def test_merged_records_are_never_in_a_group(db: Session, unit: Unit) -> None:
    kept = _contact(unit, "Yamada", email="hanako@example.com")
    gone = _contact(unit, "Yamada", email="hanako@example.com")
    gone.merged_into_id = kept.id
    db.flush()
    assert _groups(unit, "contact", "email") == []


def test_groups_are_paged_by_key(unit: Unit) -> None:
    for letter in "abc":
        for _ in range(2):
            _contact(unit, "X", email=f"{letter}@example.com")
    first_page, after = duplicates.find_groups(unit, "contact", "email", limit=2)
    second_page, end = duplicates.find_groups(unit, "contact", "email", after=after, limit=2)
    assert [g.key for g in first_page] == ["a@example.com", "b@example.com"]
    assert ([g.key for g in second_page], end) == (["c@example.com"], None)


def test_computed_groups_are_paged_by_key_too(unit: Unit) -> None:
    for name in ("Abe", "Baba", "Chiba"):
        _contact(unit, name)
        _contact(unit, name)
    first_page, after = duplicates.find_groups(unit, "contact", "name", limit=2)
    second_page, end = duplicates.find_groups(unit, "contact", "name", after=after, limit=2)
    assert [g.key for g in first_page + second_page] == ["abe", "baba", "chiba"]
    assert end is None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("株式会社アクメ", "アクメ"),
        ("(株)アクメ", "アクメ株式会社"),
        ("（株）アクメ", "アクメ"),
        ("Acme Inc.", "ACME"),
        ("Acme Co., Ltd.", "acme"),
    ],
)
def test_account_names_match_without_their_legal_form(unit: Unit, one: str, other: str) -> None:
    first = customers.create_account(unit, name=one)
    second = customers.create_account(unit, name=other)
    assert [ids for _k, ids in _groups(unit, "account", "name")] == [(first.id, second.id)]


def test_accounts_match_by_website_domain(unit: Unit) -> None:
    first = customers.create_account(unit, name="Acme", website="https://www.acme.co.jp/about")
    second = customers.create_account(unit, name="アクメ", website="acme.co.jp")
    assert _groups(unit, "account", "website") == [("acme.co.jp", (first.id, second.id))]


def test_accounts_match_by_phone(unit: Unit) -> None:
    first = customers.create_account(unit, name="Acme", phone="03-1234-5678")
    second = customers.create_account(unit, name="Other", phone="+81312345678")
    assert _groups(unit, "account", "phone") == [("+81312345678", (first.id, second.id))]


def test_an_unknown_rule_is_refused_naming_it(unit: Unit) -> None:
    with pytest.raises(ValidationFailed) as failure:
        duplicates.find_groups(unit, "account", "email")
    assert list(failure.value.errors) == ["rule"]


def test_duplicates_of_a_contact_follow_the_configured_rules(unit: Unit) -> None:
    duplicates.set_rules(unit, {"contact": ["email", "name"]})
    record = _contact(unit, "Yamada", "Hanako", email="hanako@example.com", phone="03-1234-5678")
    same_email = _contact(unit, "Other", email="hanako@example.com")
    same_name = _contact(unit, "山田", "花子")
    same_name_latin = _contact(unit, "yamada", "hanako")
    _contact(unit, "Phone", phone="03-1234-5678")  # phone is not a rule now
    found = {g.rule: g.record_ids for g in duplicates.duplicates_of(unit, record)}
    assert found == {
        "email": (record.id, same_email.id),
        "name": (record.id, same_name_latin.id),
    }
    assert same_name.id not in found["name"]


def test_a_name_typed_whole_is_a_duplicate_of_the_split_one(unit: Unit) -> None:
    duplicates.set_rules(unit, {"contact": ["name"]})
    split = _contact(unit, "山田", "花子")
    whole = _contact(unit, "山田花子")
    assert [g.record_ids for g in duplicates.duplicates_of(unit, whole)] == [(split.id, whole.id)]


def test_rules_are_saved_in_order_and_audited(db: Session, unit: Unit) -> None:
    saved = duplicates.set_rules(unit, {"contact": ["name", "email", "name"]})
    assert saved == {"contact": ["email", "name"], "account": ["name"]}
    assert duplicates.rules_of(db) == saved
    entry = db.scalars(select(AuditEntry).where(AuditEntry.sub_action == "duplicate_rules")).one()
    assert entry.after == {"duplicate_rules": saved}


def test_unknown_rules_are_refused_and_nothing_changes(db: Session, unit: Unit) -> None:
    with pytest.raises(ValidationFailed) as failure:
        duplicates.set_rules(unit, {"contact": ["email", "shoe_size"], "lead": []})
    assert set(failure.value.errors) == {"contact", "lead"}
    assert duplicates.rules_of(db) == duplicates.DEFAULT_RULES


def test_setting_rules_needs_the_setup_permission(
    make_agent: Callable[..., Agent], unit_for: UnitFor
) -> None:
    with pytest.raises(Forbidden):
        duplicates.set_rules(unit_for(make_agent()), {"contact": ["email"]})


def test_normalised_keys() -> None:
    assert duplicates.name_keys("花子", "山田") == {"山田花子", "花子山田"}
    assert duplicates.company_key("ＡＣＭＥ　株式会社") == "acme"
    assert duplicates.website_key("HTTP://WWW.Example.COM:8080/x") == "example.com"
    assert duplicates.website_key("") == ""


def test_finding_scales_to_thousands_of_contacts(db: Session, unit: Unit) -> None:
    """The streamed name keys over many rows find exactly the real pairs."""
    now = clock.now()
    db.execute(
        Contact.__table__.insert(),
        [
            {
                "first_name": f"F{n % 2000}",
                "last_name": f"L{n % 2000}",
                "phone": "",
                "mobile": "",
                "title": "",
                "description": "",
                "is_spam": False,
                "custom_fields": {},
                "created_at": now,
                "updated_at": now,
            }
            for n in range(4000)
        ],
    )
    groups, after = duplicates.find_groups(unit, "contact", "name", limit=500)
    assert len(groups) == 500 and after is not None
    assert all(len(g.record_ids) == 2 for g in groups)
