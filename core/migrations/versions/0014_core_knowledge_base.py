"""knowledge base and account contracts: article categories per department, articles, contracts

Revision ID: 0014_core
Revises: 0013_core
Create Date: 2026-12-07

The knowledge base is department-scoped like tickets: a category belongs to one department
(its name unique there) and holds articles, each a draft or published and readable by all or
by registered users only. Articles are read by last change, newest first, within a category
or across them (a sync asks for those changed since its last run): two indexes on
``(…, updated_at, id)`` serve both. An account's contracts say what it bought from when to
when, for one department or all, and under which SLA policy; the active-contract lookup reads
them by ``(account_id, starts_on)``. Nothing existing changes.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = '0014_core'
down_revision: str | None = '0013_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('kb_category',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_kb_category_department_id_department'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_category')),
    sa.UniqueConstraint('department_id', 'name', name=op.f('uq_kb_category_department_id')),
    sqlite_autoincrement=True
    )
    op.create_table('kb_article',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('visibility', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('author_agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_agent_id'], ['agent.id'], name=op.f('fk_kb_article_author_agent_id_agent'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['category_id'], ['kb_category.id'], name=op.f('fk_kb_article_category_id_kb_category'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article')),
    sqlite_autoincrement=True
    )
    op.create_index('ix_kb_article_category_updated', 'kb_article', ['category_id', 'updated_at', 'id'], unique=False)
    op.create_index('ix_kb_article_updated', 'kb_article', ['updated_at', 'id'], unique=False)
    op.create_table('account_contract',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', _BIG_ID, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('sla_policy_id', sa.Integer(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_account_contract_account_id_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_account_contract_department_id_department'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sla_policy_id'], ['sla_policy.id'], name=op.f('fk_account_contract_sla_policy_id_sla_policy'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_contract')),
    sqlite_autoincrement=True
    )
    op.create_index('ix_account_contract_account', 'account_contract', ['account_id', 'starts_on'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_account_contract_account', table_name='account_contract')
    op.drop_table('account_contract')
    op.drop_index('ix_kb_article_updated', table_name='kb_article')
    op.drop_index('ix_kb_article_category_updated', table_name='kb_article')
    op.drop_table('kb_article')
    op.drop_table('kb_category')
