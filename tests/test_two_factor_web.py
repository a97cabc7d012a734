"""Two-factor sign-in in the browser: the second step, the half-signed-in session that grants
nothing, the throttle, a profile's requirement, the enrolment page, and an agent manager's
reset (page and REST)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.config import SecurityLimits
from core.host import Host
from core.models import Agent, Department
from core.services import two_factor
from core.services.base import Actor, Unit
from core.web import create_app
from hostapi import clock
from hostapi import scopes as scope_names
from tests.crawler import MissingTranslations
from tests.factories import TEST_PASSWORD
from tests.page_helpers import csrf_token_of

pytest_plugins = ["tests.api_fixtures"]

START = datetime(2026, 12, 6, 9, 0, 10, tzinfo=UTC)

#: Limits small enough to reach in a test.
TIGHT = SecurityLimits(
    login_account_limit=3,
    login_address_limit=20,
    login_window_seconds=900,
    api_token_limit=100,
    api_address_limit=100,
    api_window_seconds=60,
)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """The host's clock stopped at :data:`START` (the tests move it)."""
    clock.freeze(START)
    yield
    clock.unfreeze()


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An ordinary agent of "Support"."""
    return make_agent("kenji@example.com", name="Kenji", departments=[department])


@pytest.fixture
def secret(db: Session, host: Host, agent: Agent) -> str:
    """``agent`` with two-factor on; the secret their app holds."""
    unit = Unit(session=db, actor=Actor(agent), host=host)
    value = two_factor.begin_enrolment(unit, agent)
    two_factor.confirm_enrolment(unit, agent, pyotp.TOTP(value).at(clock.now()))
    db.commit()
    clock.advance(timedelta(seconds=60))  # the enrolment's code is spent: a new step
    return value


def post_password(client: FlaskClient, email: str, password: str = TEST_PASSWORD, **form):  # type: ignore[no-untyped-def]
    """The first step, as the sign-in form sends it."""
    data = {"csrf_token": csrf_token_of(client, "/login"), "email": email, "password": password}
    return client.post("/login", data=data | form)


def post_code(client: FlaskClient, code: str):  # type: ignore[no-untyped-def]
    """The second step, as its form sends it."""
    data = {"csrf_token": csrf_token_of(client, "/login/two-factor"), "code": code}
    return client.post("/login/two-factor", data=data)


def open_session(client: FlaskClient, agent: Agent) -> None:
    """A browser session of ``agent`` signed in in full (at their current generation)."""
    with client.session_transaction() as session:
        session["agent_id"] = agent.id
        session["generation"] = agent.session_generation
    assert client.get("/api/v1/me").status_code == 200


def recovery_codes_on(page: str) -> list[str]:
    """The recovery codes a page shows."""
    return re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", page)


# ------------------------------------------------------------------------------ the two steps


def test_the_password_leads_to_the_code_step(
    client: FlaskClient, agent: Agent, secret: str
) -> None:
    answer = post_password(client, agent.email, next="/contacts")
    assert answer.status_code == 302 and answer.location.endswith("/login/two-factor")
    page = client.get("/login/two-factor")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.get_data(True)


def test_the_half_signed_in_session_grants_no_page_and_no_api(
    client: FlaskClient, agent: Agent, secret: str
) -> None:
    post_password(client, agent.email)
    for path in ("/tickets", "/contacts", "/settings/tokens", "/account/two-factor"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/login" in answer.location, path
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/tickets").status_code == 401


def test_the_right_code_signs_in_and_goes_on_to_next(
    client: FlaskClient, agent: Agent, secret: str
) -> None:
    post_password(client, agent.email, next="/contacts")
    answer = post_code(client, pyotp.TOTP(secret).at(clock.now()))
    assert answer.status_code == 302 and answer.location.endswith("/contacts")
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json["two_factor_enabled"] is True


def test_the_code_step_keeps_its_csrf_check(client: FlaskClient, agent: Agent, secret: str) -> None:
    post_password(client, agent.email)
    answer = client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).at(clock.now())})
    assert answer.status_code == 400
    assert client.get("/api/v1/me").status_code == 401


def test_a_wrong_code_is_refused_and_grants_nothing(
    client: FlaskClient, agent: Agent, secret: str
) -> None:
    post_password(client, agent.email)
    wrong = pyotp.TOTP(secret).at(clock.now() + timedelta(minutes=5))
    answer = post_code(client, wrong)
    assert answer.status_code == 401 and 'id="two-factor-error"' in answer.get_data(True)
    assert client.get("/api/v1/me").status_code == 401


def test_a_recovery_code_signs_in_once(
    client: FlaskClient, app: Flask, db: Session, host: Host, agent: Agent, secret: str
) -> None:
    codes = two_factor.regenerate_recovery_codes(
        Unit(session=db, actor=Actor(agent), host=host), agent, TEST_PASSWORD
    )
    db.commit()
    post_password(client, agent.email)
    assert post_code(client, codes[0]).status_code == 302
    other = app.test_client()
    post_password(other, agent.email)
    assert post_code(other, codes[0]).status_code == 401


def test_a_code_step_without_a_password_step_goes_back_to_sign_in(client: FlaskClient) -> None:
    answer = client.get("/login/two-factor")
    assert answer.status_code == 302 and answer.location.endswith("/login")


def test_the_half_signed_in_state_expires(client: FlaskClient, agent: Agent, secret: str) -> None:
    post_password(client, agent.email)
    clock.advance(timedelta(minutes=11))
    answer = client.get("/login/two-factor")
    assert answer.status_code == 302 and answer.location.endswith("/login")


def test_an_agent_without_two_factor_signs_in_with_the_password(
    client: FlaskClient, agent: Agent
) -> None:
    answer = post_password(client, agent.email)
    assert answer.status_code == 302 and answer.location.endswith("/tickets")
    assert client.get("/api/v1/me").json["two_factor_enabled"] is False


def test_wrong_codes_count_against_the_sign_in_throttle(
    host: Host, agent: Agent, secret: str
) -> None:
    client = create_app({"TESTING": True, "DESKHOST_LIMITS": TIGHT}, host=host).test_client()
    post_password(client, agent.email)  # right: taken back, the code step counts
    wrong = pyotp.TOTP(secret).at(clock.now() + timedelta(minutes=5))
    assert [post_code(client, wrong).status_code for _ in range(3)] == [401, 401, 401]
    refused = post_code(client, pyotp.TOTP(secret).at(clock.now()))
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert client.get("/api/v1/me").status_code == 401


def test_a_right_password_and_code_use_up_no_attempt(host: Host, agent: Agent, secret: str) -> None:
    app = create_app({"TESTING": True, "DESKHOST_LIMITS": TIGHT}, host=host)
    for _ in range(4):
        client = app.test_client()
        post_password(client, agent.email)
        assert post_code(client, pyotp.TOTP(secret).at(clock.now())).status_code == 302
        clock.advance(timedelta(seconds=30))


# ---------------------------------------------------------------------- a profile's requirement


@pytest.fixture
def required(db: Session, agent: Agent) -> Agent:
    """``agent`` with a profile that requires two-factor, not enrolled."""
    agent.profile.requires_two_factor = True
    db.commit()
    return agent


def test_a_required_agent_goes_from_the_password_to_enrolment(
    client: FlaskClient, required: Agent
) -> None:
    answer = post_password(client, required.email, next="/contacts")
    assert answer.status_code == 302 and answer.location.endswith("/account/two-factor")
    page = client.get("/account/two-factor").get_data(True)
    assert 'id="two-factor-required"' in page and 'id="two-factor-start"' in page
    assert client.get("/tickets").status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_enrolment_after_the_password_signs_the_agent_in(
    client: FlaskClient, required: Agent
) -> None:
    post_password(client, required.email, next="/contacts")
    client.post(
        "/account/two-factor/start",
        data={"csrf_token": csrf_token_of(client, "/account/two-factor")},
    )
    page = client.get("/account/two-factor").get_data(True)
    shown = re.search(r'id="two-factor-secret"[^>]*>([A-Z2-7 ]+)<', page)
    assert shown and "<svg" in page
    code = pyotp.TOTP(shown.group(1).replace(" ", "")).at(clock.now())
    answer = client.post(
        "/account/two-factor/confirm",
        data={"csrf_token": csrf_token_of(client, "/account/two-factor"), "code": code},
    )
    assert answer.status_code == 200
    assert len(recovery_codes_on(answer.get_data(True))) == 10
    assert 'href="/contacts"' in answer.get_data(True)
    assert client.get("/contacts").status_code == 200


def test_a_session_from_before_the_requirement_is_held_on_enrolment(
    client: FlaskClient, agent: Agent, db: Session, sign_in_as
) -> None:
    sign_in_as(agent)
    agent.profile.requires_two_factor = True
    db.commit()
    answer = client.get("/contacts")
    assert answer.status_code == 302 and answer.location.endswith("/account/two-factor")
    assert client.get("/account/two-factor").status_code == 200
    refused = client.get("/api/v1/me")
    assert refused.status_code == 403 and "two-factor" in refused.json["message"]
    sneaking = client.get("/contacts", headers={"Authorization": "Bearer nothing"})
    assert sneaking.status_code == 302 and sneaking.location.endswith("/account/two-factor")


def test_bearer_tokens_are_not_held_by_the_requirement(
    client: FlaskClient, required: Agent, bearer_for
) -> None:
    headers = bearer_for(required, [scope_names.TICKETS_READ])
    answer = client.get("/api/v1/me", headers=headers)
    assert answer.status_code == 200 and answer.json["two_factor_enabled"] is False


# ------------------------------------------------------------------------- the enrolment page


def test_the_agent_menu_links_to_the_page(client: FlaskClient, agent: Agent, sign_in_as) -> None:
    sign_in_as(agent)
    assert 'href="/account/two-factor"' in client.get("/tickets").get_data(True)


def test_enrolment_shows_a_qr_code_and_the_key_then_the_codes_once(
    client: FlaskClient, agent: Agent, sign_in_as
) -> None:
    sign_in_as(agent)
    token = csrf_token_of(client, "/account/two-factor")
    client.post("/account/two-factor/start", data={"csrf_token": token})
    page = client.get("/account/two-factor").get_data(True)
    assert re.search(r'<figure class="qr-code"[^>]*><svg', page)
    shown = re.search(r'id="two-factor-secret"[^>]*>([A-Z2-7 ]+)<', page)
    assert shown
    wrong = client.post("/account/two-factor/confirm", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 422 and 'class="field-error"' in wrong.get_data(True)
    code = pyotp.TOTP(shown.group(1).replace(" ", "")).at(clock.now())
    answer = client.post("/account/two-factor/confirm", data={"csrf_token": token, "code": code})
    codes = recovery_codes_on(answer.get_data(True))
    assert len(codes) == 10
    again = client.get("/account/two-factor").get_data(True)
    assert codes[0] not in again and shown.group(1) not in again
    assert "10 unused recovery codes left." in again


def test_regenerating_on_the_page_shows_new_codes(
    client: FlaskClient, agent: Agent, secret: str
) -> None:
    open_session(client, agent)
    token = csrf_token_of(client, "/account/two-factor")
    refused = client.post(
        "/account/two-factor/recovery-codes", data={"csrf_token": token, "proof": "wrong one"}
    )
    assert refused.status_code == 422
    answer = client.post(
        "/account/two-factor/recovery-codes", data={"csrf_token": token, "proof": TEST_PASSWORD}
    )
    assert answer.status_code == 200 and len(recovery_codes_on(answer.get_data(True))) == 10


def test_turning_off_on_the_page_keeps_this_session_and_ends_the_others(
    app: Flask, client: FlaskClient, agent: Agent, secret: str
) -> None:
    open_session(client, agent)
    other = app.test_client()
    open_session(other, agent)
    token = csrf_token_of(client, "/account/two-factor")
    code = pyotp.TOTP(secret).at(clock.now())
    answer = client.post("/account/two-factor/disable", data={"csrf_token": token, "proof": code})
    assert answer.status_code == 302
    assert client.get("/api/v1/me").json["two_factor_enabled"] is False
    assert other.get("/api/v1/me").status_code == 401


def test_wrong_codes_or_passwords_on_the_page_count_against_the_sign_in_throttle(
    host: Host, db: Session, agent: Agent, secret: str
) -> None:
    client = create_app({"TESTING": True, "DESKHOST_LIMITS": TIGHT}, host=host).test_client()
    open_session(client, agent)
    token = csrf_token_of(client, "/account/two-factor")
    form = {"csrf_token": token, "proof": "wrong one"}
    statuses = [client.post("/account/two-factor/disable", data=form).status_code for _ in range(3)]
    assert statuses == [422, 422, 422]
    form["proof"] = TEST_PASSWORD
    refused = client.post("/account/two-factor/disable", data=form)
    assert refused.status_code == 429
    wait = r"Too many wrong codes or passwords. Try again in \d+ min."
    assert re.search(wait, refused.get_data(True))
    db.expire_all()
    assert two_factor.is_enabled(db, agent.id)


# -------------------------------------------------------------------------------- admin reset


def test_an_admin_resets_an_agents_two_factor_on_its_page(
    client: FlaskClient, app: Flask, agent: Agent, secret: str, admin_agent: Agent, sign_in_as
) -> None:
    held = app.test_client()
    post_password(held, agent.email)
    post_code(held, pyotp.TOTP(secret).at(clock.now()))
    assert held.get("/api/v1/me").status_code == 200
    sign_in_as(admin_agent)
    path = f"/two-factor/agents/{agent.id}/reset"
    page = client.get(path + "?next=/contacts")
    assert page.status_code == 200 and 'id="two-factor-reset"' in page.get_data(True)
    token = csrf_token_of(client, path)
    answer = client.post(path, data={"csrf_token": token, "next": "/contacts"})
    assert answer.status_code == 200 and 'id="two-factor-reset-done"' in answer.get_data(True)
    assert held.get("/api/v1/me").status_code == 401
    assert post_password(held, agent.email).location.endswith("/tickets")


def test_an_agent_without_agent_manage_cannot_reset(
    client: FlaskClient, agent: Agent, secret: str, make_agent: Callable[..., Agent], sign_in_as
) -> None:
    sign_in_as(make_agent("colleague@example.com", name="Colleague"))
    assert client.get(f"/two-factor/agents/{agent.id}/reset").status_code == 403
    assert client.get("/two-factor/agents/999999/reset").status_code == 404


def test_the_api_reads_and_resets_an_agents_two_factor(
    client: FlaskClient, agent: Agent, secret: str, admin_agent: Agent, sign_in_as, bearer_for
) -> None:
    headers = bearer_for(admin_agent, [scope_names.SETTINGS_READ])
    state = client.get(f"/api/v1/agents/{agent.id}/two-factor", headers=headers)
    assert state.status_code == 200
    assert state.json["enabled"] is True and state.json["recovery_codes_left"] == 10
    csrf = sign_in_as(admin_agent)
    assert client.delete(f"/api/v1/agents/{agent.id}/two-factor", headers=csrf).status_code == 204
    again = client.delete(f"/api/v1/agents/{agent.id}/two-factor", headers=csrf)
    assert again.status_code == 409


def test_the_api_refuses_an_agent_without_agent_manage(
    client: FlaskClient, agent: Agent, secret: str, api_agent: Agent, sign_in_as
) -> None:
    csrf = sign_in_as(api_agent)
    assert client.get(f"/api/v1/agents/{agent.id}/two-factor").status_code == 403
    assert client.delete(f"/api/v1/agents/{agent.id}/two-factor", headers=csrf).status_code == 403
    assert client.get("/api/v1/agents/999999/two-factor").status_code == 404


# ------------------------------------------------------------------------------------ Japanese


def test_every_two_factor_page_is_in_japanese_for_a_japanese_agent(
    app: Flask,
    db: Session,
    make_agent: Callable[..., Agent],
    department: Department,
    admin_agent: Agent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = MissingTranslations(monkeypatch)
    japanese = make_agent("hanako@example.com", name="花子", departments=[department], locale="ja")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    open_session(client, japanese)
    token = csrf_token_of(client, "/account/two-factor")
    pages = {"off": client.get("/account/two-factor").get_data(True)}
    client.post("/account/two-factor/start", data={"csrf_token": token})
    pages["enrolling"] = client.get("/account/two-factor").get_data(True)
    wrong = client.post("/account/two-factor/confirm", data={"csrf_token": token, "code": "1"})
    pages["wrong code"] = wrong.get_data(True)
    shown = re.search(r'id="two-factor-secret"[^>]*>([A-Z2-7 ]+)<', pages["enrolling"])
    assert shown
    key = shown.group(1).replace(" ", "")
    answer = client.post(
        "/account/two-factor/confirm",
        data={"csrf_token": token, "code": pyotp.TOTP(key).at(clock.now())},
    )
    pages["codes"] = answer.get_data(True)
    token = csrf_token_of(client, "/account/two-factor")
    pages["on"] = client.get("/account/two-factor").get_data(True)
    refused = client.post(
        "/account/two-factor/disable", data={"csrf_token": token, "proof": "wrong one"}
    )
    pages["wrong proof"] = refused.get_data(True)
    clock.advance(timedelta(seconds=60))
    signing_in = app.test_client()
    signing_in.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    post_password(signing_in, japanese.email)
    pages["second step"] = signing_in.get("/login/two-factor").get_data(True)
    pages["wrong second code"] = post_code(signing_in, "000000").get_data(True)
    japanese_admin = make_agent(
        "kanri@example.com", name="管理者", profile="Administrator", locale="ja"
    )
    admin = app.test_client()
    open_session(admin, japanese_admin)
    pages["reset"] = admin.get(f"/two-factor/agents/{japanese.id}/reset").get_data(True)
    assert missing.found == {}
    expected = {
        "off": "2段階認証を設定する",
        "enrolling": "キーの QR コード",
        "wrong code": "コードが正しくないか",
        "codes": "保存しました",
        "on": "未使用のリカバリーコードは残り 10 個です。",
        "wrong proof": "コードまたはパスワードが正しくありません。",
        "second step": "6桁のコード",
        "wrong second code": "コードが正しくないか",
        "reset": "2段階認証をリセット",
    }
    wrong_pages = {name: text for name, text in expected.items() if text not in pages[name]}
    assert not wrong_pages
