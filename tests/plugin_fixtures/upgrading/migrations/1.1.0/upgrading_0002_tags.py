"""upgrading 1.1.0: a second table.

Revision ID: upgrading_0002
Revises: upgrading_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "upgrading_0002"
down_revision = "upgrading_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("upgrading_tag", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("upgrading_tag")
