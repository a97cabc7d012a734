"""The IM inbox as agents use it in a browser's place (server-rendered pages, forms posted):
lists a page at a time, a chat's timeline, and accepting, replying and ending through its
forms, in English and Japanese; an agent of another department sees none of it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from core.models import Agent
from hostapi import clock

if TYPE_CHECKING:
    from tests.im_channel_api import ChannelApi
    from tests.im_desk import Desk

pytest_plugins = ["tests.api_fixtures", "tests.im_desk", "tests.im_channel_api"]


def _inbox(desk: Desk) -> str:
    return f"/ext/im_dashboard/{desk.installation.id}/inbox/"


@pytest.fixture
def sign_in_to(desk: Desk, sign_in_as) -> Callable[..., None]:
    """``sign_in_to(agent name, language)``: the desk's client signed in as that agent, who
    reads the desk in ``language``."""

    def sign_in(name: str, language: str = "en") -> None:
        agent = desk.db.get(Agent, desk.agents[name].id)
        assert agent is not None
        agent.locale = language
        desk.db.commit()
        sign_in_as(agent)

    return sign_in


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no form on the page"
    return found.group(1)


def _chat_links(page: str) -> list[str]:
    return re.findall(r'<li data-chat-id="(\d+)"', page)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_unassigned_list_pages_through_every_waiting_chat(
    desk: Desk, sign_in_to: Callable[..., None], language: str
) -> None:
    for number in range(27):
        desk.message("telegram", key=number, user=str(7000 + number), text=f"question {number}")
        clock.advance(timedelta(minutes=1))
    desk.work()
    sign_in_to("alice", language)

    first = desk.client.get(_inbox(desk))
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert ("未割り当て" if language == "ja" else "Unassigned") in page
    seen = _chat_links(page)
    older = re.search(r'rel="next" data-list-next href="([^"]+)"', page)
    assert older, "no link to the older chats"
    second = desk.client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    seen += _chat_links(second)
    assert len(seen) == len(set(seen)) == 27


def test_an_agent_accepts_replies_and_ends_through_the_chats_page(
    desk: Desk, sign_in_to: Callable[..., None], channel_api: ChannelApi
) -> None:
    desk.message("line", key=1, user="U4af4980629c0ffee0123456789abcdef", text="配送について")
    desk.work()
    [chat] = desk.chats()
    sign_in_to("alice", "ja")
    url = f"{_inbox(desk)}{chat.id}"
    page = desk.client.get(url).get_data(as_text=True)
    assert "配送について" in page and 'data-action="accept"' in page

    accepted = desk.client.post(f"{url}/accept", data={"csrf_token": _csrf(page)})
    assert accepted.status_code == 303
    page = desk.client.get(url).get_data(as_text=True)
    assert 'id="reply-form"' in page and "Aliceがチャットを承認しました" in page

    replied = desk.client.post(
        f"{url}/reply", data={"csrf_token": _csrf(page), "text": "確認いたします"}
    )
    assert replied.status_code == 303
    desk.work()
    assert [m.text for m in channel_api.sent("line")] == ["確認いたします"]
    page = desk.client.get(url).get_data(as_text=True)
    assert 'data-delivery="sent"' in page

    empty = desk.client.post(f"{url}/reply", data={"csrf_token": _csrf(page), "text": "  "})
    assert empty.status_code == 422
    assert 'data-error-for="text"' in empty.get_data(as_text=True)

    ended = desk.client.post(f"{url}/end", data={"csrf_token": _csrf(page)})
    assert ended.status_code == 303
    page = desk.client.get(url).get_data(as_text=True)
    assert 'data-status="ended"' in page and 'data-action="reopen"' in page


def test_an_open_inbox_asks_for_its_list_and_timeline_again_and_gets_what_arrived(
    desk: Desk, sign_in_to: Callable[..., None]
) -> None:
    desk.message("line", key=1, user="U-first", text="first question")
    desk.work()
    [chat] = desk.chats()
    sign_in_to("alice", "ja")
    page = desk.client.get(f"{_inbox(desk)}{chat.id}").get_data(as_text=True)
    live = dict(
        re.findall(r'id="(chat-list-live|chat-timeline)" data-fragment-url="([^"]+)"', page)
    )
    assert set(live) == {"chat-list-live", "chat-timeline"}
    assert re.search(r'<script src="[^"]*/inbox/live\.js"', page)

    clock.advance(timedelta(minutes=1))
    desk.message("line", key=2, user="U-first", text="one more thing")
    desk.message("telegram", key=3, user="8001", text="a new chat")
    desk.work()
    listed = desk.client.get(live["chat-list-live"].replace("&amp;", "&"))
    assert listed.status_code == 200
    fragment = listed.get_data(as_text=True)
    assert "<html" not in fragment and len(_chat_links(fragment)) == 2
    assert 'aria-current="page"' in fragment  # the open chat is still marked in the list
    timeline = desk.client.get(live["chat-timeline"].replace("&amp;", "&")).get_data(as_text=True)
    assert "<html" not in timeline and "one more thing" in timeline
    script = desk.client.get(f"{_inbox(desk)}live.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"


def test_an_agent_of_another_department_sees_no_chat(
    desk: Desk, sign_in_to: Callable[..., None]
) -> None:
    desk.message("line", key=1, user="U4af4980629c0ffee0123456789abcdef", text="hello")
    desk.work()
    [chat] = desk.chats()
    sign_in_to("dave")
    assert desk.client.get(f"{_inbox(desk)}{chat.id}").status_code in (403, 404)
