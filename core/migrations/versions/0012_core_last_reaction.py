"""reactions: a ticket's latest reaction time, by contact and by account

Revision ID: 0012_core
Revises: 0011_core
Create Date: 2026-12-06

The Reactions tab of a contact or an account lists the replies and comments agents wrote and
the ratings the customer gave, newest first, across all the customer's tickets. Reading every
ticket's threads for a customer of 10,000 tickets is too slow, so each ticket keeps the time
of its latest reaction (``last_reaction_at``, an upper bound of them all): the timeline reads
the customer's tickets by it (through the two new indexes) and only the threads of those whose
reactions can be on the page. Existing tickets get it from their threads and ratings.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = '0012_core'
down_revision: str | None = '0011_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ticket') as batch:
        batch.add_column(
            sa.Column('last_reaction_at', core.db.UTCDateTime(timezone=True), nullable=True)
        )
    # The later of the latest agent reply or comment and the latest rating (NULL-safe: SQLite
    # has no GREATEST, and MAX() over the two correlated values is portable).
    op.execute(
        """
        UPDATE ticket SET last_reaction_at = (
            SELECT MAX(at) FROM (
                SELECT MAX(created_at) AS at FROM thread
                WHERE thread.ticket_id = ticket.id
                  AND thread.kind IN ('outgoing', 'comment')
                  AND thread.author_agent_id IS NOT NULL
                UNION ALL
                SELECT MAX(created_at) AS at FROM happiness_rating
                WHERE happiness_rating.ticket_id = ticket.id
            ) AS latest
        )
        """
    )
    op.create_index('ix_ticket_contact_reaction', 'ticket', ['contact_id', 'last_reaction_at'])
    op.create_index('ix_ticket_account_reaction', 'ticket', ['account_id', 'last_reaction_at'])


def downgrade() -> None:
    op.drop_index('ix_ticket_account_reaction', table_name='ticket')
    op.drop_index('ix_ticket_contact_reaction', table_name='ticket')
    with op.batch_alter_table('ticket') as batch:
        batch.drop_column('last_reaction_at')
