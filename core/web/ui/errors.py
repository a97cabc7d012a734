"""Error pages: services' NotFound / Forbidden / ValidationFailed become 404 / 403 / 422."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound as HTTPNotFound

from core.errors import Forbidden, NotFound, ValidationFailed


def _wants_json() -> bool:
    # The REST API registers its own handlers; these cover any API path they do not.
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    """Register the error pages on the app."""

    @app.errorhandler(NotFound)
    @app.errorhandler(HTTPNotFound)
    def _not_found(_error: Exception) -> ResponseReturnValue:
        if _wants_json():
            return jsonify(message="not found"), 404
        return render_template("errors/404.html"), 404

    @app.errorhandler(Forbidden)
    def _forbidden(error: Forbidden) -> ResponseReturnValue:
        if _wants_json():
            return jsonify(message=str(error), permission=error.permission), 403
        return render_template("errors/403.html", permission=error.permission), 403

    @app.errorhandler(ValidationFailed)
    def _invalid(error: ValidationFailed) -> ResponseReturnValue:
        if _wants_json():
            return jsonify(message="invalid input", errors=error.errors), 422
        return render_template("errors/422.html", errors=error.errors), 422
