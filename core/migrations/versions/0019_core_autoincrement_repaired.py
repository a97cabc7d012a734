"""autoincrement repaired: permission profiles and tickets issue no id twice on SQLite

Revision ID: 0019_core
Revises: 0018_core
Create Date: 2026-12-09

0006 rebuilt ``permission_profile`` and 0015 rebuilt ``ticket`` on SQLite without the
``AUTOINCREMENT`` 0004 gave them, and dropping the old copies dropped their counters: since
then the id of the newest profile or ticket deleted could be issued again. Both are rebuilt
``AUTOINCREMENT`` here, every row keeping its id, with the counter past the highest id the table
holds or the audit log names (as 0004 and 0017 set it). A ticket's number comes from
``organisation.next_ticket_number``, not from its id: numbering carries on as it was.
PostgreSQL's sequences never go back: nothing to do there.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019_core'
down_revision: str | None = '0018_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('permission_profile', 'ticket')


def upgrade() -> None:
    # batch_alter_table(recreate='always') would rebuild the table on PostgreSQL too.
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:
        _rebuild_autoincrement(table)


def downgrade() -> None:
    # Kept AUTOINCREMENT, as 0004's downgrade keeps it: 0018's schema differs only by the flaw
    # repaired here, and taking it back would let the ids of deleted rows be issued again.
    pass


def _rebuild_autoincrement(table: str) -> None:
    """0017's ``_rebuilt``, rebuilding the table although nothing else about it changes.

    Migrations copy it rather than share it: each stays as it ran. core.migrate runs the
    upgrade with SQLite's foreign key enforcement off, as SQLite's procedure for rebuilding a
    table asks, so dropping the old copy cascades nothing to the tables pointing at it.
    """
    bind = op.get_bind()
    counted = bind.execute(
        sa.text('SELECT seq FROM sqlite_sequence WHERE name = :table'), {'table': table}
    ).scalar()
    with op.batch_alter_table(
        table, recreate='always', table_kwargs={'sqlite_autoincrement': True}
    ):
        pass
    highest_held = bind.exec_driver_sql(f'SELECT COALESCE(MAX(id), 0) FROM {table}').scalar_one()
    highest_audited = bind.execute(
        sa.text(
            "SELECT COALESCE(MAX(CAST(entity_id AS INTEGER)), 0) FROM audit_entry"
            " WHERE entity_type = :table AND entity_id <> '' AND entity_id NOT GLOB '*[^0-9]*'"
        ),
        {'table': table},
    ).scalar_one()
    highest = max(counted or 0, highest_held, highest_audited)
    bind.execute(sa.text('DELETE FROM sqlite_sequence WHERE name = :table'), {'table': table})
    if highest:
        bind.execute(
            sa.text('INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :seq)'),
            {'table': table, 'seq': highest},
        )
