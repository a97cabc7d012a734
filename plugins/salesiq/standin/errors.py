"""The errors the stand-in answers with, each with its HTTP status and JSON shape."""

from __future__ import annotations

from typing import Any


class StandinError(Exception):
    """A refusal answered as ``{"error": message}`` (plus ``field`` when one is to blame)."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        if self.field is None:
            return {"error": self.message}
        return {"error": self.message, "field": self.field}


class InputError(StandinError):
    """A field of the request is missing, of the wrong type or names nothing known."""

    status_code = 422


class NotFoundError(StandinError):
    """The URL names a record that does not exist."""

    status_code = 404


class ConflictError(StandinError):
    """The record is not in a state that allows the change (a chat already ended…)."""

    status_code = 409


class ReadOnlyError(StandinError):
    """The record may not be changed here (an article synced from the desk)."""

    status_code = 403


class UnauthorizedError(StandinError):
    """No API token, or one that names no operator."""

    status_code = 401


class DeskUnavailableError(StandinError):
    """The desk could not be called: not linked, unreachable, or its token was not renewed."""

    status_code = 502
