"""Mount the marketplace on the web app: OAuth endpoints and consent, admin pages, REST API."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the marketplace's blueprints on ``app`` (after the core API is set up)."""
    from marketplace_registry import admin_views, oauth_views

    oauth_views.init_app(app)
    admin_views.init_app(app)
