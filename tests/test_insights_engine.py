"""Customer Insights' figures, kept by events, equal to a rebuild and to the definitions.

Every test drives the desk through the host's services (events and synchronous hooks on) and
checks the figures the tables give against numbers worked out by hand from the metric
definitions; ``_exact`` also checks that a rebuild from scratch stores the very same rows and
that the direct computation from the raw threads agrees.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

import plugins.customer_insights as customer_insights
from core.cli import main
from core.host import Host
from core.importer import run_import
from core.models import (
    Account,
    Agent,
    Contact,
    Department,
    HookError,
    Installation,
    OutboxEvent,
)
from hostapi import Event, events
from marketplace_registry import lifecycle
from plugins.customer_insights import aggregates, metrics
from plugins.customer_insights.metrics import Figures
from tests.factories import install_for, system_unit, ticket_panel_html
from tests.insights_helpers import PLUGIN, Desk, at

pytest_plugins = ["tests.insights_fixtures"]

MINUTE_US = 60_000_000


def iso(minutes: float) -> str:
    """The ISO 8601 time ``minutes`` after the desk's start."""
    return at(minutes).isoformat()


@pytest.fixture
def customer(make_contact: Callable[..., Contact]) -> Contact:
    return make_contact("Yamada")


def _exact(desk: Desk, installation: int, kind: str, customer_id: int) -> Figures:
    """The stored figures, after checking that a rebuild and the direct computation agree."""
    stored = desk.stored(installation)
    kept = desk.figures(installation, kind, customer_id)
    assert desk.direct(installation, kind, customer_id) == kept
    desk.rebuild(installation)
    assert desk.stored(installation) == stored
    return kept


def test_a_ticket_without_replies_has_no_response_figures(
    desk: Desk, support: Department, customer: Contact
) -> None:
    installation = desk.install([support.id])
    desk.ticket(customer, support.id, 0)

    figures = _exact(desk, installation, "contact", customer.id)

    assert (figures.tickets, figures.open_tickets, figures.public_replies) == (1, 1, 0)
    assert figures.first_response_seconds is None
    assert figures.response_seconds is None
    assert figures.resolution_seconds is None


def test_internal_comments_and_notifications_are_neither_replies_nor_customer_messages(
    desk: Desk, support: Department, customer: Contact, agent: Agent
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)
    desk.thread(ticket, "comment", 5, agent=agent)
    desk.thread(ticket, "notification", 6)
    desk.reply(ticket, 30, agent)

    figures = _exact(desk, installation, "contact", customer.id)

    assert figures.public_replies == 1
    assert figures.first_response_seconds == 30 * 60
    assert (figures.responses, figures.response_seconds) == (1, 30 * 60)


def test_an_agent_opened_ticket_is_answered_from_the_customers_first_message(
    desk: Desk, support: Department, customer: Contact, agent: Agent
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0, raised_by="agent")
    desk.reply(ticket, 10, agent)  # the agent's own opening words answer nothing
    desk.customer_writes(ticket, 60)
    desk.reply(ticket, 75, agent)

    figures = _exact(desk, installation, "contact", customer.id)

    assert figures.first_response_seconds == 15 * 60
    assert (figures.responses, figures.response_seconds) == (1, 15 * 60)
    assert figures.public_replies == 2


def test_several_replies_to_one_message_count_once(
    desk: Desk, support: Department, customer: Contact, agent: Agent
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)
    desk.reply(ticket, 20, agent)
    desk.reply(ticket, 25, agent)
    desk.reply(ticket, 90, agent)

    figures = _exact(desk, installation, "contact", customer.id)

    assert (figures.responses, figures.response_us) == (1, 20 * MINUTE_US)
    assert figures.public_replies == 3


def test_a_customer_writing_twice_is_answered_from_the_earlier_message(
    desk: Desk, support: Department, customer: Contact, agent: Agent
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)
    desk.reply(ticket, 10, agent)
    desk.customer_writes(ticket, 100)
    desk.customer_writes(ticket, 130)
    desk.reply(ticket, 160, agent)

    figures = _exact(desk, installation, "contact", customer.id)

    # Replies: 10 − 0 and 160 − 100; the first response is the first of them.
    assert (figures.responses, figures.response_us) == (2, 70 * MINUTE_US)
    assert figures.response_seconds == 35 * 60
    assert figures.first_response_seconds == 10 * 60


def test_time_closed_before_a_reopen_is_not_resolution_time(
    desk: Desk, support: Department, customer: Contact
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)
    desk.status(ticket, "Closed", 60)
    desk.status(ticket, "Open", 180)  # closed for 120 minutes
    desk.status(ticket, "On Hold", 200)
    desk.status(ticket, "Resolved", 300)

    figures = _exact(desk, installation, "contact", customer.id)

    assert (figures.closed_tickets, figures.resolutions) == (1, 1)
    assert figures.resolution_seconds == (300 - 120) * 60


def test_closed_to_resolved_is_not_a_new_close(
    desk: Desk, support: Department, customer: Contact
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)
    desk.status(ticket, "Closed", 60)
    desk.status(ticket, "Resolved", 500)

    assert _exact(desk, installation, "contact", customer.id).resolution_seconds == 60 * 60


def test_a_reopened_ticket_has_no_resolution_until_it_closes_again(
    desk: Desk, support: Department, customer: Contact
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)
    desk.status(ticket, "Closed", 60)
    desk.status(ticket, "Escalated", 90)

    figures = _exact(desk, installation, "contact", customer.id)

    assert (figures.open_tickets, figures.closed_tickets, figures.resolutions) == (1, 0, 0)
    assert figures.resolution_seconds is None


def test_the_latest_rating_of_a_ticket_wins(
    desk: Desk, support: Department, customer: Contact
) -> None:
    installation = desk.install([support.id])
    first = desk.ticket(customer, support.id, 0)
    second = desk.ticket(customer, support.id, 1)
    desk.rate(first, "bad", 10)
    desk.rate(first, "good", 20)
    desk.rate(second, "okay", 30)
    desk.rate(second, "bad", 25)  # recorded later, given earlier: not the latest

    figures = _exact(desk, installation, "contact", customer.id)

    assert (figures.rated_good, figures.rated_okay, figures.rated_bad) == (1, 1, 0)


def test_an_account_sums_the_tickets_whose_account_it_is(
    desk: Desk,
    support: Department,
    agent: Agent,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
) -> None:
    acme = make_account("Acme")
    hanako = make_contact("Yamada", account=acme)
    ichiro = make_contact("Suzuki", email="ichiro@example.com", account=acme)
    loner = make_contact("Sato", email="sato@example.com")
    installation = desk.install([support.id])
    for contact, answered_after in ((hanako, 10), (ichiro, 30)):
        ticket = desk.ticket(contact, support.id, 0)
        desk.reply(ticket, answered_after, agent)
    desk.ticket(loner, support.id, 0)
    desk.ticket(loner, support.id, 0, account=acme)  # linked to the account by hand

    figures = _exact(desk, installation, "account", acme.id)

    assert figures.tickets == 3
    assert figures.first_response_seconds == 20 * 60


def test_an_agent_sees_only_the_departments_both_they_and_the_installation_cover(
    desk: Desk,
    support: Department,
    sales: Department,
    customer: Contact,
    agent: Agent,
    make_agent: Callable[..., Agent],
) -> None:
    support_only = make_agent("support@example.com", departments=[support])
    installation = desk.install([support.id, sales.id])
    in_support = desk.ticket(customer, support.id, 0)
    in_sales = desk.ticket(customer, sales.id, 0)
    desk.reply(in_support, 10, agent)
    desk.reply(in_sales, 50, agent)

    everything = desk.figures(installation, "contact", customer.id, agent)
    support_view = desk.figures(installation, "contact", customer.id, support_only)

    assert everything == desk.direct(installation, "contact", customer.id, agent)
    assert (everything.tickets, everything.first_response_seconds) == (2, 30 * 60)
    assert support_view == desk.direct(installation, "contact", customer.id, support_only)
    assert (support_view.tickets, support_view.first_response_seconds) == (1, 10 * 60)


def test_a_ticket_moved_between_departments_counts_where_it_is_now(
    desk: Desk,
    support: Department,
    sales: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
) -> None:
    support_only = make_agent("support@example.com", departments=[support])
    installation = desk.install([support.id, sales.id])
    ticket = desk.ticket(customer, support.id, 0)
    desk.update(ticket, department_id=sales.id)

    assert _exact(desk, installation, "contact", customer.id).tickets == 1
    assert desk.figures(installation, "contact", customer.id, support_only).tickets == 0


def test_a_ticket_moved_out_of_the_installations_departments_leaves_its_figures(
    desk: Desk, support: Department, sales: Department, customer: Contact
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)
    desk.update(ticket, department_id=sales.id)

    assert _exact(desk, installation, "contact", customer.id).tickets == 0
    assert desk.stored(installation) == ([], [])


def test_a_ticket_given_to_another_contact_moves_its_figures(
    desk: Desk,
    support: Department,
    customer: Contact,
    agent: Agent,
    make_contact: Callable[..., Contact],
) -> None:
    other = make_contact("Suzuki", email="ichiro@example.com")
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)
    desk.reply(ticket, 10, agent)
    desk.update(ticket, contact_id=other.id)

    assert _exact(desk, installation, "contact", customer.id).tickets == 0
    assert _exact(desk, installation, "contact", other.id).first_response_seconds == 10 * 60


def test_merged_contacts_figures_add_up_on_the_survivor(
    desk: Desk,
    support: Department,
    customer: Contact,
    agent: Agent,
    make_contact: Callable[..., Contact],
) -> None:
    duplicate = make_contact("Yamada", email="hanako.y@example.com")
    installation = desk.install([support.id])
    for contact, minutes in ((customer, 10), (duplicate, 20)):
        ticket = desk.ticket(contact, support.id, 0)
        desk.reply(ticket, minutes, agent)
    desk.merge_contacts(customer, duplicate)

    survivor = _exact(desk, installation, "contact", customer.id)

    assert (survivor.tickets, survivor.first_response_seconds) == (2, 15 * 60)
    assert _exact(desk, installation, "contact", duplicate.id).tickets == 0


def test_merged_accounts_figures_add_up_on_the_survivor(
    desk: Desk,
    support: Department,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
) -> None:
    acme, acme_japan = make_account("Acme"), make_account("Acme Japan")
    hanako = make_contact("Yamada", account=acme)
    ichiro = make_contact("Suzuki", email="ichiro@example.com", account=acme_japan)
    installation = desk.install([support.id])
    desk.ticket(hanako, support.id, 0)
    desk.ticket(ichiro, support.id, 0, status="Closed")
    desk.merge_accounts(acme, acme_japan)

    figures = _exact(desk, installation, "account", acme.id)

    assert (figures.open_tickets, figures.closed_tickets) == (1, 1)
    assert _exact(desk, installation, "account", acme_japan.id).tickets == 0


def test_departments_removed_from_the_installation_leave_the_figures(
    desk: Desk, support: Department, sales: Department, customer: Contact, agent: Agent
) -> None:
    installation = desk.install([support.id, sales.id])
    desk.ticket(customer, support.id, 0)
    desk.ticket(customer, sales.id, 0)

    desk.edit_departments(installation, [support.id])

    assert _exact(desk, installation, "contact", customer.id).tickets == 1
    assert desk.figures(installation, "contact", customer.id, agent).tickets == 1


def test_a_widened_installation_is_preparing_until_its_backfill_ran(
    desk: Desk, support: Department, sales: Department, customer: Contact
) -> None:
    installation = desk.install([support.id])
    desk.ticket(customer, sales.id, 0)
    desk.edit_departments(installation, [support.id, sales.id])
    with desk.host.sessions() as session:
        assert metrics.is_preparing(desk.context(session, installation))

    desk.run_backfills(installation)

    with desk.host.sessions() as session:
        assert not metrics.is_preparing(desk.context(session, installation))
    assert _exact(desk, installation, "contact", customer.id).tickets == 1


def test_a_backfill_computes_the_tickets_that_existed_before_the_install(
    desk: Desk, support: Department, customer: Contact, agent: Agent
) -> None:
    ticket = desk.ticket(customer, support.id, 0)
    desk.reply(ticket, 45, agent)
    installation = desk.install([support.id], backfilled=False)
    with desk.host.sessions() as session:
        assert metrics.is_preparing(desk.context(session, installation))
        assert metrics.figures(desk.context(session, installation), "contact", customer.id) == (
            Figures()
        )

    desk.run_backfills(installation)

    assert _exact(desk, installation, "contact", customer.id).first_response_seconds == 45 * 60


def test_the_panel_counts_come_from_the_kept_totals(
    app, desk: Desk, support: Department, customer: Contact, agent: Agent
) -> None:
    installation = desk.install([support.id])
    current = desk.ticket(customer, support.id, 0)
    desk.ticket(customer, support.id, 1, status="Closed")
    desk.ticket(customer, support.id, 2, status="On Hold")
    assert desk.figures(installation, "contact", customer.id).counts == metrics.TicketCounts(2, 1)

    html = ticket_panel_html(app, desk.host, PLUGIN, agent.id, current)

    assert html is not None
    assert 'data-metric="open">2<' in html
    assert 'data-metric="closed">1<' in html


def test_rebuild_command_recomputes_every_installation(
    runner: FlaskCliRunner, desk: Desk, support: Department, customer: Contact
) -> None:
    installation = desk.install([support.id])
    desk.ticket(customer, support.id, 0)
    before = desk.stored(installation)

    result = runner.invoke(main, ["insights", "rebuild"])

    assert result.exit_code == 0, result.output
    assert f"installation {installation}" in result.output
    assert desk.stored(installation) == before


def test_rebuild_command_refuses_an_unknown_installation(
    runner: FlaskCliRunner, desk: Desk, support: Department
) -> None:
    desk.install([support.id])

    result = runner.invoke(main, ["insights", "rebuild", "--installation", "999"])

    assert result.exit_code == 2
    assert "installation 999 is not an active installation" in result.output


def test_a_history_import_is_prepared_by_a_backfill_of_its_tickets(
    desk: Desk, db: Session, support: Department
) -> None:
    installation = desk.install([support.id])
    support.external_id = "d1"  # the file refers to the existing department by this ref
    db.commit()
    history = [
        {"type": "profile", "id": "p1", "name": "Agent"},
        {"type": "contact", "id": "c1", "last_name": "Yamada", "email": "hanako@example.jp"},
        {
            "type": "agent",
            "id": "a1",
            "email": "rin@example.com",
            "name": "Rin",
            "profile": "p1",
            "departments": ["d1"],
        },
        {
            "type": "ticket",
            "id": "t1",
            "subject": "Cannot sign in",
            "department": "d1",
            "contact": "c1",
            "channel": "email",
            "created_at": iso(0),
            "status_history": [
                {"to_status": "Open", "changed_at": iso(0)},
                {"to_status": "Closed", "changed_at": iso(60)},
                {"to_status": "Open", "changed_at": iso(120)},
                {"to_status": "Resolved", "changed_at": iso(180)},
            ],
            "threads": [
                {"kind": "outgoing", "agent": "a1", "body": "Try again?", "created_at": iso(30)},
                {"kind": "incoming", "contact": "c1", "body": "Still", "created_at": iso(120)},
                {"kind": "comment", "agent": "a1", "body": "Known bug", "created_at": iso(121)},
            ],
            "ratings": [
                {"rating": "bad", "created_at": iso(70)},
                {"rating": "good", "created_at": iso(200)},
            ],
        },
    ]
    run_import(desk.host, io.BytesIO(b"".join(json.dumps(r).encode() + b"\n" for r in history)))
    with desk.host.sessions() as session:
        contact_id = session.scalars(select(Contact.id).where(Contact.last_name == "Yamada")).one()
        assert metrics.is_preparing(desk.context(session, installation))

    desk.run_backfills(installation)
    figures = _exact(desk, installation, "contact", contact_id)

    assert (figures.tickets, figures.closed_tickets, figures.rated_good) == (1, 1, 1)
    assert figures.first_response_seconds == 30 * 60
    assert figures.resolution_seconds == (180 - 60) * 60


def test_run_job_refuses_a_job_the_extension_does_not_have(runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, ["run-job", "customer_insights", "nothing"])

    assert result.exit_code == 2
    assert "has no job 'nothing'" in result.output


def test_a_failed_synchronous_update_is_repaired_when_the_event_is_redelivered(
    desk: Desk,
    support: Department,
    customer: Contact,
    agent: Agent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)

    def fail(*args: object) -> None:
        raise RuntimeError("the database hiccuped")

    with monkeypatch.context() as patched:
        patched.setattr(aggregates, "refresh_ticket", fail)
        desk.reply(ticket, 25, agent)  # the reply is kept; the figures miss it
    assert desk.figures(installation, "contact", customer.id).public_replies == 0

    with desk.host.transaction() as session:
        row = session.scalars(
            select(OutboxEvent).where(OutboxEvent.name == events.THREAD_ADDED)
        ).one()
        assert row.sync_failed_installation_ids == [installation]
        event = Event(
            id=row.id,
            name=row.name,
            occurred_at=row.occurred_at,
            payload=row.payload,
            department_ids=tuple(row.department_ids),
        )
        customer_insights.deskhost_event(
            context=desk.context(session, installation), event=event, redelivered_after_error=True
        )

    assert _exact(desk, installation, "contact", customer.id).first_response_seconds == 25 * 60


def test_a_restored_installation_is_prepared_again_from_scratch(
    desk: Desk, support: Department, customer: Contact, agent: Agent
) -> None:
    installation = desk.install([support.id])
    ticket = desk.ticket(customer, support.id, 0)
    with desk.host.transaction() as session:
        lifecycle.uninstall(
            system_unit(session, desk.host),
            session.get(Installation, installation),
            confirmed=True,
            keep_data=True,
        )
    desk.reply(ticket, 40, agent)  # while archived: no event reaches the installation
    with desk.host.transaction() as session:
        unit = system_unit(session, desk.host)
        restored = lifecycle.restore(unit, session.get(Installation, installation))
        lifecycle.grant(unit, restored, desk.host.plugins.manifest(PLUGIN).scopes)
    with desk.host.sessions() as session:
        assert metrics.is_preparing(desk.context(session, installation))

    desk.run_backfills(installation)

    assert _exact(desk, installation, "contact", customer.id).first_response_seconds == 40 * 60


def test_without_the_threads_scope_no_figures_are_kept_and_the_counts_are_walked(
    app, desk: Desk, db: Session, support: Department, customer: Contact, agent: Agent
) -> None:
    with desk.host.transaction() as session:
        installation = install_for(
            session, desk.host, PLUGIN, [support.id], scopes=["desk.tickets.read"]
        ).id
    current = desk.ticket(customer, support.id, 0)
    desk.ticket(customer, support.id, 1, status="Closed")
    desk.reply(current, 5, agent)

    assert desk.stored(installation) == ([], [])
    with desk.host.sessions() as session:
        assert not metrics.figures_ready(desk.context(session, installation))
    assert db.scalars(select(HookError)).all() == []
    html = ticket_panel_html(app, desk.host, PLUGIN, agent.id, current)
    assert html is not None
    assert 'data-metric="open">1<' in html
    assert 'data-metric="closed">1<' in html


def test_manifest_announces_exactly_the_jobs_the_extension_contributes(host: Host) -> None:
    announced = {job.name for job in host.plugins.manifest(PLUGIN).jobs}

    assert announced == {spec.name for spec in customer_insights.deskhost_jobs()}


def test_rebuild_changes_nothing_on_the_demo_data(runner: FlaskCliRunner, desk: Desk) -> None:
    assert runner.invoke(main, ["demo", "--tickets", "80"]).exit_code == 0
    with desk.host.sessions() as session:
        installation = session.scalars(
            select(Installation.id).where(Installation.plugin_id == PLUGIN)
        ).one()
        contact_ids = session.scalars(select(Contact.id).order_by(Contact.id).limit(5)).all()
    desk.run_backfills(installation)
    kept = desk.stored(installation)

    assert runner.invoke(main, ["insights", "rebuild"]).exit_code == 0

    assert desk.stored(installation) == kept
    assert len(kept[0]) == 80
    for contact_id in contact_ids:
        assert desk.figures(installation, "contact", contact_id) == desk.direct(
            installation, "contact", contact_id
        )
