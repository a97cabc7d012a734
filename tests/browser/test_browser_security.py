"""Security pages in a real browser, in English and in Japanese, as an administrator and as an
agent of one department: the sign-in throttle, the mail server's credential on the tokens page,
and signing out ending every session of the account."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from core.config import SecurityLimits
from core.models import Agent, Department
from core.tokens import MAIL_INGEST_SCOPE, PERSONAL_TOKEN_PREFIX
from hostapi import scopes
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser

#: Three failed attempts fill an account's window; the address limit stays out of the way.
SMALL_LIMITS = SecurityLimits(login_account_limit=3, login_address_limit=50)

#: The browser's locale (its Accept-Language) for each language the agents use.
BROWSER_LOCALES = {"en": "en-US", "ja": "ja-JP"}

#: What the pages say, by language. The throttle's wait is a whole window: the clock is
#: stopped at the start of one.
TEXT = {
    "en": {
        "sign_in": "Sign in to deskhost",
        "incorrect": "The email address or password is incorrect.",
        "throttled": "Too many failed sign-in attempts. Try again in 15 minutes.",
        "sign_out": "Sign out",
        "mail_credential": "Mail server credential (administrators only)",
        "copy_now": "Copy your new token now: it will not be shown again.",
        "alone": "The mail server's credential cannot carry other scopes.",
        "no_scope": "Choose at least one scope.",
    },
    "ja": {
        "sign_in": "deskhostにログイン",
        "incorrect": "メールアドレスまたはパスワードが正しくありません。",
        "throttled": "ログインの失敗が多すぎます。15 分後にもう一度お試しください。",
        "sign_out": "ログアウト",
        "mail_credential": "メールサーバー用の認証情報(管理者のみ)",
        "copy_now": "新しいトークンを今すぐコピーしてください。再表示はできません。",
        "alone": "メールサーバー用の認証情報には、ほかのスコープを付けられません。",
        "no_scope": "スコープを1つ以上選択してください。",
    },
}


@pytest.fixture
def app_config() -> dict[str, object]:
    """The served app throttles an account after three failed sign-ins."""
    return {"DESKHOST_LIMITS": SMALL_LIMITS}


@pytest.fixture(params=["en", "ja"])
def language(request: pytest.FixtureRequest) -> str:
    """The language of the agent and of the browser."""
    return str(request.param)


@pytest.fixture(params=["admin", "agent"])
def person(
    request: pytest.FixtureRequest,
    make_agent: Callable[..., Agent],
    support: Department,
    language: str,
) -> Agent:
    """An administrator, or an agent of "Support" only, who works in ``language``."""
    profile = "Administrator" if request.param == "admin" else "Agent"
    return make_agent(
        f"{request.param}@example.com",
        name=f"Test {request.param}",
        profile=profile,
        departments=[support],
        locale=language,
    )


@pytest.fixture
def admin(make_agent: Callable[..., Agent], support: Department, language: str) -> Agent:
    """An administrator who works in ``language``."""
    return make_agent(
        "admin@example.com",
        name="Admin",
        profile="Administrator",
        departments=[support],
        locale=language,
    )


@pytest.fixture
def one_department_agent(
    make_agent: Callable[..., Agent], support: Department, language: str
) -> Agent:
    """An agent of "Support" only, who works in ``language``."""
    return make_agent(
        "agent@example.com", name="Aiko Tanaka", departments=[support], locale=language
    )


@pytest.fixture
def new_browser(open_page: Callable[[str], object], language: str) -> Callable[[], object]:
    """Open a page in another browser whose language is ``language``."""
    return lambda: open_page(BROWSER_LOCALES[language])


def _try_sign_in(page, live_server: str, email: str, password: str) -> int:  # type: ignore[no-untyped-def]
    """Submit the sign-in form; the status the form's POST was answered with."""
    page.goto(f"{live_server}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_response(
        lambda response: response.request.method == "POST" and "/login" in response.url
    ) as answer:
        page.click("button[type=submit]")
    page.wait_for_load_state()
    return int(answer.value.status)


def _sign_in(page, live_server: str, email: str) -> None:  # type: ignore[no-untyped-def]
    assert _try_sign_in(page, live_server, email, TEST_PASSWORD) == 302
    page.wait_for_url(f"{live_server}/tickets")


def _sign_out(page, language: str) -> None:  # type: ignore[no-untyped-def]
    page.click("details.agent-menu summary")
    page.get_by_role("button", name=TEXT[language]["sign_out"]).click()
    page.wait_for_url(re.compile(r"/login$"))


def _fail_sign_in_to_the_limit(page, live_server: str, email: str, language: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(SMALL_LIMITS.login_account_limit):
        assert _try_sign_in(page, live_server, email, "wrong password") == 401
        expect(page.locator("#login-error")).to_have_text(TEXT[language]["incorrect"])


# ------------------------------------------------------------------------------ sign-in throttle


def test_sign_in_page_says_too_many_attempts_once_the_account_limit_is_reached(
    new_browser: Callable[[], object],
    live_server: str,
    person: Agent,
    language: str,
    deskhost_clock: object,
) -> None:
    page = new_browser()
    _fail_sign_in_to_the_limit(page, live_server, person.email, language)

    assert _try_sign_in(page, live_server, person.email, "yet another guess") == 429
    expect(page.locator("#login-error")).to_have_text(TEXT[language]["throttled"])


def test_right_password_is_refused_once_the_account_is_throttled(
    new_browser: Callable[[], object],
    live_server: str,
    person: Agent,
    language: str,
    deskhost_clock: object,
) -> None:
    page = new_browser()
    _fail_sign_in_to_the_limit(page, live_server, person.email, language)

    assert _try_sign_in(page, live_server, person.email, TEST_PASSWORD) == 429
    expect(page.locator("#login-error")).to_have_text(TEXT[language]["throttled"])
    page.goto(f"{live_server}/tickets")
    page.wait_for_url(re.compile(r"/login\?next="))


# -------------------------------------------------------------------- mail server's credential


def test_admin_creates_the_mail_server_credential_alone_and_sees_it_once(
    new_browser: Callable[[], object], live_server: str, admin: Agent, language: str
) -> None:
    page = new_browser()
    _sign_in(page, live_server, admin.email)
    page.goto(f"{live_server}/settings/tokens")
    credential = page.locator("#mail-server-credential")
    expect(credential.locator("legend")).to_have_text(TEXT[language]["mail_credential"])

    page.fill("#token-form input[name=name]", "Mail server")
    credential.locator(f"input[value='{MAIL_INGEST_SCOPE}']").check()
    page.click("#token-form button[type=submit]")

    expect(page.locator("#new-token")).to_contain_text(TEXT[language]["copy_now"])
    plaintext = page.inner_text("#new-token code")
    assert plaintext.startswith(PERSONAL_TOKEN_PREFIX)
    expect(page.locator("#token-list tbody tr")).to_have_count(1)
    expect(page.locator("#token-list tbody")).to_contain_text(MAIL_INGEST_SCOPE)
    page.goto(f"{live_server}/settings/tokens")
    expect(page.locator("#new-token")).to_have_count(0)
    assert plaintext not in page.content()


def test_mail_server_credential_with_another_scope_is_refused_on_the_scopes_field(
    new_browser: Callable[[], object], live_server: str, admin: Agent, language: str
) -> None:
    page = new_browser()
    _sign_in(page, live_server, admin.email)
    page.goto(f"{live_server}/settings/tokens")

    page.fill("#token-form input[name=name]", "Mail server and more")
    page.check(f"#mail-server-credential input[value='{MAIL_INGEST_SCOPE}']")
    page.check(f"#token-form input[value='{scopes.TICKETS_READ}']")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.click("#token-form button[type=submit]")

    assert answer.value.status == 422
    expect(page.locator("#token-form .field-error")).to_have_text(TEXT[language]["alone"])
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("#token-list")).to_have_count(0)


def test_refused_token_form_keeps_the_name_and_the_scopes_chosen(
    new_browser: Callable[[], object], live_server: str, admin: Agent
) -> None:
    page = new_browser()
    _sign_in(page, live_server, admin.email)
    page.goto(f"{live_server}/settings/tokens")

    page.fill("#token-form input[name=name]", "Mail server and more")
    page.check(f"#mail-server-credential input[value='{MAIL_INGEST_SCOPE}']")
    page.check(f"#token-form input[value='{scopes.TICKETS_READ}']")
    page.click("#token-form button[type=submit]")

    expect(page.locator("#token-form .field-error")).to_have_count(1)
    expect(page.locator("#token-form input[name=name]")).to_have_value("Mail server and more")
    checked = page.eval_on_selector_all(
        "#token-form input[name=scopes]:checked", "inputs => inputs.map(i => i.value)"
    )
    assert sorted(checked) == sorted([MAIL_INGEST_SCOPE, scopes.TICKETS_READ])


def test_token_without_a_scope_is_refused_in_the_agents_language(
    new_browser: Callable[[], object],
    live_server: str,
    one_department_agent: Agent,
    language: str,
) -> None:
    page = new_browser()
    _sign_in(page, live_server, one_department_agent.email)
    page.goto(f"{live_server}/settings/tokens")

    page.fill("#token-form input[name=name]", "Script")
    page.click("#token-form button[type=submit]")

    expect(page.locator("#token-form .field-error")).to_have_text(TEXT[language]["no_scope"])
    expect(page.locator("#token-list")).to_have_count(0)


def test_one_department_agent_is_not_offered_the_mail_server_credential(
    new_browser: Callable[[], object],
    live_server: str,
    one_department_agent: Agent,
    language: str,
) -> None:
    page = new_browser()
    _sign_in(page, live_server, one_department_agent.email)
    page.goto(f"{live_server}/settings/tokens")

    expect(page.locator(f"#token-form input[value='{scopes.TICKETS_READ}']")).to_have_count(1)
    expect(page.locator("#mail-server-credential")).to_have_count(0)
    expect(page.locator(f"input[value='{MAIL_INGEST_SCOPE}']")).to_have_count(0)


# ------------------------------------------------------------------------------------ sign-out


def test_signing_out_in_one_browser_ends_the_session_in_another(
    new_browser: Callable[[], object], live_server: str, person: Agent, language: str
) -> None:
    first, second = new_browser(), new_browser()
    _sign_in(first, live_server, person.email)
    _sign_in(second, live_server, person.email)

    _sign_out(first, language)

    second.goto(f"{live_server}/tickets")
    second.wait_for_url(re.compile(r"/login\?next="))
    expect(second.locator("h1")).to_have_text(TEXT[language]["sign_in"])


def test_session_cookie_copied_before_sign_out_no_longer_signs_in(
    new_browser: Callable[[], object], live_server: str, person: Agent, language: str
) -> None:
    signed_in, thief = new_browser(), new_browser()
    _sign_in(signed_in, live_server, person.email)
    thief.context.add_cookies(signed_in.context.cookies())
    thief.goto(f"{live_server}/tickets")
    assert thief.url == f"{live_server}/tickets"

    _sign_out(signed_in, language)

    thief.goto(f"{live_server}/tickets")
    thief.wait_for_url(re.compile(r"/login\?next="))
    expect(thief.locator("h1")).to_have_text(TEXT[language]["sign_in"])
