"""Synchronous event dispatch: per installation, under savepoints, isolated from failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import (
    Department,
    HookError,
    InstallationStorage,
    OutboxEvent,
    Ticket,
)
from core.services import activities, customers, org, tickets
from core.services.base import Actor, Unit
from hostapi import Event, events, scopes
from tests.factories import install_for
from tests.plugin_fixtures import entry_point


@pytest.fixture
def load_fixture_plugins(host: Host) -> Iterator[Callable[..., None]]:
    """Load test plugins through entry points, as the host loads real ones; unload after."""
    loaded: list[str] = []

    def load(*names: str) -> None:
        host.plugins.load_entry_points([entry_point(name) for name in names])
        for name in names:
            assert name in host.plugins.loaded, host.plugins.errors.get(name)
            loaded.append(name)

    yield load
    for name in loaded:
        host.plugins.unregister_plugin(name)


@pytest.fixture
def activate(host: Host) -> Callable[..., int]:
    """Install and authorize a loaded plugin for some departments; returns the installation id."""

    def make(
        plugin_id: str, departments: list[Department], granted: list[str] | None = None
    ) -> int:
        with host.transaction() as session:
            return install_for(
                session, host, plugin_id, [d.id for d in departments], scopes=granted
            ).id

    return make


def _create_ticket(host: Host, department: Department) -> int:
    with host.transaction() as session:
        unit = Unit(session, Actor.system("test"), host)
        ticket = tickets.create_ticket(
            unit, subject="Printer on fire", department_id=department.id, channel="email"
        )
        return ticket.id


def _stored(db: Session, installation_id: int, key: str) -> object:
    row = db.get(InstallationStorage, (installation_id, key))
    return None if row is None else row.value


def test_raising_hook_neither_stops_the_ticket_change_nor_the_other_extensions(
    host: Host,
    db: Session,
    make_department: Callable[..., Department],
    load_fixture_plugins: Callable[..., None],
    activate: Callable[..., int],
) -> None:
    support = make_department("Support")
    load_fixture_plugins("raiser", "recorder")
    raiser = activate("raiser", [support])
    recorder = activate("recorder", [support])

    ticket_id = _create_ticket(host, support)

    assert db.get(Ticket, ticket_id) is not None
    outbox = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.TICKET_CREATED)).one()
    assert _stored(db, recorder, "seen") == [[events.TICKET_CREATED, outbox.id]]
    error = db.scalars(select(HookError)).one()
    assert (error.plugin_id, error.installation_id, error.hook, error.event_id) == (
        "raiser",
        raiser,
        "deskhost_event_sync",
        outbox.id,
    )
    assert "cannot handle ticket.created" in error.error


def test_raising_hook_loses_only_its_own_savepoint(
    host: Host,
    db: Session,
    make_department: Callable[..., Department],
    load_fixture_plugins: Callable[..., None],
    activate: Callable[..., int],
) -> None:
    support = make_department("Support")
    load_fixture_plugins("raiser")
    raiser = activate("raiser", [support])

    _create_ticket(host, support)

    assert _stored(db, raiser, "half_done") is None


def test_outbox_row_names_installations_whose_sync_hook_failed(
    host: Host,
    db: Session,
    make_department: Callable[..., Department],
    load_fixture_plugins: Callable[..., None],
    activate: Callable[..., int],
) -> None:
    support = make_department("Support")
    load_fixture_plugins("raiser", "recorder")
    raiser = activate("raiser", [support])
    activate("recorder", [support])

    _create_ticket(host, support)

    outbox = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.TICKET_CREATED)).one()
    assert outbox.sync_failed_installation_ids == [raiser]


def test_installation_not_covering_the_department_gets_nothing(
    host: Host,
    db: Session,
    make_department: Callable[..., Department],
    load_fixture_plugins: Callable[..., None],
    activate: Callable[..., int],
) -> None:
    support, sales = make_department("Support"), make_department("Sales")
    load_fixture_plugins("recorder")
    covering = activate("recorder", [support])
    elsewhere = activate("recorder", [sales])

    _create_ticket(host, support)

    assert _stored(db, covering, "seen") is not None
    assert _stored(db, elsewhere, "seen") is None


def test_installation_awaiting_authorization_gets_nothing(
    host: Host,
    db: Session,
    make_department: Callable[..., Department],
    load_fixture_plugins: Callable[..., None],
) -> None:
    support = make_department("Support")
    load_fixture_plugins("recorder")
    with host.transaction() as session:
        pending = install_for(session, host, "recorder", [support.id], authorize=False).id

    _create_ticket(host, support)

    assert _stored(db, pending, "seen") is None


@pytest.mark.parametrize(
    ("scope", "change", "event_name"),
    [
        (
            scopes.CONTACTS_READ,
            lambda unit: customers.create_contact(unit, last_name="Sato"),
            events.CONTACT_CREATED,
        ),
        (
            scopes.SETTINGS_READ,
            lambda unit: org.create_department(unit, name="Billing"),
            events.DEPARTMENT_CREATED,
        ),
        (
            scopes.SETTINGS_READ,
            lambda unit: tickets.create_status(unit, name="Awaiting parts", status_type="on_hold"),
            events.STATUS_CREATED,
        ),
    ],
    ids=["contact", "department", "status"],
)
def test_organisation_wide_events_go_to_installations_granted_their_scope(
    host: Host,
    db: Session,
    make_department: Callable[..., Department],
    load_fixture_plugins: Callable[..., None],
    activate: Callable[..., int],
    scope: str,
    change: Callable[[Unit], object],
    event_name: str,
) -> None:
    support, sales = make_department("Support"), make_department("Sales")
    load_fixture_plugins("recorder")
    reader = activate("recorder", [sales], [scopes.TICKETS_READ, scope])
    not_reader = activate("recorder", [support], [scopes.TICKETS_READ])

    with host.transaction() as session:
        change(Unit(session, Actor.system("test"), host))

    assert [name for name, _ in _stored(db, reader, "seen")] == [event_name]
    assert _stored(db, not_reader, "seen") is None


def test_installations_for_a_department_move_include_both_departments(
    host: Host,
    db: Session,
    make_department: Callable[..., Department],
    load_fixture_plugins: Callable[..., None],
    activate: Callable[..., int],
) -> None:
    support, sales, legal = (make_department(n) for n in ("Support", "Sales", "Legal"))
    load_fixture_plugins("recorder")
    ids = [activate("recorder", [d]) for d in (support, sales, legal)]
    move = Event(
        id="e1",
        name=events.TICKET_UPDATED,
        occurred_at=datetime.now(UTC),
        payload={},
        department_ids=(support.id, sales.id),
    )

    found = host.plugins.installations_for(db, move)

    assert [(i.id, i.plugin_id) for i in found] == [(ids[0], "recorder"), (ids[1], "recorder")]
    assert [i.department_ids for i in found] == [{support.id}, {sales.id}]


def test_every_kind_of_change_writes_its_event_to_the_outbox(
    host: Host, db: Session, make_department: Callable[..., Department]
) -> None:
    support = make_department("Support")
    with host.transaction() as session:
        unit = Unit(session, Actor.system("test"), host)
        contact = customers.create_contact(unit, last_name="Sato")
        org.create_department(unit, name="Billing")
        agent = org.create_agent(
            unit,
            email="new@example.com",
            name="New Agent",
            password="a long password",
            profile_name="Agent",
            department_ids=[support.id],
        )
        org.update_agent(unit, agent, name="Renamed Agent")
        org.create_profile(unit, name="Auditors", permissions=["audit.view"])
        org.update_organisation(unit, timezone="Asia/Tokyo")
        product = customers.create_product(unit, name="Router X1")
        customers.link_product(unit, product, contact=contact)
        activities.create_activity(unit, kind="call", subject="Follow-up", contact_id=contact.id)

    names = set(db.scalars(select(OutboxEvent.name)))
    assert names >= {
        events.CONTACT_CREATED,
        events.DEPARTMENT_CREATED,
        events.AGENT_CREATED,
        events.AGENT_UPDATED,
        events.PROFILE_CREATED,
        events.ORGANISATION_UPDATED,
        events.PRODUCT_CREATED,
        events.PRODUCT_LINKED,
        events.ACTIVITY_CREATED,
    }


def test_ticket_events_reach_synchronous_hooks_while_the_change_holds_the_ticket(
    host: Host,
    db: Session,
    make_department: Callable[..., Department],
    load_fixture_plugins: Callable[..., None],
    activate: Callable[..., int],
) -> None:
    # Changes to one ticket run one after the other: what a hook reads of the ticket's history
    # is complete. Back-dated threads and ratings do not update the row: they lock it.
    if host.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write transactions hold the whole database")
    support = make_department("Support")
    load_fixture_plugins("lock_probe")
    probe = activate("lock_probe", [support])
    ticket_id = _create_ticket(host, support)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    changes: list[Callable[[Unit, Ticket], object]] = [
        lambda unit, ticket: tickets.add_thread(unit, ticket, kind="incoming", body="Hello"),
        lambda unit, ticket: tickets.add_thread(
            unit, ticket, kind="incoming", body="Earlier", created_at=long_ago
        ),
        lambda unit, ticket: tickets.add_rating(unit, ticket, "good"),
        lambda unit, ticket: tickets.add_rating(unit, ticket, "bad", created_at=long_ago),
        lambda unit, ticket: tickets.change_status(unit, ticket, "Closed"),
        lambda unit, ticket: tickets.update_ticket(unit, ticket, priority="high"),
    ]
    for change in changes:
        with host.transaction() as session:
            change(Unit(session, Actor.system("test"), host), session.get(Ticket, ticket_id))

    locks = _stored(db, probe, "locks")

    assert locks == [
        [name, True]
        for name in (
            events.TICKET_CREATED,
            events.THREAD_ADDED,
            events.THREAD_ADDED,
            events.RATING_ADDED,
            events.RATING_ADDED,
            events.TICKET_STATUS_CHANGED,
            events.TICKET_UPDATED,
        )
    ]
