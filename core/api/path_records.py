"""The records an API path names, looked up as the caller before the request's input is read.

``POST /tickets/<ticket_id>/threads`` for a ticket outside the caller's departments answers 404
whatever its body, and one by an agent without the permission to see the ticket answers 403:
were the body validated first, its 422 would tell the caller that the ticket exists. The
blueprints' argument parser (:mod:`core.api.blueprint`) calls :func:`check_path_records`
before it parses a body or a query string; a path parameter is looked up by its name
(:data:`RESOLVERS`), with the service getter a view would use, so a new endpoint whose path
names a ticket, a contact… is covered without more code. The view looks the record up again
(from the session, no second query) and checks what its action needs.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import request

from core.api.auth import unit
from core.customer_import import runner as import_runner
from core.intake import spam
from core.models import CustomView
from core.services import (
    activities,
    attachments,
    comments,
    contracts,
    customers,
    fields,
    knowledge_base,
    org,
    products,
    sla,
    tickets,
    views,
)
from core.services.base import Unit


def _saved_view(work: Unit, view_id: int) -> object:
    """A saved view, as its entity's view service would give it to the caller."""
    view = work.session.get(CustomView, view_id)
    return views.get_saved_view(work, view.entity if view is not None else "contact", view_id)


#: Path parameter name → the service getter that raises NotFound (outside the caller's reach)
#: or Forbidden (missing permission) for its record.
RESOLVERS: dict[str, Callable[[Unit, int], object]] = {
    "ticket_id": tickets.get_ticket,
    "message_id": spam.get_held,
    "contact_id": customers.get_contact,
    "account_id": customers.get_account,
    "comment_id": comments.get_comment,
    "field_id": fields.get_field,
    "import_id": import_runner.get_import,
    "rule_id": spam.get_rule,
    "view_id": _saved_view,
    "agent_id": org.get_agent,
    "policy_id": sla.get_policy,
    "holiday_id": sla.find_holiday,
    # Only setup paths name a department (its settings, business hours): 404, then 403.
    "department_id": org.department_for_setup,
    "profile_id": org.get_profile,
    "status_id": tickets.get_status,
    "product_id": products.get_product,
    "activity_id": activities.get_activity,
    "attachment_id": attachments.get_attachment,
    "contract_id": contracts.get_contract,
    "category_id": knowledge_base.get_category,
    "article_id": knowledge_base.get_article,
}


def check_path_records() -> None:
    """Look up, as the caller, every record the request's path names (raises on refusal)."""
    named = {
        name: value
        for name, value in (request.view_args or {}).items()
        if name in RESOLVERS and isinstance(value, int)
    }
    if not named:
        return
    work = unit()
    for name, value in named.items():
        RESOLVERS[name](work, value)
