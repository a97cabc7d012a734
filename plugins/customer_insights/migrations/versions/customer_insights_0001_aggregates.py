"""customer_insights: per-ticket facts, per-customer totals, pending backfills.

Revision ID: customer_insights_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "customer_insights_0001"
down_revision = None
branch_labels = ("customer_insights",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_insights_ticket",
        sa.Column("installation_id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("department_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=True),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("status_type", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_us", sa.BigInteger(), nullable=True),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("response_us", sa.BigInteger(), nullable=False),
        sa.Column("public_replies", sa.Integer(), nullable=False),
        sa.Column("resolution_us", sa.BigInteger(), nullable=True),
        sa.Column("closed_us", sa.BigInteger(), nullable=False),
        sa.Column("latest_rating", sa.String(10), nullable=True),
    )
    op.create_index(
        "ix_customer_insights_ticket_contact",
        "customer_insights_ticket",
        ["installation_id", "contact_id"],
    )
    op.create_index(
        "ix_customer_insights_ticket_account",
        "customer_insights_ticket",
        ["installation_id", "account_id"],
    )
    op.create_index(
        "ix_customer_insights_ticket_department",
        "customer_insights_ticket",
        ["installation_id", "department_id"],
    )
    op.create_table(
        "customer_insights_totals",
        sa.Column("installation_id", sa.Integer(), primary_key=True),
        sa.Column("customer_kind", sa.String(10), primary_key=True),
        sa.Column("customer_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("department_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(40), primary_key=True),
        *(
            sa.Column(
                name, sa.BigInteger() if name.endswith("_us") else sa.Integer(), nullable=False
            )
            for name in (
                "tickets",
                "open_tickets",
                "on_hold_tickets",
                "closed_tickets",
                "first_responses",
                "first_response_us",
                "responses",
                "response_us",
                "public_replies",
                "resolutions",
                "resolution_us",
                "rated_good",
                "rated_okay",
                "rated_bad",
            )
        ),
    )
    op.create_table(
        "customer_insights_backfill",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.BigInteger(), nullable=True),
        sa.Column("first_ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("last_ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("after_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("after_ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("tickets_done", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_customer_insights_backfill_installation_id",
        "customer_insights_backfill",
        ["installation_id"],
    )


def downgrade() -> None:
    op.drop_table("customer_insights_backfill")
    op.drop_table("customer_insights_totals")
    op.drop_table("customer_insights_ticket")
