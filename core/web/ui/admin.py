"""Administration pages: the extensions this host loaded (introspection for admins)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue

from core.errors import Forbidden
from core.permissions import MARKETPLACE_MANAGE
from core.web.security import current_agent, login_required

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.get("/extensions")
@login_required
def extensions() -> ResponseReturnValue:
    """Loaded extensions with their versions and hooks, and those that failed to load."""
    agent = current_agent()
    if agent is None or not agent.has_permission(MARKETPLACE_MANAGE):
        raise Forbidden(MARKETPLACE_MANAGE)
    plugins = current_app.extensions["deskhost.host"].plugins
    return render_template(
        "admin/extensions.html",
        loaded=sorted(plugins.loaded.values(), key=lambda info: (info.builtin, info.plugin_id)),
        errors=sorted(plugins.errors.items()),
    )
