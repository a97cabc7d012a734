"""Where extensions meet the web app: their pages, webhooks and panels.

Pages are mounted under ``/ext/<plugin id>/`` and exist only for agents an active installation
covers (its profiles and one of its departments); anyone else gets 404. Webhooks live at
``/hooks/<plugin id>/<installation id>/<name>``, exempt from CSRF (third parties call them and
verify themselves by signature). Panels are resolved per request by :func:`panels_for`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, abort, current_app, g, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Installation, Ticket
from core.models.extensions import InstallationState
from core.plugins.context import HostContext
from hostapi import PanelTarget

if TYPE_CHECKING:
    from core.host import Host
    from core.models import Agent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedPanel:
    """A panel ready for a page: which installation rendered it, its title and its HTML."""

    key: str
    plugin_id: str
    installation_id: int | None
    title: str
    html: Markup


def init_app(app: Flask) -> None:
    """Mount every loaded extension's pages and the webhook endpoint."""
    host: Host = app.extensions["deskhost.host"]
    plugins = host.plugins
    for info in plugins.extensions():
        pages = plugins.pages(info.plugin_id)
        if not pages:
            continue
        mount = Blueprint(f"ext_{info.plugin_id}", __name__, url_prefix=f"/ext/{info.plugin_id}")
        for page in pages:
            mount.register_blueprint(page.blueprint)
        mount.before_request(_bind_page_context(info.plugin_id))
        app.register_blueprint(mount)
    hooks = Blueprint("deskhost_webhooks", __name__, url_prefix="/hooks")
    view = hooks.route(
        "/<plugin_id>/<id:installation_id>/<name>",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    )(webhook)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(view)
    app.register_blueprint(hooks)


def _bind_page_context(plugin_id: str) -> Any:
    def bind() -> None:
        from core.web.database import db_session
        from core.web.security import current_agent

        agent = current_agent()
        if agent is None:
            abort(404)
        installation = covering_installation(db_session(), plugin_id, agent)
        if installation is None:
            abort(404)
        g.deskhost_context = HostContext.for_installation(
            db_session(), current_app.extensions["deskhost.host"], installation, agent
        )

    return bind


def webhook(plugin_id: str, installation_id: int, name: str) -> ResponseReturnValue:
    """Hand a third party's request to the extension's webhook, then commit what it stored."""
    from core.web.database import db_session

    host: Host = current_app.extensions["deskhost.host"]
    info = host.plugins.loaded.get(plugin_id)
    spec = None
    if info is not None and not info.builtin:
        spec = next((w for w in host.plugins.webhooks(plugin_id) if w.name == name), None)
    session = db_session()
    installation = session.get(Installation, installation_id)
    if (
        spec is None
        or installation is None
        or installation.plugin_id != plugin_id
        or installation.state != InstallationState.ACTIVE
    ):
        abort(404)
    if request.method not in spec.methods:
        abort(405)
    context = HostContext.for_installation(session, host, installation)
    g.deskhost_context = context
    try:
        response = spec.handle(context, request)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return response


def covering_installation(session: Session, plugin_id: str, agent: Agent) -> Installation | None:
    """The first active installation of ``plugin_id`` whose profiles and departments cover
    ``agent``, or ``None``."""
    return next(
        (i for i in _active(session, plugin_id) if _covers(i, agent)),
        None,
    )


def panels_for(
    session: Session, host: Host, location: str, target: PanelTarget, agent: Agent
) -> list[RenderedPanel]:
    """Every panel at ``location`` that ``agent`` may see for ``target``, rendered, in order.

    Built-in panels show to everyone; an extension's panels only where an active installation
    covers the agent (its profile and a shared department) and, for ticket panels, the
    ticket's department. A panel whose render raises shows an error box instead.
    """
    plugins = host.plugins
    ticket_department: int | None = None
    if target.kind == "ticket":
        ticket_department = session.scalar(
            select(Ticket.department_id).where(Ticket.id == target.id)
        )
        if ticket_department is None:
            return []
    locale = _locale(agent)
    candidates: list[tuple[int, str, Any, HostContext, int | None]] = []
    for info in plugins.loaded.values():
        panels = [p for p in plugins.panels(info.plugin_id) if p.location == location]
        panels = [p for p in panels if p.permission is None or agent.has_permission(p.permission)]
        if not panels:
            continue
        if info.builtin:
            contexts = [(HostContext.for_builtin(session, host, info.plugin_id, agent), None)]
        else:
            contexts = [
                (HostContext.for_installation(session, host, installation, agent), installation.id)
                for installation in _active(session, info.plugin_id)
                if _covers(installation, agent)
                and (ticket_department is None or ticket_department in installation.department_ids)
            ]
        for context, installation_id in contexts:
            for panel in panels:
                candidates.append((panel.order, info.plugin_id, panel, context, installation_id))
    candidates.sort(key=lambda c: (c[0], c[1], c[4] or 0, c[2].key))
    rendered: list[RenderedPanel] = []
    for _order, plugin_id, panel, context, installation_id in candidates:
        title = panel.title_ja if locale.startswith("ja") and panel.title_ja else panel.title
        rendered.append(
            RenderedPanel(
                key=panel.key,
                plugin_id=plugin_id,
                installation_id=installation_id,
                title=title,
                html=_render(panel, context, target, plugin_id, installation_id),
            )
        )
    return rendered


def _render(
    panel: Any,
    context: HostContext,
    target: PanelTarget,
    plugin_id: str,
    installation_id: int | None,
) -> Markup:
    try:
        return Markup(panel.render(context, target))
    except Exception:  # a broken panel shows an error box; the page still works
        log.exception(
            "panel %r of extension %r (installation %s) failed",
            panel.key,
            plugin_id,
            installation_id,
        )
        message = gettext("This panel could not be shown.")
        return Markup('<div class="panel-error" role="alert">{}</div>').format(escape(message))


def _active(session: Session, plugin_id: str) -> list[Installation]:
    return list(
        session.scalars(
            select(Installation)
            .where(
                Installation.plugin_id == plugin_id,
                Installation.state == InstallationState.ACTIVE.value,
            )
            .order_by(Installation.id)
        )
    )


def _covers(installation: Installation, agent: Agent) -> bool:
    return agent.profile_id in installation.profile_ids and bool(
        installation.department_ids & agent.department_ids
    )


def _locale(agent: Agent) -> str:
    try:
        from flask_babel import get_locale

        return str(get_locale() or agent.locale or "en")
    except (ImportError, RuntimeError, KeyError):
        return agent.locale or "en"
