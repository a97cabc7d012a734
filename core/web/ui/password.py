"""Setting a password from a one-time link, and asking for a reset link by email.

Anyone may open these pages: the link's token is the proof (:mod:`core.services.agent_links`).
A reset request answers the same whether an active agent has the address or not, and mails
the link only after the answer has gone out, so neither the words nor the time it takes tell
which addresses exist. Requests are counted per address asked for and per client address
(:class:`core.config.SecurityLimits`); past a limit the form answers 429 with a wait.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from email.message import EmailMessage
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext, ngettext
from sqlalchemy import select

from core import ratelimit
from core.config import SmtpSettings
from core.errors import ValidationFailed
from core.host import Host
from core.models import Agent, AuditEntry, LinkPurpose
from core.ratelimit import RateLimit
from core.services import agent_links
from core.services import org as org_service
from core.services.agent_links import LinkState
from core.services.base import Actor, Unit, clean_email
from core.web import throttle
from core.web.database import db_session
from hostapi import clock

blueprint = Blueprint("password", __name__, url_prefix="/password")

#: Why a link does not work, as its page says it.
LINK_PROBLEMS: dict[LinkState, Any] = {
    LinkState.UNKNOWN: lazy_gettext("This link is not valid. Check that you copied all of it."),
    LinkState.EXPIRED: lazy_gettext("This link has expired."),
    LinkState.USED: lazy_gettext("This link was already used to set a password."),
    LinkState.REPLACED: lazy_gettext("A newer link replaced this one, or the account is inactive."),
}
_MIN_LENGTH_MESSAGE = lazy_gettext(
    "Use at least %(num)d characters.", num=org_service.MIN_PASSWORD_LENGTH
)


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


def _link_unit(label: str) -> Unit:
    return Unit(db_session(), Actor(None, request.remote_addr, label), _host())


# ------------------------------------------------------------------------------ set password


@blueprint.route("/set/<token>", methods=["GET", "POST"])
def set_password(token: str) -> ResponseReturnValue:
    """The form to set a password from a one-time link (GET), and setting it (POST)."""
    found = agent_links.find_link(db_session(), token)
    if found.state is not LinkState.VALID or found.link is None:
        status = 404 if found.state is LinkState.UNKNOWN else 410
        page = render_template("auth/set_password_invalid.html", problem=LINK_PROBLEMS[found.state])
        return page, status
    agent = db_session().get(Agent, found.link.agent_id)
    assert agent is not None  # find_link checked it
    if request.method == "GET":
        return _form(token, agent, found.link.purpose, {})
    password = request.form.get("password", "")
    errors: dict[str, list[str]] = {}
    if len(password) < org_service.MIN_PASSWORD_LENGTH:
        errors["password"] = [str(_MIN_LENGTH_MESSAGE)]
    elif password != request.form.get("password_confirm", ""):
        errors["password_confirm"] = [gettext("The two passwords differ.")]
    if errors:
        return _form(token, agent, found.link.purpose, errors)
    try:
        agent_links.use_link(_link_unit("set-password link"), token, password)
    except ValidationFailed:
        # Spent by a parallel submission between the look-up and now.
        db_session().rollback()
        page = render_template(
            "auth/set_password_invalid.html", problem=LINK_PROBLEMS[LinkState.USED]
        )
        return page, 410
    db_session().commit()
    return render_template("auth/set_password_done.html", email=agent.email)


def _form(
    token: str, agent: Agent, purpose: str, errors: dict[str, list[str]]
) -> ResponseReturnValue:
    page = render_template(
        "auth/set_password.html",
        token=token,
        agent=agent,
        invitation=purpose == LinkPurpose.INVITATION,
        min_length=org_service.MIN_PASSWORD_LENGTH,
        errors=errors,
    )
    return page, 422 if errors else 200


# ---------------------------------------------------------------------------- reset request


@blueprint.route("/forgot", methods=["GET", "POST"])
def forgot() -> ResponseReturnValue:
    """Ask for a password reset link by email (the same answer for every address)."""
    can_mail = bool(_host().settings.smtp.host)
    if request.method == "GET" or not can_mail:
        return _reset_page(can_mail=can_mail, email="", errors={})
    raw = request.form.get("email", "")
    try:
        email = clean_email(raw, "email")
    except ValidationFailed:
        email = None
    if email is None:
        errors = {"email": [gettext("Enter your email address.")]}
        return _reset_page(can_mail=True, email=raw[:320], errors=errors)
    wait_seconds = _reset_attempt(email)
    if wait_seconds is not None:
        minutes = (wait_seconds + 59) // 60
        error = ngettext(
            "Too many reset requests. Try again in %(num)d minute.",
            "Too many reset requests. Try again in %(num)d minutes.",
            minutes,
        )
        page = render_template(
            "auth/reset.html", can_mail=True, email=email, errors={"email": [error]}
        )
        return page, 429, {"Retry-After": str(wait_seconds)}
    response = current_app.make_response(render_template("auth/reset_sent.html", email=email))
    message = _reset_mail(email)
    if message is not None:
        smtp = _host().settings.smtp
        # After the answer went out: a send's duration must not tell that the address exists.
        response.call_on_close(lambda: _send_quietly(smtp, message))
    return response


def _reset_page(*, can_mail: bool, email: str, errors: dict[str, list[str]]) -> ResponseReturnValue:
    page = render_template("auth/reset.html", can_mail=can_mail, email=email, errors=errors)
    return page, 422 if errors else 200


def _reset_mail(email: str) -> EmailMessage | None:
    """The reset mail for the active agent with ``email`` (its link issued and committed), or
    ``None`` when no active agent has it."""
    session = db_session()
    agent = session.scalar(select(Agent).where(Agent.email == email))
    if agent is None or not agent.is_active:
        return None
    issued = agent_links.issue_link(_link_unit("password reset"), agent, LinkPurpose.RESET)
    session.commit()
    smtp = _host().settings.smtp
    organisation = org_service.get_organisation(session)
    url = url_for("password.set_password", token=issued.token, _external=True)
    return agent_links.compose_mail(
        agent,
        url,
        LinkPurpose.RESET,
        sender=agent_links.sender_of(smtp),
        locale=agent.locale or organisation.default_locale or "en",
        desk_name=organisation.name,
    )


def _send_quietly(smtp: SmtpSettings, message: EmailMessage) -> None:
    # send_mail logged a failure; the requester saw the same page either way.
    with suppress(agent_links.MailNotSent):
        agent_links.send_mail(smtp, message)


def _digest(value: str) -> str:
    # Keys never hold an address book of emails in clear.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _reset_attempt(email: str) -> int | None:
    """Count a reset request for ``email``; the seconds to wait when over a limit, else ``None``.

    Counted per address asked for (whether an agent has it or not: the limit tells nothing)
    and per client address. The first refusal of a window is audited.
    """
    host = _host()
    chosen = throttle.limits()
    window = chosen.password_reset_window_seconds or 1
    prefix = host.settings.redis_prefix
    counters = (
        (f"{prefix}:reset:email:{_digest(email)}", chosen.password_reset_email_limit),
        (
            f"{prefix}:reset:address:{_digest(throttle.client_address())}",
            chosen.password_reset_address_limit,
        ),
    )
    waits = [
        decision.retry_after_seconds
        for key, limit in counters
        if limit
        and not (decision := ratelimit.hit(host.redis, key, RateLimit(limit, window))).allowed
    ]
    if not waits:
        return None
    marker = f"{prefix}:reset:audited:{_digest(email + throttle.client_address())}"
    if host.redis.set(marker, "1", nx=True, ex=window):
        session = db_session()
        session.add(
            AuditEntry(
                at=clock.now(),
                actor_agent_id=None,
                actor_label="password reset",
                ip_address=throttle.client_address(),
                action="refuse",
                entity_type="password_reset",
                entity_id=email[:60],
                sub_action="throttled",
                before=None,
                after=None,
            )
        )
        session.commit()
    return max(waits)
