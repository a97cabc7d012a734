"""audit customer: the contact or account whose history an audit entry belongs to

Revision ID: 0013_core
Revises: 0012_core
Create Date: 2026-12-06

A contact's or an account's History tab lists the audit entries about the record and about its
parts (its comments, attachments and activities) newest first. Finding the parts' entries by
the customer id inside their recorded values read every such entry of the organisation, so each
entry now names its customer (``contact_id``, ``account_id``; no foreign key: the history
outlives the record), read through two new indexes. Existing entries get them from their
record, from the values they recorded, or (an activity's change, which records only what
changed) from the activity.
"""
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0013_core'
down_revision: str | None = '0012_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Entries read and updated per round of the backfill.
BATCH = 2000
#: The parts of a customer whose entries belong to its history.
PARTS = ('customer_comment', 'attachment', 'activity')


def upgrade() -> None:
    with op.batch_alter_table('audit_entry') as batch:
        batch.add_column(sa.Column('contact_id', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('account_id', sa.BigInteger(), nullable=True))
    _backfill(op.get_bind())
    op.create_index('ix_audit_contact', 'audit_entry', ['contact_id', 'at', 'id'])
    op.create_index('ix_audit_account', 'audit_entry', ['account_id', 'at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_audit_account', table_name='audit_entry')
    op.drop_index('ix_audit_contact', table_name='audit_entry')
    with op.batch_alter_table('audit_entry') as batch:
        batch.drop_column('account_id')
        batch.drop_column('contact_id')


def _backfill(connection: Any) -> None:
    entries = sa.table(
        'audit_entry',
        sa.column('id', sa.BigInteger()),
        sa.column('entity_type', sa.String()),
        sa.column('entity_id', sa.String()),
        sa.column('before', sa.JSON()),
        sa.column('after', sa.JSON()),
        sa.column('contact_id', sa.BigInteger()),
        sa.column('account_id', sa.BigInteger()),
    )
    activities = sa.table(
        'activity',
        sa.column('id', sa.BigInteger()),
        sa.column('contact_id', sa.BigInteger()),
        sa.column('account_id', sa.BigInteger()),
    )
    update = (
        entries.update()
        .where(entries.c.id == sa.bindparam('entry_id'))
        .values(contact_id=sa.bindparam('new_contact'), account_id=sa.bindparam('new_account'))
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(
                entries.c.id,
                entries.c.entity_type,
                entries.c.entity_id,
                entries.c.before,
                entries.c.after,
            )
            .where(
                entries.c.id > last,
                entries.c.entity_type.in_(('contact', 'account', *PARTS)),
            )
            .order_by(entries.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        activity_ids = [
            int(row.entity_id)
            for row in rows
            if row.entity_type == 'activity' and row.entity_id.isdigit()
        ]
        customers_of_activity = {
            found.id: (found.contact_id, found.account_id)
            for found in connection.execute(
                sa.select(activities).where(activities.c.id.in_(activity_ids))
            )
        } if activity_ids else {}
        changes = []
        for row in rows:
            contact_id, account_id = _customer(row, customers_of_activity)
            if contact_id is not None or account_id is not None:
                changes.append(
                    {'entry_id': row.id, 'new_contact': contact_id, 'new_account': account_id}
                )
        if changes:
            connection.execute(update, changes)


def _customer(row: Any, customers_of_activity: dict[int, tuple[Any, Any]]) -> tuple[Any, Any]:
    """The (contact_id, account_id) of one entry, as ``Unit.audit`` names them now."""
    if row.entity_type in ('contact', 'account'):
        number = int(row.entity_id) if row.entity_id.isdigit() else None
        return (number, None) if row.entity_type == 'contact' else (None, number)
    named = {**_document(row.before), **_document(row.after)}
    contact_id, account_id = _whole(named.get('contact_id')), _whole(named.get('account_id'))
    if contact_id is None and account_id is None and row.entity_type == 'activity':
        if row.entity_id.isdigit():
            return customers_of_activity.get(int(row.entity_id), (None, None))
    return contact_id, account_id


def _document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
