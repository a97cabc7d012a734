"""The product's REST API, what the desk calls: ``/api/v2/<portal>/…``, by operator API token."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for

from . import inputs
from .errors import InputError, NotFoundError, UnauthorizedError
from .model import ARTICLE_STATUSES, EVENTS, VISIBILITIES, DeskIntegration
from .state import current_state

#: The scheme word of the ``Authorization`` header, before the token.
AUTH_SCHEME = "Zoho-oauthtoken"

ARTICLE_FIELDS = ("title", "content", "department_id", "visibility", "status", "tags")
DESK_FIELDS = (
    "client_id",
    "client_secret",
    "authorize_url",
    "token_url",
    "api_base",
    "scope",
    "return_url",
)

blueprint = Blueprint("product_api", __name__, url_prefix="/api/v2/<portal>")


@blueprint.url_value_preprocessor
def _check_portal(endpoint: str | None, values: dict[str, Any] | None) -> None:
    portal = (values or {}).pop("portal", None)
    if portal != current_state().portal:
        raise NotFoundError("no such portal")


@blueprint.before_request
def _authenticate() -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    operator = current_state().operator_for_token(token.strip()) if scheme == AUTH_SCHEME else None
    if operator is None:
        raise UnauthorizedError(f"an operator's API token is required ({AUTH_SCHEME} <token>)")
    g.operator = operator


@blueprint.get("/me")
def me() -> Response:
    """The operator whose token made the call."""
    return jsonify(g.operator.entity())


@blueprint.get("/webhooks/publickey")
def public_key() -> Response:
    """The PEM public key that checks the product's webhook signatures."""
    return jsonify({"public_key": current_state().public_key_pem})


@blueprint.get("/departments")
def departments() -> Response:
    """Every department."""
    return jsonify({"data": current_state().list_departments()})


@blueprint.post("/webhooks")
def subscribe() -> tuple[Response, int]:
    """Subscribe a URL to webhook events."""
    body = inputs.json_object(allowed=("url", "events"))
    url = inputs.http_url(body, "url")
    events = inputs.string_list(body, "events", choices=EVENTS)
    if not events:
        raise InputError("events must name at least one event", field="events")
    return jsonify(current_state().subscribe(url, events)), 201


@blueprint.get("/webhooks")
def subscriptions() -> Response:
    """Every webhook subscription."""
    return jsonify({"data": current_state().list_subscriptions()})


@blueprint.delete("/webhooks/<subscription_id>")
def unsubscribe(subscription_id: str) -> tuple[str, int]:
    """Delete a webhook subscription."""
    current_state().unsubscribe(subscription_id)
    return "", 204


@blueprint.put("/integrations/desk")
def register_desk() -> Response:
    """Register the desk this product links to as its OAuth client."""
    body = inputs.json_object(allowed=DESK_FIELDS)
    urls = ("authorize_url", "token_url", "api_base", "return_url")
    fields = {
        field: inputs.http_url(body, field) if field in urls else inputs.text(body, field)
        for field in DESK_FIELDS
    }
    current_state().register_desk(DeskIntegration(**fields))
    return jsonify({"connect_url": url_for("desk_oauth.connect", _external=True)})


@blueprint.delete("/integrations/desk")
def forget_desk() -> tuple[str, int]:
    """Forget the desk integration and its tokens."""
    current_state().forget_desk()
    return "", 204


@blueprint.get("/articles")
def articles() -> Response:
    """Every article, synced from the desk or written here."""
    return jsonify({"data": current_state().list_articles()})


@blueprint.put("/articles/external/<external_id>")
def upsert_synced_article(external_id: str) -> tuple[Response, int]:
    """Create or replace an article synced from the desk: 201 when created, 200 when updated."""
    fields = _article_fields(partial=False)
    article, created = current_state().upsert_synced_article(external_id, fields)
    return jsonify(article), 201 if created else 200


@blueprint.delete("/articles/external/<external_id>")
def delete_synced_article(external_id: str) -> tuple[str, int]:
    """Delete an article synced from the desk."""
    current_state().delete_synced_article(external_id)
    return "", 204


@blueprint.post("/articles")
def create_own_article() -> tuple[Response, int]:
    """An operator writes an article in the product."""
    return jsonify(current_state().create_own_article(_article_fields(partial=False))), 201


@blueprint.patch("/articles/<article_id>")
def edit_own_article(article_id: str) -> Response:
    """An operator edits an article; 403 for one synced from the desk."""
    return jsonify(current_state().edit_own_article(article_id, _article_fields(partial=True)))


@blueprint.delete("/articles/<article_id>")
def delete_own_article(article_id: str) -> tuple[str, int]:
    """An operator deletes an article; 403 for one synced from the desk."""
    current_state().delete_own_article(article_id)
    return "", 204


def _article_fields(*, partial: bool) -> dict[str, Any]:
    body = inputs.json_object(allowed=ARTICLE_FIELDS)
    readers = {
        "title": lambda: inputs.text(body, "title"),
        "content": lambda: inputs.text(body, "content", allow_empty=True, max_length=100_000),
        "department_id": lambda: inputs.text(body, "department_id"),
        "visibility": lambda: inputs.choice(body, "visibility", VISIBILITIES),
        "status": lambda: inputs.choice(body, "status", ARTICLE_STATUSES),
        "tags": lambda: inputs.string_list(body, "tags"),
    }
    return {field: read() for field, read in readers.items() if not partial or field in body}
