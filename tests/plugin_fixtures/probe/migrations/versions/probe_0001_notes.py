"""probe: its one table.

Revision ID: probe_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "probe_0001"
down_revision = None
branch_labels = ("probe",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_note",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("probe_note")
