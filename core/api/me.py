"""``/api/v1/me``, ``/api/v1/me/tokens`` and ``/api/v1/departments``."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_wtf.csrf import generate_csrf

from core import tokens
from core.api import schemas
from core.api.auth import principal, scoped, session_only, unit
from core.api.blueprint import api_blueprint, commit
from core.models import AccessToken, Department
from core.services import org as org_service
from core.services import two_factor
from core.tokens import SETTINGS_WRITE_SCOPE
from core.web.database import db_session
from hostapi import scopes

me = api_blueprint("api_me", __name__, "/me", "The calling agent and their personal access tokens.")
departments = api_blueprint("api_departments", __name__, "/departments", "Departments.")

TokenList = schemas.page_of(schemas.TokenSchema, "TokenList")
DepartmentList = schemas.page_of(schemas.DepartmentSchema, "DepartmentList")


@me.route("", methods=["GET"])
@me.response(200, schemas.MeSchema)
def get_me() -> dict[str, Any]:
    """Who the caller is, what they may do, and how they authenticated."""
    caller = principal()
    agent = caller.agent
    profile = agent.profile
    return {
        "id": agent.id,
        "name": agent.name,
        "email": agent.email,
        "locale": agent.locale,
        "status": agent.status,
        "profile": profile,
        "permissions": sorted(
            org_service.known_permissions(unit().session, unit().host)
            if profile.is_admin
            else profile.permission_names
        ),
        "department_ids": sorted(caller.department_ids),
        "auth": "bearer" if caller.is_bearer else "session",
        "scopes": sorted(caller.scopes) if caller.scopes is not None else None,
        "csrf_token": None if caller.is_bearer else generate_csrf(),
        "two_factor_enabled": two_factor.is_enabled(db_session(), agent.id),
    }


def _token_view(token: AccessToken, plaintext: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": token.id,
        "name": token.name,
        "kind": token.kind,
        "token_hint": token.token_hint,
        "scopes": sorted(token.scope_set),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
    }
    if plaintext is not None:
        view["token"] = plaintext
    return view


@me.route("/tokens", methods=["GET"])
@session_only
@me.response(200, TokenList)
def list_tokens() -> dict[str, Any]:
    """The caller's personal access tokens (never their secrets)."""
    rows = tokens.personal_tokens(db_session(), principal().agent)
    return {"items": [_token_view(token) for token in rows], "next_cursor": None}


@me.route("/tokens", methods=["POST"])
@session_only
@me.arguments(schemas.TokenCreateSchema)
@me.response(201, schemas.CreatedTokenSchema)
def create_token(data: dict[str, Any]) -> dict[str, Any]:
    """Create a personal access token; its secret is in this answer only."""
    token, plaintext = tokens.create_personal_token(
        db_session(),
        principal().agent,
        data["name"],
        data["scopes"],
        data["expires_at"],
        ip_address=request.remote_addr,
    )
    commit()
    return _token_view(token, plaintext)


@me.route("/tokens/<id:token_id>", methods=["DELETE"])
@session_only
@me.response(204)
def revoke_token(token_id: int) -> None:
    """Revoke one of the caller's tokens: requests with it answer 401 from now on."""
    session = db_session()
    agent = principal().agent
    token = tokens.get_personal_token(session, agent, token_id)
    tokens.revoke(session, token, by=agent, ip_address=request.remote_addr)
    commit()


def _department_view(department: Department, member_of: frozenset[int]) -> dict[str, Any]:
    return {
        "id": department.id,
        "name": department.name,
        "description": department.description,
        "is_active": department.is_active,
        "mailbox": department.mailbox,
        "is_member": department.id in member_of,
        "created_at": department.created_at,
    }


@departments.route("", methods=["GET"])
@scoped(scopes.TICKETS_READ)
@departments.arguments(schemas.DepartmentListArgsSchema, location="query", as_kwargs=True)
@departments.response(200, DepartmentList)
def list_departments(include_inactive: bool, limit: int, cursor: str | None) -> dict[str, Any]:
    """Departments by name (active ones unless ``include_inactive``), each saying whether the
    caller belongs to it."""
    member_of = principal().department_ids
    rows = org_service.list_departments(
        unit(),
        include_inactive=include_inactive,
        after=cursor,
        limit=limit + 1,
        cursor_field="cursor",
    )
    page = rows[:limit]
    next_cursor = (
        org_service.encode_name_cursor(page[-1].name, page[-1].id) if len(rows) > limit else None
    )
    return {"items": [_department_view(d, member_of) for d in page], "next_cursor": next_cursor}


@departments.route("", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@departments.arguments(schemas.DepartmentCreateSchema)
@departments.response(201, schemas.DepartmentSchema)
def create_department(data: dict[str, Any]) -> dict[str, Any]:
    """Create a department (needs the ``setup.manage`` permission)."""
    department = org_service.create_department(unit(), **data)
    commit()
    return _department_view(department, principal().department_ids)


@departments.route("/<id:department_id>", methods=["PATCH"])
@scoped(SETTINGS_WRITE_SCOPE)
@departments.arguments(schemas.DepartmentUpdateSchema)
@departments.response(200, schemas.DepartmentSchema)
def update_department(changes: dict[str, Any], department_id: int) -> dict[str, Any]:
    """Rename, describe, (de)activate a department or set its support mailbox (``setup.manage``)."""
    work = unit()
    department = org_service.get_department(work, department_id)
    org_service.update_department(work, department, **changes)
    commit()
    return _department_view(department, principal().department_ids)


@departments.route("/<id:department_id>/deactivate", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@departments.arguments(schemas.DepartmentDeactivateSchema)
@departments.response(200, schemas.DepartmentSchema)
def deactivate_department(data: dict[str, Any], department_id: int) -> dict[str, Any]:
    """Deactivate a department; its open tickets move to ``move_to_department_id`` (each move
    audited, as a ticket update), and without one it is refused while it holds open tickets
    (``setup.manage``; moving needs ``ticket.edit`` in both departments). Reactivate with PATCH
    ``is_active``."""
    work = unit()
    department = org_service.get_department(work, department_id)
    org_service.deactivate_department(work, department, **data)
    commit()
    return _department_view(department, principal().department_ids)
