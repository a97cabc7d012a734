"""What an extension declares it needs in its manifest's ``requirements``: custom fields on
contacts and accounts, saved views, spam rules and ticket statuses.

The host creates them when it installs the extension, in the install's transaction, each
owned by the installation (``installation_id``, with ``requirement_key`` naming the
declaration). Keys carry the extension's id: a custom field's key is ``<id>_<key>``, which
the extension's code reads values by. Names users see are the extension's own wording, in
the organisation's default language (Japanese for ``ja``, else English): a field's label, a
view's name, a status's name. A name the desk already uses (a field with that label or key, a
shared view of that name, a status of that name, the same spam rule) refuses the install,
naming the declaration and the name; when an archived installation of the same extension
holds it, the refusal says to restore or purge that installation. A status name or field
key an admin takes between that check and the insert (the database holds those unique)
refuses it the same way (:func:`create_requirements`).

The install and consent pages list them (:func:`requirement_lines`); the uninstall page lists
what an installation owns (:func:`owned_objects`). Admins see them as added by the extension
and cannot change or remove them by hand (they can reorder fields and statuses and switch a
spam rule off). Uninstalling with the data kept keeps them, values included; the spam rules
hold mail back only while the installation is active. A purge removes them in its
transaction (:func:`remove_requirements`): field values leave every record, tickets in a
removed status move to the built-in status of its type.

A purged field's key comes back when the extension is installed again, unlike the key of a
field an admin deletes (``core.services.fields``), which never names a new field: the
extension's code reads values by ``<id>_<key>``, and a renamed key would break it, while
refusing the key would keep the extension off the desk for good. What made the rule
necessary is taken away instead: the purge takes the field out of every saved view (a
condition on it can no longer hold, see ``fields.drop_field``), so nothing saved before
applies to the new, empty field. Audit entries keep naming the key as history, as they do
for any removed field.

An upgrade first releases what the new version no longer declares (:func:`release_undeclared`):
fields and statuses, which hold data, become the desk's own; views and spam rules, which are
only definitions, go. It then creates what the new version declares and the installation does
not own (:func:`create_requirements` again), so a declaration whose key changed while its name
stayed replaces its old self; objects already made keep their settings. A released field or
status keeps its declaration's key: when a later version declares that key again, the
installation takes it back, values and tickets included (a field whose key is ``<id>_<key>``,
a status of the declared name), set as a declared one is (not required, offered as a choice),
unless its type is no longer the declared one.

:func:`requirement_problems` checks the declarations without a database, for
``deskhost ext check`` and before an install.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.bootstrap import BUILTIN_STATUSES
from core.errors import Message, ValidationFailed
from core.intake import spam
from core.models import (
    CustomField,
    CustomView,
    Installation,
    Organisation,
    SpamRule,
    TicketStatus,
)
from core.models.extensions import InstallationState
from core.plugins.manifest import (
    FieldRequirement,
    Manifest,
    Requirements,
    SpamRuleRequirement,
    StatusRequirement,
    ViewRequirement,
)
from core.services import fields as field_service
from core.services import tickets as ticket_service
from core.services import views as view_service
from core.services.base import Unit, apply_changes, gather, split_changes
from hostapi import clock, events

if TYPE_CHECKING:
    from core.plugins.manager import PluginHost

#: The manifest's lists of custom fields, by the entity they belong to.
FIELD_LISTS: tuple[tuple[str, str], ...] = (
    ("contact", "contact_fields"),
    ("account", "account_fields"),
)
#: The longest custom field key the database holds (``<id>_<key>`` must fit).
FIELD_KEY_LENGTH = 64


def field_key(plugin_id: str, key: str) -> str:
    """The key of the custom field declared as ``key`` by the extension ``plugin_id``."""
    return f"{plugin_id}_{key}"


def desk_locale(session: Session) -> str:
    """The organisation's default language: the one declared names are created in."""
    return session.scalar(select(Organisation.default_locale).limit(1)) or "en"


# ------------------------------------------------------------------------------ checking


def requirement_problems(manifest: Manifest) -> list[str]:
    """Why the host could not create ``manifest``'s requirements, as ``path: message`` lines
    (``requirements.views.0.conditions.0.field: Unknown field.``); empty when it could.

    Reads no database: the names already in use on a desk are checked at install.
    """
    return [
        f"{path}: {message}"
        for path, messages in _problems(manifest).items()
        for message in messages
    ]


def _problems(manifest: Manifest) -> dict[str, list[str]]:
    """:func:`requirement_problems` by field path, as a refusal carries them."""
    errors: dict[str, list[str]] = {}
    for path, message in _each_problem(manifest):
        errors.setdefault(path, []).append(message)
    return errors


def _each_problem(manifest: Manifest) -> Iterator[tuple[str, str]]:
    requirements = manifest.requirements
    if not requirements:
        return
    if not manifest.single_install:
        yield (
            "single_install",
            Message("An extension that declares requirements is installed once: set it to true."),
        )
    for _entity, list_name in FIELD_LISTS:
        yield from _field_problems(manifest.id, list_name, getattr(requirements, list_name))
    yield from _view_problems(manifest)
    yield from _spam_rule_problems(requirements.spam_rules)
    yield from _status_problems(requirements.statuses)


def _field_problems(
    plugin_id: str, list_name: str, declared: tuple[FieldRequirement, ...]
) -> Iterator[tuple[str, str]]:
    for index, field in enumerate(declared):
        path = f"requirements.{list_name}.{index}"
        if len(field_key(plugin_id, field.key)) > FIELD_KEY_LENGTH:
            yield (
                f"{path}.key",
                Message(
                    "With the extension's id in front, the key is longer than "
                    "%(count)d characters.",
                    count=FIELD_KEY_LENGTH,
                ),
            )
        for language in ("en", "ja"):
            if _repeats(declared[:index], field, lambda f, lang=language: f.label.get(lang)):
                yield (
                    f"{path}.label.{language}",
                    Message("Another declared field of the same records has this label."),
                )


def _view_problems(manifest: Manifest) -> Iterator[tuple[str, str]]:
    declared = manifest.requirements.views
    for index, view in enumerate(declared):
        path = f"requirements.views.{index}"
        known = view_service.view_fields_with(view.entity, _declared_fields(manifest, view.entity))
        try:
            gather(_definition_checks(view, known))
        except ValidationFailed as failure:
            for field_name, messages in failure.errors.items():
                for message in messages:
                    yield f"{path}.{field_name}", message
        same_records = [other for other in declared[:index] if other.entity == view.entity]
        for language in ("en", "ja"):
            if _repeats(same_records, view, lambda v, lang=language: v.name.get(lang)):
                yield (
                    f"{path}.name.{language}",
                    Message("Another declared view of the same records has this name."),
                )


def _spam_rule_problems(declared: tuple[SpamRuleRequirement, ...]) -> Iterator[tuple[str, str]]:
    cleaned_rules: list[tuple[str, str, str | None]] = []
    for index, rule in enumerate(declared):
        path = f"requirements.spam_rules.{index}"
        try:
            values = spam.clean_rule(None, rule.kind, rule.pattern, rule.header_name)
        except ValidationFailed as failure:
            for field_name, messages in failure.errors.items():
                for message in messages:
                    yield f"{path}.{field_name}", message
            continue
        cleaned = (rule.kind, values["pattern"], values["header_name"])
        if cleaned in cleaned_rules:
            yield f"{path}.pattern", Message("Declared twice.")
        cleaned_rules.append(cleaned)


def _status_problems(declared: tuple[StatusRequirement, ...]) -> Iterator[tuple[str, str]]:
    builtin = {name.casefold() for name, _type in BUILTIN_STATUSES}
    for index, status in enumerate(declared):
        path = f"requirements.statuses.{index}"
        for language in ("en", "ja"):
            if status.name.get(language).casefold() in builtin:
                yield f"{path}.name.{language}", Message("A built-in status has this name.")
            elif _repeats(declared[:index], status, lambda s, lang=language: s.name.get(lang)):
                yield (
                    f"{path}.name.{language}",
                    Message("Another declared status has this name."),
                )


def _repeats(earlier: Iterable[Any], item: Any, name_of: Callable[[Any], str]) -> bool:
    """True when one of ``earlier`` has ``item``'s name (any case)."""
    wanted = name_of(item).casefold()
    return any(name_of(other).casefold() == wanted for other in earlier)


def _declared_fields(manifest: Manifest, entity: str) -> list[CustomField]:
    """The fields ``manifest`` declares on ``entity``, as unsaved rows views can name."""
    list_name = dict(FIELD_LISTS)[entity]
    return [
        CustomField(
            entity=entity,
            key=field_key(manifest.id, field.key),
            label=field.label.en,
            field_type=field.type,
            options=list(field.choices),
            lookup_entity=field.lookup_entity,
        )
        for field in getattr(manifest.requirements, list_name)
    ]


def _definition_checks(
    view: ViewRequirement, known: Mapping[str, view_service.ViewField]
) -> dict[str, Callable[[], Any]]:
    return view_service.definition_checks(
        view.entity,
        known,
        match=view.match,
        conditions=[
            {
                "field": condition.field,
                "operator": condition.operator,
                "value": list(condition.value)
                if isinstance(condition.value, tuple)
                else condition.value,
            }
            for condition in view.conditions
        ],
        sort_field=view.sort_field,
        sort_descending=view.sort_descending,
        columns=list(view.columns) or None,
    )


# ------------------------------------------------------------------------------ listing


@dataclasses.dataclass(frozen=True)
class RequirementLine:
    """One declared object as the install and consent pages list it.

    ``kind``: ``contact_field``, ``account_field``, ``contact_view``, ``account_view``,
    ``spam_rule`` or ``status``; ``name``: as it will be created (in the desk's language);
    ``detail``: a field's type, a status's type or a spam rule's kind (codes the page words);
    ``code``: a field's key or a spam rule's pattern (shown as code), else "".
    """

    kind: str
    name: str
    detail: str = ""
    code: str = ""


def requirement_lines(manifest: Manifest, locale: str) -> list[RequirementLine]:
    """What installing ``manifest``'s extension adds to a desk whose language is ``locale``."""
    requirements = manifest.requirements
    lines: list[RequirementLine] = []
    for entity, list_name in FIELD_LISTS:
        for field in getattr(requirements, list_name):
            lines.append(
                RequirementLine(
                    f"{entity}_field",
                    field.label.get(locale),
                    field.type,
                    field_key(manifest.id, field.key),
                )
            )
    for view in requirements.views:
        lines.append(RequirementLine(f"{view.entity}_view", view.name.get(locale)))
    for rule in requirements.spam_rules:
        lines.append(
            RequirementLine("spam_rule", "", rule.kind, _rule_text(rule.pattern, rule.header_name))
        )
    for status in requirements.statuses:
        lines.append(RequirementLine("status", status.name.get(locale), status.type))
    return lines


def owned_objects(session: Session, installation_id: int) -> list[RequirementLine]:
    """What an installation owns now, as :func:`requirement_lines` words it."""
    lines: list[RequirementLine] = []
    for row in _owned(session, CustomField, installation_id):
        lines.append(RequirementLine(f"{row.entity}_field", row.label, row.field_type, row.key))
    for row in _owned(session, CustomView, installation_id):
        lines.append(RequirementLine(f"{row.entity}_view", row.name))
    for row in _owned(session, SpamRule, installation_id):
        lines.append(
            RequirementLine("spam_rule", "", row.kind, _rule_text(row.pattern, row.header_name))
        )
    for row in _owned(session, TicketStatus, installation_id):
        lines.append(RequirementLine("status", row.name, row.status_type))
    return lines


def _rule_text(pattern: str, header_name: str | None) -> str:
    """A spam rule as the pages show it: ``<header>: <pattern>`` for a header rule."""
    return f"{header_name}: {pattern}" if header_name else pattern


def owner_name(session: Session, plugins: PluginHost, installation_id: int | None) -> str:
    """The name of the extension whose installation added an object ("" for none)."""
    if installation_id is None:
        return ""
    installation = session.get(Installation, installation_id)
    if installation is None:
        return ""
    info = plugins.loaded.get(installation.plugin_id)
    return info.manifest.name if info is not None else installation.plugin_id


def _owned(session: Session, model: type[Any], installation_id: int) -> list[Any]:
    return list(
        session.scalars(
            select(model).where(model.installation_id == installation_id).order_by(model.id)
        )
    )


# ------------------------------------------------------------------------------ creating


def check_requirements(
    session: Session, manifest: Manifest, installation_id: int | None = None
) -> None:
    """Refuse ``manifest``'s requirements when the host could not create them on this desk:
    a bad declaration, a name the desk already uses (what ``installation_id`` owns aside), or
    a released field or status to take back whose type is no longer the declared one.

    :raises ValidationFailed: naming ``requirements.<list>.<n>.<field>``.
    """
    problems = _problems(manifest)
    if problems:
        raise ValidationFailed(problems)
    conflicts = _conflicts(session, manifest, installation_id)
    if conflicts:
        raise ValidationFailed(conflicts)


def create_requirements(unit: Unit, installation: Installation, manifest: Manifest) -> None:
    """Create what ``manifest`` declares and ``installation`` does not own yet (at install,
    and at upgrade for what a new version adds), owned by it and audited as the unit's actor;
    a field or status an earlier version released is taken back instead.

    The caller has checked them (:func:`check_requirements`: at install with the install's
    other checks, at upgrade once what the new version drops is released). A name or key
    taken since then (an admin saving a status of that name meanwhile) refuses them all the
    same, and the caller's rollback undoes what was made.

    :raises ValidationFailed: naming ``requirements.<list>.<n>.<field>``.
    """
    session = unit.session
    owned = _owned_keys(session, installation.id)
    locale = desk_locale(session)
    requirements = manifest.requirements
    for entity, list_name in FIELD_LISTS:
        for index, field in _new(getattr(requirements, list_name), list_name, owned):
            released = _released_field(session, manifest.id, entity, field)
            if released is not None:
                _take_back(unit, released, installation, "custom_field", required=False)
            else:
                path = f"requirements.{list_name}.{index}"
                _create_field(unit, installation, manifest.id, entity, field, locale, path)
    for index, view in _new(requirements.views, "views", owned):
        _create_view(unit, installation, view, locale, f"requirements.views.{index}")
    for index, rule in _new(requirements.spam_rules, "spam_rules", owned):
        _create_spam_rule(unit, installation, rule, f"requirements.spam_rules.{index}")
    for index, status in _new(requirements.statuses, "statuses", owned):
        released = _released_status(session, status)
        if released is not None:
            changed = _take_back(unit, released, installation, "ticket_status", is_active=True)
            if changed:
                unit.emit(events.STATUS_UPDATED, {"status_id": released.id, "changes": changed})
        else:
            _create_status(unit, installation, status, locale, f"requirements.statuses.{index}")


def _create_field(
    unit: Unit,
    installation: Installation,
    plugin_id: str,
    entity: str,
    declared: FieldRequirement,
    locale: str,
    path: str,
) -> None:
    now = clock.now()
    key = field_key(plugin_id, declared.key)
    row = CustomField(
        entity=entity,
        key=key,
        label=declared.label.get(locale),
        field_type=declared.type,
        required=False,
        options=list(declared.choices),
        lookup_entity=declared.lookup_entity,
        help_text=declared.help_text.get(locale)[:500] if declared.help_text else "",
        position=len(field_service.fields_for(unit.session, entity)),
        installation_id=installation.id,
        requirement_key=declared.key,
        created_at=now,
        updated_at=now,
    )
    _add(unit, row, "custom_field", field_service.describe, (f"{path}.key", _field_taken(key)))


def _create_view(
    unit: Unit, installation: Installation, declared: ViewRequirement, locale: str, path: str
) -> None:
    # The declared fields exist by now, so the view is checked against the desk's own list.
    known = view_service.view_fields(unit.session, declared.entity)
    values = gather(_definition_checks(declared, known))
    now = clock.now()
    name = declared.name.get(locale)
    row = CustomView(
        entity=declared.entity,
        name=name,
        owner_id=None,
        shared=True,
        **values,
        installation_id=installation.id,
        requirement_key=declared.key,
        created_at=now,
        updated_at=now,
    )
    _add(
        unit,
        row,
        "custom_view",
        lambda view: {"entity": view.entity, "name": view.name, **values},
        (f"{path}.name", _view_taken(name)),
    )


def _create_spam_rule(
    unit: Unit, installation: Installation, declared: SpamRuleRequirement, path: str
) -> None:
    values = spam.clean_rule(unit.session, declared.kind, declared.pattern, declared.header_name)
    row = SpamRule(
        kind=declared.kind,
        **values,
        is_active=True,
        created_by_id=unit.actor.agent_id,
        created_at=clock.now(),
        installation_id=installation.id,
        requirement_key=declared.key,
    )
    _add(unit, row, "spam_rule", _describe_rule, (f"{path}.pattern", _rule_taken()))


def _create_status(
    unit: Unit, installation: Installation, declared: StatusRequirement, locale: str, path: str
) -> None:
    position = unit.session.scalar(select(func.max(TicketStatus.position))) or 0
    row = TicketStatus(
        name=declared.name.get(locale),
        status_type=declared.type,
        is_builtin=False,
        is_active=True,
        position=position + 1,
        installation_id=installation.id,
        requirement_key=declared.key,
    )
    _add(
        unit,
        row,
        "ticket_status",
        lambda status: {"name": status.name, "type": status.status_type},
        (f"{path}.name", _status_taken(row.name)),
    )
    unit.emit(events.STATUS_CREATED, {"status_id": row.id})


def _add(
    unit: Unit,
    row: Any,
    entity_type: str,
    describe: Callable[[Any], dict[str, Any]],
    taken: tuple[str, Message],
) -> None:
    """Store ``row`` and audit it (``describe``: what the audit entry records of it).

    ``taken`` is the refusal, ``(path, message)``, for a name or key the database finds taken
    after all: an admin may have saved one since the check. The insert runs in a savepoint,
    so the refusal leaves the caller's transaction usable (its page can still be shown).
    """
    session = unit.session
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as error:
        path, message = taken
        raise ValidationFailed({path: [message]}) from error
    unit.audit(
        "add",
        entity_type,
        row.id,
        sub_action="requirement",
        after={**describe(row), "installation_id": row.installation_id},
    )


def _describe_rule(rule: SpamRule) -> dict[str, Any]:
    return {"kind": rule.kind, "pattern": rule.pattern, "header_name": rule.header_name}


def _take_back(
    unit: Unit, row: Any, installation: Installation, entity_type: str, **settings: Any
) -> dict[str, list[Any]]:
    """Make a released ``row`` ``installation``'s again, with ``settings`` as a declared object
    has them (the desk may have changed them meanwhile, and once the extension owns it again
    no admin could change them back). Returns the settings changed, ``{name: [before, after]}``.
    """
    changed = apply_changes(row, settings)
    row.installation_id = installation.id
    unit.session.flush()
    before, after = split_changes(changed)
    unit.audit(
        "update",
        entity_type,
        row.id,
        sub_action="requirement",
        before={"installation_id": None, **before},
        after={"installation_id": installation.id, **after},
    )
    return changed


def _released_field(
    session: Session, plugin_id: str, entity: str, declared: FieldRequirement
) -> CustomField | None:
    """The field an earlier version of ``plugin_id`` declared as ``declared.key`` and released."""
    return session.scalar(
        select(CustomField).where(
            CustomField.entity == entity,
            CustomField.key == field_key(plugin_id, declared.key),
            CustomField.installation_id.is_(None),
            CustomField.requirement_key == declared.key,
        )
    )


def _released_status(session: Session, declared: StatusRequirement) -> TicketStatus | None:
    """The status an earlier version declared as ``declared.key`` and released, still called
    by the declared name (in either language: the desk's may have changed since)."""
    names = sorted({declared.name.en.lower(), declared.name.ja.lower()})
    return session.scalar(
        select(TicketStatus)
        .where(
            TicketStatus.installation_id.is_(None),
            TicketStatus.requirement_key == declared.key,
            func.lower(TicketStatus.name).in_(names),
        )
        .order_by(TicketStatus.id)
        .limit(1)
    )


def _owned_keys(session: Session, installation_id: int) -> set[tuple[str, str]]:
    """``(list name, requirement key)`` of everything the installation owns."""
    keys: set[tuple[str, str]] = set()
    for row in _owned(session, CustomField, installation_id):
        keys.add((dict(FIELD_LISTS)[row.entity], row.requirement_key))
    for model, list_name in (
        (CustomView, "views"),
        (SpamRule, "spam_rules"),
        (TicketStatus, "statuses"),
    ):
        keys |= {
            (list_name, row.requirement_key) for row in _owned(session, model, installation_id)
        }
    return keys


def _conflicts(
    session: Session, manifest: Manifest, installation_id: int | None
) -> dict[str, list[str]]:
    """The declarations not made yet whose name or key the desk already uses, and those that
    would take back a released object of another type."""
    requirements, plugin_id = manifest.requirements, manifest.id
    owned = _owned_keys(session, installation_id) if installation_id is not None else set()
    locale = desk_locale(session)
    errors: dict[str, list[str]] = {}

    def refuse(path: str, message: Message, holder: Any = None) -> None:
        """Refuse at ``path``: with ``message``, or with restore-or-purge when ``holder`` (the
        object that has the name) belongs to an archived installation of this extension."""
        errors.setdefault(path, []).append(_held_by_archived(session, plugin_id, holder) or message)

    for entity, list_name in FIELD_LISTS:
        existing = field_service.fields_for(session, entity)
        by_key = {row.key: row for row in existing}
        by_label = {row.label.casefold(): row for row in existing}
        for index, field in _new(getattr(requirements, list_name), list_name, owned):
            path = f"requirements.{list_name}.{index}"
            key = field_key(plugin_id, field.key)
            released = _released_field(session, plugin_id, entity, field)
            if released is not None:
                if (released.field_type, released.lookup_entity) != (
                    field.type,
                    field.lookup_entity,
                ):
                    refuse(
                        f"{path}.type",
                        Message(
                            "An earlier version of this extension left the field %(key)s to "
                            "the desk, of another type: delete it to install this version.",
                            key=key,
                        ),
                    )
                continue
            holder = by_key.get(key)
            if holder is not None:
                refuse(f"{path}.key", _field_taken(key), holder)
            label = field.label.get(locale)
            other = by_label.get(label.casefold())
            if other is not None and other is not holder:
                refuse(
                    f"{path}.label",
                    Message('A field labelled "%(label)s" exists already.', label=label),
                    other,
                )
    for index, view in _new(requirements.views, "views", owned):
        name = view.name.get(locale)
        holder = session.scalar(
            select(CustomView)
            .where(
                CustomView.entity == view.entity,
                CustomView.shared.is_(True),
                func.lower(CustomView.name) == name.lower(),
            )
            .limit(1)
        )
        if holder is not None:
            refuse(f"requirements.views.{index}.name", _view_taken(name), holder)
    for index, rule in _new(requirements.spam_rules, "spam_rules", owned):
        values = spam.clean_rule(session, rule.kind, rule.pattern, rule.header_name)
        rule_id = spam.existing_rule_id(session, rule.kind, **values)
        if rule_id is not None:
            refuse(
                f"requirements.spam_rules.{index}.pattern",
                _rule_taken(),
                session.get(SpamRule, rule_id),
            )
    for index, status in _new(requirements.statuses, "statuses", owned):
        path = f"requirements.statuses.{index}"
        released = _released_status(session, status)
        if released is not None:
            if released.status_type != status.type:
                refuse(
                    f"{path}.type",
                    Message(
                        'An earlier version of this extension left the status "%(name)s" to '
                        "the desk, of another type: rename it to install this version.",
                        name=released.name,
                    ),
                )
            continue
        name = status.name.get(locale)
        holder = session.scalar(
            select(TicketStatus).where(func.lower(TicketStatus.name) == name.lower()).limit(1)
        )
        if holder is not None:
            refuse(f"{path}.name", _status_taken(name), holder)
    return errors


def _held_by_archived(session: Session, plugin_id: str, holder: Any) -> Message | None:
    """Restore-or-purge, when ``holder`` belongs to an archived installation of ``plugin_id``:
    uninstalled with its data kept, it still owns what the manifest declares."""
    owner_id = getattr(holder, "installation_id", None)
    owner = session.get(Installation, owner_id) if owner_id is not None else None
    if owner is None or owner.plugin_id != plugin_id or owner.state != InstallationState.ARCHIVED:
        return None
    return Message(
        "Archived installation %(id)d of this extension has it: "
        "restore or purge installation %(id)d.",
        id=owner.id,
    )


def _field_taken(key: str) -> Message:
    return Message("A field with the key %(key)s exists already.", key=key)


def _view_taken(name: str) -> Message:
    return Message('A shared view named "%(name)s" exists already.', name=name)


def _rule_taken() -> Message:
    return Message("This rule exists already.")


def _status_taken(name: str) -> Message:
    return Message('A status named "%(name)s" exists already.', name=name)


def _new(
    declared: Iterable[Any], list_name: str, owned: set[tuple[str, str]]
) -> Iterator[tuple[int, Any]]:
    """``(index, declaration)`` of the declarations the installation does not own yet."""
    for index, item in enumerate(declared):
        if (list_name, item.key) not in owned:
            yield index, item


# ------------------------------------------------------------------------------ removing


def release_undeclared(unit: Unit, installation: Installation, manifest: Manifest) -> None:
    """At an upgrade, before what ``manifest`` adds is created: what the installation owns
    that ``manifest`` no longer declares is released. Fields and statuses (which hold values
    and tickets) become the desk's own, keeping their declaration's key for a later version
    that declares it again; views and spam rules (definitions only) are removed."""
    declared = _declared_keys(manifest.requirements)
    session = unit.session
    for row in _owned(session, CustomField, installation.id):
        if (dict(FIELD_LISTS)[row.entity], row.requirement_key) not in declared:
            _release(unit, row, "custom_field")
    for row in _owned(session, TicketStatus, installation.id):
        if ("statuses", row.requirement_key) not in declared:
            _release(unit, row, "ticket_status")
    for model, list_name, entity_type in (
        (CustomView, "views", "custom_view"),
        (SpamRule, "spam_rules", "spam_rule"),
    ):
        for row in _owned(session, model, installation.id):
            if (list_name, row.requirement_key) not in declared:
                _delete(unit, row, entity_type)
    session.flush()


def _declared_keys(requirements: Requirements) -> set[tuple[str, str]]:
    """``(list name, key)`` of every declaration, the lists as :class:`Requirements` has them."""
    return {
        (requirement_list.name, item.key)
        for requirement_list in dataclasses.fields(requirements)
        for item in getattr(requirements, requirement_list.name)
    }


def _release(unit: Unit, row: Any, entity_type: str) -> None:
    before = {"installation_id": row.installation_id}
    row.installation_id = None
    unit.audit(
        "update",
        entity_type,
        row.id,
        sub_action="requirement",
        before=before,
        after={"installation_id": None},
    )


def remove_requirements(unit: Unit, installation_id: int) -> None:
    """Remove everything the installation owns, in the caller's transaction (a purge): views,
    spam rules, custom fields with their values on every record (and out of every saved view,
    see the module's docstring), and statuses, whose tickets move to the built-in status of
    the same type."""
    session = unit.session
    # Its own views go first: a removed field leaves the views that remain.
    for model, entity_type in ((CustomView, "custom_view"), (SpamRule, "spam_rule")):
        for row in _owned(session, model, installation_id):
            _delete(unit, row, entity_type)
    session.flush()
    for field in _owned(session, CustomField, installation_id):
        field_service.drop_field(unit, field)
    for status in _owned(session, TicketStatus, installation_id):
        ticket_service.remove_status(unit, status)
    session.flush()


def _delete(unit: Unit, row: Any, entity_type: str) -> None:
    unit.audit(
        "delete",
        entity_type,
        row.id,
        sub_action="requirement",
        before={"requirement_key": row.requirement_key, "installation_id": row.installation_id},
    )
    unit.session.delete(row)
