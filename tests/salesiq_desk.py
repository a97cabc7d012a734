"""A desk with SalesIQ installed, served over real HTTP beside the chat product's stand-in, for
the SalesIQ tests: the admin links the stand-in's account through the link page and the
desk's consent page (as a browser would, with a ``requests`` session), then tests play
visitors and operators at the stand-in and read what the desk made of it.

Use it with ``pytest_plugins = ["tests.salesiq_desk"]``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import worker
from core.host import Host
from core.models import Agent, Department, Installation, Thread, Ticket
from hostapi import clock
from plugins.salesiq import events
from plugins.salesiq.models import Chat, ChatDepartment, InboundEvent, Link
from plugins.salesiq.standin.server import base_url, serving
from plugins.salesiq.standin.testing import RunningStandin, running_standin
from tests.factories import TEST_PASSWORD, install_for

#: When the tests' clock starts.
START = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def hidden_fields(page: str) -> dict[str, str]:
    """A page's hidden inputs (the CSRF token, the consent form's parameters)."""
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


@dataclass
class SalesDesk:
    """The served desk, the stand-in, the installation and what tests do with them."""

    db: Session
    host: Host
    url: str
    standin: RunningStandin
    installation: Installation
    departments: dict[str, Department]
    admin: Agent
    browser: requests.Session

    @property
    def integration_url(self) -> str:
        """The integration page."""
        return f"{self.url}/ext/salesiq/{self.installation.id}/integration/"

    def sign_in(self, session: requests.Session, email: str) -> None:
        """Sign ``session`` in to the desk as ``email``."""
        page = session.get(f"{self.url}/login")
        form = {**hidden_fields(page.text), "email": email, "password": TEST_PASSWORD}
        answer = session.post(f"{self.url}/login", data=form)
        assert answer.ok and "/login" not in answer.url, answer.text[:500]

    def link(self, *, api_token: str | None = None, approve: bool = True) -> requests.Response:
        """Link the stand-in's account on the integration page, then answer the consent page
        the product sends the admin to; the last answer (the integration page, or the link
        form refused)."""
        page = self.browser.get(self.integration_url)
        form = {
            **hidden_fields(page.text),
            "base_url": self.standin.base_url,
            "portal": self.standin.portal,
            "api_token": api_token or self.standin.api_token,
        }
        answer = self.browser.post(f"{self.integration_url}link", data=form)
        if "authorize=1" not in answer.url:
            return answer
        answer = self.browser.get(f"{self.standin.base_url}/integrations/desk/connect")
        decision = "approve" if approve else "deny"
        return self.browser.post(
            answer.url.split("?")[0],
            data={**hidden_fields(answer.text), "decision": decision},
        )

    def control(self, verb: str, route: str, **body: Any) -> Any:
        """Call the stand-in's control API; its JSON answer (asserting success)."""
        answer = requests.request(
            verb, f"{self.standin.base_url}/_control{route}", json=body or None, timeout=30
        )
        assert answer.ok, answer.text
        return answer.json()

    def window(self, method: str, path: str, **options: Any) -> tuple[int, Any]:
        """Call the desk from the chat window: the stand-in calls the extension's endpoint
        ``path`` with the token the admin authorized; (status, body)."""
        answer = self.control("POST", "/desk", method=method, path=path, **options)
        return answer["status"], answer["body"]

    def chat_department(self, name: str) -> str:
        """The stand-in's id of its department ``name``."""
        state = self.control("GET", "/state")
        return next(d["id"] for d in state["departments"] if d["name"] == name)

    def start_chat(
        self, department: str, *, email: str = "visitor@example.com", **visitor: str
    ) -> str:
        """A visitor opens a chat in the stand-in's department ``department``; its id."""
        chat = self.control(
            "POST",
            "/chats",
            department_id=self.chat_department(department),
            visitor={"name": "Hana Visitor", "email": email, "phone": "", **visitor},
            question="Where is my order?",
        )
        return str(chat["id"])

    def answer(self, chat_id: str, text: str = "Let me check.") -> None:
        """The operator attends the chat and writes ``text``."""
        operator_id = self.control("GET", "/state")["operators"][0]["id"]
        self.control("POST", f"/chats/{chat_id}/attend", operator_id=operator_id)
        self.control(
            "POST",
            f"/chats/{chat_id}/messages",
            sender="operator",
            text=text,
            operator_id=operator_id,
        )

    def end(self, chat_id: str) -> None:
        """End the chat (missed when nobody attended it)."""
        self.control("POST", f"/chats/{chat_id}/end")

    def work(self) -> None:
        """Let the job worker apply the stored events."""
        self.job(events.PROCESS_JOB)

    def job(self, name: str, payload: dict[str, Any] | None = None) -> None:
        """Queue the extension's job ``name`` (as the scheduler's tick would) and let the job
        worker run everything due at the clock's time."""
        with self.host.transaction() as session:
            installation = session.get(Installation, self.installation.id)
            self.host.plugins.context_for(session, installation).enqueue(name, payload)
        self.run_jobs()

    def run_jobs(self) -> None:
        """Let the job worker run every job due at the clock's time."""
        worker.run(self.host, burst=True, with_scheduler=False)
        self.db.rollback()

    def chat(self, chat_id: str) -> Chat:
        """The desk's record of the chat."""
        self.db.rollback()
        return self.db.scalars(
            select(Chat).where(
                Chat.installation_id == self.installation.id, Chat.chat_id == chat_id
            )
        ).one()

    def ticket_of(self, chat_id: str) -> Ticket | None:
        """The ticket the chat became, if any."""
        chat = self.chat(chat_id)
        return None if chat.ticket_id is None else self.db.get(Ticket, chat.ticket_id)

    def threads(self, ticket: Ticket) -> list[tuple[str, str]]:
        """A ticket's threads in time order, (kind, body) each."""
        rows = self.db.scalars(
            select(Thread)
            .where(Thread.ticket_id == ticket.id)
            .order_by(Thread.created_at, Thread.id)
        )
        return [(row.kind, row.body) for row in rows]

    def mapping(self) -> dict[str, tuple[str, int | None]]:
        """Each chat department's (mode, desk department id), by name."""
        self.db.rollback()
        rows = self.db.scalars(
            select(ChatDepartment).where(ChatDepartment.installation_id == self.installation.id)
        )
        return {row.name: (row.mode, row.desk_department_id) for row in rows}

    def set_mode(self, name: str, choice: str) -> None:
        """Set a chat department's mapping on the integration page (a mode or a desk id)."""
        page = self.browser.get(self.integration_url)
        row = self.db.scalars(
            select(ChatDepartment).where(
                ChatDepartment.installation_id == self.installation.id, ChatDepartment.name == name
            )
        ).one()
        form = {**hidden_fields(page.text), f"department-{row.id}": choice}
        answer = self.browser.post(f"{self.integration_url}departments", data=form)
        assert answer.ok, answer.text[:500]

    def set_setting(self, name: str, value: Any) -> None:
        """Change one of the installation's settings."""
        row = self.db.get(Installation, self.installation.id)
        assert row is not None
        row.settings = {**(row.settings or {}), name: value}
        self.db.commit()

    def stored_events(self) -> list[InboundEvent]:
        """The events the webhook stored, in arrival order."""
        self.db.rollback()
        return list(
            self.db.scalars(
                select(InboundEvent)
                .where(InboundEvent.installation_id == self.installation.id)
                .order_by(InboundEvent.id)
            )
        )

    def the_link(self) -> Link | None:
        """The installation's link row."""
        self.db.rollback()
        return self.db.get(Link, self.installation.id)


@pytest.fixture
def desk_server(app: Flask) -> Iterator[str]:
    """The test app on a free loopback port (the stand-in calls it over HTTP)."""
    with serving(app) as server:
        yield base_url(server)


@pytest.fixture
def standin() -> Iterator[RunningStandin]:
    """The chat product's stand-in, its account's operator being the desk's admin, with the
    departments Support, Sales and Billing."""
    with running_standin(operator_email="admin@example.com", operator_name="Admin") as running:
        yield running


@pytest.fixture
def sales_desk(
    db: Session,
    host: Host,
    desk_server: str,
    standin: RunningStandin,
    department: Department,
    make_department: Callable[..., Department],
    admin_agent: Agent,
) -> Iterator[SalesDesk]:
    """SalesIQ installed for Support and Sales (not yet linked), the admin (of both) signed
    in."""
    clock.freeze(START)
    sales = make_department("Sales")
    admin_agent.departments.append(sales)
    installation = install_for(db, host, "salesiq", [department.id, sales.id])
    db.commit()
    desk = SalesDesk(
        db=db,
        host=host,
        url=desk_server,
        standin=standin,
        installation=installation,
        departments={"Support": department, "Sales": sales},
        admin=admin_agent,
        browser=requests.Session(),
    )
    for name in ("Support", "Sales", "Billing"):
        desk.control("POST", "/departments", name=name)
    desk.sign_in(desk.browser, admin_agent.email)
    yield desk
    desk.browser.close()
    clock.unfreeze()


@pytest.fixture
def linked_desk(sales_desk: SalesDesk) -> SalesDesk:
    """The sales desk with the stand-in's account linked and the product authorized."""
    answer = sales_desk.link()
    assert "linked=1" in answer.url, answer.text[:500]
    return sales_desk


@pytest.fixture
def standin_operator(standin: RunningStandin) -> Callable[[str], str]:
    """``standin_operator(email)``: add an operator to the stand-in's account; their API token."""

    def add(email: str) -> str:
        answer = requests.post(
            f"{standin.base_url}/_control/operators",
            json={"email": email, "name": email.split("@")[0]},
            timeout=30,
        )
        assert answer.ok, answer.text
        return str(answer.json()["api_token"])

    return add
