"""Tags on tickets: the same lower-cased tag words contacts carry, set and read per ticket.

Tagging is an edit of the ticket (``ticket.edit`` in its department). A change is audited as
an update of the ticket with the sub-action ``tags`` (the conversation's timeline reads it
from there) and emitted as ``ticket.updated`` with a ``tags`` change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import delete, insert, select

from core import permissions
from core.errors import Message, ValidationFailed
from core.models import Tag, Ticket, ticket_tags
from core.services.base import Unit, gather
from core.services.customers import tag_names
from hostapi import clock, events

#: How many tags one ticket may carry (a tag cloud per ticket helps nobody).
MAX_TAGS_PER_TICKET = 30


def tags_of(unit: Unit, ticket: Ticket) -> list[str]:
    """The ticket's tag names, alphabetically."""
    return tags_of_tickets(unit, [ticket.id]).get(ticket.id, [])


def tags_of_tickets(unit: Unit, ticket_ids: Iterable[int]) -> dict[int, list[str]]:
    """Tag names of each of ``ticket_ids`` (one query for a page of the list)."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return {}
    rows = unit.session.execute(
        select(ticket_tags.c.ticket_id, Tag.name)
        .join(Tag, Tag.id == ticket_tags.c.tag_id)
        .where(ticket_tags.c.ticket_id.in_(ids))
        .order_by(Tag.name)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for ticket_id, name in rows:
        found[ticket_id].append(name)
    return dict(found)


def _clean(names: Iterable[str]) -> list[str]:
    cleaned = tag_names(names)
    if len(cleaned) > MAX_TAGS_PER_TICKET:
        raise ValidationFailed(
            {"tags": [Message("At most %(count)d tags per ticket.", count=MAX_TAGS_PER_TICKET)]}
        )
    return cleaned


def set_ticket_tags(unit: Unit, ticket: Ticket, names: Iterable[str]) -> list[str]:
    """Replace the ticket's tags (lower-cased; unknown words become tags); returns them sorted.

    :raises ValidationFailed: on ``tags``: an empty or over-long name, or too many tags.
    """
    unit.actor.require(permissions.TICKET_EDIT)
    unit.actor.require_department(ticket.department_id, "ticket")
    wanted = sorted(gather({"tags": lambda: _clean(names)})["tags"])
    before = tags_of(unit, ticket)
    if before == wanted:
        return before
    session = unit.session
    known = {tag.name: tag for tag in session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    for name in wanted:
        if name not in known:
            known[name] = Tag(name=name)
            session.add(known[name])
    session.flush()
    session.execute(delete(ticket_tags).where(ticket_tags.c.ticket_id == ticket.id))
    if wanted:
        session.execute(
            insert(ticket_tags),
            [{"ticket_id": ticket.id, "tag_id": known[name].id} for name in wanted],
        )
    ticket.updated_at = clock.now()
    session.flush()
    unit.audit(
        "update",
        "ticket",
        ticket.id,
        sub_action="tags",
        before={"tags": before},
        after={"tags": wanted},
    )
    unit.emit(
        events.TICKET_UPDATED,
        {
            "ticket_id": ticket.id,
            "department_id": ticket.department_id,
            "changes": {"tags": [before, wanted]},
        },
        [ticket.department_id],
    )
    return wanted


def add_ticket_tags(unit: Unit, ticket: Ticket, names: Iterable[str]) -> list[str]:
    """Add tags to the ticket, keeping those it has."""
    wanted = gather({"tags": lambda: _clean(names)})["tags"]
    return set_ticket_tags(unit, ticket, [*tags_of(unit, ticket), *wanted])


def remove_ticket_tag(unit: Unit, ticket: Ticket, name: str) -> list[str]:
    """Take one tag off the ticket (a tag it does not carry changes nothing)."""
    return set_ticket_tags(unit, ticket, [t for t in tags_of(unit, ticket) if t != name])
