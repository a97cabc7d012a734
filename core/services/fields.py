"""Custom fields on contacts and accounts: their definitions, layout and value validation.

A field's values live in the record's ``custom_fields`` JSON document under the field's
``key`` ("cf_" + a slug of the label). Every write of values (forms, REST, CSV import) goes
through :func:`clean_custom_values`; text from a form or a CSV cell is read with
:func:`parse_custom_value` first.

Removing a field drops its values from every record (the layout editor says so before it
asks to confirm): a hidden value nobody can see or edit would still be exported and searched.
It also leaves the saved views (:func:`drop_field`), so that none of them applies to another
field given the same key later (an extension's declared field, when it is installed again).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import (
    Account,
    Agent,
    AuditEntry,
    BuiltinFieldLayout,
    Contact,
    CustomerEntity,
    CustomField,
    CustomView,
    FieldType,
    Product,
)
from core.models.types import INT64_MAX, id_maximum
from core.services.base import (
    Unit,
    clean_text,
    gather,
    jsonable,
    parse_whole_number,
    refuse_extension_owned,
    refuse_unknown_fields,
    split_changes,
)
from core.services.phones import organisation_region
from hostapi import clock

ENTITIES: tuple[str, ...] = tuple(e.value for e in CustomerEntity)
FIELD_TYPES: tuple[str, ...] = tuple(t.value for t in FieldType)
LOOKUP_TARGETS: dict[str, type[Any]] = {
    "contact": Contact,
    "account": Account,
    "product": Product,
    "agent": Agent,
}
#: Types whose values are text, matched by the list search box.
TEXT_TYPES: frozenset[str] = frozenset(
    {FieldType.TEXT, FieldType.PICKLIST, FieldType.EMAIL, FieldType.PHONE, FieldType.URL}
)
MAX_TEXT = 2000
MAX_OPTIONS = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"true", "yes", "y", "1", "on", "x", "はい"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "いいえ"})


class InvalidValue(ValueError):
    """A custom field value that does not fit its field; ``message`` says why, translatable."""

    def __init__(self, message: Message) -> None:
        super().__init__(message)
        self.message = message


# ----------------------------------------------------------------------------------- reading


def fields_for(session: Session, entity: str) -> list[CustomField]:
    """The custom fields of ``entity`` ("contact" or "account") in layout order."""
    return list(
        session.scalars(
            select(CustomField)
            .where(CustomField.entity == entity)
            .order_by(CustomField.position, CustomField.id)
        )
    )


def field_by_key(session: Session, entity: str, key: str) -> CustomField | None:
    """The custom field of ``entity`` called ``key``, or None."""
    return session.scalar(
        select(CustomField).where(CustomField.entity == entity, CustomField.key == key)
    )


def display_value(field: CustomField, value: Any) -> str:
    """A stored value as text for a page or an export ("" when unset)."""
    if value is None:
        return ""
    if field.field_type == FieldType.CHECKBOX:
        return "✓" if value else "✗"
    if field.field_type == FieldType.NUMBER and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def custom_value_search(
    session: Session, entity: str, column: Any, pattern: str
) -> list[ColumnElement[bool]]:
    """Conditions matching ``pattern`` (an escaped ILIKE pattern) against text-like values.

    Each text-like field's value is read out of the document by key: ``json_extract`` on
    SQLite, ``->>`` on PostgreSQL's jsonb (so Japanese text matches as written, whatever
    escaping the stored JSON uses).
    """
    keys = session.scalars(
        select(CustomField.key).where(
            CustomField.entity == entity, CustomField.field_type.in_(sorted(TEXT_TYPES))
        )
    )
    return [column[key].as_string().ilike(pattern, escape="\\") for key in keys]


# ----------------------------------------------------------------------------- text to value


def parse_custom_value(field: CustomField, raw: str) -> Any:
    """Text from a form or a CSV cell as the value ``field`` stores; "" is None (no value).

    :raises InvalidValue: with a message for the user when the text does not fit the type.
    """
    text = (raw or "").strip()
    if not text:
        return None
    kind = field.field_type
    if kind == FieldType.NUMBER:
        return _parse_number(text)
    if kind == FieldType.DATE:
        return _parse_date(text)
    if kind == FieldType.CHECKBOX:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InvalidValue(Message("Give yes or no (true/false)."))
    if kind == FieldType.PICKLIST:
        for option in field.options or []:
            if option.casefold() == text.casefold():
                return option
        raise _not_an_option(field)
    if kind == FieldType.LOOKUP:
        record_id = parse_whole_number(text, INT64_MAX)
        if record_id is None:
            raise InvalidValue(Message("Give the id of the record."))
        return record_id
    return text


def _parse_number(text: str) -> int | float:
    cleaned = text.replace(",", "").replace(" ", "")
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        number = float(cleaned)
    except ValueError as error:
        raise InvalidValue(Message("Give a number.")) from error
    if not math.isfinite(number):
        raise InvalidValue(Message("Give a number."))
    return number


def _parse_date(text: str) -> str:
    # Spreadsheets in Japan often write 2024/01/31; read it as the ISO date it means.
    candidate = text.replace("/", "-")
    parts = candidate.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        candidate = f"{parts[0]:0>4}-{parts[1]:0>2}-{parts[2]:0>2}"
    try:
        return date.fromisoformat(candidate).isoformat()
    except ValueError as error:
        raise InvalidValue(Message("Give a date as YYYY-MM-DD.")) from error


def _no_such_record(entity: str | None, record_id: int) -> Message:
    # One sentence per kind of record, so each language can word it whole.
    if entity == "contact":
        return Message("No contact with id %(id)d.", id=record_id)
    if entity == "account":
        return Message("No account with id %(id)d.", id=record_id)
    if entity == "product":
        return Message("No product with id %(id)d.", id=record_id)
    if entity == "agent":
        return Message("No agent with id %(id)d.", id=record_id)
    return Message("No record with id %(id)d.", id=record_id)


def _not_an_option(field: CustomField) -> InvalidValue:
    choices = ", ".join(field.options or [])
    return InvalidValue(Message("Choose one of: %(choices)s.", choices=choices))


# --------------------------------------------------------------------------- value validation


def clean_custom_values(
    session: Session,
    entity: str,
    values: Mapping[str, Any],
    *,
    existing: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check typed values by field key and return the document to store (``existing`` merged).

    A ``None`` or "" value clears the field. Unknown keys, values of the wrong type, picklist
    values not among the options, lookups to missing records, malformed emails, phones and
    URLs, and required fields left without a value are refused.

    :raises ValidationFailed: ``{"custom_fields.<key>": [message]}`` for every bad key.
    """
    if not isinstance(values, Mapping):
        raise ValidationFailed(
            {"custom_fields": [Message("Give the values as an object by field key.")]}
        )
    fields = {field.key: field for field in fields_for(session, entity)}
    errors: dict[str, list[str]] = {}
    merged: dict[str, Any] = dict(existing or {})
    region: list[str] = []  # read once, only when a phone value needs it
    for key, value in values.items():
        field = fields.get(key)
        if field is None:
            errors[f"custom_fields.{key}"] = [Message("Unknown custom field.")]
            continue
        try:
            cleaned = clean_value(session, field, value, region)
        except InvalidValue as error:
            errors[f"custom_fields.{key}"] = [error.message]
            continue
        if cleaned is None:
            merged.pop(key, None)
        else:
            merged[key] = cleaned
    for key, field in fields.items():
        if field.required and merged.get(key) is None and f"custom_fields.{key}" not in errors:
            errors[f"custom_fields.{key}"] = [Message("This field is required.")]
    if errors:
        raise ValidationFailed(errors)
    return merged


def clean_value(session: Session, field: CustomField, value: Any, region: list[str]) -> Any:
    """One typed value checked against ``field`` (``None`` when empty); InvalidValue says why.

    ``region`` is a one-slot cache of the organisation's phone region, filled on the first
    phone value, so that a batch of rows (the import) reads it once.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = field.field_type
    if kind == FieldType.CHECKBOX:
        if not isinstance(value, bool):
            raise InvalidValue(Message("Must be true or false."))
        return value
    if kind == FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValue(Message("Must be a number."))
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidValue(Message("Must be a number."))
        return value
    if kind == FieldType.LOOKUP:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValue(Message("Must be the id of a record."))
        target = LOOKUP_TARGETS.get(field.lookup_entity or "")
        out_of_range = target is None or not 1 <= value <= id_maximum(target)
        if out_of_range or session.get(target, value) is None:
            raise InvalidValue(_no_such_record(field.lookup_entity, value))
        return value
    if kind == FieldType.DATE and isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise InvalidValue(Message("Must be text."))
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise InvalidValue(Message("At most %(count)d characters.", count=MAX_TEXT))
    if kind == FieldType.DATE:
        if not _ISO_DATE.match(text):
            raise InvalidValue(Message("Give a date as YYYY-MM-DD."))
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError as error:
            raise InvalidValue(Message("Not a valid date.")) from error
    if kind == FieldType.PICKLIST:
        if text not in (field.options or []):
            raise _not_an_option(field)
        return text
    if kind == FieldType.EMAIL:
        if not _EMAIL.match(text):
            raise InvalidValue(Message("Not a valid email address."))
        return text.lower()
    if kind == FieldType.URL:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
            raise InvalidValue(Message("Give a web address starting with http:// or https://."))
        return text
    if kind == FieldType.PHONE:
        if not region:
            region.append(organisation_region(session))
        if not _possible_phone(text, region[0]):
            raise InvalidValue(Message("Not a valid phone number."))
        # Stored as typed: people recognise their own formatting; matching uses E.164 elsewhere.
        return text
    return text


def _possible_phone(text: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(number)


# ------------------------------------------------------------------------- field definitions


def slug_key(label: str) -> str:
    """The key a label suggests: "cf_" + lower-case ASCII slug ("" when nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:56]
    return f"cf_{slug}" if slug else ""


def _unique_key(session: Session, entity: str, label: str) -> str:
    """A key no field of ``entity`` ever had: views, notifications and audit entries name
    fields by key, so a deleted field's key must not come back as a new field's.

    An extension's declared fields keep ``<id>_<key>`` instead, which its code reads values by
    (see ``core.plugins.requirements``); no key made here has that form.
    """
    taken = set(session.scalars(select(CustomField.key).where(CustomField.entity == entity)))
    taken |= _deleted_keys(session, entity)
    base = slug_key(label)
    if not base:
        # Labels with no ASCII letters (日本語 labels) get a number: cf_1, cf_2…, past the
        # highest ever given (a count would hand a deleted field's number to the next one).
        numbers = [int(key[3:]) for key in taken if re.fullmatch(r"cf_\d+", key)]
        return f"cf_{max(numbers, default=0) + 1}"
    key, suffix = base, 2
    while key in taken:
        key = f"{base}_{suffix}"
        suffix += 1
    return key


def _deleted_keys(session: Session, entity: str) -> set[str]:
    """Keys of ``entity``'s deleted fields, as the audit log remembers them."""
    snapshot = AuditEntry.before
    return set(
        session.scalars(
            select(snapshot["key"].as_string()).where(
                AuditEntry.entity_type == "custom_field",
                AuditEntry.action == "delete",
                snapshot["entity"].as_string() == entity,
            )
        )
    )


def _entity(entity: str) -> str:
    if entity not in ENTITIES:
        raise ValidationFailed({"entity": [Message("Give contact or account.")]})
    return entity


def _field_type(value: object) -> str:
    if value not in FIELD_TYPES:
        choices = ", ".join(FIELD_TYPES)
        raise ValidationFailed(
            {"field_type": [Message("Give one of: %(choices)s.", choices=choices)]}
        )
    return str(value)


def _options(value: object, field_type: str) -> list[str]:
    if field_type != FieldType.PICKLIST:
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, Sequence):
        raise ValidationFailed({"options": [Message("Give a list of choices.")]})
    options: list[str] = []
    for item in value:
        text = clean_text(item, "options", max_length=200)
        if text and text not in options:
            options.append(text)
    if not options:
        raise ValidationFailed({"options": [Message("Give at least one choice.")]})
    if len(options) > MAX_OPTIONS:
        raise ValidationFailed(
            {"options": [Message("At most %(count)d choices.", count=MAX_OPTIONS)]}
        )
    return options


def _lookup_entity(value: object, field_type: str) -> str | None:
    if field_type != FieldType.LOOKUP:
        return None
    if value not in LOOKUP_TARGETS:
        choices = ", ".join(LOOKUP_TARGETS)
        raise ValidationFailed(
            {"lookup_entity": [Message("Give one of: %(choices)s.", choices=choices)]}
        )
    return str(value)


def _required(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed({"required": [Message("Must be true or false.")]})
    return value


def describe(field: CustomField) -> dict[str, Any]:
    """A field as audit entries, events and the API show it."""
    return {
        "id": field.id,
        "entity": field.entity,
        "key": field.key,
        "label": field.label,
        "field_type": field.field_type,
        "required": field.required,
        "options": list(field.options or []),
        "lookup_entity": field.lookup_entity,
        "help_text": field.help_text,
        "position": field.position,
    }


def create_field(
    unit: Unit,
    *,
    entity: str,
    label: str,
    field_type: str,
    required: bool = False,
    options: Sequence[str] | str = (),
    lookup_entity: str | None = None,
    help_text: str = "",
    position: int | None = None,
) -> CustomField:
    """Add a custom field to ``entity``'s layout (at ``position``, else at the end)."""
    unit.actor.require(permissions.SETUP_MANAGE)
    values = gather(
        {
            "entity": lambda: _entity(entity),
            "label": lambda: clean_text(label, "label", max_length=200, required=True),
            "field_type": lambda: _field_type(field_type),
            "required": lambda: _required(required),
            "help_text": lambda: clean_text(help_text, "help_text", max_length=500),
        }
    )
    extra = gather(
        {
            "options": lambda: _options(options, values["field_type"]),
            "lookup_entity": lambda: _lookup_entity(lookup_entity, values["field_type"]),
        }
    )
    session = unit.session
    layout = fields_for(session, values["entity"])
    now = clock.now()
    field = CustomField(
        **values,
        **extra,
        key=_unique_key(session, values["entity"], values["label"]),
        position=len(layout),
        created_at=now,
        updated_at=now,
    )
    session.add(field)
    if position is not None:
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise ValidationFailed({"position": [Message("Give a position of 0 or more.")]})
        layout.insert(min(position, len(layout)), field)
        _renumber(layout)
    session.flush()
    unit.audit("add", "custom_field", field.id, after=describe(field))
    return field


def get_field(unit: Unit, field_id: int, entity: str | None = None) -> CustomField:
    """The custom field ``field_id`` (of ``entity`` when given).

    :raises NotFound: no such field.
    :raises Forbidden: the actor may not see the records the field belongs to.
    """
    field = unit.session.get(CustomField, field_id)
    if field is None or (entity is not None and field.entity != entity):
        raise NotFound("custom field not found")
    unit.actor.require(
        permissions.CONTACT_VIEW
        if field.entity == CustomerEntity.CONTACT
        else permissions.ACCOUNT_VIEW
    )
    return field


UPDATABLE: frozenset[str] = frozenset({"label", "required", "help_text", "options"})


def update_field(unit: Unit, field: CustomField, **changes: Any) -> CustomField:
    """Change a field's label, required flag, help text or picklist options.

    The key and type stay: records hold values by key, typed by the field's type. Removing
    a picklist option leaves records that hold it as they are until they are next edited.
    """
    unit.actor.require(permissions.SETUP_MANAGE)
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise ValidationFailed(
            {name: [Message("This field cannot be changed.")] for name in unknown}
        )
    refuse_extension_owned(field)
    checks = {
        "label": lambda v: clean_text(v, "label", max_length=200, required=True),
        "required": _required,
        "help_text": lambda v: clean_text(v, "help_text", max_length=500),
        "options": lambda v: _options(v, field.field_type),
    }
    values = gather(
        {name: (lambda c=checks[name], v=value: c(v)) for name, value in changes.items()}
    )
    changed: dict[str, list[Any]] = {}
    for name, value in values.items():
        before = getattr(field, name)
        if before != value:
            changed[name] = [jsonable(before), jsonable(value)]
            setattr(field, name, value)
    if changed:
        field.updated_at = clock.now()
        unit.session.flush()
        before_doc, after_doc = split_changes(changed)
        unit.audit("update", "custom_field", field.id, before=before_doc, after=after_doc)
    return field


def delete_field(unit: Unit, field: CustomField) -> int:
    """Remove a field and drop its values from every record; returns how many records held one.

    A field an extension added stays until its installation is purged.
    """
    unit.actor.require(permissions.SETUP_MANAGE)
    refuse_extension_owned(field)
    return drop_field(unit, field)


def drop_field(unit: Unit, field: CustomField) -> int:
    """:func:`delete_field` without its checks: for the host, when it purges the installation
    that added ``field``. Returns how many records held a value.

    The field's values leave every record and the field leaves every saved view
    (:func:`_leave_views`).
    """
    session = unit.session
    model = Contact if field.entity == CustomerEntity.CONTACT else Account
    holders = _drop_values(session, model, field.key)
    _leave_views(unit, field)
    snapshot = describe(field)
    entity = field.entity
    session.delete(field)
    session.flush()
    _renumber(fields_for(session, entity))
    session.flush()
    unit.audit(
        "delete",
        "custom_field",
        snapshot["id"],
        before=snapshot,
        after={"records_cleared": holders},
    )
    return holders


#: What a saved view's condition on a removed field names instead: ``removed:<key>``.
REMOVED_FIELD_PREFIX = "removed:"


def _leave_views(unit: Unit, field: CustomField) -> None:
    """Take a removed field out of the saved views of its records: its column goes, sorting by
    it falls back to the creation time (as running the view already did), and a condition on
    it is kept naming ``removed:<key>``, which no field can be called.

    Such a condition still cannot hold, as one on a missing field never does: dropping it
    instead would widen a view that matches all its conditions ("gold customers in Tokyo"
    would list every customer in Tokyo); its owner sees it as a field to choose again. And a
    field given the same key later (an extension reinstalled declares its key again) starts
    with no view reading it: an old condition would meet values of another meaning, or of
    another type.
    """
    key = field.key
    views = unit.session.scalars(
        select(CustomView).where(CustomView.entity == field.entity).order_by(CustomView.id)
    )
    for view in views:
        conditions = [
            {**condition, "field": REMOVED_FIELD_PREFIX + key}
            if condition.get("field") == key
            else condition
            for condition in view.conditions or []
        ]
        after = {
            "conditions": conditions,
            "columns": [column for column in view.columns or [] if column != key],
            "sort_field": "created_at" if view.sort_field == key else view.sort_field,
        }
        changed = {
            name: [jsonable(getattr(view, name)), jsonable(value)]
            for name, value in after.items()
            if getattr(view, name) != value
        }
        if not changed:
            continue
        for name, value in after.items():
            setattr(view, name, value)
        view.updated_at = clock.now()
        before_doc, after_doc = split_changes(changed)
        unit.audit(
            "update",
            "custom_view",
            view.id,
            sub_action="field_removed",
            before=before_doc,
            after=after_doc,
        )
    unit.session.flush()


def _drop_values(session: Session, model: Any, key: str) -> int:
    """Remove ``key`` from every record's document in one statement; returns the row count."""
    table = model.__table__
    has_key = model.custom_fields[key].as_string().isnot(None)
    if session.get_bind().dialect.name == "postgresql":
        dropped = model.custom_fields.op("-")(key)
    else:
        dropped = func.json_remove(model.custom_fields, f'$."{key}"')
    result = session.execute(update(table).where(has_key).values(custom_fields=dropped))
    # Records already loaded in this session must not write the old document back.
    for record in list(session.identity_map.values()):
        if isinstance(record, model) and key in (record.custom_fields or {}):
            session.expire(record, ["custom_fields"])
    return result.rowcount or 0


def reorder_fields(unit: Unit, entity: str, keys: Sequence[str]) -> list[CustomField]:
    """Put ``entity``'s fields in the order of ``keys`` (every key exactly once)."""
    unit.actor.require(permissions.SETUP_MANAGE)
    _entity(entity)
    layout = fields_for(unit.session, entity)
    by_key = {field.key: field for field in layout}
    if isinstance(keys, str) or len(keys) != len(by_key) or set(keys) != set(by_key):
        raise ValidationFailed(
            {"keys": [Message("Give every field key of the layout exactly once.")]}
        )
    before = [field.key for field in layout]
    ordered = [by_key[key] for key in keys]
    if before != list(keys):
        _renumber(ordered)
        unit.session.flush()
        unit.audit(
            "update",
            "custom_field_layout",
            entity,
            before={"keys": before},
            after={"keys": list(keys)},
        )
    return ordered


def _renumber(layout: Sequence[CustomField]) -> None:
    for index, field in enumerate(layout):
        if field.position != index:
            field.position = index
            field.updated_at = clock.now()


# -------------------------------------------------------------------------- built-in fields


@dataclass(frozen=True)
class BuiltinField:
    """A field every contact or account has: its form name, default label and whether the
    record's service requires it (a required field can be moved and relabelled, never hidden).

    ``on_detail`` says whether the detail page lists it among the record's properties (the
    name is the page's heading, the description its own paragraph, the owner the list's).
    """

    key: str
    default_label: str
    required: bool = False
    on_detail: bool = True


#: The built-in fields of each record's form, in their default order. Labels are English
#: message ids, translated where they are shown.
BUILTIN_FIELDS: dict[str, tuple[BuiltinField, ...]] = {
    CustomerEntity.CONTACT: (
        BuiltinField("last_name", "Last name", required=True, on_detail=False),
        BuiltinField("first_name", "First name", on_detail=False),
        BuiltinField("email", "Email address"),
        BuiltinField("phone", "Phone"),
        BuiltinField("mobile", "Mobile"),
        BuiltinField("title", "Title"),
        BuiltinField("account_id", "Account"),
        BuiltinField("owner_id", "Owner", on_detail=False),
        BuiltinField("description", "Description", on_detail=False),
    ),
    CustomerEntity.ACCOUNT: (
        BuiltinField("name", "Name", required=True, on_detail=False),
        BuiltinField("website", "Website"),
        BuiltinField("phone", "Phone"),
        BuiltinField("industry", "Industry"),
        BuiltinField("owner_id", "Owner", on_detail=False),
        BuiltinField("description", "Description", on_detail=False),
    ),
}
BUILTIN_LABEL_LENGTH = 200
#: What :func:`update_builtin_field` changes.
BUILTIN_UPDATABLE: frozenset[str] = frozenset({"label", "hidden"})


@dataclass(frozen=True)
class PlacedField:
    """A built-in field as the layout places it: ``label`` is the administrator's ("" for
    the default), ``hidden`` whether forms and detail pages leave it off."""

    field: BuiltinField
    label: str
    hidden: bool

    @property
    def key(self) -> str:
        """The field's form name."""
        return self.field.key

    def describe(self) -> dict[str, Any]:
        """The field as the API shows it."""
        return {
            "key": self.key,
            "default_label": self.field.default_label,
            "label": self.label,
            "hidden": self.hidden,
            "required": self.field.required,
        }


def _builtin(entity: str, key: object) -> BuiltinField:
    for field in BUILTIN_FIELDS[_entity(entity)]:
        if field.key == key:
            return field
    raise NotFound("field not found")


def _saved_builtin(session: Session, entity: str) -> dict[str, BuiltinFieldLayout]:
    rows = session.scalars(select(BuiltinFieldLayout).where(BuiltinFieldLayout.entity == entity))
    return {row.key: row for row in rows}


def builtin_layout(session: Session, entity: str) -> list[PlacedField]:
    """The built-in fields of ``entity`` in layout order, with their labels and visibility.

    Fields the editor never placed keep their default order after the placed ones.
    """
    saved = _saved_builtin(session, _entity(entity))
    defaults = BUILTIN_FIELDS[entity]

    def place(index_and_field: tuple[int, BuiltinField]) -> tuple[int, int]:
        index, field = index_and_field
        row = saved.get(field.key)
        return (row.position if row is not None else len(defaults) + index, index)

    ordered = [field for _index, field in sorted(enumerate(defaults), key=place)]
    return [
        PlacedField(
            field,
            saved[field.key].label if field.key in saved else "",
            saved[field.key].hidden and not field.required if field.key in saved else False,
        )
        for field in ordered
    ]


def _all_rows(unit: Unit, entity: str) -> dict[str, BuiltinFieldLayout]:
    """A layout row for every built-in field of ``entity``, the missing ones created at their
    current place (once one field has a row, the others need theirs to keep their order)."""
    saved = _saved_builtin(unit.session, entity)
    for index, placed in enumerate(builtin_layout(unit.session, entity)):
        row = saved.get(placed.key)
        if row is None:
            row = BuiltinFieldLayout(
                entity=entity,
                key=placed.key,
                position=index,
                label="",
                hidden=False,
                updated_at=clock.now(),
            )
            unit.session.add(row)
            saved[placed.key] = row
        else:
            row.position = index
    return saved


def update_builtin_field(unit: Unit, entity: str, key: str, **changes: Any) -> PlacedField:
    """Relabel (``label``; "" restores the default) or hide (``hidden``) a built-in field.

    A field its record's service requires cannot be hidden: the form could not be saved.
    """
    unit.actor.require(permissions.SETUP_MANAGE)
    field = _builtin(entity, key)
    refuse_unknown_fields(changes, BUILTIN_UPDATABLE)
    checks: dict[str, Any] = {}
    if "label" in changes:
        checks["label"] = lambda: clean_text(
            changes["label"], "label", max_length=BUILTIN_LABEL_LENGTH
        )
    if "hidden" in changes:
        checks["hidden"] = lambda: _hidden(changes["hidden"], field)
    values = gather(checks)
    current = next(p for p in builtin_layout(unit.session, entity) if p.key == key)
    changed = {
        name: [getattr(current, name), value]
        for name, value in values.items()
        if getattr(current, name) != value
    }
    if changed:
        row = _all_rows(unit, entity)[key]
        for name, (_before, after) in changed.items():
            setattr(row, name, after)
        row.updated_at = clock.now()
        unit.session.flush()
        before, after = split_changes(changed)
        unit.audit("update", "builtin_field", f"{entity}.{key}", before=before, after=after)
    return next(p for p in builtin_layout(unit.session, entity) if p.key == key)


def _hidden(value: object, field: BuiltinField) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed({"hidden": [Message("Give true or false.")]})
    if value and field.required:
        raise ValidationFailed({"hidden": [Message("A required field cannot be hidden.")]})
    return value


def reorder_builtin_fields(unit: Unit, entity: str, keys: Sequence[str]) -> list[PlacedField]:
    """Put ``entity``'s built-in fields in the order of ``keys`` (every key exactly once)."""
    unit.actor.require(permissions.SETUP_MANAGE)
    layout = builtin_layout(unit.session, _entity(entity))
    known = [placed.key for placed in layout]
    if isinstance(keys, str) or len(keys) != len(known) or set(keys) != set(known):
        raise ValidationFailed(
            {"keys": [Message("Give every field key of the layout exactly once.")]}
        )
    if known != list(keys):
        rows = _all_rows(unit, entity)
        for index, key in enumerate(keys):
            rows[key].position = index
            rows[key].updated_at = clock.now()
        unit.session.flush()
        unit.audit(
            "update",
            "builtin_field_layout",
            entity,
            before={"keys": known},
            after={"keys": list(keys)},
        )
    return builtin_layout(unit.session, entity)


def move_builtin_field(unit: Unit, entity: str, key: str, direction: str) -> list[PlacedField]:
    """Move a built-in field one place up or down (the keyboard alternative to dragging)."""
    _builtin(entity, key)
    keys = [placed.key for placed in builtin_layout(unit.session, entity)]
    index = keys.index(key)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(keys):
        keys[index], keys[target] = keys[target], keys[index]
    return reorder_builtin_fields(unit, entity, keys)
