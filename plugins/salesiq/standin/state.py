"""The stand-in's whole state, in memory behind one lock, and every change made to it.

Changes that the product announces return the :class:`~.model.Event` objects to send; the
caller sends them after the lock is released, because a receiver (the desk) may well call the
product back while it handles one.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from flask import current_app

from ..signatures import generate_key_pair
from .errors import ConflictError, InputError, NotFoundError, ReadOnlyError
from .model import (
    ATTENDED,
    ENDED,
    MISSED,
    WAITING,
    Article,
    Conversation,
    Delivery,
    Department,
    DeskIntegration,
    DeskTokens,
    Event,
    Message,
    Operator,
    PendingLink,
    Subscription,
    Visitor,
)

#: The key under ``app.extensions`` that holds the state.
EXTENSION_KEY = "salesiq_standin"

Clock = Callable[[], datetime]


def current_state() -> StandinState:
    """The state of the app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]


def epoch_ms(moment: datetime) -> int:
    """``moment`` in epoch milliseconds, the product's time format."""
    return int(moment.timestamp() * 1000)


def _real_now() -> datetime:
    return datetime.now(UTC)


class StandinState:
    """Portal, operators, departments, chats, articles, webhooks and the desk link."""

    def __init__(
        self, *, portal: str, operator_email: str, operator_name: str, clock: Clock | None = None
    ) -> None:
        self.portal = portal
        self.lock = threading.Lock()
        # Held while the desk's token is renewed, so that two calls do not both spend it.
        self.desk_token_lock = threading.Lock()
        keys = generate_key_pair()
        self.private_key_pem = keys.private_pem
        self.public_key_pem = keys.public_pem
        self._clock = clock or _real_now
        # Ids look like the product's (long strings of digits) and are never reused, not even
        # across resets, so a test cannot mistake a record of an earlier one for its own.
        self._ids = itertools.count(460000000001001)
        self.first_operator = Operator(
            id=self._new_id(),
            email=operator_email,
            name=operator_name,
            api_token=self._new_token(),
        )
        self._clear()

    def _clear(self) -> None:
        self._fixed_now: datetime | None = None
        self.operators: dict[str, Operator] = {self.first_operator.id: self.first_operator}
        self.departments: dict[str, Department] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.conversations: dict[str, Conversation] = {}
        self.articles: dict[str, Article] = {}
        self.deliveries: list[Delivery] = []
        self.desk_integration: DeskIntegration | None = None
        self.desk_tokens: DeskTokens | None = None
        self.pending_links: dict[str, PendingLink] = {}

    def _new_id(self) -> str:
        return str(next(self._ids))

    @staticmethod
    def _new_token() -> str:
        return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"

    # ------------------------------------------------------------------ clock and control

    def now(self) -> datetime:
        """The app's current time (aware, UTC)."""
        return self._fixed_now or self._clock()

    def now_ms(self) -> int:
        """The app's current time in epoch milliseconds."""
        return epoch_ms(self.now())

    def set_clock(self, moment: datetime) -> None:
        """Stop the clock at ``moment`` until it is set again or the state is reset."""
        with self.lock:
            self._fixed_now = moment.astimezone(UTC)

    def reset(self) -> None:
        """Forget everything but the portal, the key pair and the first operator (and its token)."""
        with self.lock:
            self._clear()

    def snapshot(self) -> dict[str, Any]:
        """Everything, as JSON, for tests to assert on."""
        with self.lock:
            return {
                "portal": self.portal,
                "now": self.now().isoformat(),
                "public_key": self.public_key_pem,
                "operators": [asdict(operator) for operator in self.operators.values()],
                "departments": [asdict(department) for department in self.departments.values()],
                "webhooks": [asdict(subscription) for subscription in self.subscriptions.values()],
                "conversations": [asdict(chat) for chat in self.conversations.values()],
                "articles": [article.entity() for article in self.articles.values()],
                "desk_integration": self.desk_integration and asdict(self.desk_integration),
                "desk_tokens": self.desk_tokens and asdict(self.desk_tokens),
                "deliveries": [
                    delivery.entity(index) for index, delivery in enumerate(self.deliveries)
                ],
            }

    # ------------------------------------------------------------------ operators

    def operator_for_token(self, api_token: str) -> Operator | None:
        """The operator whose API token this is."""
        with self.lock:
            for operator in self.operators.values():
                if secrets.compare_digest(operator.api_token, api_token):
                    return operator
            return None

    def add_operator(self, *, email: str, name: str) -> Operator:
        """A new operator with an API token of their own."""
        with self.lock:
            operator = Operator(
                id=self._new_id(), email=email, name=name, api_token=self._new_token()
            )
            self.operators[operator.id] = operator
            return operator

    # ------------------------------------------------------------------ departments

    def list_departments(self) -> list[dict[str, Any]]:
        """Every department, as the API shows it."""
        with self.lock:
            return [department.entity() for department in self.departments.values()]

    def add_department(self, name: str) -> tuple[dict[str, Any], list[Event]]:
        """A new department (announced as ``department.created``)."""
        with self.lock:
            department = Department(id=self._new_id(), name=name)
            self.departments[department.id] = department
            entity = department.entity()
            return entity, [self._event("department.created", "department", entity)]

    def rename_department(
        self, department_id: str, name: str
    ) -> tuple[dict[str, Any], list[Event]]:
        """Rename a department (announced as ``department.updated``)."""
        with self.lock:
            department = self._department(department_id)
            department.name = name
            entity = department.entity()
            return entity, [self._event("department.updated", "department", entity)]

    def _department(self, department_id: str) -> Department:
        try:
            return self.departments[department_id]
        except KeyError:
            raise NotFoundError("no such department") from None

    def _check_department(self, department_id: str) -> None:
        if department_id not in self.departments:
            raise InputError("department_id names no department", field="department_id")

    # ------------------------------------------------------------------ webhook subscriptions

    def subscribe(self, url: str, events: list[str]) -> dict[str, Any]:
        """A new webhook subscription."""
        with self.lock:
            subscription = Subscription(id=self._new_id(), url=url, events=events)
            self.subscriptions[subscription.id] = subscription
            return subscription.entity()

    def list_subscriptions(self) -> list[dict[str, Any]]:
        """Every webhook subscription."""
        with self.lock:
            return [subscription.entity() for subscription in self.subscriptions.values()]

    def unsubscribe(self, subscription_id: str) -> None:
        """Delete a webhook subscription."""
        with self.lock:
            if self.subscriptions.pop(subscription_id, None) is None:
                raise NotFoundError("no such webhook")

    def _event(self, name: str, entity_type: str, entity: dict[str, Any]) -> Event:
        payload = {
            "event": name,
            "event_id": str(uuid.uuid4()),
            "event_time": self.now_ms(),
            "portal": self.portal,
            "entity_type": entity_type,
            "entity": entity,
        }
        urls = tuple(
            subscription.url
            for subscription in self.subscriptions.values()
            if name in subscription.events
        )
        return Event(name=name, payload=payload, urls=urls)

    # ------------------------------------------------------------------ deliveries

    def record_delivery(self, delivery: Delivery) -> int:
        """Keep a delivery; its index in the list."""
        with self.lock:
            self.deliveries.append(delivery)
            return len(self.deliveries) - 1

    def delivery(self, index: int) -> Delivery:
        """The delivery at ``index``."""
        with self.lock:
            if not 0 <= index < len(self.deliveries):
                raise NotFoundError("no such delivery")
            return self.deliveries[index]

    def list_deliveries(self) -> list[dict[str, Any]]:
        """Every delivery, oldest first."""
        with self.lock:
            return [delivery.entity(index) for index, delivery in enumerate(self.deliveries)]

    # ------------------------------------------------------------------ conversations

    def open_chat(
        self, *, department_id: str, visitor: dict[str, str], question: str
    ) -> dict[str, Any]:
        """A visitor's new chat, waiting, with the question as its first message."""
        with self.lock:
            self._check_department(department_id)
            now = self.now_ms()
            chat = Conversation(
                id=self._new_id(),
                department_id=department_id,
                visitor=Visitor(id=self._new_id(), **visitor),
                question=question,
                status=WAITING,
                start_time=now,
            )
            chat.messages.append(
                Message(
                    id=self._new_id(), sender="visitor", operator_id=None, text=question, time=now
                )
            )
            self.conversations[chat.id] = chat
            return self._chat_entity(chat)

    def attend(self, chat_id: str, operator_id: str) -> tuple[dict[str, Any], list[Event]]:
        """An operator answers a waiting chat (``conversation.attended``)."""
        with self.lock:
            chat = self._chat(chat_id)
            self._check_operator(operator_id)
            if chat.status != WAITING:
                raise ConflictError(f"the chat is {chat.status}, not waiting")
            chat.status = ATTENDED
            chat.attended_by = operator_id
            chat.attended_time = self.now_ms()
            return self._announce_chat("conversation.attended", chat)

    def add_message(
        self, chat_id: str, *, sender: str, text: str, operator_id: str | None
    ) -> dict[str, Any]:
        """A line of a chat under way; an operator's only once the chat is attended."""
        with self.lock:
            chat = self._chat(chat_id)
            if chat.status not in (WAITING, ATTENDED):
                raise ConflictError(f"the chat is {chat.status}")
            if sender == "operator":
                if operator_id is None:
                    raise InputError("an operator's message needs operator_id", field="operator_id")
                self._check_operator(operator_id)
                if chat.status != ATTENDED:
                    raise ConflictError("an operator must attend the chat before writing in it")
            else:
                operator_id = None
            chat.messages.append(
                Message(
                    id=self._new_id(),
                    sender=sender,
                    operator_id=operator_id,
                    text=text,
                    time=self.now_ms(),
                )
            )
            return self._chat_entity(chat)

    def end_chat(self, chat_id: str) -> tuple[dict[str, Any], list[Event]]:
        """End a chat: attended → ended (``conversation.ended``), waiting → missed."""
        with self.lock:
            chat = self._chat(chat_id)
            if chat.status not in (WAITING, ATTENDED):
                raise ConflictError(f"the chat is already {chat.status}")
            chat.end_time = self.now_ms()
            if chat.status == WAITING:
                chat.status = MISSED
                return self._announce_chat("conversation.missed", chat)
            chat.status = ENDED
            return self._announce_chat("conversation.ended", chat)

    def update_visitor(
        self, chat_id: str, changes: dict[str, str]
    ) -> tuple[dict[str, Any], list[Event]]:
        """Change what is known of a chat's visitor (``visitor.updated``)."""
        with self.lock:
            chat = self._chat(chat_id)
            for name, value in changes.items():
                setattr(chat.visitor, name, value)
            entity = {"conversation_id": chat.id, "visitor": chat.visitor.entity()}
            return self._chat_entity(chat), [self._event("visitor.updated", "visitor", entity)]

    def _chat(self, chat_id: str) -> Conversation:
        try:
            return self.conversations[chat_id]
        except KeyError:
            raise NotFoundError("no such chat") from None

    def _check_operator(self, operator_id: str) -> None:
        if operator_id not in self.operators:
            raise InputError("operator_id names no operator", field="operator_id")

    def _announce_chat(self, name: str, chat: Conversation) -> tuple[dict[str, Any], list[Event]]:
        entity = self._chat_entity(chat)
        return entity, [self._event(name, "conversation", entity)]

    def _operator_entity(self, operator_id: str | None) -> dict[str, Any] | None:
        return None if operator_id is None else self.operators[operator_id].entity()

    def _chat_entity(self, chat: Conversation) -> dict[str, Any]:
        return {
            "id": chat.id,
            "department": self.departments[chat.department_id].entity(),
            "visitor": chat.visitor.entity(),
            "question": chat.question,
            "status": chat.status,
            "attended_by": self._operator_entity(chat.attended_by),
            "start_time": chat.start_time,
            "attended_time": chat.attended_time,
            "end_time": chat.end_time,
            "messages": [
                {
                    "id": message.id,
                    "sender": message.sender,
                    "operator": self._operator_entity(message.operator_id),
                    "text": message.text,
                    "time": message.time,
                }
                for message in chat.messages
            ],
        }

    # ------------------------------------------------------------------ articles

    def list_articles(self) -> list[dict[str, Any]]:
        """Every article, synced or not."""
        with self.lock:
            return [article.entity() for article in self.articles.values()]

    def upsert_synced_article(
        self, external_id: str, fields: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Create or replace the article the desk syncs as ``external_id``; and whether new."""
        with self.lock:
            self._check_department(fields["department_id"])
            article = self._synced_article(external_id)
            created = article is None
            if article is None:
                article = Article(
                    id=self._new_id(),
                    external_id=external_id,
                    synced=True,
                    updated_time=self.now_ms(),
                    **fields,
                )
                self.articles[article.id] = article
            else:
                self._change_article(article, fields)
            return article.entity(), created

    def delete_synced_article(self, external_id: str) -> None:
        """Delete the article the desk synced as ``external_id``."""
        with self.lock:
            article = self._synced_article(external_id)
            if article is None:
                raise NotFoundError("no article synced with that external id")
            del self.articles[article.id]

    def create_own_article(self, fields: dict[str, Any]) -> dict[str, Any]:
        """An article an operator writes in the product."""
        with self.lock:
            self._check_department(fields["department_id"])
            article = Article(
                id=self._new_id(),
                external_id=None,
                synced=False,
                updated_time=self.now_ms(),
                **fields,
            )
            self.articles[article.id] = article
            return article.entity()

    def edit_own_article(self, article_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """An operator's edit of an article; refused for one synced from the desk."""
        with self.lock:
            article = self._editable_article(article_id)
            if "department_id" in changes:
                self._check_department(changes["department_id"])
            self._change_article(article, changes)
            return article.entity()

    def delete_own_article(self, article_id: str) -> None:
        """An operator deletes an article; refused for one synced from the desk."""
        with self.lock:
            article = self._editable_article(article_id)
            del self.articles[article.id]

    def _synced_article(self, external_id: str) -> Article | None:
        for article in self.articles.values():
            if article.synced and article.external_id == external_id:
                return article
        return None

    def _editable_article(self, article_id: str) -> Article:
        article = self.articles.get(article_id)
        if article is None:
            raise NotFoundError("no such article")
        if article.synced:
            raise ReadOnlyError("articles synced from the desk are read-only here")
        return article

    def _change_article(self, article: Article, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(article, name, value)
        article.updated_time = self.now_ms()

    # ------------------------------------------------------------------ the desk link

    def register_desk(self, integration: DeskIntegration) -> None:
        """Keep how to reach the desk; a different client or desk forgets the old tokens."""
        with self.lock:
            previous = self.desk_integration
            if previous is None or (previous.client_id, previous.api_base) != (
                integration.client_id,
                integration.api_base,
            ):
                self.desk_tokens = None
                self.pending_links.clear()
            self.desk_integration = integration

    def forget_desk(self) -> None:
        """Forget the desk integration and every token it granted."""
        with self.lock:
            self.desk_integration = None
            self.desk_tokens = None
            self.pending_links.clear()

    def integration(self) -> DeskIntegration | None:
        """How to reach the desk, if it was registered."""
        with self.lock:
            return self.desk_integration

    def start_link(self, state: str, pending: PendingLink) -> None:
        """Remember an authorisation sent to the desk under its ``state``."""
        with self.lock:
            self.pending_links[state] = pending

    def finish_link(self, state: str) -> PendingLink | None:
        """The authorisation sent under ``state``, forgotten as it is used."""
        with self.lock:
            return self.pending_links.pop(state, None)

    def tokens(self) -> DeskTokens | None:
        """The desk's current tokens, if linked."""
        with self.lock:
            return self.desk_tokens

    def store_tokens(self, tokens: DeskTokens) -> None:
        """Keep the tokens the desk granted."""
        with self.lock:
            self.desk_tokens = tokens
