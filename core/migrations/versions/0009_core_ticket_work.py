"""ticket work: tickets carry tags; the ticket list filters by status name

Revision ID: 0009_core
Revises: 0008_core
Create Date: 2026-12-06

Agents tag tickets with the same tag rows contacts use (``ticket_tag`` links them, read by
ticket and, through its own index, by tag). The list's status filter names one status, custom
ones included, so ``ticket.status`` gets an index of its own.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009_core'
down_revision: str | None = '0008_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'ticket_tag',
        sa.Column(
            'ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False
        ),
        sa.Column('tag_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['ticket_id'],
            ['ticket.id'],
            name=op.f('fk_ticket_tag_ticket_id_ticket'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['tag_id'], ['tag.id'], name=op.f('fk_ticket_tag_tag_id_tag'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('ticket_id', 'tag_id', name=op.f('pk_ticket_tag')),
    )
    op.create_index('ix_ticket_tag_tag', 'ticket_tag', ['tag_id', 'ticket_id'])
    op.create_index('ix_ticket_status_name', 'ticket', ['status'])


def downgrade() -> None:
    op.drop_index('ix_ticket_status_name', table_name='ticket')
    op.drop_index('ix_ticket_tag_tag', table_name='ticket_tag')
    op.drop_table('ticket_tag')
