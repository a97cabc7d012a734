"""im_dashboard: the dashboard's figures per quarter hour, department and channel, each agent's
share of them, and the lock that keeps one transaction at a time recomputing an
installation's; an index of the webhook events waiting to be filed.

Revision ID: im_dashboard_0004
Revises: im_dashboard_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "im_dashboard_0004"
down_revision = "im_dashboard_0003"
branch_labels = None
depends_on = None

_TIMINGS = (
    ("first_accepts", sa.Integer()),
    ("first_accept_seconds", sa.Float()),
    ("first_responses", sa.Integer()),
    ("first_response_seconds", sa.Float()),
    ("replies", sa.Integer()),
    ("reply_seconds", sa.Float()),
)
_FIGURES = (
    ("chats_new", sa.Integer()),
    ("chats_existing", sa.Integer()),
    ("chats_assigned", sa.Integer()),
    ("messages_in", sa.Integer()),
    ("messages_out", sa.Integer()),
    ("ended", sa.Integer()),
    ("end_seconds", sa.Float()),
    *_TIMINGS,
)
_AGENT_FIGURES = (("assignments", sa.Integer()), ("reopens", sa.Integer()), *_TIMINGS)


def _key() -> list[sa.Column]:
    return [
        sa.Column("installation_id", sa.Integer(), primary_key=True),
        sa.Column("slot", sa.BigInteger(), primary_key=True),
        sa.Column("department_id", sa.BigInteger(), primary_key=True),
        sa.Column("channel", sa.String(20), primary_key=True),
    ]


def upgrade() -> None:
    op.create_table(
        "im_dashboard_tally",
        *_key(),
        *(sa.Column(name, kind, nullable=False) for name, kind in _FIGURES),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "im_dashboard_agent_tally",
        *_key(),
        sa.Column("agent_id", sa.BigInteger(), primary_key=True),
        *(sa.Column(name, kind, nullable=False) for name, kind in _AGENT_FIGURES),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "im_dashboard_tally_lock",
        sa.Column("installation_id", sa.Integer(), primary_key=True),
    )
    op.create_index(
        "ix_im_dashboard_inbound_event_waiting",
        "im_dashboard_inbound_event",
        ["installation_id", "id"],
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_im_dashboard_inbound_event_waiting", "im_dashboard_inbound_event")
    op.drop_table("im_dashboard_tally_lock")
    op.drop_table("im_dashboard_agent_tally")
    op.drop_table("im_dashboard_tally")
