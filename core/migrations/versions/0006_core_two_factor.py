"""two-factor sign-in: a permission profile can require it of its agents

Revision ID: 0006_core
Revises: 0005_core
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_core'
down_revision: str | None = '0005_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('permission_profile') as batch:
        batch.add_column(
            sa.Column('requires_two_factor', sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table('permission_profile') as batch:
        batch.drop_column('requires_two_factor')
