"""The blueprints the REST API is made of: authenticated, JSON errors, under ``/api/v1``."""

from __future__ import annotations

from flask_smorest import Blueprint

from core.api import auth
from core.api.errors import register_error_handlers
from core.web.database import db_session

URL_PREFIX = "/api/v1"


def api_blueprint(name: str, import_name: str, path: str, description: str) -> Blueprint:
    """A blueprint at ``/api/v1<path>`` whose requests are authenticated and answer JSON errors."""
    blueprint = Blueprint(name, import_name, url_prefix=URL_PREFIX + path, description=description)
    auth.install(blueprint)
    register_error_handlers(blueprint)
    return blueprint


def commit() -> None:
    """Commit the request's changes (a view calls it once the services succeeded)."""
    db_session().commit()
