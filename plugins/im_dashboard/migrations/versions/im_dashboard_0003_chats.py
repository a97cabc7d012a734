"""im_dashboard: chats, their messages and activities, round-robin's place per department, and
the lock that keeps one job at a time turning webhook events into chats.

Revision ID: im_dashboard_0003
Revises: im_dashboard_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "im_dashboard_0003"
down_revision = "im_dashboard_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "im_dashboard_chat",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("channel_account_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("department_id", sa.BigInteger(), nullable=False),
        sa.Column("external_user_id", sa.String(200), nullable=False),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_was_new", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("assignee_id", sa.BigInteger(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_customer_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_agent_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("awaiting_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_seconds", sa.Float(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("first_accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_accepted_by", sa.BigInteger(), nullable=True),
        sa.Column("first_accept_seconds", sa.Float(), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_by", sa.BigInteger(), nullable=True),
        sa.Column("first_response_seconds", sa.Float(), nullable=True),
        sa.Column("time_to_end_seconds", sa.Float(), nullable=True),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_im_dashboard_chat_responded",
        "im_dashboard_chat",
        ["installation_id", "first_response_at"],
    )
    op.create_index(
        "ix_im_dashboard_chat_started", "im_dashboard_chat", ["installation_id", "started_at"]
    )
    op.create_index(
        "ix_im_dashboard_chat_user",
        "im_dashboard_chat",
        ["channel_account_id", "external_user_id", "id"],
    )
    op.create_index(
        "ix_im_dashboard_chat_inbox",
        "im_dashboard_chat",
        ["installation_id", "status", "last_message_at"],
    )
    op.create_index(
        "ix_im_dashboard_chat_ended", "im_dashboard_chat", ["installation_id", "ended_at"]
    )
    op.create_index(
        "ix_im_dashboard_chat_accepted",
        "im_dashboard_chat",
        ["installation_id", "first_accepted_at"],
    )
    op.create_table(
        "im_dashboard_chat_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_account_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("department_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("platform_message_id", sa.String(200), nullable=True),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("location", sa.JSON(), nullable=False),
        sa.Column("platform_type", sa.String(40), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_seconds", sa.Float(), nullable=True),
        sa.Column("delivery", sa.String(12), nullable=True),
        sa.Column("delivery_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(500), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "channel_account_id",
            "direction",
            "platform_message_id",
            name="uq_im_dashboard_chat_message_platform_id",
        ),
    )
    op.create_index(
        "ix_im_dashboard_chat_message_sent",
        "im_dashboard_chat_message",
        ["installation_id", "sent_at"],
    )
    op.create_index(
        "ix_im_dashboard_chat_message_chat", "im_dashboard_chat_message", ["chat_id", "sent_at"]
    )
    op.create_table(
        "im_dashboard_chat_activity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("department_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("by_agent_id", sa.BigInteger(), nullable=True),
        sa.Column("cause", sa.String(12), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
    )
    op.create_index(
        "ix_im_dashboard_chat_activity_at", "im_dashboard_chat_activity", ["installation_id", "at"]
    )
    op.create_index(
        "ix_im_dashboard_chat_activity_chat", "im_dashboard_chat_activity", ["chat_id", "at"]
    )
    op.create_table(
        "im_dashboard_rotation",
        sa.Column("installation_id", sa.Integer(), primary_key=True),
        sa.Column("department_id", sa.BigInteger(), primary_key=True),
        sa.Column("last_agent_id", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "im_dashboard_drain_lock",
        sa.Column("installation_id", sa.Integer(), primary_key=True),
        sa.Column("drained_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "im_dashboard_drain_lock",
        "im_dashboard_rotation",
        "im_dashboard_chat_activity",
        "im_dashboard_chat_message",
        "im_dashboard_chat",
    ):
        op.drop_table(table)
