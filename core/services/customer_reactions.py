"""A customer's reactions, newest first: agents' replies and comments, and the ratings given.

The Reactions tab (and its REST twin) reads one timeline across all the tickets of a contact or
an account the actor may see; the Happiness tab reads the same timeline, ratings only.

A busy customer has thousands of tickets, so a page does not read every ticket's threads.
Each ticket keeps ``last_reaction_at``, no earlier than any reaction on it
(:func:`core.services.tickets.note_reaction`), and is indexed by customer and that time. The
``depth``-th latest of those times below the page's cursor, the *floor*, is the time of a
reaction on each of ``depth`` tickets, so at least ``depth`` reactions lie between the floor
and the cursor; only tickets whose bound reaches the floor can hold them, and only their
threads and ratings from the floor on are read. Should fewer than a page come back (a kind left
out, a bound above its ticket's reactions), the floor goes down and the page is read again;
without a floor every visible ticket is read, so the answer is always the exact page.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from core import permissions
from core.errors import Message, ValidationFailed
from core.models import Agent, Contact, HappinessRating, Organisation, Thread, Ticket
from core.models.tickets import REACTION_THREAD_KINDS, ThreadKind
from core.models.types import INT64_MAX
from core.names import display_name
from core.services.base import Unit, check_limit
from core.services.tickets import customer_ticket_filter


class ReactionKind(StrEnum):
    """What a line of the timeline is."""

    REPLY = "reply"
    COMMENT = "comment"
    RATING = "rating"


#: Every kind, in the order lines of one time are listed (the cursor's tie-break, highest first).
REACTION_KINDS: tuple[str, ...] = tuple(kind.value for kind in ReactionKind)
_RANK = {ReactionKind.REPLY.value: 3, ReactionKind.COMMENT.value: 2, ReactionKind.RATING.value: 1}
_KIND_OF_RANK = {rank: kind for kind, rank in _RANK.items()}
#: The thread kind of each kind of line that is a thread.
_THREAD_KIND_OF = dict(zip(("reply", "comment"), REACTION_THREAD_KINDS, strict=True))
#: How much deeper the floor goes each time a page comes back short.
_DEEPER = 4
#: Up to this many tickets reaching the floor are named by id (see :func:`_reached`).
_LISTED = 1_000


@dataclass(frozen=True)
class ReactionCursor:
    """A position in the timeline: the last line's time, kind (as its rank) and id."""

    created_at: datetime
    rank: int
    id: int

    def encode(self) -> str:
        """The opaque string form handed to clients."""
        raw = f"{self.created_at.isoformat()}|{self.rank}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, value: ReactionCursor | str | None, field: str) -> ReactionCursor | None:
        """A cursor from either form; a malformed string is a validation error on ``field``."""
        if value is None or isinstance(value, ReactionCursor):
            return value
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            moment, rank, record_id = raw.split("|")
            created_at = datetime.fromisoformat(moment)
            position = int(record_id)
            if (
                created_at.tzinfo is None
                or int(rank) not in _KIND_OF_RANK
                or not 0 < position <= INT64_MAX
            ):
                raise ValueError("out of range")
            return cls(created_at, int(rank), position)
        except (ValueError, UnicodeDecodeError) as error:
            raise ValidationFailed({field: [Message("Not a valid page cursor.")]}) from error


@dataclass(frozen=True)
class Reaction:
    """One line of a customer's timeline.

    ``agent`` wrote the reply or comment, or is the agent rated; ``contact`` is the ticket's
    contact, ``rated_by`` the contact who gave a rating. ``text`` is the reply's or comment's
    body, or the rating's feedback; ``rating`` is good, okay or bad (ratings only).
    """

    kind: str
    id: int
    created_at: datetime
    ticket_id: int
    ticket_number: str
    ticket_subject: str
    ticket_status: str
    ticket_status_type: str
    agent_id: int | None
    agent_name: str | None
    contact_id: int | None
    contact_name: str | None
    rated_by_id: int | None
    rated_by_name: str | None
    text: str
    rating: str | None

    @property
    def cursor(self) -> ReactionCursor:
        """The cursor just after this line (the ``before`` of the next page)."""
        return ReactionCursor(self.created_at, _RANK[self.kind], self.id)


def list_reactions(
    unit: Unit,
    *,
    contact_id: int | None = None,
    account_id: int | None = None,
    kinds: Iterable[str] = REACTION_KINDS,
    limit: int = 20,
    before: ReactionCursor | str | None = None,
) -> list[Reaction]:
    """The reactions on the tickets of a contact or an account (give one) the actor may see,
    newest first, ``limit`` of them older than ``before``; ``kinds`` narrows them."""
    unit.actor.require(permissions.TICKET_VIEW)
    check_limit(limit)
    cursor = ReactionCursor.parse(before, "before")
    wanted = frozenset(kinds)
    if not wanted or not wanted <= set(REACTION_KINDS):
        choices = ", ".join(REACTION_KINDS)
        raise ValidationFailed({"kinds": [Message("Choose one of: %(choices)s.", choices=choices)]})
    tickets = customer_ticket_filter(unit, contact_id=contact_id, account_id=account_id)
    depth = limit
    while True:
        floor, reached = _reached(unit, tickets, cursor, depth)
        lines = _page(unit, reached, wanted, cursor, floor, limit)
        if len(lines) >= limit or floor is None:
            return lines
        depth *= _DEEPER


@dataclass(frozen=True)
class _Reached:
    """The tickets whose reactions a page reads: by id, or by conditions on ``ticket``."""

    ids: list[int] | None
    conditions: list[Any]

    def narrow(self, query: Any, ticket_id: Any) -> Any:
        """``query`` of a source (its ``ticket_id`` column) joined to these tickets."""
        joined = query.join(Ticket, Ticket.id == ticket_id)
        if self.ids is not None:
            return joined.where(ticket_id.in_(self.ids))
        return joined.where(*self.conditions)


def _reached(
    unit: Unit, tickets: list[Any], cursor: ReactionCursor | None, depth: int
) -> tuple[datetime | None, _Reached]:
    """The floor, and the tickets whose reactions may reach it, in one read.

    The floor is the ``depth``-th latest bound of the tickets below the cursor's time (a ticket
    bound at the cursor's very time may hold only newer lines); ``None`` when there are fewer,
    and then every visible ticket is read, bounds unread: the last resort is exact whatever
    they say. The tickets are named by id when they are few: a customer's tickets and their
    bounds go together (a busy customer's old tickets all lie below most others'), so a
    planner taking them apart could expect thousands where there are twenty and read a whole
    table of threads instead of twenty tickets'.
    """
    below = select(Ticket.last_reaction_at).where(*tickets, Ticket.last_reaction_at.is_not(None))
    if cursor is not None:
        below = below.where(Ticket.last_reaction_at < cursor.created_at)
    floor = (
        below.order_by(Ticket.last_reaction_at.desc()).offset(depth - 1).limit(1).scalar_subquery()
    )
    # No row at all means no floor: were there one, its own ticket would reach it.
    found = unit.session.execute(
        select(Ticket.id, floor.label("floor"))
        .where(*tickets, Ticket.last_reaction_at >= floor)
        .limit(_LISTED + 1)
    ).all()
    if not found:
        return None, _Reached(None, tickets)
    at = found[0].floor
    reaching = [*tickets, Ticket.last_reaction_at >= at]
    return at, _Reached(None if len(found) > _LISTED else [row.id for row in found], reaching)


def _page(
    unit: Unit,
    reached: _Reached,
    kinds: frozenset[str],
    cursor: ReactionCursor | None,
    floor: datetime | None,
    limit: int,
) -> list[Reaction]:
    """The ``limit`` newest lines older than ``cursor`` and from ``floor`` on, on the tickets
    ``reached`` keeps: each source read newest first on its own (per ticket, through its
    ``(ticket_id, created_at)`` index) with the names a line shows, then merged.

    Two flat reads, not a union: SQLite takes a member's ``ORDER BY … LIMIT`` only inside a
    subquery, and building the nested statement cost more than both reads together. Tickets
    named by id are read by statements built once (their bounds are parameters), since
    building one costs more than running it.
    """
    values: dict[str, Any] = {
        "floor": floor or _EARLIEST,
        "cursor_at": cursor.created_at if cursor else _LATEST,
        "cursor_rank": cursor.rank if cursor else max(_KIND_OF_RANK) + 1,
        "cursor_id": cursor.id if cursor else INT64_MAX,
        "limit": limit,
        "thread_kinds": [kind for reaction, kind in _THREAD_KIND_OF.items() if reaction in kinds],
    }
    reads = []
    if values["thread_kinds"]:
        reads.append(_THREADS_BY_ID if reached.ids is not None else _threads(reached.conditions))
    if ReactionKind.RATING in kinds:
        reads.append(_RATINGS_BY_ID if reached.ids is not None else _ratings(reached.conditions))
    if reached.ids is not None:
        values["ticket_ids"] = reached.ids
    rows = [row for read in reads for row in unit.session.execute(read, values)]
    rows.sort(key=lambda row: (row.created_at, row.rank, row.id), reverse=True)
    return _described(rows[:limit])


#: The bounds standing for "no floor" and "no cursor" among a read's parameters.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def _threads(tickets: list[Any] | None) -> Any:
    """The read of agents' replies and comments on the tickets ``tickets`` keeps (conditions on
    ``ticket``; ``None``: the ``ticket_ids`` parameter)."""
    rank = case(
        (Thread.kind == ThreadKind.OUTGOING.value, _RANK[ReactionKind.REPLY]),
        else_=_RANK[ReactionKind.COMMENT],
    )
    query = select(
        rank.label("rank"),
        Thread.id,
        Thread.created_at,
        Thread.ticket_id,
        Thread.author_agent_id.label("agent_id"),
        null().label("rated_by_id"),
        Thread.body.label("text"),
        null().label("rating"),
    ).where(
        Thread.kind.in_(bindparam("thread_kinds", expanding=True)),
        Thread.author_agent_id.is_not(None),
        *_window(Thread.created_at, rank, Thread.id),
        *_of_tickets(Thread.ticket_id, tickets),
    )
    order = (Thread.created_at.desc(), rank.desc(), Thread.id.desc())
    return _named(query, Thread.ticket_id, Thread.author_agent_id, None, order)


def _ratings(tickets: list[Any] | None) -> Any:
    """The read of the ratings on the tickets ``tickets`` keeps (as :func:`_threads`)."""
    # Written into the SQL: the same in every read.
    rank = literal_column(str(_RANK[ReactionKind.RATING]), Integer)
    query = select(
        rank.label("rank"),
        HappinessRating.id,
        HappinessRating.created_at,
        HappinessRating.ticket_id,
        HappinessRating.agent_id,
        HappinessRating.contact_id.label("rated_by_id"),
        HappinessRating.feedback.label("text"),
        HappinessRating.rating,
    ).where(
        *_window(HappinessRating.created_at, rank, HappinessRating.id),
        *_of_tickets(HappinessRating.ticket_id, tickets),
    )
    order = (HappinessRating.created_at.desc(), HappinessRating.id.desc())
    return _named(
        query,
        HappinessRating.ticket_id,
        HappinessRating.agent_id,
        HappinessRating.contact_id,
        order,
    )


def _of_tickets(ticket_id: Any, tickets: list[Any] | None) -> list[Any]:
    """A source kept to the tickets: by conditions on ``ticket``, or ``ticket_ids``."""
    if tickets is None:
        return [ticket_id.in_(bindparam("ticket_ids", expanding=True))]
    return tickets


def _named(
    query: Any, ticket_id: Any, agent_id: Any, rated_by_id: Any | None, order: tuple[Any, ...]
) -> Any:
    """A source's read, newest first, with what a line shows of its ticket, the ticket's
    contact, the agent and the rater (few rows: the joins cost less than more reads)."""
    rater = aliased(Contact)
    query = (
        query.add_columns(
            Ticket.number.label("ticket_number"),
            Ticket.subject.label("ticket_subject"),
            Ticket.status.label("ticket_status"),
            Ticket.status_type.label("ticket_status_type"),
            Ticket.contact_id.label("contact_id"),
            Contact.first_name.label("contact_first"),
            Contact.last_name.label("contact_last"),
            Contact.name_order.label("contact_order"),
            Agent.name.label("agent_name"),
            select(Organisation.ticket_prefix).limit(1).scalar_subquery().label("ticket_prefix"),
        )
        .join(Ticket, Ticket.id == ticket_id)
        .outerjoin(Contact, Contact.id == Ticket.contact_id)
        .outerjoin(Agent, Agent.id == agent_id)
    )
    if rated_by_id is None:
        query = query.add_columns(
            null().label("rater_first"), null().label("rater_last"), null().label("rater_order")
        )
    else:
        query = query.add_columns(
            rater.first_name.label("rater_first"),
            rater.last_name.label("rater_last"),
            rater.name_order.label("rater_order"),
        ).outerjoin(rater, rater.id == rated_by_id)
    return query.order_by(*order).limit(bindparam("limit", type_=Integer))


def _window(created_at: Any, rank: Any, id_column: Any) -> list[Any]:
    """Lines from the ``floor`` parameter on and strictly older than the cursor's
    (``cursor_at``, ``cursor_rank``, ``cursor_id``: by time, kind, then id)."""
    cursor_at = bindparam("cursor_at", type_=created_at.type)
    cursor_rank = bindparam("cursor_rank", type_=Integer)
    return [
        created_at >= bindparam("floor", type_=created_at.type),
        created_at <= cursor_at,  # the range an index can seek
        or_(
            created_at < cursor_at,
            rank < cursor_rank,
            and_(rank == cursor_rank, id_column < bindparam("cursor_id", type_=id_column.type)),
        ),
    ]


_THREADS_BY_ID = _threads(None)
_RATINGS_BY_ID = _ratings(None)


def _described(rows: Sequence[Any]) -> list[Reaction]:
    """The page's rows (read with their names by :func:`_page`) as lines."""
    return [
        Reaction(
            kind=_KIND_OF_RANK[row.rank],
            id=row.id,
            created_at=row.created_at,
            ticket_id=row.ticket_id,
            ticket_number=f"{row.ticket_prefix or ''}{row.ticket_number}",
            ticket_subject=row.ticket_subject,
            ticket_status=row.ticket_status,
            ticket_status_type=row.ticket_status_type,
            agent_id=row.agent_id,
            agent_name=row.agent_name,
            contact_id=row.contact_id,
            contact_name=_name(row.contact_first, row.contact_last, row.contact_order),
            rated_by_id=row.rated_by_id,
            rated_by_name=_name(row.rater_first, row.rater_last, row.rater_order),
            text=row.text,
            rating=row.rating,
        )
        for row in rows
    ]


def _name(first: str | None, last: str | None, order: str | None) -> str | None:
    """A contact's name as the page shows it; ``None`` without a contact."""
    if order is None:
        return None
    return display_name(first, last, order=order)


def count_ratings(
    unit: Unit, *, contact_id: int | None = None, account_id: int | None = None
) -> int:
    """How many happiness ratings the customer's visible tickets have (the Happiness tab's
    count)."""
    unit.actor.require(permissions.TICKET_VIEW)
    tickets = customer_ticket_filter(unit, contact_id=contact_id, account_id=account_id)
    query = (
        select(func.count(HappinessRating.id))
        .join(Ticket, Ticket.id == HappinessRating.ticket_id)
        .where(*tickets)
    )
    return int(unit.session.scalar(query) or 0)
