"""A desk with IM Dashboard installed for the IM tests: channel accounts of each channel in
the "Support" department, agents, and helpers to deliver signed webhooks, let the job worker
file them, and act on chats through REST as an agent.

Use it with ``pytest_plugins = ["tests.api_fixtures", "tests.im_desk"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import worker
from core.host import Host
from core.models import Agent, Department, Installation
from core.models.org import AgentStatus
from hostapi import clock, scopes
from plugins.im_dashboard import accounts, intake
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.models import Chat, ChatActivity, ChatMessage
from tests.factories import install_for
from tests.im_payloads import CREDENTIALS, Delivery, delivery

#: When the tests' clock starts: a Monday, 10:00 in Tokyo.
START = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


@dataclass
class Desk:
    """The installation, its accounts and agents, and what tests do with them."""

    db: Session
    host: Host
    client: FlaskClient
    installation: Installation
    department: Department
    #: Each channel's account id.
    account_ids: dict[str, int]
    agents: dict[str, Agent]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def webhook_path(self, channel: str) -> str:
        """The webhook URL path of the channel's account."""
        return f"/hooks/im_dashboard/{self.installation.id}/{channel}/{self.account_ids[channel]}"

    def post(self, channel: str, sent: Delivery) -> int:
        """Post a signed delivery to the channel's webhook; its status code."""
        answer = self.client.post(
            self.webhook_path(channel),
            data=sent.body,
            headers=sent.headers,
            query_string=sent.query,
        )
        return answer.status_code

    def message(
        self,
        channel: str,
        *,
        key: int,
        user: str,
        text: str,
        at: datetime | None = None,
        name: str = "",
    ) -> int:
        """Deliver user ``user``'s text message (``key`` makes its platform ids)."""
        return self.post(
            channel,
            delivery(channel, key=key, user=user, text=text, at=at or clock.now(), name=name),
        )

    def work(self) -> None:
        """Let the job worker run everything due: a run filing the events stored (webhooks ask
        for one at most once a second), replies to send."""
        with self.host.transaction() as session:
            installation = session.get(Installation, self.installation.id)
            self.host.plugins.context_for(session, installation).enqueue(intake.DRAIN_JOB)
        worker.run(self.host, burst=True, with_scheduler=False)
        self.db.rollback()

    def api(self, method: str, path: str, agent: str = "alice", **kwargs: Any) -> Any:
        """Call the installation's REST endpoint ``path`` as ``agent``."""
        url = f"/api/v1/ext/im_dashboard/{self.installation.id}{path}"
        answer = self.client.open(url, method=method, headers=self.headers[agent], **kwargs)
        self.db.rollback()
        return answer

    def chats(self) -> list[Chat]:
        """The installation's chats, oldest first."""
        self.db.rollback()
        return list(
            self.db.scalars(
                select(Chat).where(Chat.installation_id == self.installation.id).order_by(Chat.id)
            )
        )

    def messages(self, chat: Chat) -> list[ChatMessage]:
        """A chat's messages in time order."""
        return list(
            self.db.scalars(
                select(ChatMessage)
                .where(ChatMessage.chat_id == chat.id)
                .order_by(ChatMessage.sent_at, ChatMessage.id)
            )
        )

    def activities(self, chat: Chat) -> list[tuple[str, int | None, str]]:
        """A chat's activities in time order: (kind, agent id, cause) each."""
        return [
            (row.kind, row.agent_id, row.cause)
            for row in self.db.scalars(
                select(ChatActivity)
                .where(ChatActivity.chat_id == chat.id)
                .order_by(ChatActivity.at, ChatActivity.id)
            )
        ]

    def set_status(self, agent: str, status: AgentStatus) -> None:
        """Set an agent's availability."""
        row = self.db.get(Agent, self.agents[agent].id)
        assert row is not None
        row.status = status.value
        self.db.commit()

    def set_setting(self, name: str, value: Any) -> None:
        """Change one of the installation's settings."""
        row = self.db.get(Installation, self.installation.id)
        assert row is not None
        row.settings = {**(row.settings or {}), name: value}
        self.db.commit()


@pytest.fixture
def frozen() -> Iterator[datetime]:
    """The clock frozen at ``START`` for the test (``clock.advance`` moves it)."""
    clock.freeze(START)
    yield START
    clock.unfreeze()


@pytest.fixture
def desk(
    db: Session,
    host: Host,
    client: FlaskClient,
    department: Department,
    make_agent: Callable[..., Agent],
    make_department: Callable[..., Department],
    bearer_for: Callable[..., dict[str, str]],
    frozen: datetime,
) -> Desk:
    """IM Dashboard installed for "Support", an account of each channel there, and agents:
    alice and bob (Support, available), carol (Support, away), and dave (another department
    only)."""
    intake.reset_requests()
    installation = install_for(db, host, "im_dashboard", [department.id])
    db.commit()
    context = host.plugins.context_for(db, installation)
    account_ids = {}
    for code, channel in CHANNELS.items():
        form = {"name": f"{channel.name} account", "department_id": str(department.id)}
        account_ids[code] = accounts.save(
            context, channel, {**form, **CREDENTIALS[code]}
        ).account.id
    db.commit()
    other = make_department("Sales")
    agents = {
        "alice": make_agent("alice@example.com", name="Alice", departments=[department]),
        "bob": make_agent("bob@example.com", name="Bob", departments=[department]),
        "carol": make_agent("carol@example.com", name="Carol", departments=[department]),
        "dave": make_agent("dave@example.com", name="Dave", departments=[other]),
    }
    for name, agent in agents.items():
        agent.status = (AgentStatus.AWAY if name == "carol" else AgentStatus.AVAILABLE).value
    db.commit()
    every = [scopes.THREADS_READ, scopes.THREADS_WRITE]
    headers = {name: bearer_for(agent, every) for name, agent in agents.items()}
    return Desk(db, host, client, installation, department, account_ids, agents, headers)
