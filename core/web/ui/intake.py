"""Ways in on the web: the public support form, logging a phone call, the spam list and rules."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, gettext, lazy_gettext
from sqlalchemy import select

from core import permissions
from core.errors import Forbidden, ValidationFailed
from core.host import Host
from core.intake import calls, review, spam, webform
from core.models import Agent, Department, SpamRule
from core.services.base import Actor, Unit, parse_whole_number
from core.web.database import db_session
from core.web.i18n import LANGUAGES
from core.web.security import current_agent, login_required
from core.web.ui.labels import message_text
from core.web.ui.units import request_unit

blueprint = Blueprint("intake", __name__)

PAGE_SIZE = 50

#: What visitors of the public form read for a bad field (services' messages are English).
_FORM_MESSAGES: dict[str, Any] = {
    "family_name": lazy_gettext("Please enter your family name."),
    "given_name": lazy_gettext("Please shorten your given name."),
    "email": lazy_gettext("Please enter a valid email address."),
    "phone": lazy_gettext("Please enter a valid phone number, or leave it empty."),
    "subject": lazy_gettext("Please enter a subject."),
    "description": lazy_gettext("Please describe your request."),
    "department_id": lazy_gettext("Please choose a team."),
}
#: The honeypot: a field people never see (hidden by CSS) and bots fill in.
HONEYPOT_FIELD = "website"


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


# ------------------------------------------------------------------------- public web form


def _visitor_locale() -> str | None:
    wanted = request.values.get("lang", "")
    return wanted if wanted in LANGUAGES else None


def _public_page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    """Render a public page in the language the visitor picked (``?lang=``), else the browser's."""
    lang = _visitor_locale()
    if lang is None:
        return render_template(template, lang=None, **context), status
    with force_locale(lang):
        return render_template(template, lang=lang, **context), status


def _public_unit() -> Unit:
    return Unit(db_session(), Actor(None, request.remote_addr, "web_form"), _host())


@blueprint.route("/support", methods=["GET", "POST"])
@blueprint.route("/support/<id:department_id>", methods=["GET", "POST"])
def support_form(department_id: int | None = None) -> ResponseReturnValue:
    """The public form customers raise a ticket with (no sign-in)."""
    unit = _public_unit()
    try:
        department = webform.active_department(unit, department_id)
    except ValidationFailed:
        return _public_page("intake/support_closed.html", 404)
    choices = webform.public_departments(unit) if department_id is None else []
    if request.method == "GET":
        return _public_page(
            "intake/support_form.html",
            form={},
            errors={},
            department=department,
            choices=choices,
            fixed_department=department_id,
        )
    settings = _host().settings
    rate = webform.RateLimit(settings.webform_rate_limit, settings.webform_rate_window_seconds)
    if not webform.allow_submission(
        _host().redis, settings.redis_prefix, request.remote_addr or "unknown", rate
    ):
        return _public_page("intake/support_rate_limited.html", 429, rate=rate)
    if request.form.get(HONEYPOT_FIELD):
        # A bot filled the invisible field: drop it, and let it believe it succeeded.
        return _public_page("intake/support_thanks.html")
    chosen = department_id or _int(request.form.get("department_id")) or department.id
    form = {
        name: request.form.get(name, "")
        for name in ("family_name", "given_name", "email", "phone", "subject", "description")
    }
    try:
        outcome = webform.submit(
            unit, department_id=chosen, client_ip=request.remote_addr or "", **form
        )
    except ValidationFailed as error:
        db_session().rollback()
        errors = {
            field: _FORM_MESSAGES.get(field, " ".join(map(message_text, messages)))
            for field, messages in error.errors.items()
        }
        return _public_page(
            "intake/support_form.html",
            422,
            form=form,
            errors=errors,
            department=department,
            choices=choices,
            fixed_department=department_id,
            chosen=chosen,
        )
    db_session().commit()
    return _public_page(
        "intake/support_thanks.html", ticket_number=webform.ticket_number(unit, outcome)
    )


def _int(value: str | None) -> int | None:
    return parse_whole_number(value, 10**18)


# ----------------------------------------------------------------------------- phone calls


@blueprint.route("/tickets/log-call", methods=["GET", "POST"])
@login_required
def log_call() -> ResponseReturnValue:
    """Log a phone call as a ticket."""
    agent = current_agent()
    assert agent is not None
    if not agent.has_permission(permissions.TICKET_CREATE):
        raise Forbidden(permissions.TICKET_CREATE)
    if request.method == "GET":
        return _call_page(agent, {"direction": "incoming"}, {})
    form = {
        name: request.form.get(name, "")
        for name in ("phone", "caller_name", "direction", "subject", "notes", "department_id")
    }
    minutes, seconds = request.form.get("minutes", "0"), request.form.get("seconds", "0")
    form |= {"minutes": minutes, "seconds": seconds}
    minute_count = parse_whole_number(minutes or "0", 10**6)
    second_count = parse_whole_number(seconds or "0", 10**6)
    if minute_count is None or second_count is None:
        return _call_page(
            agent, form, {"duration_seconds": [gettext("Give whole minutes and seconds.")]}
        )
    unit = request_unit()
    try:
        ticket, _activity = calls.log_call(
            unit,
            phone=form["phone"],
            caller_name=form["caller_name"],
            direction=form["direction"],
            department_id=_int(form["department_id"]) or 0,
            subject=form["subject"],
            notes=form["notes"],
            duration_seconds=minute_count * 60 + second_count,
        )
    except ValidationFailed as error:
        db_session().rollback()
        return _call_page(agent, form, error.errors)
    db_session().commit()
    return redirect(url_for("tickets.detail", ticket_id=ticket.id))


def _call_page(
    agent: Agent, form: dict[str, str], errors: dict[str, list[str]]
) -> ResponseReturnValue:
    departments = [d for d in agent.departments if d.is_active]
    page = render_template(
        "intake/log_call.html", form=form, errors=errors, departments=departments
    )
    return page, 422 if errors else 200


# -------------------------------------------------------------------------------- spam list


@blueprint.get("/spam")
@login_required
def spam_list() -> ResponseReturnValue:
    """Held messages, newest first, with release, block and delete."""
    unit = request_unit()
    rows = spam.list_held(unit, limit=PAGE_SIZE + 1, before=request.args.get("before") or None)
    older = spam.cursor_of(rows[PAGE_SIZE - 1]).encode() if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    blocked = set(
        unit.session.scalars(
            select(SpamRule.pattern).where(SpamRule.kind == "sender", SpamRule.is_active.is_(True))
        )
    )
    department_names = dict(unit.session.execute(select(Department.id, Department.name)).all())
    return render_template(
        "intake/spam_list.html",
        messages=rows,
        older=older,
        blocked=blocked,
        department_names=department_names,
    )


@blueprint.post("/spam/<bigid:message_id>/release")
@login_required
def spam_release(message_id: int) -> ResponseReturnValue:
    """Not spam: make the message a ticket and open it."""
    unit = request_unit()
    outcome = review.release(unit, spam.get_held(unit, message_id))
    db_session().commit()
    if outcome.ticket is not None:
        return redirect(url_for("tickets.detail", ticket_id=outcome.ticket.id))
    return redirect(url_for("intake.spam_list"))


@blueprint.post("/spam/<bigid:message_id>/block")
@login_required
def spam_block(message_id: int) -> ResponseReturnValue:
    """Block the message's sender (their later messages are held)."""
    unit = request_unit()
    spam.block_sender(unit, spam.get_held(unit, message_id))
    db_session().commit()
    return redirect(url_for("intake.spam_list"))


@blueprint.post("/spam/<bigid:message_id>/delete")
@login_required
def spam_delete(message_id: int) -> ResponseReturnValue:
    """Delete a held message for good."""
    unit = request_unit()
    spam.delete_held(unit, spam.get_held(unit, message_id))
    db_session().commit()
    return redirect(url_for("intake.spam_list"))


# ------------------------------------------------------------------------------- spam rules


@blueprint.route("/admin/spam-rules", methods=["GET", "POST"])
@login_required
def spam_rules() -> ResponseReturnValue:
    """Spam rules: the list, and the form to add one."""
    unit = request_unit()
    rules = spam.list_rules(unit)
    if request.method == "GET":
        return _rules_page(rules, {}, {})
    form = {name: request.form.get(name, "") for name in ("kind", "pattern", "header_name")}
    try:
        spam.create_rule(
            unit,
            kind=form["kind"],
            pattern=form["pattern"],
            header_name=form["header_name"] or None,
        )
    except ValidationFailed as error:
        db_session().rollback()
        return _rules_page(rules, form, error.errors)
    db_session().commit()
    return redirect(url_for("intake.spam_rules"))


def _rules_page(
    rules: list[SpamRule], form: dict[str, str], errors: dict[str, list[str]]
) -> ResponseReturnValue:
    page = render_template(
        "intake/spam_rules.html", rules=rules, form=form, errors=errors, kinds=spam.RULE_KINDS
    )
    return page, 422 if errors else 200


@blueprint.post("/admin/spam-rules/<id:rule_id>/toggle")
@login_required
def spam_rule_toggle(rule_id: int) -> ResponseReturnValue:
    """Switch a rule on or off."""
    unit = request_unit()
    rule = spam.get_rule(unit, rule_id)
    spam.set_rule_active(unit, rule, not rule.is_active)
    db_session().commit()
    return redirect(url_for("intake.spam_rules"))


@blueprint.post("/admin/spam-rules/<id:rule_id>/delete")
@login_required
def spam_rule_delete(rule_id: int) -> ResponseReturnValue:
    """Delete a rule."""
    unit = request_unit()
    spam.delete_rule(unit, spam.get_rule(unit, rule_id))
    db_session().commit()
    return redirect(url_for("intake.spam_rules"))
