"""retired OAuth clients: a client outlives its purged installation, revoked

Revision ID: 0017_core
Revises: 0016_core
Create Date: 2026-12-08

An installation's OAuth clients are revoked when it is uninstalled. They used to be deleted with
a purged installation, so the extension's service could no longer authenticate to the
introspection endpoint and got 401 invalid_client where RFC 7662 has it learn that its tokens
are dead (``"active": false``). A purge now keeps the client rows, revoked, without their
installation.

SQLite rebuilds the table for this. It is rebuilt ``AUTOINCREMENT``, as 0004 made every table
with an id, with its counter past every client id ever issued: 0016's rebuild lost both (the
clients purged since then are remembered by the audit log), and a client id issued again
would let an old client's records name a new one.
"""
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = '0017_core'
down_revision: str | None = '0016_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOREIGN_KEY = 'fk_oauth_client_installation_id_installation'


def upgrade() -> None:
    with _rebuilt('oauth_client') as batch:
        batch.drop_constraint(_FOREIGN_KEY, type_='foreignkey')
        batch.alter_column('installation_id', nullable=True)
        batch.create_foreign_key(
            _FOREIGN_KEY, 'installation', ['installation_id'], ['id'], ondelete='SET NULL'
        )


def downgrade() -> None:
    # Clients of purged installations have nothing left to belong to.
    op.execute('DELETE FROM oauth_client WHERE installation_id IS NULL')
    with _rebuilt('oauth_client') as batch:
        batch.drop_constraint(_FOREIGN_KEY, type_='foreignkey')
        batch.alter_column('installation_id', nullable=False)
        batch.create_foreign_key(
            _FOREIGN_KEY, 'installation', ['installation_id'], ['id'], ondelete='CASCADE'
        )


@contextmanager
def _rebuilt(table: str) -> Iterator[BatchOperations]:
    """``batch_alter_table`` that keeps SQLite's AUTOINCREMENT, with the counter past the
    highest id SQLite counted, the table holds, or the audit log names (as 0004 set it): a
    counter fallen back to the highest id held would issue a deleted row's id again.

    Migrations copy this rather than share it (0018 has it too): each stays as it ran.
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
