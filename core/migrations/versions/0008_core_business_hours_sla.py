"""business hours and SLA: department schedules and holidays, SLA policies, ticket SLA clocks

Revision ID: 0008_core
Revises: 0007_core
Create Date: 2026-12-06

Each department gets optional business hours (time zone, 24×7 or weekly intervals) and
holidays; SLA policies set first-response and resolution targets per priority for the
departments they cover (one policy per department: the department is the link table's key).
``ticket_sla`` holds each ticket's SLA clock beside the ticket; its two ``*_watch_at`` columns
are indexed for the periodic breach check. Due dates tickets already carry were set by hand
before SLAs existed, so they are recorded as such and not watched (no retroactive breaches).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = '0008_core'
down_revision: str | None = '0007_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('sla_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policy')),
    sa.UniqueConstraint('name', name=op.f('uq_sla_policy_name')),
    sqlite_autoincrement=True
    )
    op.create_table('business_hours',
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('always_open', sa.Boolean(), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_business_hours_department_id_department'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('department_id', name=op.f('pk_business_hours')),
    sqlite_autoincrement=True
    )
    op.create_table('holiday',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_holiday_department_id_department'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holiday')),
    sa.UniqueConstraint('department_id', 'day', name=op.f('uq_holiday_department_id')),
    sqlite_autoincrement=True
    )
    op.create_table('sla_policy_department',
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_sla_policy_department_department_id_department'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['policy_id'], ['sla_policy.id'], name=op.f('fk_sla_policy_department_policy_id_sla_policy'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('department_id', name=op.f('pk_sla_policy_department'))
    )
    op.create_index('ix_sla_policy_department_policy', 'sla_policy_department', ['policy_id'], unique=False)
    op.create_table('sla_target',
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=20), nullable=False),
    sa.Column('first_response_minutes', sa.Integer(), nullable=False),
    sa.Column('resolution_minutes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['sla_policy.id'], name=op.f('fk_sla_target_policy_id_sla_policy'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('policy_id', 'priority', name=op.f('pk_sla_target')),
    sqlite_autoincrement=True
    )
    op.create_table('business_hours_interval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_minute', sa.Integer(), nullable=False),
    sa.Column('end_minute', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['business_hours.department_id'], name=op.f('fk_business_hours_interval_department_id_business_hours'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_hours_interval')),
    sqlite_autoincrement=True
    )
    op.create_index('ix_business_hours_interval_department', 'business_hours_interval', ['department_id'], unique=False)
    op.create_table('ticket_sla',
    sa.Column('ticket_id', _BIG_ID, nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('first_response_due_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_responded_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_at_manual', sa.Boolean(), nullable=False),
    sa.Column('paused_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paused_seconds', sa.Integer(), nullable=False),
    sa.Column('first_response_watch_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution_watch_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_response_breached_due', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution_breached_due', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['policy_id'], ['sla_policy.id'], name=op.f('fk_ticket_sla_policy_id_sla_policy'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_sla_ticket_id_ticket'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_ticket_sla')),
    sqlite_autoincrement=True
    )
    op.create_index('ix_ticket_sla_first_response_watch', 'ticket_sla', ['first_response_watch_at'], unique=False)
    op.create_index('ix_ticket_sla_resolution_watch', 'ticket_sla', ['resolution_watch_at'], unique=False)
    op.execute(
        'INSERT INTO ticket_sla (ticket_id, due_at_manual, paused_seconds)'
        ' SELECT id, true, 0 FROM ticket WHERE due_at IS NOT NULL'
    )


def downgrade() -> None:
    op.drop_index('ix_ticket_sla_resolution_watch', table_name='ticket_sla')
    op.drop_index('ix_ticket_sla_first_response_watch', table_name='ticket_sla')
    op.drop_table('ticket_sla')
    op.drop_index('ix_business_hours_interval_department', table_name='business_hours_interval')
    op.drop_table('business_hours_interval')
    op.drop_table('sla_target')
    op.drop_index('ix_sla_policy_department_policy', table_name='sla_policy_department')
    op.drop_table('sla_policy_department')
    op.drop_table('holiday')
    op.drop_table('business_hours')
    op.drop_table('sla_policy')
