"""setup: built-in permission profiles are marked; custom statuses can be retired

Revision ID: 0007_core
Revises: 0006_core
Create Date: 2026-12-06

``permission_profile.is_builtin`` marks the profiles every deskhost starts with (Administrator,
Support Manager, Agent, Light Agent): the setup pages show them read-only, to be cloned rather
than edited, so "Agent" means the same on every desk. Existing databases get the flag on the
profiles with those names. ``ticket_status.is_active`` lets an admin retire a custom status
from the choices without rewriting the tickets and history that name it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_core'
down_revision: str | None = '0006_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The names core.permissions.DEFAULT_PROFILES gives the built-in profiles (frozen here: a
#: migration must not change meaning when the code's constant later does).
BUILTIN_PROFILES = ('Administrator', 'Support Manager', 'Agent', 'Light Agent')


def upgrade() -> None:
    with op.batch_alter_table('permission_profile') as batch:
        batch.add_column(
            sa.Column('is_builtin', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table('ticket_status') as batch:
        batch.add_column(
            sa.Column('is_active', sa.Boolean(), nullable=False, server_default=sa.true())
        )
    profile = sa.table('permission_profile', sa.column('name'), sa.column('is_builtin'))
    op.execute(
        profile.update().where(profile.c.name.in_(BUILTIN_PROFILES)).values(is_builtin=True)
    )


def downgrade() -> None:
    with op.batch_alter_table('ticket_status') as batch:
        batch.drop_column('is_active')
    with op.batch_alter_table('permission_profile') as batch:
        batch.drop_column('is_builtin')
