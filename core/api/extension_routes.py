"""``/api/v1/ext/<plugin id>/<installation id>/…``: the REST endpoints extensions add.

Each extension's :class:`hostapi.ApiRoute` list (``deskhost_api_routes``) becomes one
blueprint of the API, in the served OpenAPI document like the host's own endpoints, with the
same authentication, rate limits and JSON errors. Checks run in this order:

1. credentials and rate limits, as for every API request (401, 429; a session's unsafe request
   without its CSRF token: 400);
2. the installation the path names (404 unless it is an active installation of that extension
   the caller may use): a browser session or a personal access token must be of an agent whose
   permission profile and one of whose departments the installation names (administrators
   included); an extension's OAuth token may use only its own installation;
3. the route's scopes (403 ``insufficient_scope``): each must be granted to the installation,
   and carried by a bearer token;
4. the query string or JSON body against the route's schema (422, by field);
5. the extension's handler, with the installation's context bound to the calling agent; what
   it writes commits when it returns, and rolls back when it raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import wraps
from typing import TYPE_CHECKING, Any

import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from apispec.ext.marshmallow.common import make_schema_key, resolve_schema_instance
from flask import Flask, Response, current_app, g, stream_with_context
from flask_smorest import Api, Blueprint, abort

from core.api import auth
from core.api.blueprint import URL_PREFIX
from core.api.errors import register_error_handlers
from core.models import Installation
from core.plugins.context import HostContext
from core.web.database import db_session
from core.web.extensions import covers
from hostapi import ApiRoute, Conflict, Download, NotFound, ScopeError

if TYPE_CHECKING:
    from core.host import Host

log = logging.getLogger(__name__)

#: Methods whose arguments come in the query string; the others read a JSON body.
_QUERY_METHODS = frozenset({"GET", "DELETE"})
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
#: The schema of a file's body in the document (``ApiRoute.content_type``).
_FILE_SCHEMA = {"type": "string", "format": "binary"}


def url_prefix(plugin_id: str) -> str:
    """Where an extension's endpoints live, up to the installation id (a path variable)."""
    return f"{URL_PREFIX}/ext/{plugin_id}/<id:installation_id>"


def installation_prefix(plugin_id: str, installation_id: int) -> str:
    """Where one installation's endpoints live (their paths continue it)."""
    return f"{URL_PREFIX}/ext/{plugin_id}/{installation_id}"


def register(api: Api, app: Flask) -> None:
    """Add every loaded extension's endpoints to ``api`` (when the app is built)."""
    host: Host = app.extensions["deskhost.host"]
    csrf = app.extensions["csrf"]
    for info in host.plugins.extensions():
        routes = _valid_routes(info.plugin_id, host.plugins.api_routes(info.plugin_id))
        if not routes:
            continue
        blueprint = Blueprint(
            f"api_ext_{info.plugin_id}",
            __name__,
            url_prefix=url_prefix(info.plugin_id),
            description=f"Endpoints of the extension {info.manifest.name} ({info.plugin_id}), "
            "per installation: callers the installation does not cover get 404.",
        )
        blueprint.url_value_preprocessor(_take_installation_id)
        auth.install(blueprint)
        blueprint.before_request(_bind_installation(info.plugin_id))
        register_error_handlers(blueprint)
        for route in routes:
            _name_schemas(api, info.plugin_id, route)
            _add_route(blueprint, route)
        api.register_blueprint(blueprint)
        # core.api.auth checks CSRF itself, after authentication (401 before 400).
        csrf.exempt(blueprint)


def _valid_routes(plugin_id: str, routes: list[ApiRoute]) -> list[ApiRoute]:
    """The routes that can be served; a malformed one is logged and left out."""
    valid: list[ApiRoute] = []
    names: set[str] = set()
    for route in routes:
        problem = None
        if not isinstance(route, ApiRoute):
            problem = "is not a hostapi.ApiRoute"
        elif not route.name.isidentifier() or route.name in names:
            problem = "needs a name that is a unique identifier"
        elif not route.path.startswith("/"):
            problem = "needs a path starting with '/'"
        elif route.method.upper() not in _METHODS:
            problem = f"has a method outside {sorted(_METHODS)}"
        if problem is not None:
            log.error("extension %r: the API route %r %s; not served", plugin_id, route, problem)
            continue
        names.add(route.name)
        valid.append(route)
    return valid


def _name_schemas(api: Api, plugin_id: str, route: ApiRoute) -> None:
    """Register the route's body and response schemas in the document under names prefixed
    with the extension's id, so that an extension's ``TicketSchema`` never takes (or gets
    renamed for) the host's ``Ticket``."""
    components = api.spec.components
    documented = [route.response]
    if route.method.upper() not in _QUERY_METHODS:
        documented.append(route.arguments)
    for schema in documented:
        if schema is None:
            continue
        name = f"{plugin_id}.{resolver(schema)}"
        if name not in components.schemas and make_schema_key(
            resolve_schema_instance(schema)
        ) not in _marshmallow_refs(api):
            components.schema(name, schema=schema)


def _marshmallow_refs(api: Api) -> dict[Any, str]:
    """The schemas the document already names (a schema shared by two extensions keeps the
    first name)."""
    plugin = next(p for p in api.spec.plugins if isinstance(p, MarshmallowPlugin))
    return plugin.converter.refs if plugin.converter is not None else {}


def _take_installation_id(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # The handler gets the installation's context, not its id among the path values.
    if values is not None:
        g.deskhost_installation_id = values.pop("installation_id", None)


def _bind_installation(plugin_id: str) -> Callable[[], None]:
    def bind() -> None:
        caller = auth.principal()
        session = db_session()
        installation = session.get(Installation, g.get("deskhost_installation_id"))
        if installation is None or not _may_use(caller, installation, plugin_id):
            abort(404, message=f"No installation of {plugin_id!r} with this id is yours to use.")
        g.deskhost_installation = installation
        g.deskhost_context = HostContext.for_installation(
            session, current_app.extensions["deskhost.host"], installation, caller.agent
        )

    return bind


def _may_use(caller: auth.Principal, installation: Installation, plugin_id: str) -> bool:
    """True when ``installation`` is an active one of ``plugin_id`` that ``caller`` may use:
    its own token, or an agent (session or personal token) the installation covers."""
    if installation.plugin_id != plugin_id or not installation.is_active:
        return False
    if caller.installation is not None:
        return caller.installation.id == installation.id
    return covers(installation, caller.agent)


def _require_route_scopes(route: ApiRoute) -> None:
    """403 ``insufficient_scope`` unless the installation was granted, and a token carries,
    each of the route's scopes."""
    installation: Installation = g.deskhost_installation
    granted = frozenset(installation.granted_scopes or ())
    for scope in route.scopes:
        if scope not in granted:
            abort(
                403,
                message=f"The installation was not granted the scope {scope!r}.",
                error="insufficient_scope",
                scope=scope,
            )
        auth.require_scope(scope)


def _add_route(blueprint: Blueprint, route: ApiRoute) -> None:
    method = route.method.upper()

    def view(*parsed: Any, **path_values: Any) -> Any:
        arguments = parsed[0] if parsed else {}
        session = db_session()
        try:
            result = route.handle(g.deskhost_context, arguments, **path_values)
            session.commit()
        except NotFound as error:
            session.rollback()
            abort(404, message=str(error) or "Not found.")
        except ScopeError as error:
            session.rollback()
            abort(403, message=str(error), error="insufficient_scope", scope=error.scope)
        except PermissionError as error:
            session.rollback()
            abort(403, message=str(error) or "Forbidden.")
        except Conflict as error:
            session.rollback()
            abort(409, message=str(error) or "Conflict.")
        except ma.ValidationError as error:
            session.rollback()
            location = "query" if method in _QUERY_METHODS else "json"
            abort(422, errors={location: error.normalized_messages()})
        except Exception:
            session.rollback()
            raise
        if isinstance(result, Download):
            return _streamed(result)
        return result

    view.__name__ = route.name
    view.__doc__ = route.summary + (f"\n\n{route.description}" if route.description else "")
    if route.content_type is not None:
        # A file: documented as the host documents its own exports (core.api.export).
        documented: Any = blueprint.response(
            route.status, _FILE_SCHEMA, content_type=route.content_type
        )(view)
    else:
        documented = blueprint.response(route.status, route.response)(view)
    if route.arguments is not None:
        location = "query" if method in _QUERY_METHODS else "json"
        documented = blueprint.arguments(route.arguments, location=location)(documented)

    @wraps(documented)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _require_route_scopes(route)
        return documented(*args, **kwargs)

    session_requirement: dict[str, list[str]] = {auth.SESSION_SCHEME: []}
    if method != "GET":
        session_requirement[auth.CSRF_SCHEME] = []
    security = [{auth.BEARER_SCHEME: list(route.scopes)}, session_requirement]
    guarded = blueprint.doc(security=security, operationId=_operation_id(blueprint, route))(guarded)
    blueprint.route(route.path, methods=[method], endpoint=route.name)(guarded)


def _streamed(download: Download) -> Response:
    """``download`` sent as it is produced. The request's teardown closes its database session
    before the body is sent; the chunks' reads reopen it, so the body closes it when it ends
    (or when the client goes away)."""
    session = db_session()

    def body() -> Iterator[bytes]:
        try:
            for chunk in download.chunks:
                yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        finally:
            session.close()

    response = Response(stream_with_context(body()), mimetype=download.mimetype)
    response.headers.set("Content-Disposition", "attachment", filename=download.filename)
    return response


def _operation_id(blueprint: Blueprint, route: ApiRoute) -> str:
    return f"{blueprint.name}_{route.name}"
