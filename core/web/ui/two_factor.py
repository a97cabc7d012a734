"""An agent's two-factor sign-in page, and an agent manager's reset of someone's two-factor.

The page serves a signed-in agent, and also one half-signed-in whose profile requires
two-factor and who has not set it up (:mod:`core.web.ui.auth` sends them here after their
password): they can set it up and nothing else, and are signed in once it is done. A session
that was signed in before its profile came to require two-factor is held here too: every other
page redirects here, and the REST API answers 403, until the agent has set it up. Bearer
tokens are not held: they were made by an agent signed in in full.
"""

from __future__ import annotations

from typing import Any

import segno
from flask import (
    Blueprint,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from core import permissions as catalogue
from core.errors import Conflict, Forbidden, ValidationFailed
from core.models import Agent
from core.services import org, two_factor
from core.services.base import Actor, Unit
from core.web import security, throttle
from core.web.database import db_session
from core.web.ui import auth
from core.web.ui.units import request_unit

blueprint = Blueprint("two_factor", __name__)

#: What a session held for enrolment may still reach.
_OPEN_WHILE_ENROLLING = frozenset(
    {
        "two_factor.settings",
        "two_factor.start",
        "two_factor.confirm",
        "auth.login",
        "auth.logout",
        "auth.second_step",
        "i18n.switch_language",
        "static",
    }
)


@blueprint.before_app_request
def _enrolment_first() -> ResponseReturnValue | None:
    """Hold a signed-in agent whose profile requires two-factor on the set-up page."""
    if request.endpoint in _OPEN_WHILE_ENROLLING:
        return None
    api = request.path.startswith("/api/")
    if api and request.headers.get("Authorization"):
        return None  # the API authenticates the bearer then, not the session
    agent = security.current_agent()
    if agent is None or not two_factor.must_enrol(db_session(), agent):
        return None
    if api:
        message = "Your permission profile requires two-factor sign-in: set it up first."
        return jsonify(code=403, status="Forbidden", message=message), 403
    return redirect(url_for("two_factor.settings"))


@blueprint.get("/account/two-factor")
def settings() -> ResponseReturnValue:
    """The agent's two-factor state: set it up, or manage recovery codes and switch it off."""
    acting = _acting_agent()
    if acting is None:
        return redirect(url_for("auth.login", next=request.path))
    return _render(acting[0])


@blueprint.post("/account/two-factor/start")
def start() -> ResponseReturnValue:
    """Make a new secret for the agent's authenticator app and show it."""
    acting = _acting_agent()
    if acting is None:
        return redirect(url_for("auth.login"))
    agent = acting[0]
    try:
        two_factor.begin_enrolment(_unit(agent), agent)
    except Conflict:
        db_session().rollback()
        return redirect(url_for("two_factor.settings"))
    db_session().commit()
    return redirect(url_for("two_factor.settings"))


@blueprint.post("/account/two-factor/confirm")
def confirm() -> ResponseReturnValue:
    """Turn two-factor on with a first code; show the recovery codes once."""
    acting = _acting_agent()
    if acting is None:
        return redirect(url_for("auth.login"))
    agent, next_url = acting
    try:
        codes = two_factor.confirm_enrolment(_unit(agent), agent, request.form.get("code", ""))
    except Conflict:
        db_session().rollback()
        return redirect(url_for("two_factor.settings"))
    except ValidationFailed as failure:
        db_session().commit()  # the step a right-but-late code used stays used
        return _render(agent, errors=failure.errors)
    db_session().commit()
    # Enabling ended the agent's sessions, this one included: it starts again, now with both
    # factors behind it (and a half-signed-in agent is signed in).
    security.login_agent(agent)
    response = make_response(
        render_template("account/two_factor_codes.html", codes=codes, next_url=next_url)
    )
    throttle.sign_in_succeeded(agent.email, response)
    return response


@blueprint.post("/account/two-factor/recovery-codes")
@security.login_required
def regenerate() -> ResponseReturnValue:
    """Replace the agent's recovery codes (a current code or the password confirms it)."""
    agent = _signed_in()
    refused = _throttled(agent, "regenerate")
    if refused is not None:
        return refused
    try:
        codes = two_factor.regenerate_recovery_codes(
            request_unit(), agent, request.form.get("proof", "")
        )
    except Conflict:
        db_session().rollback()
        return redirect(url_for("two_factor.settings"))
    except ValidationFailed as failure:
        db_session().commit()
        return _render(agent, errors=failure.errors, form="regenerate")
    db_session().commit()
    throttle.sign_in_attempt_forgiven(agent.email)
    return render_template("account/two_factor_codes.html", codes=codes, next_url=None)


@blueprint.post("/account/two-factor/disable")
@security.login_required
def disable() -> ResponseReturnValue:
    """Switch two-factor off (a current code or the password confirms it)."""
    agent = _signed_in()
    refused = _throttled(agent, "disable")
    if refused is not None:
        return refused
    try:
        two_factor.disable_two_factor(request_unit(), agent, request.form.get("proof", ""))
    except Conflict:
        db_session().rollback()
        return redirect(url_for("two_factor.settings"))
    except ValidationFailed as failure:
        db_session().commit()
        return _render(agent, errors=failure.errors, form="disable")
    db_session().commit()
    throttle.sign_in_attempt_forgiven(agent.email)
    # Switching off ended the agent's other sessions; this one goes on.
    security.login_agent(agent)
    return redirect(url_for("two_factor.settings"))


@blueprint.route("/two-factor/agents/<id:agent_id>/reset", methods=["GET", "POST"])
@security.login_required
def reset(agent_id: int) -> ResponseReturnValue:
    """An agent manager resets someone's two-factor (a lost phone): confirm, then do it."""
    manager = _signed_in()
    work = request_unit()
    agent = org.get_agent(work, agent_id)  # every agent sees agents: 404 only when absent
    if not manager.has_permission(catalogue.AGENT_MANAGE):
        raise Forbidden(catalogue.AGENT_MANAGE)
    back = security.safe_next_url(request.values.get("next"), url_for("tickets.index"))
    done = False
    if request.method == "POST":
        try:
            two_factor.reset_two_factor(work, agent)
        except Conflict:
            db_session().rollback()  # nothing set up: the page says so
        else:
            db_session().commit()
            done = True
        if done and agent.id == manager.id:
            return redirect(url_for("auth.login"))  # their own sessions ended too
    return render_template(
        "account/two_factor_reset.html",
        agent=agent,
        state=two_factor.state(db_session(), agent),
        next_url=back,
        done=done,
    )


# ------------------------------------------------------------------------------------- helpers


def _acting_agent() -> tuple[Agent, str | None] | None:
    """The signed-in agent, or the half-signed-in one due to enrol (and where they go next)."""
    agent = security.current_agent()
    if agent is not None:
        return agent, None
    pending = auth.pending_agent(auth.ENROL_STEP)
    if pending is None:
        return None
    return pending


def _signed_in() -> Agent:
    agent = security.current_agent()
    assert agent is not None  # login_required
    return agent


def _unit(agent: Agent) -> Unit:
    """A unit acting as ``agent``, signed in or half-signed-in (enrolment only)."""
    return Unit(
        session=db_session(),
        actor=Actor(agent, ip_address=request.remote_addr),
        host=current_app.extensions["deskhost.host"],
    )


def _throttled(agent: Agent, form: str) -> ResponseReturnValue | None:
    """Count a code or password given to confirm a change, as a sign-in attempt would be."""
    wait_seconds = throttle.sign_in_attempt(agent.email)
    if wait_seconds is None:
        return None
    minutes = (wait_seconds + 59) // 60
    error = gettext("Too many wrong codes or passwords. Try again in %(num)d min.", num=minutes)
    page, status = _render(agent, errors={"proof": [error]}, form=form, status=429)
    return page, status, {"Retry-After": str(wait_seconds)}


def _render(
    agent: Agent,
    *,
    errors: dict[str, list[str]] | None = None,
    form: str = "",
    status: int | None = None,
) -> tuple[str, int]:
    session = db_session()
    state = two_factor.state(session, agent)
    secret = two_factor.enrolment_secret(_unit(agent), agent) if state.enrolling else None
    qr_svg: str | None = None
    if secret is not None:
        issuer = org.get_organisation(session).name
        qr_svg = segno.make(
            two_factor.provisioning_uri(secret, agent, issuer), error="m"
        ).svg_inline(scale=4, dark="#000", light="#fff", svgclass="qr-code", lineclass=None)
    context: dict[str, Any] = {
        "agent": agent,
        "state": state,
        "secret": secret,
        "grouped_secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        if secret
        else None,
        "qr_svg": qr_svg,
        "required": agent.profile.requires_two_factor,
        "signed_in": security.current_agent() is not None,
        "errors": errors or {},
        "form": form,
    }
    page = render_template("account/two_factor.html", **context)
    return page, status or (422 if errors else 200)
