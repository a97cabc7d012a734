"""ticket merge: the ticket a merged ticket's conversation moved to

Revision ID: 0015_core
Revises: 0014_core
Create Date: 2026-12-07

A ticket merged into another (its description, threads and time entries moved there, itself
closed) names that ticket, so its page links to it and it is not merged twice.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015_core'
down_revision: str | None = '0014_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ticket') as batch:
        batch.add_column(sa.Column('merged_into_id', sa.BigInteger(), nullable=True))
        batch.create_foreign_key(
            'fk_ticket_merged_into_id_ticket', 'ticket', ['merged_into_id'], ['id'], ondelete='SET NULL'
        )


def downgrade() -> None:
    with op.batch_alter_table('ticket') as batch:
        batch.drop_constraint('fk_ticket_merged_into_id_ticket', type_='foreignkey')
        batch.drop_column('merged_into_id')
