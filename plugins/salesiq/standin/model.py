"""The stand-in's records, and the JSON shapes the product shows them in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Every webhook event the product sends, by name.
EVENTS = (
    "conversation.attended",
    "conversation.missed",
    "conversation.ended",
    "department.created",
    "department.updated",
    "visitor.updated",
)

WAITING = "waiting"
ATTENDED = "attended"
MISSED = "missed"
ENDED = "ended"

VISIBILITIES = ("all", "registered")
ARTICLE_STATUSES = ("published", "draft")


@dataclass
class Operator:
    """A person answering chats; ``api_token`` authenticates their REST calls."""

    id: str
    email: str
    name: str
    api_token: str

    def entity(self) -> dict[str, Any]:
        """As the API and webhooks show it (never with its token)."""
        return {"id": self.id, "email": self.email, "name": self.name}


@dataclass
class Department:
    """A group of operators; every chat and article belongs to one."""

    id: str
    name: str

    def entity(self) -> dict[str, Any]:
        """As the API and webhooks show it."""
        return {"id": self.id, "name": self.name}


@dataclass
class Subscription:
    """A webhook: the events posted to ``url``."""

    id: str
    url: str
    events: list[str]

    def entity(self) -> dict[str, Any]:
        """As the API shows it."""
        return {"id": self.id, "url": self.url, "events": list(self.events)}


@dataclass
class Visitor:
    """The person chatting; ``email`` and ``phone`` are empty when unknown."""

    id: str
    name: str
    email: str
    phone: str

    def entity(self) -> dict[str, Any]:
        """As webhooks show it."""
        return {"id": self.id, "name": self.name, "email": self.email, "phone": self.phone}


@dataclass
class Message:
    """One line of a chat; ``operator_id`` is set for an operator's lines only."""

    id: str
    sender: str
    operator_id: str | None
    text: str
    time: int


@dataclass
class Conversation:
    """A chat: waiting → attended → ended, or waiting → missed. Times are epoch milliseconds."""

    id: str
    department_id: str
    visitor: Visitor
    question: str
    status: str
    start_time: int
    attended_by: str | None = None
    attended_time: int | None = None
    end_time: int | None = None
    messages: list[Message] = field(default_factory=list)


@dataclass
class Article:
    """A knowledge-base article; ``synced`` ones come from the desk and are read-only here."""

    id: str
    external_id: str | None
    title: str
    content: str
    department_id: str
    visibility: str
    status: str
    tags: list[str]
    synced: bool
    updated_time: int

    def entity(self) -> dict[str, Any]:
        """As the API shows it."""
        return {
            "id": self.id,
            "external_id": self.external_id,
            "title": self.title,
            "content": self.content,
            "department_id": self.department_id,
            "visibility": self.visibility,
            "status": self.status,
            "tags": list(self.tags),
            "synced": self.synced,
            "updated_time": self.updated_time,
        }


@dataclass
class DeskIntegration:
    """How the product reaches the desk as its OAuth client."""

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    api_base: str
    scope: str
    return_url: str


@dataclass
class DeskTokens:
    """The tokens the desk granted; ``expires_time`` (epoch ms) is ``None`` when never."""

    access_token: str
    refresh_token: str | None
    expires_time: int | None


@dataclass
class PendingLink:
    """A desk authorisation under way: the PKCE verifier and the redirect URI it was sent with."""

    code_verifier: str
    redirect_uri: str


@dataclass
class Delivery:
    """One POST of a webhook event: what was sent where, and what came of it."""

    event_id: str
    event: str
    url: str
    body: bytes
    signature: str
    status_code: int | None
    error: str | None
    replay_of: int | None = None

    def entity(self, index: int) -> dict[str, Any]:
        """As the control API shows it; ``body`` is the exact text sent."""
        return {
            "index": index,
            "event_id": self.event_id,
            "event": self.event,
            "url": self.url,
            "status_code": self.status_code,
            "error": self.error,
            "body": self.body.decode("utf-8"),
            "signature": self.signature,
            "replay_of": self.replay_of,
        }


@dataclass(frozen=True)
class Event:
    """A webhook event ready to send: its full JSON payload and the URLs subscribed to it."""

    name: str
    payload: dict[str, Any]
    urls: tuple[str, ...]
