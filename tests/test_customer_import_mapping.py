"""Customer import mapping: suggestions from headers, and mappings that cannot be used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core.customer_import import runner
from core.customer_import.mapping import parse_map_options
from core.errors import Conflict, ValidationFailed
from core.services import fields
from core.services.base import Unit


def test_japanese_headers_suggest_the_contact_fields(upload_customers: Callable[..., Any]) -> None:
    header = "姓,名,メールアドレス,電話番号,携帯電話,会社名,役職,備考,タグ,担当者\n"
    record = upload_customers(header + "山田,太郎,,,,,,,,\n")
    assert record.mapping == {
        "姓": "last_name",
        "名": "first_name",
        "メールアドレス": "email",
        "電話番号": "phone",
        "携帯電話": "mobile",
        "会社名": "account",
        "役職": "title",
        "備考": "description",
        "タグ": "tags",
        "担当者": "owner",
    }


def test_english_headers_suggest_fields_whatever_their_spelling(
    upload_customers: Callable[..., Any],
) -> None:
    record = upload_customers("First Name,Surname,E-mail Address,Mobile Phone,Company,Notes\n")
    assert record.mapping == {
        "First Name": "first_name",
        "Surname": "last_name",
        "E-mail Address": "email",
        "Mobile Phone": "mobile",
        "Company": "account",
        "Notes": "description",
    }


def test_a_custom_field_is_suggested_by_its_label(
    upload_customers: Callable[..., Any], unit_for: Callable[..., Unit], db: Session
) -> None:
    fields.create_field(unit_for(None), entity="contact", label="Plan", field_type="text")
    db.commit()
    record = upload_customers("Last name,plan\nYamada,Gold\n")
    assert record.mapping == {"Last name": "last_name", "plan": "cf_plan"}


def test_account_headers_suggest_account_fields(upload_customers: Callable[..., Any]) -> None:
    record = upload_customers("会社名,業種,ウェブサイト\n", entity="account")
    assert record.mapping == {"会社名": "name", "業種": "industry", "ウェブサイト": "website"}
    assert record.match_on == ["name"]


def test_unknown_target_field_is_refused_naming_the_mapping_entry(
    upload_customers: Callable[..., Any],
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        upload_customers(
            "Last name,Email\nYamada,taro@example.jp\n",
            mapping={"Last name": "last_name", "Email": "emial"},
        )
    assert refused.value.errors == {"mapping.Email": ["Unknown field 'emial'."]}


def test_mapping_a_column_the_file_does_not_have_is_refused(
    upload_customers: Callable[..., Any],
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        upload_customers("Last name\nYamada\n", mapping={"Surname": "last_name"})
    assert refused.value.errors == {"mapping.Surname": ["The file has no column 'Surname'."]}


def test_two_columns_cannot_fill_one_field(upload_customers: Callable[..., Any]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        upload_customers(
            "Name,Surname\nA,B\n", mapping={"Name": "last_name", "Surname": "last_name"}
        )
    assert refused.value.errors == {
        "mapping.Surname": ["The field 'last_name' is already filled from 'Name'."]
    }


def test_matching_on_an_unknown_field_is_refused(upload_customers: Callable[..., Any]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        upload_customers("Last name\nYamada\n", match_on=["email", "fax"])
    assert refused.value.errors == {"match_on": ["Match on email or phone, not 'fax'."]}


def test_mapping_can_change_until_the_import_starts(
    upload_customers: Callable[..., Any], unit_for: Callable[..., Unit]
) -> None:
    record = upload_customers("Name,Mail\nYamada,taro@example.jp\n")
    unit = unit_for(None)
    runner.set_mapping(
        unit, record, mapping={"Name": "last_name", "Mail": ""}, match_on="email,phone"
    )
    assert (record.mapping, record.match_on) == ({"Name": "last_name"}, ["email", "phone"])
    runner.start(unit, record)
    with pytest.raises(Conflict):
        runner.set_mapping(unit, record, mapping={"Name": "first_name"})


def test_starting_without_a_mapped_column_is_refused(
    upload_customers: Callable[..., Any], unit_for: Callable[..., Unit]
) -> None:
    record = upload_customers("Foo,Bar\n1x,2y\n")
    assert record.mapping == {}
    with pytest.raises(ValidationFailed) as refused:
        runner.start(unit_for(None), record)
    assert refused.value.errors == {"mapping": ["Map at least one column to a field."]}


def test_cli_map_options_become_a_mapping() -> None:
    assert parse_map_options(["Email=email", "Notes="]) == {"Email": "email", "Notes": ""}
    with pytest.raises(ValidationFailed):
        parse_map_options(["Email"])
