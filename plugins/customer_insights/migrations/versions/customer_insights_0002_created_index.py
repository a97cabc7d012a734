"""customer_insights: an index for the date-range export (tickets created from one day to
another, newest first).

Revision ID: customer_insights_0002
Revises: customer_insights_0001
"""

from alembic import op

revision = "customer_insights_0002"
down_revision = "customer_insights_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_customer_insights_ticket_created",
        "customer_insights_ticket",
        ["installation_id", "created_at", "ticket_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_customer_insights_ticket_created", table_name="customer_insights_ticket")
