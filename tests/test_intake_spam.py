"""Spam: rules and agents' marks hold messages back; release, delete and block from the list."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.cli import main
from core.errors import Forbidden, ValidationFailed
from core.intake import email_in, review, spam
from core.intake.arrivals import Status
from core.models import Account, Agent, Contact, Department, SpamMessage, SpamRule, Ticket
from core.services import spam_marks
from tests.intake_helpers import WorkIn, raw_email

pytest_plugins = ["tests.intake_fixtures", "tests.api_fixtures"]


def _receive(work_in: WorkIn, raw: bytes) -> email_in.Outcome:
    with work_in() as unit:
        return email_in.receive_email(unit, raw)


def _rule(work_in: WorkIn, **fields: object) -> SpamRule:
    with work_in() as unit:
        return spam.create_rule(unit, **fields)  # type: ignore[arg-type]


def _count(db: Session, model: type) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    ("rule", "mail", "reason"),
    [
        (
            {"kind": "sender", "pattern": "Spammer@Example.com"},
            {"sender": "spammer@example.com"},
            "Blocked sender spammer@example.com",
        ),
        (
            {"kind": "domain", "pattern": "spam.example"},
            {"sender": "x@mail.spam.example"},
            "Blocked domain spam.example",
        ),
        (
            {"kind": "header", "pattern": "yes", "header_name": "X-Spam-Flag"},
            {"headers": {"X-Spam-Flag": "YES"}},
            "Header X-Spam-Flag matches yes",
        ),
        (
            {"kind": "content", "pattern": "/cheap\\s+pills?/"},
            {"body": "Buy CHEAP   pills now"},
            "Content matches /cheap\\s+pills?/",
        ),
        (
            {"kind": "content", "pattern": "casino"},
            {"subject": "Free Casino bonus"},
            "Content matches casino",
        ),
    ],
)
def test_a_matching_rule_holds_the_mail_without_ticket_or_contact(
    rule: dict, mail: dict, reason: str, work_in: WorkIn, department: Department, db: Session
) -> None:
    _rule(work_in, **rule)
    outcome = _receive(work_in, raw_email(**mail))
    assert outcome.status == Status.HELD
    held = db.get(SpamMessage, outcome.spam_message.id)
    assert held.reason == reason and held.raw.startswith(b"From:")
    assert (_count(db, Ticket), _count(db, Contact)) == (0, 0)


def test_a_domain_rule_does_not_hold_a_lookalike_domain(
    work_in: WorkIn, department: Department
) -> None:
    _rule(work_in, kind="domain", pattern="spam.example")
    assert _receive(work_in, raw_email(sender="a@notspam.example")).status == Status.CREATED


def test_an_inactive_rule_holds_nothing(work_in: WorkIn, department: Department) -> None:
    _rule(work_in, kind="content", pattern="order", is_active=False)
    assert _receive(work_in, raw_email()).status == Status.CREATED


def test_a_phone_sender_rule_matches_the_number_in_any_format(work_in: WorkIn) -> None:
    rule = _rule(work_in, kind="sender", pattern="03-1234-5678")
    assert rule.pattern == "+81312345678"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "content", "pattern": "/([a-z/"}, "pattern"),
        ({"kind": "domain", "pattern": "not a domain"}, "pattern"),
        ({"kind": "sender", "pattern": "nothing"}, "pattern"),
        ({"kind": "header", "pattern": "x"}, "header_name"),
        ({"kind": "weather", "pattern": "x"}, "kind"),
    ],
)
def test_bad_rules_are_refused_naming_the_field_and_nothing_is_stored(
    fields: dict, field: str, work_in: WorkIn, db: Session
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _rule(work_in, **fields)
    assert field in refused.value.errors
    assert _count(db, SpamRule) == 0


def test_mail_from_a_contact_marked_as_spam_is_held(
    work_in: WorkIn, make_contact: Callable[..., Contact], department: Department, db: Session
) -> None:
    contact = make_contact(email="hanako@example.com")
    contact.is_spam = True
    db.commit()
    outcome = _receive(work_in, raw_email())
    assert outcome.status == Status.HELD
    assert outcome.spam_message.contact_id == contact.id
    assert outcome.spam_message.reason == "Sender's contact is marked as spam"


def test_mail_from_a_contact_of_an_account_marked_as_spam_is_held(
    work_in: WorkIn,
    make_contact: Callable[..., Contact],
    make_account: Callable[..., Account],
    department: Department,
    db: Session,
) -> None:
    account = make_account("Spam Corp")
    account.is_spam = True
    db.commit()
    make_contact(email="hanako@example.com", account=account)
    assert _receive(work_in, raw_email()).status == Status.HELD


def test_unmarking_the_contact_restores_the_normal_flow(
    work_in: WorkIn,
    admin_agent: Agent,
    make_contact: Callable[..., Contact],
    department: Department,
) -> None:
    contact = make_contact(email="hanako@example.com")
    with work_in(admin_agent) as unit:
        spam_marks.mark_contact(unit, unit.session.get(Contact, contact.id), spam=True)
    assert _receive(work_in, raw_email(message_id="<a@x.example>")).status == Status.HELD
    with work_in(admin_agent) as unit:
        spam_marks.mark_contact(unit, unit.session.get(Contact, contact.id), spam=False)
    outcome = _receive(work_in, raw_email(message_id="<b@x.example>"))
    assert (outcome.status, outcome.ticket.contact_id) == (Status.CREATED, contact.id)


def test_releasing_a_held_mail_makes_its_ticket_and_records_who(
    work_in: WorkIn, admin_agent: Agent, department: Department, db: Session
) -> None:
    _rule(work_in, kind="content", pattern="order")
    held = _receive(
        work_in,
        raw_email(attachments=(("photo.png", b"\x89PNG data", "image/png"),)),
    ).spam_message
    with work_in(admin_agent) as unit:
        outcome = review.release(unit, spam.get_held(unit, held.id))
    assert outcome.status == Status.CREATED
    db.rollback()
    released = db.get(SpamMessage, held.id)
    assert (released.ticket_id, released.released_by_id) == (outcome.ticket.id, admin_agent.id)
    assert released.released_at is not None
    ticket = db.get(Ticket, outcome.ticket.id)
    assert (ticket.channel, ticket.raised_by) == ("email", "customer")


def test_a_released_reply_threads_on_the_ticket_it_answers(
    work_in: WorkIn, admin_agent: Agent, department: Department
) -> None:
    first = _receive(work_in, raw_email(message_id="<root@x.example>"))
    _rule(work_in, kind="content", pattern="casino")
    held = _receive(
        work_in, raw_email(body="casino? no, my order", in_reply_to="<root@x.example>")
    ).spam_message
    with work_in(admin_agent) as unit:
        outcome = review.release(unit, spam.get_held(unit, held.id))
    assert (outcome.status, outcome.ticket.id) == (Status.THREADED, first.ticket.id)


def test_releasing_twice_is_refused(
    work_in: WorkIn, admin_agent: Agent, department: Department
) -> None:
    _rule(work_in, kind="content", pattern="order")
    held = _receive(work_in, raw_email()).spam_message
    with work_in(admin_agent) as unit:
        review.release(unit, spam.get_held(unit, held.id))
    with pytest.raises(ValidationFailed), work_in(admin_agent) as unit:
        review.release(unit, spam.get_held(unit, held.id))


def test_the_released_list_no_longer_shows_the_message(
    work_in: WorkIn, admin_agent: Agent, department: Department
) -> None:
    _rule(work_in, kind="content", pattern="order")
    held = _receive(work_in, raw_email()).spam_message
    with work_in(admin_agent) as unit:
        [listed] = spam.list_held(unit)
        review.release(unit, listed)
    assert listed.id == held.id
    with work_in(admin_agent) as unit:
        assert spam.list_held(unit) == []


def test_deleting_a_held_message_removes_it(
    work_in: WorkIn, admin_agent: Agent, department: Department, db: Session
) -> None:
    _rule(work_in, kind="content", pattern="order")
    held = _receive(work_in, raw_email()).spam_message
    with work_in(admin_agent) as unit:
        spam.delete_held(unit, spam.get_held(unit, held.id))
    assert (_count(db, SpamMessage), _count(db, Ticket)) == (0, 0)


def test_blocking_the_sender_holds_their_later_mail(
    work_in: WorkIn, admin_agent: Agent, department: Department, db: Session
) -> None:
    content_rule = _rule(work_in, kind="content", pattern="casino")
    held = _receive(work_in, raw_email(body="casino")).spam_message
    with work_in(admin_agent) as unit:
        rule = spam.block_sender(unit, spam.get_held(unit, held.id))
        spam.delete_rule(unit, spam.get_rule(unit, content_rule.id))
    assert (rule.kind, rule.pattern, rule.created_by_id) == (
        "sender",
        "hanako@example.com",
        admin_agent.id,
    )
    later = _receive(work_in, raw_email(body="an honest question"))
    assert (later.status, later.spam_message.reason) == (
        Status.HELD,
        "Blocked sender hanako@example.com",
    )


def test_a_duplicate_of_a_held_mail_adds_nothing(
    work_in: WorkIn, department: Department, db: Session
) -> None:
    _rule(work_in, kind="content", pattern="order")
    raw = raw_email(message_id="<same@x.example>")
    _receive(work_in, raw)
    assert _receive(work_in, raw).status == Status.DUPLICATE
    assert _count(db, SpamMessage) == 1


def test_agents_without_spam_permission_cannot_see_the_list(
    work_in: WorkIn, api_agent: Agent
) -> None:
    with pytest.raises(Forbidden), work_in(api_agent) as unit:
        spam.list_held(unit)


# ------------------------------------------------------------------------------------- REST


def test_rest_rule_with_a_bad_regex_answers_422_naming_pattern(
    client, sign_in_as, admin_agent: Agent, db: Session
) -> None:
    csrf = sign_in_as(admin_agent)
    answer = client.post(
        "/api/v1/spam/rules", json={"kind": "content", "pattern": "/(unclosed/"}, headers=csrf
    )
    assert answer.status_code == 422
    assert "pattern" in answer.json["errors"]["json"]
    assert _count(db, SpamRule) == 0


def test_rest_rules_are_added_switched_off_and_deleted(
    client, sign_in_as, admin_agent: Agent
) -> None:
    csrf = sign_in_as(admin_agent)
    created = client.post(
        "/api/v1/spam/rules", json={"kind": "domain", "pattern": "spam.example"}, headers=csrf
    )
    assert created.status_code == 201
    rule_id = created.json["id"]
    switched = client.patch(
        f"/api/v1/spam/rules/{rule_id}", json={"is_active": False}, headers=csrf
    )
    assert switched.json["is_active"] is False
    assert client.delete(f"/api/v1/spam/rules/{rule_id}", headers=csrf).status_code == 204
    assert client.get("/api/v1/spam/rules").json["items"] == []


def test_rest_lists_and_releases_held_messages(
    client, sign_in_as, admin_agent: Agent, work_in: WorkIn, department: Department
) -> None:
    _rule(work_in, kind="content", pattern="order")
    held = _receive(work_in, raw_email()).spam_message
    csrf = sign_in_as(admin_agent)
    listed = client.get("/api/v1/spam/messages").json["items"]
    assert [m["id"] for m in listed] == [held.id]
    released = client.post(f"/api/v1/spam/messages/{held.id}/release", headers=csrf)
    assert (released.status_code, released.json["status"]) == (200, "created")
    assert client.get(f"/api/v1/tickets/{released.json['ticket_id']}").status_code == 200


def test_rest_inbound_mail_held_as_spam_answers_202(
    client, mail_server_headers, work_in: WorkIn, department: Department
) -> None:
    _rule(work_in, kind="content", pattern="order")
    answer = client.post("/api/v1/inbound/email", data=raw_email(), headers=mail_server_headers)
    assert (answer.status_code, answer.json["status"]) == (202, "held")


# -------------------------------------------------------------------------------------- CLI


def test_cli_adds_lists_and_deletes_rules(runner, db: Session) -> None:
    added = runner.invoke(
        main, ["spam", "add-rule", "--kind", "domain", "--pattern", "Spam.Example"]
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(main, ["spam", "rules"])
    rule_id = listed.output.split("\t", 1)[0]
    assert listed.output.strip().endswith("domain\ton\t-\tspam.example")
    deleted = runner.invoke(main, ["spam", "delete-rule", rule_id])
    assert deleted.exit_code == 0 and _count(db, SpamRule) == 0


def test_cli_refuses_a_bad_regex_with_exit_code_2(runner, db: Session) -> None:
    result = runner.invoke(main, ["spam", "add-rule", "--kind", "content", "--pattern", "/(x/"])
    assert result.exit_code == 2 and "regular expression" in result.output
    assert _count(db, SpamRule) == 0
