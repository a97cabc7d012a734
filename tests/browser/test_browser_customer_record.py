"""The contact page in three panels, in a real browser: a one-department agent searches the
contacts, opens one, and moves to the next and back with the arrow keys while the list beside
the record keeps the search, in English and Japanese."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.models import Agent, Contact, Department

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("locale", "hint"), [("en", "move between records"), ("ja", "レコードを移動")]
)
def test_agent_moves_between_searched_contacts_with_the_arrow_keys(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    support: Department,
    make_agent: Callable[..., Agent],
    make_contact: Callable[..., Contact],
    locale: str,
    hint: str,
) -> None:
    for n in range(3):
        make_contact("Sato", first_name=f"Ken{n}", email=f"sato{n}@example.com")
    make_contact("Tanaka", email="tanaka@example.com")
    agent = make_agent(f"records-{locale}@example.com", departments=[support], locale=locale)
    sign_in(agent.email)

    page.goto(f"{live_server}/contacts?q=Sato")  # type: ignore[attr-defined]
    names = page.locator("#contact-list tbody tr a")  # type: ignore[attr-defined]
    listed = [names.nth(i).text_content() for i in range(names.count())]
    names.first.click()
    page.wait_for_selector("#record-list")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]  # the keys' script has run
    beside = page.locator("#record-list [data-record-link]")  # type: ignore[attr-defined]
    assert [
        beside.nth(i).locator(".record-name").text_content() for i in range(beside.count())
    ] == listed
    assert hint in (page.locator("#record-list").text_content() or "")  # type: ignore[attr-defined]
    assert page.locator("#contact-name").text_content() == listed[0]  # type: ignore[attr-defined]

    page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "name => document.querySelector('#contact-name').textContent === name", arg=listed[1]
    )
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert "list_q=Sato" in page.url  # type: ignore[attr-defined]
    current = page.locator('#record-list [aria-current="page"] .record-name')  # type: ignore[attr-defined]
    assert current.text_content() == listed[1]

    page.keyboard.press("ArrowUp")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "name => document.querySelector('#contact-name').textContent === name", arg=listed[0]
    )
    page.wait_for_load_state()  # type: ignore[attr-defined]
    # An arrow typed into a field moves the caret, not the page: one more outside it then
    # opens the second contact, not the third.
    page.locator("#comment-body").press("ArrowDown")  # type: ignore[attr-defined]
    page.locator("#contact-name").click()  # type: ignore[attr-defined]
    page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "name => document.querySelector('#contact-name').textContent === name", arg=listed[1]
    )
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.locator("#contact-name").text_content() == listed[1]  # type: ignore[attr-defined]
