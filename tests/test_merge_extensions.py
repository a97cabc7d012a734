"""After a merge, extensions see the survivor: the merged event and the bundled panels."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Contact, Department, InstallationStorage, Ticket
from core.services import customers, merge
from core.services.base import Actor, Unit
from hostapi import events, scopes
from tests.factories import install_for, ticket_panel_html
from tests.insights_helpers import finish_backfills
from tests.plugin_fixtures import entry_point


@pytest.fixture
def duplicates(make_contact: Callable[..., Contact]) -> tuple[Contact, Contact]:
    return make_contact("Yamada"), make_contact("Yamada", first_name="Hana")


def _merge(host: Host, survivor_id: int, other_id: int) -> None:
    with host.transaction() as session:
        unit = Unit(session, Actor.system("test"), host)
        merge.merge_contacts(
            unit, customers.get_contact(unit, survivor_id), [customers.get_contact(unit, other_id)]
        )


def _install(host: Host, plugin_id: str, department: Department) -> int:
    with host.transaction() as session:
        return install_for(session, host, plugin_id, [department.id]).id


@pytest.fixture
def recorder(host: Host) -> Iterator[None]:
    host.plugins.load_entry_points([entry_point("recorder")])
    yield
    host.plugins.unregister_plugin("recorder")


def test_an_extension_with_the_contacts_scope_receives_the_merged_event(
    host: Host,
    db: Session,
    department: Department,
    recorder: None,
    duplicates: tuple[Contact, Contact],
) -> None:
    survivor, other = duplicates
    with host.transaction() as session:
        installation_id = install_for(
            session, host, "recorder", [department.id], scopes=[scopes.CONTACTS_READ]
        ).id

    _merge(host, survivor.id, other.id)

    seen = db.get(InstallationStorage, (installation_id, "seen")).value
    assert events.CONTACT_MERGED in [name for name, _id in seen]


def test_insights_count_the_merged_contacts_tickets_under_the_survivor(
    app: Flask,
    host: Host,
    department: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
    duplicates: tuple[Contact, Contact],
) -> None:
    survivor, other = duplicates
    _install(host, "customer_insights", department)
    agent = make_agent(departments=[department])
    current = make_ticket(contact=survivor, status="Open")
    make_ticket(contact=other, status="Open")
    make_ticket(contact=other, status="Closed")
    finish_backfills(host)  # the tickets were made without extension hooks: count them first

    _merge(host, survivor.id, other.id)

    html = ticket_panel_html(app, host, "customer_insights", agent.id, current.id)
    assert html is not None
    counts = dict(re.findall(r'data-metric="(open|closed)">(\d+)<', html))
    assert counts == {"open": "2", "closed": "1"}


def test_history_lists_the_merged_contacts_tickets_beside_the_survivors(
    app: Flask,
    host: Host,
    department: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
    duplicates: tuple[Contact, Contact],
) -> None:
    survivor, other = duplicates
    _install(host, "ticket_history", department)
    agent = make_agent(departments=[department])
    current = make_ticket(contact=survivor)
    moved = make_ticket("Invoice missing", contact=other)

    _merge(host, survivor.id, other.id)

    html = ticket_panel_html(app, host, "ticket_history", agent.id, current.id)
    listed = [int(n) for n in re.findall(r'<li data-ticket-id="(\d+)"', html or "")]
    assert listed == [moved.id]
