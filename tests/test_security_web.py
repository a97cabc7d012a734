"""The browser side of security: redirects after sign-in, CSRF, sessions, cookies, throttling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from types import ModuleType

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import tokens
from core.config import SecurityLimits
from core.host import Host
from core.models import Agent, AuditEntry, Department
from core.services import org
from core.services.base import Unit
from core.web import create_app
from tests.factories import TEST_PASSWORD
from tests.page_helpers import csrf_token_of

pytest_plugins = ["tests.api_fixtures"]

#: Limits small enough to reach in a test.
TIGHT = SecurityLimits(
    login_account_limit=3,
    login_address_limit=6,
    login_window_seconds=900,
    api_token_limit=4,
    api_address_limit=6,
    api_window_seconds=60,
)


@pytest.fixture
def tight_app(host: Host, deskhost_clock: ModuleType) -> Flask:
    """The app with :data:`TIGHT` limits, the clock stopped (the limits count in fixed windows:
    a test's hits on both sides of a window's end would start counting again)."""
    return create_app({"TESTING": True, "DESKHOST_LIMITS": TIGHT}, host=host)


def sign_in_with_form(
    client: FlaskClient, email: str, password: str, *, next_url: str = "", **kwargs
):  # type: ignore[no-untyped-def]
    """Post the sign-in form as a browser would (CSRF token from the page)."""
    form = {"csrf_token": csrf_token_of(client, "/login"), "email": email, "password": password}
    if next_url:
        form["next"] = next_url
    return client.post("/login", data=form, **kwargs)


# --------------------------------------------------------------------- redirects after sign-in


@pytest.mark.parametrize(
    "next_url",
    [
        "/%09/evil.test",
        "/\t/evil.test",
        "/%0D%0A/evil.test",
        "/\r\n/evil.test",
        "//evil.test",
        "/\\evil.test",
        "https://evil.test/",
        "javascript:alert(1)",
        "/%00/evil.test",
    ],
)
def test_next_never_leaves_the_site_nor_crashes(
    client: FlaskClient, api_agent: Agent, sign_in_as, next_url: str
) -> None:
    sign_in_as(api_agent)
    answer = client.get(f"/login?next={next_url}")
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "evil.test" not in location and "javascript" not in location


def test_next_keeps_a_path_on_the_site(client: FlaskClient, api_agent: Agent, sign_in_as) -> None:
    sign_in_as(api_agent)
    answer = client.get("/login?next=/contacts%3Fq%3Dyamada")
    assert answer.headers["Location"] == "/contacts?q=yamada"


# -------------------------------------------------------------------------------------- CSRF


def test_a_bearer_header_does_not_switch_csrf_off_on_web_forms(
    client: FlaskClient, api_agent: Agent, sign_in_as, db: Session
) -> None:
    sign_in_as(api_agent)
    answer = client.post(
        "/settings/tokens",
        data={"name": "sneaky", "scopes": "desk.tickets.read", "lifetime_days": "90"},
        headers={"Authorization": "Bearer anything"},
    )
    assert answer.status_code == 400
    assert tokens.personal_tokens(db, api_agent) == []


# ---------------------------------------------------------------------------------- sessions


def test_a_cookie_copied_before_logout_no_longer_works(
    app: Flask, client: FlaskClient, api_agent: Agent
) -> None:
    assert sign_in_with_form(client, api_agent.email, TEST_PASSWORD).status_code == 302
    copied = client.get_cookie("session")
    assert copied is not None
    other_browser = app.test_client()
    other_browser.set_cookie("session", copied.value)
    assert other_browser.get("/tickets").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token_of(client, "/tickets")})
    assert other_browser.get("/tickets").status_code == 302


def test_a_password_change_ends_the_agents_other_sessions(
    client: FlaskClient, api_agent: Agent, unit_for: Callable[[Agent | None], Unit], db
) -> None:
    sign_in_with_form(client, api_agent.email, TEST_PASSWORD)
    assert client.get("/tickets").status_code == 200
    org.set_password(
        unit_for(api_agent), api_agent, "a brand new passphrase", current_password=TEST_PASSWORD
    )
    db.commit()
    assert client.get("/tickets").status_code == 302


def test_deactivation_ends_the_agents_sessions(
    client: FlaskClient,
    api_agent: Agent,
    admin_agent: Agent,
    unit_for: Callable[[Agent | None], Unit],
    db: Session,
) -> None:
    sign_in_with_form(client, api_agent.email, TEST_PASSWORD)
    generation = api_agent.session_generation
    org.update_agent(unit_for(admin_agent), api_agent, is_active=False)
    db.commit()
    assert api_agent.session_generation == generation + 1
    assert client.get("/tickets").status_code == 302


def test_the_session_cookie_is_secure_over_https(client: FlaskClient, api_agent: Agent) -> None:
    form = {
        "csrf_token": csrf_token_of(client, "/login"),
        "email": api_agent.email,
        "password": TEST_PASSWORD,
    }
    answer = client.post("/login", data=form, base_url="https://desk.example")
    cookies = answer.headers.getlist("Set-Cookie")
    session_cookie = next(value for value in cookies if value.startswith("session="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie


def test_the_session_cookie_is_not_marked_secure_over_plain_http(
    client: FlaskClient, api_agent: Agent
) -> None:
    answer = sign_in_with_form(client, api_agent.email, TEST_PASSWORD)
    session_cookie = next(
        value for value in answer.headers.getlist("Set-Cookie") if value.startswith("session=")
    )
    assert "Secure" not in session_cookie


def test_https_responses_carry_hsts_and_plain_ones_do_not(client: FlaskClient) -> None:
    assert "max-age=" in client.get("/login", base_url="https://desk.example").headers.get(
        "Strict-Transport-Security", ""
    )
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_behind_a_trusted_proxy_forwarded_https_and_address_are_believed(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host, "settings", replace(host.settings, trusted_proxies=1))
    app = create_app({"TESTING": True}, host=host)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    answer = app.test_client().get("/login", headers=forwarded)
    assert "Strict-Transport-Security" in answer.headers


def test_without_trusted_proxies_forwarded_headers_are_ignored(client: FlaskClient) -> None:
    answer = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in answer.headers


# ---------------------------------------------------------------------------- sign-in throttle


def test_after_the_account_limit_even_the_right_password_waits(
    tight_app: Flask, api_agent: Agent
) -> None:
    client = tight_app.test_client()
    for _ in range(TIGHT.login_account_limit):
        assert sign_in_with_form(client, api_agent.email, "wrong").status_code == 401
    refused = sign_in_with_form(client, api_agent.email, TEST_PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in refused.get_data(as_text=True)


def test_the_throttle_is_audited_once_per_window(
    tight_app: Flask, api_agent: Agent, db: Session
) -> None:
    client = tight_app.test_client()
    for _ in range(TIGHT.login_account_limit + 3):
        sign_in_with_form(client, api_agent.email, "wrong")
    db.rollback()
    entries = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "sign_in")).all()
    assert [(entry.action, entry.entity_id) for entry in entries] == [("refuse", api_agent.email)]


def test_the_throttle_message_is_japanese_on_japanese_pages(
    tight_app: Flask, api_agent: Agent
) -> None:
    client = tight_app.test_client()
    headers = {"Accept-Language": "ja"}
    for _ in range(TIGHT.login_account_limit + 1):
        answer = sign_in_with_form(client, api_agent.email, "wrong", headers=headers)
    assert answer.status_code == 429
    assert "Too many failed" not in answer.get_data(as_text=True)


def test_the_window_ends_and_the_agent_may_sign_in_again(
    tight_app: Flask, api_agent: Agent, deskhost_clock
) -> None:
    client = tight_app.test_client()
    for _ in range(TIGHT.login_account_limit):
        sign_in_with_form(client, api_agent.email, "wrong")
    deskhost_clock.advance(timedelta(seconds=TIGHT.login_window_seconds))
    assert sign_in_with_form(client, api_agent.email, TEST_PASSWORD).status_code == 302


def test_a_strangers_failures_do_not_lock_the_agent_out_of_their_own_browser(
    tight_app: Flask, api_agent: Agent
) -> None:
    own_browser = tight_app.test_client()
    assert sign_in_with_form(own_browser, api_agent.email, TEST_PASSWORD).status_code == 302
    own_browser.post("/logout", data={"csrf_token": csrf_token_of(own_browser, "/tickets")})
    stranger = tight_app.test_client()
    for _ in range(TIGHT.login_account_limit + 1):
        sign_in_with_form(stranger, api_agent.email, "wrong")
    assert sign_in_with_form(stranger, api_agent.email, TEST_PASSWORD).status_code == 429
    # Same address here (a test client), so the address limit is not reached yet.
    assert sign_in_with_form(own_browser, api_agent.email, TEST_PASSWORD).status_code == 302


def test_the_address_limit_covers_guessing_across_accounts(
    tight_app: Flask, make_agent: Callable[..., Agent], department: Department
) -> None:
    client = tight_app.test_client()
    agents = [make_agent(f"agent{n}@example.com", departments=[department]) for n in range(3)]
    for number in range(TIGHT.login_address_limit):
        sign_in_with_form(client, agents[number % 3].email, "wrong")
    fresh = make_agent("fresh@example.com", departments=[department])
    assert sign_in_with_form(client, fresh.email, TEST_PASSWORD).status_code == 429


# -------------------------------------------------------------------------------- API limits


def test_the_api_answers_429_with_retry_after_past_the_token_limit(
    tight_app: Flask, api_agent: Agent, bearer_for
) -> None:
    client = tight_app.test_client()
    headers = bearer_for(api_agent, ["desk.tickets.read"])
    answers = [client.get("/api/v1/tickets", headers=headers) for _ in range(TIGHT.api_token_limit)]
    assert {answer.status_code for answer in answers} == {200}
    refused = client.get("/api/v1/tickets", headers=headers)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "token" in refused.json["message"]


def test_the_api_limits_each_client_address_whatever_the_token(
    tight_app: Flask, api_agent: Agent
) -> None:
    client = tight_app.test_client()
    for number in range(TIGHT.api_address_limit):
        headers = {"Authorization": f"Bearer guess-{number}"}
        assert client.get("/api/v1/tickets", headers=headers).status_code == 401
    assert client.get("/api/v1/tickets").status_code == 429


def test_a_new_window_lets_the_token_call_again(
    tight_app: Flask, api_agent: Agent, bearer_for, deskhost_clock
) -> None:
    client = tight_app.test_client()
    headers = bearer_for(api_agent, ["desk.tickets.read"])
    for _ in range(TIGHT.api_token_limit + 1):
        client.get("/api/v1/tickets", headers=headers)
    deskhost_clock.advance(timedelta(seconds=TIGHT.api_window_seconds))
    assert client.get("/api/v1/tickets", headers=headers).status_code == 200


def test_browser_sessions_count_per_agent_so_an_office_behind_one_address_is_not_throttled(
    tight_app: Flask, make_agent: Callable[..., Agent], department: Department
) -> None:
    for number in range(2):
        agent = make_agent(f"office{number}@example.com", departments=[department])
        browser = tight_app.test_client()
        with browser.session_transaction() as session:
            session["agent_id"] = agent.id
        for _ in range(TIGHT.api_token_limit):
            assert browser.get("/api/v1/tickets").status_code == 200
    # Both agents made more calls together than the address limit allows.
    assert 2 * TIGHT.api_token_limit > TIGHT.api_address_limit
    assert browser.get("/api/v1/tickets").status_code == 429


def test_successful_sign_ins_do_not_use_up_the_address_limit(
    tight_app: Flask, make_agent: Callable[..., Agent], department: Department
) -> None:
    for number in range(TIGHT.login_address_limit + 2):
        colleague = make_agent(f"colleague{number}@example.com", departments=[department])
        browser = tight_app.test_client()  # one browser each, all behind the same address
        assert sign_in_with_form(browser, colleague.email, TEST_PASSWORD).status_code == 302


def test_a_busy_shared_address_does_not_lock_out_a_remembered_browser(
    tight_app: Flask, api_agent: Agent, make_agent: Callable[..., Agent], department: Department
) -> None:
    own_browser = tight_app.test_client()
    assert sign_in_with_form(own_browser, api_agent.email, TEST_PASSWORD).status_code == 302
    own_browser.post("/logout", data={"csrf_token": csrf_token_of(own_browser, "/tickets")})
    stranger = tight_app.test_client()
    victims = [make_agent(f"victim{n}@example.com", departments=[department]) for n in range(3)]
    for number in range(TIGHT.login_address_limit + 1):
        sign_in_with_form(stranger, victims[number % 3].email, "wrong")
    assert sign_in_with_form(stranger, api_agent.email, TEST_PASSWORD).status_code == 429
    assert sign_in_with_form(own_browser, api_agent.email, TEST_PASSWORD).status_code == 302


def test_every_attempt_is_counted_before_its_password_is_checked(
    tight_app: Flask, api_agent: Agent, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So a burst of parallel guesses cannot all pass the check before one failure counts."""
    counted_when_checked: list[int] = []
    real_authenticate = org.authenticate

    def counting_authenticate(session: Session, email: str, password: str) -> Agent | None:
        keys = host.redis.keys("*:login:account:*")
        counted_when_checked.append(sum(int(host.redis.get(key) or 0) for key in keys))
        return real_authenticate(session, email, password)

    monkeypatch.setattr(org, "authenticate", counting_authenticate)
    client = tight_app.test_client()
    for number in range(TIGHT.login_account_limit * 2):
        sign_in_with_form(client, api_agent.email, f"guess {number}")
    assert counted_when_checked == list(range(1, TIGHT.login_account_limit + 1))
