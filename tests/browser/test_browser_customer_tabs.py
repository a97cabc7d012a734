"""The nine related-information tabs of a contact's page in a real browser, in English and
Japanese: an admin walks every tab of a contact with a known history and opens a change to read
its values before and after; an agent of one department without the history permission sees
every tab but History."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from core.host import Host
from core.models import Account, Agent, Contact, Department, Ticket
from core.services import activities, attachments, products, tickets
from core.services import customers as customer_service
from core.services.base import Actor, Unit
from hostapi import clock
from tests.insights_helpers import PLUGIN, History, hand_made_history

pytestmark = pytest.mark.browser

TITLES = {
    "en": [
        "Overview",
        "History",
        "Activities",
        "Reactions",
        "Tickets",
        "Time entries",
        "Happiness",
        "Products",
        "Attachments",
    ],
    "ja": ["概要", "履歴", "活動", "反応", "問い合わせ", "工数", "顧客満足度", "商品", "添付"],
}
OLD_PHONE, NEW_PHONE = "03-1111-2222", "03-3333-4444"
#: How the History tab names the phone field.
PHONE = {"en": "Phone", "ja": "電話"}
#: What the Attachments tab says of an executable.
REFUSED = {"en": "Executable files cannot be attached.", "ja": "実行ファイルは添付できません。"}


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    return make_department("Sales")


@pytest.fixture
def admin(make_agent: Callable[..., Agent], support: Department, sales: Department) -> Agent:
    return make_agent(
        "admin-tabs@example.com", name="Aoi", profile="Administrator", departments=[support, sales]
    )


@pytest.fixture
def history(
    host: Host,
    support: Department,
    sales: Department,
    admin: Agent,
    make_contact: Callable[..., Contact],
    make_account: Callable[..., Account],
) -> History:
    """Customer Insights' hand-made history, and Yamada's record given something for each tab:
    a phone number changed twice, a call to make, time logged, a product and a file."""
    made = hand_made_history(host, support, sales, admin, make_contact, make_account)
    with host.transaction() as session:
        unit = Unit(session, Actor(session.get(Agent, admin.id), ip_address="192.0.2.7"), host)
        yamada = session.get(Contact, made.yamada.id)
        customer_service.update_contact(unit, yamada, phone=OLD_PHONE)
        customer_service.update_contact(unit, yamada, phone=NEW_PHONE)
        activities.create_activity(
            unit,
            kind="call",
            subject="Follow-up call",
            contact_id=yamada.id,
            due_at=clock.now() + timedelta(days=2),
        )
        tickets.add_time_entry(
            unit, session.get(Ticket, made.ticket_a), seconds=5400, billable=True
        )
        printer = products.create_product(unit, name="Printer X200", code="PX-200")
        customer_service.link_product(unit, printer, contact=yamada)
        attachments.store_attachment(
            unit,
            filename="sla-contract.pdf",
            content=b"%PDF-1.4 the signed SLA",
            contact_id=yamada.id,
            note="Signed SLA",
        )
    return made


def _upload(page: object, filename: str, content: bytes) -> None:
    """Upload a file from the Attachments tab's form, as an agent picks one."""
    form = page.locator(".attachment-form")  # type: ignore[attr-defined]
    if not form.is_visible():
        page.locator("details:has(.attachment-form) > summary").click()  # type: ignore[attr-defined]
    form.locator("#attachment-file").set_input_files(
        {"name": filename, "mimeType": "application/octet-stream", "buffer": content}
    )
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()  # type: ignore[attr-defined]


def _tab_keys(page: object) -> list[str]:
    tabs = page.locator("#customer-tabs [role=tab]")  # type: ignore[attr-defined]
    return [tabs.nth(i).get_attribute("data-tab") or "" for i in range(tabs.count())]


def _open_tab(page: object, key: str) -> object:
    page.locator(f'#customer-tabs [data-tab="{key}"][role=tab]').click()  # type: ignore[attr-defined]
    body = page.locator(f'#customer-tabs [role=tabpanel][data-tab="{key}"]')  # type: ignore[attr-defined]
    body.wait_for()
    return body


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_admin_walks_the_nine_tabs_and_reads_a_change_before_and_after(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    admin: Agent,
    history: History,
    host: Host,
    locale: str,
) -> None:
    with host.transaction() as session:
        session.get(Agent, admin.id).locale = locale
    sign_in(admin.email)
    page.goto(f"{live_server}/contacts/{history.yamada.id}")  # type: ignore[attr-defined]

    titles = page.locator("#customer-tabs [role=tab]")  # type: ignore[attr-defined]
    shown = [(titles.nth(i).text_content() or "").split()[0] for i in range(titles.count())]
    assert shown == [title.split()[0] for title in TITLES[locale]]
    keys = _tab_keys(page)
    assert keys[0] == f"{PLUGIN}.overview.{history.installation}"

    overview = _open_tab(page, keys[0])
    assert overview.locator('[data-metric="all"]').text_content() == "2"  # type: ignore[attr-defined]

    changes = _open_tab(page, "core_customer_history.contact_history")
    phone_change = changes.locator(  # type: ignore[attr-defined]
        '[data-history-entry][data-action="update"]', has_text=PHONE[locale]
    ).first
    assert "192.0.2.7" in (phone_change.text_content() or "")
    assert "Aoi" in (phone_change.text_content() or "")
    phone_change.locator("[data-history-open]").click()
    detail = page.locator("#history-detail")  # type: ignore[attr-defined]
    detail.wait_for()
    row = detail.locator('[data-field="phone"]')
    assert row.locator(".history-before").text_content() == OLD_PHONE
    assert row.locator(".history-after").text_content() == NEW_PHONE

    calls = _open_tab(page, "core_customer_activities.contact_activities")
    assert "Follow-up call" in (calls.locator("[data-activity-id]").first.text_content() or "")  # type: ignore[attr-defined]

    reactions = _open_tab(page, "core_customer_reactions.contact_reactions")
    assert reactions.locator("[data-reaction]").count() >= 3  # type: ignore[attr-defined]

    listed = _open_tab(page, "core_customer_tickets.contact_tickets")
    assert listed.locator("tr[data-ticket-id]").count() == 2  # type: ignore[attr-defined]

    time_entries = _open_tab(page, "core_customer_time_entries.contact_time_entries")
    assert time_entries.locator("[data-time-entry-id]").count() == 1  # type: ignore[attr-defined]
    assert time_entries.locator("[data-seconds]").first.get_attribute("data-seconds") == "5400"  # type: ignore[attr-defined]

    ratings = _open_tab(page, "core_customer_happiness.contact_happiness")
    assert ratings.locator("[data-rating-id]").count() == 2  # type: ignore[attr-defined]

    linked = _open_tab(page, "core_customer_products.contact_products")
    assert linked.locator(".product-name").text_content() == "Printer X200"  # type: ignore[attr-defined]

    files = _open_tab(page, "core_customer_attachments.contact_attachments")
    assert "sla-contract.pdf" in (files.text_content() or "")  # type: ignore[attr-defined]

    # An executable is refused with its reason, and the list stays as it was.
    _upload(page, "setup.exe", b"MZ\x90\x00 a program")
    refused = page.locator(".attachment-form .field-error")  # type: ignore[attr-defined]
    refused.wait_for()
    assert refused.text_content() == REFUSED[locale]
    files = page.locator("#customer-tabs [role=tabpanel]")  # type: ignore[attr-defined]
    assert files.locator("[data-attachment-id]").count() == 1
    _upload(page, "notes.txt", b"Call before ten.")
    page.wait_for_selector('[data-attachment-id] >> text="notes.txt"')  # type: ignore[attr-defined]
    assert files.locator("[data-attachment-id]").count() == 2


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_an_agent_without_the_history_permission_sees_every_tab_but_history(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    history: History,
    locale: str,
) -> None:
    agent = make_agent(f"no-history-{locale}@example.com", departments=[support], locale=locale)
    sign_in(agent.email)
    page.goto(f"{live_server}/contacts/{history.yamada.id}")  # type: ignore[attr-defined]

    keys = _tab_keys(page)
    assert len(keys) == 8
    assert not [key for key in keys if key.startswith("core_customer_history.")]
    assert (
        page.locator("#customer-tabs [role=tab]").nth(1).text_content().split()[0]
        == (  # type: ignore[attr-defined]
            TITLES[locale][2]
        )
    )
    # The endpoint refuses as the tab is absent.
    answer = page.request.get(  # type: ignore[attr-defined]
        f"{live_server}/api/v1/contacts/{history.yamada.id}/history"
    )
    assert answer.status == 403
