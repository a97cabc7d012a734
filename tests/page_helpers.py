"""Helpers of the tests that drive pages through the Flask test client."""

from __future__ import annotations

import re
from html import unescape

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


def customer_tab_html(client: FlaskClient, path: str, plugin_id: str, query: str = "") -> str:
    """The body of the built-in tab ``plugin_id`` (``core_customer_…``) on the customer page at
    ``path``, selected, with the page's ``query``."""
    if f"tab={plugin_id}." not in query:
        page = client.get(path).get_data(as_text=True)
        key = re.search(rf'data-tab="({plugin_id}\.[a-z_]+)"', page)
        assert key is not None, f"no {plugin_id} tab"
        query = "&".join(filter(None, [f"tab={key.group(1)}", query]))
    answer = client.get(f"{path}?{query}")
    assert answer.status_code == 200
    body = answer.get_data(as_text=True).partition(f'role="tabpanel" data-tab="{plugin_id}.')[2]
    assert body, f"the {plugin_id} tab is not the selected one"
    return body


def older_query(html: str) -> str | None:
    """The query of a tab's "Older" link (``rel="next"``), unescaped; ``None`` on the last page."""
    found = re.search(r'rel="next" href="\?([^"#]+)', html)
    return None if found is None else unescape(found.group(1))
