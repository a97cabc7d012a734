"""Setup → Agents in a real browser, in English and in Japanese: an administrator adds an agent
limited to one department, the page shows the set-password link once, the agent sets a
password from it, signs in and sees only that department's tickets; the administrator
deactivates them and the agent's open session stops working at their next request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from core.models import Agent, Department, Ticket
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


def test_an_added_agent_sets_a_password_sees_their_department_and_is_shut_out(
    open_page: Callable[[str], object],
    live_server: str,
    admin: Agent,
    support: Department,
    billing: Department,
    make_ticket: Callable[..., Ticket],
    language: str,
) -> None:
    text = TEXT[language]
    make_ticket("Support question about the printer", department=support)
    make_ticket("Billing question about an invoice", department=billing)

    boss = open_page(BROWSER_LOCALES[language])
    _sign_in(boss, live_server, admin.email, TEST_PASSWORD)
    boss.locator(".mainnav").get_by_role("link", name=text["agents"], exact=True).click()
    boss.click("#add-agent")
    boss.fill("#agent-name", "Hanako Yamada")
    boss.fill("#agent-email", "hanako@example.com")
    boss.select_option("#agent-locale", language)
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

    boss.locator("#deactivate-agent").click()
    expect(boss.locator("#reactivate-agent")).to_be_visible()
    newcomer.reload()
    newcomer.wait_for_url(f"{live_server}/login**")
