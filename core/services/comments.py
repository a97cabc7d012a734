"""Comments on contacts and accounts, with @mentions of agents.

A comment is visible to every agent who may see its customer (customers are
organisation-wide); only its author edits or deletes it. A mention is stored in the body as a
token, ``@[Name](agent:12)``: the id is what counts (the name is rewritten to the agent's name
on save and shown as the agent's current name), so a mention survives renames and cannot be
spoofed by typing another name. Plain ``@Name`` text is not a mention. Each newly mentioned
agent gets a notification (see :mod:`core.services.notifications`); followers of the customer
are told by a reaction to the comment event (:mod:`core.services.follows`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import delete, func, or_, select

from core import permissions
from core.errors import Forbidden, Message, NotFound, ValidationFailed
from core.models import Account, Agent, Contact, CustomerComment, Notification, NotificationKind
from core.services import notifications
from core.services.base import (
    Cursor,
    Unit,
    check_limit,
    clean_text,
    iso,
    newest_first,
)
from hostapi import clock, events

MAX_BODY_LENGTH = 10_000
#: ``@[Name](agent:12)``: a name without brackets or line breaks, then the agent's id.
MENTION = re.compile(r"@\[([^\[\]\n]{1,200})\]\(agent:(\d{1,18})\)")

#: What a comment author may do to a comment that is not theirs: nothing (said by this name
#: in the 403 answer, since no profile permission grants it).
COMMENT_AUTHOR = "comment.author"

_EVENTS = {
    "contact": (
        events.CONTACT_COMMENT_ADDED,
        events.CONTACT_COMMENT_UPDATED,
        events.CONTACT_COMMENT_DELETED,
    ),
    "account": (
        events.ACCOUNT_COMMENT_ADDED,
        events.ACCOUNT_COMMENT_UPDATED,
        events.ACCOUNT_COMMENT_DELETED,
    ),
}


@dataclass(frozen=True)
class CustomerRef:
    """The contact or account a comment (or a follow) is about."""

    kind: str
    id: int

    @classmethod
    def of(cls, record: Contact | Account) -> CustomerRef:
        """The reference of a contact or an account record."""
        return cls("contact" if isinstance(record, Contact) else "account", record.id)

    @property
    def column(self) -> str:
        """The column naming it: ``contact_id`` or ``account_id``."""
        return f"{self.kind}_id"


def view_permission(kind: str) -> str:
    """The permission that shows customers of ``kind`` (``contact`` or ``account``)."""
    return permissions.CONTACT_VIEW if kind == "contact" else permissions.ACCOUNT_VIEW


def customer_of(unit: Unit, kind: str, customer_id: int) -> Contact | Account:
    """The contact or account ``customer_id`` the actor may see.

    :raises NotFound: no such record (or ``kind`` is neither ``contact`` nor ``account``).
    """
    model = {"contact": Contact, "account": Account}.get(kind)
    if model is None:
        raise NotFound("customer not found")
    unit.actor.require(view_permission(kind))
    record = unit.session.get(model, customer_id)
    if record is None:
        raise NotFound(f"{kind} not found")
    return record


# ----------------------------------------------------------------------------------- mentions


def mentioned_ids(body: str) -> list[int]:
    """The agent ids ``body`` mentions, in order of first mention."""
    seen: list[int] = []
    for match in MENTION.finditer(body):
        agent_id = int(match.group(2))
        if agent_id not in seen:
            seen.append(agent_id)
    return seen


def _token_name(name: str) -> str:
    cleaned = re.sub(r"[\[\]\n\r]", " ", name).strip()
    return cleaned[:200] or "agent"


def mention_token(agent: Agent) -> str:
    """The token that mentions ``agent`` in a comment body."""
    return f"@[{_token_name(agent.name)}](agent:{agent.id})"


def _canonical_mentions(
    unit: Unit, body: str, already: Iterable[int]
) -> tuple[str, list[int], list[Agent]]:
    """``body`` with each token naming its agent, the mentioned ids, and the new mentionees.

    A new mention must name an existing, active agent; one kept from before the edit stays
    even if its agent has left since (the comment's text is the author's, not ours to break).
    """
    ids = mentioned_ids(body)
    agents = (
        {a.id: a for a in unit.session.scalars(select(Agent).where(Agent.id.in_(ids)))}
        if ids
        else {}
    )
    before = set(already)
    refused = [i for i in ids if i not in before and (i not in agents or not agents[i].is_active)]
    if refused:
        listed = ", ".join(str(i) for i in refused)
        raise ValidationFailed(
            {
                "body": [
                    Message(
                        "Only active agents can be mentioned (not agent id %(ids)s).", ids=listed
                    )
                ]
            }
        )

    def canonical(match: re.Match[str]) -> str:
        agent = agents.get(int(match.group(2)))
        return mention_token(agent) if agent is not None else match.group(0)

    new = [agents[i] for i in ids if i not in before]
    return MENTION.sub(canonical, body), ids, new


def render_body(body: str, names: dict[int, str] | None = None) -> Markup:
    """A comment body as HTML: everything escaped, each mention a highlighted name.

    ``names`` maps agent ids to their current names (the token's stored name otherwise).
    """
    names = names or {}
    parts: list[str] = []
    position = 0
    for match in MENTION.finditer(body):
        parts.append(str(escape(body[position : match.start()])))
        agent_id = int(match.group(2))
        name = names.get(agent_id, match.group(1))
        parts.append(f'<span class="mention" data-agent-id="{agent_id}">@{escape(name)}</span>')
        position = match.end()
    parts.append(str(escape(body[position:])))
    return Markup("".join(parts))


def plain_text(body: str) -> str:
    """A comment body with mention tokens as ``@Name`` (for excerpts and notifications)."""
    return MENTION.sub(lambda m: f"@{m.group(1)}", body)


def excerpt(text: str, length: int = 200) -> str:
    """The first ``length`` characters of ``text`` on one line."""
    line = " ".join(text.split())
    return line if len(line) <= length else line[: length - 1] + "…"


def mentionable_agents(unit: Unit, term: str = "", limit: int = 10) -> list[Agent]:
    """Active agents whose name or email starts a word with ``term``, by name (autocomplete)."""
    check_limit(limit)
    query = select(Agent).where(Agent.is_active.is_(True))
    term = term.strip().lower()
    if term:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            or_(
                func.lower(Agent.name).like(f"{escaped}%", escape="\\"),
                func.lower(Agent.name).like(f"% {escaped}%", escape="\\"),
                func.lower(Agent.email).like(f"{escaped}%", escape="\\"),
            )
        )
    return list(unit.session.scalars(query.order_by(Agent.name, Agent.id).limit(limit)))


# ----------------------------------------------------------------------------------- comments


def _body(value: object) -> str:
    return clean_text(value, "body", max_length=MAX_BODY_LENGTH, required=True)


def _ref_of(comment: CustomerComment) -> CustomerRef:
    if comment.contact_id is not None:
        return CustomerRef("contact", comment.contact_id)
    assert comment.account_id is not None
    return CustomerRef("account", comment.account_id)


def _snapshot(comment: CustomerComment) -> dict[str, Any]:
    ref = _ref_of(comment)
    return {
        ref.column: ref.id,
        "body": comment.body,
        "mentioned_agent_ids": list(comment.mentioned_agent_ids or []),
    }


def _payload(comment: CustomerComment, **extra: Any) -> dict[str, Any]:
    ref = _ref_of(comment)
    return {
        "comment_id": comment.id,
        ref.column: ref.id,
        "author_agent_id": comment.author_id,
        "mentioned_agent_ids": list(comment.mentioned_agent_ids or []),
        **extra,
    }


def add_comment(unit: Unit, customer: Contact | Account, *, body: str) -> CustomerComment:
    """Comment on a contact or an account as the acting agent; mentioned agents are notified.

    :raises ValidationFailed: on ``body``: empty, over :data:`MAX_BODY_LENGTH` characters, or
        mentioning an unknown or inactive agent.
    """
    ref = CustomerRef.of(customer)
    unit.actor.require(view_permission(ref.kind))
    text, ids, new = _canonical_mentions(unit, _body(body), ())
    now = clock.now()
    comment = CustomerComment(
        author_id=unit.actor.agent_id,
        body=text,
        mentioned_agent_ids=ids,
        created_at=now,
        updated_at=now,
        **{ref.column: ref.id},
    )
    unit.session.add(comment)
    unit.session.flush()
    unit.audit("add", "customer_comment", comment.id, after=_snapshot(comment))
    _notify_mentioned(unit, comment, new)
    unit.emit(_EVENTS[ref.kind][0], _payload(comment, created_at=iso(now)))
    return comment


def get_comment(unit: Unit, comment_id: int) -> CustomerComment:
    """The comment ``comment_id``, if the actor may see its customer.

    :raises NotFound: no such comment.
    """
    comment = unit.session.get(CustomerComment, comment_id)
    if comment is None:
        raise NotFound("comment not found")
    unit.actor.require(view_permission(_ref_of(comment).kind))
    return comment


def list_comments(
    unit: Unit,
    customer: Contact | Account,
    *,
    limit: int = 50,
    before: Cursor | str | None = None,
) -> list[CustomerComment]:
    """A customer's comments, newest first, one page at a time."""
    ref = CustomerRef.of(customer)
    unit.actor.require(view_permission(ref.kind))
    check_limit(limit)
    column = getattr(CustomerComment, ref.column)
    query = newest_first(
        select(CustomerComment).where(column == ref.id),
        CustomerComment.created_at,
        CustomerComment.id,
        Cursor.parse(before),
        limit,
    )
    return list(unit.session.scalars(query))


def _require_author(unit: Unit, comment: CustomerComment) -> None:
    if unit.actor.agent is None or comment.author_id != unit.actor.agent_id:
        raise Forbidden(COMMENT_AUTHOR)


def update_comment(unit: Unit, comment: CustomerComment, *, body: str) -> CustomerComment:
    """Change a comment's text (its author only); only newly mentioned agents are notified.

    :raises Forbidden: the actor is not the author.
    :raises ValidationFailed: as for :func:`add_comment`.
    """
    _require_author(unit, comment)
    text, ids, new = _canonical_mentions(unit, _body(body), comment.mentioned_agent_ids or [])
    if text == comment.body:
        return comment
    before = _snapshot(comment)
    comment.body = text
    comment.mentioned_agent_ids = ids
    comment.updated_at = clock.now()
    unit.session.flush()
    unit.audit("update", "customer_comment", comment.id, before=before, after=_snapshot(comment))
    _notify_mentioned(unit, comment, new)
    unit.emit(
        _EVENTS[_ref_of(comment).kind][1],
        _payload(
            comment,
            changes={"body": [before["body"], text]},
            updated_at=iso(comment.updated_at),
        ),
    )
    return comment


def delete_comment(unit: Unit, comment: CustomerComment) -> None:
    """Delete a comment (its author only), with the notifications about it.

    :raises Forbidden: the actor is not the author.
    """
    _require_author(unit, comment)
    before = _snapshot(comment)
    payload = _payload(comment)
    kind = _ref_of(comment).kind
    unit.session.execute(delete(Notification).where(Notification.comment_id == comment.id))
    unit.session.delete(comment)
    unit.session.flush()
    unit.audit("delete", "customer_comment", payload["comment_id"], before=before)
    unit.emit(_EVENTS[kind][2], payload)


def _notify_mentioned(unit: Unit, comment: CustomerComment, agents: list[Agent]) -> None:
    ref = _ref_of(comment)
    for agent in agents:
        if agent.id == comment.author_id:
            continue  # mentioning yourself is not news to you
        notifications.notify(
            unit.session,
            agent_id=agent.id,
            kind=NotificationKind.MENTION,
            actor_id=comment.author_id,
            summary=excerpt(plain_text(comment.body)),
            comment_id=comment.id,
            **{ref.column: ref.id},
        )
