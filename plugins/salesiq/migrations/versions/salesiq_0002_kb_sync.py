"""salesiq: the knowledge-base sync: its settings and runs, the categories per chat department,
and the articles synced.

Revision ID: salesiq_0002
Revises: salesiq_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "salesiq_0002"
down_revision = "salesiq_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "salesiq_kb_sync",
        sa.Column("installation_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("visibility", sa.String(20), nullable=False),
        sa.Column("article_status", sa.String(20), nullable=False),
        sa.Column("interval", sa.String(20), nullable=False),
        sa.Column("first_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "salesiq_kb_category",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("chat_department_id", sa.String(40), nullable=False),
        sa.Column("kb_category_id", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("installation_id", "kb_category_id", name="uq_salesiq_kb_category"),
    )
    op.create_table(
        "salesiq_kb_article",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.BigInteger(), nullable=False),
        sa.Column("product_article_id", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "article_id", name="uq_salesiq_kb_article"),
    )


def downgrade() -> None:
    for table in ("salesiq_kb_article", "salesiq_kb_category", "salesiq_kb_sync"):
        op.drop_table(table)
