"""The service unit of a UI request (the request's session, acting as the signed-in agent), and
how a form's change through it is committed or refused."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request

from core.errors import ValidationFailed
from core.services.base import Actor, Unit
from core.web.database import db_session
from core.web.security import current_agent


def request_unit() -> Unit:
    """A unit acting as the signed-in agent, from the request's IP (views require login)."""
    agent = current_agent()
    if agent is None:
        raise RuntimeError("request_unit() needs a signed-in agent (use @login_required)")
    return Unit(
        session=db_session(),
        actor=Actor(agent, ip_address=request.remote_addr),
        host=current_app.extensions["deskhost.host"],
    )


def committed_or_errors(change: Callable[[], object]) -> dict[str, list[str]]:
    """Run a form's change through the services and commit it; when a service refuses it, roll
    the whole change back and return the fields' messages for the form to show again (422)."""
    try:
        change()
    except ValidationFailed as failure:
        db_session().rollback()
        return failure.errors
    db_session().commit()
    return {}
