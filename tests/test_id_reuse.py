"""Ids are never issued twice: a deleted record's id (or field key) never names a new one."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from core.db import Base, make_engine, throwaway_postgres_database
from core.host import Host
from core.importer import run_import
from core.migrate import is_current, upgrade_core
from core.models import Agent, Contact, CustomField, Department, Installation
from core.services import customer_deletion, customers, fields
from core.services.base import Unit
from hostapi import clock
from marketplace_registry import lifecycle
from tests.factories import install_for, system_unit

UnitFor = Callable[[Agent | None], Unit]
PLUGIN = "ticket_history"


def _install(host: Host, department: Department) -> int:
    with host.transaction() as session:
        return install_for(session, host, PLUGIN, [department.id]).id


def _purge(host: Host, installation_id: int) -> None:
    with host.transaction() as session:
        lifecycle.uninstall(
            system_unit(session, host),
            session.get(Installation, installation_id),
            confirmed=True,
            keep_data=False,
        )


def test_a_purged_installations_id_is_not_issued_again(host: Host, department: Department) -> None:
    first = _install(host, department)
    _purge(host, first)
    second = _install(host, department)
    _purge(host, second)
    third = _install(host, department)
    assert first < second < third


def test_a_deleted_contacts_id_is_not_issued_again(
    unit_for: UnitFor, admin_agent: Agent, db: Session
) -> None:
    unit = unit_for(admin_agent)
    deleted = customers.create_contact(unit, last_name="Yamada")
    db.commit()
    assert customer_deletion.delete_contacts(unit, [deleted]).deleted_ids == [deleted.id]
    db.commit()
    created = customers.create_contact(unit, last_name="Spam Sender")
    db.commit()
    assert created.id > deleted.id


def _field(unit: Unit, db: Session, label: str) -> CustomField:
    field = fields.create_field(unit, entity="contact", label=label, field_type="text")
    db.commit()
    return field


def _delete_field(unit: Unit, db: Session, field: CustomField) -> None:
    fields.delete_field(unit, field)
    db.commit()


def test_a_deleted_custom_fields_id_and_numbered_key_are_not_issued_again(
    unit_for: UnitFor, admin_agent: Agent, db: Session
) -> None:
    unit = unit_for(admin_agent)
    _field(unit, db, "契約プラン")
    deleted = _field(unit, db, "担当地域")
    deleted_id, deleted_key = deleted.id, deleted.key
    _delete_field(unit, db, deleted)
    created = _field(unit, db, "満足度")
    assert created.id > deleted_id
    assert created.key != deleted_key
    assert created.key == "cf_3"


def test_a_deleted_custom_fields_slug_key_is_not_issued_again(
    unit_for: UnitFor, admin_agent: Agent, db: Session
) -> None:
    unit = unit_for(admin_agent)
    deleted = _field(unit, db, "Tier")
    _delete_field(unit, db, deleted)
    assert _field(unit, db, "Tier").key == "cf_tier_2"


def test_the_history_import_allocates_no_deleted_contacts_id(
    host: Host, unit_for: UnitFor, admin_agent: Agent, db: Session
) -> None:
    unit = unit_for(admin_agent)
    deleted = customers.create_contact(unit, last_name="Deleted")
    db.commit()
    customer_deletion.delete_contacts(unit, [deleted])
    db.commit()
    record = {"type": "contact", "id": "c1", "last_name": "Imported"}
    run_import(host, io.BytesIO(msgspec.json.encode(record) + b"\n"))
    db.expire_all()
    imported = db.scalars(select(Contact).where(Contact.external_id == "c1")).one()
    assert imported.id > deleted.id
    created = customers.create_contact(unit, last_name="Live")
    db.commit()
    assert created.id > imported.id


# ------------------------------------------------------------------------- upgrading a database


@contextmanager
def _empty_database(tmp_path: Path) -> Iterator[Engine]:
    """An empty database on this run's backend, disposed of afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        with throwaway_postgres_database(url, prefix="deskhost_upgrade") as database:
            engine = make_engine(database)
            yield engine
            engine.dispose()
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'upgrade.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def database_at_0003(tmp_path: Path) -> Iterator[Engine]:
    """A database at revision 0003 holding an agent, an account, two contacts (one of them of
    the account, with a comment) and the audit entry of a deleted contact 7."""
    with _empty_database(tmp_path) as engine:
        upgrade_core(engine, "0003_core")
        with engine.begin() as connection:
            for statement in (
                "INSERT INTO permission_profile (id, name, description, is_admin)"
                " VALUES (1, 'Agent', '', false)",
                "INSERT INTO agent (id, email, name, password_hash, profile_id, status,"
                " is_active, created_at) VALUES (1, 'a@example.com', 'A', '', 1, 'offline', true,"
                " '2026-01-01 00:00:00')",
                "INSERT INTO account (id, name, website, phone, industry, description, is_spam,"
                " custom_fields, created_at, updated_at) VALUES (1, 'Acme', '', '', '', '',"
                " false, '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                "INSERT INTO contact (id, first_name, last_name, phone, mobile, title, description,"
                " account_id, is_spam, custom_fields, created_at, updated_at) VALUES"
                " (1, '', 'Yamada', '', '', '', '', 1, false, '{}', '2026-01-01 00:00:00',"
                " '2026-01-01 00:00:00'), (2, '', 'Sato', '', '', '', '', NULL, false, '{}',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                "INSERT INTO customer_comment (id, account_id, author_id, body,"
                " mentioned_agent_ids, created_at, updated_at) VALUES (1, 1, 1, 'Hello', '[]',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                "INSERT INTO audit_entry (id, at, actor_label, action, entity_type, entity_id,"
                " sub_action) VALUES (1, '2026-01-01 00:00:00', 'system', 'delete', 'contact',"
                " '7', '')",
            ):
                connection.exec_driver_sql(statement)
        yield engine


def test_upgrading_keeps_every_row_and_every_reference(database_at_0003: Engine) -> None:
    upgrade_core(database_at_0003)
    assert is_current(database_at_0003)
    with database_at_0003.connect() as connection:
        assert connection.execute(text("SELECT id, account_id FROM contact ORDER BY id")).all() == [
            (1, 1),
            (2, None),
        ]
        assert connection.execute(text("SELECT body FROM customer_comment")).scalars().all() == [
            "Hello"
        ]


def test_upgrading_gives_agents_a_session_generation_of_zero(database_at_0003: Engine) -> None:
    upgrade_core(database_at_0003)
    with database_at_0003.connect() as connection:
        assert connection.execute(text("SELECT session_generation FROM agent")).scalar_one() == 0


def test_after_upgrading_sqlite_issues_no_deleted_id_again(
    database_at_0003: Engine, backend_name: str
) -> None:
    if backend_name != "sqlite":
        pytest.skip("PostgreSQL's sequences never went back: the upgrade leaves them alone")
    upgrade_core(database_at_0003)
    with Session(database_at_0003) as session:
        session.execute(text("DELETE FROM contact WHERE id = 2"))
        session.commit()
        now = clock.now()
        created = Contact(last_name="New", created_at=now, updated_at=now)
        session.add(created)
        session.commit()
        # Past the highest id held (2, deleted) and the deleted contact 7 the audit log names.
        assert created.id == 8


def test_upgrading_keeps_the_check_constraints(database_at_0003: Engine) -> None:
    upgrade_core(database_at_0003)
    checks = inspect(database_at_0003).get_check_constraints("customer_comment")
    assert [c["name"] for c in checks] == ["ck_customer_comment_one_customer"]


def test_every_core_table_with_an_id_is_created_autoincrement() -> None:
    for table in Base.metadata.tables.values():
        keys = list(table.primary_key.columns)
        # A key that is another table's id (sla_policy_department) issues no ids of its own.
        if len(keys) == 1 and not keys[0].foreign_keys:
            assert table.dialect_options["sqlite"]["autoincrement"], table.name
