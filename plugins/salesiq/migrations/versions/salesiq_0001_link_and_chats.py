"""salesiq: the linked chat-product account, its departments, its webhook events and chats.

Revision ID: salesiq_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "salesiq_0001"
down_revision = None
branch_labels = ("salesiq",)
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "salesiq_link",
        sa.Column("installation_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("portal", sa.String(100), nullable=False),
        sa.Column("operator_email", sa.String(320), nullable=False),
        sa.Column("operator_name", sa.String(200), nullable=False),
        sa.Column("linked_by_agent_id", sa.BigInteger(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("webhook_id", sa.String(100), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("connect_url", sa.String(500), nullable=False),
    )
    op.create_table(
        "salesiq_department",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("chat_department_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("desk_department_id", sa.BigInteger(), nullable=True),
        sa.Column("auto_mapped", sa.Boolean(), nullable=False),
        sa.Column("notice", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "installation_id", "chat_department_id", name="uq_salesiq_department_chat_id"
        ),
    )
    op.create_index(
        "ix_salesiq_department_installation_id", "salesiq_department", ["installation_id"]
    )
    op.create_table(
        "salesiq_event",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(300), nullable=False),
        sa.UniqueConstraint("installation_id", "event_id", name="uq_salesiq_event_id"),
    )
    op.create_index(
        "ix_salesiq_event_waiting",
        "salesiq_event",
        ["installation_id", "id"],
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "salesiq_chat",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(100), nullable=False),
        sa.Column("chat_department_id", sa.String(40), nullable=False),
        sa.Column("visitor_id", sa.String(100), nullable=False),
        sa.Column("visitor_name", sa.String(200), nullable=False),
        sa.Column("visitor_email", sa.String(320), nullable=False),
        sa.Column("visitor_phone", sa.String(50), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attended_by_email", sa.String(320), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=True),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("converted_by", sa.String(20), nullable=False),
        sa.Column("messages_in_ticket", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.String(200), nullable=False),
        sa.Column("described_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "chat_id", name="uq_salesiq_chat_id"),
    )
    op.create_index("ix_salesiq_chat_ticket", "salesiq_chat", ["installation_id", "ticket_id"])
    op.create_index(
        "ix_salesiq_chat_started", "salesiq_chat", ["installation_id", "started_at", "id"]
    )


def downgrade() -> None:
    for table in ("salesiq_chat", "salesiq_event", "salesiq_department", "salesiq_link"):
        op.drop_table(table)
