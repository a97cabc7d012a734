"""The Activities tab's forms: log a call, event or task about a contact or an account, and
complete, reopen, reschedule or flag one.

Each form posts with the customer page's query (the tab selected, its filters) and comes
back to it: after the change with a redirect, or with the form's errors (422, nothing
stored) by rendering the page again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from core import permissions

# The module, not its names: the tab imports this package (request_unit) while it loads.
from core.customer_tabs import activities as activities_tab
from core.errors import Message, NotFound, ValidationFailed
from core.models import Account, Activity, Agent, Contact
from core.models.types import id_maximum
from core.services import activities as activity_service
from core.services import comments as comment_service
from core.services.base import parse_whole_number
from core.web.database import db_session
from core.web.i18n import select_timezone
from core.web.security import login_required
from core.web.ui import customers as customer_pages
from core.web.ui.units import committed_or_errors, request_unit

blueprint = Blueprint("activities", __name__)

_KINDS = {"contacts": "contact", "accounts": "account"}
_CUSTOMER_PATH = "/<any(contacts, accounts):kinds>/<bigid:customer_id>/activities"
_ACTIVITY_PATH = _CUSTOMER_PATH + "/<bigid:activity_id>"


def local_moment(value: str, field: str = "due_at") -> datetime:
    """A ``datetime-local`` value, read in the organisation's time zone (an offset, if given,
    wins); an unreadable one is a validation error on ``field``."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed({field: [Message("Give a date and a time.")]}) from None
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=ZoneInfo(select_timezone()))


@blueprint.post(_CUSTOMER_PATH)
@login_required
def create(kinds: str, customer_id: int) -> ResponseReturnValue:
    """Log a call, event or task about the contact or account, owned by the agent chosen."""
    customer = _manageable_customer(kinds, customer_id)
    form = {
        name: request.form.get(name, "")
        for name in ("kind", "subject", "description", "due_at", "owner_id")
    }

    def change() -> None:
        # The form's own fields are read before the service runs: it writes nothing then.
        due_at = local_moment(form["due_at"]) if form["due_at"].strip() else None
        owner_id = _owner_id(form["owner_id"])
        activity_service.create_activity(
            request_unit(),
            kind=form["kind"],
            subject=form["subject"],
            description=form["description"],
            due_at=due_at,
            owner_id=owner_id,
            **{f"{_KINDS[kinds]}_id": customer.id},
        )

    return _done(customer, "create", form, change)


@blueprint.post(f"{_ACTIVITY_PATH}/complete")
@login_required
def complete(kinds: str, customer_id: int, activity_id: int) -> ResponseReturnValue:
    """Mark the activity done (``completed=1``) or not done again (``completed=0``)."""
    customer, activity = _manageable_activity(kinds, customer_id, activity_id)
    completed = request.form.get("completed", "1") != "0"
    return _done(
        customer,
        activity.id,
        {},
        lambda: activity_service.complete_activity(request_unit(), activity, completed=completed),
    )


@blueprint.post(f"{_ACTIVITY_PATH}/reschedule")
@login_required
def reschedule(kinds: str, customer_id: int, activity_id: int) -> ResponseReturnValue:
    """Move the activity to a new due time (in the organisation's time zone)."""
    customer, activity = _manageable_activity(kinds, customer_id, activity_id)
    form = {"due_at": request.form.get("due_at", "")}
    return _done(
        customer,
        activity.id,
        form,
        lambda: activity_service.update_activity(
            request_unit(), activity, due_at=local_moment(form["due_at"])
        ),
    )


@blueprint.post(f"{_ACTIVITY_PATH}/spam")
@login_required
def spam(kinds: str, customer_id: int, activity_id: int) -> ResponseReturnValue:
    """Flag the activity as spam (``is_spam=1``), or clear the flag (``is_spam=0``)."""
    customer, activity = _manageable_activity(kinds, customer_id, activity_id)
    is_spam = request.form.get("is_spam", "1") != "0"
    return _done(
        customer,
        activity.id,
        {},
        lambda: activity_service.mark_spam(request_unit(), activity, is_spam),
    )


def _manageable_customer(kinds: str, customer_id: int) -> Contact | Account:
    """The customer of the path, once the agent is known to manage activities (403 first:
    a refusal must not depend on what the form holds)."""
    unit = request_unit()
    unit.actor.require(permissions.ACTIVITY_MANAGE)
    return comment_service.customer_of(unit, _KINDS[kinds], customer_id)


def _manageable_activity(
    kinds: str, customer_id: int, activity_id: int
) -> tuple[Contact | Account, Activity]:
    """The customer and its activity (404 for one the agent may not see or of another)."""
    customer = _manageable_customer(kinds, customer_id)
    activity = activity_service.get_activity(request_unit(), activity_id)
    if not _is_about(activity, customer):
        raise NotFound("activity not found")
    return customer, activity


def _is_about(activity: Activity, customer: Contact | Account) -> bool:
    """True when the customer's tab lists the activity (an account's: its contacts' too)."""
    if isinstance(customer, Contact):
        return activity.contact_id == customer.id
    if activity.account_id == customer.id:
        return True
    contact = db_session().get(Contact, activity.contact_id) if activity.contact_id else None
    return contact is not None and contact.account_id == customer.id


def _owner_id(value: str) -> int | None:
    if not value.strip():
        return None
    owner_id = parse_whole_number(value, id_maximum(Agent))
    if owner_id is None:
        raise ValidationFailed({"owner_id": [Message("Unknown record.")]})
    return owner_id


def _done(
    customer: Contact | Account,
    target: str | int,
    values: dict[str, str],
    change: Callable[[], object],
) -> ResponseReturnValue:
    """Commit ``change`` and go back to the tab, or show the page again with its errors."""
    errors = committed_or_errors(change)
    if errors:
        g.activity_form = {"target": target, "errors": errors, "values": values}
        if isinstance(customer, Contact):
            return customer_pages.contact(customer.id), 422
        return customer_pages.account(customer.id), 422
    kind = "contact" if isinstance(customer, Contact) else "account"
    query = urlencode({**request.args.to_dict(flat=True), "tab": activities_tab.tab_key(kind)})
    if isinstance(customer, Contact):
        page = url_for("customers.contact", contact_id=customer.id)
    else:
        page = url_for("customers.account", account_id=customer.id)
    return redirect(f"{page}?{query}#customer-tabs")
