"""The REST API under ``/api/v1``: marshmallow schemas, an OpenAPI document, JSON errors.

The document is served at ``/api/v1/openapi.json`` (and rendered at ``/api/v1/docs``). Callers
authenticate with the browser session (plus the ``X-CSRFToken`` header on unsafe requests)
or with a bearer token: a personal access token (``/api/v1/me/tokens``) or an OAuth token of
an extension; see :mod:`core.api.auth`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import RequestRedirect

from core.api import (
    activities,
    agents,
    attachments,
    audit,
    auth,
    collaboration,
    contracts,
    customer_engagement,
    customers,
    duplicates,
    export,
    extension_routes,
    fields,
    history,
    knowledge_base,
    me,
    products,
    setup,
    sla,
    tickets,
    two_factor,
    views,
)
from core.api import customer_import as customer_import_api
from core.api import intake as intake_api
from core.api.blueprint import URL_PREFIX
from core.api.errors import ErrorResponse, ErrorSchema, http_error_response
from marketplace_registry import api as marketplace

__all__ = ["init_app"]

API_DESCRIPTION = """\
deskhost's REST API. Every list is newest first and paged by keyset: pass a page's
`next_cursor` as `cursor` to get the next one (`null` means the last page).

**Authentication**: a signed-in browser session (cookie; unsafe methods also need the
`X-CSRFToken` header, whose value `GET /api/v1/me` returns), or `Authorization: Bearer <token>`
with a personal access token or an extension's OAuth token. A token acts as its agent, limited
by the token's scopes *and* the agent's permissions and departments.

**Errors** are JSON: `{"code": 422, "status": "Unprocessable Entity", "errors": {"json":
{"subject": ["Missing data for required field."]}}}`. 401: no or bad credentials
(`error: invalid_token` for a bad, expired or revoked token); 403: a missing scope
(`error: insufficient_scope`, `scope`) or permission (`permission`); 404: absent or outside the
caller's departments; 409: conflicts with the current state; 422: invalid input, by field.

**Extensions' endpoints** live under `/api/v1/ext/<extension id>/<installation id>/`, one tag
per extension. They authenticate the same way; the installation must be active and cover the
caller (its permission profiles and one of its departments name the agent; an extension's own
token reaches only its own installation), else 404. Each lists the scopes it needs: the
installation must have been granted them, and a token must carry them (403 otherwise).
"""

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    auth.BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal access token (`dhp_…`) or an extension's OAuth access "
        "token. Operations list the scope they need.",
    },
    auth.SESSION_SCHEME: {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "The web app's session cookie, set when an agent signs in.",
    },
    auth.CSRF_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": "Required with the session cookie on POST, PATCH and DELETE.",
    },
}

_BLUEPRINTS = (
    fields.blp,
    views.blp,
    tickets.blp,
    customers.contacts,
    customers.accounts,
    customer_import_api.blp,
    duplicates.contact_duplicates,
    duplicates.account_duplicates,
    duplicates.duplicate_rules,
    me.departments,
    agents.blp,
    me.me,
    setup.organisation_blp,
    setup.profiles_blp,
    setup.permissions_blp,
    setup.statuses_blp,
    collaboration.contact_collaboration,
    collaboration.account_collaboration,
    history.contact_history,
    history.account_history,
    customer_engagement.contact_engagement,
    customer_engagement.account_engagement,
    attachments.contacts,
    attachments.accounts,
    attachments.blp,
    products.products,
    audit.blp,
    export.contacts,
    export.accounts,
    collaboration.notification_blp,
    marketplace.extensions,
    marketplace.installations,
    intake_api.inbound,
    intake_api.calls_blp,
    intake_api.spam_blp,
    two_factor.blp,
    sla.policies,
    sla.business_hours,
    activities.contact_activities,
    activities.account_activities,
    activities.activity_blp,
    contracts.account_contracts,
    knowledge_base.categories,
    knowledge_base.articles,
)


class DeskApi(Api):
    """flask-smorest's Api whose JSON errors are confined to the API's own blueprints."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        # flask-smorest would answer every HTTP error of the whole app in JSON, the web UI's
        # pages included; core.api.errors registers them per API blueprint instead.
        return None


def _answer_routing_errors() -> ErrorResponse | None:
    """Answer a request under /api/v1 that matches no route in the API's JSON, before anything.

    An unknown path is 404; a known path with a method it does not take is 405 with ``Allow``
    (werkzeug's routing works both out, and ``OPTIONS`` lists only the real methods). Runs
    first among the app's ``before_request`` functions: no other check (the UI's sign-in,
    CSRF) should answer for a route that does not exist.
    """
    error = request.routing_exception
    if (
        not isinstance(error, HTTPException)
        or isinstance(error, RequestRedirect)
        or not request.path.startswith(URL_PREFIX + "/")
    ):
        return None
    if isinstance(error, NotFound):
        error = NotFound()
        error.data = {"message": f"No API endpoint at {request.path}."}  # type: ignore[attr-defined]
    return http_error_response(error)


def init_app(app: Flask) -> None:
    """Register the API's blueprints and its OpenAPI document on ``app``."""
    api = DeskApi(
        app,
        spec_kwargs={
            "info": {"description": API_DESCRIPTION},
            "security": [{auth.BEARER_SCHEME: []}, {auth.SESSION_SCHEME: []}],
        },
    )
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    csrf = app.extensions["csrf"]
    for blueprint in _BLUEPRINTS:
        api.register_blueprint(blueprint)
        # core.api.auth checks CSRF itself, after authentication (401 before 400).
        csrf.exempt(blueprint)
    extension_routes.register(api, app)
    app.before_request_funcs.setdefault(None, []).insert(0, _answer_routing_errors)
