"""Two-factor sign-in in a real browser, in English and in Japanese: an agent enrols from the
agent menu (QR code, key as text, a first code, ten recovery codes), signs out, and signs in
again with the password and then a code of their authenticator app — computed here with pyotp
from the key the page showed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from playwright.sync_api import expect

from core.models import Agent, Department
from hostapi import clock
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser

#: The middle of a 30-second step: the served app and the test share this process's clock.
START = datetime(2026, 12, 6, 9, 0, 10, tzinfo=UTC)

BROWSER_LOCALES = {"en": "en-US", "ja": "ja-JP"}

TEXT = {
    "en": {
        "menu_link": "Two-factor sign-in",
        "set_up": "Set up two-factor sign-in",
        "turn_on": "Turn on",
        "saved": "I have saved them",
        "left": "10 unused recovery codes left.",
        "sign_out": "Sign out",
        "ask_code": "Enter the 6-digit code your authenticator app shows for deskhost.",
        "wrong_code": "The code is not right, or it was already used.",
        "sign_in": "Sign in",
    },
    "ja": {
        "menu_link": "2段階認証",
        "set_up": "2段階認証を設定する",
        "turn_on": "有効にする",
        "saved": "保存しました",
        "left": "未使用のリカバリーコードは残り 10 個です。",
        "sign_out": "ログアウト",
        "ask_code": "認証アプリに表示されている deskhost の6桁のコードを入力してください。",
        "wrong_code": "コードが正しくないか、すでに使用されています。",
        "sign_in": "ログイン",
    },
}


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """The clock stopped at :data:`START`; the test moves it as a phone's would."""
    clock.freeze(START)
    yield
    clock.unfreeze()


@pytest.fixture(params=["en", "ja"])
def language(request: pytest.FixtureRequest) -> str:
    """The language of the agent and of the browser."""
    return str(request.param)


@pytest.fixture
def person(make_agent: Callable[..., Agent], support: Department, language: str) -> Agent:
    """An agent of "Support" who works in ``language``."""
    return make_agent(
        "kenji@example.com", name="Kenji Sato", departments=[support], locale=language
    )


def test_enrolling_then_signing_in_with_a_code(
    open_page: Callable[[str], object], live_server: str, person: Agent, language: str
) -> None:
    text = TEXT[language]
    page = open_page(BROWSER_LOCALES[language])
    page.goto(f"{live_server}/login")
    page.fill("#email", person.email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/tickets")

    page.click("details.agent-menu summary")
    page.get_by_role("link", name=text["menu_link"]).click()
    page.get_by_role("button", name=text["set_up"]).click()
    expect(page.locator("figure.qr-code svg")).to_be_visible()
    key = page.locator("#two-factor-secret").inner_text().replace(" ", "")
    page.fill("#code", pyotp.TOTP(key).at(clock.now()))
    page.get_by_role("button", name=text["turn_on"]).click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name=text["saved"]).click()
    expect(page.locator("#recovery-codes-left")).to_have_text(text["left"])

    page.click("details.agent-menu summary")
    page.get_by_role("button", name=text["sign_out"]).click()
    page.wait_for_url(f"{live_server}/login")
    clock.advance(timedelta(seconds=30))
    page.fill("#email", person.email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/login/two-factor")
    expect(page.get_by_text(text["ask_code"])).to_be_visible()
    page.goto(f"{live_server}/tickets")
    page.wait_for_url(re.compile(r"/login\?next="))  # the password alone opens nothing

    page.goto(f"{live_server}/login/two-factor")
    page.fill("#code", pyotp.TOTP(key).at(clock.now() + timedelta(minutes=5)))
    page.get_by_role("button", name=text["sign_in"]).click()
    expect(page.locator("#two-factor-error")).to_have_text(text["wrong_code"])
    page.fill("#code", pyotp.TOTP(key).at(clock.now()))
    page.get_by_role("button", name=text["sign_in"]).click()
    page.wait_for_url(f"{live_server}/tickets")
    expect(page.locator("details.agent-menu summary")).to_have_text(person.name)
