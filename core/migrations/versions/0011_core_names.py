"""names: a contact's name order (auto, family first or given first)

Revision ID: 0011_core
Revises: 0010_core
Create Date: 2026-12-06

Contacts' names are shown family name first in Japanese and given name first in English; a name
written in Japanese script is family name first in every language. ``name_order`` lets a
contact override that rule; every existing contact starts on the rule (``auto``).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_core'
down_revision: str | None = '0010_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contact') as batch:
        batch.add_column(
            sa.Column('name_order', sa.String(20), server_default='auto', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('name_order')
