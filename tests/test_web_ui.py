"""The agents' web UI through the Flask test client: sign-in, CSRF, scoping, pages, language."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from core.models import Agent, Department, Ticket
from core.web.i18n import compile_catalogs
from tests.factories import TEST_PASSWORD
from tests.page_helpers import csrf_token_of, sign_in

pytestmark = pytest.mark.usefixtures("host")


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    """The Japanese pages need compiled catalogs even when pytest runs without make."""
    compile_catalogs()


@pytest.fixture
def support(make_department: Callable[..., Department]) -> Department:
    return make_department("Support")


@pytest.fixture
def agent(make_agent: Callable[..., Agent], support: Department) -> Agent:
    return make_agent("agent@example.com", departments=[support])


@pytest.fixture
def signed_in(client: FlaskClient, agent: Agent) -> FlaskClient:
    response = sign_in(client, agent.email)
    assert response.status_code == 302
    return client


def test_pages_redirect_anonymous_visitors_to_login(client: FlaskClient) -> None:
    response = client.get("/tickets")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/tickets")


def test_right_password_signs_in_and_opens_the_ticket_list(
    client: FlaskClient, agent: Agent
) -> None:
    response = sign_in(client, agent.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/tickets"
    assert "Test Agent" in client.get("/tickets").get_data(as_text=True)


def test_wrong_password_shows_a_clear_error(client: FlaskClient, agent: Agent) -> None:
    response = sign_in(client, agent.email, "not the password")
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "The email address or password is incorrect." in page
    assert client.get("/tickets").status_code == 302


def test_logout_ends_the_session(signed_in: FlaskClient) -> None:
    token = csrf_token_of(signed_in, "/tickets")
    response = signed_in.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    # The emptied session's cookie is removed (expired), not left to the browser.
    removed = [v for v in response.headers.getlist("Set-Cookie") if v.startswith("session=;")]
    assert removed and "Expires=Thu, 01 Jan 1970" in removed[0]
    assert signed_in.get("/tickets").status_code == 302


def test_post_without_csrf_token_is_refused(signed_in: FlaskClient) -> None:
    response = signed_in.post("/logout")
    assert response.status_code == 400
    assert signed_in.get("/tickets").status_code == 200  # still signed in


def test_login_post_without_csrf_token_is_refused(client: FlaskClient, agent: Agent) -> None:
    response = client.post("/login", data={"email": agent.email, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert client.get("/tickets").status_code == 302


def test_an_unverified_bearer_header_does_not_skip_the_csrf_check(app) -> None:  # type: ignore[no-untyped-def]
    @app.post("/_test/bearer-echo")
    def bearer_echo() -> str:
        return "ok"

    response = app.test_client().post(
        "/_test/bearer-echo", headers={"Authorization": "Bearer some-token"}
    )
    assert response.status_code == 400


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "http" not in csp  # no external source anywhere
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]  # each header once
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_security_header_a_view_sets_itself_is_kept(app) -> None:  # type: ignore[no-untyped-def]
    @app.get("/_test/framed")
    def framed() -> tuple[str, int, dict[str, str]]:
        return "ok", 200, {"x-frame-options": "SAMEORIGIN"}

    response = app.test_client().get("/_test/framed")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_an_answer_leaving_the_session_empty_sets_no_cookie_but_varies_on_it(app) -> None:  # type: ignore[no-untyped-def]
    @app.get("/_test/plain")
    def plain() -> str:
        return "ok"

    response = app.test_client().get("/_test/plain")
    assert "Cookie" in response.headers.get("Vary", "")  # who is signed in was asked
    assert not any(v.startswith("session=") for v in response.headers.getlist("Set-Cookie"))


def test_ticket_list_shows_the_agents_tickets(
    signed_in: FlaskClient, make_ticket: Callable[..., Ticket], support: Department
) -> None:
    make_ticket("Printer on fire", department=support)
    page = signed_in.get("/tickets").get_data(as_text=True)
    assert "Printer on fire" in page


def test_ticket_list_hides_tickets_of_other_departments(
    signed_in: FlaskClient,
    make_ticket: Callable[..., Ticket],
    make_department: Callable[..., Department],
) -> None:
    billing = make_department("Billing")
    make_ticket("Refund my invoice", department=billing)
    assert "Refund my invoice" not in signed_in.get("/tickets").get_data(as_text=True)


def test_ticket_list_filters_unassigned_tickets(
    signed_in: FlaskClient, make_ticket: Callable[..., Ticket], agent: Agent
) -> None:
    make_ticket("Nobody has this one")
    make_ticket("Mine already", assignee_id=agent.id)
    page = signed_in.get("/tickets?assignee=unassigned").get_data(as_text=True)
    assert "Nobody has this one" in page
    assert "Mine already" not in page


def test_ticket_list_pages_with_an_older_link(
    signed_in: FlaskClient, make_ticket: Callable[..., Ticket]
) -> None:
    for n in range(51):
        make_ticket(f"Ticket number {n:02d}")
    first = signed_in.get("/tickets").get_data(as_text=True)
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older, "no older link on a full page"
    second = signed_in.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "Ticket number 00" in second
    assert "Ticket number 00" not in first


def test_ticket_page_shows_the_conversation_and_the_panel_area(
    signed_in: FlaskClient, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket("Printer on fire", description="It smokes.")
    page = signed_in.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Printer on fire" in page
    assert "It smokes." in page
    assert 'id="extension-panels"' in page
    assert 'data-location="desk.ticket.detail.rightpanel"' in page


def test_agent_outside_the_department_gets_404_on_the_ticket_page(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    make_department: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
) -> None:
    billing = make_department("Billing")
    outsider = make_agent("outsider@example.com", departments=[billing])
    ticket = make_ticket("Secret subject")
    sign_in(client, outsider.email)
    response = client.get(f"/tickets/{ticket.id}")
    assert response.status_code == 404
    assert "Secret subject" not in response.get_data(as_text=True)


def test_missing_ticket_gets_the_same_404(signed_in: FlaskClient) -> None:
    assert signed_in.get("/tickets/987654").status_code == 404


def test_reply_is_added_to_the_conversation(
    signed_in: FlaskClient, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()
    token = csrf_token_of(signed_in, f"/tickets/{ticket.id}")
    response = signed_in.post(
        f"/tickets/{ticket.id}/threads",
        data={"csrf_token": token, "kind": "outgoing", "body": "We are on it."},
    )
    assert response.status_code == 302
    page = signed_in.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'class="thread outgoing"' in page
    assert "We are on it." in page


def test_empty_reply_shows_a_form_error(
    signed_in: FlaskClient, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()
    token = csrf_token_of(signed_in, f"/tickets/{ticket.id}")
    response = signed_in.post(
        f"/tickets/{ticket.id}/threads",
        data={"csrf_token": token, "kind": "comment", "body": "   "},
    )
    assert response.status_code == 422
    assert "Write a message before sending." in response.get_data(as_text=True)


def test_status_change_is_saved(signed_in: FlaskClient, make_ticket: Callable[..., Ticket]) -> None:
    ticket = make_ticket()
    token = csrf_token_of(signed_in, f"/tickets/{ticket.id}")
    signed_in.post(f"/tickets/{ticket.id}/status", data={"csrf_token": token, "status": "On Hold"})
    page = signed_in.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert re.search(r'id="ticket-status">On hold<', page)


def test_light_agent_replying_gets_403(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    support: Department,
    make_ticket: Callable[..., Ticket],
) -> None:
    light = make_agent("light@example.com", profile="Light Agent", departments=[support])
    ticket = make_ticket()
    sign_in(client, light.email)
    token = csrf_token_of(client, f"/tickets/{ticket.id}")
    response = client.post(
        f"/tickets/{ticket.id}/threads",
        data={"csrf_token": token, "kind": "outgoing", "body": "Hello"},
    )
    assert response.status_code == 403


def test_contact_page_shows_details_and_the_tab_area(
    signed_in: FlaskClient,
    make_contact,
    make_account,  # type: ignore[no-untyped-def]
) -> None:
    acme = make_account("Acme")
    contact = make_contact("Yamada", account=acme)
    page = signed_in.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Hanako Yamada" in page
    assert 'id="customer-tabs"' in page
    assert 'data-location="desk.contact.detail.subtab"' in page
    assert "Acme" in page


def test_account_page_shows_its_contacts_and_the_tab_area(
    signed_in: FlaskClient,
    make_contact,
    make_account,  # type: ignore[no-untyped-def]
) -> None:
    acme = make_account("Acme")
    make_contact("Yamada", account=acme)
    page = signed_in.get(f"/accounts/{acme.id}").get_data(as_text=True)
    assert "Hanako Yamada" in page
    assert 'data-location="desk.account.detail.subtab"' in page


def test_contact_and_account_lists_search(
    signed_in: FlaskClient,
    make_contact,
    make_account,  # type: ignore[no-untyped-def]
) -> None:
    make_contact("Yamada", email="hanako@example.com")
    make_contact("Suzuki", first_name="Ichiro", email="ichiro@example.com")
    page = signed_in.get("/contacts?q=suzuki").get_data(as_text=True)
    assert "Ichiro Suzuki" in page
    assert "Hanako Yamada" not in page
    make_account("Acme")
    assert "Acme" in signed_in.get("/accounts?q=acm").get_data(as_text=True)


def test_japanese_agent_sees_the_japanese_ui(
    client: FlaskClient, make_agent: Callable[..., Agent], support: Department
) -> None:
    make_agent("ja@example.com", departments=[support], locale="ja")
    sign_in(client, "ja@example.com")
    page = client.get("/tickets").get_data(as_text=True)
    assert "問い合わせ" in page
    assert "連絡先" in page
    assert "取引先" in page
    assert '<html lang="ja">' in page


def test_language_switch_is_saved_on_the_agent(signed_in: FlaskClient, agent: Agent, db) -> None:  # type: ignore[no-untyped-def]
    token = csrf_token_of(signed_in, "/tickets")
    response = signed_in.post(
        "/settings/language", data={"csrf_token": token, "locale": "ja", "next": "/contacts"}
    )
    assert response.headers["Location"] == "/contacts"
    db.refresh(agent)
    assert agent.locale == "ja"
    assert "連絡先" in signed_in.get("/contacts").get_data(as_text=True)


def test_login_page_follows_the_browsers_language(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "ja,en;q=0.5"}).get_data(as_text=True)
    assert "ログイン" in page


def test_times_are_shown_in_the_organisations_time_zone(
    signed_in: FlaskClient,
    make_ticket: Callable[..., Ticket],
    db,  # type: ignore[no-untyped-def]
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from core.models import Organisation

    organisation = db.scalar(select(Organisation))
    organisation.timezone = "Asia/Tokyo"
    db.commit()
    ticket = make_ticket(created_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    page = signed_in.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Mar 2, 2026, 8:30:00" in page


def test_dates_follow_the_organisations_time_zone(
    signed_in: FlaskClient,
    make_contact,  # type: ignore[no-untyped-def]
    db,  # type: ignore[no-untyped-def]
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from core.models import Organisation

    organisation = db.scalar(select(Organisation))
    organisation.timezone = "Asia/Tokyo"
    contact = make_contact("Late")
    contact.created_at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    db.commit()
    page = signed_in.get("/contacts").get_data(as_text=True)
    assert "Mar 2, 2026" in page
