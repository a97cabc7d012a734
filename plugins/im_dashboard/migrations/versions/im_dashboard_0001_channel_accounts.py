"""im_dashboard: the channel accounts an admin connects.

Revision ID: im_dashboard_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "im_dashboard_0001"
down_revision = None
branch_labels = ("im_dashboard",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "im_dashboard_channel_account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("department_id", sa.BigInteger(), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "name", name="uq_im_dashboard_channel_account_name"),
    )
    op.create_index(
        "ix_im_dashboard_channel_account_installation_id",
        "im_dashboard_channel_account",
        ["installation_id"],
    )


def downgrade() -> None:
    op.drop_table("im_dashboard_channel_account")
