"""Fixtures of the intake tests: write-session units and a local SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department
from core.services.base import Actor, Unit
from tests.intake_helpers import SmtpSink, WorkIn, free_port


@pytest.fixture
def work_in(host: Host) -> WorkIn:
    """``with work_in() as unit:`` a unit on a write session, committed on success.

    It acts as the system (as the mail listener does) unless an ``agent`` is given.
    """

    @contextmanager
    def open_unit(agent: Agent | None = None) -> Iterator[Unit]:
        with host.write_sessions() as session, session.begin():
            actor = Actor(session.get(Agent, agent.id)) if agent else Actor.system("mail")
            yield Unit(session, actor, host)

    return open_unit


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd server on 127.0.0.1 and a free port, collecting what it is sent."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink(host="127.0.0.1", port=free_port())

    class Collect:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            message = BytesParser(policy=policy.default).parsebytes(envelope.content)
            with sink.received:
                sink.messages.append(message)  # type: ignore[arg-type]
                sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                sink.received.notify_all()
            return "250 OK"

    controller = Controller(Collect(), hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def mailbox_department(department: Department, db: Session) -> Department:
    """ "Support" with its mailbox."""
    department.mailbox = "support@desk.example"
    db.commit()
    return department
