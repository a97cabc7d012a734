"""migrating: its one table.

Revision ID: migrating_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "migrating_0001"
down_revision = None
branch_labels = ("migrating",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrating_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("migrating_item")
