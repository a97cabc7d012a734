"""Names and first impressions through the Flask test client: name order on pages, nothing
English on a Japanese contact list, the favicon."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.models import Agent, Contact, Department
from core.services import views
from core.web.i18n import compile_catalogs
from hostapi import clock
from tests.page_helpers import sign_in

pytestmark = pytest.mark.usefixtures("host")


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def japanese_agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("ja@example.com", locale="ja", departments=[department])


@pytest.fixture
def english_agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("en@example.com", locale="en", departments=[department])


def _page(client: FlaskClient, agent: Agent, path: str) -> str:
    assert sign_in(client, agent.email).status_code == 302
    answer = client.get(path)
    assert answer.status_code == 200, path
    return answer.get_data(as_text=True)


@pytest.fixture
def contacts(db: Session) -> dict[str, Contact]:
    now = clock.now()
    made = {
        "kanji": Contact(last_name="山田", first_name="花子", created_at=now, updated_at=now),
        "latin": Contact(last_name="Smith", first_name="John", created_at=now, updated_at=now),
        "fixed": Contact(
            last_name="Sato",
            first_name="Ken",
            name_order="family_first",
            created_at=now,
            updated_at=now,
        ),
    }
    db.add_all(made.values())
    db.commit()
    return made


def test_japanese_contact_list_orders_every_name_family_first(
    client: FlaskClient, japanese_agent: Agent, contacts: dict[str, Contact]
) -> None:
    page = _page(client, japanese_agent, "/contacts")
    assert "山田 花子" in page and "Smith John" in page and "Sato Ken" in page


def test_english_contact_list_keeps_kanji_names_family_first(
    client: FlaskClient, english_agent: Agent, contacts: dict[str, Contact]
) -> None:
    page = _page(client, english_agent, "/contacts")
    assert "山田 花子" in page and "John Smith" in page and "Sato Ken" in page


def test_ticket_page_shows_the_contact_in_the_pages_order(
    client: FlaskClient, japanese_agent: Agent, contacts: dict[str, Contact], make_ticket
) -> None:
    ticket = make_ticket("請求書", contact=contacts["latin"])
    assert "Smith John" in _page(client, japanese_agent, f"/tickets/{ticket.id}")


def test_contact_form_saves_a_name_order(
    client: FlaskClient, english_agent: Agent, contacts: dict[str, Contact], db: Session
) -> None:
    contact = contacts["kanji"]
    page = _page(client, english_agent, f"/contacts/{contact.id}/edit")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post(
        f"/contacts/{contact.id}/edit",
        data={
            "csrf_token": token,
            "last_name": "山田",
            "first_name": "花子",
            "name_order": "given_first",
        },
    )
    assert answer.status_code == 302
    db.expire_all()
    assert db.get(Contact, contact.id).name_order == "given_first"
    assert "花子 山田" in client.get(f"/contacts/{contact.id}").get_data(as_text=True)


#: What the views service and the built-in records name in English.
ENGLISH_NAMES = [
    "My contacts",
    "Created today",
    "Created in the last 30 days",
    "Updated",
    ">All<",
    ">Name<",
    ">Owner<",
    ">Created<",
]


def test_japanese_contact_list_shows_no_english_view_names(
    client: FlaskClient,
    japanese_agent: Agent,
    contacts: dict[str, Contact],
    unit_for,  # type: ignore[no-untyped-def]
    db: Session,
) -> None:
    saved = views.create_view(
        unit_for(japanese_agent),
        entity="contact",
        name="自分のビュー",
        columns=["name", "email", "owner", "created_at", "updated_at"],
    )
    db.commit()
    page = _page(client, japanese_agent, f"/contacts?view={saved.id}")
    found = [name for name in ENGLISH_NAMES if name in page]
    assert found == []
    assert "自分の連絡先" in page and "更新日時" in page


def test_japanese_view_form_names_every_operator_in_japanese(
    client: FlaskClient, japanese_agent: Agent
) -> None:
    page = _page(client, japanese_agent, "/contacts/views/new")
    operators = "is|is_not|contains|not_contains|starts_with|empty|not_empty"
    options = re.findall(rf'<option value="(?:{operators})"[^>]*>([^<]*)<', page)
    assert options and all(not re.search(r"[A-Za-z]", text) for text in options)


def test_favicon_is_linked_and_served(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in page
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer.headers["Location"].endswith("/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


def test_built_in_profile_is_named_in_the_page_language(
    client: FlaskClient, japanese_agent: Agent
) -> None:
    page = _page(client, japanese_agent, "/contacts")
    assert '<p class="muted">担当者</p>' in page
    assert '<p class="muted">Agent</p>' not in page


def test_validation_messages_are_shown_in_the_page_language(
    client: FlaskClient, japanese_agent: Agent
) -> None:
    page = _page(client, japanese_agent, "/contacts/new")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/contacts/new",
        data={"csrf_token": token, "last_name": "", "first_name": "花" * 201, "email": "x"},
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "この項目は必須です。" in html
    assert "200 文字以内で入力してください。" in html
    assert "メールアドレスの形式が正しくありません。" in html
    assert "characters." not in html and "This field is required." not in html


def test_a_message_with_values_is_its_english_text_everywhere_else() -> None:
    from core.errors import Message

    message = Message("At most %(count)d characters.", count=200)
    assert message == "At most 200 characters."
    assert (message.msgid, message.values) == ("At most %(count)d characters.", {"count": 200})
