"""An administrator in a real browser, in English and in Japanese: creates a product in Setup
and links it to a contact, exports the contact list as CSV, and filters the audit log by
agent."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from core.models import Agent, Contact, Department
from core.services import customers as customer_service
from core.services.base import Actor, Unit

pytestmark = pytest.mark.browser

#: What each language shows where the test reads text.
WORDING = {
    "en": {"last_name": "Last name"},
    "ja": {"last_name": "姓"},
}


@pytest.fixture(params=["en", "ja"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def admin(make_agent: Callable[..., Agent], support: Department, language: str) -> Agent:
    return make_agent(
        "admin@example.com",
        name="Ada Admin",
        profile="Administrator",
        departments=[support],
        locale=language,
    )


@pytest.fixture
def customer(db: Session, make_contact: Callable[..., Contact]) -> Contact:
    return make_contact("山田", first_name="花子", email="hanako@example.jp")


@pytest.fixture
def colleague_change(db: Session, desk_agent: Agent, customer: Contact) -> None:
    """Another agent changed the contact: the audit log holds someone else's entry."""
    unit = Unit(db, Actor(desk_agent, ip_address="192.0.2.10"), None)
    customer_service.update_contact(unit, customer, title="部長")
    db.commit()


def test_admin_creates_and_links_a_product_exports_contacts_and_filters_the_audit_log(
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    admin: Agent,
    desk_agent: Agent,
    customer: Contact,
    colleague_change: None,
    language: str,
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    words = WORDING[language]
    sign_in(admin.email)

    # Setup › Products › New product
    page.click("#setup-menu-link")
    page.click("#setup-link-products")
    page.wait_for_url(f"{live_server}/setup/products*")
    page.click("#new-product")
    page.fill("#product-name", "複合機 MX-200")
    page.fill("#product-code", "MX-200")
    page.fill("#product-price", "198000")
    page.click("#product-form button[type=submit]")
    page.wait_for_selector("#product-list")
    assert "複合機 MX-200" in page.inner_text("#product-list")

    # The contact page's lookup now offers it.
    page.goto(f"{live_server}/contacts/{customer.id}")
    page.click('[data-tab="core_customer_products.contact_products"]')
    # The tab is a page of its own: the lookup's script listens once that page has loaded.
    page.wait_for_url("**tab=core_customer_products.contact_products*")
    page.fill("#product-lookup", "MX")
    page.click("#product-lookup-options li >> nth=0")
    page.click("#product-link-form button[type=submit]")
    page.wait_for_selector("#products .product-name")
    assert page.inner_text("#products .product-name") == "複合機 MX-200"

    # Contacts › Export as CSV: a download with the Japanese names and a byte order mark.
    page.goto(f"{live_server}/contacts")
    page.select_option("#export-format", "csv")
    with page.expect_download() as download_info:
        page.click("#export-button")
    saved = tmp_path / "contacts.csv"
    download_info.value.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert words["last_name"] in rows[0]
    assert any("山田" in row and "部長" in row for row in rows[1:])

    # Setup › Audit log, filtered to the colleague: only their change of the contact.
    page.click("#setup-menu-link")
    page.click("#setup-link-audit_log")
    page.wait_for_selector("#audit-list")
    page.select_option("#audit-agent", str(desk_agent.id))
    page.click("#audit-filters button[type=submit]")
    page.wait_for_url(f"**agent_id={desk_agent.id}*")
    actors = page.eval_on_selector_all(
        "#audit-list > tbody > tr", "rows => rows.map(r => r.dataset.actorId)"
    )
    assert actors == [str(desk_agent.id)]
    row = page.inner_text("#audit-list > tbody > tr")
    assert "Aiko Tanaka" in row and "192.0.2.10" in row
    page.click("#audit-list details summary")
    assert "部長" in page.inner_text("#audit-list details table")
