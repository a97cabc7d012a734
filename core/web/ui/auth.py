"""Signing in and out with an email and a password, and a second factor where there is one.

Attempts are counted per account and per client address before the password is checked, and
a successful one is taken back (:mod:`core.web.throttle`): past a limit the form answers 429
with a wait.

**Two steps.** When the password is right and the agent signs in with two-factor, the session
only remembers that a second step is due (:func:`begin_second_step`): who, their session
generation and when. That half-signed-in session is not a signed-in one — every page and API
call still sees nobody — until the code of their authenticator app or a recovery code is
given on ``/login/two-factor``; each code given counts on the same throttle as a password. An
agent whose profile requires two-factor but who has none yet is sent to enrolment the same
way (:mod:`core.web.ui.two_factor`), and signed in once it is done. A half-signed-in session
lasts :data:`SECOND_STEP_SECONDS`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, ngettext

from core.models import Agent
from core.services import org, two_factor
from core.services.base import Actor, Unit
from core.web import security, throttle
from core.web.database import db_session
from hostapi import clock

blueprint = Blueprint("auth", __name__)

#: How long the second step may wait after the password (then the password is asked again).
SECOND_STEP_SECONDS = 600
#: The session key of a half-signed-in session.
_PENDING_KEY = "two_factor_pending"
#: What the second step is: a code of an enrolled agent, or enrolment itself.
CODE_STEP = "code"
ENROL_STEP = "enrol"


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the sign-in form; on a right email and password, start the session (or its second
    step)."""
    next_url = security.safe_next_url(request.values.get("next"), url_for("tickets.index"))
    if request.method == "GET":
        if security.current_agent() is not None:
            return redirect(next_url)
        return render_template("auth/login.html", next_url=next_url, email="", error=None)
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    wait_seconds = throttle.sign_in_attempt(email)
    if wait_seconds is not None:
        page = render_template(
            "auth/login.html", next_url=next_url, email=email, error=_wait_message(wait_seconds)
        )
        return page, 429, {"Retry-After": str(wait_seconds)}
    agent = org.authenticate(db_session(), email, password)
    if agent is None:
        error = gettext("The email address or password is incorrect.")
        return (
            render_template("auth/login.html", next_url=next_url, email=email, error=error),
            401,
        )
    if two_factor.is_enabled(db_session(), agent.id):
        begin_second_step(agent, CODE_STEP, next_url)
        throttle.sign_in_attempt_forgiven(email)
        return redirect(url_for("auth.second_step"))
    if two_factor.must_enrol(db_session(), agent):
        begin_second_step(agent, ENROL_STEP, next_url)
        throttle.sign_in_attempt_forgiven(email)
        return redirect(url_for("two_factor.settings"))
    return finish_sign_in(agent, next_url)


@blueprint.route("/login/two-factor", methods=["GET", "POST"])
def second_step() -> ResponseReturnValue:
    """Ask a half-signed-in agent for their authenticator's code (or a recovery code)."""
    pending = pending_agent(CODE_STEP)
    if pending is None:
        return redirect(url_for("auth.login"))
    agent, next_url = pending
    if request.method == "GET":
        return render_template("auth/two_factor.html", error=None)
    wait_seconds = throttle.sign_in_attempt(agent.email)
    if wait_seconds is not None:
        page = render_template("auth/two_factor.html", error=_wait_message(wait_seconds))
        return page, 429, {"Retry-After": str(wait_seconds)}
    work = Unit(
        session=db_session(),
        actor=Actor(agent, ip_address=request.remote_addr),
        host=current_app.extensions["deskhost.host"],
    )
    accepted = two_factor.verify_sign_in(work, agent, request.form.get("code", ""))
    db_session().commit()
    if not accepted:
        error = gettext("The code is not right, or it was already used.")
        return render_template("auth/two_factor.html", error=error), 401
    return finish_sign_in(agent, next_url)


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session and go back to the sign-in page."""
    security.logout()
    return redirect(url_for("auth.login"))


# ------------------------------------------------------------------------------- the two steps


def begin_second_step(agent: Agent, step: str, next_url: str) -> None:
    """Remember in a fresh session that ``agent`` gave the right password and ``step`` is due."""
    session.clear()
    session[_PENDING_KEY] = {
        "agent_id": agent.id,
        "generation": agent.session_generation,
        "step": step,
        "since": int(clock.now().timestamp()),
        "next": next_url,
    }


def pending_agent(step: str) -> tuple[Agent, str] | None:
    """The half-signed-in agent waiting for ``step`` and where to go after it, if any.

    Nobody when the wait is over, the agent was deactivated, or their sessions were ended
    (an admin's reset, a password change) since the password step.
    """
    pending: Any = session.get(_PENDING_KEY)
    if not isinstance(pending, dict) or pending.get("step") != step:
        return None
    agent_id, since = pending.get("agent_id"), pending.get("since")
    if not isinstance(agent_id, int) or not isinstance(since, int):
        return None
    if clock.now().timestamp() - since > SECOND_STEP_SECONDS:
        return None
    agent = db_session().get(Agent, agent_id)
    if agent is None or not agent.is_active:
        return None
    if pending.get("generation") != agent.session_generation:
        return None
    next_url = security.safe_next_url(pending.get("next"), url_for("tickets.index"))
    return agent, next_url


def finish_sign_in(agent: Agent, next_url: str) -> ResponseReturnValue:
    """Start ``agent``'s session (the half-signed-in state goes with the old one) and go on."""
    security.login_agent(agent)
    response = redirect(next_url)
    throttle.sign_in_succeeded(agent.email, response)
    return response


def _wait_message(wait_seconds: int) -> str:
    minutes = (wait_seconds + 59) // 60
    return ngettext(
        "Too many failed sign-in attempts. Try again in %(num)d minute.",
        "Too many failed sign-in attempts. Try again in %(num)d minutes.",
        minutes,
    )
