"""The Flask application: agents' web UI, the REST API, extension pages and webhooks."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core.config import Settings
from core.host import Host


def create_app(test_config: dict[str, Any] | None = None, host: Host | None = None) -> Flask:
    """Build the app; ``test_config`` overrides Flask config, ``host`` a prepared host."""
    app = Flask(__name__)
    host = host or Host(Settings.from_env())
    app.config.update(
        SECRET_KEY=host.settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=25 * 1024 * 1024,
        API_TITLE="deskhost",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_REDOC_PATH="/docs",
        OPENAPI_REDOC_URL="/static/vendor/redoc.standalone.js",
    )
    app.config.update(test_config or {})
    app.extensions["deskhost.host"] = host
    proxies = host.settings.trusted_proxies
    if proxies:
        # Behind that many reverse proxies, trust their X-Forwarded-For/-Proto/-Host, so that
        # client addresses (rate limits, audit) and HTTPS (Secure cookies, HSTS) are the real
        # ones; without proxies the headers are ignored, since any client could forge them.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )

    from core.web import database, health, i18n, limits, security

    limits.init_app(app)
    database.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    health.init_app(app)

    from core.web import ui

    ui.init_app(app)

    from core import api

    api.init_app(app)

    from marketplace_registry import web as marketplace

    marketplace.init_app(app)

    from core.web import extensions

    extensions.init_app(app)
    return app


def host_of(app: Flask) -> Host:
    """The host an app was built with."""
    return app.extensions["deskhost.host"]
