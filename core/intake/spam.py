"""Spam: the rules that hold inbound messages back, and the list where held messages wait.

A message is spam when an active rule matches it or when agents marked its sender as spam
before (the sender's contact, or that contact's account, is marked spam; blocking a sender
from the spam list adds a sender rule in the agent's name). Spam creates no ticket: it is
stored as a :class:`SpamMessage` (an email with its raw MIME) until an agent releases it
(then it becomes a ticket the normal way, see :mod:`core.intake.review`) or deletes it.

Rule patterns:

- ``sender``: an email address (any case) or a phone number (compared in E.164);
- ``domain``: the sender's email domain, subdomains included (``example.com`` also holds
  ``mail.example.com``);
- ``header``: a header name and a pattern matched against that header's value;
- ``content``: a pattern matched against the subject and the body.

Header and content patterns are case-insensitive substrings; written between slashes
(``/viagra|casino/``) they are case-insensitive regular expressions, checked when saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import Account, Contact, Installation, SpamMessage, SpamRule, SpamRuleKind
from core.models.extensions import InstallationState
from core.services.base import (
    Cursor,
    Unit,
    check_limit,
    clean_text,
    gather,
    newest_first,
    refuse_extension_owned,
)
from core.services.phones import organisation_region, to_e164
from hostapi import clock

RULE_KINDS: tuple[str, ...] = tuple(kind.value for kind in SpamRuleKind)
#: Bodies longer than this are matched on their beginning only (spam says it early).
MAX_SCANNED_CHARS = 200_000
_SPAM_STATUS_YES = re.compile(r"\s*yes\b", re.IGNORECASE)
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


@dataclass(frozen=True)
class Inspected:
    """What the spam check reads of an inbound message."""

    channel: str
    email: str | None = None
    phone_e164: str | None = None
    external_id: str | None = None
    subject: str = ""
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------- rules


def is_regex(pattern: str) -> bool:
    """True when a header or content pattern is a regular expression (``/…/``)."""
    return len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/")


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern[1:-1], re.IGNORECASE)


def _clean_pattern(session: Session | None, kind: str, pattern: object) -> str:
    value = clean_text(pattern, "pattern", max_length=500, required=True)
    if kind == SpamRuleKind.SENDER:
        if "@" in value:
            return value.lower()
        assert session is not None, "a phone number is read in the organisation's region"
        e164 = to_e164(value, organisation_region(session))
        if e164 is None:
            raise ValidationFailed(
                {"pattern": [Message("Give an email address or a phone number.")]}
            )
        return e164
    if kind == SpamRuleKind.DOMAIN:
        domain = value.lower().removeprefix("@").removeprefix("*.").removeprefix(".")
        if not _DOMAIN.match(domain):
            raise ValidationFailed({"pattern": [Message("Give a domain such as example.com.")]})
        return domain
    if is_regex(value):
        try:
            _compile(value)
        except re.error as error:
            raise ValidationFailed(
                {"pattern": [Message("Not a valid regular expression: %(error)s.", error=error)]}
            ) from error
    return value


def _clean_header_name(kind: str, header_name: object) -> str | None:
    if kind != SpamRuleKind.HEADER:
        if header_name:
            raise ValidationFailed({"header_name": [Message("Only header rules name a header.")]})
        return None
    name = clean_text(header_name or "", "header_name", max_length=200, required=True)
    if not re.fullmatch(r"[!-9;-~]+", name):
        raise ValidationFailed(
            {"header_name": [Message("Give a header name such as X-Spam-Flag.")]}
        )
    return name


def clean_rule(
    session: Session | None, kind: str, pattern: object, header_name: object = None
) -> dict[str, Any]:
    """A rule's ``pattern`` and ``header_name`` as stored, every problem named at once
    (``kind``, ``pattern``, ``header_name``). The session is read for a sender's phone number
    only (the organisation's region), so other kinds can be checked without one."""
    if kind not in RULE_KINDS:
        raise ValidationFailed(
            {"kind": [Message("Choose one of: %(choices)s.", choices=", ".join(RULE_KINDS))]}
        )
    return gather(
        {
            "pattern": lambda: _clean_pattern(session, kind, pattern),
            "header_name": lambda: _clean_header_name(kind, header_name),
        }
    )


def existing_rule_id(
    session: Session, kind: str, pattern: str, header_name: str | None
) -> int | None:
    """The id of the rule of ``kind`` with this (cleaned) pattern and header name, if any."""
    return session.scalar(
        select(SpamRule.id).where(
            SpamRule.kind == kind,
            SpamRule.pattern == pattern,
            SpamRule.header_name.is_(None)
            if header_name is None
            else SpamRule.header_name == header_name,
        )
    )


def list_rules(unit: Unit) -> list[SpamRule]:
    """Every spam rule, newest first."""
    unit.actor.require(permissions.SETUP_MANAGE)
    return list(unit.session.scalars(select(SpamRule).order_by(SpamRule.id.desc())))


def get_rule(unit: Unit, rule_id: int) -> SpamRule:
    """The rule ``rule_id``.

    :raises NotFound: no such rule.
    """
    unit.actor.require(permissions.SETUP_MANAGE)
    rule = unit.session.get(SpamRule, rule_id)
    if rule is None:
        raise NotFound("spam rule not found")
    return rule


def create_rule(
    unit: Unit,
    *,
    kind: str,
    pattern: str,
    header_name: str | None = None,
    is_active: bool = True,
    permission: str = permissions.SETUP_MANAGE,
) -> SpamRule:
    """Add a rule (every field checked first; a bad regular expression is refused)."""
    unit.actor.require(permission)
    values = clean_rule(unit.session, kind, pattern, header_name)
    if existing_rule_id(unit.session, kind, values["pattern"], values["header_name"]) is not None:
        raise ValidationFailed({"pattern": [Message("This rule exists already.")]})
    rule = SpamRule(
        kind=kind,
        pattern=values["pattern"],
        header_name=values["header_name"],
        is_active=bool(is_active),
        created_by_id=unit.actor.agent_id,
        created_at=clock.now(),
    )
    unit.session.add(rule)
    unit.session.flush()
    unit.audit("add", "spam_rule", rule.id, after=_rule_snapshot(rule))
    return rule


def set_rule_active(unit: Unit, rule: SpamRule, is_active: bool) -> SpamRule:
    """Switch a rule on or off."""
    unit.actor.require(permissions.SETUP_MANAGE)
    if rule.is_active != bool(is_active):
        rule.is_active = bool(is_active)
        unit.session.flush()
        unit.audit(
            "update",
            "spam_rule",
            rule.id,
            before={"is_active": not rule.is_active},
            after={"is_active": rule.is_active},
        )
    return rule


def delete_rule(unit: Unit, rule: SpamRule) -> None:
    """Delete a rule (one an extension added stays until its installation is purged; it can
    be switched off)."""
    unit.actor.require(permissions.SETUP_MANAGE)
    refuse_extension_owned(rule)
    unit.audit("delete", "spam_rule", rule.id, before=_rule_snapshot(rule))
    unit.session.delete(rule)
    unit.session.flush()


def _rule_snapshot(rule: SpamRule) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "pattern": rule.pattern,
        "header_name": rule.header_name,
        "is_active": rule.is_active,
    }


# ---------------------------------------------------------------------------------- checking


def _matches_text(pattern: str, value: str) -> bool:
    value = value[:MAX_SCANNED_CHARS]
    if is_regex(pattern):
        try:
            return _compile(pattern).search(value) is not None
        except re.error:  # saved before validation existed: a broken rule matches nothing
            return False
    return pattern.lower() in value.lower()


def _rule_reason(rule: SpamRule, message: Inspected) -> str | None:
    if rule.kind == SpamRuleKind.SENDER:
        if rule.pattern in {message.email, message.phone_e164}:
            return f"Blocked sender {rule.pattern}"
    elif rule.kind == SpamRuleKind.DOMAIN:
        domain = message.email.rsplit("@", 1)[-1] if message.email else ""
        if domain and (domain == rule.pattern or domain.endswith("." + rule.pattern)):
            return f"Blocked domain {rule.pattern}"
    elif rule.kind == SpamRuleKind.HEADER:
        wanted = (rule.header_name or "").lower()
        value = next((v for k, v in message.headers.items() if k.lower() == wanted), None)
        if value is not None and _matches_text(rule.pattern, value):
            return f"Header {rule.header_name} matches {rule.pattern}"
    elif rule.kind == SpamRuleKind.CONTENT and any(
        _matches_text(rule.pattern, text) for text in (message.subject, message.body)
    ):
        return f"Content matches {rule.pattern}"
    return None


def upstream_verdict(headers: Mapping[str, str]) -> str | None:
    """Why a filter before deskhost (SpamAssassin, rspamd, the mail server) marked a message as
    spam, read from its ``X-Spam-Flag: YES`` or ``X-Spam-Status: Yes, score=…`` header; None
    when it did not (or no filter looked)."""
    for name, value in headers.items():
        # A header that came more than once is stored one value per line: any "yes" counts.
        for line in value.splitlines():
            if name.lower() == "x-spam-flag" and line.strip().lower() == "yes":
                return "Marked as spam upstream (X-Spam-Flag: YES)"
            if name.lower() == "x-spam-status" and _SPAM_STATUS_YES.match(line):
                return f"Marked as spam upstream (X-Spam-Status: {line.strip()[:200]})"
    return None


def classify(session: Session, message: Inspected, contact: Contact | None) -> str | None:
    """Why ``message`` is spam (a reason for the spam list), or None when it is not.

    ``contact`` is the sender's existing contact, if any (registration has not run yet: a
    spammer never becomes a contact).
    """
    if contact is not None and contact.is_spam:
        return "Sender's contact is marked as spam"
    if contact is not None and contact.account_id is not None:
        account = session.get(Account, contact.account_id)
        if account is not None and account.is_spam:
            return "Sender's account is marked as spam"
    # The rules an extension declared hold mail back while its installation is active: not
    # before the admin consents (after an install or a restore), nor while it is archived.
    active = select(Installation.id).where(Installation.state == InstallationState.ACTIVE)
    rules = session.scalars(
        select(SpamRule)
        .where(
            SpamRule.is_active.is_(True),
            SpamRule.installation_id.is_(None) | SpamRule.installation_id.in_(active),
        )
        .order_by(SpamRule.id)
    )
    for rule in rules:
        reason = _rule_reason(rule, message)
        if reason is not None:
            return reason
    return None


# ----------------------------------------------------------------------------- the spam list


def hold(
    unit: Unit,
    message: Inspected,
    *,
    reason: str,
    sender_name: str = "",
    department_id: int | None = None,
    contact: Contact | None = None,
    raw: bytes | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> SpamMessage:
    """Put a message on the spam list (no ticket, no contact created)."""
    held = SpamMessage(
        channel=message.channel,
        sender=(message.email or message.phone_e164 or message.external_id or "")[:320],
        sender_name=sender_name[:300],
        subject=message.subject[:500],
        body=message.body,
        headers={**dict(message.headers), **dict(extra_headers or {})},
        raw=raw,
        reason=reason[:300],
        department_id=department_id,
        contact_id=contact.id if contact is not None else None,
        account_id=contact.account_id if contact is not None else None,
        received_at=clock.now(),
    )
    unit.session.add(held)
    unit.session.flush()
    unit.audit("add", "spam_message", held.id, after={"sender": held.sender, "reason": held.reason})
    return held


def _visible(unit: Unit, query: Select[Any]) -> Select[Any]:
    visible = unit.actor.visible_department_ids()
    if visible is None:
        return query
    return query.where(
        SpamMessage.department_id.is_(None) | SpamMessage.department_id.in_(sorted(visible))
    )


def list_held(
    unit: Unit, *, limit: int = 50, before: Cursor | str | None = None
) -> list[SpamMessage]:
    """Messages waiting on the spam list (not released), newest first, one page at a time.

    Messages addressed to a department the agent is not in are left out.
    """
    unit.actor.require(permissions.SPAM_MANAGE)
    check_limit(limit)
    cursor = Cursor.parse(before)
    query = _visible(unit, select(SpamMessage).where(SpamMessage.released_at.is_(None)))
    query = newest_first(query, SpamMessage.received_at, SpamMessage.id, cursor, limit)
    return list(unit.session.scalars(query))


def cursor_of(message: SpamMessage) -> Cursor:
    """The cursor after ``message`` in :func:`list_held`."""
    return Cursor(message.received_at, message.id)


def get_held(unit: Unit, message_id: int) -> SpamMessage:
    """One message of the spam list.

    :raises NotFound: no such message, or it is for a department the agent is not in.
    """
    unit.actor.require(permissions.SPAM_MANAGE)
    message = unit.session.get(SpamMessage, message_id)
    department_id = message.department_id if message is not None else None
    if message is None or (
        department_id is not None and not unit.actor.can_see_department(department_id)
    ):
        raise NotFound("spam message not found")
    return message


def delete_held(unit: Unit, message: SpamMessage) -> None:
    """Delete a held message for good."""
    unit.actor.require(permissions.SPAM_MANAGE)
    unit.audit(
        "delete",
        "spam_message",
        message.id,
        before={"sender": message.sender, "subject": message.subject, "reason": message.reason},
    )
    unit.session.delete(message)
    unit.session.flush()


def block_sender(unit: Unit, message: SpamMessage) -> SpamRule:
    """Confirm a held message as spam: its sender's later messages are held by a sender rule.

    Blocking twice keeps the one rule (and switches it back on if it was off).
    """
    unit.actor.require(permissions.SPAM_MANAGE)
    if not message.sender:
        raise ValidationFailed({"sender": [Message("This message has no sender to block.")]})
    pattern = _clean_pattern(unit.session, SpamRuleKind.SENDER, message.sender)
    existing = unit.session.scalar(
        select(SpamRule).where(
            SpamRule.kind == SpamRuleKind.SENDER.value, SpamRule.pattern == pattern
        )
    )
    if existing is not None:
        if not existing.is_active:
            existing.is_active = True
            unit.session.flush()
            unit.audit(
                "update",
                "spam_rule",
                existing.id,
                before={"is_active": False},
                after={"is_active": True},
            )
        return existing
    return create_rule(
        unit,
        kind=SpamRuleKind.SENDER.value,
        pattern=pattern,
        permission=permissions.SPAM_MANAGE,
    )


def mark_released(unit: Unit, message: SpamMessage, ticket_id: int | None) -> None:
    """Record that an agent released ``message`` (its ticket, when one was made)."""
    message.released_at = clock.now()
    message.released_by_id = unit.actor.agent_id
    message.ticket_id = ticket_id
    unit.session.flush()
    unit.audit(
        "update",
        "spam_message",
        message.id,
        sub_action="release",
        before={"released_at": None},
        after={"released_at": message.released_at.isoformat(), "ticket_id": ticket_id},
    )
