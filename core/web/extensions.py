"""Where extensions meet the web app: their pages, webhooks and panels.

Pages are mounted under ``/ext/<plugin id>/<installation id>/`` and exist only for agents that
installation covers (it is active and names their profile and one of their departments);
anyone else gets 404. A URL without the installation (``/ext/<plugin id>/…``, the form before
host API 1.2) redirects to the one installation covering the agent, or, when several do, shows
a page asking which. Webhooks live at ``/hooks/<plugin id>/<installation id>/<name>``, exempt
from CSRF (third parties call them and verify themselves by signature). Panels are resolved per
request by :func:`panels_for`; where two installations of one extension show panels at one
place, each panel names its installation.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, MapAdapter, Rule

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
    #: The installation's label (or number), set only where another installation of the same
    #: extension shows panels at the same place, so that an agent can tell them apart.
    installation_label: str | None = None
    #: The panel's count (``Panel.count``), where it gives one.
    count: int | None = None

    @property
    def page_key(self) -> str:
        """The key naming it on the page: ``plugin.key``, and ``.installation`` for an
        extension's (an extension installed twice contributes the same key twice)."""
        key = f"{self.plugin_id}.{self.key}"
        return key if self.installation_id is None else f"{key}.{self.installation_id}"


def init_app(app: Flask) -> None:
    """Mount every loaded extension's pages, their installation chooser and the webhooks."""
    host: Host = app.extensions["deskhost.host"]
    plugins = host.plugins
    for info in plugins.extensions():
        pages = plugins.pages(info.plugin_id)
        if not pages:
            continue
        mount = Blueprint(
            f"ext_{info.plugin_id}",
            __name__,
            url_prefix=f"/ext/{info.plugin_id}/<id:installation_id>",
        )
        for page in pages:
            mount.register_blueprint(page.blueprint)
        # Endpoint prefix (the mount's and the page blueprint's names) → permission needed.
        permissions = {
            f"{mount.name}.{page.blueprint.name}": page.permission
            for page in pages
            if page.permission
        }
        mount.url_value_preprocessor(_take_installation_id)
        mount.url_defaults(_give_installation_id)
        mount.before_request(_bind_page_context(info.plugin_id, permissions))
        app.register_blueprint(mount)
    app.context_processor(_menu_context)
    app.extensions["deskhost.render_page"] = _render_page
    app.extensions["deskhost.csrf_token"] = generate_csrf
    chooser = Blueprint("extension_pages", __name__, url_prefix="/ext")
    chooser.add_url_rule("/<plugin_id>/", view_func=choose_installation)
    chooser.add_url_rule("/<plugin_id>/<path:rest>", view_func=choose_installation)
    app.register_blueprint(chooser)
    hooks = Blueprint("deskhost_webhooks", __name__, url_prefix="/hooks")
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    hooks.add_url_rule(
        "/<plugin_id>/<id:installation_id>/<name>", view_func=webhook, methods=methods
    )
    hooks.add_url_rule(
        "/<plugin_id>/<id:installation_id>/<name>/<path:rest>", view_func=webhook, methods=methods
    )
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(webhook)
    app.register_blueprint(hooks)


def _take_installation_id(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # The extension's views were written without the installation in their signature.
    if values is not None:
        g.deskhost_installation_id = values.pop("installation_id", None)


def _give_installation_id(endpoint: str, values: dict[str, Any]) -> None:
    # url_for() of an extension's own view stays within the installation being shown.
    installation_id = g.get("deskhost_installation_id")
    if installation_id is not None:
        values.setdefault("installation_id", installation_id)


def _bind_page_context(plugin_id: str, permissions: dict[str, str]) -> Any:
    def bind() -> None:
        from core.web.database import db_session
        from core.web.security import current_agent

        agent = current_agent()
        if agent is None:
            abort(404)
        installation = db_session().get(Installation, g.get("deskhost_installation_id"))
        if not (
            installation is not None
            and installation.plugin_id == plugin_id
            and installation.is_active
            and covers(installation, agent)
        ):
            abort(404)
        needed = permissions.get((request.endpoint or "").rpartition(".")[0])
        if needed and not agent.has_permission(needed):
            abort(403)
        g.deskhost_context = HostContext.for_installation(
            db_session(), current_app.extensions["deskhost.host"], installation, agent
        )

    return bind


def choose_installation(plugin_id: str, rest: str = "") -> ResponseReturnValue:
    """An extension page's URL without its installation: go to the one installation covering
    the agent, or ask which when several do (404 when none does)."""
    from core.web.database import db_session
    from core.web.security import current_agent

    host: Host = current_app.extensions["deskhost.host"]
    agent = current_agent()
    info = host.plugins.loaded.get(plugin_id)
    if agent is None or info is None or info.builtin or not host.plugins.pages(plugin_id):
        abort(404)
    installations = covering_installations(db_session(), plugin_id, agent)
    if not installations:
        abort(404)
    query = request.query_string.decode("latin-1")

    def url(installation: Installation) -> str:
        return f"/ext/{plugin_id}/{installation.id}/{rest}" + (f"?{query}" if query else "")

    if len(installations) == 1:
        return redirect(url(installations[0]), 302)
    choices = [(installation_label(i), url(i)) for i in installations]
    return render_template(
        "extensions/choose_installation.html", name=info.manifest.name, choices=choices
    )


def webhook(plugin_id: str, installation_id: int, name: str, rest: str = "") -> ResponseReturnValue:
    """Hand a third party's request to the extension's webhook (with the values of its
    ``path``, read from ``rest``), then commit what it stored."""
    from core.web.database import db_session

    host: Host = current_app.extensions["deskhost.host"]
    info = host.plugins.loaded.get(plugin_id)
    spec = None
    if info is not None and not info.builtin:
        spec = next((w for w in host.plugins.webhooks(plugin_id) if w.name == name), None)
    if spec is None:
        abort(404)
    session = db_session(autocommit=spec.autocommit)
    installation = host.plugins.webhook_installation(session, installation_id)
    if installation is None or installation.plugin_id != plugin_id:
        abort(404)
    values = _path_values(spec.path, rest)
    if values is None:
        abort(404)
    if request.method not in spec.methods:
        abort(405)
    context = HostContext.for_installation(session, host, installation)
    g.deskhost_context = context
    try:
        response = spec.handle(context, request, **values)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return response


def _path_values(rule: str, rest: str) -> dict[str, Any] | None:
    """The values of a webhook's ``path`` rule in the rest of the URL (``{}`` for a webhook
    without one and nothing more); ``None`` where they do not match."""
    if not rule:
        return {} if not rest else None
    try:
        _endpoint, values = _path_matcher(rule).match("/" + rest)
    except HTTPException:
        return None
    return values


@functools.lru_cache(maxsize=64)
def _path_matcher(rule: str) -> MapAdapter:
    # Bound once: match() only reads the adapter, so threads may share it.
    return Map([Rule("/" + rule.lstrip("/"), endpoint="webhook")]).bind("")


def covering_installations(session: Session, plugin_id: str, agent: Agent) -> list[Installation]:
    """The active installations of ``plugin_id`` whose profiles and departments cover
    ``agent``, by id."""
    return [i for i in _active(session, plugin_id) if covers(i, agent)]


@dataclass(frozen=True)
class MenuEntry:
    """A navigation link to an extension's page (``Page(menu=True)``) in one installation."""

    title: str
    #: Where it goes; the link shows as current on every page under it.
    url: str


def menu_entries(session: Session, host: Host, agent: Agent) -> list[MenuEntry]:
    """The navigation links of the extensions' menu pages for ``agent``: one per page and
    installation covering them, named by the page's title and, where the agent has several
    installations of the extension, the installation's label; in extension order."""
    locale = _locale(agent)
    entries: list[MenuEntry] = []
    for info in host.plugins.extensions():
        pages = [
            page
            for page in host.plugins.pages(info.plugin_id)
            if page.menu and (not page.permission or agent.has_permission(page.permission))
        ]
        if not pages:
            continue
        installations = covering_installations(session, info.plugin_id, agent)
        for installation in installations:
            prefix = f"/ext/{info.plugin_id}/{installation.id}/"
            for page in pages:
                title = (page.title_ja if locale == "ja" else None) or page.title
                title = title or info.manifest.name
                if len(installations) > 1:
                    title = f"{title} ({installation_label(installation)})"
                entries.append(MenuEntry(title=title, url=prefix + page.menu_path))
    return entries


def _render_page(title: str, body: str) -> str:
    """``hostapi.render_page``: the host's layout around an extension page's HTML."""
    return render_template("extensions/page.html", title=title, body=Markup(body))


def _menu_context() -> dict[str, Any]:
    """``extension_menu`` for the navigation: the signed-in agent's menu entries."""
    from core.web.database import db_session
    from core.web.security import current_agent

    if "deskhost_extension_menu" not in g:  # once a request: fragments render templates too
        agent = current_agent()
        host: Host = current_app.extensions["deskhost.host"]
        g.deskhost_extension_menu = [] if agent is None else menu_entries(db_session(), host, agent)
    return {"extension_menu": g.deskhost_extension_menu}


def installation_label(installation: Installation) -> str:
    """How an installation is named to agents: the admin's label, else its number."""
    return installation.label or gettext("Installation %(id)s", id=installation.id)


def panels_for(
    session: Session,
    host: Host,
    location: str,
    target: PanelTarget,
    agent: Agent,
    *,
    as_tabs: bool = False,
    selected: str | None = None,
) -> list[RenderedPanel]:
    """Every panel at ``location`` that ``agent`` may see for ``target``, rendered, in order.

    Built-in panels show to everyone; an extension's panels only where an active installation
    covers the agent (its profile and a shared department) and, for ticket panels, the
    ticket's department. A panel whose render raises shows an error box instead. When two
    installations of one extension contribute here, each panel carries its installation's
    label.

    Tabs (``as_tabs``) show one at a time: only the ``selected`` one (its page key; else the
    first) is rendered, and every tab gives its count.
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
    candidates: list[tuple[int, str, Any, HostContext, Installation | None]] = []
    for info in plugins.loaded.values():
        panels = [p for p in plugins.panels(info.plugin_id) if p.location == location]
        panels = [p for p in panels if p.permission is None or agent.has_permission(p.permission)]
        if not panels:
            continue
        contexts: list[tuple[HostContext, Installation | None]]
        if info.builtin:
            contexts = [(HostContext.for_builtin(session, host, info.plugin_id, agent), None)]
        else:
            contexts = [
                (HostContext.for_installation(session, host, installation, agent), installation)
                for installation in _active(session, info.plugin_id)
                if covers(installation, agent)
                and (ticket_department is None or ticket_department in installation.department_ids)
            ]
        for context, installation in contexts:
            for panel in panels:
                candidates.append((panel.order, info.plugin_id, panel, context, installation))
    candidates.sort(key=lambda c: (c[0], c[1], c[4].id if c[4] else 0, c[2].key))
    installations_by_plugin: dict[str, set[int]] = {}
    for _order, plugin_id, _panel, _context, installation in candidates:
        if installation is not None:
            installations_by_plugin.setdefault(plugin_id, set()).add(installation.id)
    rendered: list[RenderedPanel] = []
    for _order, plugin_id, panel, context, installation in candidates:
        title = panel.title_ja if locale.startswith("ja") and panel.title_ja else panel.title
        installation_id = installation.id if installation is not None else None
        several = len(installations_by_plugin.get(plugin_id, ())) > 1
        rendered.append(
            RenderedPanel(
                key=panel.key,
                plugin_id=plugin_id,
                installation_id=installation_id,
                title=title,
                html=Markup(""),
                installation_label=(
                    installation_label(installation) if several and installation else None
                ),
                count=_count(panel, context, target) if as_tabs else None,
            )
        )
    shown: Iterable[int] = range(len(rendered))
    if as_tabs:
        keys = [view.page_key for view in rendered]
        shown = [keys.index(selected) if selected in keys else 0] if rendered else []
    for index in shown:
        _order, plugin_id, panel, context, _installation = candidates[index]
        view = rendered[index]
        html = _render(panel, context, target, plugin_id, view.installation_id)
        rendered[index] = replace(view, html=html)
    return rendered


def _count(panel: Any, context: HostContext, target: PanelTarget) -> int | None:
    """A tab's count, or ``None`` where it gives none or fails (the tab still shows)."""
    if getattr(panel, "count", None) is None:
        return None
    try:
        return panel.count(context, target)
    except Exception:
        log.exception("the count of panel %r failed", panel.key)
        return None


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


def covers(installation: Installation, agent: Agent) -> bool:
    """True when ``installation`` names ``agent``'s permission profile and one of their
    departments (its panels, pages and endpoints exist for them)."""
    return agent.profile_id in installation.profile_ids and bool(
        installation.department_ids & agent.department_ids
    )


def _locale(agent: Agent) -> str:
    try:
        from flask_babel import get_locale

        return str(get_locale() or agent.locale or "en")
    except (ImportError, RuntimeError, KeyError):
        return agent.locale or "en"
