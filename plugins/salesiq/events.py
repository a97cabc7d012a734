"""The product's webhook (``/hooks/salesiq/<installation id>/events``) and the job that
applies what it stored.

A delivery is answered only after it is checked and stored: 404 when no account is linked,
401 without a signature the linked account's key verifies (RSA-SHA256 over the body, base64,
in ``x-siqsignature``), 503 while the integration is disabled or needs a new link (the
product delivers again later), 400 for a body that is not an event, 422 for a chat of a
department the desk does not know; none of them stores anything. An event delivered again is
stored once (the product's ``event_id``). A department's event is applied at once; the job
applies the others in the order they arrived, one installation's at a time, each on its own:
one that fails is recorded with its reason and the others go on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Request, Response, jsonify
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hostapi import Context, Webhook
from plugins.salesiq import chats, departments, link, payloads, signatures
from plugins.salesiq.models import InboundEvent, Link

log = logging.getLogger(__name__)

#: The job applying stored events.
PROCESS_JOB = "process_events"
#: Events applied per run; a run that leaves more asks for another.
BATCH = 200


def webhook() -> Webhook:
    """The one webhook the product posts every event to."""
    return Webhook(name="events", handle=receive)


def webhook_url(host_url: str, installation_id: int) -> str:
    """Where the product delivers the installation's events."""
    return f"{host_url.rstrip('/')}/hooks/salesiq/{installation_id}/events"


def receive(context: Context, request: Request) -> Response:
    """Check one delivery, store its event once and ask for it to be applied."""
    linked = link.current(context)
    if linked is None:
        return _answer(404, error="no chat account is linked")
    body = request.get_data(cache=False)
    if not signatures.verify(
        body, request.headers.get(signatures.SIGNATURE_HEADER), linked.public_key
    ):
        return _answer(401, error="the signature does not verify with the account's key")
    if linked.state != link.ACTIVE:
        return _answer(503, error="the integration is not active")
    try:
        event = payloads.envelope(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        return _answer(400, error="the body is not JSON")
    except ma.ValidationError as error:
        return _answer(400, error="the body is not an event", errors=error.messages)
    problem = _unknown_reference(context, event)
    if problem is not None:
        return _answer(422, error=problem[1], errors={problem[0]: [problem[1]]})
    stored = _stored_once(context, event)
    if stored is None:
        return _answer(200, received=event["event_id"], duplicate=True)
    if event["event"] in payloads.DEPARTMENT_EVENTS:
        # Applied at once (the extension's own rows only), so that a chat of a department
        # created just before is known when it arrives.
        stored.outcome, stored.processed_at = _apply(context, stored), context.now()
    else:
        context.enqueue(PROCESS_JOB)
    return _answer(200, received=event["event_id"])


def run(context: Context, payload: Mapping[str, Any]) -> None:
    """Apply the installation's waiting events, oldest first (the job)."""
    # The link's row lock keeps two runs of one installation from applying one chat twice.
    linked = context.db.get(Link, context.installation_id, with_for_update=True)
    if not link.works(context, linked):
        return  # kept waiting: applied once the integration runs again
    waiting = list(
        context.db.scalars(
            select(InboundEvent)
            .where(
                InboundEvent.installation_id == context.installation_id,
                InboundEvent.processed_at.is_(None),
            )
            .order_by(InboundEvent.id)
            .limit(BATCH)
        )
    )
    for event in waiting:
        event.outcome = _applied(context, event)[:300]
        event.processed_at = context.now()
    if len(waiting) == BATCH:
        context.enqueue(PROCESS_JOB)


def _applied(context: Context, event: InboundEvent) -> str:
    savepoint = context.db.begin_nested()
    try:
        outcome = _apply(context, event)
    except Exception as error:  # one bad event must not hold up the others
        savepoint.rollback()
        log.warning("salesiq event %s failed", event.event_id, exc_info=True)
        return f"failed: {error}"
    savepoint.commit()
    return outcome


def _apply(context: Context, event: InboundEvent) -> str:
    entity = payloads.entity(event.payload)
    if event.event in payloads.DEPARTMENT_EVENTS:
        departments.arrived(context, entity["id"], entity["name"])
        return "department recorded"
    if event.event == payloads.VISITOR_UPDATED:
        chat = chats.find(context, entity["conversation_id"])
        if chat is None:
            return "unknown chat"
        chats.visitor_changed(context, chat, entity["visitor"])
        return "visitor updated"
    described_at = payloads.entity_time(event.payload)
    chat = chats.arrived(context, entity, described_at)
    return chats.apply_rule(context, chat, event.event)


def _unknown_reference(context: Context, event: dict[str, Any]) -> tuple[str, str] | None:
    """The field and message of a chat's department the desk does not know, if any."""
    if event["event"] in payloads.CONVERSATION_EVENTS:
        chat_department_id = event["entity"]["department"]["id"]
        if departments.find(context, str(chat_department_id)) is None:
            return "entity.department.id", f"unknown department {chat_department_id}"
    return None


def _stored_once(context: Context, event: dict[str, Any]) -> InboundEvent | None:
    """Store the event unless it was stored before (``None``)."""
    savepoint = context.db.begin_nested()
    try:
        stored = InboundEvent(
            installation_id=context.installation_id,
            event_id=event["event_id"],
            event=event["event"],
            received_at=context.now(),
            payload={key: event[key] for key in ("event", "event_id", "entity")}
            | {"event_time": int(event["event_time"].timestamp() * 1000)},
            outcome="",
        )
        context.db.add(stored)
        context.db.flush()
    except IntegrityError:
        savepoint.rollback()
        return None
    savepoint.commit()
    return stored


def _answer(status: int, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response
