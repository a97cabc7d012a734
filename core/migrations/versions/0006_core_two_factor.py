"""two-factor sign-in: authenticator secrets, recovery codes, a per-profile requirement

Revision ID: 0006_core
Revises: 0005_core
Create Date: 2026-12-06

A permission profile can require its agents to sign in with a second factor
(``permission_profile.requires_two_factor``). An agent's authenticator (TOTP) secret is kept
encrypted with the host's key in ``agent_two_factor``, with the time step of the last code
accepted so that no code is accepted twice; ``agent_recovery_code`` keeps the SHA-256 of each
single-use recovery code. Both go with their agent.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = '0006_core'
down_revision: str | None = '0005_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('permission_profile') as batch:
        batch.add_column(
            sa.Column('requires_two_factor', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        'agent_two_factor',
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('secret_encrypted', sa.String(length=500), nullable=False),
        sa.Column('confirmed_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_used_step', sa.Integer(), nullable=True),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['agent_id'], ['agent.id'],
            name=op.f('fk_agent_two_factor_agent_id_agent'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('agent_id', name=op.f('pk_agent_two_factor')),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'agent_recovery_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('used_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['agent_id'], ['agent.id'],
            name=op.f('fk_agent_recovery_code_agent_id_agent'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_recovery_code')),
        sqlite_autoincrement=True,
    )
    op.create_index(
        'ix_agent_recovery_code_agent', 'agent_recovery_code', ['agent_id', 'code_hash'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_agent_recovery_code_agent', table_name='agent_recovery_code')
    op.drop_table('agent_recovery_code')
    op.drop_table('agent_two_factor')
    with op.batch_alter_table('permission_profile') as batch:
        batch.drop_column('requires_two_factor')
