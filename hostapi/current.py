"""The context of the installation serving the current request (extension pages, endpoints,
webhooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import g

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
