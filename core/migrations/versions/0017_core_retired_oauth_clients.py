"""retired OAuth clients: a client outlives its purged installation, revoked

Revision ID: 0017_core
Revises: 0016_core
Create Date: 2026-12-08

An installation's OAuth clients are revoked when it is uninstalled. They used to be deleted with
a purged installation, so the extension's service could no longer authenticate to the
introspection endpoint and got 401 invalid_client where RFC 7662 has it learn that its tokens
are dead (``"active": false``). A purge now keeps the client rows, revoked, without their
installation.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0017_core'
down_revision: str | None = '0016_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOREIGN_KEY = 'fk_oauth_client_installation_id_installation'


def upgrade() -> None:
    with op.batch_alter_table('oauth_client') as batch:
        batch.drop_constraint(_FOREIGN_KEY, type_='foreignkey')
        batch.alter_column('installation_id', nullable=True)
        batch.create_foreign_key(
            _FOREIGN_KEY, 'installation', ['installation_id'], ['id'], ondelete='SET NULL'
        )


def downgrade() -> None:
    # Clients of purged installations have nothing left to belong to.
    op.execute('DELETE FROM oauth_client WHERE installation_id IS NULL')
    with op.batch_alter_table('oauth_client') as batch:
        batch.drop_constraint(_FOREIGN_KEY, type_='foreignkey')
        batch.alter_column('installation_id', nullable=False)
        batch.create_foreign_key(
            _FOREIGN_KEY, 'installation', ['installation_id'], ['id'], ondelete='CASCADE'
        )
