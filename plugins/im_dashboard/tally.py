"""The dashboard's figures kept per quarter hour, so that a month of them is a few thousand
rows to sum rather than a month of messages.

A :class:`~plugins.im_dashboard.models.Tally` row holds the figures of one quarter hour,
department and channel, an :class:`~plugins.im_dashboard.models.AgentTally` row one agent's
share of them. Nothing is ever added to one or taken from it: when a chat, a
message or an activity changes in a way the figures see (its time, the chat's assignee, a
recounted response time…), the quarter hours it was and is in are marked, and before the
transaction commits each marked quarter hour is recomputed from the records. So the tallies
say exactly what the records say, whatever order things happened in: a late customer message
that moves a chat's start marks both quarter hours, an assignment marks the one the chat
started in (its "assigned now" changes).

Recomputing takes the installation's :class:`~plugins.im_dashboard.models.TallyLock` row on
PostgreSQL (SQLite has one writer at a time anyway): one transaction at a time recomputes, and
reads what the one before committed.

Records written past the ORM (a restore of raw rows; the benchmark's) are tallied by
:func:`build`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Executable,
    Integer,
    Select,
    bindparam,
    case,
    cast,
    delete,
    event,
    func,
    insert,
    inspect,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, object_session

from hostapi.columns import UTCDateTime
from plugins.im_dashboard import locking
from plugins.im_dashboard.chats import ENDED, IN, OUT
from plugins.im_dashboard.models import (
    AgentTally,
    Chat,
    ChatActivity,
    ChatMessage,
    Tally,
    TallyLock,
)

#: A tally's length, in seconds: every time zone's offset is a multiple of it, so a quarter
#: hour always lies within one hour of the organisation's zone.
SLOT_SECONDS = 900
#: The figures of a :class:`Tally` row, and of an :class:`AgentTally` row (each averaged
#: duration as a count and the sum of its seconds).
FIGURES = (
    "chats_new",
    "chats_existing",
    "chats_assigned",
    "messages_in",
    "messages_out",
    "ended",
    "end_seconds",
    "first_accepts",
    "first_accept_seconds",
    "first_responses",
    "first_response_seconds",
    "replies",
    "reply_seconds",
)
AGENT_FIGURES = (
    "assignments",
    "reopens",
    "first_accepts",
    "first_accept_seconds",
    "first_responses",
    "first_response_seconds",
    "replies",
    "reply_seconds",
)
KEY = ("slot", "department_id", "channel")
_CONTRIBUTED = tuple(dict.fromkeys(FIGURES + AGENT_FIGURES))

#: Of each record, the times that place it in a quarter hour, and the other columns the
#: figures read: a change to none of these leaves the tallies as they are.
_TIMES: dict[type, tuple[str, ...]] = {
    Chat: ("started_at", "ended_at", "first_accepted_at", "first_response_at"),
    ChatMessage: ("sent_at",),
    ChatActivity: ("at",),
}
_READ: dict[type, frozenset[str]] = {
    Chat: frozenset(
        {
            *_TIMES[Chat],
            "department_id",
            "channel",
            "contact_was_new",
            "assignee_id",
            "status",
            "time_to_end_seconds",
            "first_accepted_by",
            "first_accept_seconds",
            "first_response_by",
            "first_response_seconds",
        }
    ),
    ChatMessage: frozenset(
        {"sent_at", "department_id", "channel", "direction", "agent_id", "response_seconds"}
    ),
    ChatActivity: frozenset({"at", "department_id", "channel", "kind", "agent_id"}),
}
#: ``Session.info`` key of the quarter hours marked in the transaction.
_MARKED = "im_dashboard.tally.marked"
_ZERO = literal_column("0")


def slot_of(moment: datetime) -> int:
    """The quarter hour ``moment`` falls in: its start, in seconds since the epoch."""
    return int(moment.timestamp()) // SLOT_SECONDS * SLOT_SECONDS


def slot_start(slot: int) -> datetime:
    """When quarter hour ``slot`` starts (aware, UTC)."""
    return datetime.fromtimestamp(slot, UTC)


def whole_slots(start: datetime, end: datetime) -> tuple[int, int]:
    """The quarter hours wholly inside ``[start, end)``: the first's start and the end of the
    last (equal, or the first after the end, when none is)."""
    first = slot_of(start)
    if slot_start(first) < start:  # the quarter hour began before the period
        first += SLOT_SECONDS
    return first, max(first, slot_of(end))


# ------------------------------------------------------------------------------ marking


def _mark(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    """Mark the quarter hours a record was and is in (it is being written or deleted)."""
    session = object_session(target)
    if session is None:
        return
    state = inspect(target)
    marked = session.info.setdefault(_MARKED, set())
    for name in _TIMES[type(target)]:
        for moment in (getattr(target, name), *state.attrs[name].history.deleted):
            if moment is not None:
                marked.add((target.installation_id, slot_of(moment)))


def _mark_if_seen(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    """Mark a changed record's quarter hours when the change is one the figures see."""
    state = inspect(target)
    if any(state.attrs[name].history.has_changes() for name in _READ[type(target)]):
        _mark(mapper, connection, target)


for _model in _TIMES:
    event.listen(_model, "before_insert", _mark)
    event.listen(_model, "before_update", _mark_if_seen)
    event.listen(_model, "before_delete", _mark)

_TABLES = {model.__table__: model for model in _TIMES}  # type: ignore[attr-defined]


@event.listens_for(Session, "do_orm_execute")
def _mark_bulk_insert(state: ORMExecuteState) -> None:
    """Mark the quarter hours of rows inserted in bulk through the session
    (``session.execute(insert(ChatMessage), rows)``: no object, so no ``before_insert``)."""
    if not state.is_insert:
        return
    model = _TABLES.get(getattr(state.statement, "table", None))
    if model is None:
        return
    rows = state.parameters
    marked = state.session.info.setdefault(_MARKED, set())
    for row in [rows] if isinstance(rows, dict) else rows or ():
        for name in _TIMES[model]:
            if (moment := row.get(name)) is not None:
                marked.add((row["installation_id"], slot_of(moment)))


@event.listens_for(Session, "before_commit")
def _settle_before_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the transaction goes on
        return
    if session.info.get(_MARKED) or any(
        type(record) in _TIMES for record in (*session.new, *session.dirty, *session.deleted)
    ):
        settle(session)


def settle(session: Session) -> None:
    """Flush, then recompute the quarter hours marked in this transaction (done before every
    commit; the dashboard calls it to read its own transaction's changes)."""
    session.flush()
    marked: set[tuple[int, int]] = session.info.pop(_MARKED, set())
    by_installation: dict[int, set[int]] = defaultdict(set)
    for installation_id, slot in marked:
        by_installation[installation_id].add(slot)
    for installation_id in sorted(by_installation):
        locking.hold(session, TallyLock, installation_id)
        for span in _runs(sorted(by_installation[installation_id])):
            _recompute(session, installation_id, span)


def _runs(slots: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive quarter hours as ``(first, end)`` runs: one statement each."""
    first = previous = slots[0]
    for slot in slots[1:]:
        if slot != previous + SLOT_SECONDS:
            yield first, previous + SLOT_SECONDS
            first = slot
        previous = slot
    yield first, previous + SLOT_SECONDS


def build(session: Session, installation_id: int) -> None:
    """Tally every record of the installation afresh."""
    session.flush()
    locking.hold(session, TallyLock, installation_id)
    _recompute(session, installation_id, None)


def forget(session: Session, installation_id: int) -> None:
    """Delete the installation's tallies and lock row (its records are being deleted)."""
    for model in (Tally, AgentTally, TallyLock):
        session.execute(delete(model).where(model.installation_id == installation_id))


# ------------------------------------------------------------------------------ recomputing


def _recompute(session: Session, installation_id: int, span: tuple[int, int] | None) -> None:
    """Replace the tallies of the quarter hours ``span`` (its first's start and its end, in
    seconds since the epoch; every one when ``None``) with the sums of the records."""
    values: dict[str, Any] = {"installation_id": installation_id}
    if span is not None:
        first, end = span
        values |= {
            "first_slot": first,
            "end_slot": end,
            "start": slot_start(first),
            "end": slot_start(end),
        }
    connection = session.connection()  # plain statements: no ORM bulk semantics
    for statement in _statements(connection.dialect.name, span is not None):
        connection.execute(statement, values)


@cache
def _statements(dialect: str, bounded: bool) -> list[Executable]:
    """Deleting, then summing again, each tally's rows of an installation (in a span of time
    when ``bounded``): built once, run with the installation and span as parameters."""
    statements: list[Executable] = []
    installation = cast(bindparam("installation_id"), Integer).label("installation_id")
    for model, figures, key in (
        (Tally, FIGURES, KEY),
        (AgentTally, AGENT_FIGURES, (*KEY, "agent_id")),
    ):
        stale = delete(model).where(model.installation_id == bindparam("installation_id"))
        if bounded:
            stale = stale.where(
                model.slot >= bindparam("first_slot"), model.slot < bindparam("end_slot")
            )
        rows = union_all(*_contributions(dialect, bounded)).subquery()
        summed = select(
            installation,
            *(rows.c[name] for name in key),
            *(func.sum(rows.c[name]).label(name) for name in figures),
        ).group_by(*(rows.c[name] for name in key))
        # in key order: a period's rows lie side by side (PostgreSQL reads fewer pages)
        summed = summed.order_by(*(rows.c[name] for name in key))
        if model is AgentTally:
            # an agent's row only where they did something the agents table counts
            counts = [name for name in AGENT_FIGURES if not name.endswith("_seconds")]
            summed = summed.where(rows.c.agent_id != 0).having(
                or_(*(func.sum(rows.c[name]) > 0 for name in counts))
            )
        statements += [
            stale,
            insert(model).from_select(["installation_id", *key, *figures], summed),
        ]
    return statements


def _contributions(dialect: str, bounded: bool) -> list[Select[Any]]:
    """One row per record and thing it counts, with its quarter hour, department, channel and
    agent (what each figure counts is said in ``figures``)."""

    def rows(
        model: Any,
        moment: Any,
        agent: ColumnElement[Any],
        *conditions: ColumnElement[bool],
        **values: ColumnElement[Any],
    ) -> Select[Any]:
        if dialect == "postgresql":
            seconds = cast(func.floor(func.extract("epoch", moment)), BigInteger)
        else:
            seconds = cast(func.strftime("%s", moment), BigInteger)
        scope = [
            model.installation_id == bindparam("installation_id"),
            moment.is_not(None),
            *conditions,
        ]
        if bounded:
            scope += [
                moment >= bindparam("start", type_=UTCDateTime()),
                moment < bindparam("end", type_=UTCDateTime()),
            ]
        return select(
            (seconds // SLOT_SECONDS * SLOT_SECONDS).label("slot"),
            model.department_id.label("department_id"),
            model.channel.label("channel"),
            agent.label("agent_id"),
            *(values.get(name, _ZERO).label(name) for name in _CONTRIBUTED),
        ).where(*scope)

    def one_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return case((condition, 1), else_=0)

    one = literal_column("1")
    return [
        rows(
            Chat,
            Chat.started_at,
            _ZERO,
            chats_new=one_if(Chat.contact_was_new.is_(True)),
            chats_existing=one_if(Chat.contact_was_new.is_not(True)),
            chats_assigned=one_if(Chat.assignee_id.is_not(None)),
        ),
        rows(ChatMessage, ChatMessage.sent_at, _ZERO, ChatMessage.direction == IN, messages_in=one),
        rows(
            ChatMessage,
            ChatMessage.sent_at,
            func.coalesce(ChatMessage.agent_id, 0),
            ChatMessage.direction == OUT,
            messages_out=one,
            replies=one_if(ChatMessage.response_seconds.is_not(None)),
            reply_seconds=func.coalesce(ChatMessage.response_seconds, 0.0),
        ),
        rows(
            Chat,
            Chat.ended_at,
            _ZERO,
            Chat.status == ENDED,
            ended=one,
            end_seconds=func.coalesce(Chat.time_to_end_seconds, 0.0),
        ),
        rows(
            Chat,
            Chat.first_accepted_at,
            func.coalesce(Chat.first_accepted_by, 0),
            first_accepts=one,
            first_accept_seconds=func.coalesce(Chat.first_accept_seconds, 0.0),
        ),
        rows(
            Chat,
            Chat.first_response_at,
            func.coalesce(Chat.first_response_by, 0),
            first_responses=one,
            first_response_seconds=func.coalesce(Chat.first_response_seconds, 0.0),
        ),
        rows(
            ChatActivity,
            ChatActivity.at,
            ChatActivity.agent_id,
            ChatActivity.kind.in_(("assigned", "reopened")),
            ChatActivity.agent_id.is_not(None),
            assignments=one_if(ChatActivity.kind == "assigned"),
            reopens=one_if(ChatActivity.kind == "reopened"),
        ),
    ]
