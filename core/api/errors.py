"""One JSON error format for the whole REST API, flask-smorest's, for every failure.

``{"code": 422, "status": "Unprocessable Entity", "errors": {"json": {"subject": [...]}}}``;
401 and 403 answers add ``error`` (RFC 6750: ``invalid_token``, ``insufficient_scope``) and,
for a missing scope, ``scope``. Handlers are registered on the API's blueprints only, by
status code as well as by class, so the web UI's HTML error pages (registered on the app)
never answer an API request and the API's JSON never answers a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Blueprint
from werkzeug.exceptions import HTTPException, MethodNotAllowed, default_exceptions

from core.errors import DeskError, Forbidden, ValidationFailed

ErrorResponse = tuple[dict[str, Any], int, dict[str, str]]


class ErrorSchema(ma.Schema):
    """What every error answer of the API looks like."""

    code = ma.fields.Integer(metadata={"description": "The HTTP status code."})
    status = ma.fields.String(metadata={"description": "The HTTP status name."})
    message = ma.fields.String(metadata={"description": "What went wrong, for people."})
    errors = ma.fields.Dict(
        metadata={
            "description": "Field errors by location (`json`, `query`), then field name: "
            '`{"json": {"subject": ["Missing data for required field."]}}`.'
        }
    )
    error = ma.fields.String(
        metadata={"description": "RFC 6750 error code: `invalid_token`, `insufficient_scope`."}
    )
    scope = ma.fields.String(metadata={"description": "The scope a token lacks (403)."})
    permission = ma.fields.String(
        metadata={"description": "The permission the agent lacks (403 without `error`)."}
    )


def _named(errors: Any) -> Any:
    """Field errors with every field name text: a form part may come without a name."""
    if not isinstance(errors, Mapping):
        return errors
    named: dict[str, Any] = {}
    for key, value in errors.items():
        name, messages = ("" if key is None else str(key)), _named(value)
        if isinstance(named.get(name), list) and isinstance(messages, list):
            named[name] = named[name] + messages
        else:
            named[name] = messages
    return named


def http_error_response(error: HTTPException) -> ErrorResponse:
    """The JSON answer for an HTTP exception (``abort(..., message=, errors=, headers=)``)."""
    code = error.code or 500
    payload: dict[str, Any] = {"code": code, "status": error.name}
    data: dict[str, Any] = getattr(error, "data", None) or {}
    headers: dict[str, str] = dict(data.get("headers") or {})
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    if "message" in data:
        payload["message"] = data["message"]
    elif error.description and code != 500:
        payload["message"] = error.description
    if "errors" in data:
        payload["errors"] = _named(data["errors"])
    elif "messages" in data:  # webargs puts schema errors there
        payload["errors"] = _named(data["messages"])
    for key in ("error", "scope", "permission"):
        if key in data:
            payload[key] = data[key]
    return payload, code, headers


def desk_error_response(error: DeskError) -> ErrorResponse:
    """The JSON answer for an error a service raised (422, 404, 403, 409…)."""
    code = error.status_code
    payload: dict[str, Any] = {"code": code, "status": default_exceptions[code]().name}
    if isinstance(error, ValidationFailed):
        # Services name the fields of the request body they were handed.
        payload["errors"] = {"json": _named(error.errors)}
    else:
        payload["message"] = str(error)
    if isinstance(error, Forbidden):
        payload["permission"] = error.permission
    return payload, code, {}


def register_error_handlers(blueprint: Blueprint) -> None:
    """Make every error raised under ``blueprint`` answer in the API's JSON format."""
    # By code too: Flask looks handlers up by code (blueprint, then app) before by class, so
    # an app-level handler for 400 (the UI's CSRF page) would otherwise win over ours.
    for code in default_exceptions:
        blueprint.register_error_handler(code, http_error_response)
    blueprint.register_error_handler(HTTPException, http_error_response)
    blueprint.register_error_handler(DeskError, desk_error_response)
