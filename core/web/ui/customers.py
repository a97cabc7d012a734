"""Contacts and accounts: view-driven lists, detail pages, forms and saved views."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from core.errors import Message, NotFound, ValidationFailed
from core.models import Account, Agent, Contact, CustomField, FieldType, Product
from core.models.types import id_maximum
from core.services import customers as customer_service
from core.services import fields as field_service
from core.services import tickets as ticket_service
from core.services import views as view_service
from core.services.base import Unit, parse_whole_number
from core.services.views import ViewPage, ViewSpec
from core.web.database import db_session
from core.web.security import current_agent, login_required
from core.web.ui.panels import PanelView, panels_at
from core.web.ui.units import request_unit
from hostapi.types import Location, PanelTarget

blueprint = Blueprint("customers", __name__)

PAGE_SIZE = 50
#: The list pages by entity: (list endpoint, plural used in URLs).
_PLURALS = {"contact": "contacts", "account": "accounts"}
_ENTITIES = {plural: entity for entity, plural in _PLURALS.items()}


def _tabs(location: str, target: PanelTarget) -> tuple[list[PanelView], PanelView | None]:
    """The tabs at ``location`` and the selected one (``?tab=key``, else the first)."""
    agent = current_agent()
    assert agent is not None
    # A form re-shown with its errors (422) names the tab it was in.
    wanted = request.args.get("tab") or g.get("selected_tab")
    tabs = panels_at(location, target, agent, as_tabs=True, selected=wanted)
    selected = next((t for t in tabs if t.key == wanted), tabs[0] if tabs else None)
    return tabs, selected


# ------------------------------------------------------------------------------- list pages


def _view_page(unit: Unit, spec: ViewSpec, cursor: str | None, q: str) -> ViewPage:
    """The page of ``spec`` after ``cursor``, searched for ``q``; the first page when the
    cursor is of another sort order (the view was edited since)."""
    try:
        return view_service.run_view(unit, spec, limit=PAGE_SIZE, cursor=cursor, search=q or None)
    except ValidationFailed:
        return view_service.run_view(unit, spec, limit=PAGE_SIZE, search=q or None)


def _list_page(entity: str) -> ResponseReturnValue:
    """A list page: the chosen view's page of rows, its count, columns and pager."""
    unit = request_unit()
    q = request.args.get("q", "").strip()
    spec = view_service.get_view(unit, entity, request.args.get("view") or "all")
    cursor = request.args.get("cursor") or None
    page = _view_page(unit, spec, cursor, q)
    known = view_service.view_fields(unit.session, entity)
    columns = [known[name] for name in spec.columns if name in known]
    agent = current_agent()
    return render_template(
        f"customers/{_PLURALS[entity]}.html",
        entity=entity,
        plural=_PLURALS[entity],
        views=view_service.list_views(unit, entity),
        view=spec,
        can_edit_view=spec.saved is not None
        and agent is not None
        and spec.saved.owner_id == agent.id,
        page=page,
        count=view_service.count_view(unit, spec, search=q or None),
        columns=columns,
        agents=view_service.agent_names(unit.session, page.rows),
        cell=view_service.column_value,
        q=q,
        # A record opened from this page lists this page beside it.
        record_url=partial(_record_url, entity, _list_args(spec.key, q, cursor)),
    )


# ------------------------------------------------------------------- the list beside a record


@dataclass(frozen=True)
class RecordList:
    """The list page an agent opened a record from, shown beside the record (its view, search
    and page, carried in the record's URL as ``list_view``, ``list_q`` and ``list_cursor``)."""

    entity: str
    view: ViewSpec
    q: str
    page: ViewPage
    owners: dict[int, str]
    #: The list's arguments, for links to other records (the selected tab kept).
    record_args: dict[str, str]
    #: The list page itself, as the list shows it.
    list_url: str

    def url(self, record_id: int, **changes: str) -> str:
        """The page of record ``record_id`` with this list beside it, and ``changes`` to its
        arguments (``tab``, ``list_cursor``, a tab's own)."""
        return _record_url(self.entity, self.record_args | changes, record_id)


def _record_url(entity: str, args: dict[str, str], record_id: int) -> str:
    """The page of record ``record_id`` with the arguments ``args``."""
    return url_for(f"customers.{entity}", **{f"{entity}_id": record_id}, **args)


def _list_args(view_key: str, q: str, cursor: str | None) -> dict[str, str]:
    """The URL arguments that carry a list page into a record's page."""
    args = {"list_view": view_key, "list_q": q, "list_cursor": cursor or ""}
    return {name: value for name, value in args.items() if value}


def _record_list(unit: Unit, entity: str) -> RecordList:
    """The list beside a record: the list page named by the URL (else the first page of
    "all"); a view the agent may no longer see falls back to "all"."""
    args = request.args
    q = args.get("list_q", "").strip()
    try:
        spec = view_service.get_view(unit, entity, args.get("list_view") or "all")
    except NotFound:
        spec = view_service.get_view(unit, entity, "all")
    cursor = args.get("list_cursor") or None
    page = _view_page(unit, spec, cursor, q)
    record_args = _list_args(spec.key, q, cursor)
    if args.get("tab"):
        record_args["tab"] = args["tab"]
    list_args = {"view": spec.key, "q": q, "cursor": cursor or ""}
    return RecordList(
        entity=entity,
        view=spec,
        q=q,
        page=page,
        owners=view_service.agent_names(unit.session, page.rows),
        record_args=record_args,
        list_url=url_for(
            f"customers.{_PLURALS[entity]}", **{k: v for k, v in list_args.items() if v}
        ),
    )


@blueprint.get("/contacts")
@login_required
def contacts() -> ResponseReturnValue:
    """Contacts in the chosen view (default: all), searchable, with the view's count."""
    return _list_page("contact")


@blueprint.get("/accounts")
@login_required
def accounts() -> ResponseReturnValue:
    """Accounts in the chosen view (default: all), searchable, with the view's count."""
    return _list_page("account")


# ------------------------------------------------------------------------------ detail pages


@blueprint.get("/contacts/<bigid:contact_id>")
@login_required
def contact(contact_id: int) -> ResponseReturnValue:
    """One contact: details and the tab area."""
    unit = request_unit()
    record = customer_service.get_contact(unit, contact_id)
    tabs, selected = _tabs(Location.CONTACT_SUBTAB, PanelTarget("contact", record.id))
    return render_template(
        "customers/contact.html",
        contact=record,
        record_list=_record_list(unit, "contact"),
        ticket_summary=ticket_service.status_summary(unit, contact_id=record.id),
        tabs=tabs,
        selected=selected,
        tab_location=Location.CONTACT_SUBTAB,
    )


@blueprint.get("/accounts/<bigid:account_id>")
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
        record_list=_record_list(unit, "account"),
        ticket_summary=ticket_service.status_summary(unit, account_id=record.id),
        members=members,
        tabs=tabs,
        selected=selected,
        tab_location=Location.ACCOUNT_SUBTAB,
    )


@blueprint.app_template_global()
def custom_field_rows(record: Contact | Account, entity: str) -> list[tuple[CustomField, str]]:
    """A record's custom fields in layout order with their values as text (lookups by name)."""
    session = db_session()
    rows = []
    for field in field_service.fields_for(session, entity):
        value = (record.custom_fields or {}).get(field.key)
        text = field_service.display_value(field, value)
        if field.field_type == FieldType.LOOKUP and value is not None:
            text = _lookup_name(field.lookup_entity or "", value) or text
        rows.append((field, text))
    return rows


def _lookup_name(target: str, record_id: int) -> str | None:
    model = field_service.LOOKUP_TARGETS.get(target)
    found = db_session().get(model, record_id) if model is not None else None
    return getattr(found, "name", None) if found is not None else None


# ------------------------------------------------------------------------- record forms

_CONTACT_TEXT = (
    "first_name",
    "last_name",
    "name_order",
    "email",
    "phone",
    "mobile",
    "title",
    "description",
)
_ACCOUNT_TEXT = ("name", "website", "phone", "industry", "description")


def _custom_form_values(entity: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The custom field inputs of the posted form as typed values, and the unreadable ones."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for field in field_service.fields_for(db_session(), entity):
        name = f"cf__{field.key}"
        if field.field_type == FieldType.CHECKBOX:
            values[field.key] = request.form.get(name) in ("on", "true")
            continue
        try:
            values[field.key] = field_service.parse_custom_value(field, request.form.get(name, ""))
        except field_service.InvalidValue as error:
            errors[f"custom_fields.{field.key}"] = [error.message]
    return values, errors


def _optional_id(name: str, model: type[Account | Agent]) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    number = parse_whole_number(raw, id_maximum(model))
    if number is None:
        raise ValidationFailed({name: [Message("Choose from the list.")]})
    return number


def _form_choices() -> dict[str, Any]:
    session = db_session()
    return {
        "owners": list(session.execute(select(Agent.id, Agent.name).order_by(Agent.name))),
        "account_choices": list(
            session.execute(select(Account.id, Account.name).order_by(Account.name).limit(500))
        ),
    }


def _render_record_form(
    entity: str,
    record: Contact | Account | None,
    *,
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    session = db_session()
    return (
        render_template(
            f"customers/{entity}_form.html",
            entity=entity,
            record=record,
            values=values,
            custom_fields=field_service.fields_for(session, entity),
            lookup_choices=_lookup_choices(session),
            form_errors=errors or {},
            **_form_choices(),
        ),
        status,
    )


def _lookup_choices(session: Any) -> dict[str, list[tuple[int, str]]]:
    """Agents and products to pick in lookup fields (small tables; others take an id)."""
    return {
        "agent": [tuple(row) for row in session.execute(select(Agent.id, Agent.name))],
        "product": [
            tuple(row) for row in session.execute(select(Product.id, Product.name).limit(500))
        ],
    }


def _record_values(record: Contact | Account | None, names: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(record, name) or "" for name in names} if record else {}
    if record is not None:
        values["owner_id"] = record.owner_id or ""
        values["account_id"] = getattr(record, "account_id", None) or ""
        for key, value in (record.custom_fields or {}).items():
            values[f"cf__{key}"] = value
    return values


def _save_record(entity: str, record: Contact | Account | None) -> ResponseReturnValue:
    """Create or update a contact or account from the posted form."""
    unit = request_unit()
    names = _CONTACT_TEXT if entity == "contact" else _ACCOUNT_TEXT
    form = {name: request.form.get(name, "") for name in names}
    custom, errors = _custom_form_values(entity)
    try:
        form["owner_id"] = _optional_id("owner_id", Agent)
        if entity == "contact":
            form["account_id"] = _optional_id("account_id", Account)
            form["email"] = form["email"] or None
            form["name_order"] = form["name_order"] or "auto"
    except ValidationFailed as failure:
        errors |= failure.errors
    if not errors:
        try:
            if entity == "contact":
                if record is None:
                    record = customer_service.create_contact(unit, **form, custom_fields=custom)
                else:
                    customer_service.update_contact(unit, record, **form, custom_fields=custom)
            elif record is None:
                record = customer_service.create_account(unit, **form, custom_fields=custom)
            else:
                customer_service.update_account(unit, record, **form, custom_fields=custom)
        except ValidationFailed as failure:
            errors = failure.errors
    if errors:
        db_session().rollback()
        values = dict(request.form.items())
        return _render_record_form(entity, record, values=values, errors=errors, status=422)
    db_session().commit()
    assert record is not None
    if entity == "contact":
        return redirect(url_for("customers.contact", contact_id=record.id))
    return redirect(url_for("customers.account", account_id=record.id))


@blueprint.route("/contacts/new", methods=["GET", "POST"])
@login_required
def new_contact() -> ResponseReturnValue:
    """The new-contact form, custom fields included."""
    if request.method == "POST":
        return _save_record("contact", None)
    return _render_record_form("contact", None, values={})


@blueprint.route("/contacts/<bigid:contact_id>/edit", methods=["GET", "POST"])
@login_required
def edit_contact(contact_id: int) -> ResponseReturnValue:
    """Edit a contact's details and custom fields."""
    record = customer_service.get_contact(request_unit(), contact_id)
    if request.method == "POST":
        return _save_record("contact", record)
    return _render_record_form("contact", record, values=_record_values(record, _CONTACT_TEXT))


@blueprint.route("/accounts/new", methods=["GET", "POST"])
@login_required
def new_account() -> ResponseReturnValue:
    """The new-account form, custom fields included."""
    if request.method == "POST":
        return _save_record("account", None)
    return _render_record_form("account", None, values={})


@blueprint.route("/accounts/<bigid:account_id>/edit", methods=["GET", "POST"])
@login_required
def edit_account(account_id: int) -> ResponseReturnValue:
    """Edit an account's details and custom fields."""
    record = customer_service.get_account(request_unit(), account_id)
    if request.method == "POST":
        return _save_record("account", record)
    return _render_record_form("account", record, values=_record_values(record, _ACCOUNT_TEXT))


# -------------------------------------------------------------------------------- view forms


def _entity_of(plural: str) -> str:
    entity = _ENTITIES.get(plural)
    if entity is None:
        abort(404)
    return entity


def _posted_view() -> dict[str, Any]:
    """A view's settings from the posted form (conditions as parallel lists of inputs)."""
    conditions = []
    rows = zip(
        request.form.getlist("condition_field"),
        request.form.getlist("condition_operator"),
        request.form.getlist("condition_value"),
        request.form.getlist("condition_value2"),
        strict=False,
    )
    for field_name, operator, value, value2 in rows:
        if not field_name:
            continue
        conditions.append(
            {
                "field": field_name,
                "operator": operator,
                "value": [value, value2] if operator == "between" else value,
            }
        )
    return {
        "name": request.form.get("name", ""),
        "match": request.form.get("match", "all"),
        "conditions": conditions,
        "sort_field": request.form.get("sort_field", "created_at"),
        "sort_descending": request.form.get("sort_direction", "desc") == "desc",
        "columns": request.form.getlist("columns"),
        "shared": request.form.get("shared") == "on",
    }


def _render_view_form(
    entity: str,
    view: Any,
    settings: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    known = view_service.view_fields(db_session(), entity)
    return (
        render_template(
            "customers/view_form.html",
            entity=entity,
            plural=_PLURALS[entity],
            view=view,
            settings=settings,
            known=known,
            operators=view_service.OPERATORS,
            operator_labels=view_service.OPERATOR_LABELS,
            form_errors=errors or {},
        ),
        status,
    )


def _save_view(entity: str, view: Any) -> ResponseReturnValue:
    unit = request_unit()
    settings = _posted_view()
    try:
        if view is None:
            view = view_service.create_view(unit, entity=entity, **settings)
        else:
            view_service.update_view(unit, view, **settings)
    except ValidationFailed as failure:
        db_session().rollback()
        return _render_view_form(entity, view, settings, failure.errors, 422)
    db_session().commit()
    return redirect(url_for(f"customers.{_PLURALS[entity]}", view=view.id))


@blueprint.route("/<plural>/views/new", methods=["GET", "POST"])
@login_required
def new_view(plural: str) -> ResponseReturnValue:
    """The form of a new view: conditions, sort order, columns, sharing."""
    entity = _entity_of(plural)
    view_service.list_views(request_unit(), entity)  # permission check
    if request.method == "POST":
        return _save_view(entity, None)
    settings = {
        "name": "",
        "match": "all",
        "conditions": [],
        "sort_field": "created_at",
        "sort_descending": True,
        "columns": list(view_service.DEFAULT_COLUMNS[entity]),
        "shared": False,
    }
    return _render_view_form(entity, None, settings)


@blueprint.route("/<plural>/views/<id:view_id>/edit", methods=["GET", "POST"])
@login_required
def edit_view(plural: str, view_id: int) -> ResponseReturnValue:
    """Edit one of the agent's views."""
    entity = _entity_of(plural)
    unit = request_unit()
    view = view_service.get_saved_view(unit, entity, view_id)
    if request.method == "POST":
        return _save_view(entity, view)
    settings = {
        "name": view.name,
        "match": view.match,
        "conditions": list(view.conditions or []),
        "sort_field": view.sort_field,
        "sort_descending": view.sort_descending,
        "columns": list(view.columns or []),
        "shared": view.shared,
    }
    return _render_view_form(entity, view, settings)


@blueprint.post("/<plural>/views/<id:view_id>/delete")
@login_required
def delete_view(plural: str, view_id: int) -> ResponseReturnValue:
    """Delete one of the agent's views and go back to the default view."""
    entity = _entity_of(plural)
    unit = request_unit()
    view_service.delete_view(unit, view_service.get_saved_view(unit, entity, view_id))
    db_session().commit()
    return redirect(url_for(f"customers.{plural}"))
