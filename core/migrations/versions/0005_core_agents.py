"""agents: one-time set-password links (invitations and password resets)

Revision ID: 0005_core
Revises: 0004_core
Create Date: 2026-12-06

A link's token is stored only as its SHA-256; the link works once, until it expires, and only
while it is its agent's newest (``revoked_at`` closes the older ones).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = '0005_core'
down_revision: str | None = '0004_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agent_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], name=op.f('fk_agent_link_agent_id_agent'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_agent_link_token_hash')),
    sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_agent_link_agent_id'), 'agent_link', ['agent_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_agent_link_agent_id'), table_name='agent_link')
    op.drop_table('agent_link')
