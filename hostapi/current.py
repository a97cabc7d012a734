"""The context of the installation serving the current request (extension pages, endpoints,
webhooks), and the host's layout for an extension's pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, g

if TYPE_CHECKING:
    from hostapi.context import Context


def current_context() -> Context:
    """The context the host bound to this request before calling an extension's view.

    :raises RuntimeError: outside a request to an extension page, endpoint or webhook.
    """
    context = g.get("deskhost_context")
    if context is None:
        raise RuntimeError(
            "current_context() is only available in extension pages, endpoints and webhooks"
        )
    return context


def render_page(title: str, body: str) -> str:
    """A whole page in the host's layout (its navigation, language switch and styles) around
    ``body``, your view's HTML as your template rendered it (autoescaped): the response of an
    extension page (1.4).
    """
    return current_app.extensions["deskhost.render_page"](title, body)


def csrf_token() -> str:
    """The CSRF token of the current request (1.4), for the ``csrf_token`` field of your pages'
    POST forms: ``template.render(..., csrf_token=csrf_token())``."""
    return current_app.extensions["deskhost.csrf_token"]()
