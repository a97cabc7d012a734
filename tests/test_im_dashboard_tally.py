"""The dashboard's tallies (its figures per quarter hour) always say what the chat records say:
after every kind of change, including changes to chats started days before and messages that
arrive late, the tallies equal a fresh build from the records, and the dashboard read from them
equals the dashboard summed from the records alone, for every period, channel filter and zone
(whole-hour zones and India's and Nepal's)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.models import Organisation
from hostapi import clock
from plugins.im_dashboard import figures, tally
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.models import AgentTally, Chat, ChatMessage, Tally
from plugins.im_dashboard.periods import PERIODS, resolve
from tests.pg_locks import wait_until_a_backend_waits_on_a_lock

if TYPE_CHECKING:
    from tests.im_desk import Desk

pytest_plugins = ["tests.api_fixtures", "tests.im_desk", "tests.im_channel_api"]

#: Three days before the desk's clock starts: where the timeline begins.
_BEGIN = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
_ZONES = ("UTC", "Asia/Tokyo", "Asia/Kolkata", "Asia/Kathmandu")


def _at(moment: datetime) -> None:
    clock.freeze(moment)


def _chat_id(desk: Desk, user: str) -> int:
    return next(chat.id for chat in desk.chats() if chat.external_user_id == user)


def _days_of_chats(desk: Desk) -> None:
    """Four days of chats on three channels, worked by two agents: accepts, replies, ends,
    reopens by the customer and by an agent, a reassignment, a message delivered late that
    moves its chat's start back into an earlier quarter hour, and a chat started days ago
    assigned and answered today."""
    day = timedelta(days=1)
    _at(_BEGIN + timedelta(minutes=7))
    desk.message("line", key=1, user="U-a", text="a1")
    desk.message("telegram", key=2, user="9001", text="b1")
    desk.work()
    line, telegram = _chat_id(desk, "U-a"), _chat_id(desk, "9001")
    _at(_BEGIN + timedelta(minutes=20))
    desk.api("POST", f"/chats/{line}/accept", json={})
    # b0 was sent at 00:52 and arrives now: the Telegram chat started a quarter hour earlier.
    desk.message("telegram", key=3, user="9001", text="b0", at=_BEGIN - timedelta(minutes=8))
    desk.work()
    _at(_BEGIN + timedelta(minutes=31))
    desk.api("POST", f"/chats/{line}/messages", json={"text": "r1"})
    _at(_BEGIN + timedelta(hours=2, minutes=44))
    desk.api("POST", f"/chats/{line}/end", json={})
    _at(_BEGIN + day + timedelta(hours=3))
    desk.message("whatsapp", key=4, user="819000000001", text="c1")
    desk.work()
    whatsapp = _chat_id(desk, "819000000001")
    desk.api("POST", f"/chats/{whatsapp}/assign", json={"agent_id": desk.agents["bob"].id})
    _at(_BEGIN + day + timedelta(hours=3, minutes=16))
    desk.api("POST", f"/chats/{whatsapp}/assign", json={"agent_id": desk.agents["alice"].id})
    desk.api("POST", f"/chats/{whatsapp}/accept", json={})
    desk.api("POST", f"/chats/{whatsapp}/messages", json={"text": "r2"})
    desk.api("POST", f"/chats/{whatsapp}/end", json={})
    _at(_BEGIN + day + timedelta(hours=9, minutes=59, seconds=59))
    desk.message("whatsapp", key=5, user="819000000001", text="c2")  # reopens it: alice's
    desk.work()
    _at(_BEGIN + 2 * day + timedelta(hours=14, minutes=30))
    desk.api("POST", f"/chats/{whatsapp}/end", json={})
    desk.api("POST", f"/chats/{line}/reopen", json={})  # days after it ended
    desk.api("POST", f"/chats/{line}/messages", json={"text": "r3"})
    # Today: the Telegram chat, unassigned for three days, is taken and answered.
    _at(_BEGIN + 3 * day + timedelta(minutes=5))
    desk.api("POST", f"/chats/{telegram}/accept", agent="bob", json={})
    desk.api("POST", f"/chats/{telegram}/messages", agent="bob", json={"text": "r4"})
    desk.message("line", key=6, user="U-a", text="a2")
    desk.work()
    _at(_BEGIN + 3 * day + timedelta(minutes=40, seconds=30))


def _rows(desk: Desk) -> dict[str, list[tuple[Any, ...]]]:
    """Both tallies' rows, in key order."""
    desk.db.rollback()
    found = {}
    for model, figures_of in ((Tally, tally.FIGURES), (AgentTally, tally.AGENT_FIGURES)):
        key = [getattr(model, name) for name in tally.KEY]
        if model is AgentTally:
            key.append(AgentTally.agent_id)
        rows = desk.db.execute(
            select(*key, *(getattr(model, name) for name in figures_of))
            .where(model.installation_id == desk.installation.id)
            .order_by(*key)
        )
        found[model.__tablename__] = [tuple(row) for row in rows]
    return found


def _set_zone(desk: Desk, zone: str) -> None:
    organisation = desk.db.scalars(select(Organisation)).one()
    organisation.timezone = zone
    desk.db.commit()


def test_the_tallies_kept_along_the_way_equal_a_fresh_build(desk: Desk, channel_api: Any) -> None:
    _days_of_chats(desk)
    kept = _rows(desk)
    assert all(kept.values()), "nothing was tallied"
    tally.build(desk.db, desk.installation.id)
    assert _rows(desk) == kept


def test_a_late_message_moves_its_chats_start_to_an_earlier_quarter_hour(
    desk: Desk, channel_api: Any
) -> None:
    _days_of_chats(desk)
    started = {
        (slot, channel): new + existing
        for slot, _, channel, new, existing, *_ in _rows(desk)["im_dashboard_tally"]
        if new + existing
    }
    assert started[(tally.slot_of(_BEGIN - timedelta(minutes=8)), "telegram")] == 1
    assert (tally.slot_of(_BEGIN), "telegram") not in started


@pytest.mark.parametrize("zone", _ZONES)
def test_every_period_reads_the_same_from_the_tallies_as_from_the_records(
    desk: Desk, channel_api: Any, zone: str
) -> None:
    _days_of_chats(desk)
    _set_zone(desk, zone)
    context = desk.host.plugins.context_for(desk.db, desk.installation)
    now = clock.now()
    for name in PERIODS:
        dates = {"first": date(2026, 12, 3), "last": date(2026, 12, 7)} if name == "custom" else {}
        period = resolve(name, now, ZoneInfo(zone), **dates)
        for channel in (None, *CHANNELS):
            tallied = figures.figures(context, period, channel).as_dict()
            counted = figures.figures_from_records(context, period, channel).as_dict()
            assert tallied == counted, (name, channel)


def test_figures_read_in_the_transaction_that_changed_the_records_include_the_change(
    desk: Desk, channel_api: Any
) -> None:
    _days_of_chats(desk)
    context = desk.host.plugins.context_for(desk.db, desk.installation)
    desk.message("line", key=7, user="U-new", text="hello")
    desk.work()
    clock.advance(timedelta(minutes=20))  # its quarter hour is over: read from the tallies
    period = resolve("last_7_days", clock.now(), ZoneInfo("UTC"))
    before = figures.figures(context, period).chats_assigned
    chat = desk.db.get(Chat, _chat_id(desk, "U-new"))
    assert chat is not None and chat.assignee_id is None
    chat.assignee_id = desk.agents["carol"].id
    assert figures.figures(context, period).chats_assigned == before + 1
    desk.db.rollback()
    assert figures.figures(context, period).chats_assigned == before


def test_two_transactions_recomputing_one_quarter_hour_take_turns(
    desk: Desk, channel_api: Any, backend_name: str
) -> None:
    """The second waits for the first to commit, then recomputes with its changes: neither's
    is lost (SQLite runs one writer at a time anyway)."""
    if backend_name != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    _days_of_chats(desk)
    telegram = _chat_id(desk, "9001")
    reply = next(m for m in desk.messages(desk.db.get(Chat, telegram)) if m.text == "r4")
    desk.db.rollback()
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with desk.host.transaction() as session:
                chat = session.get(Chat, telegram)
                assert chat is not None
                chat.first_response_seconds = 2.0  # its first response is in r4's quarter hour
        except BaseException as error:
            failures.append(error)

    with desk.host.transaction() as session:
        message = session.get(ChatMessage, reply.id)
        assert message is not None
        message.response_seconds = 1.0
        tally.settle(session)  # recomputed, holding the installation's tally lock
        other = threading.Thread(target=second)
        other.start()
        wait_until_a_backend_waits_on_a_lock(desk.host)
    other.join(timeout=60)

    assert failures == []
    kept = _rows(desk)
    tally.build(desk.db, desk.installation.id)
    assert _rows(desk) == kept
