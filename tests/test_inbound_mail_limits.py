"""Inbound mail that tries to hurt: oversized messages, headers that smuggle line breaks, and
mail an upstream filter already marked as spam — through the SMTP listener, the raw-mail
endpoint and the intake itself."""

from __future__ import annotations

import dataclasses
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import MailIntakeSettings, SmtpSettings
from core.host import Host
from core.intake import email_in, mail_out, review
from core.intake.arrivals import Status
from core.intake.smtp_listener import make_controller
from core.models import Agent, Contact, Department, MailMessage, SpamMessage, Ticket
from core.services import tickets
from tests.intake_helpers import SmtpSink, WorkIn, free_port, raw_email

pytest_plugins = ["tests.intake_fixtures", "tests.api_fixtures"]

LIMIT = 20_000


def _settings(host: Host, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    intake = dataclasses.replace(host.settings.mail_intake, **changes)
    monkeypatch.setattr(host, "settings", dataclasses.replace(host.settings, mail_intake=intake))


@pytest.fixture
def size_limited(host: Host, monkeypatch: pytest.MonkeyPatch) -> Host:
    """The host with a mail size limit of ``LIMIT`` bytes."""
    _settings(host, monkeypatch, max_bytes=LIMIT)
    return host


@pytest.fixture
def listener(host: Host) -> Iterator[Any]:
    """The desk's SMTP listener on a free loopback port (made after the settings changed)."""
    controller = make_controller(host, "127.0.0.1", free_port())
    controller.start()
    yield controller
    controller.stop()


def _counts(db: Session) -> tuple[int, int, int]:
    """Tickets, held spam messages and inbound mail records stored."""
    db.rollback()
    return (
        db.scalar(select(func.count(Ticket.id))) or 0,
        db.scalar(select(func.count(SpamMessage.id))) or 0,
        db.scalar(select(func.count(MailMessage.id))) or 0,
    )


def _big_email() -> bytes:
    return raw_email(subject="Large", body="x" * (LIMIT * 2))


# ---------------------------------------------------------------------------------- oversized


def test_the_size_limit_defaults_to_25_mib() -> None:
    assert MailIntakeSettings().max_bytes == 25 * 1024 * 1024


def test_mail_over_the_size_limit_is_refused_and_nothing_is_stored(
    size_limited: Host, work_in: WorkIn, department: Department, db: Session
) -> None:
    with (
        pytest.raises(email_in.MessageTooLarge, match="larger than the limit of 20,000 bytes"),
        work_in() as unit,
    ):
        email_in.receive_email(unit, _big_email())
    assert _counts(db) == (0, 0, 0)


def test_mail_at_the_size_limit_is_taken_in(
    size_limited: Host, work_in: WorkIn, department: Department
) -> None:
    raw = raw_email(subject="Just fits")
    raw += b" " * (LIMIT - len(raw))
    with work_in() as unit:
        assert email_in.receive_email(unit, raw).status is Status.CREATED


def test_raw_mail_endpoint_answers_413_for_mail_over_the_limit(
    size_limited: Host,
    client: FlaskClient,
    mail_server_headers: dict[str, str],
    department: Department,
    db: Session,
) -> None:
    answer = client.post("/api/v1/inbound/email", data=_big_email(), headers=mail_server_headers)
    assert answer.status_code == 413, answer.json
    assert "larger than the limit" in answer.json["message"]
    assert _counts(db) == (0, 0, 0)


def test_smtp_listener_announces_the_limit_and_refuses_larger_mail_with_552(
    size_limited: Host, listener: Any, mailbox_department: Department, db: Session
) -> None:
    with smtplib.SMTP(listener.hostname, listener.port, timeout=10) as client:
        client.ehlo()
        assert client.esmtp_features.get("size") == str(LIMIT)
        with pytest.raises(smtplib.SMTPException) as refused:
            client.sendmail("hanako@example.com", ["support@desk.example"], _big_email())
    assert getattr(refused.value, "smtp_code", None) == 552 or "552" in str(refused.value)
    assert _counts(db) == (0, 0, 0)


# ---------------------------------------------------------------------------- header injection

#: "Hello", CR LF, "Bcc: victim@evil.example" hidden in RFC 2047 encoded words.
INJECTED_SUBJECT = "=?utf-8?q?Hello=0D=0ABcc=3A_victim=40evil=2Eexample?="
INJECTED_NAME = "=?utf-8?q?Hanako=0D=0AReply-To=3A_x=40evil=2Eexample?="


def _injected_email(**headers: str) -> bytes:
    lines = {
        "From": f"{INJECTED_NAME} <hanako@example.com>",
        "To": "support@desk.example",
        "Subject": INJECTED_SUBJECT,
        "Message-ID": "<injected@mail.example>",
        "X-Note": "=?utf-8?q?one=0Atwo=00three?=",
        **headers,
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in lines.items())
    return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\nHi\x00 there\r\n").encode()


def test_line_breaks_decoded_from_the_subject_and_sender_are_stored_as_spaces(
    work_in: WorkIn, department: Department, db: Session
) -> None:
    with work_in() as unit:
        outcome = email_in.receive_email(unit, _injected_email())
    db.rollback()
    ticket = db.get(Ticket, outcome.ticket.id)
    contact = db.get(Contact, outcome.contact.id)
    assert ticket.subject == "Hello Bcc: victim@evil.example"
    assert outcome.contact.email == "hanako@example.com"
    assert "\n" not in f"{contact.first_name}{contact.last_name}"
    assert ticket.description == "Hi there"


def test_stored_headers_of_held_mail_hold_no_line_breaks_or_nul(
    work_in: WorkIn, department: Department, db: Session
) -> None:
    with work_in() as unit:
        outcome = email_in.receive_email(unit, _injected_email(**{"X-Spam-Flag": "YES"}))
    assert outcome.status is Status.HELD
    db.rollback()
    held = db.get(SpamMessage, outcome.spam_message.id)
    assert held.subject == "Hello Bcc: victim@evil.example"
    assert held.headers["X-Note"] == "one two three"
    assert not any(c in value for value in held.headers.values() for c in "\r\n\x00")


def _reply_to(work_in: WorkIn, agent: Agent, ticket_id: int) -> MailMessage:
    with work_in(agent) as unit:
        ticket = unit.session.get(Ticket, ticket_id)
        tickets.add_thread(unit, ticket, kind="outgoing", body="On its way.")
    with work_in() as unit:
        return unit.session.scalars(
            select(MailMessage).where(MailMessage.direction == "outbound")
        ).one()


def test_reply_to_mail_with_an_injected_subject_adds_no_header(
    work_in: WorkIn, department: Department, admin_agent: Agent, host: Host
) -> None:
    with work_in() as unit:
        ticket_id = email_in.receive_email(unit, _injected_email()).ticket.id
    mail = _reply_to(work_in, admin_agent, ticket_id)
    with work_in() as unit:
        message = mail_out.build_message(unit.session, mail, SmtpSettings())
    sent = message.as_bytes()
    assert "Bcc" not in message and "Reply-To" not in message
    assert b"\nBcc:" not in sent and b"\nReply-To:" not in sent
    assert message["Subject"].startswith("Re: Hello Bcc: victim@evil.example [#")


def test_reply_to_a_ticket_whose_stored_subject_has_line_breaks_is_sent_on_one_line(
    work_in: WorkIn,
    department: Department,
    admin_agent: Agent,
    smtp_sink: SmtpSink,
    host: Host,
    monkeypatch: pytest.MonkeyPatch,
    db: Session,
) -> None:
    """A subject stored with CR/LF (an older import, a direct write) is neither injected
    into the reply's headers nor a reason to give the reply up."""
    with work_in() as unit:
        ticket_id = email_in.receive_email(unit, raw_email()).ticket.id
    with work_in() as unit:
        unit.session.get(Ticket, ticket_id).subject = "Broken\r\nBcc: victim@evil.example"
    _reply_to(work_in, admin_agent, ticket_id)
    smtp = SmtpSettings(host=smtp_sink.host, port=smtp_sink.port)
    monkeypatch.setattr(host, "settings", dataclasses.replace(host.settings, smtp=smtp))
    assert mail_out.send_pending(host).sent == 1
    (received,) = smtp_sink.messages
    assert "Bcc" not in received
    assert received["Subject"].startswith("Re: Broken Bcc: victim@evil.example [#")


# ------------------------------------------------------------------------ upstream spam verdict

FLAGGED: dict[str, dict[str, str]] = {
    "X-Spam-Flag: YES": {"X-Spam-Flag": "YES"},
    "X-Spam-Status: Yes": {"X-Spam-Status": "Yes, score=7.3 required=5.0 tests=BAYES_99"},
}


def test_the_upstream_verdict_is_trusted_by_default() -> None:
    assert MailIntakeSettings().trust_spam_headers is True
    assert MailIntakeSettings.from_env({}).trust_spam_headers is True
    off = MailIntakeSettings.from_env({"DESKHOST_MAIL_TRUST_SPAM_HEADERS": "false"})
    assert off.trust_spam_headers is False


@pytest.mark.parametrize("flag", sorted(FLAGGED))
def test_mail_marked_spam_upstream_is_held_not_made_a_ticket(
    flag: str, work_in: WorkIn, department: Department, db: Session
) -> None:
    with work_in() as unit:
        outcome = email_in.receive_email(unit, raw_email(headers=FLAGGED[flag]))
    assert outcome.status is Status.HELD
    assert outcome.spam_message.reason.startswith("Marked as spam upstream")
    assert _counts(db)[:2] == (0, 1)


def test_mail_the_upstream_filter_passed_becomes_a_ticket(
    work_in: WorkIn, department: Department
) -> None:
    headers = {"X-Spam-Flag": "NO", "X-Spam-Status": "No, score=0.4 required=5.0"}
    with work_in() as unit:
        assert email_in.receive_email(unit, raw_email(headers=headers)).status is Status.CREATED


def test_upstream_verdict_is_ignored_when_the_setting_is_off(
    host: Host, monkeypatch: pytest.MonkeyPatch, work_in: WorkIn, department: Department
) -> None:
    _settings(host, monkeypatch, trust_spam_headers=False)
    with work_in() as unit:
        outcome = email_in.receive_email(unit, raw_email(headers={"X-Spam-Flag": "YES"}))
    assert outcome.status is Status.CREATED


def test_mail_held_for_the_upstream_verdict_becomes_a_ticket_when_released(
    work_in: WorkIn, department: Department, admin_agent: Agent
) -> None:
    with work_in() as unit:
        held_id = email_in.receive_email(
            unit, raw_email(headers={"X-Spam-Flag": "YES"})
        ).spam_message.id
    with work_in(admin_agent) as unit:
        outcome = review.release(unit, unit.session.get(SpamMessage, held_id))
    assert outcome.status is Status.CREATED


def test_raw_mail_endpoint_holds_mail_marked_spam_upstream(
    client: FlaskClient, mail_server_headers: dict[str, str], department: Department, db: Session
) -> None:
    answer = client.post(
        "/api/v1/inbound/email",
        data=raw_email(headers={"X-Spam-Flag": "YES"}),
        headers=mail_server_headers,
    )
    assert answer.status_code == 202, answer.json
    assert answer.json["status"] == "held"
    assert _counts(db)[:2] == (0, 1)


def test_smtp_listener_holds_mail_marked_spam_upstream(
    listener: Any, mailbox_department: Department, db: Session
) -> None:
    with smtplib.SMTP(listener.hostname, listener.port, timeout=10) as client:
        client.sendmail(
            "hanako@example.com",
            ["support@desk.example"],
            raw_email(headers={"X-Spam-Status": "Yes, score=12.0 required=5.0"}),
        )
    assert _counts(db)[:2] == (0, 1)
