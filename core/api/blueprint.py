"""The blueprints the REST API is made of: authenticated, JSON errors, under ``/api/v1``.

Checks run in this order: credentials (401), the token's scope (403 ``insufficient_scope``),
the records the path names (404 outside the caller's reach, 403 without the permission to see
them: :mod:`core.api.path_records`), then the body and query string (422).
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser

from core.api import auth
from core.api.errors import register_error_handlers
from core.api.path_records import check_path_records
from core.web.database import db_session

URL_PREFIX = "/api/v1"


class PathFirstParser(FlaskParser):
    """webargs' Flask parser that checks the path's records before it reads any input."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse a path record out of reach (404) or not permitted (403), then parse."""
        check_path_records()
        return super().parse(*args, **kwargs)


class ApiBlueprint(Blueprint):
    """flask-smorest's blueprint whose ``@arguments`` check the path's records first."""

    ARGUMENTS_PARSER = PathFirstParser()


def api_blueprint(name: str, import_name: str, path: str, description: str) -> Blueprint:
    """A blueprint at ``/api/v1<path>`` whose requests are authenticated and answer JSON errors."""
    blueprint = ApiBlueprint(
        name, import_name, url_prefix=URL_PREFIX + path, description=description
    )
    auth.install(blueprint)
    register_error_handlers(blueprint)
    return blueprint


def commit() -> None:
    """Commit the request's changes (a view calls it once the services succeeded)."""
    db_session().commit()
