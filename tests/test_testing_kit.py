"""hostapi.testing as an extension's own suite uses it: customers and tickets made, what
happens on a ticket, a custom permission granted, an installation's OAuth tokens, the clock, and
the hostapi errors raised when the host refuses a step (with the REST API's status codes)."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest
from flask import Flask

from core.host import Host
from hostapi import (
    AccountRecord,
    Conflict,
    ContactRecord,
    Context,
    Event,
    Forbidden,
    LifecycleRefused,
    Location,
    NotFound,
    Panel,
    PanelTarget,
    TicketRecord,
    ValidationError,
    events,
    hookimpl,
    scopes,
)
from hostapi.testing import TEST_START, AgentClient, Desk, InstalledExtension
from tests.plugin_fixtures import manifest

Install = Callable[..., InstalledExtension]
SignIn = Callable[..., AgentClient]
MakeTicket = Callable[..., TicketRecord]
MakeContact = Callable[..., ContactRecord]
MakeAccount = Callable[..., AccountRecord]
Grant = Callable[..., str]
RunJobs = Callable[[], int]

PLUGIN_ID = "kit_probe"
APPROVE = f"{PLUGIN_ID}.approve"
GRANTED = [scopes.TICKETS_READ, scopes.THREADS_READ, scopes.CONTACTS_READ, scopes.ACCOUNTS_READ]
MANIFEST = manifest(
    PLUGIN_ID,
    scopes=GRANTED,
    permissions=[{"name": APPROVE, "label": {"en": "Approve", "ja": "承認"}}],
)
APPROVAL_PANEL = '<p class="kit-approval">Approve this ticket</p>'


class KitProbe:
    """Notes every event delivered to it; shows a panel only to agents holding APPROVE."""

    @hookimpl
    def deskhost_event(self, context: Context, event: Event, redelivered_after_error: bool) -> None:
        kind = event.payload.get("kind")
        seen = f"{event.name}:{kind}" if kind else event.name
        context.storage_set("seen", [*context.storage_get("seen", []), seen])

    @hookimpl
    def deskhost_panels(self) -> list[Panel]:
        def render(context: Context, target: PanelTarget) -> str:
            return APPROVAL_PANEL

        return [
            Panel(
                key="approval",
                location=Location.TICKET_RIGHT_PANEL,
                title="Approval",
                render=render,
                permission=APPROVE,
            )
        ]


@pytest.fixture
def deskhost_host(host: Host) -> Host:
    """Run hostapi.testing's fixtures on this run's host (both backends)."""
    return host


@pytest.fixture
def probe(deskhost_installation: Install) -> InstalledExtension:
    """The probe installed for Support and every profile, granted what it asks for."""
    return deskhost_installation(KitProbe(), manifest=MANIFEST)


def seen(installation: InstalledExtension) -> list[str]:
    """The events delivered to the probe, in order."""
    return installation.stored().get("seen", [])


def shows_approval_panel(agent: AgentClient, ticket: TicketRecord) -> bool:
    """Whether the ticket's page shows the agent the probe's approval panel."""
    response = agent.get(f"/tickets/{ticket.id}")
    assert response.status_code == 200
    return APPROVAL_PANEL in html.unescape(response.get_data(as_text=True))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------------ contacts and accounts


def test_make_contact_gives_the_contact_as_an_extension_reads_it(
    probe: InstalledExtension, deskhost_make_contact: MakeContact
) -> None:
    contact = deskhost_make_contact(email="ada@example.com", first_name="Ada", last_name="Lovelace")

    assert (contact.name, contact.email) == ("Ada Lovelace", "ada@example.com")
    assert probe.context().get_contact(contact.id) == contact


def test_make_contact_gives_every_contact_an_address_of_its_own(
    deskhost_make_contact: MakeContact,
) -> None:
    assert deskhost_make_contact().email != deskhost_make_contact().email


def test_make_contact_puts_the_contact_in_the_account_given(
    deskhost_make_contact: MakeContact, deskhost_make_account: MakeAccount
) -> None:
    account = deskhost_make_account(name="Initech")

    assert deskhost_make_contact(account=account).account_id == account.id


def test_make_contact_passes_the_services_other_fields(
    deskhost_make_contact: MakeContact,
) -> None:
    contact = deskhost_make_contact(phone="+81 3-1234-5678", tags=["vip"])

    assert (contact.phone, contact.tags) == ("+81 3-1234-5678", ("vip",))


def test_make_account_gives_the_account_as_an_extension_reads_it(
    probe: InstalledExtension, deskhost_make_account: MakeAccount
) -> None:
    account = deskhost_make_account(name="Initech", website="https://initech.example")

    assert (account.name, account.website) == ("Initech", "https://initech.example")
    assert probe.context().get_account(account.id) == account


def test_made_customers_reach_the_extension_on_run_jobs(
    probe: InstalledExtension,
    deskhost_make_contact: MakeContact,
    deskhost_make_account: MakeAccount,
    deskhost_run_jobs: RunJobs,
) -> None:
    deskhost_make_account()
    deskhost_make_contact()
    deskhost_run_jobs()

    assert sorted(seen(probe)) == [events.ACCOUNT_CREATED, events.CONTACT_CREATED]


def test_a_refused_contact_raises_a_validation_error_naming_the_field(
    deskhost_make_contact: MakeContact,
) -> None:
    with pytest.raises(ValidationError) as refused:
        deskhost_make_contact(email="not an address")

    assert list(refused.value.errors) == ["email"]


# ------------------------------------------------------------------------------ tickets


@pytest.mark.parametrize("given", ["record", "id"])
def test_make_ticket_from_a_contact_is_theirs_and_their_accounts(
    deskhost_make_ticket: MakeTicket,
    deskhost_make_contact: MakeContact,
    deskhost_make_account: MakeAccount,
    given: str,
) -> None:
    account = deskhost_make_account()
    contact = deskhost_make_contact(account=account)

    ticket = deskhost_make_ticket(contact=contact if given == "record" else contact.id)

    assert (ticket.contact_id, ticket.account_id) == (contact.id, account.id)


def test_make_ticket_keeps_its_first_arguments_positional(
    deskhost_make_ticket: MakeTicket,
) -> None:
    ticket = deskhost_make_ticket("Invoice question", "Sales", priority="high")

    assert (ticket.subject, ticket.priority) == ("Invoice question", "high")


def test_a_refused_ticket_raises_a_validation_error_naming_the_field(
    deskhost_make_ticket: MakeTicket,
) -> None:
    with pytest.raises(ValidationError) as refused:
        deskhost_make_ticket(subject="")

    assert list(refused.value.errors) == ["subject"]
    assert refused.value.status_code == 422


# ------------------------------------------------------------------------------ the desk


def test_set_status_gives_the_ticket_in_its_new_status(
    probe: InstalledExtension,
    deskhost_make_ticket: MakeTicket,
    deskhost_desk: Desk,
    deskhost_agent_client: SignIn,
) -> None:
    ticket = deskhost_make_ticket()

    changed = deskhost_desk.set_status(ticket, "On Hold", by=deskhost_agent_client())

    assert changed.status == "On Hold"
    assert probe.context().get_ticket(ticket.id) == changed


def test_set_status_acts_within_the_agents_departments(
    deskhost_make_ticket: MakeTicket, deskhost_desk: Desk, deskhost_agent_client: SignIn
) -> None:
    ticket = deskhost_make_ticket(department="Support")
    sales_agent = deskhost_agent_client(departments=["Sales"])

    with pytest.raises(NotFound) as refused:
        deskhost_desk.set_status(ticket, "On Hold", by=sales_agent)

    assert refused.value.status_code == 404


def test_a_step_the_agents_profile_does_not_permit_raises_forbidden_naming_the_permission(
    deskhost_make_ticket: MakeTicket, deskhost_desk: Desk, deskhost_agent_client: SignIn
) -> None:
    light_agent = deskhost_agent_client(profile="Light Agent")

    with pytest.raises(Forbidden) as refused:
        deskhost_desk.reply(deskhost_make_ticket(), "On our way.", by=light_agent)

    assert (refused.value.permission, refused.value.status_code) == ("ticket.reply", 403)
    assert isinstance(refused.value, PermissionError)


def test_set_status_without_an_agent_acts_as_the_host(
    probe: InstalledExtension, deskhost_make_ticket: MakeTicket, deskhost_desk: Desk
) -> None:
    ticket = deskhost_make_ticket()

    deskhost_desk.set_status(ticket.id, "Closed")

    assert probe.context().status_history(ticket.id)[-1].to_status == "Closed"


def test_customer_message_is_an_incoming_thread_of_the_tickets_contact(
    deskhost_make_ticket: MakeTicket, deskhost_make_contact: MakeContact, deskhost_desk: Desk
) -> None:
    contact = deskhost_make_contact()
    ticket = deskhost_make_ticket(contact=contact)

    thread = deskhost_desk.customer_message(ticket, "It is still on fire.")

    assert (thread.kind, thread.author_contact_id, thread.body) == (
        "incoming",
        contact.id,
        "It is still on fire.",
    )


def test_reply_is_an_outgoing_thread_of_the_agent(
    deskhost_make_ticket: MakeTicket, deskhost_desk: Desk, deskhost_agent_client: SignIn
) -> None:
    agent = deskhost_agent_client()

    thread = deskhost_desk.reply(deskhost_make_ticket(), "Try turning it off.", by=agent)

    assert (thread.kind, thread.author_agent_id) == ("outgoing", agent.agent_id)


def test_comment_is_an_internal_comment_of_the_agent(
    deskhost_make_ticket: MakeTicket, deskhost_desk: Desk, deskhost_agent_client: SignIn
) -> None:
    agent = deskhost_agent_client()

    thread = deskhost_desk.comment(deskhost_make_ticket(), "Third fire this week.", by=agent)

    assert (thread.kind, thread.author_agent_id) == ("comment", agent.agent_id)


def test_the_extension_reads_the_threads_the_desk_added(
    probe: InstalledExtension,
    deskhost_make_ticket: MakeTicket,
    deskhost_desk: Desk,
    deskhost_agent_client: SignIn,
) -> None:
    ticket = deskhost_make_ticket()
    incoming = deskhost_desk.customer_message(ticket, "Help!")
    reply = deskhost_desk.reply(ticket, "On our way.", by=deskhost_agent_client())

    assert probe.context().list_threads(ticket.id) == [incoming, reply]


def test_rate_records_the_customers_rating_with_feedback(
    probe: InstalledExtension, deskhost_make_ticket: MakeTicket, deskhost_desk: Desk
) -> None:
    ticket = deskhost_make_ticket()

    rating = deskhost_desk.rate(ticket, "good", "Quick and kind.")

    assert (rating.rating, rating.feedback) == ("good", "Quick and kind.")
    assert probe.context().ratings(ticket.id) == [rating]


def test_a_refused_rating_raises_a_validation_error_naming_the_field(
    deskhost_make_ticket: MakeTicket, deskhost_desk: Desk
) -> None:
    with pytest.raises(ValidationError) as refused:
        deskhost_desk.rate(deskhost_make_ticket(), "splendid")

    assert list(refused.value.errors) == ["rating"]


def test_every_desk_change_reaches_the_extension_on_run_jobs(
    probe: InstalledExtension,
    deskhost_make_ticket: MakeTicket,
    deskhost_desk: Desk,
    deskhost_agent_client: SignIn,
    deskhost_run_jobs: RunJobs,
) -> None:
    agent = deskhost_agent_client()
    ticket = deskhost_make_ticket()
    deskhost_desk.customer_message(ticket, "Help!")
    deskhost_desk.reply(ticket, "On our way.", by=agent)
    deskhost_desk.comment(ticket, "Bring the extinguisher.", by=agent)
    deskhost_desk.set_status(ticket, "Closed", by=agent)
    deskhost_desk.rate(ticket, "good")

    deskhost_run_jobs()

    assert seen(probe) == [
        events.TICKET_CREATED,
        f"{events.THREAD_ADDED}:incoming",
        f"{events.THREAD_ADDED}:outgoing",
        f"{events.THREAD_ADDED}:comment",
        events.TICKET_STATUS_CHANGED,
        events.RATING_ADDED,
    ]


# ---------------------------------------------------------------------------- custom permissions


def test_panel_gated_by_a_custom_permission_is_hidden_before_the_grant(
    probe: InstalledExtension, deskhost_make_ticket: MakeTicket, deskhost_agent_client: SignIn
) -> None:
    assert not shows_approval_panel(deskhost_agent_client(), deskhost_make_ticket())


def test_panel_gated_by_a_custom_permission_shows_once_it_is_granted(
    probe: InstalledExtension,
    deskhost_make_ticket: MakeTicket,
    deskhost_agent_client: SignIn,
    deskhost_grant_permission: Grant,
) -> None:
    approvers = deskhost_grant_permission(APPROVE)

    assert shows_approval_panel(deskhost_agent_client(profile=approvers), deskhost_make_ticket())


def test_granting_to_a_built_in_profile_grants_to_its_custom_clone(
    probe: InstalledExtension, deskhost_grant_permission: Grant
) -> None:
    assert deskhost_grant_permission(APPROVE, profile="Agent") == "Agent (custom)"


def test_granting_to_a_built_in_profile_again_reuses_its_clone(
    probe: InstalledExtension, deskhost_grant_permission: Grant
) -> None:
    first = deskhost_grant_permission(APPROVE)

    assert deskhost_grant_permission(APPROVE) == first


def test_the_context_sees_the_permission_granted(
    probe: InstalledExtension, deskhost_agent_client: SignIn, deskhost_grant_permission: Grant
) -> None:
    agent = deskhost_agent_client(profile=deskhost_grant_permission(APPROVE))

    assert probe.context(agent).has_permission(APPROVE)


def test_an_administrator_holds_the_permission_without_a_grant(
    probe: InstalledExtension, deskhost_grant_permission: Grant
) -> None:
    assert deskhost_grant_permission(APPROVE, profile="Administrator") == "Administrator"


def test_granting_a_permission_no_extension_declares_raises_a_validation_error(
    probe: InstalledExtension, deskhost_grant_permission: Grant
) -> None:
    with pytest.raises(ValidationError) as refused:
        deskhost_grant_permission(f"{PLUGIN_ID}.fly")

    assert list(refused.value.errors) == ["permissions"]


# ------------------------------------------------------------------------------ OAuth


def test_token_calls_the_rest_api(
    probe: InstalledExtension, deskhost_app: Flask, deskhost_make_ticket: MakeTicket
) -> None:
    ticket = deskhost_make_ticket()

    answer = deskhost_app.test_client().get(
        f"/api/v1/tickets/{ticket.id}", headers=bearer(probe.token())
    )

    assert (answer.status_code, answer.json["subject"]) == (200, ticket.subject)


def test_token_carries_the_granted_scopes(probe: InstalledExtension) -> None:
    described = probe.introspect(probe.token())

    assert described["active"] is True
    assert described["scope"].split() == sorted(GRANTED)


def test_token_carries_the_scopes_asked_for(probe: InstalledExtension) -> None:
    described = probe.introspect(probe.token([scopes.TICKETS_READ]))

    assert described["scope"] == scopes.TICKETS_READ


def test_token_for_a_scope_not_granted_raises_a_validation_error(
    probe: InstalledExtension,
) -> None:
    with pytest.raises(ValidationError) as refused:
        probe.token([scopes.TICKETS_WRITE])

    assert list(refused.value.errors) == ["scopes"]


def test_token_of_an_installation_awaiting_authorization_is_refused(
    deskhost_installation: Install,
) -> None:
    waiting = deskhost_installation(KitProbe(), manifest=MANIFEST, authorize=False)

    with pytest.raises(LifecycleRefused):
        waiting.token()


def test_token_approved_by_an_agent_who_may_not_manage_the_marketplace_is_forbidden(
    probe: InstalledExtension, deskhost_agent_client: SignIn
) -> None:
    with pytest.raises(Forbidden) as refused:
        probe.token(by=deskhost_agent_client())

    assert refused.value.permission == "marketplace.manage"


def test_token_of_a_client_registered_by_the_test(probe: InstalledExtension) -> None:
    client = probe.register_client(name="Worker", redirect_uris=["https://worker.example/cb"])

    described = probe.introspect(probe.token(client=client))

    assert (described["active"], described["client_id"]) == (True, client.client_id)


@pytest.mark.parametrize("keep_data", [True, False], ids=["keep", "purge"])
def test_uninstall_revokes_the_tokens(
    probe: InstalledExtension, deskhost_app: Flask, keep_data: bool
) -> None:
    token = probe.token()

    probe.uninstall(keep_data=keep_data)

    assert probe.introspect(token) == {"active": False}
    assert (
        deskhost_app.test_client().get("/api/v1/tickets", headers=bearer(token)).status_code == 401
    )


def test_a_restored_installation_gets_its_tokens_through_a_new_client(
    probe: InstalledExtension,
) -> None:
    before = probe.introspect(probe.token())["client_id"]
    probe.uninstall(keep_data=True)
    probe.restore()
    probe.grant()

    described = probe.introspect(probe.token())

    assert described["active"] is True and described["client_id"] != before


def test_registering_a_client_for_an_archived_installation_is_refused(
    probe: InstalledExtension,
) -> None:
    probe.uninstall(keep_data=True)

    with pytest.raises(LifecycleRefused):
        probe.register_client()


# ---------------------------------------------------------------------------- lifecycle refusals


def test_restoring_a_live_installation_raises_lifecycle_refused(
    probe: InstalledExtension,
) -> None:
    with pytest.raises(LifecycleRefused) as refused:
        probe.restore()

    assert refused.value.status_code == 409


def test_settings_the_manifest_does_not_declare_raise_a_validation_error(
    probe: InstalledExtension,
) -> None:
    with pytest.raises(ValidationError) as refused:
        probe.update_settings({"colour": "red"})

    assert list(refused.value.errors) == ["settings.colour"]


@pytest.mark.parametrize(
    ("error", "status_code"),
    [(NotFound, 404), (Forbidden, 403), (Conflict, 409), (LifecycleRefused, 409)],
)
def test_every_refusal_carries_the_status_the_rest_api_answers_it_with(
    error: type[Exception], status_code: int
) -> None:
    assert error.status_code == status_code  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ the clock


def test_clock_starts_stopped_at_test_start(deskhost_clock: ModuleType) -> None:
    assert deskhost_clock.now() == TEST_START


def test_clock_moves_on(deskhost_clock: ModuleType) -> None:
    deskhost_clock.advance(timedelta(days=1))

    assert deskhost_clock.now() == TEST_START + timedelta(days=1)


def test_clock_is_set_to_any_instant_earlier_ones_included(
    deskhost_clock: ModuleType,
) -> None:
    deskhost_clock.freeze(datetime(2025, 12, 31, 23, 59, tzinfo=UTC))

    assert deskhost_clock.now() == datetime(2025, 12, 31, 23, 59, tzinfo=UTC)


def test_made_records_carry_the_clocks_time(
    deskhost_clock: ModuleType, deskhost_make_ticket: MakeTicket
) -> None:
    deskhost_clock.advance(timedelta(hours=2))

    assert deskhost_make_ticket().created_at == TEST_START + timedelta(hours=2)
