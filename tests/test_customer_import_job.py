"""Customer import jobs: upsert, per-row rejections, batches, events, progress and the queue."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import redis
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import worker
from core.customer_import import runner
from core.customer_import.rejections import rejections_csv
from core.host import Host
from core.models import (
    Account,
    Agent,
    AuditEntry,
    Contact,
    CustomerImport,
    CustomerImportRejection,
    OutboxEvent,
    Tag,
)
from core.services import customers, fields
from core.services.base import Unit
from hostapi import events

Upload = Callable[..., CustomerImport]

PEOPLE = (
    "姓,名,メールアドレス,電話番号,会社名,タグ\n"
    "山田,太郎,taro@example.jp,03-1234-5678,株式会社サンプル,vip、tokyo\n"
    "Smith,John,john@example.com,+1 (415) 555-0100,Example Inc.,\n"
)


def _run(host: Host, record: CustomerImport, **options: Any) -> CustomerImport:
    finished = runner.run_import(host, record.id, **options)
    assert finished is not None
    assert finished.state == "done", finished.error
    return finished


def _contacts(db: Session) -> list[Contact]:
    db.expire_all()
    return list(db.scalars(select(Contact).order_by(Contact.id)))


def _count(db: Session, model: Any) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


# ------------------------------------------------------------------------------------ writing


def test_import_creates_contacts_with_e164_phones_accounts_and_tags(
    host: Host, db: Session, upload_customers: Upload
) -> None:
    finished = _run(host, upload_customers(PEOPLE, start=True))
    taro, john = _contacts(db)
    assert (taro.last_name, taro.first_name, taro.email) == ("山田", "太郎", "taro@example.jp")
    assert (taro.phone, taro.phone_e164) == ("03-1234-5678", "+81312345678")
    assert john.phone_e164 == "+14155550100"
    assert taro.account is not None and taro.account.name == "株式会社サンプル"
    assert sorted(tag.name for tag in taro.tags) == ["tokyo", "vip"]
    assert runner.progress_of(finished) | {"error": None} == {
        "state": "done",
        "total_rows": 2,
        "processed_rows": 2,
        "created": 2,
        "updated": 0,
        "rejected": 0,
        "unchanged": 0,
        "percent": 100,
        "error": None,
    }


def test_importing_the_same_file_twice_creates_nothing_the_second_time(
    host: Host, db: Session, upload_customers: Upload
) -> None:
    _run(host, upload_customers(PEOPLE, start=True))
    again = _run(host, upload_customers(PEOPLE, start=True))
    assert (again.created_count, again.updated_count, again.rejected_count) == (0, 0, 0)
    assert runner.progress_of(again)["unchanged"] == 2
    assert (_count(db, Contact), _count(db, Account), _count(db, Tag)) == (2, 2, 2)


def test_matched_rows_update_only_the_mapped_fields(
    host: Host, db: Session, upload_customers: Upload, unit_for: Callable[..., Unit]
) -> None:
    customers.create_contact(
        unit_for(None),
        last_name="Yamada",
        email="taro@example.jp",
        title="部長",
        phone="03-0000-0000",
    )
    db.commit()
    record = upload_customers("Email,Phone,Title\nTARO@example.jp,03-1234-5678,\n", start=True)
    finished = _run(host, record)
    (contact,) = _contacts(db)
    assert finished.updated_count == 1
    assert (contact.last_name, contact.title) == ("Yamada", "部長")  # not mapped; empty cell
    assert (contact.phone, contact.phone_e164) == ("03-1234-5678", "+81312345678")


def test_rows_of_one_file_with_the_same_email_make_one_contact(
    host: Host, db: Session, upload_customers: Upload
) -> None:
    rows = (
        "Last name,Email,Title\n"
        "Yamada,taro@example.jp,\n"
        "Sato,x@example.jp,\n"
        "Yamada,Taro@Example.jp,部長\n"
    )
    finished = _run(host, upload_customers(rows, start=True), batch_rows=2)
    assert (finished.created_count, finished.updated_count) == (2, 1)
    taro = next(c for c in _contacts(db) if c.email == "taro@example.jp")
    assert (_count(db, Contact), taro.title) == (2, "部長")


def test_match_on_phone_finds_the_contact_by_its_e164_number(
    host: Host, db: Session, upload_customers: Upload, unit_for: Callable[..., Unit]
) -> None:
    customers.create_contact(unit_for(None), last_name="Yamada", mobile="090-1234-5678")
    db.commit()
    record = upload_customers(
        "Last name,Phone,Email\nYamada,+81 90 1234 5678,taro@example.jp\n",
        match_on=["email", "phone"],
        start=True,
    )
    _run(host, record)
    (contact,) = _contacts(db)
    assert (contact.email, contact.phone_e164) == ("taro@example.jp", "+819012345678")


def test_account_import_upserts_by_name_ignoring_case(
    host: Host, db: Session, upload_customers: Upload, make_account: Callable[..., Account]
) -> None:
    make_account("Acme")
    record = upload_customers(
        "会社名,業種\nACME,製造\nGlobex,IT\n", "accounts.csv", entity="account", start=True
    )
    finished = _run(host, record)
    names = sorted((a.name, a.industry) for a in db.scalars(select(Account)))
    assert (finished.created_count, finished.updated_count) == (1, 1)
    assert names == [("Acme", "製造"), ("Globex", "IT")]


def test_owner_column_is_read_as_an_agent_email(
    host: Host, db: Session, upload_customers: Upload, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent("owner@example.com")
    record = upload_customers(
        "Last name,Owner\nYamada,OWNER@example.com\nSato,nobody@example.com\n", start=True
    )
    finished = _run(host, record)
    (contact,) = _contacts(db)
    rejection = db.scalars(select(CustomerImportRejection)).one()
    assert (contact.owner_id, finished.rejected_count) == (agent.id, 1)
    assert rejection.errors == {"Owner": ["No agent with this email."]}


# ------------------------------------------------------------------------------- rejections


def test_a_bad_row_is_rejected_whole_and_the_others_go_on(
    host: Host, db: Session, upload_customers: Upload, unit_for: Callable[..., Unit]
) -> None:
    fields.create_field(
        unit_for(None), entity="contact", label="Plan", field_type="picklist", options=["Gold"]
    )
    db.commit()
    rows = (
        "Last name,Email,Company,Tags,Plan\n"
        "Yamada,taro@example.jp,Acme,vip,Gold\n"
        "Sato,hanako@example.jp,Globex,new-tag,Platinum\n"
    )
    finished = _run(host, upload_customers(rows, start=True))
    rejection = db.scalars(select(CustomerImportRejection)).one()
    assert (finished.created_count, finished.rejected_count) == (1, 1)
    assert [c.custom_fields for c in _contacts(db)] == [{"cf_plan": "Gold"}]
    assert [a.name for a in db.scalars(select(Account))] == ["Acme"]
    assert [t.name for t in db.scalars(select(Tag))] == ["vip"]
    assert rejection.row_number == 3
    assert rejection.values["Plan"] == "Platinum"
    assert rejection.errors == {"Plan": ["Choose one of: Gold."]}


def test_new_row_without_a_last_name_is_rejected(
    host: Host, db: Session, upload_customers: Upload
) -> None:
    finished = _run(host, upload_customers("First name,Email\nTaro,taro@example.jp\n", start=True))
    rejection = db.scalars(select(CustomerImportRejection)).one()
    assert (finished.rejected_count, _count(db, Contact)) == (1, 0)
    assert rejection.errors == {"last_name": ["This field is required."]}


def test_rejected_rows_download_has_the_original_columns_and_the_errors(
    host: Host, db: Session, upload_customers: Upload
) -> None:
    rows = "姓,メールアドレス\n山田,taro@example.jp\n佐藤,not-an-address\n"
    finished = _run(host, upload_customers(rows, start=True))
    content = rejections_csv(db, db.get(CustomerImport, finished.id))
    assert content.startswith(b"\xef\xbb\xbf")
    assert content.decode("utf-8-sig").splitlines() == [
        "姓,メールアドレス,errors",
        "佐藤,not-an-address,メールアドレス: Not a valid email address.",
    ]


# ------------------------------------------------------------------------- batches and events


def test_each_batch_emits_one_import_event_and_one_audit_entry(
    host: Host, db: Session, upload_customers: Upload
) -> None:
    rows = "Last name,Email\n" + "".join(f"N{n},n{n}@example.jp\n" for n in range(5))
    record = upload_customers(rows, start=True)
    _run(host, record, batch_rows=2)
    imported = list(
        db.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.name == events.CONTACTS_IMPORTED)
            .order_by(OutboxEvent.seq)
        )
    )
    audits = db.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_type == "customer_import", AuditEntry.sub_action == "contact_batch"
        )
    ).all()
    assert [len(event.payload["created_ids"]) for event in imported] == [2, 2, 1]
    assert imported[0].payload["import_id"] == record.id
    assert len(audits) == 3
    assert _count(db, Contact) == 5
    created = select(OutboxEvent).where(OutboxEvent.name == events.CONTACT_CREATED)
    assert db.scalars(created).all() == []


def test_progress_is_committed_batch_by_batch(host: Host, upload_customers: Upload) -> None:
    rows = "Last name\n" + "".join(f"N{n}\n" for n in range(5))
    seen: list[tuple[str, int]] = []
    _run(
        host,
        upload_customers(rows, start=True),
        batch_rows=2,
        progress=lambda record: seen.append((record.state, record.processed_rows)),
    )
    assert seen == [("running", 2), ("running", 4), ("running", 5)]


# ----------------------------------------------------------------------------- other formats


def test_vcard_file_is_imported(host: Host, db: Session, upload_customers: Upload) -> None:
    cards = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:山田;太郎;;;\r\nFN:山田 太郎\r\n"
        "EMAIL:taro@example.jp\r\nTEL;TYPE=CELL:090-1234-5678\r\nORG:Acme\r\nEND:VCARD\r\n"
    )
    _run(host, upload_customers(cards, "people.vcf", start=True))
    (contact,) = _contacts(db)
    assert (contact.last_name, contact.first_name, contact.mobile_e164) == (
        "山田",
        "太郎",
        "+819012345678",
    )
    assert contact.account is not None and contact.account.name == "Acme"


def test_xlsx_workbook_is_imported(host: Host, db: Session, upload_customers: Upload) -> None:
    workbook = Workbook()
    workbook.active.append(["氏名", "メールアドレス"])
    workbook.active.append(["山田", "taro@example.jp"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    _run(host, upload_customers(buffer.getvalue(), "people.xlsx", start=True))
    assert [(c.last_name, c.email) for c in _contacts(db)] == [("山田", "taro@example.jp")]


# ---------------------------------------------------------------------------------- preview


def test_preview_writes_nothing_and_counts_the_whole_file(
    db: Session, upload_customers: Upload, unit_for: Callable[..., Unit]
) -> None:
    customers.create_contact(unit_for(None), last_name="Yamada", email="taro@example.jp")
    db.commit()
    rows = "Last name,Email,Company\nYamada,taro@example.jp,Acme\nSato,bad,\nSuzuki,s@example.jp,\n"
    record = upload_customers(rows)
    preview = runner.preview_import(unit_for(None), record, shown=2)
    db.rollback()
    assert preview.totals == {
        "rows": 3,
        "valid": 2,
        "invalid": 1,
        "new": 1,
        "updates": 1,
        "unchanged": 0,
    }
    assert [(row.row_number, row.action) for row in preview.rows] == [(2, "update"), (3, "reject")]
    assert preview.rows[0].new_account == "Acme"
    assert preview.rows[1].errors == {"Email": ["Not a valid email address."]}
    assert (_count(db, Contact), _count(db, Account)) == (1, 0)


# ------------------------------------------------------------------------------------ queue


def test_worker_runs_an_enqueued_import(host: Host, db: Session, upload_customers: Upload) -> None:
    record = upload_customers(PEOPLE, start=True)
    assert runner.enqueue(host, record.id)
    worker.run(host, burst=True, with_scheduler=False)
    db.expire_all()
    assert db.get(CustomerImport, record.id).state == "done"
    assert _count(db, Contact) == 2


def test_import_queued_while_redis_was_down_is_enqueued_by_the_relay(
    host: Host, db: Session, upload_customers: Upload, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = upload_customers(PEOPLE, start=True)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise redis.ConnectionError("Redis is down")

    with monkeypatch.context() as patched:
        patched.setattr(runner.Queue, "enqueue", refuse)
        assert runner.enqueue(host, record.id) is False
    assert runner.enqueue_waiting(host) == 1
    assert runner.enqueue_waiting(host) == 0  # held by RQ now: not handed twice
    worker.run(host, burst=True, with_scheduler=False)
    db.expire_all()
    assert db.get(CustomerImport, record.id).state == "done"


def test_an_import_runs_once_however_often_it_is_started(
    host: Host, upload_customers: Upload
) -> None:
    record = upload_customers(PEOPLE, start=True)
    _run(host, record)
    assert runner.run_import(host, record.id) is None
