"""declared requirements: custom fields, views, spam rules and statuses an installation owns

Revision ID: 0018_core
Revises: 0017_core
Create Date: 2026-12-08

An extension's manifest may declare custom fields, saved views, spam rules and ticket statuses
(``requirements``); the host creates them when it installs the extension and removes them when
the installation is purged. Each records its installation and the key of its declaration. The
foreign key restricts: a purge removes the objects itself (their values and the tickets in a
removed status included) before it deletes the installation, and refuses to if one is left.
A declared view belongs to no agent, so a view's owner may be empty.
"""
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = '0018_core'
down_revision: str | None = '0017_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('custom_field', 'custom_view', 'spam_rule', 'ticket_status')


def upgrade() -> None:
    for table in TABLES:
        with _rebuilt(table) as batch:
            batch.add_column(sa.Column('installation_id', sa.Integer(), nullable=True))
            batch.add_column(sa.Column('requirement_key', sa.String(63), nullable=True))
            batch.create_foreign_key(
                f'fk_{table}_installation_id_installation',
                'installation',
                ['installation_id'],
                ['id'],
                ondelete='RESTRICT',
            )
            batch.create_index(
                f'ix_{table}_requirement', ['installation_id', 'requirement_key'], unique=True
            )
            if table == 'custom_view':
                batch.alter_column('owner_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # Declared views have no owner: they cannot stay once every view needs one.
    op.execute('DELETE FROM custom_view WHERE owner_id IS NULL')
    for table in reversed(TABLES):
        with _rebuilt(table) as batch:
            if table == 'custom_view':
                batch.alter_column('owner_id', existing_type=sa.Integer(), nullable=False)
            batch.drop_index(f'ix_{table}_requirement')
            batch.drop_constraint(f'fk_{table}_installation_id_installation', type_='foreignkey')
            batch.drop_column('requirement_key')
            batch.drop_column('installation_id')


@contextmanager
def _rebuilt(table: str) -> Iterator[BatchOperations]:
    """``batch_alter_table`` that keeps SQLite's AUTOINCREMENT, with the counter past the
    highest id SQLite counted, the table holds, or the audit log names (as 0004 set it): a
    counter fallen back to the highest id held would issue a deleted row's id again.

    Migrations copy this rather than share it (0017 has it too): each stays as it ran.
    """
    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    counted = None
    if sqlite:
        counted = bind.execute(
            sa.text('SELECT seq FROM sqlite_sequence WHERE name = :table'), {'table': table}
        ).scalar()
    with op.batch_alter_table(table, table_kwargs={'sqlite_autoincrement': True}) as batch:
        yield batch
    if not sqlite:
        return
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
