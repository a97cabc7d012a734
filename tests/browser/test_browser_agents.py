"""Issue 10's acceptance, in a real browser, in English and in Japanese: an administrator
clones a permission profile and adds an agent limited to one department with it; the page
shows the set-password link once; the agent sets a password from it, signs in and sees only
that department's tickets; the administrator assigns them a ticket by bulk action and they
reply to it; the administrator deactivates them and the agent's open session stops working at
their next request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Agent, Department, PermissionProfile, Ticket
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser

BROWSER_LOCALES = {"en": "en-US", "ja": "ja-JP"}
NEW_PASSWORD = "the agent's own password"

TEXT = {
    "en": {
        "agents": "Agents",
        "added": "Agent added",
        "shown_once": "Give Hanako Yamada this link now: it is shown only once.",
        "set_password": "Set your password",
        "password_set": "Password set",
        "no_password": "The agent has not set a password yet.",
    },
    "ja": {
        "agents": "担当者",
        "added": "担当者を追加しました",
        "shown_once": (
            "このリンクを今すぐ Hanako Yamada さんに渡してください。"
            "表示されるのはこの 1 回だけです。"
        ),
        "set_password": "パスワードの設定",
        "password_set": "パスワードを設定しました",
        "no_password": "この担当者はまだパスワードを設定していません。",
    },
}


@pytest.fixture(params=["en", "ja"])
def language(request: pytest.FixtureRequest) -> str:
    """The language of the administrator, the new agent and their browsers."""
    return str(request.param)


@pytest.fixture
def billing(make_department: Callable[..., Department]) -> Department:
    return make_department("Billing")


@pytest.fixture
def admin(
    make_agent: Callable[..., Agent], support: Department, billing: Department, language: str
) -> Agent:
    return make_agent(
        "boss@example.com",
        name="Boss",
        profile="Administrator",
        departments=[support, billing],
        locale=language,
    )


def _sign_in(page, live_server: str, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/tickets")


def test_an_added_agent_with_a_cloned_profile_works_a_bulk_assigned_ticket_until_deactivated(
    open_page: Callable[[str], object],
    live_server: str,
    admin: Agent,
    support: Department,
    billing: Department,
    make_ticket: Callable[..., Ticket],
    db: Session,
    language: str,
) -> None:
    text = TEXT[language]
    printer = make_ticket("Support question about the printer", department=support)
    make_ticket("Billing question about an invoice", department=billing)
    agent_profile = db.scalars(
        select(PermissionProfile).where(PermissionProfile.name == "Agent")
    ).one()

    boss = open_page(BROWSER_LOCALES[language])
    _sign_in(boss, live_server, admin.email, TEST_PASSWORD)
    boss.click("#setup-menu-link")
    boss.click("#setup-link-profiles")
    boss.click(f"#clone-{agent_profile.id}")
    boss.fill("#clone-name", "Support tier 1")
    boss.click("#clone-submit")
    boss.wait_for_selector("#profile-form")
    boss.check("#perm-contact-export")
    boss.click("#save-profile")
    expect(boss.locator("#profile-saved")).to_be_visible()

    boss.click("#setup-menu-link")
    boss.click("#setup-link-agents")
    boss.click("#add-agent")
    boss.fill("#agent-name", "Hanako Yamada")
    boss.fill("#agent-email", "hanako@example.com")
    boss.select_option("#agent-locale", language)
    boss.select_option("#agent-profile", label="Support tier 1")
    boss.locator("#agent-departments").get_by_label("Support").check()
    boss.locator("#agent-form button[type=submit]").click()
    expect(boss.locator("h1")).to_have_text(text["added"])
    expect(boss.locator("#agent-link")).to_contain_text(text["shown_once"])
    link = boss.locator("#set-password-url").inner_text().strip()
    assert "/password/set/dhl_" in link
    # Shown once: the agent's page does not show it again.
    boss.locator("main .page-head a").first.click()
    expect(boss.locator("#agent-password")).to_contain_text(text["no_password"])
    assert link not in boss.content()
    agent_page = boss.url

    newcomer = open_page(BROWSER_LOCALES[language])
    newcomer.goto(link)
    expect(newcomer.locator("h1")).to_have_text(text["set_password"])
    newcomer.fill("#password", NEW_PASSWORD)
    newcomer.fill("#password_confirm", NEW_PASSWORD)
    newcomer.locator("#set-password button[type=submit]").click()
    expect(newcomer.locator("h1")).to_have_text(text["password_set"])
    _sign_in(newcomer, live_server, "hanako@example.com", NEW_PASSWORD)
    tickets = newcomer.locator("main")
    expect(tickets).to_contain_text("Support question about the printer")
    expect(tickets).not_to_contain_text("Billing question about an invoice")

    db.rollback()  # a fresh snapshot: the browser's requests committed since
    hanako = db.scalars(select(Agent).where(Agent.email == "hanako@example.com")).one()
    assert hanako.profile.name == "Support tier 1"
    boss.goto(f"{live_server}/tickets")
    boss.check(f"#select-{printer.id}")
    boss.select_option("#bulk-assignee", str(hanako.id))
    boss.click("#bulk-assign")
    expect(boss.locator(f"#bulk-line-{printer.id}")).to_be_visible()
    db.rollback()
    assert db.get(Ticket, printer.id).assignee_id == hanako.id

    newcomer.goto(f"{live_server}/tickets?assignee=me")
    newcomer.get_by_role("link", name="Support question about the printer").click()
    newcomer.fill("#reply-body", "We are sending a technician this afternoon.")
    newcomer.locator("#reply-form button[type=submit]").click()
    expect(newcomer.locator("main")).to_contain_text("We are sending a technician this afternoon.")

    boss.goto(agent_page)
    boss.locator("#deactivate-agent").click()
    expect(boss.locator("#reactivate-agent")).to_be_visible()
    newcomer.reload()
    newcomer.wait_for_url(f"{live_server}/login**")
