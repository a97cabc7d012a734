"""The Setup area: its landing page and side navigation, and the organisation, departments,
permission profiles and statuses pages.

Every setup page of the desk is listed once, in :data:`SETUP_GROUPS`; the top bar's one
"Setup" entry, the landing page and the side navigation are all drawn from it, each entry
shown to those holding its permission. An entry whose page another part of the desk
registers (agents, business hours, products, audit log) appears only once its endpoint
exists, so this area works alone and lights those up when they are installed.

Every action is an ordinary form post (reordering statuses too): the pages work without
JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import available_timezones

from babel import Locale
from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import LazyString, get_locale, lazy_gettext
from sqlalchemy import func, select
from werkzeug.exceptions import BadRequest

from core import permissions
from core.errors import Conflict, Forbidden, ValidationFailed
from core.models import Agent, Department, PermissionProfile, Ticket, TicketStatus
from core.models.tickets import StatusType
from core.models.types import id_maximum
from core.services import org as org_service
from core.services import tickets as ticket_service
from core.services.base import parse_whole_number
from core.web.database import db_session
from core.web.security import current_agent, login_required
from core.web.ui import labels
from core.web.ui.units import committed_or_errors, request_unit

blueprint = Blueprint("setup", __name__, url_prefix="/setup")

#: Rows on one page of the departments, profiles and statuses lists.
PAGE_SIZE = 50


@dataclass(frozen=True)
class SetupPage:
    """One entry of the Setup menu.

    ``active_for`` are endpoint prefixes under which the entry is the current one (a page
    and its sub-pages); ``values`` are the URL values of its link.
    """

    key: str
    endpoint: str
    label: LazyString
    description: LazyString
    permission: str
    active_for: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The entry's link."""
        return url_for(self.endpoint, **self.values)


@dataclass(frozen=True)
class SetupGroup:
    """A heading of the Setup menu and its entries."""

    key: str
    title: LazyString
    pages: tuple[SetupPage, ...]


SETUP_GROUPS: tuple[SetupGroup, ...] = (
    SetupGroup(
        "organisation",
        lazy_gettext("Organisation"),
        (
            SetupPage(
                "organisation",
                "setup.organisation",
                lazy_gettext("Organisation"),
                lazy_gettext("Name, time zone, language, week start, phone region, ticket prefix."),
                permissions.SETUP_MANAGE,
                ("setup.organisation",),
            ),
            SetupPage(
                "departments",
                "setup.departments",
                lazy_gettext("Departments"),
                lazy_gettext("The teams that own tickets, and their mailboxes."),
                permissions.SETUP_MANAGE,
                ("setup.department",),
            ),
            SetupPage(
                "business_hours",
                "sla_admin.index",
                lazy_gettext("Business hours & SLAs"),
                lazy_gettext("Working hours, holidays and response targets per department."),
                permissions.SETUP_MANAGE,
                ("sla_admin.",),
            ),
            SetupPage(
                "statuses",
                "setup.statuses",
                lazy_gettext("Statuses"),
                lazy_gettext("Ticket statuses, their types and their order."),
                permissions.SETUP_MANAGE,
                ("setup.status",),
            ),
        ),
    ),
    SetupGroup(
        "people",
        lazy_gettext("People"),
        (
            SetupPage(
                "agents",
                "agents_admin.index",
                lazy_gettext("Agents"),
                lazy_gettext("Add, edit and deactivate the people who work tickets."),
                permissions.AGENT_MANAGE,
                ("agents_admin.",),
            ),
            SetupPage(
                "profiles",
                "setup.profiles",
                lazy_gettext("Permission profiles"),
                lazy_gettext("What agents may do: clone a profile and choose its permissions."),
                permissions.AGENT_MANAGE,
                ("setup.profile",),
            ),
        ),
    ),
    SetupGroup(
        "customers",
        lazy_gettext("Customers"),
        (
            SetupPage(
                "custom_fields",
                "fields_admin.editor",
                lazy_gettext("Custom fields"),
                lazy_gettext("The fields of contacts and accounts, and their layout."),
                permissions.SETUP_MANAGE,
                ("fields_admin.",),
                {"entity": "contact"},
            ),
            SetupPage(
                "products",
                "products_admin.index",
                lazy_gettext("Products"),
                lazy_gettext("The products customers own and tickets are about."),
                permissions.PRODUCT_MANAGE,
                ("products_admin.",),
            ),
            SetupPage(
                "duplicate_rules",
                "duplicates.rules",
                lazy_gettext("Duplicate rules"),
                lazy_gettext("Which shared values make two records duplicates."),
                permissions.SETUP_MANAGE,
                ("duplicates.rules",),
            ),
            SetupPage(
                "spam_rules",
                "intake.spam_rules",
                lazy_gettext("Spam rules"),
                lazy_gettext("Senders and words whose messages are held as spam."),
                permissions.SETUP_MANAGE,
                ("intake.spam_rules",),
            ),
            SetupPage(
                "audit_log",
                "audit.index",
                lazy_gettext("Audit log"),
                lazy_gettext("Who changed what, when and from where."),
                permissions.AUDIT_VIEW,
                ("audit.",),
            ),
        ),
    ),
    SetupGroup(
        "extensions",
        lazy_gettext("Extensions"),
        (
            SetupPage(
                "extensions",
                "marketplace_admin.index",
                lazy_gettext("Extensions"),
                lazy_gettext("Install, configure and remove extensions from the marketplace."),
                permissions.MARKETPLACE_MANAGE,
                ("marketplace_admin.", "admin."),
            ),
        ),
    ),
)

#: Titles of the permission catalogue's areas in the profile editor.
AREA_TITLES: dict[str, LazyString] = {
    "tickets": lazy_gettext("Tickets"),
    "contacts": lazy_gettext("Contacts"),
    "accounts": lazy_gettext("Accounts"),
    "customer_work": lazy_gettext("Customer work"),
    "knowledge_base": lazy_gettext("Knowledge base"),
    "administration": lazy_gettext("Administration"),
}

WEEKDAYS: tuple[LazyString, ...] = (
    lazy_gettext("Monday"),
    lazy_gettext("Tuesday"),
    lazy_gettext("Wednesday"),
    lazy_gettext("Thursday"),
    lazy_gettext("Friday"),
    lazy_gettext("Saturday"),
    lazy_gettext("Sunday"),
)

LANGUAGE_NAMES: dict[str, str] = {"en": "English", "ja": "日本語"}


@blueprint.app_template_global("profile_label")
def profile_label(profile: PermissionProfile | Department) -> str:
    """A profile's name as shown: a built-in profile's translated, a custom one's as given
    (any other named record, such as a department in a shared checkbox list, as given)."""
    if getattr(profile, "is_builtin", False) and profile.name in labels.PROFILES:
        return str(labels.PROFILES[profile.name])
    return profile.name


def visible_groups(agent: Agent | None) -> list[tuple[SetupGroup, list[SetupPage]]]:
    """The Setup menu as ``agent`` sees it: the groups with the entries they may open."""
    if agent is None:
        return []
    shown = []
    for group in SETUP_GROUPS:
        pages = [page for page in group.pages if agent.has_permission(page.permission)]
        if pages:
            shown.append((group, pages))
    return shown


def current_setup_page(endpoint: str | None) -> SetupPage | None:
    """The Setup entry the page at ``endpoint`` belongs to, if any."""
    if not endpoint:
        return None
    for group in SETUP_GROUPS:
        for page in group.pages:
            if endpoint.startswith(page.active_for):
                return page
    return None


@blueprint.app_context_processor
def _setup_menu() -> dict[str, Any]:
    groups = visible_groups(current_agent())
    current = current_setup_page(request.endpoint)
    return {
        "setup_menu": groups,
        "setup_current": current,
        "in_setup": request.endpoint == "setup.index" or current is not None,
    }


def _require(permission: str) -> None:
    agent = current_agent()
    if agent is None or not agent.has_permission(permission):
        raise Forbidden(permission)


def _japanese() -> bool:
    return str(get_locale() or "en").startswith("ja")


_Row = TypeVar("_Row")


def _page_after(rows: Sequence[_Row], key: Callable[[_Row], str]) -> tuple[list[_Row], str | None]:
    """Trim a ``PAGE_SIZE + 1`` fetch to a page, with the cursor of the next page if any."""
    if len(rows) > PAGE_SIZE:
        page = list(rows[:PAGE_SIZE])
        return page, key(page[-1])
    return list(rows), None


def _name_cursor(row: Department | PermissionProfile) -> str:
    return org_service.encode_name_cursor(row.name, row.id)


# ----------------------------------------------------------------------------------- landing


@blueprint.get("")
@login_required
def index() -> ResponseReturnValue:
    """Every setup page the agent may open, grouped, each with what it is for."""
    groups = visible_groups(current_agent())
    if not groups:
        raise Forbidden(permissions.SETUP_MANAGE)
    return render_template("setup/index.html", groups=groups)


# ------------------------------------------------------------------------------ organisation


def _organisation_form(draft: dict[str, Any], errors: dict[str, list[str]], saved: bool) -> Any:
    display = Locale.parse("ja" if _japanese() else "en")
    regions = sorted(
        ((code, display.territories.get(code, code)) for code in org_service.PHONE_REGIONS),
        key=lambda item: item[1],
    )
    return render_template(
        "setup/organisation.html",
        organisation=org_service.get_organisation(db_session()),
        draft=draft,
        form_errors=errors,
        saved=saved,
        timezones=sorted(available_timezones() | {"UTC"}),
        languages=LANGUAGE_NAMES,
        weekdays=WEEKDAYS,
        regions=regions,
    )


@blueprint.route("/organisation", methods=["GET", "POST"])
@login_required
def organisation() -> ResponseReturnValue:
    """The organisation's name, time zone, language, week start, phone region, ticket prefix."""
    _require(permissions.SETUP_MANAGE)
    if request.method == "GET":
        return _organisation_form({}, {}, saved=request.args.get("saved") == "1")
    draft = {
        name: request.form.get(name, "")
        for name in (
            "name",
            "timezone",
            "default_locale",
            "week_start",
            "phone_region",
            "ticket_prefix",
        )
    }
    week_start = draft["week_start"]
    week_start_number = parse_whole_number(week_start, 6)
    changes: dict[str, Any] = dict(
        draft, week_start=-1 if week_start_number is None else week_start_number
    )
    errors = committed_or_errors(lambda: org_service.update_organisation(request_unit(), **changes))
    if errors:
        return _organisation_form(draft, errors, saved=False), 422
    return redirect(url_for("setup.organisation", saved=1))


# ------------------------------------------------------------------------------- departments


def _open_counts(department_ids: list[int]) -> dict[int, int]:
    rows = db_session().execute(
        select(Ticket.department_id, func.count())
        .where(Ticket.department_id.in_(department_ids), Ticket.status_type != StatusType.CLOSED)
        .group_by(Ticket.department_id)
    )
    return {key: count for key, count in rows}


def _departments_page(draft: dict[str, str], errors: dict[str, list[str]]) -> Any:
    rows = org_service.list_departments(
        request_unit(),
        include_inactive=True,
        after=request.args.get("after") or None,
        limit=PAGE_SIZE + 1,
    )
    departments, next_cursor = _page_after(rows, _name_cursor)
    return render_template(
        "setup/departments.html",
        departments=departments,
        open_counts=_open_counts([d.id for d in departments]),
        next_cursor=next_cursor,
        draft=draft,
        form_errors=errors,
    )


@blueprint.route("/departments", methods=["GET", "POST"])
@login_required
def departments() -> ResponseReturnValue:
    """Every department, active or not, by name; and the form to add one."""
    _require(permissions.SETUP_MANAGE)
    if request.method == "GET":
        return _departments_page({}, {})
    draft = {name: request.form.get(name, "") for name in ("name", "description", "mailbox")}
    try:
        department = org_service.create_department(
            request_unit(),
            name=draft["name"],
            description=draft["description"],
            mailbox=draft["mailbox"] or None,
        )
    except ValidationFailed as failure:
        db_session().rollback()
        return _departments_page(draft, failure.errors), 422
    db_session().commit()
    return redirect(url_for("setup.department_edit", department_id=department.id))


@blueprint.route("/departments/<id:department_id>", methods=["GET", "POST"])
@login_required
def department_edit(department_id: int) -> ResponseReturnValue:
    """Rename or describe a department, or set its mailbox; (re)activate it."""
    _require(permissions.SETUP_MANAGE)
    unit = request_unit()
    department = org_service.get_department(unit, department_id)
    errors: dict[str, list[str]] = {}
    draft: dict[str, str] = {}
    if request.method == "POST":
        draft = {name: request.form.get(name, "") for name in ("name", "description", "mailbox")}
        errors = committed_or_errors(
            lambda: org_service.update_department(
                unit,
                department,
                name=draft["name"],
                description=draft["description"],
                mailbox=draft["mailbox"] or None,
            )
        )
        if not errors:
            return redirect(url_for("setup.department_edit", department_id=department.id, saved=1))
    return (
        render_template(
            "setup/department.html",
            department=department,
            open_count=org_service.open_ticket_count(db_session(), department.id),
            draft=draft,
            form_errors=errors,
            saved=request.args.get("saved") == "1",
        ),
        422 if errors else 200,
    )


@blueprint.route("/departments/<id:department_id>/deactivate", methods=["GET", "POST"])
@login_required
def department_deactivate(department_id: int) -> ResponseReturnValue:
    """Confirm, then deactivate a department, moving its open tickets to another one."""
    _require(permissions.SETUP_MANAGE)
    unit = request_unit()
    department = org_service.get_department(unit, department_id)
    errors: dict[str, list[str]] = {}
    chosen = request.form.get("move_to_department_id", "")
    if request.method == "POST":
        errors = committed_or_errors(
            lambda: org_service.deactivate_department(
                unit,
                department,
                move_to_department_id=parse_whole_number(chosen, id_maximum(Department)),
            )
        )
        if not errors:
            return redirect(url_for("setup.department_edit", department_id=department.id))
    targets = [
        other
        for other in org_service.list_departments(unit)
        if other.id != department.id and unit.actor.can_see_department(other.id)
    ]
    return (
        render_template(
            "setup/department_deactivate.html",
            department=department,
            open_count=org_service.open_ticket_count(db_session(), department.id),
            targets=targets,
            chosen=chosen,
            form_errors=errors,
        ),
        422 if errors else 200,
    )


@blueprint.post("/departments/<id:department_id>/reactivate")
@login_required
def department_reactivate(department_id: int) -> ResponseReturnValue:
    """Make a deactivated department active again."""
    _require(permissions.SETUP_MANAGE)
    unit = request_unit()
    department = org_service.get_department(unit, department_id)
    org_service.update_department(unit, department, is_active=True)
    db_session().commit()
    return redirect(url_for("setup.department_edit", department_id=department.id))


# ---------------------------------------------------------------------------------- profiles


@blueprint.get("/profiles")
@login_required
def profiles() -> ResponseReturnValue:
    """Every permission profile by name: built in or custom, and how many agents hold it."""
    _require(permissions.AGENT_MANAGE)
    rows = org_service.list_profiles(
        request_unit(), after=request.args.get("after") or None, limit=PAGE_SIZE + 1
    )
    page, next_cursor = _page_after(rows, _name_cursor)
    return render_template(
        "setup/profiles.html",
        profiles=page,
        agent_counts=org_service.profile_agent_counts(db_session(), [p.id for p in page]),
        next_cursor=next_cursor,
    )


def _catalogue() -> list[dict[str, Any]]:
    """The permission groups of the editor, with titles and texts in the page's language."""
    japanese = _japanese()
    unit = request_unit()
    groups = []
    for group in org_service.permission_catalogue(unit.session, unit.host):
        title = AREA_TITLES[group.area] if group.area else group.title
        groups.append(
            {
                "key": group.key,
                "title": title,
                "extension": group.area is None,
                "permissions": [
                    {
                        "name": info.name,
                        "label": info.label_ja if japanese else info.label,
                        "description": info.description_ja if japanese else info.description,
                    }
                    for info in group.permissions
                ],
            }
        )
    return groups


@blueprint.route("/profiles/<id:profile_id>", methods=["GET", "POST"])
@login_required
def profile_edit(profile_id: int) -> ResponseReturnValue:
    """A profile's permissions as a matrix by area; read-only for the built-in profiles."""
    _require(permissions.AGENT_MANAGE)
    unit = request_unit()
    profile = org_service.get_profile(unit, profile_id)
    errors: dict[str, list[str]] = {}
    draft: dict[str, Any] = {}
    if request.method == "POST":
        if profile.is_builtin:
            raise BadRequest("built-in profiles are read-only")
        draft = {
            "name": request.form.get("name", ""),
            "description": request.form.get("description", ""),
            "requires_two_factor": request.form.get("requires_two_factor") == "on",
            "permissions": request.form.getlist("permissions"),
        }
        errors = committed_or_errors(lambda: org_service.update_profile(unit, profile, **draft))
        if not errors:
            return redirect(url_for("setup.profile_edit", profile_id=profile.id, saved=1))
    known = org_service.known_permissions(unit.session, unit.host)
    granted = (
        set(draft["permissions"])
        if draft
        else set(known if profile.is_admin else profile.permission_names)
    )
    return (
        render_template(
            "setup/profile.html",
            profile=profile,
            catalogue=_catalogue(),
            granted=granted,
            agent_count=org_service.profile_agent_counts(db_session(), [profile.id])[profile.id],
            draft=draft,
            form_errors=errors,
            saved=request.args.get("saved") == "1",
        ),
        422 if errors else 200,
    )


@blueprint.route("/profiles/<id:profile_id>/clone", methods=["GET", "POST"])
@login_required
def profile_clone(profile_id: int) -> ResponseReturnValue:
    """Name a copy of a profile; the copy opens in the editor."""
    _require(permissions.AGENT_MANAGE)
    unit = request_unit()
    source = org_service.get_profile(unit, profile_id)
    errors: dict[str, list[str]] = {}
    name = request.form.get("name", "")
    if request.method == "POST":
        try:
            clone = org_service.clone_profile(unit, source, name=name)
        except ValidationFailed as failure:
            db_session().rollback()
            errors = failure.errors
        else:
            db_session().commit()
            return redirect(url_for("setup.profile_edit", profile_id=clone.id))
    return (
        render_template("setup/profile_clone.html", source=source, name=name, form_errors=errors),
        422 if errors else 200,
    )


@blueprint.route("/profiles/<id:profile_id>/delete", methods=["GET", "POST"])
@login_required
def profile_delete(profile_id: int) -> ResponseReturnValue:
    """Confirm, then delete a custom profile no agent holds."""
    _require(permissions.AGENT_MANAGE)
    unit = request_unit()
    profile = org_service.get_profile(unit, profile_id)
    agent_count = org_service.profile_agent_counts(db_session(), [profile.id])[profile.id]
    if request.method == "POST":
        try:
            org_service.delete_profile(unit, profile)
        except Conflict:
            db_session().rollback()
        else:
            db_session().commit()
            return redirect(url_for("setup.profiles"))
    refused = request.method == "POST"
    return (
        render_template("setup/profile_delete.html", profile=profile, agent_count=agent_count),
        409 if refused else 200,
    )


# ---------------------------------------------------------------------------------- statuses


def _status_counts() -> dict[str, int]:
    rows = db_session().execute(select(Ticket.status, func.count()).group_by(Ticket.status))
    return {key: count for key, count in rows}


def _statuses_page(draft: dict[str, str], errors: dict[str, list[str]]) -> Any:
    ordered = ticket_service.list_statuses(db_session())
    after = request.args.get("after", "")
    start = 0
    after_id = parse_whole_number(after, id_maximum(TicketStatus))
    if after_id is not None:
        start = next((i + 1 for i, row in enumerate(ordered) if row.id == after_id), 0)
    rows = ordered[start : start + PAGE_SIZE + 1]
    page, next_cursor = _page_after(rows, lambda row: str(row.id))
    return render_template(
        "setup/statuses.html",
        statuses=page,
        first_id=ordered[0].id if ordered else None,
        last_id=ordered[-1].id if ordered else None,
        ticket_counts=_status_counts(),
        next_cursor=next_cursor,
        status_types=[t.value for t in StatusType],
        draft=draft,
        form_errors=errors,
    )


@blueprint.route("/statuses", methods=["GET", "POST"])
@login_required
def statuses() -> ResponseReturnValue:
    """Every status in the order choices show them; and the form to add a custom one."""
    _require(permissions.SETUP_MANAGE)
    if request.method == "GET":
        return _statuses_page({}, {})
    draft = {name: request.form.get(name, "") for name in ("name", "status_type")}
    errors = committed_or_errors(lambda: ticket_service.create_status(request_unit(), **draft))
    if errors:
        return _statuses_page(draft, errors), 422
    return redirect(url_for("setup.statuses"))


@blueprint.post("/statuses/<id:status_id>/move")
@login_required
def status_move(status_id: int) -> ResponseReturnValue:
    """Move a status one place up or down (a plain form button: no script needed)."""
    _require(permissions.SETUP_MANAGE)
    unit = request_unit()
    status = ticket_service.get_status(unit, status_id)
    ticket_service.move_status(unit, status, request.form.get("direction", ""))
    db_session().commit()
    return redirect(url_for("setup.statuses", after=request.form.get("after") or None))


@blueprint.route("/statuses/<id:status_id>", methods=["GET", "POST"])
@login_required
def status_edit(status_id: int) -> ResponseReturnValue:
    """Rename a custom status, change its type while unused, or retire it from the choices."""
    _require(permissions.SETUP_MANAGE)
    unit = request_unit()
    status: TicketStatus = ticket_service.get_status(unit, status_id)
    errors: dict[str, list[str]] = {}
    draft: dict[str, Any] = {}
    if request.method == "POST":
        if status.is_builtin:
            raise BadRequest("built-in statuses keep their name, type and use")
        draft = {
            "name": request.form.get("name", ""),
            "status_type": request.form.get("status_type", status.status_type),
            "is_active": request.form.get("is_active") == "on",
        }
        errors = committed_or_errors(lambda: ticket_service.update_status(unit, status, **draft))
        if not errors:
            return redirect(url_for("setup.statuses"))
    return (
        render_template(
            "setup/status.html",
            status=status,
            in_use=_status_counts().get(status.name, 0),
            status_types=[t.value for t in StatusType],
            draft=draft,
            form_errors=errors,
        ),
        422 if errors else 200,
    )
