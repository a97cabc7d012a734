"""@mentions in a real browser: one agent mentions another, who finds it in their notifications."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from core.models import Agent, Contact, Department
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def mentioned_agent(make_agent: Callable[..., Agent], support: Department) -> Agent:
    """The colleague who is mentioned."""
    return make_agent("ken@example.com", name="Ken Sato", departments=[support])


@pytest.fixture
def second_page(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A page in a browser context of its own: another agent at another desk."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_mentioned_agent_sees_the_notification_and_follows_it_to_the_contact(  # type: ignore[no-untyped-def]
    page,
    second_page,
    live_server: str,
    sign_in: Callable[[str], None],
    desk_agent: Agent,
    mentioned_agent: Agent,
    make_contact: Callable[..., Contact],
) -> None:
    contact = make_contact()
    sign_in(desk_agent.email)
    page.goto(f"{live_server}/contacts/{contact.id}")
    box = page.locator("#comment-body")
    box.click()
    box.press_sequentially("Please call her back @Ke")
    suggestion = page.locator(".mention-suggestions [role=option]", has_text="Ken Sato")
    # Each letter asks again: the list of "@" (everyone, Aiko first) can show Ken before the
    # answer to "@Ke" selects him.
    expect(suggestion).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    box.press_sequentially("today.")
    assert box.input_value() == (
        f"Please call her back @[Ken Sato](agent:{mentioned_agent.id}) today."
    )
    page.click("#comment-form button[type=submit]")
    mention = page.locator(".comment .mention")
    mention.wait_for()
    assert mention.inner_text() == "@Ken Sato"

    other = second_page
    other.goto(f"{live_server}/login")
    other.fill("#email", mentioned_agent.email)
    other.fill("#password", TEST_PASSWORD)
    other.click("button[type=submit]")
    other.wait_for_url(f"{live_server}/tickets")
    assert other.request.get(f"{live_server}/notifications/unread-count").json() == {"unread": 1}
    other.goto(f"{live_server}/notifications")
    assert other.inner_text("#unread-summary") == "1 unread"
    entry = other.locator("li.notification.unread")
    assert "Aiko Tanaka mentioned you on Hanako Yamada" in entry.inner_text()
    assert "Please call her back @Ken Sato today." in entry.inner_text()
    entry.locator("a.notification-link").click()
    other.wait_for_url(re.compile(rf"/contacts/{contact.id}#comment-\d+$"))
    assert other.locator(".comment .mention").inner_text() == "@Ken Sato"
    other.goto(f"{live_server}/notifications")
    assert other.inner_text("#unread-summary") == "0 unread"
