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
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Integer, and_, case, func, literal_column, null, or_, select, union_all

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
        raise ValidationFailed({"kinds": [Message("Choose from: %(choices)s.", choices=choices)]})
    tickets = customer_ticket_filter(unit, contact_id=contact_id, account_id=account_id)
    depth = limit
    while True:
        floor = _floor(unit, tickets, cursor, depth)
        rows = unit.session.execute(_page(tickets, wanted, cursor, floor, limit)).all()
        if len(rows) >= limit or floor is None:
            return _described(unit, rows)
        depth *= _DEEPER


def _floor(
    unit: Unit, tickets: list[Any], cursor: ReactionCursor | None, depth: int
) -> datetime | None:
    """The ``depth``-th latest reaction bound of the tickets below the cursor's time, if there
    are that many (a ticket bound at the cursor's very time may hold only newer lines)."""
    query = select(Ticket.last_reaction_at).where(*tickets, Ticket.last_reaction_at.is_not(None))
    if cursor is not None:
        query = query.where(Ticket.last_reaction_at < cursor.created_at)
    return unit.session.scalar(
        query.order_by(Ticket.last_reaction_at.desc()).offset(depth - 1).limit(1)
    )


def _page(
    tickets: list[Any],
    kinds: frozenset[str],
    cursor: ReactionCursor | None,
    floor: datetime | None,
    limit: int,
) -> Any:
    """The ``limit`` newest lines older than ``cursor`` and from ``floor`` on, each source
    read newest first on its own (per ticket, through its ``(ticket_id, created_at)`` index)."""
    # Without a floor every visible ticket is read, its bound unread: the last resort is exact
    # whatever the bounds say.
    reached = [] if floor is None else [Ticket.last_reaction_at >= floor]
    sources = []
    thread_kinds = [kind for reaction, kind in _THREAD_KIND_OF.items() if reaction in kinds]
    if thread_kinds:
        rank = case(
            (Thread.kind == ThreadKind.OUTGOING.value, _rank(ReactionKind.REPLY)),
            else_=_rank(ReactionKind.COMMENT),
        )
        threads = (
            select(
                rank.label("rank"),
                Thread.id.label("id"),
                Thread.created_at.label("created_at"),
                Thread.ticket_id.label("ticket_id"),
                Thread.author_agent_id.label("agent_id"),
                null().label("rated_by_id"),
                Thread.body.label("text"),
                null().label("rating"),
            )
            .join(Ticket, Ticket.id == Thread.ticket_id)
            .where(
                *tickets,
                *reached,
                Thread.kind.in_(thread_kinds),
                Thread.author_agent_id.is_not(None),
                *_window(Thread.created_at, rank, Thread.id, cursor, floor),
            )
        )
        sources.append(_newest(threads, Thread.created_at, rank, Thread.id, limit))
    if ReactionKind.RATING in kinds:
        rating_rank = _rank(ReactionKind.RATING)
        ratings = (
            select(
                rating_rank.label("rank"),
                HappinessRating.id.label("id"),
                HappinessRating.created_at.label("created_at"),
                HappinessRating.ticket_id.label("ticket_id"),
                HappinessRating.agent_id.label("agent_id"),
                HappinessRating.contact_id.label("rated_by_id"),
                HappinessRating.feedback.label("text"),
                HappinessRating.rating.label("rating"),
            )
            .join(Ticket, Ticket.id == HappinessRating.ticket_id)
            .where(
                *tickets,
                *reached,
                *_window(
                    HappinessRating.created_at, rating_rank, HappinessRating.id, cursor, floor
                ),
            )
        )
        sources.append(
            _newest(ratings, HappinessRating.created_at, rating_rank, HappinessRating.id, limit)
        )
    merged = union_all(*sources).subquery() if len(sources) > 1 else sources[0].subquery()
    return (
        select(merged)
        .order_by(merged.c.created_at.desc(), merged.c.rank.desc(), merged.c.id.desc())
        .limit(limit)
    )


def _rank(kind: ReactionKind) -> Any:
    """A kind's rank as SQL text, not a parameter: PostgreSQL types it inside the union."""
    return literal_column(str(_RANK[kind]), Integer)


def _newest(query: Any, created_at: Any, rank: Any, id_column: Any, limit: int) -> Any:
    """One source's ``limit`` newest lines (a subquery, so that each keeps its own order)."""
    ordered = (
        query.order_by(created_at.desc(), rank.desc(), id_column.desc()).limit(limit).subquery()
    )
    return select(ordered)


def _window(
    created_at: Any, rank: Any, id_column: Any, cursor: ReactionCursor | None, floor: Any
) -> list[Any]:
    """Lines from ``floor`` on and strictly older than ``cursor`` (by time, kind, then id)."""
    conditions = []
    if floor is not None:
        conditions.append(created_at >= floor)
    if cursor is not None:
        conditions.append(created_at <= cursor.created_at)  # the range an index can seek
        conditions.append(
            or_(
                created_at < cursor.created_at,
                rank < cursor.rank,
                and_(rank == cursor.rank, id_column < cursor.id),
            )
        )
    return conditions


def _described(unit: Unit, rows: Sequence[Any]) -> list[Reaction]:
    """The page's lines with their tickets', agents' and contacts' names (three reads)."""
    if not rows:
        return []
    session = unit.session
    tickets = {
        row.id: row
        for row in session.execute(
            select(
                Ticket.id,
                Ticket.number,
                Ticket.subject,
                Ticket.status,
                Ticket.status_type,
                Ticket.contact_id,
            ).where(Ticket.id.in_({row.ticket_id for row in rows}))
        )
    }
    agent_ids = {row.agent_id for row in rows if row.agent_id is not None}
    agents = (
        dict(session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids))).all())
        if agent_ids
        else {}
    )
    contact_ids = {t.contact_id for t in tickets.values() if t.contact_id is not None}
    contact_ids |= {row.rated_by_id for row in rows if row.rated_by_id is not None}
    contacts = {
        contact.id: display_name(contact.first_name, contact.last_name, order=contact.name_order)
        for contact in session.execute(
            select(Contact.id, Contact.first_name, Contact.last_name, Contact.name_order).where(
                Contact.id.in_(contact_ids)
            )
        )
    }
    prefix = session.scalar(select(Organisation.ticket_prefix).limit(1)) or ""
    described = []
    for row in rows:
        ticket = tickets[row.ticket_id]
        described.append(
            Reaction(
                kind=_KIND_OF_RANK[row.rank],
                id=row.id,
                created_at=row.created_at,
                ticket_id=ticket.id,
                ticket_number=f"{prefix}{ticket.number}",
                ticket_subject=ticket.subject,
                ticket_status=ticket.status,
                ticket_status_type=ticket.status_type,
                agent_id=row.agent_id,
                agent_name=agents.get(row.agent_id) if row.agent_id is not None else None,
                contact_id=ticket.contact_id,
                contact_name=contacts.get(ticket.contact_id) if ticket.contact_id else None,
                rated_by_id=row.rated_by_id,
                rated_by_name=contacts.get(row.rated_by_id) if row.rated_by_id else None,
                text=row.text,
                rating=row.rating,
            )
        )
    return described


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
