"""Hello Extension through its whole life on a real host: install, authorize, use, scope edit
and uninstall, with the fixtures of ``hostapi.testing`` (no conftest needed)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from importlib.metadata import distribution, entry_points
from types import ModuleType

import pytest
from flask import Flask
from hostapi import Event, TicketRecord, events
from hostapi.testing import AgentClient, InstalledExtension

import hello_extension

Install = Callable[..., InstalledExtension]
SignIn = Callable[..., AgentClient]
MakeTicket = Callable[..., TicketRecord]

_GREETING = re.compile(r'<p class="hello-extension">(.*?)</p>', re.S)


def greeting_on(client: AgentClient, ticket: TicketRecord) -> str | None:
    """The Hello panel's text on the ticket's page as the client's agent sees it, or ``None``."""
    response = client.get(f"/tickets/{ticket.id}")
    assert response.status_code == 200
    found = _GREETING.search(response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


@pytest.fixture
def support(deskhost_installation: Install) -> InstalledExtension:
    """Hello Extension installed for Support, every profile, authorized."""
    return deskhost_installation(hello_extension, departments=["Support"])


# ------------------------------------------------------------------------------ install


def test_is_found_through_its_installed_distribution() -> None:
    (entry_point,) = [
        ep for ep in entry_points(group="deskhost.plugins") if ep.name == "hello_extension"
    ]
    assert entry_point.dist is not None
    assert entry_point.dist.name == distribution("deskhost-hello-extension").name
    assert entry_point.load() is hello_extension


def test_install_starts_the_counters_at_zero(support: InstalledExtension) -> None:
    assert support.stored() == {"tickets_created": 0, "heartbeats": 0}


def test_installed_for_the_departments_chosen(support: InstalledExtension) -> None:
    assert support.departments == ["Support"]


# ------------------------------------------------------------------------------ authorize


def test_without_consent_the_installation_awaits_authorization(
    deskhost_installation: Install,
) -> None:
    installation = deskhost_installation(hello_extension, authorize=False)
    assert installation.state == "awaiting_authorization"


def test_consent_makes_the_installation_active_with_its_scope(
    deskhost_installation: Install,
) -> None:
    installation = deskhost_installation(hello_extension, authorize=False)
    installation.grant()
    assert (installation.state, installation.granted_scopes) == ("active", ["desk.tickets.read"])


def test_no_panel_before_consent(
    deskhost_installation: Install, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    deskhost_installation(hello_extension, authorize=False)
    assert greeting_on(deskhost_agent_client(), deskhost_make_ticket()) is None


# ------------------------------------------------------------------------------ use: the panel


def test_panel_greets_an_agent_of_the_department(
    support: InstalledExtension, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    ticket = deskhost_make_ticket(department="Support")
    greeting = greeting_on(deskhost_agent_client(departments=["Support"]), ticket)
    assert greeting == f"Hello! Ticket #{ticket.display_number} has seen 0 events."


def test_panel_is_absent_for_an_agent_of_another_department(
    support: InstalledExtension, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    ticket = deskhost_make_ticket(department="Sales")
    assert greeting_on(deskhost_agent_client(departments=["Sales"]), ticket) is None


def test_panel_is_absent_for_a_profile_the_installation_does_not_name(
    deskhost_installation: Install, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    deskhost_installation(hello_extension, profiles=["Support Manager"])
    assert greeting_on(deskhost_agent_client(profile="Agent"), deskhost_make_ticket()) is None


def test_panel_uses_the_greeting_setting(
    deskhost_installation: Install, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    deskhost_installation(hello_extension, settings={"greeting": "Welcome"})
    greeting = greeting_on(deskhost_agent_client(), deskhost_make_ticket())
    assert greeting is not None and greeting.startswith("Welcome! ")


def test_panel_speaks_japanese_to_a_japanese_agent(
    support: InstalledExtension, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    ticket = deskhost_make_ticket()
    greeting = greeting_on(deskhost_agent_client(locale="ja"), ticket)
    assert greeting == f"Hello！問い合わせ #{ticket.display_number} のイベントは 0 件です。"


def test_panel_counts_the_events_the_ticket_has_seen(
    support: InstalledExtension,
    deskhost_agent_client: SignIn,
    deskhost_make_ticket: MakeTicket,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    agent = deskhost_agent_client()
    ticket = deskhost_make_ticket()
    changed = agent.post(
        f"/tickets/{ticket.id}/status", data={"status": "On Hold"}, headers=agent.csrf_headers
    )
    assert changed.status_code == 302
    deskhost_run_jobs()
    # ticket.created and ticket.status_changed
    expected = f"Hello! Ticket #{ticket.display_number} has seen 2 events."
    assert greeting_on(agent, ticket) == expected


# ------------------------------------------------------------------------------ use: events


def test_counts_the_tickets_created_in_its_departments(
    support: InstalledExtension,
    deskhost_make_ticket: MakeTicket,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    deskhost_make_ticket("Printer on fire", department="Support")
    deskhost_make_ticket("Printer still on fire", department="Support")
    deskhost_make_ticket("Invoice question", department="Sales")
    deskhost_run_jobs()
    assert support.stored()["tickets_created"] == 2


def test_a_redelivered_event_is_counted_once(support: InstalledExtension) -> None:
    event = Event(
        id="3f1c9a52-0000-4000-8000-000000000001",
        name=events.TICKET_CREATED,
        occurred_at=support.context().now(),
        payload={"ticket_id": 7},
    )
    for _delivery in range(2):
        context = support.context()
        hello_extension.deskhost_event(context=context, event=event)
        context.db.commit()
    stored = support.stored()
    assert (stored["tickets_created"], stored[hello_extension.ticket_events_key(7)]) == (1, 1)


# ------------------------------------------------------------------------------ use: the job


def test_heartbeat_runs_once_per_five_minute_tick(
    support: InstalledExtension,
    deskhost_clock: ModuleType,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    deskhost_run_jobs()
    deskhost_run_jobs()
    assert support.stored()["heartbeats"] == 1


def test_heartbeat_runs_again_at_the_next_tick(
    support: InstalledExtension,
    deskhost_clock: ModuleType,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    deskhost_run_jobs()
    deskhost_clock.advance(timedelta(minutes=5))
    deskhost_run_jobs()
    stored = support.stored()
    assert (stored["heartbeats"], stored["last_heartbeat"]) == (2, deskhost_clock.now().isoformat())


# ------------------------------------------------------------------------------ scope edit


def test_widening_the_departments_shows_the_panel_to_the_other_department(
    support: InstalledExtension, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    sales_agent = deskhost_agent_client(departments=["Sales"])
    ticket = deskhost_make_ticket(department="Sales")
    support.edit_scope(departments=["Support", "Sales"])
    assert greeting_on(sales_agent, ticket) is not None


def test_narrowing_the_departments_hides_the_panel_from_the_department_left_out(
    deskhost_installation: Install,
    deskhost_agent_client: SignIn,
    deskhost_make_ticket: MakeTicket,
) -> None:
    installation = deskhost_installation(hello_extension, departments=["Support", "Sales"])
    sales_agent = deskhost_agent_client(departments=["Sales"])
    ticket = deskhost_make_ticket(department="Sales")
    installation.edit_scope(departments=["Support"])
    assert greeting_on(sales_agent, ticket) is None


# ------------------------------------------------------------------------------ uninstall


@pytest.mark.parametrize("keep_data", [True, False], ids=["keep", "purge"])
def test_uninstall_removes_the_panel(
    support: InstalledExtension,
    deskhost_agent_client: SignIn,
    deskhost_make_ticket: MakeTicket,
    keep_data: bool,
) -> None:
    agent = deskhost_agent_client()
    ticket = deskhost_make_ticket()
    support.uninstall(keep_data=keep_data)
    assert greeting_on(agent, ticket) is None


def test_uninstall_keeping_data_archives_the_installation_with_its_counts(
    support: InstalledExtension,
    deskhost_make_ticket: MakeTicket,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    deskhost_make_ticket()
    deskhost_run_jobs()
    support.uninstall(keep_data=True)
    assert (support.state, support.stored()["tickets_created"]) == ("archived", 1)


def test_uninstall_purging_data_deletes_the_installation_and_its_counts(
    support: InstalledExtension,
    deskhost_make_ticket: MakeTicket,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    deskhost_make_ticket()
    deskhost_run_jobs()
    support.uninstall(keep_data=False)
    assert (support.state, support.stored()) == (None, {})


def test_uninstalled_extension_gets_no_more_heartbeats(
    support: InstalledExtension,
    deskhost_clock: ModuleType,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    deskhost_run_jobs()
    support.uninstall(keep_data=True)
    deskhost_clock.advance(timedelta(minutes=5))
    deskhost_run_jobs()
    assert support.stored()["heartbeats"] == 1


def test_restored_installation_awaits_consent_again(support: InstalledExtension) -> None:
    support.uninstall(keep_data=True)
    support.restore()
    assert support.state == "awaiting_authorization"


def test_restored_installation_keeps_its_counts_once_authorized(
    support: InstalledExtension,
    deskhost_make_ticket: MakeTicket,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    deskhost_make_ticket()
    deskhost_run_jobs()
    support.uninstall(keep_data=True)
    support.restore()
    support.grant()
    assert (support.state, support.stored()["tickets_created"]) == ("active", 1)


# ------------------------------------------------------------------------------ the endpoint


def test_endpoint_gives_an_agent_of_the_department_the_ticket_event_count(
    support: InstalledExtension,
    deskhost_agent_client: SignIn,
    deskhost_make_ticket: MakeTicket,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    ticket = deskhost_make_ticket()
    deskhost_run_jobs()

    answer = deskhost_agent_client().get(support.api_path(f"/tickets/{ticket.id}/events"))

    assert answer.status_code == 200
    assert answer.json == {
        "ticket_id": ticket.id,
        "display_number": ticket.display_number,
        "events_seen": 1,
    }


def test_endpoint_answers_404_to_an_agent_of_another_department(
    support: InstalledExtension, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    ticket = deskhost_make_ticket()
    sales_agent = deskhost_agent_client(departments=["Sales"])

    answer = sales_agent.get(support.api_path(f"/tickets/{ticket.id}/events"))

    assert answer.status_code == 404


def test_endpoint_answers_404_for_a_ticket_outside_the_installations_departments(
    support: InstalledExtension, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    ticket = deskhost_make_ticket(department="Sales")
    agent = deskhost_agent_client(departments=["Support", "Sales"])

    answer = agent.get(support.api_path(f"/tickets/{ticket.id}/events"))

    assert answer.status_code == 404


def test_endpoint_needs_a_token_carrying_the_tickets_scope(
    support: InstalledExtension, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    ticket = deskhost_make_ticket()
    agent = deskhost_agent_client()
    path = support.api_path(f"/tickets/{ticket.id}/events")

    refused = agent.get(path, headers=agent.token_headers(["desk.contacts.read"]))
    served = agent.get(path, headers=agent.token_headers(["desk.tickets.read"]))

    assert (refused.status_code, refused.json["scope"]) == (403, "desk.tickets.read")
    assert served.status_code == 200


def test_endpoint_is_in_the_hosts_openapi_document(
    support: InstalledExtension, deskhost_app: Flask
) -> None:
    document = deskhost_app.test_client().get("/api/v1/openapi.json").json

    path = document["paths"][
        "/api/v1/ext/hello_extension/{installation_id}/tickets/{ticket_id}/events"
    ]
    assert path["get"]["security"][0] == {"bearerAuth": ["desk.tickets.read"]}


def test_endpoint_is_gone_after_uninstall(
    support: InstalledExtension, deskhost_agent_client: SignIn, deskhost_make_ticket: MakeTicket
) -> None:
    ticket = deskhost_make_ticket()
    agent = deskhost_agent_client()
    support.uninstall(keep_data=True)

    assert agent.get(support.api_path(f"/tickets/{ticket.id}/events")).status_code == 404
