"""Input limits every request meets before any view reads it: path ids and JSON nesting.

Path ids: the ``id`` and ``bigid`` URL converters match only the numbers a 32-bit or 64-bit
primary key can hold (1 up to :data:`~core.models.types.INT32_MAX` or ``INT64_MAX``), so
``/tickets/9223372036854775808`` matches no route (404) instead of reaching the database,
which would refuse the number with an error. The REST API's schemas bound their id and number
fields with the same constants (:mod:`core.api.schemas`) and the OpenAPI document declares the
ranges. Name the converter after the column the id is looked up in: ``<bigid:ticket_id>`` for
the large tables' :data:`core.models.types.BigID` keys, ``<id:view_id>`` for the others.

JSON nesting: a JSON body nested deeper than :data:`MAX_JSON_DEPTH` is refused with 400
before anything parses it (Python's parser would run out of stack on 100,000 ``[``).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map

from core.models.types import INT32_MAX, INT64_MAX

__all__ = [
    "MAX_JSON_DEPTH",
    "BigIdConverter",
    "BoundedIntConverter",
    "IdConverter",
    "init_app",
    "json_too_deep",
]

#: How deeply arrays and objects may nest in a JSON body; deskhost's own documents need ~5.
MAX_JSON_DEPTH = 64


class IdConverter(IntegerConverter):
    """A path id of a 32-bit key: 1 to :data:`INT32_MAX`."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=INT32_MAX)


class BigIdConverter(IntegerConverter):
    """A path id of a 64-bit key: 1 to :data:`INT64_MAX`."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=INT64_MAX)


class BoundedIntConverter(IntegerConverter):
    """werkzeug's ``int``, never beyond :data:`INT64_MAX`: no database column holds more.

    A safety net for routes that still say ``<int:…>`` (an extension's pages, say): the host's
    own routes name ``id`` or ``bigid``, which a test checks.
    """

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, *args, **kwargs)
        if self.max is None or self.max > INT64_MAX:
            self.max = INT64_MAX


# A JSON string (escapes included); what it holds never counts towards the nesting.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(rb"[^\[\]{}]+")
_OPENING = frozenset(b"[{")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays and objects in the JSON text ``body`` nest more than ``limit`` deep."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot nest deeper than it opens (most bodies, and found quickest)
    brackets = _NOT_A_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    if len(brackets) <= limit:
        return False
    depth = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _refuse_deep_json() -> None:
    if request.is_json and json_too_deep(request.get_data(cache=True)):
        raise BadRequest(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")


def init_app(app: Flask) -> None:
    """Register the id converters (before any route uses them) and the JSON depth check."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["bigid"] = BigIdConverter
    app.before_request(_refuse_deep_json)
