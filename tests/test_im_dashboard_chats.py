"""IM Dashboard's chats: signed webhooks become chats once each, in the lifecycle agents work
(start, assign by hand or round-robin among available agents, accept, reply, end, reopen by
the customer within the window or by an agent, convert to a ticket), each step recorded with
its time, and REST shows every chat with its whole timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete, func, select

from core import worker
from core.models import Contact, Installation, OutboxEvent, Thread, Ticket
from core.models.org import AgentStatus
from hostapi import clock
from plugins.im_dashboard import intake
from plugins.im_dashboard.models import InboundEvent
from tests.im_payloads import whatsapp_status

if TYPE_CHECKING:
    from tests.im_channel_api import ChannelApi
    from tests.im_desk import Desk

pytest_plugins = ["tests.api_fixtures", "tests.im_desk", "tests.im_channel_api"]


# ------------------------------------------------------------------------------ starting


@pytest.mark.parametrize("channel", ["line", "telegram", "whatsapp", "wechat"])
def test_a_users_first_message_starts_a_chat_with_a_new_contact(desk: Desk, channel: str) -> None:
    user = {
        "line": "U4af4980629c0ffee0123456789abcdef",
        "telegram": "5550001",
        "whatsapp": "819012345678",
        "wechat": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    }[channel]
    assert (
        desk.message(channel, key=1, user=user, text="注文が届きません", name="Hanako Sato") == 200
    )
    desk.work()

    [chat] = desk.chats()
    assert (chat.channel, chat.external_user_id, chat.status) == (channel, user, "open")
    assert chat.contact_was_new and chat.assignee_id is None
    assert chat.started_at == clock.now()
    [message] = desk.messages(chat)
    assert (message.direction, message.kind, message.text) == ("in", "text", "注文が届きません")
    contact = desk.db.get(Contact, chat.contact_id)
    assert contact is not None
    if channel == "whatsapp":
        assert contact.phone.replace(" ", "").endswith("9012345678")


def test_later_messages_join_the_open_chat_and_a_redelivery_adds_nothing(desk: Desk) -> None:
    desk.message("line", key=1, user="U1", text="hello")
    clock.advance(timedelta(minutes=1))
    desk.message("line", key=2, user="U1", text="anyone?")
    desk.message("line", key=2, user="U1", text="anyone?")  # redelivered
    desk.work()
    desk.message("line", key=1, user="U1", text="hello")  # redelivered after filing
    desk.work()

    [chat] = desk.chats()
    assert [m.text for m in desk.messages(chat)] == ["hello", "anyone?"]
    events = desk.db.query(InboundEvent).filter_by(installation_id=desk.installation.id).count()
    assert events == 2


def test_a_message_delivered_late_moves_the_start_back_to_when_it_was_sent(desk: Desk) -> None:
    sent_first = clock.now()
    clock.advance(timedelta(minutes=5))
    desk.message("telegram", key=2, user="77", text="second")
    desk.work()
    desk.message("telegram", key=1, user="77", text="first", at=sent_first)
    desk.work()

    [chat] = desk.chats()
    assert chat.started_at == sent_first
    assert [m.text for m in desk.messages(chat)] == ["first", "second"]


@pytest.mark.parametrize("had_a_ticket", [True, False])
def test_a_known_contact_is_new_unless_they_had_a_chat_or_ticket_before(
    desk: Desk, make_contact, make_ticket, had_a_ticket: bool
) -> None:
    known = make_contact("Sato", first_name="Ken", email=None)
    known.phone, known.phone_e164 = "+81 90-1111-2222", "+819011112222"
    desk.db.commit()
    if had_a_ticket:
        make_ticket(subject="Earlier", contact=known)
    clock.advance(timedelta(days=3))
    desk.message("whatsapp", key=1, user="819011112222", text="hi", name="Ken")
    desk.work()

    [chat] = desk.chats()
    assert chat.contact_id == known.id
    assert chat.contact_was_new is not had_a_ticket


# ------------------------------------------------------------------------------ agents' work


def _start(desk: Desk, user: str = "U1", channel: str = "line") -> int:
    desk.message(channel, key=abs(hash(user)) % 10_000, user=user, text="help")
    desk.work()
    return desk.chats()[-1].id


def test_accepting_an_unassigned_chat_takes_it_and_times_the_start(desk: Desk) -> None:
    chat_id = _start(desk)
    clock.advance(timedelta(seconds=90))
    answer = desk.api("POST", f"/chats/{chat_id}/accept", json={})
    assert answer.status_code == 200, answer.json
    assert answer.json["assignee_id"] == desk.agents["alice"].id
    assert [a["kind"] for a in answer.json["activities"]] == ["assigned", "accepted"]

    [chat] = desk.chats()
    assert chat.first_accept_seconds == 90
    assert chat.first_accepted_by == desk.agents["alice"].id


def test_someone_elses_chat_cannot_be_accepted_or_answered(desk: Desk) -> None:
    chat_id = _start(desk)
    desk.api("POST", f"/chats/{chat_id}/accept", json={})
    for path, body in (
        (f"/chats/{chat_id}/accept", {}),
        (f"/chats/{chat_id}/messages", {"text": "hi"}),
    ):
        answer = desk.api("POST", path, agent="bob", json=body)
        assert answer.status_code == 422
        assert "chat" in answer.json["errors"]["json"]


def test_a_reply_is_timed_from_the_earliest_unanswered_customer_message(desk: Desk) -> None:
    chat_id = _start(desk)
    desk.api("POST", f"/chats/{chat_id}/accept", json={})
    clock.advance(timedelta(seconds=30))
    desk.message("line", key=500, user="U1", text="still there?")
    desk.work()
    clock.advance(timedelta(seconds=30))
    answer = desk.api("POST", f"/chats/{chat_id}/messages", json={"text": "はい、確認します"})
    assert answer.status_code == 200, answer.json
    clock.advance(timedelta(seconds=10))
    desk.api("POST", f"/chats/{chat_id}/messages", json={"text": "one more thing"})

    [chat] = desk.chats()
    replies = [m for m in desk.messages(chat) if m.direction == "out"]
    assert [m.response_seconds for m in replies] == [60, None]
    assert chat.first_response_seconds == 60 and chat.awaiting_since is None


def test_a_late_customer_message_sent_before_a_reply_counts_for_that_reply(desk: Desk) -> None:
    chat_id = _start(desk)
    desk.api("POST", f"/chats/{chat_id}/accept", json={})
    asked_again = clock.now() + timedelta(seconds=10)
    clock.advance(timedelta(seconds=40))
    desk.api("POST", f"/chats/{chat_id}/messages", json={"text": "answer"})
    desk.message("line", key=600, user="U1", text="(sent earlier)", at=asked_again)
    desk.work()

    [chat] = desk.chats()
    [reply] = [m for m in desk.messages(chat) if m.direction == "out"]
    assert reply.response_seconds == 40  # from the first message, not the late one
    assert chat.awaiting_since is None


def test_ending_keeps_the_assignee_and_times_the_chat(desk: Desk) -> None:
    chat_id = _start(desk)
    desk.api("POST", f"/chats/{chat_id}/accept", json={})
    clock.advance(timedelta(minutes=10))
    answer = desk.api("POST", f"/chats/{chat_id}/end", json={})
    assert answer.json["status"] == "ended"
    assert answer.json["assignee_id"] == desk.agents["alice"].id
    [chat] = desk.chats()
    assert chat.time_to_end_seconds == 600
    assert desk.api("POST", f"/chats/{chat_id}/messages", json={"text": "x"}).status_code == 422


def test_a_message_within_the_reopen_window_reopens_the_chat_for_its_assignee(
    desk: Desk,
) -> None:
    chat_id = _start(desk)
    desk.api("POST", f"/chats/{chat_id}/accept", json={})
    clock.advance(timedelta(minutes=10))
    desk.api("POST", f"/chats/{chat_id}/end", json={})
    clock.advance(timedelta(hours=23))
    desk.message("line", key=700, user="U1", text="one more question")
    desk.work()

    [chat] = desk.chats()
    assert chat.status == "open" and chat.reopen_count == 1
    alice = desk.agents["alice"].id
    assert desk.activities(chat)[-1] == ("reopened", alice, "customer")
    clock.advance(timedelta(minutes=5))
    desk.api("POST", f"/chats/{chat_id}/end", json={})
    [chat] = desk.chats()
    # 10 minutes, then 5 after the reopen: the 23 hours it was ended do not count.
    assert chat.time_to_end_seconds == 15 * 60


def test_after_the_reopen_window_a_message_starts_a_new_chat_with_an_existing_contact(
    desk: Desk,
) -> None:
    desk.set_setting("reopen_window_hours", 2)
    chat_id = _start(desk)
    desk.api("POST", f"/chats/{chat_id}/end", json={})
    clock.advance(timedelta(hours=2, seconds=1))
    desk.message("line", key=800, user="U1", text="new question")
    desk.work()

    first, second = desk.chats()
    assert first.status == "ended" and second.status == "open"
    assert second.contact_id == first.contact_id and not second.contact_was_new


def test_an_agent_reopens_an_ended_chat(desk: Desk) -> None:
    chat_id = _start(desk)
    desk.api("POST", f"/chats/{chat_id}/end", json={})
    answer = desk.api("POST", f"/chats/{chat_id}/reopen", agent="bob", json={})
    assert answer.status_code == 200 and answer.json["status"] == "open"
    activity = answer.json["activities"][-1]
    assert (activity["kind"], activity["cause"]) == ("reopened", "agent")
    assert activity["by_agent_id"] == desk.agents["bob"].id
    assert desk.api("POST", f"/chats/{chat_id}/reopen", json={}).status_code == 422


def test_assigning_by_hand_needs_an_agent_of_the_chats_department(desk: Desk) -> None:
    chat_id = _start(desk)
    dave = desk.api("POST", f"/chats/{chat_id}/assign", json={"agent_id": desk.agents["dave"].id})
    assert dave.status_code == 422 and "agent_id" in dave.json["errors"]["json"]
    bob = desk.api("POST", f"/chats/{chat_id}/assign", json={"agent_id": desk.agents["bob"].id})
    assert bob.status_code == 200 and bob.json["assignee_id"] == desk.agents["bob"].id
    assert bob.json["accepted_at"] is None


def test_round_robin_takes_available_agents_in_turn(desk: Desk) -> None:
    desk.set_setting("assignment", "round_robin")
    for user in ("U1", "U2", "U3"):
        _start(desk, user)
    alice, bob = desk.agents["alice"].id, desk.agents["bob"].id
    assert [chat.assignee_id for chat in desk.chats()] == [alice, bob, alice]  # carol is away
    assert desk.activities(desk.chats()[0])[0] == ("assigned", alice, "round_robin")


def test_round_robin_leaves_the_chat_unassigned_when_nobody_is_available(desk: Desk) -> None:
    desk.set_setting("assignment", "round_robin")
    for name in ("alice", "bob"):
        desk.set_status(name, AgentStatus.BUSY)
    _start(desk)
    [chat] = desk.chats()
    assert chat.assignee_id is None


def test_converting_makes_a_ticket_with_the_conversation(desk: Desk) -> None:
    chat_id = _start(desk)
    desk.api("POST", f"/chats/{chat_id}/accept", json={})
    desk.api("POST", f"/chats/{chat_id}/messages", json={"text": "Let me check"})
    answer = desk.api("POST", f"/chats/{chat_id}/convert", json={})
    assert answer.status_code == 200, answer.json
    ticket = desk.db.get(Ticket, answer.json["ticket_id"])
    assert ticket is not None
    assert (ticket.subject, ticket.channel, ticket.department_id) == (
        "help",
        "line",
        desk.department.id,
    )
    assert ticket.contact_id == answer.json["contact_id"]
    assert desk.api("POST", f"/chats/{chat_id}/convert", json={}).status_code == 422


def test_a_converted_chat_is_a_ticket_from_its_start_with_its_messages_as_threads(
    desk: Desk,
) -> None:
    chat_id = _start(desk)
    desk.api("POST", f"/chats/{chat_id}/accept", json={})
    desk.api("POST", f"/chats/{chat_id}/messages", json={"text": "Let me check"})
    answer = desk.api("POST", f"/chats/{chat_id}/convert", json={})
    [chat] = desk.chats()
    ticket = desk.db.get(Ticket, answer.json["ticket_id"])
    assert ticket is not None
    assert (ticket.created_at, ticket.description, ticket.raised_by) == (
        chat.started_at,
        "help",
        "customer",
    )
    [reply] = desk.db.scalars(select(Thread).where(Thread.ticket_id == ticket.id))
    assert (reply.kind, reply.body, reply.author_agent_id) == (
        "outgoing",
        "Let me check",
        desk.agents["alice"].id,
    )


# ------------------------------------------------------------------------------ sending


def _accepted(desk: Desk, channel: str, user: str) -> int:
    desk.message(channel, key=1, user=user, text="help")
    desk.work()
    chat_id = desk.chats()[-1].id
    desk.api("POST", f"/chats/{chat_id}/accept", json={})
    return chat_id


@pytest.mark.parametrize(
    ("channel", "user"),
    [
        ("line", "U4af4980629c0ffee0123456789abcdef"),
        ("telegram", "5550001"),
        ("whatsapp", "819012345678"),
        ("wechat", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
    ],
)
def test_a_reply_goes_out_through_the_channels_api(
    desk: Desk, channel_api: ChannelApi, channel: str, user: str
) -> None:
    chat_id = _accepted(desk, channel, user)
    desk.api(
        "POST", f"/chats/{chat_id}/messages", json={"text": "お問い合わせありがとうございます"}
    )
    desk.work()

    [sent] = channel_api.sent(channel)
    assert (sent.to, sent.text) == (user, "お問い合わせありがとうございます")
    [reply] = [m for m in desk.messages(desk.chats()[-1]) if m.direction == "out"]
    assert (reply.delivery, reply.attempts, reply.error) == ("sent", 1, "")
    assert reply.platform_message_id == (sent.id or None)


def test_a_reply_the_platform_cannot_take_now_is_tried_again_later(
    desk: Desk, channel_api: ChannelApi
) -> None:
    chat_id = _accepted(desk, "telegram", "5550001")
    channel_api.fail_next("telegram", 502, times=2)
    desk.api("POST", f"/chats/{chat_id}/messages", json={"text": "hello"})
    desk.work()
    [reply] = [m for m in desk.messages(desk.chats()[-1]) if m.direction == "out"]
    assert (reply.delivery, reply.attempts) == ("sending", 1) and "502" in reply.error

    for pause in (5, 10):  # the pauses double
        clock.advance(timedelta(seconds=pause))
        desk.work()
    [reply] = [m for m in desk.messages(desk.chats()[-1]) if m.direction == "out"]
    assert (reply.delivery, reply.attempts, reply.error) == ("sent", 3, "")
    assert len(channel_api.sent("telegram")) == 1


def test_a_refused_reply_is_marked_failed_and_can_be_sent_again(
    desk: Desk, channel_api: ChannelApi
) -> None:
    chat_id = _accepted(desk, "line", "U4af4980629c0ffee0123456789abcdef")
    channel_api.fail_next("line", 400)
    desk.api("POST", f"/chats/{chat_id}/messages", json={"text": "hello"})
    desk.work()
    [reply] = [m for m in desk.messages(desk.chats()[-1]) if m.direction == "out"]
    assert reply.delivery == "failed" and "400" in reply.error

    answer = desk.api("POST", f"/chats/{chat_id}/messages/{reply.id}/resend", json={})
    assert answer.status_code == 200, answer.json
    desk.work()
    [reply] = [m for m in desk.messages(desk.chats()[-1]) if m.direction == "out"]
    assert reply.delivery == "sent" and len(channel_api.sent("line")) == 1
    again = desk.api("POST", f"/chats/{chat_id}/messages/{reply.id}/resend", json={})
    assert again.status_code == 422


def test_whatsapp_statuses_update_the_reply_and_never_go_back(
    desk: Desk, channel_api: ChannelApi
) -> None:
    user = "819012345678"
    chat_id = _accepted(desk, "whatsapp", user)
    desk.api("POST", f"/chats/{chat_id}/messages", json={"text": "hello"})
    desk.work()
    [sent] = channel_api.sent("whatsapp")
    for status in ("delivered", "read"):
        clock.advance(timedelta(seconds=5))
        assert desk.post("whatsapp", whatsapp_status(sent.id, status, clock.now(), user)) == 200
        desk.work()
    late = whatsapp_status(sent.id, "delivered", clock.now() - timedelta(seconds=1), user)
    desk.post("whatsapp", late)  # the same event again: stored once, changes nothing
    desk.work()

    [reply] = [m for m in desk.messages(desk.chats()[-1]) if m.direction == "out"]
    assert reply.delivery == "read" and reply.delivery_at == clock.now()


# ------------------------------------------------------------------------------ reading


def test_a_chat_of_another_department_is_not_found(desk: Desk) -> None:
    chat_id = _start(desk)
    assert desk.api("GET", f"/chats/{chat_id}", agent="dave").status_code in (403, 404)


def test_the_list_pages_through_chats_latest_message_first(desk: Desk) -> None:
    for number in range(5):
        desk.message("telegram", key=number, user=str(1000 + number), text="hi")
        clock.advance(timedelta(minutes=1))
    desk.work()
    seen, cursor = [], None
    while True:
        query = {"view": "unassigned", "limit": 2} | ({"cursor": cursor} if cursor else {})
        answer = desk.api("GET", "/chats", query_string=query)
        assert answer.status_code == 200, answer.json
        seen += [chat["external_user_id"] for chat in answer.json["chats"]]
        cursor = answer.json["next_cursor"]
        if cursor is None:
            break
    assert seen == ["1004", "1003", "1002", "1001", "1000"]
    for nonsense in ("nonsense", "99999999999999999999_1"):
        bad = desk.api("GET", "/chats", query_string={"cursor": nonsense})
        assert bad.status_code == 422 and "cursor" in bad.json["errors"]["query"]


def test_webhooks_ask_for_a_filing_run_at_most_once_a_second_and_runs_ask_again(
    desk: Desk,
) -> None:
    def runs_waiting() -> int:
        desk.db.rollback()
        return desk.db.scalar(
            select(func.count()).where(
                OutboxEvent.installation_id == desk.installation.id,
                OutboxEvent.name == intake.DRAIN_JOB,
                OutboxEvent.delivered_at.is_(None),
            )
        )

    desk.message("line", key=1, user="U1", text="one")
    desk.message("line", key=2, user="U1", text="two")
    assert runs_waiting() == 1
    worker.run(desk.host, burst=True, with_scheduler=False)
    # The run filed both, and asked for another a little later (for what arrives meanwhile).
    assert [m.text for m in desk.messages(desk.chats()[0])] == ["one", "two"]
    assert runs_waiting() == 1


def test_a_run_stopped_at_its_limit_asks_for_the_next_at_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "RUN_LIMIT", 2)
    for key in range(3):
        desk.message("line", key=key, user="U1", text=f"message {key}")

    def run_once() -> list[bool]:
        """Run the job alone; whether each run it asked for may start at once."""
        with desk.host.transaction() as session:
            session.execute(delete(OutboxEvent).where(OutboxEvent.name == intake.DRAIN_JOB))
            installation = session.get(Installation, desk.installation.id)
            intake.run(desk.host.plugins.context_for(session, installation), {})
        desk.db.rollback()
        asked = select(OutboxEvent.available_at.is_(None)).where(
            OutboxEvent.name == intake.DRAIN_JOB
        )
        return sorted(desk.db.scalars(asked))

    # Two filed, one waiting: the next run at once, and one a little later as after any work.
    assert run_once() == [False, True]
    assert run_once() == [False]  # the last one filed
