"""The SalesIQ pages for administrators (``/ext/salesiq/<installation id>/integration/``):
link the chat account (or see who linked it and when, disable, enable, unlink), the
conversion rule, the department mapping and the chats that arrived with what became of them.

Only agents holding ``marketplace.manage`` (administrators) reach them: linking makes the
chat product act with the linking admin's permissions.
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import Blueprint, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from hostapi import Context, NotFound, Page, csrf_token, current_context, render_page
from hostapi.i18n import N_, template_functions
from plugins.salesiq import chats, departments, events, kb_sync, link, rendering
from plugins.salesiq.models import Chat

#: Who may use the pages: linking registers an OAuth client of the desk.
PERMISSION = "marketplace.manage"
TITLE = N_("SalesIQ integration")
#: Chats listed per page.
CHATS_PER_PAGE = 50


def page() -> Page:
    """The integration pages, with their navigation link."""
    return Page(
        blueprint=_blueprint(),
        title="SalesIQ integration",
        title_ja="SalesIQ連携",
        menu=True,
        menu_path="integration/",
        settings_path="integration/",
        permission=PERMISSION,
    )


def _blueprint() -> Blueprint:
    pages = Blueprint("salesiq_integration", __name__, url_prefix="/integration")
    pages.add_url_rule("/", "index", index)
    pages.add_url_rule("/link", "make_link", make_link, methods=["POST"])
    pages.add_url_rule("/disable", "disable", disable, methods=["POST"])
    pages.add_url_rule("/enable", "enable", enable, methods=["POST"])
    pages.add_url_rule("/unlink", "unlink", unlink, methods=["GET", "POST"])
    pages.add_url_rule("/departments", "map_departments", map_departments, methods=["POST"])
    pages.add_url_rule(
        "/departments/<int:mapping_id>/<any(unlink, dismiss):action>",
        "answer_notice",
        answer_notice,
        methods=["POST"],
    )
    pages.add_url_rule("/chats", "chat_list", chat_list)
    pages.add_url_rule("/kb", "save_kb_sync", save_kb_sync, methods=["POST"])
    pages.add_url_rule("/kb/sync-now", "sync_now", sync_now, methods=["POST"])
    return pages


def index() -> ResponseReturnValue:
    """The link (or the form to make one), the rule and the department mapping."""
    context = current_context()
    linked = link.current(context)
    if linked is not None:
        link.works(context, linked)  # a link whose admin left shows as needing a new link
        context.db.commit()
    return _index(context, linked)


def make_link() -> ResponseReturnValue:
    """Link the account the form names, then ask the admin to authorize the product."""
    context = current_context()
    try:
        link.make(
            context,
            request.form.to_dict(),
            webhook_url=events.webhook_url(request.host_url, context.installation_id),
            return_url=url_for(".index", _external=True),
        )
    except ma.ValidationError as error:
        context.db.rollback()
        return _index(context, None, form=request.form, errors=error.normalized_messages()), 422
    context.db.commit()
    # The admin goes on to the product by a link (a form's redirect to another site would be
    # refused by the page's Content-Security-Policy, which allows forms to this desk only).
    return redirect(url_for(".index", authorize=1), 303)


def disable() -> ResponseReturnValue:
    """Stop the integration until it is enabled again."""
    context = current_context()
    link.disable(context, _link(context))
    context.db.commit()
    return redirect(url_for(".index"), 303)


def enable() -> ResponseReturnValue:
    """Start a disabled integration again."""
    context = current_context()
    link.enable(context, _link(context))
    context.db.commit()
    return redirect(url_for(".index"), 303)


def unlink() -> ResponseReturnValue:
    """Ask, then remove the link."""
    context = current_context()
    linked = _link(context)
    if request.method == "GET":
        return _page(
            context, context.gettext("Unlink the chat account"), "unlink.html", link=linked
        )
    link.unlink(context, linked)
    context.db.commit()
    return redirect(url_for(".index"), 303)


def map_departments() -> ResponseReturnValue:
    """Save the mapping form: each chat department's desk department or mode."""
    context = current_context()
    _link(context)
    errors: dict[str, str] = {}
    for department in departments.listed(context):
        choice = request.form.get(f"department-{department.id}")
        if choice is None:
            continue
        try:
            departments.set_mode(context, department, choice)
        except ValueError as error:
            errors[str(department.id)] = str(error)
    if errors:
        context.db.rollback()
        return _index(context, link.current(context), mapping_errors=errors), 422
    context.db.commit()
    return redirect(url_for(".index", saved="departments"), 303)


def answer_notice(mapping_id: int, action: str) -> ResponseReturnValue:
    """Unlink an automatic mapping (back to choose each time), or keep it and hide the notice."""
    context = current_context()
    try:
        department = departments.by_id(context, mapping_id)
    except NotFound:
        abort(404)
    (departments.unlink if action == "unlink" else departments.dismiss)(context, department)
    context.db.commit()
    return redirect(url_for(".index"), 303)


def save_kb_sync() -> ResponseReturnValue:
    """Save the knowledge-base sync's settings and each chat department's categories."""
    context = current_context()
    _link(context)
    chosen = {
        department.chat_department_id: request.form.getlist(
            f"categories-{department.chat_department_id}"
        )
        for department in departments.listed(context)
    }
    try:
        kb_sync.save(context, request.form, chosen)
    except ma.ValidationError as error:
        context.db.rollback()
        return _index(
            context,
            link.current(context),
            kb_errors=error.normalized_messages(),
            kb_form=request.form,
        ), 422
    context.db.commit()
    return redirect(url_for(".index", saved="kb") + "#salesiq-kb", 303)


def sync_now() -> ResponseReturnValue:
    """Start a knowledge-base sync at once."""
    context = current_context()
    _link(context)
    try:
        kb_sync.sync_now(context)
    except ValueError as error:
        context.db.rollback()
        return _index(context, link.current(context), kb_refusal=str(error)), 409
    context.db.commit()
    return redirect(url_for(".index", saved="sync") + "#salesiq-kb", 303)


def chat_list() -> ResponseReturnValue:
    """The chats that arrived, newest first, with their ticket or why they have none."""
    context = current_context()
    before = request.args.get("before", type=int)
    statement = select(Chat).where(Chat.installation_id == context.installation_id)
    if before is not None:
        statement = statement.where(Chat.id < before)
    rows = list(context.db.scalars(statement.order_by(Chat.id.desc()).limit(CHATS_PER_PAGE + 1)))
    more = len(rows) > CHATS_PER_PAGE
    rows = rows[:CHATS_PER_PAGE]
    names = {d.chat_department_id: d.name for d in departments.listed(context)}
    return _page(
        context,
        context.gettext("Chats from SalesIQ"),
        "chats.html",
        chats=rows,
        department_names=names,
        next_before=rows[-1].id if more else None,
        when=lambda moment: rendering.local_time(context, moment),
        converted_by={
            chats.BY_RULE: context.gettext("by the rule"),
            chats.BY_AGENT: context.gettext("by an agent"),
            chats.BY_MERGE: context.gettext("merged into a ticket"),
        },
    )


def _index(
    context: Context,
    linked: Any,
    *,
    form: Any = None,
    errors: dict[str, Any] | None = None,
    mapping_errors: dict[str, str] | None = None,
    kb_errors: dict[str, Any] | None = None,
    kb_form: Any = None,
    kb_refusal: str = "",
) -> str:
    desk_departments = context.departments()
    sync = kb_sync.current(context) if linked is not None else None
    return _page(
        context,
        context.gettext(TITLE),
        "integration.html",
        link=linked,
        linked_by=link.linked_admin_name(context, linked) if linked is not None else "",
        form=form or {},
        errors=errors or {},
        chat_departments=departments.listed(context) if linked is not None else [],
        desk_departments=desk_departments,
        desk_department_names={d.id: d.name for d in desk_departments},
        mapping_errors=mapping_errors or {},
        sync=sync,
        kb_categories=context.kb_categories() if linked is not None else [],
        kb_links=kb_sync.category_links(context) if linked is not None else {},
        kb_errors=kb_errors or {},
        kb_form=kb_form,
        kb_refusal=kb_refusal,
        rule=rendering.rule_summary(context),
        settings_url=f"/admin/marketplace/installations/{context.installation_id}#settings-form",
        returned=request.args,
        link_error=_link_error(request.args.get("link_error", "")),
        timezone=context.timezone,
        when=lambda moment: rendering.local_time(context, moment),
    )


def _link_error(reason: str) -> str:
    """The reason the product gave for a failed authorization, if it reads as an error code
    (it comes back in the URL: free text there is not shown)."""
    return reason if re.fullmatch(r"[a-z_]{1,40}", reason) else ("unknown" if reason else "")


def _link(context: Context) -> Any:
    linked = link.current(context)
    if linked is None:
        abort(404)
    return linked


def _page(context: Context, title: str, template: str, **values: Any) -> str:
    body = rendering.templates.get_template(template).render(
        title=title,
        csrf_token=csrf_token(),
        url_for=url_for,
        link_states={
            link.ACTIVE: context.gettext("Active"),
            link.DISABLED: context.gettext("Disabled"),
            link.RELINK: context.gettext("Needs a new link"),
        },
        modes={
            departments.NONE: context.gettext("No integration"),
            departments.VIEW_ONLY: context.gettext("View only"),
            departments.CHOOSE: context.gettext("Choose each time"),
        },
        **values,
        **template_functions(context),
    )
    return render_page(title, body)
