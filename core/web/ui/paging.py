"""Newest-first pages in the desk: the request's ``?before=`` cursor in, an "older" link out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import request

from core.services.base import Cursor
from core.web.ui.units import request_unit

PAGE_SIZE = 50


def newest_first_page(
    lister: Callable[..., Sequence[Any]], **query: Any
) -> tuple[list[Any], str | None]:
    """One page of a service list after the request's ``before`` cursor, and the next cursor."""
    rows = list(
        lister(
            request_unit(),
            limit=PAGE_SIZE + 1,  # one more tells whether an older page exists
            before=request.args.get("before") or None,
            **query,
        )
    )
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        return rows, Cursor.of(rows[-1]).encode()
    return rows, None
