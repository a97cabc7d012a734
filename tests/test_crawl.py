"""Every page the navigation leads to, as an admin, an agent of one department, a light agent and
a manager see it, in English and in Japanese, on the demo data: no server error, no traceback,
no link the viewer may not open, no English UI text where the Japanese catalog has a
translation (the host's catalog or an extension's), and no UI string looked up that the
Japanese catalog lacks. For an admin and an agent of one department the crawl must also have
reached Customer Insights: its figures beside a ticket (not "Preparing…": the fixture runs the
backfill jobs as the worker does), both Overview tabs with every ticket list and three pages
of one, and their CSV exports (downloads: 200 and text/csv). Every viewer must also have seen
what an extension declared (tests/declaring_extension.py) marked as added by it: its view
among the contacts' views, and for an admin its fields, status and spam rule on their admin
pages and the list of them on the consent and uninstall pages.

The crawl (tests/crawler.py) follows "Next" to the third page of every list, submits every
filter option and a search term matching more than one page, and prints one summary line per
crawl (``crawl: role=… lang=… pages=… checked=… seconds=…``), also in the terminal summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import plugins
from core import worker
from core.demo import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    AGENT_LOGIN,
    LIGHT_AGENT_LOGIN,
    MANAGER_LOGIN,
    load_demo,
)
from core.host import Host
from core.models import Agent, Contact, Department, Installation, PermissionProfile
from core.services import customers
from core.services import org as org_services
from core.services import tickets as ticket_services
from core.services.base import Actor, Unit
from core.web.i18n import TRANSLATIONS_DIR, compile_catalogs
from hostapi import clock
from marketplace_registry.lifecycle import install_and_grant_all
from plugins.customer_insights.overview import PAGE_SIZE as OVERVIEW_PAGE_SIZE
from plugins.im_dashboard import accounts as im_accounts
from plugins.im_dashboard import chats as im_chats
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.messages import IncomingMessage
from plugins.salesiq.models import Chat as SalesiqChat
from plugins.salesiq.models import ChatDepartment
from plugins.salesiq.models import Link as SalesiqLink
from tests.crawler import (
    LIST_PAGES,
    Crawler,
    CrawlReport,
    MissingTranslations,
    path_shape_of,
    ui_strings_of_catalog,
)
from tests.declaring_extension import (
    ACME_SYNC,
    ACME_SYNC_NAME,
    AWAITING_VENDOR,
    GOLD_VIEW,
    PLAN,
    TIER,
    TIER_KEY,
    VENDOR_SPAM,
    deployed,
)

#: Enough demo data for three pages of 50 in every list, for each viewer.
DEMO_TICKETS = 1_000
DEMO_CUSTOMERS = 150
#: IM chats in the demo: two pages of the inbox.
IM_DEMO_CHATS = 30
#: Who works the demo's chats (their department's), and the shape of a chat's page.
IM_INBOX_VIEWERS = ("admin", "agent")
IM_INBOX_CHAT = "/ext/im_dashboard/{id}/inbox/{id}"
#: SalesIQ chats in the demo: two pages of its chat list.
SALESIQ_DEMO_CHATS = 60
#: SalesIQ's pages an administrator reaches from the navigation (paths, ids as ``{id}``).
SALESIQ_PAGES = (
    "/ext/salesiq/{id}/integration/",
    "/ext/salesiq/{id}/integration/chats",
    "/ext/salesiq/{id}/integration/unlink",
)
#: The knowledge-base pages an administrator reaches from the navigation (paths, ids as
#: ``{id}``). The demo's few articles fit on one page: the list is not in PAGED_LISTS.
KNOWLEDGE_BASE_PAGES = (
    "/kb",
    "/kb/articles/{id}",
    "/kb/articles/new",
    "/kb/articles/{id}/edit",
    "/kb/articles/{id}/delete",
    "/kb/categories/new",
    "/kb/categories/{id}/edit",
    "/kb/categories/{id}/delete",
)
#: The lists every viewer must be able to page through to the third page.
PAGED_LISTS = ("/tickets", "/contacts", "/accounts")
#: Ticket-work pages every viewer who may work tickets must have opened (a light agent none).
TICKET_WORK_PAGES = (r"/tickets/new", r"/tickets/\d+/move")
#: The setup pages an administrator reaches from the navigation (paths, ids as ``{id}``).
ADMIN_SETUP_PAGES = (
    "/setup",
    "/setup/organisation",
    "/setup/departments",
    "/setup/departments/{id}",
    "/setup/departments/{id}/deactivate",
    "/setup/profiles",
    "/setup/profiles/{id}",
    "/setup/profiles/{id}/clone",
    "/setup/profiles/{id}/delete",
    "/setup/statuses",
    "/setup/statuses/{id}",
)
#: Setup pages a viewer reaches from the navigation, by what their profile grants
#: (product.manage: Products; audit.view: Audit log); agents and light agents have neither.
SETUP_PAGES_BY_ROLE = {
    "admin": ("/setup/products", "/setup/audit"),
    "manager": ("/setup/products",),
    "agent": (),
    "light_agent": (),
}
#: Tickets of the demo's one frequent customer: more than two pages of the Overview's list.
FREQUENT_CUSTOMER_TICKETS = 2 * OVERVIEW_PAGE_SIZE + 5
#: Viewers whose crawl must have reached Customer Insights' panel figures, both Overview tabs
#: with their ticket lists paged, and the CSV export.
INSIGHTS_VIEWERS = ("admin", "agent")
#: What shows a piece of Customer Insights on a page: markup, the same in either language.
INSIGHTS_MARKS = {
    "panel figures": 'data-metric="closed"',  # only the ticket panel counts closed tickets
    "overview figures": 'data-metric="public_replies"',  # only the Overview counts replies
}
#: The message shown instead of the figures while the backfill runs.
PREPARING = "Preparing this customer's figures; they appear when the counting is done."
#: The Overview tab of a contact's and of an account's page (``?tab=<this>.<installation>``).
OVERVIEW_TABS = {
    "contacts": "customer_insights.overview",
    "accounts": "customer_insights.account_overview",
}
#: The Overview's ticket lists (``?tickets=…``).
OVERVIEW_TICKET_LISTS = ("all", "open", "on_hold")
#: An extension deployed for the crawl that declares one object of each kind (a field of
#: contacts and one of accounts, a view, a spam rule, a status), created in the demo desk's
#: language (Japanese) when the demo installs it.
DECLARED_REQUIREMENTS = {
    "contact_fields": [TIER],
    "account_fields": [PLAN],
    "views": [GOLD_VIEW],
    "spam_rules": [VENDOR_SPAM],
    "statuses": [AWAITING_VENDOR],
}
#: What marks the declared objects on a page, the same in either language: the extension's
#: name (in "Added by …" and nowhere else on these pages), and the list of them.
REQUIREMENT_MARKS = {
    "added by": ACME_SYNC_NAME,
    "requirement list": 'class="plain requirements"',
}
#: The pages where each viewer must have seen the declared objects as added by the extension
#: (paths, ids as ``{id}``): the view among the contacts' views for everyone; the admin pages
#: of fields, statuses and spam rules for an administrator.
ADDED_BY_PAGES = {
    "admin": (
        "/contacts",
        "/admin/fields/contact",
        "/admin/fields/account",
        "/setup/statuses",
        "/admin/spam-rules",
    ),
    "manager": ("/contacts",),
    "agent": ("/contacts",),
    "light_agent": ("/contacts",),
}
#: The pages that must have listed the declared objects to an administrator.
REQUIREMENT_LIST_PAGES = ("/oauth/authorize", "/admin/marketplace/installations/{id}/uninstall")
#: Findings listed in a failure message, at most.
SHOWN_FINDINGS = 40

VIEWERS = {
    "admin": (ADMIN_EMAIL, ADMIN_PASSWORD),
    "agent": (AGENT_LOGIN.email, AGENT_LOGIN.password),
    "light_agent": (LIGHT_AGENT_LOGIN.email, LIGHT_AGENT_LOGIN.password),
    "manager": (MANAGER_LOGIN.email, MANAGER_LOGIN.password),
}


@pytest.fixture(scope="module")
def japanese_strings() -> dict[str, str]:
    """The host's Japanese UI strings and every bundled extension's."""
    compile_catalogs()
    strings = ui_strings_of_catalog(TRANSLATIONS_DIR / "ja" / "LC_MESSAGES" / "messages.mo")
    for catalog in sorted(Path(plugins.__path__[0]).glob("*/translations/ja/LC_MESSAGES/*.po")):
        strings |= ui_strings_of_catalog(catalog)
    return strings


def _connect_a_line_channel(host: Host, session: Session, installed: list[Installation]) -> None:
    """A channel account of IM Dashboard, so that its edit and disconnect pages exist, in the
    one-department agent's department, with chats enough for two pages of the inbox: some
    accepted and answered (the reply's sending fails: the channel's API is a closed port),
    some ended."""
    installation = next(i for i in installed if i.plugin_id == "im_dashboard")
    context = host.plugins.context_for(session, installation)
    department = session.scalars(
        select(Department).where(Department.external_id == AGENT_LOGIN.departments[0])
    ).one()
    saved = im_accounts.save(
        context,
        CHANNELS["line"],
        {
            "name": "LINE Support",
            "department_id": str(department.id),
            "channel_secret": "0123456789abcdef0123456789abcdef",
            "channel_access_token": "line-long-lived-access-token-7d3e",
        },
    )
    agent = context.list_agents(department.id, covered_only=True)[0]
    started = clock.now() - timedelta(hours=IM_DEMO_CHATS)
    for number in range(IM_DEMO_CHATS):
        at = started + timedelta(hours=number)
        message = IncomingMessage(
            message_id=f"demo-{number}",
            user_id=f"U{number:032x}",
            user_name=f"LINE user {number + 1}",
            phone=None,
            sent_at=at,
            kind=("text", "sticker", "location", "image")[number % 4],
            text="注文した商品について" if number % 4 == 0 else "",
            location={"latitude": 35.68, "longitude": 139.76} if number % 4 == 2 else {},
        )
        chat = im_chats.receive(context, saved.account, message, None)
        if number % 3 == 0:
            im_chats.accept(context, chat, agent)
            im_chats.reply(context, chat, agent, "ご連絡ありがとうございます。")
        if number % 5 == 0:
            im_chats.end(context, chat, agent)


def _link_salesiq(session: Session, installed: list[Installation], admin: Agent) -> None:
    """SalesIQ linked by the admin (to a product at a closed port: nothing is called while
    crawling), its departments in each mode, and chats enough for two pages of its list, some
    converted, one left without an email."""
    installation = next(i for i in installed if i.plugin_id == "salesiq")
    now = clock.now()
    session.add(
        SalesiqLink(
            installation_id=installation.id,
            base_url="http://127.0.0.1:9",
            portal="demo",
            operator_email=admin.email,
            operator_name=admin.name,
            linked_by_agent_id=admin.id,
            linked_at=now,
            state="active",
            state_changed_at=now,
            public_key="",
            connect_url="http://127.0.0.1:9/integrations/desk/connect",
        )
    )
    department = session.scalars(
        select(Department).where(Department.external_id == AGENT_LOGIN.departments[0])
    ).one()
    modes = [("Support", "mapped", department.id, True), ("Sales", "view_only", None, False)]
    modes += [("Partners", "choose", None, False), ("Recruiting", "none", None, False)]
    for number, (name, mode, desk_department_id, auto_mapped) in enumerate(modes, start=1):
        session.add(
            ChatDepartment(
                installation_id=installation.id,
                chat_department_id=str(number),
                name=name,
                mode=mode,
                desk_department_id=desk_department_id,
                auto_mapped=auto_mapped,
                notice=auto_mapped,
                updated_at=now,
            )
        )
    for number in range(SALESIQ_DEMO_CHATS):
        started = now - timedelta(hours=number)
        session.add(
            SalesiqChat(
                installation_id=installation.id,
                chat_id=f"demo-{number}",
                chat_department_id="1",
                visitor_id=f"visitor-{number}",
                visitor_name=f"訪問者 {number + 1}",
                visitor_email="" if number == 1 else f"visitor{number}@example.com",
                question="注文について",
                status=("ended", "missed", "attended")[number % 3],
                started_at=started,
                described_at=started,
                updated_at=started,
                skipped="no email" if number == 1 else "",
            )
        )


@pytest.fixture
def demo(host: Host, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    """The demo as ``deskhost demo`` loads it, smaller: every extension installed and granted
    (with one more, deployed for the crawl, that declares requirements), and the jobs that
    installing queued (Customer Insights' backfill) run as the worker runs them, so the
    figures show rather than "Preparing…"."""
    monkeypatch.setenv("DESKHOST_IM_API_LINE", "http://127.0.0.1:9")
    load_demo(host, tickets=DEMO_TICKETS, contacts=DEMO_CUSTOMERS, accounts=DEMO_CUSTOMERS)
    with deployed(host, ACME_SYNC, name=ACME_SYNC_NAME, **DECLARED_REQUIREMENTS):
        with host.transaction() as session:
            admin = session.scalars(select(Agent).where(Agent.email == ADMIN_EMAIL)).one()
            work = Unit(session, Actor(admin), host)
            frequent_customer = _give_a_frequent_customer(work)
            installed = install_and_grant_all(work)
            _fill_in_the_declared_fields(work, frequent_customer)
            _connect_a_line_channel(host, session, installed)
            _link_salesiq(session, installed, admin)
            # A custom status and an unused custom profile: their edit and delete pages exist.
            ticket_services.create_status(work, name="Awaiting parts", status_type="on_hold")
            agent_profile = session.scalars(
                select(PermissionProfile).where(PermissionProfile.name == "Agent")
            ).one()
            org_services.clone_profile(work, agent_profile, name="Tier 2")
        worker.run(host, burst=True, with_scheduler=False)
        yield host


def _fill_in_the_declared_fields(work: Unit, contact: Contact) -> None:
    """The declared fields given values on the frequent customer (whom the declared view then
    lists) and on their account, so their pages show them."""
    customers.update_contact(work, contact, custom_fields={TIER_KEY: "gold"})
    customers.update_account(work, contact.account, custom_fields={"acme_sync_plan": "Premium"})


def _give_a_frequent_customer(work: Unit) -> Contact:
    """Tickets enough for three pages of the Overview's list, in the one-department agent's
    department, for a contact with an account (no demo customer has that many); that contact.
    Made now, they are the newest tickets, so the crawl opens that contact among its first."""
    session = work.session
    department = session.scalars(
        select(Department).where(Department.external_id == AGENT_LOGIN.departments[0])
    ).one()
    contact = session.scalars(
        select(Contact).where(Contact.account_id.is_not(None)).order_by(Contact.id).limit(1)
    ).one()
    for number in range(FREQUENT_CUSTOMER_TICKETS):
        ticket_services.create_ticket(
            work,
            subject=f"Repeat order question {number + 1}",
            department_id=department.id,
            channel=("email", "phone", "chat")[number % 3],
            contact_id=contact.id,
            status="On Hold" if number % 4 == 0 else "Open",
        )
    return contact


def _signed_in(app: Flask, host: Host, email: str, password: str, language: str) -> FlaskClient:
    # The agent's own language wins over the browser's: set it, as the language switch does.
    with host.transaction() as session:
        session.scalars(select(Agent).where(Agent.email == email)).one().locale = language
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)
    assert token, "no CSRF token on the sign-in page"
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )
    assert response.status_code == 302, f"{email} could not sign in"
    return client


def _failure_message(report: CrawlReport) -> str:
    lines = [str(finding) for finding in report.findings[:SHOWN_FINDINGS]]
    if len(report.findings) > SHOWN_FINDINGS:
        lines.append(f"… and {len(report.findings) - SHOWN_FINDINGS} more")
    return "\n".join(lines)


#: The roles this file crawls as; tests/test_crawl_agents.py crawls as the others, in a file of
#: its own because the run's workers take files whole: the two files crawl at once.
ROLES_CRAWLED_HERE = ("admin", "manager")


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("role", ROLES_CRAWLED_HERE)
def test_every_page_opens_and_speaks_the_viewers_language(
    app: Flask,
    demo: Host,
    role: str,
    language: str,
    japanese_strings: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crawl_every_page(app, demo, role, language, japanese_strings, monkeypatch)


def crawl_every_page(
    app: Flask,
    demo: Host,
    role: str,
    language: str,
    japanese_strings: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Crawl the demo from ``/`` as ``role`` in ``language`` and check what it found."""
    email, password = VIEWERS[role]
    client = _signed_in(app, demo, email, password, language)
    japanese = language == "ja"
    crawler = Crawler(
        client,
        japanese_strings=japanese_strings if japanese else None,
        missing_translations=MissingTranslations(monkeypatch) if japanese else None,
        search_fallbacks=("example", "81"),
        look_for=INSIGHTS_MARKS
        | REQUIREMENT_MARKS
        | {"preparing": japanese_strings[PREPARING] if japanese else PREPARING},
    )
    report = crawler.crawl(["/"])
    line = (
        f"crawl: role={role} lang={language} pages={report.pages} checked={report.checked} "
        f"seconds={report.seconds:.1f}"
    )
    print(line)
    assert not report.findings, _failure_message(report)
    for path in PAGED_LISTS:
        assert report.deepest_page.get(path, 0) >= LIST_PAGES, f"{path}: fewer than 3 pages seen"
    opened = [p for p in report.deepest_page if any(re.fullmatch(w, p) for w in TICKET_WORK_PAGES)]
    if role == "light_agent":
        assert opened == [], f"a light agent was shown ticket-work pages: {opened}"
    else:
        for pattern in TICKET_WORK_PAGES:
            assert any(re.fullmatch(pattern, p) for p in opened), f"{pattern} never opened"
    if role == "admin":
        reached = {path_shape_of(path) for path in report.deepest_page}
        assert sorted(set(ADMIN_SETUP_PAGES) - reached) == [], "setup pages the crawl did not reach"
        assert sorted(set(SALESIQ_PAGES) - reached) == [], "SalesIQ pages the crawl did not reach"
        missing_kb = sorted(set(KNOWLEDGE_BASE_PAGES) - reached)
        assert missing_kb == [], "knowledge-base pages the crawl did not reach"
        older_chats = [p for p in report.opened if "/integration/chats?before=" in p]
        assert older_chats, "the second page of SalesIQ's chats was not opened"
    if role in IM_INBOX_VIEWERS:
        reached = {path_shape_of(path) for path in report.deepest_page}
        assert IM_INBOX_CHAT in reached, "no chat of the IM inbox was opened"
    for path in SETUP_PAGES_BY_ROLE[role]:
        assert path in report.deepest_page, f"{path}: not reached from the navigation"
    unpaged = [form for form, term in report.searches.items() if term is None]
    assert not unpaged, f"no search term gave more than one page on: {unpaged}"
    preparing = report.shown_on["preparing"]
    assert not preparing, f"Customer Insights still preparing on {preparing[:5]}"
    if role in INSIGHTS_VIEWERS:
        _assert_insights_reached(report)
    if role != "light_agent":
        _assert_ticket_history_reached(report)
    if role in CUSTOMER_TAB_VIEWERS:
        _assert_every_customer_tab_reached(report, role)
    _assert_declared_objects_shown(report, role)


def _assert_declared_objects_shown(report: CrawlReport, role: str) -> None:
    """The viewer saw the declared objects marked as added by the extension where they must,
    and an administrator saw the list of them where one consents and where one uninstalls."""
    added_by = {path_shape_of(url) for url in report.shown_on["added by"]}
    missing = sorted(set(ADDED_BY_PAGES[role]) - added_by)
    assert not missing, f"pages that did not show the extension's objects as added by it: {missing}"
    if role == "admin":
        listed = {path_shape_of(url) for url in report.shown_on["requirement list"]}
        missing = sorted(set(REQUIREMENT_LIST_PAGES) - listed)
        assert not missing, f"pages that did not list what the extension adds: {missing}"


#: Viewers whose crawl must have opened every tab of a contact's and an account's page.
CUSTOMER_TAB_VIEWERS = ("admin", "agent")
#: The tabs of a contact's and of an account's page (``?tab=``; the Overview's names its
#: installation after it), in order; the History tab only for a profile with history.view,
#: Happiness only for contacts (a contact rates).
CUSTOMER_TABS = {
    "contacts": (
        "customer_insights.overview",
        "core_customer_history.contact_history",
        "core_customer_activities.contact_activities",
        "core_customer_reactions.contact_reactions",
        "core_customer_tickets.contact_tickets",
        "core_customer_time_entries.contact_time_entries",
        "core_customer_happiness.contact_happiness",
        "core_customer_products.contact_products",
        "core_customer_attachments.contact_attachments",
    ),
    "accounts": (
        "customer_insights.account_overview",
        "core_customer_history.account_history",
        "core_customer_activities.account_activities",
        "core_customer_reactions.account_reactions",
        "core_customer_tickets.account_tickets",
        "core_customer_time_entries.account_time_entries",
        "core_customer_products.account_products",
        "core_customer_attachments.account_attachments",
    ),
}
#: The tabs a viewer's profile does not show (history.view is an administrator's).
HIDDEN_TABS = {"admin": (), "agent": ("core_customer_history.",)}


def _assert_every_customer_tab_reached(report: CrawlReport, role: str) -> None:
    """The crawl opened every tab the viewer may see on contact and account pages, and none
    it may not."""
    for plural, expected in CUSTOMER_TABS.items():
        opened = {
            dict(parse_qsl(urlsplit(url).query)).get("tab", "")
            for url in report.opened
            if path_shape_of(url) == f"/{plural}/{{id}}"
        }

        def was_opened(tab: str, opened: set[str] = opened) -> bool:
            return any(key == tab or key.startswith(f"{tab}.") for key in opened)

        hidden = HIDDEN_TABS[role]
        missing = [tab for tab in expected if not tab.startswith(hidden) and not was_opened(tab)]
        assert not missing, f"{plural}: tabs the crawl never opened: {missing}"
        shown = [tab for tab in expected if tab.startswith(hidden) and was_opened(tab)]
        assert not shown, f"{plural}: tabs shown to a viewer who may not see them: {shown}"


#: What the crawl does with Ticket History beside a ticket: its choices, by query argument.
TICKET_HISTORY_CHOICES = ("status", "q", "after", "of", "open")


def _assert_ticket_history_reached(report: CrawlReport) -> None:
    """Beside a ticket, the crawl filtered Ticket History by status and keyword, paged to
    older tickets, switched to the account's, and read a ticket in place."""
    used: set[str] = set()
    for url in report.opened:
        if path_shape_of(url) == "/tickets/{id}":
            for key, _value in parse_qsl(urlsplit(url).query):
                prefix, _, choice = key.rpartition(".")
                if prefix.startswith("history"):
                    used.add(choice)
    missing = [choice for choice in TICKET_HISTORY_CHOICES if choice not in used]
    assert not missing, f"Ticket History choices the crawl never made: {missing}"


def _assert_insights_reached(report: CrawlReport) -> None:
    """The crawl saw Customer Insights' figures beside a ticket, paged through both Overview
    tabs' ticket lists and opened their other lists, and downloaded both CSV exports."""
    panels = [u for u in report.shown_on["panel figures"] if path_shape_of(u) == "/tickets/{id}"]
    assert panels, "no ticket page showed Customer Insights' figures"
    for plural, tab in OVERVIEW_TABS.items():
        overviews = [
            u
            for u in report.shown_on["overview figures"]
            if path_shape_of(u) == f"/{plural}/{{id}}"
        ]
        assert overviews, f"no {plural} page showed the Overview's figures"
        deepest = _deepest_overview_lists(report, plural, tab)
        assert deepest.get("all", 0) >= LIST_PAGES, f"{plural} Overview: fewer than 3 pages seen"
        missing = [name for name in OVERVIEW_TICKET_LISTS if name not in deepest]
        assert not missing, f"{plural} Overview: ticket lists never opened: {missing}"
        exports = [
            mimetype
            for url, mimetype in report.downloads.items()
            if path_shape_of(url)
            == f"/api/v1/ext/customer_insights/{{id}}/{plural}/{{id}}/export.csv"
        ]
        assert exports, f"{plural} Overview: no CSV export downloaded"
        assert set(exports) == {"text/csv"}, f"{plural} Overview: the export is not CSV"


def _deepest_overview_lists(report: CrawlReport, plural: str, tab: str) -> dict[str, int]:
    """The Overview ticket lists (``?tickets=…``) the crawl opened on ``/<plural>/<id>`` pages,
    each with the deepest page of it seen."""
    deepest: dict[str, int] = {}
    for url, page_number in report.opened.items():
        query = dict(parse_qsl(urlsplit(url).query))
        if path_shape_of(url) != f"/{plural}/{{id}}" or not query.get("tab", "").startswith(
            f"{tab}."
        ):
            continue
        listed = query.get("tickets", "all")
        deepest[listed] = max(deepest.get(listed, 0), page_number)
    return deepest
