"""Views of contacts and accounts: the defaults and saved ones, their pages and counts.

A view is conditions (field, operator, value) joined by AND ("all") or OR ("any"), a sort
order and columns. Conditions and sorting work on built-in fields and custom fields alike.
Pages are keyset pages: a cursor carries the last row's sort value and id, so page 5,000 is
as fast as page 1 and rows tied on the sort value are neither skipped nor repeated.

Merged records are never listed; spam ones only by the spam view or a condition on
``is_spam``. Counts are exact up to :data:`COUNT_CAP`, beyond which a page says "10,000+".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.util import ClauseAdapter

from core import permissions
from core.errors import Forbidden, Message, NotFound, ValidationFailed
from core.models import (
    Account,
    Agent,
    Contact,
    CustomerEntity,
    CustomField,
    CustomView,
    FieldType,
    Organisation,
    Tag,
)
from core.models.types import INT32_MAX, INT64_MAX
from core.names import name_is, name_matches, name_starts_with
from core.services.base import (
    Unit,
    check_limit,
    clean_text,
    gather,
    jsonable,
    parse_whole_number,
    refuse_extension_owned,
    split_changes,
)
from core.services.fields import InvalidValue, fields_for, parse_custom_value
from core.services.phones import organisation_region, phone_matches
from hostapi import clock

#: Counts stop here; beyond it a view shows "10,000+".
COUNT_CAP = 10_000

# Field kinds decide the operators a condition may use and how values are read.
TEXT, NUMBER, DATE, DATETIME, BOOLEAN, CHOICE, REFERENCE, TAGS = (
    "text",
    "number",
    "date",
    "datetime",
    "boolean",
    "choice",
    "reference",
    "tags",
)
OPERATORS: dict[str, tuple[str, ...]] = {
    TEXT: ("is", "is_not", "contains", "not_contains", "starts_with", "empty", "not_empty"),
    NUMBER: ("is", "is_not", "lt", "gt", "between", "empty", "not_empty"),
    DATE: ("is", "before", "after", "between", "empty", "not_empty"),
    DATETIME: ("is", "before", "after", "between", "in_last_days"),
    BOOLEAN: ("is",),
    CHOICE: ("is", "is_not", "empty", "not_empty"),
    REFERENCE: ("is", "is_not", "empty", "not_empty"),
    TAGS: ("contains", "not_contains", "empty", "not_empty"),
}
OPERATOR_LABELS: dict[str, str] = {
    "is": "is",
    "is_not": "is not",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "empty": "is empty",
    "not_empty": "is not empty",
    "lt": "less than",
    "gt": "greater than",
    "between": "between",
    "before": "before",
    "after": "after",
    "in_last_days": "in the last N days",
}
_NO_VALUE = frozenset({"empty", "not_empty"})
#: Where records without a number sort: below every real value.
_NO_NUMBER = -1e300
_CUSTOM_KINDS: dict[str, str] = {
    FieldType.TEXT: TEXT,
    FieldType.EMAIL: TEXT,
    FieldType.PHONE: TEXT,
    FieldType.URL: TEXT,
    FieldType.NUMBER: NUMBER,
    FieldType.DATE: DATE,
    FieldType.CHECKBOX: BOOLEAN,
    FieldType.PICKLIST: CHOICE,
    FieldType.LOOKUP: REFERENCE,
}


# ------------------------------------------------------------------------------ the fields


@dataclass(frozen=True)
class ViewField:
    """A field views can filter, sort and show: built-in or custom."""

    name: str
    label: str
    kind: str
    expression: Any
    sortable: bool = True
    custom: CustomField | None = None
    options: tuple[str, ...] = ()

    @property
    def operators(self) -> tuple[str, ...]:
        """The operators a condition on this field may use."""
        return OPERATORS[self.kind]


def _model(entity: str) -> Any:
    return Contact if entity == CustomerEntity.CONTACT else Account


def _account_name() -> Any:
    return select(Account.name).where(Account.id == Contact.account_id).scalar_subquery()


def _builtin_fields(entity: str) -> list[ViewField]:
    if entity == CustomerEntity.CONTACT:
        return [
            ViewField("name", "Name", TEXT, Contact.last_name),
            ViewField("first_name", "First name", TEXT, Contact.first_name),
            ViewField("last_name", "Last name", TEXT, Contact.last_name),
            ViewField("email", "Email", TEXT, func.coalesce(Contact.email, "")),
            ViewField("phone", "Phone", TEXT, Contact.phone),
            ViewField("mobile", "Mobile", TEXT, Contact.mobile),
            ViewField("title", "Title", TEXT, Contact.title),
            ViewField("account", "Account", TEXT, func.coalesce(_account_name(), "")),
            ViewField("owner", "Owner", REFERENCE, Contact.owner_id),
            ViewField("tags", "Tags", TAGS, None, sortable=False),
            ViewField("is_spam", "Spam", BOOLEAN, Contact.is_spam),
            ViewField("created_at", "Created", DATETIME, Contact.created_at),
            ViewField("updated_at", "Updated", DATETIME, Contact.updated_at),
        ]
    return [
        ViewField("name", "Name", TEXT, Account.name),
        ViewField("website", "Website", TEXT, Account.website),
        ViewField("phone", "Phone", TEXT, Account.phone),
        ViewField("industry", "Industry", TEXT, Account.industry),
        ViewField("owner", "Owner", REFERENCE, Account.owner_id),
        ViewField("is_spam", "Spam", BOOLEAN, Account.is_spam),
        ViewField("created_at", "Created", DATETIME, Account.created_at),
        ViewField("updated_at", "Updated", DATETIME, Account.updated_at),
    ]


def _custom_view_field(entity: str, custom: CustomField) -> ViewField:
    kind = _CUSTOM_KINDS[custom.field_type]
    value = _model(entity).custom_fields[custom.key]
    if kind == NUMBER:
        expression = value.as_float()
    elif kind == BOOLEAN:
        expression = value.as_boolean()
    elif kind == REFERENCE:
        expression = value.as_integer()
    else:
        expression = value.as_string()
    return ViewField(
        custom.key,
        custom.label,
        kind,
        expression,
        custom=custom,
        options=tuple(custom.options or ()),
    )


def view_fields(session: Session, entity: str) -> dict[str, ViewField]:
    """Every field a view of ``entity`` can use, by name: built-in first, then custom."""
    return view_fields_with(entity, fields_for(session, entity))


def view_fields_with(entity: str, custom_fields: Iterable[CustomField]) -> dict[str, ViewField]:
    """Every field a view of ``entity`` could use with these custom fields (nothing is read:
    an extension's declared views are checked against its declared fields this way)."""
    found = {f.name: f for f in _builtin_fields(entity)}
    for custom in custom_fields:
        found[custom.key] = _custom_view_field(entity, custom)
    return found


DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    CustomerEntity.CONTACT: ("name", "email", "phone", "account", "owner", "created_at"),
    CustomerEntity.ACCOUNT: ("name", "website", "phone", "industry", "owner", "created_at"),
}


# ------------------------------------------------------------------------------- the views


@dataclass(frozen=True)
class ViewSpec:
    """What a view lists: a default one (``key`` a word) or a saved one (``key`` its id)."""

    key: str
    entity: str
    name: str
    match: str = "all"
    conditions: tuple[Mapping[str, Any], ...] = ()
    sort_field: str = "created_at"
    sort_descending: bool = True
    columns: tuple[str, ...] = ()
    saved: CustomView | None = None
    #: A default view's own filter (built from the actor and the clock when run).
    preset: str = ""

    @property
    def is_default(self) -> bool:
        """True for the built-in views, which cannot be edited."""
        return self.saved is None


DEFAULT_VIEWS: tuple[tuple[str, str], ...] = (
    ("all", "All"),
    ("mine", "My records"),
    ("today", "Created today"),
    ("last_30_days", "Created in the last 30 days"),
    ("spam", "Spam"),
)


def _default(entity: str, key: str, name: str) -> ViewSpec:
    if key == "mine":
        name = "My contacts" if entity == CustomerEntity.CONTACT else "My accounts"
    return ViewSpec(key=key, entity=entity, name=name, columns=DEFAULT_COLUMNS[entity], preset=key)


def _saved(view: CustomView) -> ViewSpec:
    return ViewSpec(
        key=str(view.id),
        entity=view.entity,
        name=view.name,
        match=view.match,
        conditions=tuple(view.conditions or ()),
        sort_field=view.sort_field,
        sort_descending=view.sort_descending,
        columns=tuple(view.columns or ()) or DEFAULT_COLUMNS[view.entity],
        saved=view,
    )


def _require_view(unit: Unit, entity: str) -> None:
    if entity not in (CustomerEntity.CONTACT, CustomerEntity.ACCOUNT):
        raise NotFound("no such list")
    unit.actor.require(
        permissions.CONTACT_VIEW if entity == CustomerEntity.CONTACT else permissions.ACCOUNT_VIEW
    )


def _visible(unit: Unit) -> ColumnElement[bool]:
    if unit.actor.agent_id is None:
        return true()
    return or_(CustomView.shared.is_(True), CustomView.owner_id == unit.actor.agent_id)


def list_views(unit: Unit, entity: str) -> list[ViewSpec]:
    """The default views, then the actor's own and shared saved views by name."""
    _require_view(unit, entity)
    saved = unit.session.scalars(
        select(CustomView)
        .where(CustomView.entity == entity, _visible(unit))
        .order_by(CustomView.name, CustomView.id)
    )
    return [_default(entity, key, name) for key, name in DEFAULT_VIEWS] + [
        _saved(view) for view in saved
    ]


def get_view(unit: Unit, entity: str, key: str | int | None) -> ViewSpec:
    """The view ``key`` of ``entity`` (a default's word or a saved view's id; None: "all").

    :raises NotFound: unknown, or another agent's private view.
    """
    _require_view(unit, entity)
    key = "all" if key in (None, "") else str(key)
    for default_key, name in DEFAULT_VIEWS:
        if key == default_key:
            return _default(entity, key, name)
    return _saved(get_saved_view(unit, entity, key))


def get_saved_view(unit: Unit, entity: str, view_id: int | str) -> CustomView:
    """The saved view ``view_id`` if the actor may see it.

    :raises NotFound: unknown, of another entity, or another agent's private view.
    :raises Forbidden: the actor may not see ``entity``'s records (their views neither).
    """
    _require_view(unit, entity)
    number = parse_whole_number(view_id, INT32_MAX)
    view = unit.session.get(CustomView, number) if number else None
    if view is None or view.entity != entity:
        raise NotFound("view not found")
    if not view.shared and unit.actor.agent_id not in (None, view.owner_id):
        raise NotFound("view not found")
    return view


# -------------------------------------------------------------------------- saving views


def _match(value: object) -> str:
    if value not in ("all", "any"):
        raise ValidationFailed({"match": [Message("Give all or any.")]})
    return str(value)


def _columns(value: object, known: Mapping[str, ViewField]) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationFailed({"columns": [Message("Give a list of field names.")]})
    columns: list[str] = []
    for name in value:
        if name not in known:
            raise ValidationFailed(
                {"columns": [Message("Unknown field %(name)s.", name=repr(name))]}
            )
        if name not in columns:
            columns.append(str(name))
    if not columns:
        raise ValidationFailed({"columns": [Message("Choose at least one column.")]})
    return columns


def _sort_field(value: object, known: Mapping[str, ViewField]) -> str:
    if value not in known or not known[str(value)].sortable:
        raise ValidationFailed(
            {"sort_field": [Message("Choose a field the list can be sorted by.")]}
        )
    return str(value)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed({name: [Message("Must be true or false.")]})
    return value


def clean_conditions(
    session: Session | None,
    entity: str,
    conditions: object,
    known: Mapping[str, ViewField] | None = None,
) -> list[dict[str, Any]]:
    """Check conditions ``[{field, operator, value}]``; values come back typed.

    Text values (from a form) are read as the field's type; errors are named
    ``conditions.<n>.field``, ``.operator`` or ``.value``. The session is read only for the
    fields when ``known`` is not given.
    """
    if known is None:
        assert session is not None, "give the session or the known fields"
        known = view_fields(session, entity)
    if isinstance(conditions, (str, Mapping)) or not isinstance(conditions, Sequence):
        raise ValidationFailed({"conditions": [Message("Give a list of conditions.")]})
    if len(conditions) > 20:
        raise ValidationFailed({"conditions": [Message("At most 20 conditions.")]})
    cleaned: list[dict[str, Any]] = []
    errors: dict[str, list[str]] = {}
    for index, condition in enumerate(conditions):
        where = f"conditions.{index}"
        if not isinstance(condition, Mapping):
            errors[where] = [Message("Give field, operator and value.")]
            continue
        name = condition.get("field")
        view_field = known.get(name) if isinstance(name, str) else None
        if view_field is None:
            errors[f"{where}.field"] = [Message("Unknown field.")]
            continue
        operator = condition.get("operator")
        if operator not in view_field.operators:
            choices = ", ".join(view_field.operators)
            errors[f"{where}.operator"] = [Message("Give one of: %(choices)s.", choices=choices)]
            continue
        try:
            value = _condition_value(view_field, str(operator), condition.get("value"))
        except InvalidValue as error:
            errors[f"{where}.value"] = [error.message]
            continue
        cleaned.append({"field": name, "operator": operator, "value": value})
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _condition_value(view_field: ViewField, operator: str, value: Any) -> Any:
    if operator in _NO_VALUE:
        return None
    if operator == "between":
        if isinstance(value, str):
            value = value.split("..")
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
            raise InvalidValue(Message("Give two values: from and to."))
        return [_one_value(view_field, operator, item) for item in value]
    if operator == "in_last_days":
        number = value if isinstance(value, int) else _int_text(value)
        if isinstance(number, bool) or number is None or not 1 <= number <= 3650:
            raise InvalidValue(Message("Give a number of days from 1 to 3650."))
        return number
    return _one_value(view_field, operator, value)


def _int_text(value: Any) -> int | None:
    return parse_whole_number(value, INT64_MAX) if isinstance(value, str) else None


def _one_value(view_field: ViewField, operator: str, value: Any) -> Any:
    kind = view_field.kind
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidValue(Message("Give a value."))
    if kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        probe = CustomField(key="", label="", field_type=FieldType.CHECKBOX, options=[])
        return parse_custom_value(probe, str(value))
    if kind == NUMBER:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        probe = CustomField(key="", label="", field_type=FieldType.NUMBER, options=[])
        return parse_custom_value(probe, str(value))
    if kind in (DATE, DATETIME):
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        probe = CustomField(key="", label="", field_type=FieldType.DATE, options=[])
        return parse_custom_value(probe, str(value))
    if kind == REFERENCE:
        if view_field.name == "owner" and value == "me":
            return "me"
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        number = _int_text(value)
        if number is None:
            raise InvalidValue(
                Message('Give the id of the record or "me".')
                if view_field.name == "owner"
                else Message("Give the id of the record.")
            )
        return number
    if kind == CHOICE and view_field.custom is not None:
        return parse_custom_value(view_field.custom, str(value))
    if not isinstance(value, str):
        raise InvalidValue(Message("Give text."))
    return value.strip()[:500]


def definition_checks(
    entity: str,
    known: Mapping[str, ViewField],
    *,
    match: object = "all",
    conditions: object = (),
    sort_field: object = "created_at",
    sort_descending: object = True,
    columns: object = None,
) -> dict[str, Callable[[], Any]]:
    """The checks of what a view lists, by field, for :func:`~core.services.base.gather`:
    ``match``, ``conditions``, ``sort_field``, ``sort_descending`` and ``columns`` (``None``:
    the list's default ones), against the ``known`` fields only (nothing is read)."""
    return {
        "match": lambda: _match(match),
        "conditions": lambda: clean_conditions(None, entity, conditions, known),
        "sort_field": lambda: _sort_field(sort_field, known),
        "sort_descending": lambda: _flag(sort_descending, "sort_descending"),
        "columns": lambda: _columns(DEFAULT_COLUMNS[entity] if columns is None else columns, known),
    }


def create_view(
    unit: Unit,
    *,
    entity: str,
    name: str,
    match: str = "all",
    conditions: Sequence[Mapping[str, Any]] = (),
    sort_field: str = "created_at",
    sort_descending: bool = True,
    columns: Sequence[str] | None = None,
    shared: bool = False,
) -> CustomView:
    """Save a view of ``entity`` owned by the acting agent."""
    _require_view(unit, entity)
    if unit.actor.agent is None:
        raise ValidationFailed({"owner": [Message("Views belong to an agent.")]})
    known = view_fields(unit.session, entity)
    values = gather(
        {
            "name": lambda: clean_text(name, "name", max_length=200, required=True),
            **definition_checks(
                entity,
                known,
                match=match,
                conditions=conditions,
                sort_field=sort_field,
                sort_descending=sort_descending,
                columns=columns,
            ),
            "shared": lambda: _flag(shared, "shared"),
        }
    )
    now = clock.now()
    view = CustomView(
        entity=entity, owner_id=unit.actor.agent.id, **values, created_at=now, updated_at=now
    )
    unit.session.add(view)
    unit.session.flush()
    unit.audit("add", "custom_view", view.id, after={"entity": entity, **values})
    return view


VIEW_UPDATABLE: frozenset[str] = frozenset(
    {"name", "match", "conditions", "sort_field", "sort_descending", "columns", "shared"}
)


def _require_owner(unit: Unit, view: CustomView) -> None:
    refuse_extension_owned(view)
    if unit.actor.agent_id is not None and unit.actor.agent_id != view.owner_id:
        raise Forbidden("custom_view.owner")


def update_view(unit: Unit, view: CustomView, **changes: Any) -> CustomView:
    """Change a saved view (only its owner may)."""
    _require_view(unit, view.entity)
    _require_owner(unit, view)
    unknown = sorted(set(changes) - VIEW_UPDATABLE)
    if unknown:
        raise ValidationFailed(
            {name: [Message("This field cannot be changed.")] for name in unknown}
        )
    known = view_fields(unit.session, view.entity)
    checks: dict[str, Callable[[Any], Any]] = {
        "name": lambda v: clean_text(v, "name", max_length=200, required=True),
        "match": _match,
        "conditions": lambda v: clean_conditions(unit.session, view.entity, v, known),
        "sort_field": lambda v: _sort_field(v, known),
        "sort_descending": lambda v: _flag(v, "sort_descending"),
        "columns": lambda v: _columns(v, known),
        "shared": lambda v: _flag(v, "shared"),
    }
    values = gather({n: (lambda c=checks[n], v=v: c(v)) for n, v in changes.items()})
    changed: dict[str, list[Any]] = {}
    for name, value in values.items():
        before = getattr(view, name)
        if before != value:
            changed[name] = [jsonable(before), jsonable(value)]
            setattr(view, name, value)
    if changed:
        view.updated_at = clock.now()
        unit.session.flush()
        before_doc, after_doc = split_changes(changed)
        unit.audit("update", "custom_view", view.id, before=before_doc, after=after_doc)
    return view


def delete_view(unit: Unit, view: CustomView) -> None:
    """Delete a saved view (only its owner may)."""
    _require_view(unit, view.entity)
    _require_owner(unit, view)
    unit.audit("delete", "custom_view", view.id, before={"name": view.name})
    unit.session.delete(view)
    unit.session.flush()


# ----------------------------------------------------------------------------- the queries


def _today_start(session: Session) -> datetime:
    zone = ZoneInfo(session.scalar(select(Organisation.timezone).limit(1)) or "UTC")
    local_today = clock.now().astimezone(zone).date()
    return datetime.combine(local_today, time.min, tzinfo=zone)


def _day_bounds(session: Session, day: str) -> tuple[datetime, datetime]:
    """The organisation-time-zone day ``day`` (ISO) as a UTC half-open range."""
    zone = ZoneInfo(session.scalar(select(Organisation.timezone).limit(1)) or "UTC")
    start = datetime.combine(date.fromisoformat(day), time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def _condition(
    unit: Unit, entity: str, view_field: ViewField, operator: str, value: Any
) -> ColumnElement[bool]:
    model = _model(entity)
    if view_field.kind == TAGS:
        has = model.tags.any() if value is None else model.tags.any(Tag.name == str(value).lower())
        return not_(has) if operator in ("not_contains", "empty") else has
    column = view_field.expression
    if entity == CustomerEntity.CONTACT and view_field.name == "name":
        # "Name is empty" means the whole name; the other operators read either order below.
        column = func.trim(Contact.first_name + " " + Contact.last_name)
    if view_field.custom is not None:
        present = model.custom_fields[view_field.name].as_string().isnot(None)
    else:
        present = column.isnot(None)
        if view_field.kind == TEXT:
            present = and_(present, column != "")
    if operator == "empty":
        return not_(present)
    if operator == "not_empty":
        return present
    if view_field.kind == DATETIME:
        return _time_condition(unit.session, column, operator, value)
    if view_field.name == "owner" and value == "me":
        value = unit.actor.agent_id if unit.actor.agent_id is not None else -1
    if view_field.kind == TEXT:
        lowered = func.lower(column)
        if entity == CustomerEntity.CONTACT and view_field.name == "name":
            # The whole name in either order, as lists show it in one language or the other.
            if operator == "is":
                return name_is(Contact.first_name, Contact.last_name, str(value))
            if operator == "is_not":
                return not_(name_is(Contact.first_name, Contact.last_name, str(value)))
            if operator == "starts_with":
                return name_starts_with(Contact.first_name, Contact.last_name, str(value))
        if operator == "is":
            return lowered == str(value).lower()
        if operator == "is_not":
            return or_(not_(present), lowered != str(value).lower())
        pattern = _like(str(value).lower())
        if operator == "starts_with":
            return lowered.like(pattern[1:], escape="\\")
        matched = lowered.like(pattern, escape="\\")
        if entity == CustomerEntity.CONTACT and view_field.name == "name":
            # Either order, with or without a space: "山田 花子" and "花子 山田" alike.
            matched = name_matches(Contact.first_name, Contact.last_name, str(value))
        return or_(not_(present), not_(matched)) if operator == "not_contains" else matched
    if operator == "is":
        return column == value
    if operator == "is_not":
        return or_(column.is_(None), column != value)
    if operator in ("lt", "before"):
        return column < value
    if operator in ("gt", "after"):
        return column > value
    if operator == "between":
        return column.between(value[0], value[1])
    raise ValidationFailed(
        {"operator": [Message("Unsupported operator %(operator)s.", operator=repr(operator))]}
    )


def _time_condition(session: Session, column: Any, operator: str, value: Any) -> Any:
    if operator == "in_last_days":
        return column >= clock.now() - timedelta(days=int(value))
    if operator == "between":
        return and_(
            column >= _day_bounds(session, value[0])[0], column < _day_bounds(session, value[1])[1]
        )
    start, end = _day_bounds(session, value)
    if operator == "is":
        return and_(column >= start, column < end)
    if operator == "before":
        return column < start
    return column >= end


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _preset_bound(unit: Unit, spec: ViewSpec) -> datetime | None:
    """The earliest creation time a default view lists ("today", "last 30 days"), if any."""
    if spec.preset == "today":
        return _today_start(unit.session)
    if spec.preset == "last_30_days":
        return clock.now() - timedelta(days=30)
    return None


def _filtered(
    unit: Unit, spec: ViewSpec, known: Mapping[str, ViewField], search: str | None
) -> Select[Any]:
    """The view's rows, unordered: its conditions, its preset, and what is never listed."""
    model = _model(spec.entity)
    query = select(model).where(model.merged_into_id.is_(None))
    wants_spam = spec.preset == "spam" or any(c["field"] == "is_spam" for c in spec.conditions)
    if not wants_spam:
        query = query.where(model.is_spam.is_(False))
    if spec.preset == "spam":
        query = query.where(model.is_spam.is_(True))
    elif spec.preset == "mine":
        query = query.where(model.owner_id == (unit.actor.agent_id or -1))
    bound = _preset_bound(unit, spec)
    if bound is not None:
        query = query.where(model.created_at >= bound)
    parts = []
    for condition in spec.conditions:
        view_field = known.get(condition["field"])
        if view_field is None:
            # A custom field removed after the view was saved: the condition cannot hold.
            parts.append(false())
            continue
        parts.append(
            _condition(unit, spec.entity, view_field, condition["operator"], condition["value"])
        )
    if parts:
        query = query.where(and_(*parts) if spec.match == "all" else or_(*parts))
    if search and search.strip():
        query = query.where(_search(unit, spec.entity, search.strip()))
    return query


def _search(unit: Unit, entity: str, term: str) -> ColumnElement[bool]:
    from core.services.fields import custom_value_search

    pattern = _like(term)
    model = _model(entity)
    custom = custom_value_search(unit.session, entity, model.custom_fields, pattern)
    if entity == CustomerEntity.CONTACT:
        from core.services.customers import contact_search

        return or_(contact_search(unit.session, term), *custom)
    columns = [Account.name, Account.website, Account.phone]
    phone = phone_matches(term, organisation_region(unit.session), Account.phone_e164)
    return or_(
        *(column.ilike(pattern, escape="\\") for column in columns),
        *([phone] if phone is not None else []),
        *custom,
    )


# ------------------------------------------------------------------------ pages and cursors


@dataclass(frozen=True)
class ViewPage:
    """One page of a view: rows, and cursors for the next and previous pages (None at ends)."""

    rows: list[Any]
    next_cursor: str | None
    previous_cursor: str | None


def _sort_key(known: Mapping[str, ViewField], spec: ViewSpec) -> ViewField:
    view_field = known.get(spec.sort_field)
    if view_field is None or not view_field.sortable:
        view_field = known["created_at"]
    return view_field


def _sort_expression(view_field: ViewField) -> Any:
    """The expression rows are ordered by; NULLs folded to a value so keyset comparisons hold."""
    if view_field.custom is None:
        if view_field.kind == REFERENCE:
            return func.coalesce(view_field.expression, 0)
        return view_field.expression
    if view_field.kind == NUMBER:
        return func.coalesce(view_field.expression, _NO_NUMBER)
    if view_field.kind == REFERENCE:
        return func.coalesce(view_field.expression, 0)
    if view_field.kind == BOOLEAN:
        return func.coalesce(view_field.expression, false())
    return func.coalesce(view_field.expression, "")


def _sort_value(record: Any, view_field: ViewField) -> Any:
    if view_field.custom is not None:
        value = (record.custom_fields or {}).get(view_field.name)
        if view_field.kind == NUMBER:
            return _NO_NUMBER if value is None else float(value)
        if view_field.kind == REFERENCE:
            return 0 if value is None else int(value)
        if view_field.kind == BOOLEAN:
            return bool(value)
        return "" if value is None else str(value)
    if view_field.name == "name":
        return record.last_name if isinstance(record, Contact) else record.name
    if view_field.name == "account":
        return record.account.name if record.account is not None else ""
    if view_field.name == "owner":
        return record.owner_id or 0
    if view_field.name == "email":
        return record.email or ""
    return getattr(record, view_field.name)


def encode_cursor(sort_field: str, value: Any, record_id: int, backwards: bool = False) -> str:
    """The opaque cursor after (or, ``backwards``, before) a row with sort ``value``."""
    document = {
        "f": sort_field,
        "v": value.isoformat() if isinstance(value, datetime) else value,
        "t": "dt" if isinstance(value, datetime) else "",
        "id": record_id,
        "b": backwards,
    }
    raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort_field: str) -> tuple[Any, int, bool]:
    """``(value, id, backwards)`` from a cursor of a view sorted by ``sort_field``.

    :raises ValidationFailed: a malformed cursor, or one of another sort order.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        document = json.loads(raw)
        value = document["v"]
        if document.get("t") == "dt":
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError("naive")
        record_id = document["id"]
        if document["f"] != sort_field or not isinstance(record_id, int):
            raise ValueError("another sort")
        return value, record_id, bool(document.get("b"))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise ValidationFailed({"cursor": [Message("Not a valid page cursor.")]}) from error


def run_view(
    unit: Unit,
    spec: ViewSpec,
    *,
    limit: int = 50,
    cursor: str | None = None,
    search: str | None = None,
) -> ViewPage:
    """One page of ``spec``'s rows in its sort order, after (or before) ``cursor``."""
    _require_view(unit, spec.entity)
    check_limit(limit)
    known = view_fields(unit.session, spec.entity)
    model = _model(spec.entity)
    sort_field = _sort_key(known, spec)
    expression = _sort_expression(sort_field)
    descending = spec.sort_descending
    query = _filtered(unit, spec, known, search)
    backwards = False
    cursor_condition: ColumnElement[bool] = true()
    if cursor:
        value, record_id, backwards = decode_cursor(cursor, sort_field.name)
        # Going back walks the order in reverse from the cursor, then flips the page.
        # A row-value comparison: both backends read it as one range of the sort index.
        position = tuple_(expression, model.id)
        here = tuple_(literal(value, expression.type), literal(record_id, model.id.type))
        cursor_condition = position < here if descending != backwards else position > here
        query = query.where(cursor_condition)
    walk_descending = descending != backwards
    order = (
        (expression.desc(), model.id.desc())
        if walk_descending
        else (expression.asc(), model.id.asc())
    )
    if (
        spec.entity == CustomerEntity.CONTACT
        and sort_field.name == "created_at"
        and unit.session.get_bind().dialect.name == "postgresql"
    ):
        # SQLite's planner already walks ix_contact_created for this order; PostgreSQL's,
        # blind to how selective JSON conditions are, may prefer a full scan and a sort.
        rows = _walk_created(unit, spec, query, walk_descending, limit + 1, cursor_condition)
    else:
        rows = list(unit.session.scalars(query.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    has_next = more if not backwards else True
    has_previous = (cursor is not None and not backwards) or (backwards and more)
    next_cursor = previous_cursor = None
    if rows and has_next:
        last = rows[-1]
        next_cursor = encode_cursor(sort_field.name, _sort_value(last, sort_field), last.id)
    if rows and has_previous:
        first = rows[0]
        previous_cursor = encode_cursor(
            sort_field.name, _sort_value(first, sort_field), first.id, backwards=True
        )
    return ViewPage(rows=rows, next_cursor=next_cursor, previous_cursor=previous_cursor)


#: The first stretch of ix_contact_created a page reads; each further one is four times longer.
WALK_FIRST_CHUNK = 1024
WALK_MAX_CHUNK = 262_144


def _walk_created(
    unit: Unit,
    spec: ViewSpec,
    query: Select[Any],
    descending: bool,
    wanted: int,
    cursor_condition: ColumnElement[bool],
) -> list[Contact]:
    """The first ``wanted`` rows of ``query`` in creation order, read stretch by stretch.

    A planner cannot know how selective conditions on JSON values are, and may then read
    the whole table and sort it. Walking ix_contact_created (created_at, id) in stretches
    and filtering each one reads about ``wanted / selectivity`` rows: ~5,000 for a page of
    50 at 1 %. Each stretch is sized from what the previous ones found, so a very selective
    view still ends in a few queries.
    """
    session = unit.session
    bound = _preset_bound(unit, spec)
    order = (
        (Contact.created_at.desc(), Contact.id.desc())
        if descending
        else (Contact.created_at.asc(), Contact.id.asc())
    )
    found: list[int] = []
    edge: tuple[datetime, int] | None = None
    chunk, scanned = WALK_FIRST_CHUNK, 0
    while len(found) < wanted:
        stretch = select(Contact).where(cursor_condition)
        if bound is not None:
            stretch = stretch.where(Contact.created_at >= bound)
        if edge is not None:
            stretch = stretch.where(_beyond(edge, descending))
        stretch = stretch.order_by(*order)
        # The view's conditions apply to the stretch's rows, not to the table: the planner
        # then has only one way to read it (the index, in order) and no join to misjudge.
        rows = stretch.limit(chunk).subquery("stretch")
        walked = aliased(Contact, rows)
        walked_order = (
            (walked.created_at.desc(), walked.id.desc())
            if descending
            else (walked.created_at.asc(), walked.id.asc())
        )
        found += session.scalars(
            select(walked.id)
            .where(ClauseAdapter(rows).traverse(query.whereclause))
            .order_by(*walked_order)
            .limit(wanted - len(found))
        )
        if len(found) >= wanted:
            break
        last = session.execute(
            stretch.with_only_columns(Contact.created_at, Contact.id).offset(chunk - 1).limit(1)
        ).first()
        if last is None:
            break  # the stretch reached the end of the list
        edge = (last[0], last[1])
        scanned += chunk
        # Size the next stretch for the rows still wanted at the selectivity seen so far.
        guess = (wanted - len(found)) * scanned * 3 // 2 // len(found) if found else chunk * 8
        chunk = max(WALK_FIRST_CHUNK, min(guess, WALK_MAX_CHUNK))
    if not found:
        return []
    # One load of the page's rows, so their relationships load once, not per stretch.
    return list(session.scalars(select(Contact).where(Contact.id.in_(found)).order_by(*order)))


def _beyond(edge: tuple[datetime, int], descending: bool) -> ColumnElement[bool]:
    position = tuple_(Contact.created_at, Contact.id)
    here = tuple_(literal(edge[0], Contact.created_at.type), literal(edge[1], Contact.id.type))
    return position < here if descending else position > here


@dataclass(frozen=True)
class ViewCount:
    """How many rows a view lists: exact up to :data:`COUNT_CAP`, else ``capped``."""

    count: int
    capped: bool

    @property
    def text(self) -> str:
        """ "1,234" or "10,000+"."""
        return f"{COUNT_CAP:,}+" if self.capped else f"{self.count:,}"


def count_view(unit: Unit, spec: ViewSpec, *, search: str | None = None) -> ViewCount:
    """How many rows ``spec`` lists; counting stops after :data:`COUNT_CAP` + 1 rows."""
    _require_view(unit, spec.entity)
    known = view_fields(unit.session, spec.entity)
    model = _model(spec.entity)
    limited = (
        _filtered(unit, spec, known, search)
        .with_only_columns(model.id)
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    number = unit.session.scalar(select(func.count()).select_from(limited)) or 0
    return ViewCount(count=min(number, COUNT_CAP), capped=number > COUNT_CAP)


# --------------------------------------------------------------------------------- columns


def column_value(record: Any, view_field: ViewField, agents: Mapping[int, str]) -> str:
    """The text a list shows for ``record`` in the column ``view_field``."""
    from core.services.fields import display_value

    if view_field.custom is not None:
        value = (record.custom_fields or {}).get(view_field.name)
        return display_value(view_field.custom, value)
    name = view_field.name
    if name == "name":
        return record.name
    if name == "account":
        return record.account.name if record.account is not None else ""
    if name == "owner":
        return agents.get(record.owner_id, "") if record.owner_id else ""
    if name == "tags":
        return ", ".join(t.name for t in record.tags)
    value = getattr(record, name)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return "✓" if value else ""
    return "" if value is None else str(value)


def agent_names(session: Session, rows: Sequence[Any]) -> dict[int, str]:
    """Names of the agents owning ``rows``, by id (one query for a page)."""
    ids = {row.owner_id for row in rows if row.owner_id}
    if not ids:
        return {}
    found = session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))
    return {agent_id: name for agent_id, name in found}
