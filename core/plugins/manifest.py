"""The schema of an extension's ``manifest.json`` and the frozen :class:`Manifest` it loads into.

Errors name the plugin and the field path, e.g.
``plugin 'x': manifest field 'panels.0.location': Must be one of: ...``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

import hostapi
from core.models.fields import CustomerEntity, FieldType
from core.models.intake import SpamRuleKind
from core.models.tickets import StatusType
from hostapi import Location, scopes

SETTING_TYPES = ("integer", "string", "boolean", "choice", "secret")
PLUGIN_ID = validate.Regexp(
    r"^[a-z][a-z0-9_]{1,62}$", error="Use 2 to 63 lowercase letters, digits or '_', letter first."
)


class ManifestError(ValueError):
    """A manifest was refused; ``errors`` maps each field path to its messages."""

    def __init__(self, plugin: str, errors: Mapping[str, list[str]]) -> None:
        self.plugin = plugin
        self.errors = dict(errors)
        super().__init__(
            "; ".join(
                f"plugin {plugin!r}: manifest field {path!r}: {' '.join(messages)}"
                for path, messages in self.errors.items()
            )
        )


@dataclass(frozen=True)
class LocalizedText:
    """A text in English and Japanese."""

    en: str
    ja: str

    def get(self, locale: str | None) -> str:
        """The text in ``locale`` ("ja…" gives Japanese, anything else English)."""
        return self.ja if (locale or "").lower().startswith("ja") else self.en


@dataclass(frozen=True)
class PanelDeclaration:
    """A panel or tab the manifest announces (its ``render`` comes from ``deskhost_panels``)."""

    key: str
    location: str
    title: LocalizedText


@dataclass(frozen=True)
class SettingDeclaration:
    """One installation setting an admin can edit."""

    name: str
    type: str
    label: LocalizedText
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    #: What the settings form shows for a choice, as (choice, label) pairs (the value itself
    #: for a choice without one).
    choice_labels: tuple[tuple[str, LocalizedText], ...] = ()
    required: bool = False

    def choice_label(self, choice: str, locale: str | None) -> str:
        """How the settings form names ``choice`` in ``locale``."""
        label = dict(self.choice_labels).get(choice)
        return choice if label is None else label.get(locale)


@dataclass(frozen=True)
class JobDeclaration:
    """A job the manifest announces (its ``run`` comes from ``deskhost_jobs``)."""

    name: str
    description: str = ""
    cron: str | None = None


@dataclass(frozen=True)
class PermissionDeclaration:
    """A custom permission the extension adds to the catalogue."""

    name: str
    label: LocalizedText | None = None


@dataclass(frozen=True)
class FieldRequirement:
    """A custom field on contacts or accounts the host creates for the extension.

    Its key is ``<id>_<key>`` (see :mod:`core.plugins.requirements`).
    """

    key: str
    type: str
    label: LocalizedText
    choices: tuple[str, ...] = ()
    lookup_entity: str | None = None
    help_text: LocalizedText | None = None


@dataclass(frozen=True)
class ViewCondition:
    """One condition of a declared view: a field, an operator and a value."""

    field: str
    operator: str
    value: Any = None


@dataclass(frozen=True)
class ViewRequirement:
    """A saved view of contacts or accounts, shared with every agent."""

    key: str
    entity: str
    name: LocalizedText
    match: str = "all"
    conditions: tuple[ViewCondition, ...] = ()
    sort_field: str = "created_at"
    sort_descending: bool = True
    #: Field names; none: the list's default columns.
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpamRuleRequirement:
    """A spam rule on a sender's domain, a header or the content."""

    key: str
    kind: str
    pattern: str
    header_name: str | None = None


@dataclass(frozen=True)
class StatusRequirement:
    """A custom ticket status of one of the three status types."""

    key: str
    name: LocalizedText
    type: str


@dataclass(frozen=True)
class Requirements:
    """What the host creates for an installation and removes when it is purged."""

    contact_fields: tuple[FieldRequirement, ...] = ()
    account_fields: tuple[FieldRequirement, ...] = ()
    views: tuple[ViewRequirement, ...] = ()
    spam_rules: tuple[SpamRuleRequirement, ...] = ()
    statuses: tuple[StatusRequirement, ...] = ()

    def __bool__(self) -> bool:
        return any(
            (self.contact_fields, self.account_fields, self.views, self.spam_rules, self.statuses)
        )


@dataclass(frozen=True)
class Manifest:
    """A validated ``manifest.json``."""

    id: str
    name: str
    version: str
    publisher: str
    category: str
    description: LocalizedText
    hostapi: str
    terms: LocalizedText
    scopes: tuple[str, ...] = ()
    panels: tuple[PanelDeclaration, ...] = ()
    settings: tuple[SettingDeclaration, ...] = ()
    jobs: tuple[JobDeclaration, ...] = ()
    permissions: tuple[PermissionDeclaration, ...] = ()
    single_install: bool = False
    requirements: Requirements = Requirements()

    def setting_defaults(self) -> dict[str, Any]:
        """The settings a new installation starts with (secrets never have a default)."""
        return {s.name: s.default for s in self.settings if s.type != "secret"}


# ------------------------------------------------------------------------------------ schema


class _LocalizedSchema(Schema):
    en = fields.String(required=True, validate=validate.Length(min=1))
    ja = fields.String(required=True, validate=validate.Length(min=1))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> LocalizedText:
        return LocalizedText(**data)


class _PanelSchema(Schema):
    key = fields.String(required=True, validate=PLUGIN_ID)
    location = fields.String(required=True, validate=validate.OneOf(sorted(Location.ALL)))
    title = fields.Nested(_LocalizedSchema, required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> PanelDeclaration:
        return PanelDeclaration(**data)


class _SettingSchema(Schema):
    name = fields.String(required=True, validate=PLUGIN_ID)
    type = fields.String(required=True, validate=validate.OneOf(SETTING_TYPES))
    label = fields.Nested(_LocalizedSchema, required=True)
    default = fields.Raw(load_default=None, allow_none=True)
    minimum = fields.Integer(load_default=None, allow_none=True, strict=True)
    maximum = fields.Integer(load_default=None, allow_none=True, strict=True)
    choices = fields.List(fields.String(), load_default=list)
    choice_labels = fields.Dict(
        keys=fields.String(), values=fields.Nested(_LocalizedSchema), load_default=dict
    )
    required = fields.Boolean(load_default=False)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        kind, default = data.get("type"), data.get("default")
        if kind == "choice" and not data.get("choices"):
            raise ValidationError("A choice setting needs choices.", "choices")
        if kind != "choice" and data.get("choices"):
            raise ValidationError("Only a choice setting has choices.", "choices")
        unknown = sorted(set(data.get("choice_labels") or {}) - set(data.get("choices") or ()))
        if unknown:
            raise ValidationError(f"Labels of no choice: {', '.join(unknown)}.", "choice_labels")
        if kind != "integer" and (
            data.get("minimum") is not None or data.get("maximum") is not None
        ):
            raise ValidationError("Only an integer setting has a minimum or maximum.", "minimum")
        if default is None:
            return
        if kind == "secret":
            raise ValidationError("A secret setting has no default.", "default")
        expected = {"integer": int, "string": str, "boolean": bool, "choice": str}[kind or "string"]
        if type(default) is not expected:
            raise ValidationError(f"Must be a {kind} value.", "default")
        if kind == "choice" and default not in data["choices"]:
            raise ValidationError("Must be one of the choices.", "default")
        if kind == "integer":
            if data.get("minimum") is not None and default < data["minimum"]:
                raise ValidationError("Is below the minimum.", "default")
            if data.get("maximum") is not None and default > data["maximum"]:
                raise ValidationError("Is above the maximum.", "default")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> SettingDeclaration:
        return SettingDeclaration(
            **{
                **data,
                "choices": tuple(data["choices"]),
                "choice_labels": tuple(data["choice_labels"].items()),
            }
        )


class _JobSchema(Schema):
    name = fields.String(required=True, validate=PLUGIN_ID)
    description = fields.String(load_default="")
    cron = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _cron(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("cron"):
            from croniter import croniter

            if not croniter.is_valid(data["cron"]):
                raise ValidationError("Not a valid five-field cron expression.", "cron")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> JobDeclaration:
        return JobDeclaration(**data)


class _PermissionSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=3, max=120))
    label = fields.Nested(_LocalizedSchema, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> PermissionDeclaration:
        return PermissionDeclaration(**data)


#: A requirement's key: the rules of a plugin id (it is prefixed with one).
REQUIREMENT_KEY = PLUGIN_ID
#: The spam rules an extension may declare: a sender rule names one person, the agents' call.
REQUIREMENT_SPAM_KINDS = tuple(k.value for k in SpamRuleKind if k != SpamRuleKind.SENDER)
_REQUIREMENT_LISTS = ("contact_fields", "account_fields", "views", "spam_rules", "statuses")


def _length(maximum: int) -> validate.Length:
    return validate.Length(min=1, max=maximum)


class _ShortLocalizedSchema(_LocalizedSchema):
    """A name shown in lists: at most 100 characters in each language."""

    en = fields.String(required=True, validate=_length(100))
    ja = fields.String(required=True, validate=_length(100))


class _FieldRequirementSchema(Schema):
    key = fields.String(required=True, validate=REQUIREMENT_KEY)
    type = fields.String(required=True, validate=validate.OneOf([t.value for t in FieldType]))
    label = fields.Nested(_ShortLocalizedSchema, required=True)
    choices = fields.List(
        fields.String(validate=_length(200)), load_default=list, validate=validate.Length(max=200)
    )
    lookup_entity = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(["contact", "account", "product", "agent"]),
    )
    help_text = fields.Nested(_LocalizedSchema, load_default=None)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        picklist, lookup = data.get("type") == FieldType.PICKLIST, data.get("type") == "lookup"
        if picklist and not data.get("choices"):
            raise ValidationError("A picklist needs choices.", "choices")
        if not picklist and data.get("choices"):
            raise ValidationError("Only a picklist has choices.", "choices")
        if lookup and not data.get("lookup_entity"):
            raise ValidationError("A lookup names what it points at.", "lookup_entity")
        if not lookup and data.get("lookup_entity"):
            raise ValidationError("Only a lookup points at records.", "lookup_entity")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> FieldRequirement:
        return FieldRequirement(**{**data, "choices": tuple(dict.fromkeys(data["choices"]))})


class _ViewConditionSchema(Schema):
    field = fields.String(required=True, validate=_length(64))
    operator = fields.String(required=True, validate=_length(20))
    value = fields.Raw(load_default=None, allow_none=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> ViewCondition:
        value = data["value"]
        return ViewCondition(
            data["field"], data["operator"], tuple(value) if isinstance(value, list) else value
        )


class _ViewRequirementSchema(Schema):
    key = fields.String(required=True, validate=REQUIREMENT_KEY)
    entity = fields.String(
        required=True, validate=validate.OneOf([e.value for e in CustomerEntity])
    )
    name = fields.Nested(_ShortLocalizedSchema, required=True)
    match = fields.String(load_default="all", validate=validate.OneOf(["all", "any"]))
    conditions = fields.List(
        fields.Nested(_ViewConditionSchema), load_default=list, validate=validate.Length(max=20)
    )
    sort_field = fields.String(load_default="created_at", validate=_length(64))
    sort_descending = fields.Boolean(load_default=True)
    columns = fields.List(fields.String(validate=_length(64)), load_default=list)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> ViewRequirement:
        return ViewRequirement(
            **{
                **data,
                "conditions": tuple(data["conditions"]),
                "columns": tuple(dict.fromkeys(data["columns"])),
            }
        )


class _SpamRuleRequirementSchema(Schema):
    key = fields.String(required=True, validate=REQUIREMENT_KEY)
    kind = fields.String(required=True, validate=validate.OneOf(REQUIREMENT_SPAM_KINDS))
    pattern = fields.String(required=True, validate=_length(500))
    header_name = fields.String(load_default=None, allow_none=True, validate=_length(200))

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        header = data.get("kind") == SpamRuleKind.HEADER
        if header and not data.get("header_name"):
            raise ValidationError("A header rule names the header.", "header_name")
        if not header and data.get("header_name"):
            raise ValidationError("Only a header rule names a header.", "header_name")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> SpamRuleRequirement:
        return SpamRuleRequirement(**data)


class _StatusRequirementSchema(Schema):
    key = fields.String(required=True, validate=REQUIREMENT_KEY)
    name = fields.Nested(_ShortLocalizedSchema, required=True)
    type = fields.String(required=True, validate=validate.OneOf([t.value for t in StatusType]))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> StatusRequirement:
        return StatusRequirement(**data)


class _RequirementsSchema(Schema):
    contact_fields = fields.List(fields.Nested(_FieldRequirementSchema), load_default=list)
    account_fields = fields.List(fields.Nested(_FieldRequirementSchema), load_default=list)
    views = fields.List(fields.Nested(_ViewRequirementSchema), load_default=list)
    spam_rules = fields.List(fields.Nested(_SpamRuleRequirementSchema), load_default=list)
    statuses = fields.List(fields.Nested(_StatusRequirementSchema), load_default=list)

    @validates_schema
    def _unique_keys(self, data: dict[str, Any], **_: Any) -> None:
        for name in _REQUIREMENT_LISTS:
            _unique(data.get(name, []), "key", name)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Requirements:
        return Requirements(**{name: tuple(data[name]) for name in _REQUIREMENT_LISTS})


def _check_version(value: str) -> None:
    try:
        Version(value)
    except InvalidVersion as error:
        raise ValidationError("Not a valid version (PEP 440).") from error


def _check_hostapi(value: str) -> None:
    try:
        SpecifierSet(value)
    except InvalidSpecifier as error:
        raise ValidationError("Not a valid version range such as '>=1.0,<2'.") from error


def hostapi_mismatch(manifest: Manifest) -> str | None:
    """Why this host cannot run ``manifest``'s extension, or ``None`` when its range fits."""
    needed = SpecifierSet(manifest.hostapi)
    if needed.contains(hostapi.HOSTAPI_VERSION, prereleases=True):
        return None
    return f"Needs host API {needed}; this host provides {hostapi.HOSTAPI_VERSION}."


def _unique(items: list[Any], attribute: str, field_name: str) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        value = getattr(item, attribute)
        if value in seen:
            raise ValidationError({field_name: {index: {attribute: [f"Duplicate {value!r}."]}}})
        seen.add(value)


class ManifestSchema(Schema):
    """The schema of ``manifest.json``; unknown fields are refused."""

    id = fields.String(required=True, validate=PLUGIN_ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    version = fields.String(required=True, validate=lambda value: _check_version(value))
    publisher = fields.String(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(required=True, validate=validate.Length(min=1, max=60))
    description = fields.Nested(_LocalizedSchema, required=True)
    scopes = fields.List(
        fields.String(validate=validate.OneOf(sorted(scopes.ALL))), load_default=list
    )
    panels = fields.List(fields.Nested(_PanelSchema), load_default=list)
    settings = fields.List(fields.Nested(_SettingSchema), load_default=list)
    jobs = fields.List(fields.Nested(_JobSchema), load_default=list)
    permissions = fields.List(fields.Nested(_PermissionSchema), load_default=list)
    hostapi = fields.String(required=True, validate=lambda value: _check_hostapi(value))
    terms = fields.Nested(_LocalizedSchema, required=True)
    single_install = fields.Boolean(load_default=False)
    requirements = fields.Nested(_RequirementsSchema, load_default=Requirements)

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        for name, attribute in (
            ("panels", "key"),
            ("settings", "name"),
            ("jobs", "name"),
            ("permissions", "name"),
        ):
            _unique(data.get(name, []), attribute, name)
        for index, permission in enumerate(data.get("permissions", [])):
            if not permission.name.startswith(f"{data.get('id')}."):
                raise ValidationError(
                    {"permissions": {index: {"name": [f"Must start with '{data.get('id')}.'."]}}}
                )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Manifest:
        return Manifest(
            **{
                **data,
                "scopes": tuple(dict.fromkeys(data["scopes"])),
                "panels": tuple(data["panels"]),
                "settings": tuple(data["settings"]),
                "jobs": tuple(data["jobs"]),
                "permissions": tuple(data["permissions"]),
            }
        )


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """``{"panels": {0: {"location": [...]}}}`` → ``{"panels.0.location": [...]}``."""
    if isinstance(errors, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            path = str(key) if key != "_schema" else ""
            joined = ".".join(p for p in (prefix, path) if p) or "(manifest)"
            flat.update(_flatten(value, joined if (prefix or path) else ""))
        return flat
    messages = errors if isinstance(errors, list) else [str(errors)]
    return {prefix or "(manifest)": [str(m) for m in messages]}


def load_manifest(
    data: Mapping[str, Any] | str | bytes, plugin: str, *, require_compatible: bool = True
) -> Manifest:
    """Validate a manifest (a mapping or JSON text) of the plugin named ``plugin``.

    :param require_compatible: also refuse a host API range this host is outside of (the
        loader says so itself, keeping the manifest so the marketplace can explain it).
    :raises ManifestError: naming the plugin and each bad field's path.
    """
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as error:
            raise ManifestError(plugin, {"(manifest)": [f"Not valid JSON: {error}"]}) from error
    if not isinstance(data, Mapping):
        raise ManifestError(plugin, {"(manifest)": ["Must be a JSON object."]})
    name = data.get("id") if isinstance(data.get("id"), str) else plugin
    try:
        manifest: Manifest = ManifestSchema().load(dict(data))
    except ValidationError as error:
        raise ManifestError(str(name or plugin), _flatten(error.messages)) from error
    mismatch = hostapi_mismatch(manifest)
    if require_compatible and mismatch:
        raise ManifestError(manifest.id, {"hostapi": [mismatch]})
    return manifest
