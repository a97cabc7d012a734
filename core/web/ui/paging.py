"""Newest-first pages in the desk: the request's ``?before=`` cursor in, an "older" link out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import request

from core.services.base import Cursor
from core.web.ui.units import request_unit

PAGE_SIZE = 50


def newest_first_page(
    lister: Callable[..., Sequence[Any]],
    *,
    cursor_of: Callable[[Any], Cursor] = Cursor.of,
    page_argument: str = "before",
    **query: Any,
) -> tuple[list[Any], str | None]:
    """One page of a service list after the request's cursor, and the next cursor.

    ``cursor_of`` is the list's keyset position of a row (its creation by default; a list by
    last change passes its own), ``page_argument`` the query argument holding the cursor (two
    lists on one page each need their own).
    """
    rows = list(
        lister(
            request_unit(),
            limit=PAGE_SIZE + 1,  # one more tells whether an older page exists
            before=request.args.get(page_argument) or None,
            **query,
        )
    )
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        return rows, cursor_of(rows[-1]).encode()
    return rows, None
