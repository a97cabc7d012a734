"""Names and layout in a real browser: names in each language's order, the form asks for them
that way, and long addresses and wide tables stay inside their cards at 1366 px."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session

from core.models import Account, Agent, Contact, Department
from core.services import views
from hostapi import clock
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser

#: 80 characters with no hyphen or space to break at: longer than the contact card is wide.
LONG_EMAIL = "hanako.yamada.customerrelationsandsupportdeskescalations@examplecompanyinc.co.jp"
LONG_ACCOUNT = (
    "株式会社ヤマダ・インターナショナル・トレーディング・アンド・ロジスティクス東京本社営業部"
)


@pytest.fixture
def yamada(db: Session) -> Contact:
    now = clock.now()
    account = Account(name=LONG_ACCOUNT, created_at=now, updated_at=now)
    db.add(account)
    db.flush()
    contact = Contact(
        last_name="山田",
        first_name="花子",
        email=LONG_EMAIL,
        phone="03-1234-5678",
        phone_e164="+81312345678",
        account_id=account.id,
        created_at=now,
        updated_at=now,
    )
    db.add(contact)
    db.commit()
    return contact


@pytest.fixture
def open_signed_in(
    browser, live_server: str, desk_agent: Agent, db: Session
) -> Iterator[Callable[[str], object]]:  # type: ignore[no-untyped-def]
    """A 1366×768 page in ``locale``, signed in as the desk agent (whose language it is)."""
    contexts = []

    def open_as(locale: str) -> object:
        desk_agent.locale = locale.split("-")[0]
        db.commit()
        context = browser.new_context(locale=locale, viewport={"width": 1366, "height": 768})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server}/login")
        page.fill("#email", desk_agent.email)
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/tickets")
        return page

    yield open_as
    for context in contexts:
        context.close()


def _overflows_the_window(page) -> bool:  # type: ignore[no-untyped-def]
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth"))


def test_long_email_wraps_inside_its_card_at_1366_in_japanese(
    open_signed_in, live_server: str, yamada: Contact
) -> None:
    page = open_signed_in("ja-JP")
    page.goto(f"{live_server}/contacts/{yamada.id}")
    assert page.inner_text("#contact-name") == "山田 花子"
    email = page.locator("dd", has_text=LONG_EMAIL)
    card = page.locator(".card", has=email).first
    email_box, card_box = email.bounding_box(), card.bounding_box()
    assert email_box["x"] + email_box["width"] <= card_box["x"] + card_box["width"]
    assert email_box["height"] > 30  # it wrapped onto more than one line
    assert not _overflows_the_window(page)


def test_wide_contact_table_scrolls_inside_its_card_at_1366_in_japanese(
    open_signed_in, live_server: str, yamada: Contact, desk_agent: Agent, unit_for, db: Session
) -> None:
    every_column = views.create_view(
        unit_for(desk_agent),
        entity="contact",
        name="すべての列",
        columns=[
            *("name", "last_name", "first_name", "email", "phone", "mobile", "title"),
            *("account", "owner", "tags", "created_at", "updated_at"),
        ],
    )
    db.commit()
    page = open_signed_in("ja-JP")
    page.goto(f"{live_server}/contacts?view={every_column.id}")
    wrap = page.locator(".table-wrap", has=page.locator("#contact-list"))
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")  # wider than its card: scrolls
    assert not _overflows_the_window(page)
    assert page.locator("#contact-list a", has_text="山田 花子").count() == 1


@pytest.mark.parametrize(
    ("locale", "shown"), [("ja-JP", "Yamada Hanako"), ("en-US", "Hanako Yamada")]
)
def test_latin_name_is_ordered_by_the_page_language(
    open_signed_in, live_server: str, db: Session, locale: str, shown: str
) -> None:
    now = clock.now()
    contact = Contact(last_name="Yamada", first_name="Hanako", created_at=now, updated_at=now)
    db.add(contact)
    db.commit()
    page = open_signed_in(locale)
    page.goto(f"{live_server}/contacts")
    assert page.locator("#contact-list a", has_text=shown).count() == 1
    page.goto(f"{live_server}/contacts/{contact.id}")
    assert page.inner_text("#contact-name") == shown


@pytest.mark.parametrize(("locale", "first_label"), [("ja-JP", "姓"), ("en-US", "First name")])
def test_new_contact_form_asks_for_the_name_in_the_page_languages_order(
    open_signed_in, live_server: str, support: Department, locale: str, first_label: str
) -> None:
    page = open_signed_in(locale)
    page.goto(f"{live_server}/contacts/new")
    labels = page.locator("#contact-form label").all_inner_texts()
    assert re.sub(r"\s*\*$", "", labels[0]) == first_label


def test_contact_search_finds_a_name_typed_in_the_other_order(
    open_signed_in, live_server: str, yamada: Contact
) -> None:
    page = open_signed_in("ja-JP")
    page.goto(f"{live_server}/contacts")
    search = page.locator("input[type=search]").first
    search.fill("花子　山田")
    search.press("Enter")
    page.wait_for_url(re.compile(r".*[?&]q=.*|.*[?&]search=.*"))
    assert page.locator("#contact-list a", has_text="山田 花子").count() == 1
