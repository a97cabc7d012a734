"""Contacts and accounts: lists, detail pages and the tab area extensions contribute to."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from core.services import customers as customer_service
from core.web.security import current_agent, login_required
from core.web.ui.paging import newest_first_page
from core.web.ui.panels import PanelView, panels_at
from core.web.ui.units import request_unit
from hostapi.types import Location, PanelTarget

blueprint = Blueprint("customers", __name__)


def _tabs(location: str, target: PanelTarget) -> tuple[list[PanelView], PanelView | None]:
    """The tabs at ``location`` and the selected one (``?tab=key``, else the first)."""
    agent = current_agent()
    assert agent is not None
    tabs = panels_at(location, target, agent)
    wanted = request.args.get("tab")
    selected = next((t for t in tabs if t.key == wanted), tabs[0] if tabs else None)
    return tabs, selected


@blueprint.get("/contacts")
@login_required
def contacts() -> ResponseReturnValue:
    """Contacts, newest first, searchable by name, email or phone."""
    q = request.args.get("q", "").strip()
    rows, older = newest_first_page(customer_service.list_contacts, search=q or None)
    return render_template("customers/contacts.html", contacts=rows, q=q, older=older)


@blueprint.get("/contacts/<int:contact_id>")
@login_required
def contact(contact_id: int) -> ResponseReturnValue:
    """One contact: details and the tab area."""
    record = customer_service.get_contact(request_unit(), contact_id)
    tabs, selected = _tabs(Location.CONTACT_SUBTAB, PanelTarget("contact", record.id))
    return render_template(
        "customers/contact.html",
        contact=record,
        tabs=tabs,
        selected=selected,
        tab_location=Location.CONTACT_SUBTAB,
    )


@blueprint.get("/accounts")
@login_required
def accounts() -> ResponseReturnValue:
    """Accounts, newest first, searchable by name."""
    q = request.args.get("q", "").strip()
    rows, older = newest_first_page(customer_service.list_accounts, search=q or None)
    return render_template("customers/accounts.html", accounts=rows, q=q, older=older)


@blueprint.get("/accounts/<int:account_id>")
@login_required
def account(account_id: int) -> ResponseReturnValue:
    """One account: details, its contacts and the tab area."""
    unit = request_unit()
    record = customer_service.get_account(unit, account_id)
    members = customer_service.list_contacts(unit, account_id=record.id, limit=100)
    tabs, selected = _tabs(Location.ACCOUNT_SUBTAB, PanelTarget("account", record.id))
    return render_template(
        "customers/account.html",
        account=record,
        members=members,
        tabs=tabs,
        selected=selected,
        tab_location=Location.ACCOUNT_SUBTAB,
    )
