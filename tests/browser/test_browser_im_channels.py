"""IM Dashboard's channel accounts in a real browser, in English and Japanese: an admin follows
the navigation link, connects a LINE channel (a bad secret first, refused naming the field),
then a Telegram bot whose webhook secret is made and shown once, and reads their credentials
masked; an agent of one department without the permission has no link to them (only to the
inbox and the dashboard) and is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.host import Host
from core.models import Agent, Department, Installation
from tests.factories import install_for

pytestmark = pytest.mark.browser

LINE_SECRET = "0123456789abcdef0123456789abcdef"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TEXT = {
    "en": {
        "menu": "IM channels",
        "empty": "No channel is connected yet.",
        "bad_secret": "This is not a LINE Channel secret: check it in the console.",
    },
    "ja": {
        "menu": "IMチャネル",
        "empty": "接続されているチャネルはまだありません。",
        "bad_secret": (
            "LINE のチャネルシークレットの形式ではありません。コンソールで確認してください。"
        ),
    },
}


@pytest.fixture
def installation(host: Host, support: Department) -> Installation:
    with host.transaction() as session:
        installed = install_for(session, host, "im_dashboard", [support.id])
    return installed


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_admin_connects_line_and_telegram_and_reads_their_credentials_masked(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    installation: Installation,
    locale: str,
) -> None:
    text = TEXT[locale]
    admin = make_agent(
        f"admin-im-{locale}@example.com",
        profile="Administrator",
        departments=[support],
        locale=locale,
    )
    sign_in(admin.email)

    page.locator("[data-extension-menu]", has_text=text["menu"]).click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{live_server}/ext/im_dashboard/{installation.id}/channels/")  # type: ignore[attr-defined]
    assert page.locator("#no-channel-accounts").text_content() == text["empty"]  # type: ignore[attr-defined]

    page.click('[data-connect="line"]')  # type: ignore[attr-defined]
    page.fill("#account-name", "LINE Support")  # type: ignore[attr-defined]
    page.select_option("#account-department", str(support.id))  # type: ignore[attr-defined]
    page.fill("#credential-channel_secret", "not-a-secret")  # type: ignore[attr-defined]
    page.fill("#credential-channel_access_token", "line-long-lived-access-token-7d3e")  # type: ignore[attr-defined]
    page.click("#channel-account-form button[type=submit]")  # type: ignore[attr-defined]
    error = page.locator('[data-error-for="channel_secret"]')  # type: ignore[attr-defined]
    error.wait_for()
    assert error.text_content() == text["bad_secret"]
    assert page.input_value("#account-name") == "LINE Support"  # type: ignore[attr-defined]

    page.fill("#credential-channel_secret", LINE_SECRET)  # type: ignore[attr-defined]
    page.fill("#credential-channel_access_token", "line-long-lived-access-token-7d3e")  # type: ignore[attr-defined]
    page.click("#channel-account-form button[type=submit]")  # type: ignore[attr-defined]
    page.locator("#channel-accounts").wait_for()  # type: ignore[attr-defined]

    page.click('[data-connect="telegram"]')  # type: ignore[attr-defined]
    page.fill("#account-name", "Support bot")  # type: ignore[attr-defined]
    page.select_option("#account-department", str(support.id))  # type: ignore[attr-defined]
    page.fill("#credential-bot_token", TELEGRAM_TOKEN)  # type: ignore[attr-defined]
    page.click("#channel-account-form button[type=submit]")  # type: ignore[attr-defined]
    made = page.locator('[data-generated="secret_token"]')  # type: ignore[attr-defined]
    made.wait_for()
    secret_token = made.text_content() or ""
    assert len(secret_token) == 32
    page.click("#generated-secrets a.primary")  # type: ignore[attr-defined]

    rows = page.locator("#channel-accounts tbody tr")  # type: ignore[attr-defined]
    rows.first.wait_for()
    assert [rows.nth(i).get_attribute("data-channel") for i in range(rows.count())] == [
        "line",
        "telegram",
    ]
    listing = page.locator("#channel-accounts").text_content() or ""  # type: ignore[attr-defined]
    assert "••••cdef" in listing and "••••" + secret_token[-4:] in listing
    assert LINE_SECRET not in listing and TELEGRAM_TOKEN not in listing


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_an_agent_without_the_permission_has_no_link_and_is_refused(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    installation: Installation,
    locale: str,
) -> None:
    agent = make_agent(f"agent-im-{locale}@example.com", departments=[support], locale=locale)
    sign_in(agent.email)

    # Their navigation has the inbox and the dashboard, not the channels.
    links = page.locator("[data-extension-menu]")  # type: ignore[attr-defined]
    assert TEXT[locale]["menu"] not in links.all_text_contents()
    assert links.count() == 2
    answer = page.goto(f"{live_server}/ext/im_dashboard/{installation.id}/channels/")  # type: ignore[attr-defined]
    assert answer.status == 403
