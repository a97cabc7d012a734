"""ticket work: (placeholder; filled in by the work of issue 10)

Revision ID: 0009_core
Revises: 0008_core
Create Date: 2026-12-06
"""
from collections.abc import Sequence

revision: str = '0009_core'
down_revision: str | None = '0008_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
