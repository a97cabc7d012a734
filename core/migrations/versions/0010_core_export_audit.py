"""export, audit and layout: products can be deactivated; the audit log is paged, filtered and
names the extension installation that acted; accounts have their own export permission; the
layout editor places, relabels and hides built-in fields

Revision ID: 0010_core
Revises: 0009_core
Create Date: 2026-12-06

``product.is_active`` lets setup retire a product without taking it off the contacts and
accounts that have it. The audit log page lists entries newest first by ``(at, id)``, by
agent or not: two indexes serve those walks. ``audit_entry.installation_id`` names the
installation whose plugin context or OAuth token made a change (no foreign key: an entry
outlives an installation removed with its data). Every profile that may export contacts may
export accounts too after the upgrade, as before the new ``account.export`` permission existed
it was the only export permission. ``builtin_field_layout`` holds the place, label and
visibility an administrator gave a built-in field of the contact or account form (a field
without a row keeps its defaults).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import core.db

revision: str = '0010_core'
down_revision: str | None = '0009_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('product', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.add_column(
            sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table('audit_entry', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.add_column(sa.Column('installation_id', sa.Integer(), nullable=True))
    op.create_index('ix_audit_at', 'audit_entry', ['at', 'id'])
    op.create_index('ix_audit_actor', 'audit_entry', ['actor_agent_id', 'at', 'id'])
    op.create_table(
        'builtin_field_layout',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entity', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('hidden', sa.Boolean(), nullable=False),
        sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('entity', 'key'),
        sqlite_autoincrement=True,
    )
    op.execute(
        "INSERT INTO profile_permission (profile_id, permission)"
        " SELECT profile_id, 'account.export' FROM profile_permission"
        " WHERE permission = 'contact.export'"
    )


def downgrade() -> None:
    op.execute("DELETE FROM profile_permission WHERE permission = 'account.export'")
    op.drop_table('builtin_field_layout')
    op.drop_index('ix_audit_actor', table_name='audit_entry')
    op.drop_index('ix_audit_at', table_name='audit_entry')
    with op.batch_alter_table('audit_entry', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('installation_id')
    with op.batch_alter_table('product', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('is_active')
