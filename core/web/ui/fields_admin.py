"""The field layout editor: /admin/fields/contact and /admin/fields/account.

Built-in fields (name, email, phone…) are placed, relabelled and hidden in their own list:
they come first on the forms and detail pages, in the order set here; a field the record's
service requires (a contact's last name, an account's name) cannot be hidden. The custom
fields follow, in their own layout.

Field types are dragged from a palette into the layout (or added with the form below it),
fields are reordered by drag and drop or with move up/down buttons, edited and removed.
Every action is an ordinary form post, so the page works without JavaScript; the script
(static/layout-editor.js) adds drag and drop and saves a new order with one JSON post.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlalchemy import func, select

from core.errors import Forbidden, ValidationFailed
from core.models import Account, Contact, CustomField
from core.names import family_name_first
from core.permissions import SETUP_MANAGE
from core.services import fields as field_service
from core.services.base import parse_whole_number
from core.web.database import db_session
from core.web.security import current_agent, login_required
from core.web.ui import labels
from core.web.ui.units import request_unit

blueprint = Blueprint("fields_admin", __name__, url_prefix="/admin/fields")


def _require_admin(entity: str) -> None:
    agent = current_agent()
    if agent is None or not agent.has_permission(SETUP_MANAGE):
        raise Forbidden(SETUP_MANAGE)
    if entity not in field_service.ENTITIES:
        abort(404)


def _editor(
    entity: str,
    *,
    form_errors: dict[str, list[str]] | None = None,
    draft: dict[str, Any] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return (
        render_template(
            "admin/fields.html",
            entity=entity,
            layout=field_service.fields_for(db_session(), entity),
            builtin=field_service.builtin_layout(db_session(), entity),
            palette=list(labels.FIELD_TYPES.items()),
            lookup_labels=labels.LOOKUP_TARGETS,
            form_errors=form_errors or {},
            draft=draft or {},
        ),
        status,
    )


@blueprint.get("/<entity>")
@login_required
def editor(entity: str) -> ResponseReturnValue:
    """The layout editor of contact or account custom fields."""
    _require_admin(entity)
    return _editor(entity)


def _options_from_form() -> list[str]:
    return [line.strip() for line in request.form.get("options", "").splitlines() if line.strip()]


@blueprint.post("/<entity>")
@login_required
def add(entity: str) -> ResponseReturnValue:
    """Add a field (dropped from the palette at ``position``, or at the end)."""
    _require_admin(entity)
    position_text = request.form.get("position", "").strip()
    draft = dict(request.form.items())
    try:
        field_service.create_field(
            request_unit(),
            entity=entity,
            label=request.form.get("label", ""),
            field_type=request.form.get("field_type", ""),
            required=request.form.get("required") == "on",
            options=_options_from_form(),
            lookup_entity=request.form.get("lookup_entity") or None,
            help_text=request.form.get("help_text", ""),
            position=parse_whole_number(position_text, 10**6),
        )
    except ValidationFailed as failure:
        db_session().rollback()
        return _editor(entity, form_errors=failure.errors, draft=draft, status=422)
    db_session().commit()
    return redirect(url_for("fields_admin.editor", entity=entity))


@blueprint.post("/<entity>/order")
@login_required
def reorder(entity: str) -> ResponseReturnValue:
    """Save a new order posted as JSON ``{"keys": [...]}`` (X-CSRFToken header)."""
    _require_admin(entity)
    body = request.get_json(silent=True) or {}
    try:
        ordered = field_service.reorder_fields(request_unit(), entity, body.get("keys") or [])
    except ValidationFailed as failure:
        db_session().rollback()
        return jsonify({"errors": failure.errors}), 422
    db_session().commit()
    return jsonify({"keys": [field.key for field in ordered]})


@blueprint.post("/<entity>/<id:field_id>/move")
@login_required
def move(entity: str, field_id: int) -> ResponseReturnValue:
    """Move a field one place up or down (the keyboard alternative to dragging)."""
    _require_admin(entity)
    layout = field_service.fields_for(db_session(), entity)
    keys = [field.key for field in layout]
    index = next((i for i, field in enumerate(layout) if field.id == field_id), None)
    if index is None:
        abort(404)
    target = index - 1 if request.form.get("direction") == "up" else index + 1
    if 0 <= target < len(keys):
        keys[index], keys[target] = keys[target], keys[index]
        field_service.reorder_fields(request_unit(), entity, keys)
        db_session().commit()
    return redirect(url_for("fields_admin.editor", entity=entity) + f"#field-{field_id}")


def _field(entity: str, field_id: int) -> CustomField:
    return field_service.get_field(request_unit(), field_id, entity)


@blueprint.route("/<entity>/<id:field_id>/edit", methods=["GET", "POST"])
@login_required
def edit(entity: str, field_id: int) -> ResponseReturnValue:
    """Edit a field's label, required flag, help text and picklist options."""
    _require_admin(entity)
    field = _field(entity, field_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        changes: dict[str, Any] = {
            "label": request.form.get("label", ""),
            "required": request.form.get("required") == "on",
            "help_text": request.form.get("help_text", ""),
        }
        if field.field_type == "picklist":
            changes["options"] = _options_from_form()
        try:
            field_service.update_field(request_unit(), field, **changes)
        except ValidationFailed as failure:
            db_session().rollback()
            errors = failure.errors
        else:
            db_session().commit()
            return redirect(url_for("fields_admin.editor", entity=entity) + f"#field-{field.id}")
    return (
        render_template(
            "admin/fields_edit.html",
            entity=entity,
            field=field,
            draft=dict(request.form.items()) if errors else {},
            form_errors=errors,
        ),
        422 if errors else 200,
    )


@blueprint.route("/<entity>/<id:field_id>/delete", methods=["GET", "POST"])
@login_required
def delete(entity: str, field_id: int) -> ResponseReturnValue:
    """Confirm, then remove a field and drop its values from every record."""
    _require_admin(entity)
    field = _field(entity, field_id)
    if request.method == "POST":
        field_service.delete_field(request_unit(), field)
        db_session().commit()
        return redirect(url_for("fields_admin.editor", entity=entity))
    model = Contact if entity == "contact" else Account
    holders = db_session().scalar(
        select(func.count())
        .select_from(model)
        .where(model.custom_fields[field.key].as_string().isnot(None))
    )
    return render_template(
        "admin/fields_delete.html", entity=entity, field=field, holders=holders or 0
    )


# -------------------------------------------------------------------------- built-in fields


@blueprint.app_template_global()
def builtin_layout(entity: str) -> list[field_service.PlacedField]:
    """The built-in fields of ``entity`` as forms and detail pages place them; where the two
    parts of a name sit together, in the order the page's language asks for them (姓 then 名
    in Japanese, the first name first in English)."""
    placed = field_service.builtin_layout(db_session(), entity)
    keys = [p.key for p in placed]
    for index in range(len(keys) - 1):
        pair = {keys[index], keys[index + 1]}
        if pair == {"first_name", "last_name"}:
            first, second = placed[index], placed[index + 1]
            family_first = family_name_first()
            if (first.key == "first_name") == family_first:
                placed[index], placed[index + 1] = second, first
            break
    return placed


@blueprint.app_template_global()
def builtin_label(placed: field_service.PlacedField) -> str:
    """A built-in field's label: the administrator's, else the default in the agent's language."""
    return placed.label or gettext(placed.field.default_label)


@blueprint.post("/<entity>/builtin/<field_key>/move")
@login_required
def move_builtin(entity: str, field_key: str) -> ResponseReturnValue:
    """Move a built-in field one place up or down."""
    _require_admin(entity)
    field_service.move_builtin_field(
        request_unit(), entity, field_key, "up" if request.form.get("direction") == "up" else "down"
    )
    db_session().commit()
    return redirect(url_for("fields_admin.editor", entity=entity) + f"#builtin-{field_key}")


@blueprint.post("/<entity>/builtin/order")
@login_required
def reorder_builtin(entity: str) -> ResponseReturnValue:
    """Save a new order of the built-in fields posted as JSON ``{"keys": [...]}``."""
    _require_admin(entity)
    body = request.get_json(silent=True) or {}
    try:
        ordered = field_service.reorder_builtin_fields(
            request_unit(), entity, body.get("keys") or []
        )
    except ValidationFailed as failure:
        db_session().rollback()
        return jsonify({"errors": failure.errors}), 422
    db_session().commit()
    return jsonify({"keys": [placed.key for placed in ordered]})


@blueprint.route("/<entity>/builtin/<field_key>/edit", methods=["GET", "POST"])
@login_required
def edit_builtin(entity: str, field_key: str) -> ResponseReturnValue:
    """Relabel a built-in field or hide it (required fields stay shown)."""
    _require_admin(entity)
    placed = next((p for p in builtin_layout(entity) if p.key == field_key), None)
    if placed is None:
        abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        changes: dict[str, Any] = {"label": request.form.get("label", "")}
        if not placed.field.required:
            changes["hidden"] = request.form.get("hidden") == "on"
        try:
            field_service.update_builtin_field(request_unit(), entity, field_key, **changes)
        except ValidationFailed as failure:
            db_session().rollback()
            errors = failure.errors
        else:
            db_session().commit()
            return redirect(url_for("fields_admin.editor", entity=entity) + f"#builtin-{field_key}")
    return (
        render_template(
            "admin/fields_builtin.html",
            entity=entity,
            placed=placed,
            draft=dict(request.form.items()) if errors else {},
            form_errors=errors,
        ),
        422 if errors else 200,
    )
