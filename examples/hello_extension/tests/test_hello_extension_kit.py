"""Hello Extension tested with what ``hostapi.testing`` gained in hostapi 1.6: conversations
and ratings made through ``deskhost_make_contact`` and ``deskhost_desk``, and the
installation's OAuth tokens (``InstalledExtension.token`` and ``introspect``), revoked by an
uninstall.

This file needs hostapi 1.6 or later. ``test_hello_extension.py`` needs nothing newer than
hostapi 1.2, the oldest version the manifest accepts, and is kept as it was written before 1.6:
it is the proof that an extension's suite written against an older hostapi keeps passing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from flask import Flask
from hostapi import ContactRecord, TicketRecord
from hostapi.testing import AgentClient, Desk, InstalledExtension

import hello_extension

Install = Callable[..., InstalledExtension]
SignIn = Callable[..., AgentClient]
MakeTicket = Callable[..., TicketRecord]
MakeContact = Callable[..., ContactRecord]

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


# ------------------------------------------------------------------------------ the panel


def test_panel_counts_messages_replies_comments_and_ratings(
    support: InstalledExtension,
    deskhost_agent_client: SignIn,
    deskhost_make_contact: MakeContact,
    deskhost_make_ticket: MakeTicket,
    deskhost_desk: Desk,
    deskhost_run_jobs: Callable[[], int],
) -> None:
    agent = deskhost_agent_client()
    ticket = deskhost_make_ticket(contact=deskhost_make_contact())
    deskhost_desk.customer_message(ticket, "It is still on fire.")
    deskhost_desk.reply(ticket, "A technician is on the way.", by=agent)
    deskhost_desk.comment(ticket, "Bring the extinguisher.", by=agent)
    deskhost_desk.set_status(ticket, "Resolved", by=agent)
    deskhost_desk.rate(ticket, "good")
    deskhost_run_jobs()
    # ticket.created, three thread.added, ticket.status_changed and rating.added
    expected = f"Hello! Ticket #{ticket.display_number} has seen 6 events."
    assert greeting_on(agent, ticket) == expected


# ------------------------------------------------------------------------------ its tokens


@pytest.mark.parametrize("keep_data", [True, False], ids=["keep", "purge"])
def test_uninstall_revokes_the_installations_tokens(
    support: InstalledExtension, keep_data: bool
) -> None:
    token = support.token()
    support.uninstall(keep_data=keep_data)
    assert support.introspect(token)["active"] is False


def test_endpoint_refuses_the_installations_token_once_purged(
    support: InstalledExtension, deskhost_app: Flask, deskhost_make_ticket: MakeTicket
) -> None:
    ticket = deskhost_make_ticket()
    web = deskhost_app.test_client()
    path = support.api_path(f"/tickets/{ticket.id}/events")
    bearer = {"Authorization": f"Bearer {support.token()}"}
    assert web.get(path, headers=bearer).status_code == 200

    support.uninstall(keep_data=False)

    assert web.get(path, headers=bearer).status_code == 401
