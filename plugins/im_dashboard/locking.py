"""Inserts that skip a row stored already, and an installation's row locks, written once for
SQLite and PostgreSQL alike."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_new(session: Session, model: Any, key: list[str]) -> Any:
    """An INSERT of ``model`` rows that skips a row whose ``key`` columns are stored already
    (whatever runs at the same time)."""
    return _insert_new(session.get_bind().dialect.name, model, tuple(key))


@cache
def _insert_new(dialect_name: str, model: Any, key: tuple[str, ...]) -> Any:
    # Built once: a webhook inserts with it on every delivery, and building it cost as much
    # as a tenth of the delivery's statement. Inline: no ids returned, since nobody reads them.
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(model).inline().on_conflict_do_nothing(index_elements=list(key))


def hold(session: Session, model: Any, installation_id: int) -> None:
    """Hold the installation's row of ``model`` (made if missing) until the transaction ends:
    one transaction at a time gets past this on PostgreSQL (SQLite's write lock does as
    much)."""
    session.execute(
        insert_new(session, model, ["installation_id"]).values(installation_id=installation_id)
    )
    session.execute(
        select(model.installation_id)
        .where(model.installation_id == installation_id)
        .with_for_update()
    )
