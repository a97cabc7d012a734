"""upgrading: its first table (shipped since 1.0.0).

Revision ID: upgrading_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "upgrading_0001"
down_revision = None
branch_labels = ("upgrading",)
depends_on = None


def upgrade() -> None:
    op.create_table("upgrading_note", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("upgrading_note")
