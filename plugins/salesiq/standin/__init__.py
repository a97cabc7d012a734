"""A stand-in for the live-chat product (modelled on Zoho SalesIQ), for tests and demos.

It plays the product's side of the SalesIQ extension: the REST API the desk calls, signed
webhooks to the desk, and the product's role as an OAuth client of the desk. A control API
under ``/_control`` lets tests and demos play visitors and operators. Everything is in memory.

``create_app`` builds the Flask app; :mod:`.testing` serves it in a thread for tests;
``python -m plugins.salesiq.standin`` serves it for a demo.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from . import control, desk_oauth, pages, product_api
from .errors import StandinError
from .state import EXTENSION_KEY, Clock, StandinState

__all__ = ["StandinState", "create_app"]

_JSON_PREFIXES = ("/api/", "/_control/")


def create_app(
    *,
    portal: str = "acme",
    operator_email: str = "admin@example.com",
    operator_name: str = "Admin",
    clock: Clock | None = None,
) -> Flask:
    """The stand-in app, with a fresh key pair and one operator (its token in the state)."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = StandinState(
        portal=portal, operator_email=operator_email, operator_name=operator_name, clock=clock
    )
    for module in (product_api, desk_oauth, control, pages):
        app.register_blueprint(module.blueprint)
    app.register_error_handler(StandinError, _standin_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _standin_error(error: StandinError) -> tuple[Response, int]:
    return jsonify(error.body()), error.status_code


def _http_error(error: HTTPException) -> HTTPException | tuple[Response, int]:
    # The APIs answer JSON even for a URL or method they do not know; the page stays HTML.
    if request.path.startswith(_JSON_PREFIXES):
        return jsonify({"error": error.description}), error.code or 500
    return error
