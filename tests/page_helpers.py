"""Helpers of the tests that drive pages through the Flask test client."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import TEST_PASSWORD


def csrf_token_of(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token the page at ``path`` hands out (its ``<meta name="csrf-token">``)."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, f"no csrf-token meta on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = TEST_PASSWORD):  # type: ignore[no-untyped-def]
    """Post the sign-in form as a browser would (with the page's CSRF token)."""
    token = csrf_token_of(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def see_committed(db: Session) -> None:
    """End the test session's transaction and forget what it loaded, so that it reads what the
    requests (or commands) committed since."""
    db.commit()
    db.expire_all()
