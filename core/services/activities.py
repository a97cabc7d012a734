"""Activities: calls, events and tasks about a contact, an account or a ticket.

An activity about a ticket belongs to the ticket's department and is seen only by agents of
that department; one about a contact or an account alone is organisation-wide. Activities
are audited; ``hostapi.events`` defines no event for them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import Account, Activity, Agent, Contact, Ticket
from core.models.tickets import ActivityKind
from core.models.types import INT64_MAX
from core.services.base import (
    Cursor,
    Unit,
    apply_changes,
    clean_text,
    gather,
    gather_changes,
    iso,
    jsonable,
    older_than,
    refuse_unknown_fields,
    require_aware,
    split_changes,
)
from hostapi import clock, events

ACTIVITY_KINDS: frozenset[str] = frozenset(kind.value for kind in ActivityKind)
UPDATABLE_FIELDS: frozenset[str] = frozenset({"subject", "description", "due_at", "owner_id"})

#: The views of a customer's activities: the open ones, every one but spam, the spam.
UPCOMING, ALL, SPAM = "upcoming", "all", "spam"
ACTIVITY_VIEWS: tuple[str, ...] = (UPCOMING, ALL, SPAM)

#: :func:`count_upcoming` stops counting past this many.
COUNT_CAP = 10_000


def create_activity(
    unit: Unit,
    *,
    kind: str,
    subject: str,
    contact_id: int | None = None,
    account_id: int | None = None,
    ticket_id: int | None = None,
    description: str = "",
    due_at: datetime | None = None,
    owner_id: int | None = None,
    created_at: datetime | None = None,
) -> Activity:
    """Log a call, event or task about at least one of a contact, an account or a ticket.

    The owner defaults to the acting agent.
    """
    unit.actor.require(permissions.ACTIVITY_MANAGE)
    session = unit.session
    ticket = _visible_ticket(unit, ticket_id) if ticket_id is not None else None
    values = gather(
        {
            "kind": lambda: _kind(kind),
            "subject": lambda: clean_text(subject, "subject", max_length=500, required=True),
            "description": lambda: clean_text(description, "description", max_length=100_000),
            "contact_id": lambda: _exists(session, Contact, contact_id, "contact_id"),
            "account_id": lambda: _exists(session, Account, account_id, "account_id"),
            "owner_id": lambda: _exists(session, Agent, owner_id, "owner_id"),
            "due_at": lambda: require_aware(due_at, "due_at"),
            "created_at": lambda: require_aware(created_at, "created_at"),
        }
    )
    if contact_id is None and account_id is None and ticket is None:
        raise ValidationFailed({"_schema": [Message("Give a contact, an account or a ticket.")]})
    activity = Activity(
        kind=kind,
        subject=values["subject"],
        description=values["description"],
        contact_id=contact_id if contact_id is not None else _ticket_field(ticket, "contact_id"),
        account_id=account_id if account_id is not None else _ticket_field(ticket, "account_id"),
        ticket_id=ticket_id,
        department_id=ticket.department_id if ticket is not None else None,
        owner_id=owner_id if owner_id is not None else unit.actor.agent_id,
        due_at=due_at,
        created_at=created_at or clock.now(),
    )
    session.add(activity)
    session.flush()
    unit.audit("add", "activity", activity.id, after=_snapshot(activity))
    unit.emit(
        events.ACTIVITY_CREATED,
        {
            "activity_id": activity.id,
            "kind": activity.kind,
            "contact_id": activity.contact_id,
            "account_id": activity.account_id,
            "ticket_id": activity.ticket_id,
        },
        _departments_of(activity),
    )
    return activity


def get_activity(unit: Unit, activity_id: int) -> Activity:
    """The activity ``activity_id`` if the actor may see it.

    :raises NotFound: no such activity, or it belongs to a department the actor is not in.
    """
    activity = unit.session.get(Activity, activity_id)
    if activity is None or (
        activity.department_id is not None
        and not unit.actor.can_see_department(activity.department_id)
    ):
        raise NotFound("activity not found")
    return activity


def list_activities(
    unit: Unit,
    *,
    contact_id: int | None = None,
    account_id: int | None = None,
    ticket_id: int | None = None,
    open_only: bool = False,
    include_spam: bool = False,
) -> list[Activity]:
    """Activities the actor may see, soonest due first (undated last), then newest."""
    query = _visible(unit, select(Activity))
    for column, value in (
        (Activity.contact_id, contact_id),
        (Activity.account_id, account_id),
        (Activity.ticket_id, ticket_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if open_only:
        query = query.where(Activity.completed_at.is_(None))
    if not include_spam:
        query = query.where(Activity.is_spam.is_(False))
    query = query.order_by(
        Activity.due_at.is_(None), Activity.due_at, Activity.created_at.desc(), Activity.id
    )
    return list(unit.session.scalars(query))


@dataclass(frozen=True)
class ActivityCursor:
    """Where a page of a customer's activities ends: the last row's sort time and id.

    The sort time is the due time in the upcoming view (``None`` for an undated activity,
    listed after the dated ones), else the time the activity was logged.
    """

    moment: datetime | None
    id: int

    @classmethod
    def of(cls, activity: Activity, view: str) -> ActivityCursor:
        """The cursor just after ``activity`` in ``view``."""
        return cls(activity.due_at if view == UPCOMING else activity.created_at, activity.id)

    def encode(self) -> str:
        """The opaque string form."""
        moment = self.moment.isoformat() if self.moment is not None else ""
        return base64.urlsafe_b64encode(f"{moment}|{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, value: ActivityCursor | str | None, field: str) -> ActivityCursor | None:
        """A cursor from either form; a malformed string is a validation error on ``field``."""
        if value is None or isinstance(value, ActivityCursor):
            return value
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            moment_text, id_text = raw.rsplit("|", 1)
            moment = datetime.fromisoformat(moment_text) if moment_text else None
            if moment is not None and moment.tzinfo is None:
                raise ValueError("naive")
            position = int(id_text)
            if not 0 < position <= INT64_MAX:
                raise ValueError("no such id")
        except (ValueError, UnicodeDecodeError) as error:
            raise ValidationFailed({field: [Message("Not a valid page cursor.")]}) from error
        return cls(moment, position)


def list_customer_activities(
    unit: Unit,
    *,
    contact_id: int | None = None,
    account_id: int | None = None,
    view: str = UPCOMING,
    kind: str | None = None,
    limit: int = 20,
    after: ActivityCursor | str | None = None,
    cursor_field: str = "cursor",
) -> list[Activity]:
    """A page of the activities about a contact or an account that the actor may see.

    ``upcoming``: the open ones (neither completed nor spam), soonest due first, overdue ones
    included and undated ones last; ``all``: every one but spam, newest first; ``spam``: the
    ones marked as spam, newest first. An account's activities include those of its contacts.
    ``kind`` keeps calls, events or tasks only; ``after`` is the cursor of the page before
    (a malformed one is a validation error on ``cursor_field``).
    """
    if view not in ACTIVITY_VIEWS:
        raise ValidationFailed({"view": [Message("Unknown view.")]})
    if kind is not None:
        _kind(kind)
    cursor = ActivityCursor.parse(after, cursor_field)
    query = _of_customer(unit, contact_id, account_id).where(*_in_view(view))
    if kind is not None:
        query = query.where(Activity.kind == kind)
    if view == UPCOMING:
        if cursor is not None:
            query = query.where(_due_after(cursor))
        query = query.order_by(Activity.due_at.is_(None), Activity.due_at, Activity.id)
    else:
        if cursor is not None:
            if cursor.moment is None:  # an upcoming view's cursor: no position in this order
                raise ValidationFailed({cursor_field: [Message("Not a valid page cursor.")]})
            logged = Cursor(cursor.moment, cursor.id)
            query = query.where(older_than(Activity.created_at, Activity.id, logged))
        query = query.order_by(Activity.created_at.desc(), Activity.id.desc())
    return list(unit.session.scalars(query.limit(limit)))


def count_upcoming(
    unit: Unit, *, contact_id: int | None = None, account_id: int | None = None
) -> int:
    """How many activities the upcoming view lists (stops at :data:`COUNT_CAP` + 1)."""
    query = _of_customer(unit, contact_id, account_id).where(*_in_view(UPCOMING))
    limited = query.with_only_columns(Activity.id).limit(COUNT_CAP + 1).subquery()
    return int(unit.session.scalar(select(func.count()).select_from(limited)) or 0)


def update_activity(unit: Unit, activity: Activity, **changes: Any) -> Activity:
    """Change an activity's subject, description, due time or owner."""
    _require_manage(unit, activity)
    refuse_unknown_fields(changes, UPDATABLE_FIELDS)
    checks = {
        "subject": lambda v: clean_text(v, "subject", max_length=500, required=True),
        "description": lambda v: clean_text(v, "description", max_length=100_000),
        "due_at": lambda v: require_aware(v, "due_at"),
        "owner_id": lambda v: _exists(unit.session, Agent, v, "owner_id"),
    }
    values = gather_changes(checks, changes)
    _record(unit, activity, apply_changes(activity, values))
    return activity


def complete_activity(unit: Unit, activity: Activity, *, completed: bool = True) -> Activity:
    """Mark an activity done (now), or not done again."""
    _require_manage(unit, activity)
    if completed and activity.completed_at is not None:
        return activity
    value = clock.now() if completed else None
    _record(unit, activity, apply_changes(activity, {"completed_at": value}), "complete")
    return activity


def mark_spam(unit: Unit, activity: Activity, is_spam: bool = True) -> Activity:
    """Flag an activity as spam (hidden from lists), or clear the flag."""
    _require_manage(unit, activity)
    _record(unit, activity, apply_changes(activity, {"is_spam": bool(is_spam)}), "spam")
    return activity


def _visible(unit: Unit, query: Select[Any]) -> Select[Any]:
    """``query`` narrowed to the activities the actor may see."""
    visible = unit.actor.visible_department_ids()
    if visible is None:
        return query
    return query.where(
        or_(Activity.department_id.is_(None), Activity.department_id.in_(sorted(visible)))
    )


def _of_customer(unit: Unit, contact_id: int | None, account_id: int | None) -> Select[Any]:
    """The visible activities about the contact, or about the account and its contacts."""
    if contact_id is not None:
        unit.actor.require(permissions.CONTACT_VIEW)
        about: ColumnElement[bool] = Activity.contact_id == contact_id
    elif account_id is not None:
        unit.actor.require(permissions.ACCOUNT_VIEW)
        # Its contacts as they are now: a call with a contact is about the contact's account.
        contacts = select(Contact.id).where(Contact.account_id == account_id)
        about = or_(Activity.account_id == account_id, Activity.contact_id.in_(contacts))
    else:
        raise ValueError("give a contact or an account")
    return _visible(unit, select(Activity).where(about))


def _in_view(view: str) -> tuple[ColumnElement[bool], ...]:
    if view == UPCOMING:
        return (Activity.completed_at.is_(None), Activity.is_spam.is_(False))
    return (Activity.is_spam.is_(view == SPAM),)


def _due_after(cursor: ActivityCursor) -> ColumnElement[bool]:
    """The keyset condition of the upcoming view: after ``cursor``, undated ones last."""
    if cursor.moment is None:
        return and_(Activity.due_at.is_(None), Activity.id > cursor.id)
    return or_(
        Activity.due_at > cursor.moment,
        and_(Activity.due_at == cursor.moment, Activity.id > cursor.id),
        Activity.due_at.is_(None),
    )


def _require_manage(unit: Unit, activity: Activity) -> None:
    unit.actor.require(permissions.ACTIVITY_MANAGE)
    if activity.department_id is not None:
        unit.actor.require_department(activity.department_id, "activity")


def _record(
    unit: Unit, activity: Activity, changed: dict[str, list[Any]], sub_action: str = ""
) -> None:
    if changed:
        unit.session.flush()
        before, after = split_changes(changed)
        unit.audit(
            "update",
            "activity",
            activity.id,
            sub_action=sub_action,
            before=before,
            after=after,
            # The values name only what changed: the activity's customer joins them here.
            customer=(activity.contact_id, activity.account_id),
        )
        unit.emit(
            events.ACTIVITY_UPDATED,
            {"activity_id": activity.id, "changes": jsonable(changed)},
            _departments_of(activity),
        )


def _visible_ticket(unit: Unit, ticket_id: int) -> Ticket:
    ticket = unit.session.get(Ticket, ticket_id)
    if ticket is None or not unit.actor.can_see_department(ticket.department_id):
        raise ValidationFailed({"ticket_id": [Message("Unknown ticket.")]})
    return ticket


def _ticket_field(ticket: Ticket | None, name: str) -> int | None:
    return getattr(ticket, name) if ticket is not None else None


def _kind(kind: str) -> str:
    if kind not in ACTIVITY_KINDS:
        choices = ", ".join(sorted(ACTIVITY_KINDS))
        raise ValidationFailed({"kind": [Message("Choose one of: %(choices)s.", choices=choices)]})
    return kind


def _exists(session: Any, model: type, record_id: int | None, field: str) -> int | None:
    if record_id is not None and session.get(model, record_id) is None:
        raise ValidationFailed({field: [Message("Unknown record.")]})
    return record_id


def _snapshot(activity: Activity) -> dict[str, Any]:
    return {
        "kind": activity.kind,
        "subject": activity.subject,
        "contact_id": activity.contact_id,
        "account_id": activity.account_id,
        "ticket_id": activity.ticket_id,
        "owner_id": activity.owner_id,
        "due_at": iso(activity.due_at),
    }


def _departments_of(activity: Activity) -> tuple[int, ...]:
    """A ticket's activity goes to installations of its department; others by scope."""
    return (activity.department_id,) if activity.department_id is not None else ()
