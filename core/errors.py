"""Errors services raise; web and API layers turn them into HTTP answers, the CLI into exit 2."""

from __future__ import annotations

from typing import Any


class Message(str):
    """A validation message whose text has values in it ("At most 200 characters."), which also
    keeps its msgid ("At most %(count)d characters.") and the values, so a page can show it in
    its reader's language (``core.web.ui.labels.message_text``). It is the English text
    everywhere else: in comparisons, logs, JSON. Messages without values stay plain strings:
    their text is their msgid. Mark each msgid for extraction by calling ``Message`` with it.
    """

    msgid: str
    values: dict[str, Any]

    def __new__(cls, msgid: str, **values: Any) -> Message:
        message = super().__new__(cls, msgid % values if values else msgid)
        message.msgid = msgid
        message.values = values
        return message


class DeskError(Exception):
    """Base of the errors deskhost reports to users."""

    status_code = 400


class ValidationFailed(DeskError):
    """Input was refused; ``errors`` maps each field to its messages (HTTP 422)."""

    status_code = 422

    def __init__(self, errors: dict[str, list[str]] | str, field: str | None = None) -> None:
        if isinstance(errors, str):
            errors = {field or "_schema": [errors]}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class NotFound(DeskError):
    """The record does not exist or is outside what the actor may see (HTTP 404)."""

    status_code = 404


class Forbidden(DeskError):
    """The actor may see the record but lacks the permission for the action (HTTP 403)."""

    status_code = 403

    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__(f"missing permission {permission!r}")


class Conflict(DeskError):
    """The change conflicts with the current state (HTTP 409)."""

    status_code = 409
