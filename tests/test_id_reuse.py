"""Ids are never issued twice: a deleted record's id (or field key) never names a new one."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from core.bootstrap import ensure_baseline
from core.db import Base, make_engine, throwaway_postgres_database
from core.host import Host
from core.importer import run_import
from core.migrate import CORE_MIGRATIONS, CORE_VERSION_TABLE, is_current, upgrade_core
from core.models import (
    Agent,
    Contact,
    CustomField,
    Department,
    Installation,
    OAuthClient,
    Ticket,
)
from core.services import customer_deletion, customers, fields, org, tickets
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


def _tables_issuing_ids() -> list[str]:
    """The core's tables whose single-column key is their own id (not another table's)."""
    return [
        table.name
        for table in Base.metadata.tables.values()
        if len(table.primary_key.columns) == 1
        and not next(iter(table.primary_key.columns)).foreign_keys
    ]


@pytest.fixture(scope="module")
def sqlite_tables_as_migrated(
    tmp_path_factory: pytest.TempPathFactory, backend_name: str
) -> dict[str, str]:
    """The ``CREATE TABLE`` statement of each table of a SQLite database the migrations made."""
    if backend_name != "sqlite":
        pytest.skip("PostgreSQL's sequences never go back")
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('migrated') / 'migrated.db'}")
    try:
        upgrade_core(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            )
            return {name: sql for name, sql in rows}
    finally:
        engine.dispose()


@pytest.mark.parametrize("table", _tables_issuing_ids())
def test_every_migrated_sqlite_table_with_an_id_is_autoincrement(
    table: str, sqlite_tables_as_migrated: dict[str, str]
) -> None:
    assert "AUTOINCREMENT" in sqlite_tables_as_migrated[table].upper()


def test_after_upgrading_sqlite_issues_no_deleted_oauth_client_id_again(
    database_at_0003: Engine, backend_name: str
) -> None:
    if backend_name != "sqlite":
        pytest.skip("PostgreSQL's sequences never go back")
    upgrade_core(database_at_0003, "0016_core")
    with database_at_0003.begin() as connection:
        # Client 41 was registered, then deleted with its purged installation.
        connection.exec_driver_sql(
            "INSERT INTO audit_entry (at, actor_label, action, entity_type, entity_id, sub_action)"
            " VALUES ('2026-12-01 00:00:00', 'system', 'add', 'oauth_client', '41', '')"
        )
    upgrade_core(database_at_0003)
    with Session(database_at_0003) as session:
        client = OAuthClient(client_id="new", created_at=clock.now())
        session.add(client)
        session.commit()
        assert client.id == 42


def test_upgrading_keeps_the_check_constraints(database_at_0003: Engine) -> None:
    upgrade_core(database_at_0003)
    checks = inspect(database_at_0003).get_check_constraints("customer_comment")
    assert [c["name"] for c in checks] == ["ck_customer_comment_one_customer"]


def test_every_core_table_with_an_id_is_created_autoincrement() -> None:
    # A key that is another table's id (sla_policy_department) issues no ids of its own.
    for name in _tables_issuing_ids():
        assert Base.metadata.tables[name].dialect_options["sqlite"]["autoincrement"], name


# ------------------------------------------------- repairing 0006's and 0015's rebuilds (0019)


@pytest.fixture
def desk_at_0018(tmp_path: Path) -> Iterator[Engine]:
    """A database at revision 0018 numbering tickets from 1001: tickets 1 to 3 (3 merged into
    2) and the newest, 4, deleted; the newest permission profile created, then deleted."""
    with _empty_database(tmp_path) as engine:
        upgrade_core(engine, "0018_core")
        with Session(engine) as session:
            ensure_baseline(session).next_ticket_number = 1001
            department = Department(name="Support", created_at=clock.now())
            session.add(department)
            session.flush()
            unit = system_unit(session, None)
            created = [_create_ticket(unit, department) for _ in range(4)]
            created[2].merged_into_id = created[1].id
            org.delete_profile(unit, org.create_profile(unit, name="Night shift", permissions=[]))
            session.commit()
        with engine.begin() as connection:
            # No service deletes a ticket: the newest goes as a clean-up in the database would.
            connection.exec_driver_sql("DELETE FROM ticket WHERE id = 4")
        yield engine


def _create_ticket(unit: Unit, department: Department) -> Ticket:
    return tickets.create_ticket(
        unit, subject="The printer is on fire", department_id=department.id, channel="email"
    )


def _tickets_and_status_changes(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as connection:
        return (
            connection.execute(
                text("SELECT id, number, merged_into_id FROM ticket ORDER BY id")
            ).all(),
            connection.execute(
                text("SELECT ticket_id, to_status FROM ticket_status_change ORDER BY id")
            ).all(),
        )


def _downgrade_core(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(CORE_MIGRATIONS))
    config.set_main_option("version_locations", str(CORE_MIGRATIONS / "versions"))
    with engine.connect() as connection, connection.begin():
        config.attributes.update(connection=connection, version_table=CORE_VERSION_TABLE)
        command.downgrade(config, revision)


def _revision(engine: Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_upgrading_from_0018_keeps_every_ticket_with_its_id_number_and_references(
    desk_at_0018: Engine,
) -> None:
    before = _tickets_and_status_changes(desk_at_0018)
    upgrade_core(desk_at_0018)
    assert is_current(desk_at_0018)
    assert _tickets_and_status_changes(desk_at_0018) == before
    assert before[0] == [(1, 1001, None), (2, 1002, None), (3, 1003, 2)]
    assert [ticket_id for ticket_id, _ in before[1]] == [1, 2, 3]


def _shape(engine: Engine, table: str) -> dict[str, list[str]]:
    """A table's columns, key, indexes and constraints as the database reports them, sorted."""
    inspector = inspect(engine)
    return {
        "columns": sorted(repr(sorted(c.items())) for c in inspector.get_columns(table)),
        "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
        "indexes": sorted(repr(sorted(i.items())) for i in inspector.get_indexes(table)),
        "unique": sorted(repr(sorted(u.items())) for u in inspector.get_unique_constraints(table)),
        "checks": sorted(repr(sorted(c.items())) for c in inspector.get_check_constraints(table)),
        "foreign keys": sorted(repr(sorted(f.items())) for f in inspector.get_foreign_keys(table)),
    }


@pytest.mark.parametrize("table", ["permission_profile", "ticket"])
def test_upgrading_from_0018_keeps_every_column_index_and_constraint(
    desk_at_0018: Engine, table: str
) -> None:
    before = _shape(desk_at_0018, table)
    upgrade_core(desk_at_0018)
    assert _shape(desk_at_0018, table) == before


def test_after_upgrading_from_0018_a_new_ticket_takes_the_next_number_and_no_deleted_id(
    desk_at_0018: Engine,
) -> None:
    upgrade_core(desk_at_0018)
    with Session(desk_at_0018) as session:
        department = session.scalars(select(Department)).one()
        ticket = _create_ticket(system_unit(session, None), department)
        session.commit()
        assert (ticket.id, ticket.number) == (5, 1005)


def test_after_upgrading_from_0018_a_new_profile_takes_no_deleted_profiles_id(
    desk_at_0018: Engine,
) -> None:
    with desk_at_0018.connect() as connection:
        deleted_id = connection.execute(
            text(
                "SELECT CAST(entity_id AS INTEGER) FROM audit_entry"
                " WHERE entity_type = 'permission_profile' AND action = 'delete'"
            )
        ).scalar_one()
    upgrade_core(desk_at_0018)
    with Session(desk_at_0018) as session:
        profile = org.create_profile(
            system_unit(session, None), name="Weekend shift", permissions=[]
        )
        session.commit()
        assert profile.id == deleted_id + 1


def test_downgrading_to_0018_keeps_every_ticket_and_autoincrement(
    desk_at_0018: Engine, backend_name: str
) -> None:
    before = _tickets_and_status_changes(desk_at_0018)
    upgrade_core(desk_at_0018)
    _downgrade_core(desk_at_0018, "0018_core")
    assert _revision(desk_at_0018) == "0018_core"
    assert _tickets_and_status_changes(desk_at_0018) == before
    if backend_name == "sqlite":
        with desk_at_0018.connect() as connection:
            created = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE name IN ('ticket', 'permission_profile')")
            ).scalars()
            assert ["AUTOINCREMENT" in sql for sql in created] == [True, True]


def test_upgrading_again_after_downgrading_to_0018_issues_no_deleted_ticket_id(
    desk_at_0018: Engine,
) -> None:
    upgrade_core(desk_at_0018)
    _downgrade_core(desk_at_0018, "0018_core")
    upgrade_core(desk_at_0018)
    with Session(desk_at_0018) as session:
        department = session.scalars(select(Department)).one()
        assert _create_ticket(system_unit(session, None), department).id == 5
