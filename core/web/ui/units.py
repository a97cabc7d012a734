"""The service unit of a UI request: the request's session, acting as the signed-in agent."""

from __future__ import annotations

from flask import current_app, request

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
