"""Agents' personal access tokens in the UI: created once-visible, usable, revocable."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core.models import AccessToken, Agent, Department
from tests.page_helpers import csrf_token_of, sign_in

pytestmark = pytest.mark.usefixtures("host")


@pytest.fixture
def signed_in(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    make_department: Callable[..., Department],
) -> FlaskClient:
    agent = make_agent("agent@example.com", departments=[make_department("Support")])
    sign_in(client, agent.email)
    return client


def create(client: FlaskClient, **form: object) -> TestResponse:
    """Post the new-token form as the browser would."""
    data = {"csrf_token": csrf_token_of(client, "/settings/tokens"), **form}
    return client.post("/settings/tokens", data=data)


def shown_token(page: str) -> str:
    """The plaintext token a page shows once."""
    match = re.search(r"<code>(dhp_[^<]+)</code>", page)
    assert match, "no new token on the page"
    return match.group(1)


def test_new_token_is_shown_once_and_calls_the_api(signed_in: FlaskClient) -> None:
    page = create(
        signed_in, name="Nightly export", scopes=["desk.tickets.read"], lifetime_days="30"
    ).get_data(as_text=True)
    token = shown_token(page)

    assert token not in signed_in.get("/settings/tokens").get_data(as_text=True)
    anonymous = signed_in.application.test_client()
    answer = anonymous.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200


def test_token_without_a_name_or_scopes_is_refused_and_not_stored(
    signed_in: FlaskClient, db: Session
) -> None:
    response = create(signed_in, name="", lifetime_days="30")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.count('class="field-error"') >= 2
    assert db.scalar(select(func.count()).select_from(AccessToken)) == 0


def test_revoked_token_is_refused_by_the_api(signed_in: FlaskClient, db: Session) -> None:
    page = create(signed_in, name="CI", scopes=["desk.tickets.read"], lifetime_days="0")
    token = shown_token(page.get_data(as_text=True))
    token_id = db.scalars(select(AccessToken.id)).one()

    signed_in.post(
        f"/settings/tokens/{token_id}/revoke",
        data={"csrf_token": csrf_token_of(signed_in, "/settings/tokens")},
    )

    anonymous = signed_in.application.test_client()
    answer = anonymous.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
