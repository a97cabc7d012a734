"""Migration 0013: audit entries written before it join their customer's history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core.migrate import upgrade_core
from core.models import Contact

START = datetime(2026, 1, 1, tzinfo=UTC)

ENTRIES = [
    # (id, entity_type, entity_id, before, after)
    (1, "contact", "7", None, {"email": "a@example.com"}),
    (2, "account", "3", {"name": "Old"}, {"name": "New"}),
    (3, "customer_comment", "11", None, {"contact_id": 7, "body": "Called back"}),
    (4, "attachment", "12", {"account_id": 3, "contact_id": None}, None),
    (5, "activity", "13", None, {"kind": "call", "contact_id": 7, "account_id": None}),
    (6, "activity", "13", {"subject": "Call"}, {"subject": "Call again"}),
    (7, "ticket", "99", None, {"contact_id": 7}),
    (8, "attachment", "14", None, {"ticket_id": 99, "contact_id": None, "account_id": None}),
]


def test_existing_entries_get_the_customer_whose_history_they_belong_to(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade_core(engine, "0012_core")
    with Session(engine) as session:  # the contact table is the same at both revisions
        session.add(Contact(id=7, last_name="Yamada", created_at=START, updated_at=START))
        session.commit()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO activity (id, kind, subject, description, contact_id, is_spam, "
                "created_at) VALUES (13, 'call', 'Call', '', 7, 0, '2026-01-01 00:00:00')"
            )
        )
        for entry_id, entity_type, entity_id, before, after in ENTRIES:
            connection.execute(
                text(
                    "INSERT INTO audit_entry (id, at, actor_label, action, entity_type, "
                    "entity_id, sub_action, before, after) VALUES (:id, '2026-01-01 00:00:00', "
                    "'system', 'update', :type, :entity, '', :before, :after)"
                ),
                {
                    "id": entry_id,
                    "type": entity_type,
                    "entity": entity_id,
                    "before": None if before is None else json.dumps(before),
                    "after": None if after is None else json.dumps(after),
                },
            )

    upgrade_core(engine)

    with engine.connect() as connection:
        named = dict(
            (row.id, (row.contact_id, row.account_id))
            for row in connection.execute(
                text("SELECT id, contact_id, account_id FROM audit_entry ORDER BY id")
            )
        )
    engine.dispose()
    assert named == {
        1: (7, None),
        2: (None, 3),
        3: (7, None),
        4: (None, 3),
        5: (7, None),
        6: (7, None),  # a change names only what changed: the activity's customer
        7: (None, None),  # a ticket is not the customer's data
        8: (None, None),  # a ticket's attachment neither
    }
