"""agents: (placeholder; filled in by the work of issue 10)

Revision ID: 0005_core
Revises: 0004_core
Create Date: 2026-12-06
"""
from collections.abc import Sequence

revision: str = '0005_core'
down_revision: str | None = '0004_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
