"""Custom fields: definitions, keys, layout order, and the validation of their values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core.errors import Forbidden, Message, ValidationFailed
from core.models import Agent, Contact, CustomField
from core.services import fields
from core.services.base import Unit
from core.web.i18n import compile_catalogs
from core.web.ui.labels import message_text


@pytest.fixture
def admin_unit(unit_for: Callable[[Agent | None], Unit], admin_agent: Agent) -> Unit:
    """A unit acting as the administrator."""
    return unit_for(admin_agent)


@pytest.fixture
def make_field(admin_unit: Unit, db: Session) -> Callable[..., CustomField]:
    """Create a contact custom field through the service, committed."""

    def make(label: str = "Plan", field_type: str = "text", **extra: Any) -> CustomField:
        extra.setdefault("entity", "contact")
        field = fields.create_field(admin_unit, label=label, field_type=field_type, **extra)
        db.commit()
        return field

    return make


def _errors(call: Callable[[], Any]) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as failure:
        call()
    return failure.value.errors


# ---------------------------------------------------------------------------- definitions


def test_key_is_cf_and_a_slug_of_the_label(make_field: Callable[..., CustomField]) -> None:
    assert make_field("Contract Tier!").key == "cf_contract_tier"


def test_same_label_twice_gets_a_numbered_key(make_field: Callable[..., CustomField]) -> None:
    make_field("Tier")
    assert make_field("Tier").key == "cf_tier_2"


def test_japanese_label_falls_back_to_a_numbered_key(
    make_field: Callable[..., CustomField],
) -> None:
    make_field("Plan")
    assert make_field("契約プラン").key == "cf_1"
    assert make_field("契約プラン").key == "cf_2"


def test_same_label_on_contacts_and_accounts_is_allowed(
    make_field: Callable[..., CustomField],
) -> None:
    assert make_field("Tier").key == make_field("Tier", entity="account").key == "cf_tier"


def test_fields_are_listed_in_layout_order(
    make_field: Callable[..., CustomField], admin_unit: Unit, db: Session
) -> None:
    make_field("A")
    make_field("B")
    make_field("C", position=0)
    assert [f.label for f in fields.fields_for(db, "contact")] == ["C", "A", "B"]


def test_reorder_saves_the_new_order(
    make_field: Callable[..., CustomField], admin_unit: Unit, db: Session
) -> None:
    for label in ("A", "B", "C"):
        make_field(label)
    fields.reorder_fields(admin_unit, "contact", ["cf_c", "cf_a", "cf_b"])
    db.commit()
    assert [f.key for f in fields.fields_for(db, "contact")] == ["cf_c", "cf_a", "cf_b"]


def test_reorder_must_name_every_field_once(
    make_field: Callable[..., CustomField], admin_unit: Unit
) -> None:
    make_field("A")
    make_field("B")
    assert "keys" in _errors(lambda: fields.reorder_fields(admin_unit, "contact", ["cf_a"]))


def test_picklist_needs_options(admin_unit: Unit) -> None:
    errors = _errors(
        lambda: fields.create_field(
            admin_unit, entity="contact", label="Tier", field_type="picklist"
        )
    )
    assert "options" in errors


def test_lookup_needs_a_target(admin_unit: Unit) -> None:
    errors = _errors(
        lambda: fields.create_field(admin_unit, entity="contact", label="Rep", field_type="lookup")
    )
    assert "lookup_entity" in errors


def test_unknown_type_is_refused(admin_unit: Unit) -> None:
    errors = _errors(
        lambda: fields.create_field(admin_unit, entity="contact", label="X", field_type="colour")
    )
    assert "field_type" in errors


def test_agent_without_setup_permission_cannot_add_fields(
    unit_for: Callable[[Agent | None], Unit], make_agent: Callable[..., Agent]
) -> None:
    with pytest.raises(Forbidden):
        fields.create_field(unit_for(make_agent()), entity="contact", label="X", field_type="text")


def test_update_changes_label_but_keeps_the_key(
    make_field: Callable[..., CustomField], admin_unit: Unit
) -> None:
    field = make_field("Tier")
    fields.update_field(admin_unit, field, label="Level", required=True)
    assert (field.key, field.label, field.required) == ("cf_tier", "Level", True)


def test_delete_drops_the_values_from_records(
    make_field: Callable[..., CustomField],
    admin_unit: Unit,
    db: Session,
    make_contact: Callable[..., Contact],
) -> None:
    tier = make_field("Tier")
    make_field("Note")
    contact = make_contact()
    contact.custom_fields = {"cf_tier": "gold", "cf_note": "vip"}
    db.commit()
    assert fields.delete_field(admin_unit, tier) == 1
    db.commit()
    db.expire_all()
    assert db.get(Contact, contact.id).custom_fields == {"cf_note": "vip"}
    assert [f.key for f in fields.fields_for(db, "contact")] == ["cf_note"]


# ------------------------------------------------------------------------- text to value


@pytest.mark.parametrize(
    ("field_type", "raw", "expected"),
    [
        ("number", "1,200", 1200),
        ("number", "2.5", 2.5),
        ("date", "2024/1/31", "2024-01-31"),
        ("checkbox", "yes", True),
        ("checkbox", "0", False),
        ("lookup", "42", 42),
        ("text", "  hello ", "hello"),
        ("text", "", None),
    ],
)
def test_parse_reads_text_as_the_typed_value(field_type: str, raw: str, expected: Any) -> None:
    field = CustomField(key="cf_x", label="X", field_type=field_type, options=[])
    assert fields.parse_custom_value(field, raw) == expected


def test_parse_matches_picklist_options_ignoring_case() -> None:
    field = CustomField(key="cf_x", label="X", field_type="picklist", options=["Gold", "Silver"])
    assert fields.parse_custom_value(field, "gold") == "Gold"


@pytest.mark.parametrize(
    ("field_type", "raw"),
    [("number", "lots"), ("date", "31 Jan"), ("checkbox", "maybe"), ("lookup", "abc")],
)
def test_parse_refuses_text_that_does_not_fit(field_type: str, raw: str) -> None:
    field = CustomField(key="cf_x", label="X", field_type=field_type, options=[])
    with pytest.raises(ValueError, match=r"\w"):
        fields.parse_custom_value(field, raw)


# --------------------------------------------------------------------------- validation


def test_unknown_key_is_refused_by_name(db: Session) -> None:
    errors = _errors(lambda: fields.clean_custom_values(db, "contact", {"cf_nope": "x"}))
    assert errors == {"custom_fields.cf_nope": ["Unknown custom field."]}


@pytest.mark.parametrize(
    ("field_type", "extra", "value"),
    [
        ("number", {}, "12"),
        ("number", {}, True),
        ("checkbox", {}, "yes"),
        ("date", {}, "2024-02-30"),
        ("date", {}, "31/01/2024"),
        ("picklist", {"options": ["Gold"]}, "Bronze"),
        ("email", {}, "not-an-email"),
        ("phone", {}, "12"),
        ("url", {}, "example.com"),
        ("lookup", {"lookup_entity": "account"}, 999),
        ("lookup", {"lookup_entity": "agent"}, 2**31),
        ("lookup", {"lookup_entity": "account"}, 10**20),
        ("lookup", {"lookup_entity": "product"}, 0),
        ("text", {}, 5),
    ],
)
def test_wrong_values_are_refused_on_their_key(
    make_field: Callable[..., CustomField],
    db: Session,
    field_type: str,
    extra: dict[str, Any],
    value: Any,
) -> None:
    field = make_field("Value", field_type, **extra)
    errors = _errors(lambda: fields.clean_custom_values(db, "contact", {field.key: value}))
    assert list(errors) == [f"custom_fields.{field.key}"]


def test_a_refused_value_keeps_its_msgid_for_the_page_to_translate(
    make_field: Callable[..., CustomField], db: Session, app: Any
) -> None:
    field = make_field("Parent", "lookup", lookup_entity="account")
    errors = _errors(lambda: fields.clean_custom_values(db, "contact", {field.key: 999}))
    [message] = errors[f"custom_fields.{field.key}"]
    assert message == "No account with id 999."
    assert isinstance(message, Message)
    compile_catalogs()
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        assert message_text(message) == "ID 999 の取引先はありません。"


def test_unreadable_text_is_refused_with_a_translatable_message() -> None:
    field = CustomField(key="cf_x", label="X", field_type="picklist", options=["Gold", "Silver"])
    with pytest.raises(fields.InvalidValue) as refused:
        fields.parse_custom_value(field, "Bronze")
    assert refused.value.message == "Choose one of: Gold, Silver."
    assert refused.value.message.msgid == "Choose one of: %(choices)s."


def test_good_values_are_returned_typed(
    make_field: Callable[..., CustomField],
    db: Session,
    make_account: Callable[..., Any],
) -> None:
    account = make_account()
    make_field("Seats", "number")
    make_field("Renewal", "date")
    make_field("Tier", "picklist", options=["Gold", "Silver"])
    make_field("VIP", "checkbox")
    make_field("Billing email", "email")
    make_field("Direct line", "phone")
    make_field("Site", "url")
    make_field("Parent", "lookup", lookup_entity="account")
    values = {
        "cf_seats": 12,
        "cf_renewal": "2025-04-01",
        "cf_tier": "Gold",
        "cf_vip": True,
        "cf_billing_email": "Billing@Example.com",
        "cf_direct_line": "03-1234-5678",
        "cf_site": "https://example.com",
        "cf_parent": account.id,
    }
    cleaned = fields.clean_custom_values(db, "contact", values)
    assert cleaned == values | {"cf_billing_email": "billing@example.com"}


def test_required_field_missing_is_refused(
    make_field: Callable[..., CustomField], db: Session
) -> None:
    make_field("Tier", required=True)
    errors = _errors(lambda: fields.clean_custom_values(db, "contact", {}))
    assert errors == {"custom_fields.cf_tier": ["This field is required."]}


def test_required_field_already_held_need_not_be_given_again(
    make_field: Callable[..., CustomField], db: Session
) -> None:
    make_field("Tier", required=True)
    make_field("Note")
    cleaned = fields.clean_custom_values(
        db, "contact", {"cf_note": "hi"}, existing={"cf_tier": "gold"}
    )
    assert cleaned == {"cf_tier": "gold", "cf_note": "hi"}


def test_empty_value_clears_the_field(make_field: Callable[..., CustomField], db: Session) -> None:
    make_field("Note")
    assert (
        fields.clean_custom_values(db, "contact", {"cf_note": ""}, existing={"cf_note": "x"}) == {}
    )


def test_every_bad_key_is_named_at_once(
    make_field: Callable[..., CustomField], db: Session
) -> None:
    make_field("Seats", "number")
    errors = _errors(
        lambda: fields.clean_custom_values(db, "contact", {"cf_seats": "x", "cf_other": 1})
    )
    assert set(errors) == {"custom_fields.cf_seats", "custom_fields.cf_other"}
