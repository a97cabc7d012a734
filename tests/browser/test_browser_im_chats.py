"""IM chats in a real browser, in English and Japanese: signed webhooks of a LINE and a Telegram
user reach the app over HTTP; a one-department agent finds both chats in the inbox, accepts
and answers the LINE chat (the reply reaches the local stand-in of LINE's API), accepts and
ends the Telegram chat; then an administrator's dashboard shows today's figures, worked out
by hand from those steps. The clock is the test's, so every duration is exact. And with more
chats than one inbox page holds, an administrator and a one-department agent each page
through the inbox, filter the dashboard by channel and download its CSV."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from core import worker
from core.host import Host
from core.models import Agent, Department, Installation, Organisation
from hostapi import clock
from plugins.im_dashboard import accounts, intake
from plugins.im_dashboard.channels import CHANNELS
from tests.factories import TEST_PASSWORD, install_for
from tests.im_payloads import CREDENTIALS, delivery

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.im_channel_api"]

#: 10:00 on a Monday in Tokyo, the organisation's zone.
MORNING = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
LINE_USER = "U4af4980629c0ffee0123456789abcdef"
TELEGRAM_USER = "5550001"

TEXT = {
    "en": {"inbox": "IM inbox", "dashboard": "IM dashboard", "sent": "sent"},
    "ja": {"inbox": "IMインボックス", "dashboard": "IMダッシュボード", "sent": "送信済み"},
}


@pytest.fixture
def frozen_morning() -> Iterator[None]:
    clock.freeze(MORNING)
    yield
    clock.unfreeze()


@pytest.fixture
def installation(host: Host, support: Department, frozen_morning: None) -> Installation:
    """IM Dashboard for "Support", with a LINE and a Telegram account there; the organisation
    in Tokyo."""
    intake.reset_requests()
    with host.transaction() as session:
        session.scalars(select(Organisation)).one().timezone = "Asia/Tokyo"
        installed = install_for(session, host, "im_dashboard", [support.id])
        context = host.plugins.context_for(session, installed)
        for code in ("line", "telegram"):
            form = {"name": f"{CHANNELS[code].name} Support", "department_id": str(support.id)}
            accounts.save(context, CHANNELS[code], {**form, **CREDENTIALS[code]})
    return installed


def _account_ids(host: Host, installation: Installation) -> dict[str, int]:
    with host.transaction() as session:
        context = host.plugins.context_for(session, session.get(Installation, installation.id))
        return {account.kind: account.id for account in accounts.accounts(context)}


def _at(minutes: int) -> None:
    clock.freeze(MORNING + timedelta(minutes=minutes))


@pytest.fixture
def deliver(live_server: str, host: Host, installation: Installation) -> Callable[..., None]:
    """``deliver(channel, key, user, text, name="")``: the channel's signed webhook of a user's
    text message, sent now to the app over HTTP (the job files it at the next worker run)."""
    ids = _account_ids(host, installation)

    def post(code: str, key: int, user: str, text: str, name: str = "") -> None:
        sent = delivery(code, key=key, user=user, text=text, at=clock.now(), name=name)
        url = f"{live_server}/hooks/im_dashboard/{installation.id}/{code}/{ids[code]}"
        answer = requests.post(url, data=sent.body, headers=sent.headers, timeout=10)
        assert answer.status_code == 200

    return post


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_chats_from_webhooks_are_worked_in_the_inbox_and_counted_on_the_dashboard(
    page: Any,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    host: Host,
    installation: Installation,
    channel_api: Any,
    deliver: Callable[..., None],
    open_page: Callable[..., Any],
    locale: str,
) -> None:
    text = TEXT[locale]
    deliver("line", 1, LINE_USER, "配送について教えてください", name="Hanako Sato")
    deliver("telegram", 2, TELEGRAM_USER, "Where is my order?", name="Hanako Sato")
    worker.run(host, burst=True, with_scheduler=False)

    agent = make_agent(
        f"im-agent-{locale}@example.com", name="Aiko", departments=[support], locale=locale
    )
    sign_in(agent.email)
    _at(2)
    page.locator("[data-extension-menu]", has_text=text["inbox"]).click()
    chats = page.locator("#chats li")
    chats.first.wait_for()
    assert chats.count() == 2  # both wait, unassigned

    page.locator('#chats li[data-channel="line"] a').click()
    page.locator('[data-action="accept"]').click()
    page.locator("#reply-text").wait_for()
    _at(3)
    page.fill("#reply-text", "確認いたします。少々お待ちください。")
    page.locator('[data-action="reply"]').click()
    page.locator('[data-direction="out"]').wait_for()
    worker.run(host, burst=True, with_scheduler=False)
    assert [(m.to, m.text) for m in channel_api.sent("line")] == [
        (LINE_USER, "確認いたします。少々お待ちください。")
    ]
    page.reload()
    assert page.locator('[data-delivery="sent"]').text_content() == text["sent"]

    _at(4)
    page.locator('#chats li[data-channel="telegram"] a').click()
    page.locator('[data-action="accept"]').click()
    page.locator('[data-action="end"]').wait_for()
    _at(5)
    page.locator('[data-action="end"]').click()
    page.locator('[data-status="ended"]').wait_for()

    # The dashboard, as an administrator reads it in a browser of their own: today in Tokyo.
    admin = make_agent(
        f"im-admin-{locale}@example.com",
        profile="Administrator",
        departments=[support],
        locale=locale,
    )
    page = open_page()
    page.goto(f"{live_server}/login")
    page.fill("#email", admin.email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/tickets")
    _at(6)
    page.locator("[data-extension-menu]", has_text=text["dashboard"]).click()
    page.locator("#widget-agents").wait_for()

    def figure(widget: str, name: str) -> str:
        return page.locator(f'#{widget} [data-figure="{name}"]').text_content().strip()

    assert (
        figure("widget-contacts", "contacts_new"),
        figure("widget-contacts", "contacts_existing"),
    ) == ("2", "0")
    assert (
        figure("widget-messages", "messages_incoming"),
        figure("widget-messages", "messages_outgoing"),
    ) == ("2", "1")
    assert [figure("widget-status", f"chats_{s}") for s in ("assigned", "unassigned", "total")] == [
        "2",
        "0",
        "2",
    ]
    telegram = page.locator('#widget-channels tr[data-channel="telegram"]')
    assert telegram.locator('[data-figure="chats"]').text_content() == "1"
    assert telegram.locator('[data-figure="time_to_end"]').text_content() == "0:05:00"
    # Start: 2 and 4 minutes; first response and the one reply: 3 minutes.
    assert figure("widget-response", "average_start") == "0:03:00"
    assert figure("widget-response", "average_first_response") == "0:03:00"
    assert figure("widget-response", "average_response") == "0:03:00"
    row = page.locator(f'#agents-table tr[data-agent-id="{agent.id}"]')
    assert row.locator('[data-figure="assigned"]').text_content() == "2"
    assert row.locator('[data-figure="reopened"]').text_content() == "0"

    # Open, it refreshes itself: a new message shows within a few seconds.
    _at(7)
    deliver("line", 3, LINE_USER, "ありがとう")
    worker.run(host, burst=True, with_scheduler=False)
    _at(8)  # a period ends now, excluded: the message is in it from the next moment
    refreshed = page.locator('#widget-messages [data-figure="messages_incoming"]')
    expect(refreshed).to_have_text("3", timeout=15_000)


#: LINE users who write in the paging test: more chats than one inbox page holds (25).
MANY_USERS = 30


@pytest.mark.parametrize("locale", ["en", "ja"])
@pytest.mark.parametrize("role", ["agent", "admin"])
def test_the_inbox_pages_through_its_chats_and_the_dashboard_filters_by_channel(
    page: Any,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    host: Host,
    installation: Installation,
    channel_api: Any,
    deliver: Callable[..., None],
    role: str,
    locale: str,
) -> None:
    """An administrator and a one-department agent each page through the inbox's chats, then
    read the dashboard for all channels and for one, and download its CSV."""
    text = TEXT[locale]
    for number in range(MANY_USERS):
        deliver("line", 100 + number, f"U{number:032x}", f"質問 {number}")
    worker.run(host, burst=True, with_scheduler=False)
    _at(10)
    extra = {"profile": "Administrator"} if role == "admin" else {}
    viewer = make_agent(
        f"im-{role}-{locale}@example.com", departments=[support], locale=locale, **extra
    )
    sign_in(viewer.email)

    page.locator("[data-extension-menu]", has_text=text["inbox"]).click()
    chats = page.locator("#chats li")
    chats.first.wait_for()
    assert chats.count() == 25
    page.locator("[data-list-next]").click()
    expect(chats).to_have_count(MANY_USERS - 25)

    page.locator("[data-extension-menu]", has_text=text["dashboard"]).click()
    contacts = page.locator('#widget-contacts [data-figure="contacts_new"]')
    expect(contacts).to_have_text(str(MANY_USERS))
    page.wait_for_load_state()  # the filter's script is listening
    page.select_option("#dashboard-channel", "telegram")
    expect(contacts).to_have_text("0")
    export = page.locator("#dashboard-export")
    assert "channel=telegram" in (export.get_attribute("href") or "")
    download = page.request.get(f"{live_server}{export.get_attribute('href')}")
    assert download.status == 200
    assert download.headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_an_open_inbox_shows_new_chats_and_messages_without_a_reload(
    page: Any,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    host: Host,
    installation: Installation,
    channel_api: Any,
    deliver: Callable[..., None],
    locale: str,
) -> None:
    text = TEXT[locale]
    deliver("line", 1, LINE_USER, "最初の質問")
    worker.run(host, burst=True, with_scheduler=False)
    agent = make_agent(f"im-live-{locale}@example.com", departments=[support], locale=locale)
    sign_in(agent.email)
    page.locator("[data-extension-menu]", has_text=text["inbox"]).click()
    page.locator('#chats li[data-channel="line"] a').click()
    page.locator("#chat-timeline li").first.wait_for()

    _at(1)
    deliver("line", 2, LINE_USER, "追加の質問です")
    deliver("telegram", 3, TELEGRAM_USER, "A new chat")
    worker.run(host, burst=True, with_scheduler=False)  # the first webhook asked for a run
    expect(page.locator("#chat-timeline")).to_contain_text("追加の質問です", timeout=15_000)
    expect(page.locator('#chats li[data-channel="telegram"]')).to_have_count(1, timeout=15_000)
    expect(page.locator("#chats li[aria-current], #chats li.current")).to_have_count(1)
