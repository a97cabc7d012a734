"""Signing in and out with an email and a password."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from core.services import org
from core.web import security
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
    agent = org.authenticate(db_session(), email, password)
    if agent is None:
        error = gettext("The email address or password is incorrect.")
        return (
            render_template("auth/login.html", next_url=next_url, email=email, error=error),
            401,
        )
    security.login_agent(agent)
    return redirect(next_url)


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session and go back to the sign-in page."""
    security.logout()
    return redirect(url_for("auth.login"))
