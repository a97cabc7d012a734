"""Mail over SMTP: agents' replies sent to a local server, threading back, the listener."""

from __future__ import annotations

import dataclasses
import smtplib
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.cli import main
from core.config import SmtpSettings
from core.host import Host
from core.intake import email_in, mail_out
from core.intake.arrivals import Status
from core.intake.smtp_listener import make_controller
from core.models import Agent, Department, MailMessage, Ticket
from core.services import tickets
from hostapi import clock
from tests.intake_helpers import SmtpSink, WorkIn, free_port, raw_email

pytest_plugins = ["tests.intake_fixtures"]


@pytest.fixture
def smtp_host(host: Host, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> Host:
    """The test host, configured to send through the local SMTP sink."""
    smtp = SmtpSettings(host=smtp_sink.host, port=smtp_sink.port)
    monkeypatch.setattr(host, "settings", dataclasses.replace(host.settings, smtp=smtp))
    return host


def _customer_ticket(work_in: WorkIn, message_id: str = "<ask@customer.example>") -> Ticket:
    with work_in() as unit:
        outcome = email_in.receive_email(unit, raw_email(message_id=message_id))
    return outcome.ticket


def _reply(work_in: WorkIn, agent: Agent, ticket: Ticket, kind: str = "outgoing") -> None:
    with work_in(agent) as unit:
        tickets.add_thread(
            unit, unit.session.get(Ticket, ticket.id), kind=kind, body="It ships today."
        )


def _outbound(db: Session) -> list[MailMessage]:
    db.rollback()
    return list(db.scalars(select(MailMessage).where(MailMessage.direction == "outbound")))


def test_an_agents_reply_on_an_email_ticket_is_queued_in_its_transaction(
    work_in: WorkIn, admin_agent: Agent, mailbox_department: Department, db: Session
) -> None:
    ticket = _customer_ticket(work_in)
    _reply(work_in, admin_agent, ticket)
    [queued] = _outbound(db)
    assert (queued.ticket_id, queued.sent_at, queued.attempts) == (ticket.id, None, 0)
    assert queued.message_id.endswith("@desk.example>")


def test_internal_comments_are_not_mailed(
    work_in: WorkIn, admin_agent: Agent, mailbox_department: Department, db: Session
) -> None:
    _reply(work_in, admin_agent, _customer_ticket(work_in), kind="comment")
    assert _outbound(db) == []


def test_replies_on_phone_tickets_are_not_mailed(
    work_in: WorkIn, admin_agent: Agent, make_ticket, db: Session
) -> None:
    _reply(work_in, admin_agent, make_ticket(channel="phone"))
    assert _outbound(db) == []


def test_a_reply_recorded_after_the_fact_is_not_mailed(
    work_in: WorkIn, admin_agent: Agent, mailbox_department: Department, db: Session
) -> None:
    ticket = _customer_ticket(work_in)
    with work_in(admin_agent) as unit:
        tickets.add_thread(
            unit,
            unit.session.get(Ticket, ticket.id),
            kind="outgoing",
            body="Answered by phone last week.",
            created_at=clock.now() - timedelta(days=7),
        )
    assert _outbound(db) == []


def test_the_reply_reaches_the_customer_threaded_on_their_message(
    work_in: WorkIn,
    admin_agent: Agent,
    mailbox_department: Department,
    smtp_host: Host,
    smtp_sink: SmtpSink,
    db: Session,
) -> None:
    ticket = _customer_ticket(work_in)
    _reply(work_in, admin_agent, ticket)
    report = mail_out.send_pending(smtp_host)
    [sent] = smtp_sink.wait_for(1)
    [queued] = _outbound(db)
    assert report.sent == 1 and queued.sent_at is not None
    assert (sent["From"], sent["To"]) == ("support@desk.example", "hanako@example.com")
    assert sent["Subject"] == f"Re: My order has not arrived [#{ticket.number}]"
    assert (sent["Message-ID"], sent["In-Reply-To"]) == (
        queued.message_id,
        "<ask@customer.example>",
    )
    assert "<ask@customer.example>" in sent["References"]
    assert sent.get_content().strip() == "It ships today."


def test_the_customers_answer_to_the_reply_threads_back(
    work_in: WorkIn,
    admin_agent: Agent,
    mailbox_department: Department,
    smtp_host: Host,
    smtp_sink: SmtpSink,
) -> None:
    ticket = _customer_ticket(work_in)
    _reply(work_in, admin_agent, ticket)
    mail_out.send_pending(smtp_host)
    [sent] = smtp_sink.wait_for(1)
    answer = raw_email(
        subject=str(sent["Subject"]),
        body="Thanks!",
        message_id="<thanks@customer.example>",
        in_reply_to=str(sent["Message-ID"]),
        references=f"<ask@customer.example> {sent['Message-ID']}",
    )
    with work_in() as unit:
        outcome = email_in.receive_email(unit, answer)
    assert (outcome.status, outcome.ticket.id) == (Status.THREADED, ticket.id)


def test_a_sent_reply_is_not_sent_again(
    work_in: WorkIn,
    admin_agent: Agent,
    mailbox_department: Department,
    smtp_host: Host,
    smtp_sink: SmtpSink,
) -> None:
    _reply(work_in, admin_agent, _customer_ticket(work_in))
    mail_out.send_pending(smtp_host)
    assert mail_out.send_pending(smtp_host).sent == 0
    assert len(smtp_sink.wait_for(1)) == 1


def test_a_failed_send_is_retried_later_and_given_up_after_a_few_attempts(
    work_in: WorkIn,
    admin_agent: Agent,
    mailbox_department: Department,
    host: Host,
    monkeypatch: pytest.MonkeyPatch,
    deskhost_clock,
    db: Session,
) -> None:
    nobody_listens = SmtpSettings(host="127.0.0.1", port=free_port())
    monkeypatch.setattr(host, "settings", dataclasses.replace(host.settings, smtp=nobody_listens))
    _reply(work_in, admin_agent, _customer_ticket(work_in))
    assert mail_out.send_pending(host).failed == 1
    assert mail_out.send_pending(host).failed == 0  # not due yet: it waits before retrying
    for _ in range(mail_out.MAX_ATTEMPTS):
        deskhost_clock.advance(timedelta(hours=1))
        mail_out.send_pending(host)
    [queued] = _outbound(db)
    assert (queued.attempts, queued.sent_at) == (mail_out.MAX_ATTEMPTS, None)
    assert "ConnectionRefusedError" in queued.last_error


def test_without_an_smtp_host_nothing_is_sent(
    work_in: WorkIn, admin_agent: Agent, mailbox_department: Department, host: Host, db: Session
) -> None:
    _reply(work_in, admin_agent, _customer_ticket(work_in))
    assert mail_out.send_pending(host).sent == 0
    assert _outbound(db)[0].attempts == 0


# ------------------------------------------------------------------------------- the listener


@pytest.fixture
def listener(host: Host):  # type: ignore[no-untyped-def]
    """The desk's SMTP listener on a free loopback port."""
    controller = make_controller(host, "127.0.0.1", free_port())
    controller.start()
    yield controller
    controller.stop()


def test_mail_sent_to_the_listener_becomes_a_ticket(
    listener, mailbox_department: Department, db: Session
) -> None:
    with smtplib.SMTP(listener.hostname, listener.port, timeout=10) as client:
        client.sendmail(
            "hanako@example.com", ["support@desk.example"], raw_email(subject="Via SMTP")
        )
    db.rollback()
    assert [t.subject for t in db.scalars(select(Ticket))] == ["Via SMTP"]


def test_the_listener_refuses_an_unreadable_message_with_550(
    listener, mailbox_department: Department, db: Session
) -> None:
    with (
        smtplib.SMTP(listener.hostname, listener.port, timeout=10) as client,
        pytest.raises(smtplib.SMTPDataError) as refused,
    ):
        client.sendmail("", ["support@desk.example"], b"Subject: no sender\r\n\r\nhi\r\n")
    assert refused.value.smtp_code == 550
    assert db.scalar(select(Ticket)) is None


# ------------------------------------------------------------------------------------- CLI


def test_cli_receive_takes_a_message_from_a_file(
    runner, tmp_path, mailbox_department: Department, db: Session
) -> None:
    path = tmp_path / "message.eml"
    path.write_bytes(raw_email(subject="From a pipe"))
    result = runner.invoke(main, ["mail", "receive", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("created")


def test_cli_receive_refuses_an_unreadable_message_with_exit_code_2(
    runner, tmp_path, mailbox_department: Department
) -> None:
    path = tmp_path / "junk.eml"
    path.write_bytes(b"junk")
    result = runner.invoke(main, ["mail", "receive", str(path)])
    assert result.exit_code == 2 and "headers" in result.output


def test_cli_send_pending_needs_an_smtp_host(runner) -> None:
    result = runner.invoke(main, ["mail", "send-pending"])
    assert result.exit_code == 2 and "DESKHOST_SMTP_HOST" in result.output
