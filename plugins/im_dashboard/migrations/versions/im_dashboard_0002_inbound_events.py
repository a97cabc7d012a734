"""im_dashboard: the events the channels' webhooks delivered, stored once each.

Revision ID: im_dashboard_0002
Revises: im_dashboard_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "im_dashboard_0002"
down_revision = "im_dashboard_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "im_dashboard_inbound_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("channel_account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint(
            "channel_account_id", "event_key", name="uq_im_dashboard_inbound_event_key"
        ),
    )
    op.create_index(
        "ix_im_dashboard_inbound_event_installation_id",
        "im_dashboard_inbound_event",
        ["installation_id"],
    )


def downgrade() -> None:
    op.drop_table("im_dashboard_inbound_event")
