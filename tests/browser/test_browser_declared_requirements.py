"""Declared requirements in a real browser: an admin installs an extension that declares a
contact picklist and a view of it through the marketplace, reads them on the consent page in
English and in Japanese, approves; an agent of one department fills the field in and finds the
view; the admin sees the field as added by the extension; keeping the data on uninstall and
restoring keep field, value and view, and a purge takes all three away."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from core.host import Host
from core.models import (
    Agent,
    Contact,
    CustomField,
    CustomView,
    Department,
    Installation,
    PermissionProfile,
)
from core.models.extensions import InstallationState
from tests.declaring_extension import deployed
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser

EXTENSION = "tier_sync"
EXTENSION_NAME = "Tier Sync"
FIELD_KEY = f"{EXTENSION}_tier"
TIER = {
    "key": "tier",
    "type": "picklist",
    "label": {"en": "Tier", "ja": "ランク"},
    "choices": ["Gold", "Silver"],
}
GOLD_VIEW = {
    "key": "gold",
    "entity": "contact",
    "name": {"en": "Gold contacts", "ja": "ゴールドの連絡先"},
    "conditions": [{"field": FIELD_KEY, "operator": "is", "value": "Gold"}],
    "columns": ["name", "email", FIELD_KEY],
}
#: The view as the contacts list offers it (the desk's language is English).
GOLD_VIEW_OPTION = f"Gold contacts (Added by {EXTENSION_NAME})"


@dataclass(frozen=True)
class Desk:
    """Who and what the walk-through needs."""

    admin: Agent
    agent: Agent
    agent_profile: PermissionProfile
    gold_customer: Contact
    other_customer: Contact


@pytest.fixture
def tier_sync(host: Host) -> Iterator[None]:
    """``tier_sync`` deployed on the served host, declaring the Tier picklist and its view."""
    with deployed(host, EXTENSION, name=EXTENSION_NAME, contact_fields=[TIER], views=[GOLD_VIEW]):
        yield


@pytest.fixture
def desk(
    support: Department,
    desk_agent: Agent,
    make_agent: Callable[..., Agent],
    make_contact: Callable[..., Contact],
) -> Desk:
    return Desk(
        admin=make_agent(
            "admin@example.com", name="Admin", profile="Administrator", departments=[support]
        ),
        agent=desk_agent,
        agent_profile=desk_agent.profile,
        gold_customer=make_contact("Yamada", email="yamada@example.com"),
        other_customer=make_contact("Suzuki", email="suzuki@example.com"),
    )


@pytest.fixture
def open_as(open_page, live_server: str) -> Callable[[Agent], object]:  # type: ignore[no-untyped-def]
    """``open_as(agent)``: a page in a browser context of its own, signed in as ``agent``."""

    def sign_in(agent: Agent) -> object:
        page = open_page()
        page.goto(f"{live_server}/login")
        page.fill("#email", agent.email)
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/tickets")
        return page

    return sign_in


def _texts(page, selector: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The text of each element ``selector`` matches, its white space collapsed."""
    texts = page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.textContent)")
    return [" ".join(text.split()) for text in texts]


def _switch_language(page, locale: str) -> None:  # type: ignore[no-untyped-def]
    """Choose ``locale`` in the top bar's language switch, which brings the page back."""
    with page.expect_navigation():
        page.select_option("#locale-select", locale)
    assert page.get_attribute("html", "lang") == locale


def _tier_shown(page, live_server: str, contact: Contact) -> str | None:  # type: ignore[no-untyped-def]
    """The Tier a contact's page shows, or ``None`` when the page has no such field."""
    page.goto(f"{live_server}/contacts/{contact.id}")
    value = page.locator(f"#custom-field-values dd[data-key='{FIELD_KEY}']")
    return value.inner_text().strip() if value.count() else None


def _view_options(page, live_server: str) -> list[str]:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server}/contacts")
    return _texts(page, "#view-select option")


def _uninstall(admin, live_server: str, installation_page: str, data: str) -> None:  # type: ignore[no-untyped-def]
    """Uninstall through the confirmation page, keeping (``keep``) or purging the data."""
    admin.goto(installation_page)
    admin.click("#uninstall-link")
    assert _texts(admin, "#owned-requirements li") == [
        f"Contact field: Tier (Picklist) {FIELD_KEY}",
        "Contact view: Gold contacts",
    ]
    admin.check(f"#uninstall-form input[name=data][value={data}]")
    admin.check("#uninstall-form input[name=confirmed]")
    admin.click("#uninstall-form button[type=submit]")
    admin.wait_for_url(f"{live_server}/admin/marketplace/installations")


def _stored(
    host: Host, contact: Contact
) -> tuple[CustomField | None, CustomView | None, dict[str, object]]:
    """The declared field, the declared view and the contact's custom values, as stored now."""
    with host.sessions() as session:
        field = session.scalar(select(CustomField).where(CustomField.key == FIELD_KEY))
        view = session.scalar(select(CustomView).where(CustomView.name == "Gold contacts"))
        return field, view, dict(session.get(Contact, contact.id).custom_fields or {})


def _state(host: Host, installation_id: int) -> str:
    with host.sessions() as session:
        return session.get(Installation, installation_id).state


@pytest.mark.usefixtures("tier_sync")
def test_declared_field_and_view_from_marketplace_install_to_purge(  # type: ignore[no-untyped-def]
    live_server: str,
    open_as: Callable[[Agent], object],
    desk: Desk,
    support: Department,
    host: Host,
) -> None:
    admin = open_as(desk.admin)

    # Install through the marketplace: the install page says what the extension adds.
    admin.goto(f"{live_server}/admin/marketplace")
    admin.click(f"#extension-{EXTENSION} h2 a")
    admin.click("#install-button")
    added = [f"Contact field: Tier (Picklist) {FIELD_KEY}", "Contact view: Gold contacts"]
    assert _texts(admin, "#requirements li") == added
    admin.check(f"#install-form input[name=department_ids][value='{support.id}']")
    admin.check(f"#install-form input[name=profile_ids][value='{desk.agent_profile.id}']")
    admin.check("#install-form input[name=terms_accepted]")
    admin.click("#install-form button[type=submit]")
    admin.wait_for_url(f"{live_server}/admin/marketplace/installations/*")
    installation_page = admin.url

    # The consent page lists them too, in English and, after the language switch, in Japanese.
    admin.click("#authorize-button")
    admin.wait_for_url(f"{live_server}/oauth/authorize?**")
    assert _texts(admin, "#requirements li") == added
    _switch_language(admin, "ja")
    assert _texts(admin, "#requirements li") == [
        f"連絡先の項目: Tier (選択リスト) {FIELD_KEY}",
        "連絡先のビュー: Gold contacts",
    ]
    admin.click("#approve-button")
    admin.wait_for_url(installation_page)
    assert admin.get_attribute("#installation-state [data-state]", "data-state") == "active"

    # The fields admin page shows the field as the extension's, with no way to edit or remove it.
    admin.goto(f"{live_server}/admin/fields/contact")
    item = f"#layout-list .layout-item[data-key='{FIELD_KEY}']"
    assert _texts(admin, f"{item} [data-added-by]") == [f"{EXTENSION_NAME} が追加"]
    _switch_language(admin, "en")
    assert _texts(admin, f"{item} [data-added-by]") == [f"Added by {EXTENSION_NAME}"]
    assert _texts(admin, f"{item} .layout-actions a") == []

    # An agent of one department fills the field in on a contact and finds the view.
    agent = open_as(desk.agent)
    agent.goto(f"{live_server}/contacts/{desk.gold_customer.id}")
    agent.click("#edit-record")
    agent.select_option(f"#cf__{FIELD_KEY}", "Gold")
    agent.click("#save-record")
    agent.wait_for_selector("#custom-field-values")
    assert _tier_shown(agent, live_server, desk.gold_customer) == "Gold"
    assert GOLD_VIEW_OPTION in _view_options(agent, live_server)
    with agent.expect_navigation():
        agent.select_option("#view-select", label=GOLD_VIEW_OPTION)
    assert _texts(agent, "#contact-list tbody tr td:first-child a") == ["Hanako Yamada"]

    # Uninstalled with its data kept, then restored: the field, its value and the view stay.
    _uninstall(admin, live_server, installation_page, "keep")
    assert _tier_shown(agent, live_server, desk.gold_customer) == "Gold"
    assert GOLD_VIEW_OPTION in _view_options(agent, live_server)
    field, view, values = _stored(host, desk.gold_customer)
    assert field is not None and view is not None and values == {FIELD_KEY: "Gold"}
    installation_id = field.installation_id
    assert _state(host, installation_id) == InstallationState.ARCHIVED

    admin.click(f"#archived-list #installation-{installation_id} button[type=submit]")
    admin.wait_for_url(installation_page)
    assert _tier_shown(agent, live_server, desk.gold_customer) == "Gold"
    field, view, values = _stored(host, desk.gold_customer)
    assert (field.installation_id, view.installation_id) == (installation_id, installation_id)
    assert values == {FIELD_KEY: "Gold"}

    # Purged: the field, its value and the view are gone, from the pages and the database.
    _uninstall(admin, live_server, installation_page, "purge")
    assert _tier_shown(agent, live_server, desk.gold_customer) is None
    assert not [o for o in _view_options(agent, live_server) if o.startswith("Gold contacts")]
    admin.goto(f"{live_server}/admin/fields/contact")
    assert not admin.locator(f"[data-key='{FIELD_KEY}']").count()
    assert _stored(host, desk.gold_customer) == (None, None, {})
