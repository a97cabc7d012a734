"""linked clients: OAuth clients of products an installation links

Revision ID: 0016_core
Revises: 0015_core
Create Date: 2026-12-07

An installation may register an OAuth client for a product it links (a chat product whose
window shows desk data). Such a client's tokens reach the installation's own REST endpoints
only; the flag tells them apart from an out-of-process extension's client, whose tokens use
the whole API within its scopes.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016_core'
down_revision: str | None = '0015_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_client') as batch:
        batch.add_column(
            sa.Column(
                'is_linked_product', sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('oauth_client') as batch:
        batch.drop_column('is_linked_product')
