"""What agents attach to tickets while working them: tags (the contacts' tag vocabulary)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Table

from core.db import Base
from core.models.tickets import Ticket
from core.models.types import BigID

#: A ticket's tags; the tag rows are the ones contacts use, so one word means one thing.
ticket_tags = Table(
    "ticket_tag",
    Base.metadata,
    Column("ticket_id", BigID, ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
    # "Tickets tagged x" reads by tag first.
    Index("ix_ticket_tag_tag", "tag_id", "ticket_id"),
)

#: The ticket list filters by a status's name (a custom status included), in its departments.
ticket_status_index = Index("ix_ticket_status_name", Ticket.status)
