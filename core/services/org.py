"""The organisation: its settings, departments, permission profiles and agents.

Every change is audited and emits its ``hostapi.events`` event (``department.updated``,
``profile.deleted``…), so extensions can follow the desk's setup.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core import permissions as catalogue
from core.errors import Conflict, Message, NotFound, ValidationFailed
from core.models import (
    AccessToken,
    Agent,
    Department,
    Installation,
    Organisation,
    PermissionProfile,
    ProfilePermission,
    Ticket,
)
from core.models.extensions import InstallationState
from core.models.org import AgentStatus
from core.models.tickets import StatusType
from core.models.types import INT32_MAX
from core.services import tickets as ticket_service
from core.services.base import (
    Unit,
    apply_changes,
    check_limit,
    clean_email,
    clean_text,
    gather,
    gather_changes,
    jsonable,
    refuse_unknown_fields,
    split_changes,
)
from hostapi import clock, events

if TYPE_CHECKING:
    from core.host import Host

LOCALES: tuple[str, ...] = ("en", "ja")
AGENT_STATUSES: frozenset[str] = frozenset(s.value for s in AgentStatus)
MIN_PASSWORD_LENGTH = 10
_EMAIL_SHAPE = "@"
MUST_BELONG_TO_BOTH = Message("You must belong to both departments to move tickets.")

# Compared against when the email is unknown, so a miss costs as much as a wrong password
# and response times do not tell which emails exist.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


def known_permissions(session: Session, host: Host | None) -> frozenset[str]:
    """Every permission a profile may grant now: the core catalogue, and the permissions of
    extensions with a live installation (they vanish from profiles on uninstall)."""
    if host is None:
        return catalogue.ALL_NAMES
    installed = session.scalars(
        select(Installation.plugin_id)
        .where(Installation.state.in_(InstallationState.live()))
        .distinct()
    )
    names = {name for plugin_id in installed for name in host.plugins.permission_names(plugin_id)}
    return catalogue.ALL_NAMES | frozenset(names)


@dataclass(frozen=True)
class PermissionGroup:
    """Permissions shown together in a profile editor: a core area or one extension's own.

    ``area`` is a key of :data:`core.permissions.AREAS` for the core's groups; for an
    extension's it is ``None`` and ``title``/``title_ja`` carry the extension's name.
    """

    key: str
    area: str | None
    title: str
    title_ja: str
    permissions: tuple[catalogue.PermissionInfo, ...]


def permission_catalogue(session: Session, host: Host | None) -> list[PermissionGroup]:
    """The permissions a profile may grant now, grouped: the core's by area, then each
    extension with a live installation under its own name (with the labels it declares)."""
    groups = [
        PermissionGroup(
            key=area,
            area=area,
            title=area,
            title_ja=area,
            permissions=tuple(p for p in catalogue.CATALOGUE if p.area == area),
        )
        for area in catalogue.AREAS
    ]
    if host is None:
        return groups
    installed = session.scalars(
        select(Installation.plugin_id)
        .where(Installation.state.in_(InstallationState.live()))
        .distinct()
        .order_by(Installation.plugin_id)
    )
    for plugin_id in installed:
        names = host.plugins.permission_names(plugin_id)
        if not names:
            continue
        manifest = host.plugins.loaded[plugin_id].manifest
        labels = {p.name: (p.label.en, p.label.ja, "") for p in manifest.permissions if p.label}
        for spec in host.plugins.call(plugin_id, "deskhost_permissions") or []:
            labels[spec.name] = (spec.label, spec.label_ja or spec.label, spec.description)
        infos = tuple(
            catalogue.PermissionInfo(name, *_extension_labels(labels.get(name), name))
            for name in names
        )
        groups.append(
            PermissionGroup(
                key=plugin_id,
                area=None,
                title=manifest.name,
                title_ja=manifest.name,
                permissions=infos,
            )
        )
    return groups


def _extension_labels(
    declared: tuple[str, str, str] | None, name: str
) -> tuple[str, str, str, str]:
    """An extension permission's label, Japanese label and description (one language only:
    extensions declare a single description)."""
    label, label_ja, description = declared or (name, name, "")
    return label, label_ja, description, description


# ------------------------------------------------------------------------------------- paging


#: The longest department or profile name (their columns' length).
_MAX_NAME_LENGTH = 200


def encode_name_cursor(name: str, record_id: int) -> str:
    """The opaque position after the row ``(name, record_id)`` in a by-name list."""
    raw = f"{record_id}|{name}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _name_cursor(value: str | None, field: str) -> tuple[str, int] | None:
    if value is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        record_id, name = raw.split("|", 1)
        position = int(record_id)
        if not 0 < position <= INT32_MAX or "\x00" in name or len(name) > _MAX_NAME_LENGTH:
            raise ValueError("no such row")
        return name, position
    except (ValueError, UnicodeDecodeError, binascii.Error) as error:
        raise ValidationFailed({field: [Message("Not a valid page cursor.")]}) from error


def _by_name(
    query: Any, model: Any, after: str | None, limit: int | None, cursor_field: str
) -> Any:
    position = _name_cursor(after, cursor_field)
    if position is not None:
        query = query.where(tuple_(model.name, model.id) > tuple_(*position))
    query = query.order_by(model.name, model.id)
    return query if limit is None else query.limit(check_limit(limit))


# ------------------------------------------------------------------------------ organisation


def get_organisation(session: Session) -> Organisation:
    """The one organisation this deployment serves."""
    return session.scalars(select(Organisation).order_by(Organisation.id).limit(1)).one()


ORGANISATION_UPDATABLE = frozenset(
    {"name", "timezone", "ticket_prefix", "default_locale", "week_start", "phone_region"}
)

#: The ISO countries whose national numbering ``phonenumbers`` knows.
PHONE_REGIONS: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)


def update_organisation(unit: Unit, **changes: Any) -> Organisation:
    """Change the organisation's settings (name, time zone, ticket prefix, locale, week start,
    and the phone region national numbers are read in)."""
    unit.actor.require(catalogue.SETUP_MANAGE)
    refuse_unknown_fields(changes, ORGANISATION_UPDATABLE)
    checks = {
        "name": lambda v: clean_text(v, "name", max_length=200, required=True),
        "timezone": _timezone,
        "ticket_prefix": _ticket_prefix,
        "default_locale": lambda v: _locale(v, "default_locale"),
        "week_start": _week_start,
        "phone_region": _phone_region,
    }
    values = gather_changes(checks, changes)
    organisation = get_organisation(unit.session)
    changed = apply_changes(organisation, values)
    if changed:
        unit.session.flush()
        before, after = split_changes(changed)
        unit.audit("update", "organisation", organisation.id, before=before, after=after)
        unit.emit(events.ORGANISATION_UPDATED, {"changes": jsonable(changed)})
    return organisation


def _timezone(value: Any) -> str:
    name = clean_text(value, "timezone", max_length=64, required=True)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationFailed({"timezone": [Message("Unknown time zone.")]}) from error
    if name not in available_timezones() and name != "UTC":
        raise ValidationFailed({"timezone": [Message("Unknown time zone.")]})
    return name


def _phone_region(value: Any) -> str:
    region = value.strip().upper() if isinstance(value, str) else ""
    if region not in PHONE_REGIONS:
        raise ValidationFailed({"phone_region": [Message("Give a country code such as JP or US.")]})
    return region


def _ticket_prefix(value: Any) -> str:
    prefix = clean_text(value, "ticket_prefix", max_length=16)
    if any(ch.isdigit() for ch in prefix[-1:]) or any(ch.isspace() for ch in prefix):
        # A trailing digit would run into the number: "A1" + "23" reads as ticket 123.
        raise ValidationFailed(
            {"ticket_prefix": [Message("No spaces, and not ending in a digit.")]}
        )
    return prefix


def _locale(value: Any, field: str) -> str:
    if value not in LOCALES:
        raise ValidationFailed(
            {field: [Message("Choose one of: %(choices)s.", choices=", ".join(LOCALES))]}
        )
    return value


def _week_start(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise ValidationFailed({"week_start": [Message("Give 0 (Monday) to 6 (Sunday).")]})
    return value


# ------------------------------------------------------------------------------- departments


def list_departments(
    unit: Unit,
    *,
    include_inactive: bool = False,
    after: str | None = None,
    limit: int | None = None,
    cursor_field: str = "after",
) -> list[Department]:
    """Departments by name (names are not secret; their tickets are); ``after`` a cursor from
    :func:`encode_name_cursor` and ``limit`` page them (a bad cursor is an error on
    ``cursor_field``, the caller's name for it)."""
    query = select(Department)
    if not include_inactive:
        query = query.where(Department.is_active.is_(True))
    return list(unit.session.scalars(_by_name(query, Department, after, limit, cursor_field)))


def get_department(unit: Unit, department_id: int) -> Department:
    """The department ``department_id``.

    :raises NotFound: no such department.
    """
    department = unit.session.get(Department, department_id)
    if department is None:
        raise NotFound("department not found")
    return department


def department_for_setup(unit: Unit, department_id: int) -> Department:
    """A department as a setup path names it: departments are organisation-wide records, so
    any department is found (404 only when it does not exist), then ``setup.manage`` is needed.

    :raises NotFound: no such department.
    :raises Forbidden: the actor lacks ``setup.manage``.
    """
    department = get_department(unit, department_id)
    unit.actor.require(catalogue.SETUP_MANAGE)
    return department


def create_department(
    unit: Unit,
    *,
    name: str,
    description: str = "",
    mailbox: str | None = None,
    external_id: str | None = None,
) -> Department:
    """Create a department (names and mailboxes are unique)."""
    unit.actor.require(catalogue.SETUP_MANAGE)
    values = gather(
        {
            "name": lambda: _unique_department_name(unit.session, name, None),
            "description": lambda: clean_text(description, "description", max_length=1000),
            "mailbox": lambda: _unique_mailbox(unit.session, mailbox, None),
        }
    )
    department = Department(**values, external_id=external_id, created_at=clock.now())
    unit.session.add(department)
    unit.session.flush()
    unit.audit("add", "department", department.id, after=values)
    unit.emit(events.DEPARTMENT_CREATED, {"department_id": department.id})
    return department


def update_department(unit: Unit, department: Department, **changes: Any) -> Department:
    """Rename, describe, (de)activate a department or change its support mailbox.

    Deactivation is refused while the department holds open tickets (any not closed):
    :func:`deactivate_department` moves them elsewhere first.
    """
    unit.actor.require(catalogue.SETUP_MANAGE)
    refuse_unknown_fields(changes, {"name", "description", "is_active", "mailbox"})
    checks = {
        "name": lambda v: _unique_department_name(unit.session, v, department.id),
        "description": lambda v: clean_text(v, "description", max_length=1000),
        "is_active": lambda v: _flag(v, "is_active"),
        "mailbox": lambda v: _unique_mailbox(unit.session, v, department.id),
    }
    values = gather_changes(checks, changes)
    if values.get("is_active") is False and department.is_active:
        held = open_ticket_count(unit.session, department.id)
        if held:
            raise ValidationFailed(
                {
                    "is_active": [
                        Message(
                            "The department holds open tickets: "
                            "choose a department to move them to."
                        )
                    ]
                }
            )
    changed = apply_changes(department, values)
    if changed:
        unit.session.flush()
        before, after = split_changes(changed)
        unit.audit("update", "department", department.id, before=before, after=after)
        unit.emit(
            events.DEPARTMENT_UPDATED,
            {"department_id": department.id, "changes": jsonable(changed)},
        )
    return department


def open_ticket_count(session: Session, department_id: int) -> int:
    """How many tickets of the department are not closed (open or on hold)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.department_id == department_id, Ticket.status_type != StatusType.CLOSED)
        )
        or 0
    )


def deactivate_department(
    unit: Unit, department: Department, *, move_to_department_id: int | None = None
) -> Department:
    """Deactivate a department, first moving its open tickets to ``move_to_department_id``.

    Without a target the deactivation is refused while open tickets remain. Each ticket moves
    through :func:`core.services.tickets.update_ticket`, so each move is checked as the actor's
    own (they must see both departments), audited, and emits ``ticket.updated`` to both
    departments; all of it in the caller's transaction.
    """
    unit.actor.require(catalogue.SETUP_MANAGE)
    target: Department | None = None
    if move_to_department_id is not None:
        target = _move_target(unit, department, move_to_department_id)
        unit.actor.require(catalogue.TICKET_EDIT)
        if not unit.actor.can_see_department(department.id):
            raise ValidationFailed({"move_to_department_id": [MUST_BELONG_TO_BOTH]})
        open_tickets = unit.session.scalars(
            select(Ticket)
            .where(
                Ticket.department_id == department.id,
                Ticket.status_type != StatusType.CLOSED,
            )
            .order_by(Ticket.id)
        )
        for ticket in list(open_tickets):
            ticket_service.update_ticket(unit, ticket, department_id=target.id)
    return update_department(unit, department, is_active=False)


def _move_target(unit: Unit, department: Department, target_id: Any) -> Department:
    field = "move_to_department_id"
    if isinstance(target_id, bool) or not isinstance(target_id, int):
        raise ValidationFailed({field: [Message("Choose a department.")]})
    target = unit.session.get(Department, target_id)
    if target is None or not target.is_active:
        raise ValidationFailed({field: [Message("Choose an active department.")]})
    if target.id == department.id:
        raise ValidationFailed({field: [Message("Choose another department.")]})
    if not unit.actor.can_see_department(target.id):
        raise ValidationFailed({field: [MUST_BELONG_TO_BOTH]})
    return target


def _unique_department_name(session: Session, name: Any, own_id: int | None) -> str:
    return _unique_name(
        session, Department, name, own_id, Message("A department with this name exists.")
    )


def _unique_mailbox(session: Session, address: str | None, own_id: int | None) -> str | None:
    """The support address whose mail becomes the department's tickets; one department each."""
    mailbox = clean_email(address, "mailbox")
    if mailbox is None:
        return None
    taken = session.scalar(
        select(Department.name).where(Department.mailbox == mailbox, Department.id != own_id)
    )
    if taken is not None:
        raise ValidationFailed(
            {"mailbox": [Message("Already the mailbox of %(department)s.", department=taken)]}
        )
    return mailbox


# ------------------------------------------------------------------------------------ profiles


def _permission_names(unit: Unit, names: Iterable[str]) -> list[str]:
    if isinstance(names, str):
        raise ValidationFailed({"permissions": [Message("Give a list of permission names.")]})
    wanted = sorted(set(names))
    known = known_permissions(unit.session, unit.host)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValidationFailed(
            {"permissions": [Message("Unknown permission: %(name)s.", name=n) for n in unknown]}
        )
    return wanted


def create_profile(
    unit: Unit,
    *,
    name: str,
    permissions: Iterable[str],
    description: str = "",
    is_admin: bool = False,
    requires_two_factor: bool = False,
) -> PermissionProfile:
    """Create a permission profile granting known permissions (core or extensions')."""
    unit.actor.require(catalogue.AGENT_MANAGE)
    values = gather(
        {
            "name": lambda: _unique_profile_name(unit.session, name, None),
            "description": lambda: clean_text(description, "description", max_length=1000),
            "permissions": lambda: _permission_names(unit, permissions),
            "requires_two_factor": lambda: _flag(requires_two_factor, "requires_two_factor"),
        }
    )
    profile = PermissionProfile(
        name=values["name"],
        description=values["description"],
        is_admin=bool(is_admin),
        requires_two_factor=values["requires_two_factor"],
        permissions=[ProfilePermission(permission=p) for p in values["permissions"]],
    )
    unit.session.add(profile)
    unit.session.flush()
    unit.audit(
        "add",
        "permission_profile",
        profile.id,
        after=jsonable(values) | {"is_admin": bool(is_admin)},
    )
    unit.emit(events.PROFILE_CREATED, {"profile_id": profile.id})
    return profile


def update_profile(unit: Unit, profile: PermissionProfile, **changes: Any) -> PermissionProfile:
    """Change a profile's name, description, permissions (``permissions``: the full list) or
    whether its agents must sign in with a second factor (``requires_two_factor``).

    :raises Conflict: the profile is built in (read-only: clone it to change it).
    """
    unit.actor.require(catalogue.AGENT_MANAGE)
    _refuse_builtin(profile)
    refuse_unknown_fields(changes, {"name", "description", "permissions", "requires_two_factor"})
    checks = {
        "name": lambda v: _unique_profile_name(unit.session, v, profile.id),
        "description": lambda v: clean_text(v, "description", max_length=1000),
        "permissions": lambda v: _permission_names(unit, v),
        "requires_two_factor": lambda v: _flag(v, "requires_two_factor"),
    }
    values = gather_changes(checks, changes)
    granted = values.pop("permissions", None)
    changed = apply_changes(profile, values)
    before_names = sorted(profile.permission_names)
    if granted is not None and granted != before_names:
        profile.permissions = [ProfilePermission(permission=p) for p in granted]
        changed["permissions"] = [before_names, granted]
    if changed:
        unit.session.flush()
        before, after = split_changes(changed)
        unit.audit("update", "permission_profile", profile.id, before=before, after=after)
        unit.emit(events.PROFILE_UPDATED, {"profile_id": profile.id, "changes": jsonable(changed)})
    return profile


def list_profiles(
    unit: Unit,
    *,
    after: str | None = None,
    limit: int | None = None,
    cursor_field: str = "after",
) -> list[PermissionProfile]:
    """Permission profiles by name; ``after`` (from :func:`encode_name_cursor`) and ``limit``
    page them (a bad cursor is an error on ``cursor_field``)."""
    return list(
        unit.session.scalars(
            _by_name(select(PermissionProfile), PermissionProfile, after, limit, cursor_field)
        )
    )


def get_profile(unit: Unit, profile_id: int) -> PermissionProfile:
    """The profile ``profile_id``, for those who manage agents and their profiles.

    :raises NotFound: no such profile.
    :raises Forbidden: the actor lacks ``agent.manage``.
    """
    unit.actor.require(catalogue.AGENT_MANAGE)
    profile = unit.session.get(PermissionProfile, profile_id)
    if profile is None:
        raise NotFound("profile not found")
    return profile


def profile_agent_counts(session: Session, profile_ids: Iterable[int]) -> dict[int, int]:
    """How many agents (active or not) hold each of ``profile_ids``."""
    wanted = list(profile_ids)
    rows = session.execute(
        select(Agent.profile_id, func.count())
        .where(Agent.profile_id.in_(wanted))
        .group_by(Agent.profile_id)
    )
    counts = dict.fromkeys(wanted, 0)
    counts.update({profile_id: count for profile_id, count in rows})
    return counts


def clone_profile(unit: Unit, source: PermissionProfile, *, name: str) -> PermissionProfile:
    """A new custom profile called ``name`` granting what ``source`` grants now.

    An administrator profile's clone lists every permission known now explicitly (it is not an
    administrator profile: permissions added later are not granted until ticked).
    """
    known = known_permissions(unit.session, unit.host)
    granted = known if source.is_admin else source.permission_names & known
    return create_profile(
        unit,
        name=name,
        permissions=sorted(granted),
        description=source.description,
        requires_two_factor=source.requires_two_factor,
    )


def delete_profile(unit: Unit, profile: PermissionProfile) -> None:
    """Delete a custom profile no agent holds.

    :raises Conflict: the profile is built in, or agents (active or not) hold it.
    """
    unit.actor.require(catalogue.AGENT_MANAGE)
    _refuse_builtin(profile)
    holders = profile_agent_counts(unit.session, [profile.id])[profile.id]
    if holders:
        raise Conflict(
            Message("1 agent uses this profile: give them another profile first.")
            if holders == 1
            else Message(
                "%(count)d agents use this profile: give them another profile first.",
                count=holders,
            )
        )
    profile_id, name = profile.id, profile.name
    unit.session.delete(profile)
    unit.session.flush()
    unit.audit("delete", "permission_profile", profile_id, before={"name": name})
    unit.emit(events.PROFILE_DELETED, {"profile_id": profile_id, "name": name})


def _refuse_builtin(profile: PermissionProfile) -> None:
    if profile.is_builtin:
        raise Conflict(Message("Built-in profiles are read-only: clone one to change it."))


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed({field: [Message("Give true or false.")]})
    return value


def _unique_profile_name(session: Session, name: Any, own_id: int | None) -> str:
    return _unique_name(
        session, PermissionProfile, name, own_id, Message("A profile with this name exists.")
    )


def _unique_name(
    session: Session,
    model: type[Department] | type[PermissionProfile],
    name: Any,
    own_id: int | None,
    taken: Message,
) -> str:
    """``name`` cleaned, unless another ``model`` row has it (case-insensitively)."""
    name = clean_text(name, "name", max_length=200, required=True)
    clash = session.scalar(select(model.id).where(func.lower(model.name) == name.lower()))
    if clash is not None and clash != own_id:
        raise ValidationFailed({"name": [taken]})
    return name


# -------------------------------------------------------------------------------------- agents


def create_agent(
    unit: Unit,
    *,
    email: str,
    name: str,
    password: str | None = None,
    profile_name: str | None = None,
    profile_id: int | None = None,
    department_ids: Iterable[int] = (),
    locale: str | None = None,
    external_id: str | None = None,
) -> Agent:
    """Create an agent with a profile (by name or id) and departments.

    Without ``password`` the agent has no usable password until they set one from a
    set-password link (:mod:`core.services.agent_links`); with one, it is stored hashed.
    Only an administrator gives an administrator profile.
    """
    unit.actor.require(catalogue.AGENT_MANAGE)
    session = unit.session
    values = gather(
        {
            "email": lambda: _unique_agent_email(session, email, None),
            "name": lambda: clean_text(name, "name", max_length=200, required=True),
            "password": lambda: None if password is None else _password(password),
            "profile": lambda: _grantable_profile(
                unit, _profile(session, profile_name, profile_id)
            ),
            "departments": lambda: _departments(session, department_ids),
            "locale": lambda: None if locale is None else _locale(locale, "locale"),
        }
    )
    agent = Agent(
        email=values["email"],
        name=values["name"],
        password_hash=generate_password_hash(values["password"]) if values["password"] else "",
        profile=values["profile"],
        departments=values["departments"],
        locale=values["locale"],
        external_id=external_id,
        created_at=clock.now(),
    )
    session.add(agent)
    session.flush()
    unit.audit("add", "agent", agent.id, after=_agent_snapshot(agent))
    unit.emit(events.AGENT_CREATED, {"agent_id": agent.id})
    return agent


def get_agent(unit: Unit, agent_id: int) -> Agent:
    """The agent ``agent_id``; agents are visible to every agent (names on tickets).

    :raises NotFound: no such agent.
    """
    agent = unit.session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent not found")
    return agent


def list_agents(
    unit: Unit, *, department_id: int | None = None, include_inactive: bool = False
) -> list[Agent]:
    """Agents by name, optionally only those of one department."""
    query = select(Agent).order_by(Agent.name, Agent.id)
    if not include_inactive:
        query = query.where(Agent.is_active.is_(True))
    if department_id is not None:
        query = query.where(Agent.departments.any(Department.id == department_id))
    return list(unit.session.scalars(query))


AGENT_UPDATABLE = frozenset(
    {"name", "email", "profile_id", "department_ids", "is_active", "locale"}
)


def update_agent(unit: Unit, agent: Agent, **changes: Any) -> Agent:
    """Change an agent's name, email, language, profile (``profile_id``), departments or
    activity.

    Deactivating (``is_active=False``) ends the agent's browser sessions, revokes their
    tokens (personal and extensions' OAuth tokens acting as them) and closes their
    set-password links; their tickets stay assigned to them until someone reassigns them.
    Only an administrator changes an administrator, or gives an administrator profile.
    """
    unit.actor.require(catalogue.AGENT_MANAGE)
    refuse_unknown_fields(changes, AGENT_UPDATABLE)
    session = unit.session
    checks = {
        "name": lambda v: clean_text(v, "name", max_length=200, required=True),
        "email": lambda v: _unique_agent_email(session, v, agent.id),
        "profile_id": lambda v: _grantable_profile(unit, _profile(session, None, v)).id,
        "department_ids": lambda v: _departments(session, v),
        "is_active": lambda v: _flag(v, "is_active"),
        "locale": lambda v: None if v is None else _locale(v, "locale"),
    }
    values = gather_changes(checks, changes)
    departments = values.pop("department_ids", None)
    if agent.is_admin:
        _grantable_profile(unit, agent.profile, field="agent")
    if unit.actor.agent_id == agent.id and values.get("is_active") is False:
        raise ValidationFailed({"is_active": [Message("You cannot deactivate yourself.")]})
    changed = apply_changes(agent, values)
    if changed.get("is_active") is not None and not agent.is_active:
        end_sessions(agent)
        _revoke_access(unit, agent)
    if departments is not None:
        before_ids = sorted(agent.department_ids)
        after_ids = sorted(d.id for d in departments)
        if before_ids != after_ids:
            agent.departments = departments
            changed["department_ids"] = [before_ids, after_ids]
    if changed:
        session.flush()
        if "profile_id" in changed:
            session.expire(agent, ["profile"])
        before, after = split_changes(changed)
        unit.audit("update", "agent", agent.id, before=before, after=after)
        unit.emit(events.AGENT_UPDATED, {"agent_id": agent.id, "changes": jsonable(changed)})
    return agent


def _revoke_access(unit: Unit, agent: Agent) -> None:
    """Revoke every live token acting as ``agent`` and close their set-password links."""
    from core import tokens
    from core.services import agent_links

    live = unit.session.scalars(
        select(AccessToken).where(
            AccessToken.agent_id == agent.id, AccessToken.revoked_at.is_(None)
        )
    )
    for token in live:
        tokens.revoke(
            unit.session,
            token,
            by=unit.actor.agent,
            ip_address=unit.actor.ip_address,
            label=unit.actor.label or "system",
        )
    agent_links.revoke_links(unit.session, agent)


def require_may_manage(unit: Unit, agent: Agent) -> None:
    """Refuse unless the actor may manage ``agent``: ``agent.manage``, and an administrator's
    profile for an administrator (an agent manager must not take an administrator's account
    over, by a set-password link say).

    :raises Forbidden: without ``agent.manage``.
    :raises ValidationFailed: on ``agent``, for an administrator managed by a non-administrator.
    """
    unit.actor.require(catalogue.AGENT_MANAGE)
    if agent.is_admin:
        _grantable_profile(unit, agent.profile, field="agent")


def _grantable_profile(
    unit: Unit, profile: PermissionProfile, field: str = "profile_id"
) -> PermissionProfile:
    """``profile``, unless it is an administrator profile and the actor no administrator: an
    agent manager must not make anyone (themselves included) an administrator."""
    actor = unit.actor.agent
    if profile.is_admin and actor is not None and not actor.is_admin:
        message = (
            Message("Only an administrator can change an administrator.")
            if field == "agent"
            else Message("Only an administrator can give an administrator profile.")
        )
        raise ValidationFailed({field: [message]})
    return profile


def available_agents(session: Session, department_id: int) -> list[Agent]:
    """Agents round-robin assignment may give work of ``department_id`` to now, by id.

    Active members of the department whose status is "available" and who may answer a
    ticket (a light agent may not).
    """
    rows = session.scalars(
        select(Agent)
        .where(
            Agent.is_active.is_(True),
            Agent.status == AgentStatus.AVAILABLE.value,
            Agent.departments.any(Department.id == department_id),
        )
        .order_by(Agent.id)
    )
    return [agent for agent in rows if agent.has_permission(catalogue.TICKET_REPLY)]


@dataclass(frozen=True)
class AgentCursor:
    """A keyset position in the agents' list (by name, then id): the last row shown."""

    name: str
    id: int

    def encode(self) -> str:
        """The opaque string form."""
        raw = json.dumps([self.name, self.id], ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, value: str | None, field: str = "after") -> AgentCursor | None:
        """A cursor from its string form; a malformed one is a validation error on ``field``."""
        if not value:
            return None
        try:
            name, agent_id = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            if not isinstance(name, str) or not isinstance(agent_id, int):
                raise ValueError("shape")
            if not 0 < agent_id <= INT32_MAX:
                raise ValueError("no such id")
            return cls(name, agent_id)
        except (ValueError, TypeError, UnicodeDecodeError) as error:
            raise ValidationFailed({field: [Message("Not a valid page cursor.")]}) from error


def page_agents(
    unit: Unit,
    *,
    limit: int,
    after: AgentCursor | str | None = None,
    search: str | None = None,
    active: bool | None = True,
) -> list[Agent]:
    """A page of agents by name (then id), after ``after``; ``search`` matches name or email,
    ``active`` ``None`` lists active and inactive agents alike."""
    check_limit(limit)
    cursor = after if isinstance(after, AgentCursor) else AgentCursor.parse(after)
    query = select(Agent)
    if active is not None:
        query = query.where(Agent.is_active.is_(active))
    term = clean_text(search or "", "search", max_length=200)
    if term:
        escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            or_(
                func.lower(Agent.name).like(f"%{escaped}%", escape="\\"),
                Agent.email.like(f"%{escaped}%", escape="\\"),
            )
        )
    if cursor is not None:
        query = query.where(
            or_(Agent.name > cursor.name, and_(Agent.name == cursor.name, Agent.id > cursor.id))
        )
    return list(unit.session.scalars(query.order_by(Agent.name, Agent.id).limit(limit)))


def assigned_open_tickets(unit: Unit, agent: Agent, *, limit: int = 100) -> list[Ticket]:
    """Tickets not closed that are assigned to ``agent`` (those the actor may see), oldest
    first: what waits for reassignment when the agent leaves."""
    check_limit(limit)
    query = select(Ticket).where(
        Ticket.assignee_id == agent.id, Ticket.status_type != StatusType.CLOSED.value
    )
    visible = unit.actor.visible_department_ids()
    if visible is not None:
        query = query.where(Ticket.department_id.in_(visible))
    return list(unit.session.scalars(query.order_by(Ticket.created_at, Ticket.id).limit(limit)))


def profile_permissions(
    session: Session, host: Host | None, profile: PermissionProfile
) -> frozenset[str]:
    """What ``profile`` grants now: everything known for an administrator profile."""
    return known_permissions(session, host) if profile.is_admin else profile.permission_names


def permission_changes(
    session: Session, host: Host | None, before: PermissionProfile, after: PermissionProfile
) -> tuple[list[str], list[str]]:
    """The permissions an agent gains and loses moving from profile ``before`` to ``after``."""
    held = profile_permissions(session, host, before)
    granted = profile_permissions(session, host, after)
    return sorted(granted - held), sorted(held - granted)


def set_status(unit: Unit, agent: Agent, status: str) -> Agent:
    """Set an agent's availability (an agent may set their own; others need agent.manage)."""
    _require_self_or_manager(unit, agent)
    if status not in AGENT_STATUSES:
        choices = ", ".join(sorted(AGENT_STATUSES))
        raise ValidationFailed(
            {"status": [Message("Choose one of: %(choices)s.", choices=choices)]}
        )
    _audited_set(unit, agent, "status", status)
    return agent


def set_locale(unit: Unit, agent: Agent, locale: str | None) -> Agent:
    """Set an agent's language (``None``: the organisation's default)."""
    _require_self_or_manager(unit, agent)
    if locale is not None:
        _locale(locale, "locale")
    _audited_set(unit, agent, "locale", locale)
    return agent


def set_password(
    unit: Unit, agent: Agent, new_password: str, *, current_password: str | None = None
) -> Agent:
    """Change a password: agents changing their own give the current one; managers need not."""
    if unit.actor.agent_id == agent.id:
        if current_password is None or not check_password_hash(
            agent.password_hash, current_password
        ):
            raise ValidationFailed(
                {"current_password": [Message("The current password is wrong.")]}
            )
    else:
        unit.actor.require(catalogue.AGENT_MANAGE)
    _password(new_password, "new_password")
    agent.password_hash = generate_password_hash(new_password)
    end_sessions(agent)
    unit.session.flush()
    # The hash never goes into the audit log; that the password changed does.
    unit.audit("update", "agent", agent.id, sub_action="password")
    unit.emit(events.AGENT_UPDATED, {"agent_id": agent.id, "changes": {"password": None}})
    return agent


def end_sessions(agent: Agent) -> None:
    """Revoke every browser session ``agent`` holds, from their next request on.

    Sessions remember the agent's ``session_generation`` when they start and are honoured only
    while it is unchanged; signing out, a password change and deactivation bump it.
    """
    agent.session_generation = (agent.session_generation or 0) + 1


def authenticate(session: Session, email: str, password: str) -> Agent | None:
    """The active agent with this email and password, or ``None``.

    A wrong email costs as much as a wrong password (a hash is checked either way), and an
    inactive agent is refused the same way as a wrong password.
    """
    agent = session.scalar(select(Agent).where(Agent.email == (email or "").strip().lower()))
    stored = agent.password_hash if agent is not None and agent.password_hash else _DUMMY_HASH
    matches = check_password_hash(stored, password or "")
    if agent is None or not agent.is_active or not matches or stored is _DUMMY_HASH:
        return None
    return agent


def _require_self_or_manager(unit: Unit, agent: Agent) -> None:
    if unit.actor.agent_id != agent.id:
        unit.actor.require(catalogue.AGENT_MANAGE)


def _audited_set(unit: Unit, agent: Agent, field: str, value: Any) -> None:
    changed = apply_changes(agent, {field: value})
    if changed:
        unit.session.flush()
        before, after = split_changes(changed)
        unit.audit("update", "agent", agent.id, sub_action=field, before=before, after=after)
        unit.emit(events.AGENT_UPDATED, {"agent_id": agent.id, "changes": jsonable(changed)})


def _unique_agent_email(session: Session, email: Any, own_id: int | None) -> str:
    value = clean_text(email, "email", max_length=320, required=True).lower()
    local, _, domain = value.partition(_EMAIL_SHAPE)
    if not local or "." not in domain or " " in value:
        raise ValidationFailed({"email": [Message("Not a valid email address.")]})
    clash = session.scalar(select(Agent.id).where(Agent.email == value))
    if clash is not None and clash != own_id:
        raise ValidationFailed({"email": [Message("An agent with this email exists.")]})
    return value


def check_new_password(password: Any, field: str = "password") -> str:
    """``password`` when it is long enough for a new password, else 422 on ``field``."""
    return _password(password, field)


def _password(password: Any, field: str = "password") -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            {field: [Message("At least %(count)d characters.", count=MIN_PASSWORD_LENGTH)]}
        )
    return password


def _profile(session: Session, name: str | None, profile_id: int | None) -> PermissionProfile:
    if (name is None) == (profile_id is None):
        raise ValidationFailed({"profile": [Message("Give a profile name or a profile id.")]})
    query = select(PermissionProfile)
    query = (
        query.where(PermissionProfile.name == name)
        if name is not None
        else query.where(PermissionProfile.id == profile_id)
    )
    profile = session.scalar(query)
    if profile is None:
        raise ValidationFailed(
            {"profile_id" if name is None else "profile_name": [Message("Unknown profile.")]}
        )
    return profile


def _departments(session: Session, department_ids: Iterable[int]) -> list[Department]:
    wanted = sorted(set(department_ids))
    found = list(session.scalars(select(Department).where(Department.id.in_(wanted))))
    if len(found) != len(wanted):
        raise ValidationFailed({"department_ids": [Message("Unknown department.")]})
    return found


def _agent_snapshot(agent: Agent) -> dict[str, Any]:
    return {
        "email": agent.email,
        "name": agent.name,
        "profile_id": agent.profile.id,
        "department_ids": sorted(agent.department_ids),
        "locale": agent.locale,
    }
