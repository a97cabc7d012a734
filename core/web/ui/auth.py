"""Signing in and out with an email and a password.

Attempts are counted per account and per client address before the password is checked, and
a successful one is taken back (:mod:`core.web.throttle`): past a limit the form answers 429
with a wait.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, ngettext

from core.services import org
from core.web import security, throttle
from core.web.database import db_session

blueprint = Blueprint("auth", __name__)


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the sign-in form; on a right email and password, start the session."""
    next_url = security.safe_next_url(request.values.get("next"), url_for("tickets.index"))
    if request.method == "GET":
        if security.current_agent() is not None:
            return redirect(next_url)
        return render_template("auth/login.html", next_url=next_url, email="", error=None)
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    wait_seconds = throttle.sign_in_attempt(email)
    if wait_seconds is not None:
        minutes = (wait_seconds + 59) // 60
        error = ngettext(
            "Too many failed sign-in attempts. Try again in %(num)d minute.",
            "Too many failed sign-in attempts. Try again in %(num)d minutes.",
            minutes,
        )
        page = render_template("auth/login.html", next_url=next_url, email=email, error=error)
        return page, 429, {"Retry-After": str(wait_seconds)}
    agent = org.authenticate(db_session(), email, password)
    if agent is None:
        error = gettext("The email address or password is incorrect.")
        return (
            render_template("auth/login.html", next_url=next_url, email=email, error=error),
            401,
        )
    security.login_agent(agent)
    response = redirect(next_url)
    throttle.sign_in_succeeded(email, response)
    return response


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session and go back to the sign-in page."""
    security.logout()
    return redirect(url_for("auth.login"))
