"""The control API for tests and demos, ``/_control/…``: play visitors and operators, move time.

No authentication: the stand-in only ever listens on loopback.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from . import inputs
from .desk_oauth import call_desk
from .errors import InputError
from .state import current_state
from .webhooks import replay, send_events

VISITOR_FIELDS = ("name", "email", "phone")
DESK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

blueprint = Blueprint("control", __name__, url_prefix="/_control")


@blueprint.post("/reset")
def reset() -> tuple[str, int]:
    """Back to the start: only the portal, the key pair and the first operator remain."""
    current_state().reset()
    return "", 204


@blueprint.post("/clock")
def set_clock() -> Response:
    """Stop the app's clock at ``now`` (ISO-8601 with offset)."""
    moment = inputs.aware_datetime(inputs.json_object(allowed=("now",)), "now")
    state = current_state()
    state.set_clock(moment)
    return jsonify({"now": state.now().isoformat()})


@blueprint.post("/operators")
def add_operator() -> tuple[Response, int]:
    """A new operator; answers their id and API token."""
    body = inputs.json_object(allowed=("email", "name"))
    email = _email(body, "email", required=True)
    operator = current_state().add_operator(email=email, name=inputs.text(body, "name"))
    return jsonify({"id": operator.id, "api_token": operator.api_token}), 201


@blueprint.post("/departments")
def add_department() -> tuple[Response, int]:
    """A new department (``department.created``)."""
    name = inputs.text(inputs.json_object(allowed=("name",)), "name")
    state = current_state()
    department, events = state.add_department(name)
    send_events(state, events)
    return jsonify(department), 201


@blueprint.patch("/departments/<department_id>")
def rename_department(department_id: str) -> Response:
    """Rename a department (``department.updated``)."""
    name = inputs.text(inputs.json_object(allowed=("name",)), "name")
    state = current_state()
    department, events = state.rename_department(department_id, name)
    send_events(state, events)
    return jsonify(department)


@blueprint.post("/chats")
def open_chat() -> tuple[Response, int]:
    """A visitor starts a chat: waiting, the question as its first message."""
    body = inputs.json_object(allowed=("department_id", "visitor", "question"))
    department_id = inputs.text(body, "department_id")
    visitor = _visitor(inputs.sub_object(body, "visitor"), partial=False, prefix="visitor.")
    question = inputs.text(body, "question", max_length=10_000)
    chat = current_state().open_chat(
        department_id=department_id, visitor=visitor, question=question
    )
    return jsonify(chat), 201


@blueprint.post("/chats/<chat_id>/attend")
def attend(chat_id: str) -> Response:
    """An operator answers a waiting chat (``conversation.attended``)."""
    operator_id = inputs.text(inputs.json_object(allowed=("operator_id",)), "operator_id")
    state = current_state()
    chat, events = state.attend(chat_id, operator_id)
    send_events(state, events)
    return jsonify(chat)


@blueprint.post("/chats/<chat_id>/messages")
def add_message(chat_id: str) -> Response:
    """A line from the visitor or from an operator (``operator_id``)."""
    body = inputs.json_object(allowed=("sender", "text", "operator_id"))
    sender = inputs.choice(body, "sender", ("visitor", "operator"))
    text = inputs.text(body, "text", max_length=10_000)
    operator_id = inputs.text(body, "operator_id", required=False) or None
    chat = current_state().add_message(chat_id, sender=sender, text=text, operator_id=operator_id)
    return jsonify(chat)


@blueprint.post("/chats/<chat_id>/end")
def end_chat(chat_id: str) -> Response:
    """End a chat: ``conversation.ended`` if answered, ``conversation.missed`` if not."""
    state = current_state()
    chat, events = state.end_chat(chat_id)
    send_events(state, events)
    return jsonify(chat)


@blueprint.post("/chats/<chat_id>/visitor")
def update_visitor(chat_id: str) -> Response:
    """Change the visitor's name, email or phone (``visitor.updated``)."""
    changes = _visitor(inputs.json_object(allowed=VISITOR_FIELDS), partial=True)
    if not changes:
        raise InputError("give at least one of: name, email, phone")
    state = current_state()
    chat, events = state.update_visitor(chat_id, changes)
    send_events(state, events)
    return jsonify(chat)


@blueprint.get("/deliveries")
def deliveries() -> Response:
    """Every webhook delivery, oldest first, with the exact body sent."""
    return jsonify({"data": current_state().list_deliveries()})


@blueprint.post("/deliveries/<int:index>/replay")
def replay_delivery(index: int) -> Response:
    """Send a recorded delivery again with the same body and signature."""
    state = current_state()
    new_index = replay(state, index)
    return jsonify(state.delivery(new_index).entity(new_index))


@blueprint.get("/state")
def state_snapshot() -> Response:
    """Everything the stand-in holds, as JSON."""
    return jsonify(current_state().snapshot())


@blueprint.post("/desk")
def desk_call() -> Response:
    """Call the desk's API with the stored bearer token, as the chat window would."""
    body = inputs.json_object(allowed=("method", "path", "query", "json"))
    method = inputs.choice(body, "method", DESK_METHODS)
    path = inputs.text(body, "path", max_length=2000)
    if not path.startswith("/"):
        raise InputError("path must start with /", field="path")
    query = _query(body)
    response = call_desk(current_state(), method, path, query=query, json=body.get("json"))
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    return jsonify({"status": response.status_code, "body": answer})


def _visitor(visitor: dict[str, Any], *, partial: bool, prefix: str = "") -> dict[str, str]:
    try:
        unknown = next((field for field in visitor if field not in VISITOR_FIELDS), None)
        if unknown is not None:
            raise InputError(f"unknown field {unknown!r}", field=unknown)
        fields = {
            "name": inputs.text(visitor, "name", required=False, allow_empty=True),
            "email": _email(visitor, "email", required=False),
            "phone": inputs.text(visitor, "phone", required=False, allow_empty=True),
        }
    except InputError as error:
        raise InputError(error.message, field=f"{prefix}{error.field}") from None
    return {field: value for field, value in fields.items() if not partial or field in visitor}


def _email(body: dict[str, Any], field: str, *, required: bool) -> str:
    value = inputs.text(body, field, required=required, allow_empty=not required)
    if value and "@" not in value.strip("@"):
        raise InputError(f"{field} must be an email address", field=field)
    return value


def _query(body: dict[str, Any]) -> dict[str, str] | None:
    query = body.get("query")
    if query is None:
        return None
    if not isinstance(query, dict) or not all(
        isinstance(value, str | int | float) for value in query.values()
    ):
        raise InputError("query must be an object of strings and numbers", field="query")
    return {name: str(value) for name, value in query.items()}
