"""Reading request bodies: every field checked, the first bad one named in a 422."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import request

from .errors import InputError


def json_object(*, allowed: Collection[str] | None = None) -> dict[str, Any]:
    """The request's JSON body, which must be an object (of ``allowed`` fields only, if given)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError("the body must be a JSON object")
    if allowed is not None:
        for field in body:
            if field not in allowed:
                raise InputError(f"unknown field {field!r}", field=field)
    return body


def text(
    body: Mapping[str, Any],
    field: str,
    *,
    required: bool = True,
    allow_empty: bool = False,
    max_length: int = 255,
    default: str = "",
) -> str:
    """A string field; absent and optional gives ``default``."""
    if field not in body:
        if required:
            raise InputError(f"{field} is required", field=field)
        return default
    value = body[field]
    if not isinstance(value, str):
        raise InputError(f"{field} must be a string", field=field)
    if not allow_empty and not value.strip():
        raise InputError(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise InputError(f"{field} is longer than {max_length} characters", field=field)
    return value


def choice(body: Mapping[str, Any], field: str, choices: Collection[str]) -> str:
    """A string field that must be one of ``choices``."""
    value = body.get(field)
    if value not in choices:
        listed = ", ".join(sorted(choices))
        raise InputError(f"{field} must be one of: {listed}", field=field)
    return str(value)


def string_list(
    body: Mapping[str, Any], field: str, *, choices: Collection[str] | None = None
) -> list[str]:
    """A list of non-empty strings (each one of ``choices`` if given), duplicates dropped."""
    value = body.get(field)
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise InputError(f"{field} must be a list of non-empty strings", field=field)
    if choices is not None:
        for item in value:
            if item not in choices:
                raise InputError(f"{field}: unknown value {item!r}", field=field)
    return list(dict.fromkeys(value))


def http_url(body: Mapping[str, Any], field: str) -> str:
    """An absolute http(s) URL."""
    value = text(body, field, max_length=2000)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{field} must be an absolute http(s) URL", field=field)
    return value


def aware_datetime(body: Mapping[str, Any], field: str) -> datetime:
    """An ISO-8601 date and time with its UTC offset."""
    value = text(body, field)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{field} must be an ISO-8601 date and time", field=field) from None
    if moment.tzinfo is None:
        raise InputError(f"{field} must carry its UTC offset", field=field)
    return moment


def sub_object(body: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A field that must be a JSON object."""
    value = body.get(field)
    if not isinstance(value, dict):
        raise InputError(f"{field} must be an object", field=field)
    return value
