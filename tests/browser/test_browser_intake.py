"""Ways in, in a real browser: a customer's form becomes a ticket the agent opens; a visitor
who errs sees what to fix; an agent logs a call."""

from __future__ import annotations

import re

import pytest

from core.models import Agent, Department

pytestmark = pytest.mark.browser


def test_a_customer_form_becomes_a_ticket_the_agent_opens(
    page, live_server: str, sign_in, support: Department, desk_agent: Agent
) -> None:
    page.goto(f"{live_server}/support")
    page.fill("#support-given-name", "Hanako")
    page.fill("#support-family-name", "Yamada")
    page.fill("#support-email", "hanako@example.com")
    page.fill("#support-subject", "The kettle leaks")
    page.fill("#support-description", "Water comes out of the bottom.")
    honeypot = page.locator("#support-website").bounding_box()
    assert honeypot is None or honeypot["x"] + honeypot["width"] <= 0  # off-screen for people
    page.click("#support-form button[type=submit]")
    page.wait_for_selector("#support-thanks")

    sign_in(desk_agent.email)
    page.click("text=The kettle leaks")
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    assert "Water comes out of the bottom." in page.inner_text("main")


def test_a_visitor_sees_which_fields_to_fix_in_japanese(
    page, live_server: str, support: Department
) -> None:
    page.goto(f"{live_server}/support?lang=ja")
    page.fill("#support-family-name", "山田")
    page.fill("#support-given-name", "花子")
    page.fill("#support-email", "not an address")
    page.fill("#support-subject", "やかん")
    page.fill("#support-description", "水が漏れます。")
    page.click("#support-form button[type=submit]")
    page.wait_for_selector("#error-email")
    assert page.get_attribute("html", "lang") == "ja"
    assert page.input_value("#support-family-name") == "山田"
    assert page.input_value("#support-given-name") == "花子"
    # 姓 comes before 名 on a Japanese page.
    labels = page.locator("#support-form label").all_inner_texts()
    assert labels.index("姓") < labels.index("名")


def test_an_agent_logs_a_call_and_lands_on_its_ticket(
    page, live_server: str, sign_in, support: Department, desk_agent: Agent
) -> None:
    sign_in(desk_agent.email)
    page.goto(f"{live_server}/tickets/log-call")
    page.fill("#call-phone", "03-1234-5678")
    page.fill("#call-name", "Ken Ito")
    page.fill("#call-subject", "Invoice copy")
    page.fill("#call-notes", "Wants the March invoice again.")
    page.click("#call-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    assert "Wants the March invoice again." in page.inner_text("main")
