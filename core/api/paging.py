"""Newest-first keyset pages: ``{"items": [...], "next_cursor": "…" | null}``.

Each list reads one row more than the page size: if it is there, the page has a successor
and ``next_cursor`` points after the page's last row; otherwise ``next_cursor`` is null, so a
client stops without requesting an empty page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask_smorest import abort

from core.errors import ValidationFailed
from core.services.base import Cursor, Unit

T = TypeVar("T")


def parse_cursor(value: str | None) -> Cursor | None:
    """The cursor of the ``cursor`` query argument; 422 naming it when malformed."""
    try:
        return Cursor.parse(value, field="cursor")
    except ValidationFailed as failure:
        abort(422, errors={"query": failure.errors})


def page(
    rows: Sequence[T], limit: int, cursor_of: Callable[[T], Cursor] = Cursor.of
) -> dict[str, Any]:
    """One page of ``rows`` (read with ``limit + 1``) and the cursor of the next page."""
    items = list(rows[:limit])
    has_more = len(rows) > limit
    return {
        "items": items,
        "next_cursor": cursor_of(items[-1]).encode() if has_more and items else None,
    }


def list_page(
    lister: Callable[..., Sequence[T]], work: Unit, limit: int, cursor: str | None, **filters: Any
) -> dict[str, Any]:
    """The page a service list (taking ``limit`` and ``before``) gives after ``cursor``."""
    return page(lister(work, limit=limit + 1, before=parse_cursor(cursor), **filters), limit)
