"""Seed 000 end to end in a real browser: search the marketplace, install Customer Insights for
one department and one profile, accept the terms, authorize it, see its panel where (and only
where) it applies, uninstall it with confirmation, and find its panel and its token gone."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Contact, Department, Installation, PermissionProfile, Ticket
from core.models.extensions import InstallationState
from marketplace_registry import oauth
from tests.factories import TEST_PASSWORD, system_unit

pytestmark = pytest.mark.browser

EXTENSION = "customer_insights"


@dataclass(frozen=True)
class Desk:
    """Who and what the seed-000 walk-through needs."""

    admin: Agent
    support_agent: Agent
    sales_agent: Agent
    support_ticket: Ticket
    sales_ticket: Ticket
    agent_profile: PermissionProfile


@pytest.fixture
def desk(
    db: Session,
    support: Department,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> Desk:
    sales = make_department("Sales")
    customer = make_contact("Sato", first_name="Yuki", email="yuki@example.com")
    make_ticket("Earlier question", department=support, contact=customer)
    return Desk(
        admin=make_agent(
            "admin@example.com", name="Admin", profile="Administrator", departments=[support]
        ),
        support_agent=make_agent("aiko@example.com", name="Aiko", departments=[support]),
        sales_agent=make_agent("ken@example.com", name="Ken", departments=[sales]),
        support_ticket=make_ticket("Printer on fire", department=support, contact=customer),
        sales_ticket=make_ticket("Invoice question", department=sales, contact=customer),
        agent_profile=db.scalars(
            select(PermissionProfile).where(PermissionProfile.name == "Agent")
        ).one(),
    )


@pytest.fixture
def open_as(browser, live_server: str) -> Iterator[Callable[[Agent], object]]:  # type: ignore[no-untyped-def]
    """``open_as(agent)``: a page in a browser context of its own, signed in as ``agent``."""
    contexts = []

    def sign_in(agent: Agent) -> object:
        context = browser.new_context(locale="en-US")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server}/login")
        page.fill("#email", agent.email)
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/tickets")
        return page

    yield sign_in
    for context in contexts:
        context.close()


def _shows_insights(page, live_server: str, ticket: Ticket) -> bool:  # type: ignore[no-untyped-def]
    """Whether the ticket's page shows a Customer Insights panel."""
    page.goto(f"{live_server}/tickets/{ticket.id}")
    keys = page.locator("#extension-panels details.panel").evaluate_all(
        "nodes => nodes.map(n => n.dataset.panel)"
    )
    return any(key.startswith(f"{EXTENSION}.") for key in keys)


def _extension_token(admin_page, live_server: str, host: Host, db: Session) -> str:  # type: ignore[no-untyped-def]
    """An access token of the installed extension, as its out-of-process half would get one:
    a confidential client, the admin's consent in the browser, the code exchanged with PKCE."""
    db.rollback()  # end the test session's snapshot: the install happened in the server
    installation = db.scalars(select(Installation).where(Installation.plugin_id == EXTENSION)).one()
    redirect_uri = f"{live_server}/extension-callback"
    client, secret = oauth.register_client(
        system_unit(db, host), installation, name="Insights service", redirect_uris=[redirect_uri]
    )
    db.commit()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": "desk.tickets.read",
            "state": "seed-000",
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
    )
    admin_page.goto(f"{live_server}/oauth/authorize?{query}")
    admin_page.click("#approve-button")
    admin_page.wait_for_url(f"{redirect_uri}?**")
    answer = urllib.parse.parse_qs(urllib.parse.urlsplit(admin_page.url).query)
    assert answer["state"] == ["seed-000"]
    form = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "code": answer["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": client.client_id,
            "client_secret": secret,
        }
    ).encode()
    with urllib.request.urlopen(f"{live_server}/oauth/token", data=form, timeout=10) as reply:
        return json.loads(reply.read())["access_token"]


def _api_status(live_server: str, path: str, token: str) -> int:
    request = urllib.request.Request(
        f"{live_server}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def test_seed_000_install_authorize_use_and_uninstall(  # type: ignore[no-untyped-def]
    live_server: str,
    open_as: Callable[[Agent], object],
    desk: Desk,
    support: Department,
    host: Host,
    db: Session,
) -> None:
    admin = open_as(desk.admin)

    # Search the marketplace in Japanese: both analytics extensions come up.
    admin.goto(f"{live_server}/admin/marketplace")
    admin.fill("#marketplace-search input[name=q]", "分析")
    admin.click("#marketplace-search button[type=submit]")
    assert admin.locator("#extension-customer_insights").is_visible()
    assert admin.locator("#extension-im_dashboard").is_visible()
    assert not admin.locator("#extension-salesiq").count()

    # Install for one department and one profile; the terms must be accepted.
    admin.click("#extension-customer_insights h2 a")
    admin.click("#install-button")
    admin.check(f"#install-form input[name=department_ids][value='{support.id}']")
    admin.check(f"#install-form input[name=profile_ids][value='{desk.agent_profile.id}']")
    admin.click("#install-form button[type=submit]")
    assert "Accept" in admin.inner_text("#install-form")  # refused: terms not accepted
    admin.check(f"#install-form input[name=department_ids][value='{support.id}']")
    admin.check(f"#install-form input[name=profile_ids][value='{desk.agent_profile.id}']")
    admin.check("#install-form input[name=terms_accepted]")
    admin.click("#install-form button[type=submit]")
    admin.wait_for_url(f"{live_server}/admin/marketplace/installations/*")
    installation_page = admin.url

    # Authorize on the consent page, which lists the scopes in words.
    admin.click("#authorize-button")
    admin.wait_for_url(f"{live_server}/oauth/authorize?**")
    assert "Read tickets" in admin.content()
    admin.click("#approve-button")
    admin.wait_for_url(installation_page)
    assert "active" in admin.inner_text("#installation-state").lower()

    # The agent of that department and profile sees the panel; another department's does not.
    support_agent = open_as(desk.support_agent)
    assert _shows_insights(support_agent, live_server, desk.support_ticket)
    assert "Customer Insights" in support_agent.inner_text("#extension-panels")
    sales_agent = open_as(desk.sales_agent)
    assert not _shows_insights(sales_agent, live_server, desk.sales_ticket)

    token = _extension_token(admin, live_server, host, db)
    ticket_path = f"/api/v1/tickets/{desk.support_ticket.id}"
    assert _api_status(live_server, ticket_path, token) == 200

    # Uninstall, which asks for confirmation first.
    admin.goto(installation_page)
    admin.click("#uninstall-link")
    admin.check("#uninstall-form input[name=data][value=purge]")
    admin.click("#uninstall-form button[type=submit]")  # the browser requires the checkbox
    assert admin.url.endswith("/uninstall")
    admin.check("#uninstall-form input[name=confirmed]")
    admin.click("#uninstall-form button[type=submit]")
    admin.wait_for_url(f"{live_server}/admin/marketplace/installations")
    db.rollback()
    assert not db.scalars(
        select(Installation).where(
            Installation.plugin_id == EXTENSION,
            Installation.state != InstallationState.ARCHIVED,
        )
    ).all()

    # The panel is gone and the extension's token is rejected.
    assert not _shows_insights(support_agent, live_server, desk.support_ticket)
    assert _api_status(live_server, ticket_path, token) == 401
