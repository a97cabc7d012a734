"""hardening: per-agent session generation; ids never issued twice on SQLite

Revision ID: 0004_core
Revises: 0003_core
Create Date: 2026-12-07

SQLite issues the highest freed rowid again unless a table is ``AUTOINCREMENT``, so an id
freed by a delete named a new record (an installation, a contact, a custom field…). Every core
table with an integer id is rebuilt ``AUTOINCREMENT`` here; its counter starts past the highest
id it holds and past the highest id the audit log names for it, so ids deleted before this
upgrade are not issued again either (as far as the audit log remembers them). PostgreSQL's
sequences never go back: nothing to do there. The downgrade keeps ``AUTOINCREMENT``.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_core'
down_revision: str | None = '0003_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The core's tables with an integer id at revision 0003 (later tables are created so).
TABLES_WITH_IDS = (
    'access_token', 'account', 'activity', 'agent', 'attachment', 'audit_entry', 'contact',
    'contact_identity', 'custom_field', 'custom_view', 'customer_comment', 'customer_follow',
    'customer_import', 'customer_import_rejection', 'department', 'happiness_rating',
    'hook_error', 'installation', 'mail_message', 'notification', 'oauth_authorization_code',
    'oauth_client', 'organisation', 'outbox', 'permission_profile', 'product', 'spam_message',
    'spam_rule', 'tag', 'thread', 'ticket', 'ticket_status', 'ticket_status_change',
    'time_entry',
)
#: The primary key column where it is not ``id``.
ID_COLUMNS = {'outbox': 'seq'}
#: The audit log's entity type where it is not the table's name.
AUDITED_AS = {'happiness_rating': 'rating'}


def upgrade() -> None:
    with op.batch_alter_table('agent') as batch:
        batch.add_column(
            sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False)
        )
    if op.get_bind().dialect.name == 'sqlite':
        for table in TABLES_WITH_IDS:
            _rebuild_autoincrement(table)


def _rebuild_autoincrement(table: str) -> None:
    # core.migrate runs the upgrade with SQLite's foreign key enforcement off, as SQLite's
    # procedure for rebuilding a table asks, so dropping the old copy cascades nothing.
    with op.batch_alter_table(
        table, recreate='always', table_kwargs={'sqlite_autoincrement': True}
    ):
        pass
    bind = op.get_bind()
    id_column = ID_COLUMNS.get(table, 'id')
    highest_held = bind.exec_driver_sql(f'SELECT COALESCE(MAX({id_column}), 0) FROM {table}')
    highest_audited = bind.execute(
        sa.text(
            "SELECT COALESCE(MAX(CAST(entity_id AS INTEGER)), 0) FROM audit_entry"
            " WHERE entity_type = :table AND entity_id <> '' AND entity_id NOT GLOB '*[^0-9]*'"
        ),
        {'table': AUDITED_AS.get(table, table)},
    )
    highest = max(highest_held.scalar_one(), highest_audited.scalar_one())
    bind.execute(sa.text('DELETE FROM sqlite_sequence WHERE name = :table'), {'table': table})
    if highest:
        bind.execute(
            sa.text('INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :highest)'),
            {'table': table, 'highest': highest},
        )


def downgrade() -> None:
    with op.batch_alter_table('agent', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('session_generation')
