"""An agent's own settings: personal access tokens for scripts calling the REST API."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core import tokens
from core.errors import ValidationFailed
from core.web.database import db_session
from core.web.security import current_agent, login_required
from hostapi import clock
from hostapi import scopes as scope_names

blueprint = Blueprint("settings", __name__, url_prefix="/settings")

#: Lifetimes offered in the form, in days; 0 means the token does not expire.
LIFETIME_DAYS = (30, 90, 365, 0)


@blueprint.get("/tokens")
@login_required
def token_list() -> ResponseReturnValue:
    """The agent's personal access tokens and the form to create one."""
    return _render()


@blueprint.post("/tokens")
@login_required
def create_token() -> ResponseReturnValue:
    """Create a token and show its value once; it is stored only hashed."""
    agent = current_agent()
    assert agent is not None  # login_required
    session = db_session()
    days = request.form.get("lifetime_days", "90")
    try:
        lifetime = int(days)
        if lifetime not in LIFETIME_DAYS:
            raise ValueError(days)
    except ValueError:
        return _render(form_errors={"lifetime_days": ["Choose one of the lifetimes offered."]})
    try:
        _token, plaintext = tokens.create_personal_token(
            session,
            agent,
            request.form.get("name", ""),
            request.form.getlist("scopes"),
            expires_at=clock.now() + timedelta(days=lifetime) if lifetime else None,
            ip_address=request.remote_addr,
        )
    except ValidationFailed as error:
        session.rollback()
        return _render(form_errors=error.errors)
    session.commit()
    return _render(new_token=plaintext)


@blueprint.post("/tokens/<id:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of the agent's tokens; scripts using it get 401 from then on."""
    agent = current_agent()
    assert agent is not None  # login_required
    session = db_session()
    tokens.revoke(
        session,
        tokens.get_personal_token(session, agent, token_id),
        by=agent,
        ip_address=request.remote_addr,
    )
    session.commit()
    return redirect(url_for("settings.token_list"))


def _render(
    *, new_token: str | None = None, form_errors: dict[str, list[str]] | None = None
) -> ResponseReturnValue:
    agent = current_agent()
    assert agent is not None  # login_required
    page = render_template(
        "settings/tokens.html",
        tokens=tokens.personal_tokens(db_session(), agent),
        is_expired=tokens.is_expired,
        scopes=scope_names.ALL,
        host_scopes={
            name: labels
            for name, labels in tokens.host_scopes_for(agent).items()
            if name == tokens.MAIL_INGEST_SCOPE
        },
        setup_scopes={
            name: labels
            for name, labels in tokens.host_scopes_for(agent).items()
            if name == tokens.SETTINGS_WRITE_SCOPE
        },
        lifetimes=LIFETIME_DAYS,
        new_token=new_token,
        form_errors=form_errors or {},
    )
    return page, 422 if form_errors else 200
