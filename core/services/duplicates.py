"""Finding duplicate contacts and accounts by the organisation's rules.

A rule names what two records must share to be duplicates: contacts by ``email``, ``phone``
(a phone or mobile number in E.164, the two cross-matched) or ``name``; accounts by ``name``,
``phone`` or ``website`` (its domain). The organisation chooses which rules apply
(``Organisation.duplicate_rules``). A group is two or more records that are not merged
sharing one rule's key; a record may be in a group per rule.

Email and phone groups come straight from SQL (``GROUP BY`` the stored key, which is already
normalised: emails are lower-cased and phones kept in E.164 on every write). Name and website
keys need Unicode normalisation no database does the same way, so they are computed in Python
over one streamed column read: a dictionary of keys, linear in the number of records.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from core import permissions
from core.errors import Message, ValidationFailed
from core.models import Account, Contact
from core.services.base import Unit, check_limit, jsonable
from core.services.org import get_organisation
from hostapi import events

#: The rules each entity may use, in the order pages show them.
RULES: dict[str, tuple[str, ...]] = {
    "contact": ("email", "phone", "name"),
    "account": ("name", "phone", "website"),
}
DEFAULT_RULES: dict[str, list[str]] = {"contact": ["email", "phone"], "account": ["name"]}

_MODELS: dict[str, type[Contact] | type[Account]] = {"contact": Contact, "account": Account}
_VIEW_PERMISSION = {"contact": permissions.CONTACT_VIEW, "account": permissions.ACCOUNT_VIEW}
_WHITESPACE = re.compile(r"\s+")
# Legal-form words that say nothing about which company it is: 株式会社 Acme and Acme Inc.
# are the same account. Matched on the NFKC + casefolded name, so （株） is (株) here.
_COMPANY_FORMS = re.compile(
    r"^(株式会社|有限会社|合同会社|合資会社|合名会社|一般社団法人|一般財団法人|\(株\)|\(有\)|\(同\))"
    r"|(株式会社|有限会社|合同会社|\(株\)|\(有\)|\(同\))$"
    r"|[\s,]+(inc|incorporated|corp|corporation|co|company|ltd|limited|llc|plc|gmbh|k\.k|kk)"
    r"\.?(,?\s*(ltd|limited|inc)\.?)?$"
)


@dataclass(frozen=True)
class DuplicateGroup:
    """Records of one entity sharing one rule's key (``record_ids`` oldest first)."""

    entity: str
    rule: str
    key: str
    record_ids: tuple[int, ...]


# ------------------------------------------------------------------------------ normalisation


def normalise_text(value: str | None) -> str:
    """NFKC, casefolded, whitespace collapsed to single spaces and trimmed."""
    text = unicodedata.normalize("NFKC", value or "").casefold()
    return _WHITESPACE.sub(" ", text).strip()


def _squeezed(value: str | None) -> str:
    """:func:`normalise_text` without any whitespace; the hot path of the name rule."""
    if not value:
        return ""
    if not value.isascii():  # NFKC changes nothing in ASCII: skip it for most names
        value = unicodedata.normalize("NFKC", value)
    return "".join(value.casefold().split())


def name_keys(first_name: str | None, last_name: str | None) -> set[str]:
    """The keys a person's name matches on (empty when there is no name).

    Spaces are dropped, so 山田 花子 and 山田花子 match; both orders of the two fields are
    keys, so a name typed whole into one field (山田花子, "Hanako Yamada") matches one split
    into family and given names, whichever order the record keeps them in.
    """
    first, last = _squeezed(first_name), _squeezed(last_name)
    if not first and not last:
        return set()
    return {last + first, first + last}


def company_key(name: str | None) -> str:
    """An account name without its legal form (株式会社, (株), Inc., Co., Ltd.) or spaces."""
    text = normalise_text(name)
    for _ in range(2):  # "Acme Co., Ltd." loses ", ltd." then ", co."
        text = _COMPANY_FORMS.sub("", text).strip(" ,")
    return text.replace(" ", "")


def website_key(website: str | None) -> str:
    """A website's domain, lower-case and without ``www.`` ("" when there is none)."""
    text = normalise_text(website)
    if not text:
        return ""
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    return host.removeprefix("www.")


# ---------------------------------------------------------------------------------- the rules


def rules_of(session: Session) -> dict[str, list[str]]:
    """The organisation's duplicate rules per entity, unknown names left out."""
    stored = get_organisation(session).duplicate_rules or {}
    return {
        entity: [rule for rule in stored.get(entity, DEFAULT_RULES[entity]) if rule in known]
        for entity, known in RULES.items()
    }


def set_rules(unit: Unit, rules: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Choose which rules find duplicates, per entity (each entity given is replaced)."""
    unit.actor.require(permissions.SETUP_MANAGE)
    if not isinstance(rules, Mapping):
        raise ValidationFailed({"rules": [Message("Give the rules by entity: contact, account.")]})
    errors: dict[str, list[str]] = {}
    cleaned = rules_of(unit.session)
    for entity, names in rules.items():
        if entity not in RULES:
            errors[entity] = [Message("Give contact or account.")]
            continue
        if isinstance(names, str) or not isinstance(names, Iterable):
            errors[entity] = [Message("Give a list of rules.")]
            continue
        chosen = list(dict.fromkeys(names))
        unknown = [name for name in chosen if name not in RULES[entity]]
        if unknown:
            errors[entity] = [
                Message(
                    "Unknown rule %(rules)s: give %(choices)s.",
                    rules=", ".join(map(str, unknown)),
                    choices=", ".join(RULES[entity]),
                )
            ]
            continue
        cleaned[entity] = [name for name in RULES[entity] if name in chosen]
    if errors:
        raise ValidationFailed(errors)
    organisation = get_organisation(unit.session)
    before = rules_of(unit.session)
    if before != cleaned:
        organisation.duplicate_rules = cleaned
        unit.session.flush()
        unit.audit(
            "update",
            "organisation",
            organisation.id,
            sub_action="duplicate_rules",
            before={"duplicate_rules": before},
            after={"duplicate_rules": cleaned},
        )
        unit.emit(
            events.ORGANISATION_UPDATED,
            {"changes": jsonable({"duplicate_rules": [before, cleaned]})},
        )
    return cleaned


def _check_rule(entity: str, rule: str) -> None:
    if entity not in RULES:
        raise ValidationFailed({"entity": [Message("Give contact or account.")]})
    if rule not in RULES[entity]:
        raise ValidationFailed(
            {"rule": [Message("Give one of: %(choices)s.", choices=", ".join(RULES[entity]))]}
        )


# ------------------------------------------------------------------------------ finding groups


def find_groups(
    unit: Unit, entity: str, rule: str, *, after: str | None = None, limit: int = 50
) -> tuple[list[DuplicateGroup], str | None]:
    """One page of ``entity``'s duplicate groups by ``rule``, ordered by key.

    Pass the returned key (``None`` on the last page) as ``after`` for the next page.
    """
    _check_rule(entity, rule)
    unit.actor.require(_VIEW_PERMISSION[entity])
    check_limit(limit)
    if (entity, rule) in (("contact", "email"), ("contact", "phone"), ("account", "phone")):
        keys = _sql_duplicate_keys(unit.session, entity, rule, after, limit + 1)
        members = _sql_members(unit.session, entity, rule, keys[:limit])
        groups = [
            DuplicateGroup(entity, rule, key, tuple(sorted(members[key]))) for key in keys[:limit]
        ]
    else:
        every = sorted(_computed_groups(unit.session, entity, rule).items())
        keys = [key for key, _ in every if after is None or key > after][: limit + 1]
        by_key = dict(every)
        groups = [DuplicateGroup(entity, rule, key, by_key[key]) for key in keys[:limit]]
    return groups, (groups[-1].key if len(keys) > limit else None)


def duplicates_of(unit: Unit, record: Contact | Account) -> list[DuplicateGroup]:
    """The groups ``record`` belongs to under the organisation's rules (it is in each)."""
    entity = "contact" if isinstance(record, Contact) else "account"
    unit.actor.require(_VIEW_PERMISSION[entity])
    if record.merged_into_id is not None:
        return []
    groups: list[DuplicateGroup] = []
    for rule in rules_of(unit.session)[entity]:
        for key in _own_keys(record, rule):
            ids = _records_sharing(unit.session, record, rule, key)
            if len(ids) > 1:
                groups.append(DuplicateGroup(entity, rule, key, tuple(sorted(ids))))
    return groups


def _live(model: Any) -> Any:
    return model.merged_into_id.is_(None)


def _phone_numbers(entity: str) -> Any:
    """(id, number) rows: a contact's phone and mobile numbers are one list to match on."""
    if entity == "account":
        return select(Account.id.label("id"), Account.phone_e164.label("key")).where(
            _live(Account), Account.phone_e164.isnot(None)
        )
    return union_all(
        select(Contact.id.label("id"), Contact.phone_e164.label("key")).where(
            _live(Contact), Contact.phone_e164.isnot(None)
        ),
        select(Contact.id.label("id"), Contact.mobile_e164.label("key")).where(
            _live(Contact), Contact.mobile_e164.isnot(None)
        ),
    )


def _keyed_rows(entity: str, rule: str) -> Any:
    """A subquery of (id, key) for an SQL rule."""
    if rule == "email":
        return (
            select(Contact.id.label("id"), Contact.email.label("key"))
            .where(_live(Contact), Contact.email.isnot(None), Contact.email != "")
            .subquery()
        )
    return _phone_numbers(entity).subquery()


def _sql_duplicate_keys(
    session: Session, entity: str, rule: str, after: str | None, limit: int
) -> list[str]:
    rows = _keyed_rows(entity, rule)
    query = (
        select(rows.c.key)
        .group_by(rows.c.key)
        .having(func.count(func.distinct(rows.c.id)) > 1)
        .order_by(rows.c.key)
        .limit(limit)
    )
    if after is not None:
        query = query.where(rows.c.key > after)
    return list(session.scalars(query))


def _sql_members(session: Session, entity: str, rule: str, keys: list[str]) -> dict[str, set[int]]:
    members: dict[str, set[int]] = defaultdict(set)
    if keys:
        rows = _keyed_rows(entity, rule)
        for record_id, key in session.execute(
            select(rows.c.id, rows.c.key).where(rows.c.key.in_(keys))
        ):
            members[key].add(record_id)
    return members


def _key_function(entity: str, rule: str) -> Callable[[Any, Any], set[str]]:
    """How the Python-keyed rules turn a row's two text columns into keys."""
    if entity == "contact":
        return name_keys
    key_of = company_key if rule == "name" else website_key

    def single(value: Any, _unused: Any) -> set[str]:
        key = key_of(value)
        return {key} if key else set()

    return single


def _computed_rows(
    session: Session, entity: str, rule: str, condition: Any = None
) -> Iterator[tuple[int, set[str]]]:
    """(id, keys) of every live record, or of those meeting ``condition``."""
    if entity == "contact":
        query = select(Contact.id, Contact.first_name, Contact.last_name).where(_live(Contact))
    else:
        column = Account.name if rule == "name" else Account.website
        query = select(Account.id, column, literal(None)).where(_live(Account), column != "")
    if condition is not None:
        query = query.where(condition)
    keys_of = _key_function(entity, rule)
    # Streamed through the Core connection: a million contacts are read in chunks as plain
    # tuples, never held whole nor turned into ORM rows.
    result = session.connection().execute(query.execution_options(yield_per=5000))
    for record_id, first, second in result:
        yield record_id, keys_of(first, second)


def _computed_groups(session: Session, entity: str, rule: str) -> dict[str, tuple[int, ...]]:
    """Groups by a key computed in Python; a record with two keys joins both groups."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for record_id, keys in _computed_rows(session, entity, rule):
        for key in keys:
            by_key[key].append(record_id)
    groups: dict[tuple[int, ...], str] = {}
    for key, ids in by_key.items():
        if len(ids) > 1:
            members = tuple(sorted(set(ids)))
            # "yamadahanako" and "hanakoyamada" find the same people: show that group once.
            if members not in groups or key < groups[members]:
                groups[members] = key
    return {key: members for members, key in groups.items()}


def _own_keys(record: Contact | Account, rule: str) -> list[str]:
    if rule == "email":
        return [record.email] if isinstance(record, Contact) and record.email else []
    if rule == "phone":
        numbers = [record.phone_e164]
        if isinstance(record, Contact):
            numbers.append(record.mobile_e164)
        return sorted({n for n in numbers if n})
    if isinstance(record, Contact):
        keys = name_keys(record.first_name, record.last_name)
        return [min(keys)] if keys else []
    key = company_key(record.name) if rule == "name" else website_key(record.website)
    return [key] if key else []


def _records_sharing(session: Session, record: Contact | Account, rule: str, key: str) -> set[int]:
    entity = "contact" if isinstance(record, Contact) else "account"
    if rule in ("email", "phone"):
        rows = _keyed_rows(entity, rule)
        return set(session.scalars(select(rows.c.id).where(rows.c.key == key)))
    wanted = (
        name_keys(record.first_name, record.last_name) if isinstance(record, Contact) else {key}
    )
    found = {record.id}
    for record_id, keys in _computed_rows(session, entity, rule, _candidates(record, rule)):
        if keys & wanted:
            found.add(record_id)
    return found


def _candidates(record: Contact | Account, rule: str) -> Any:
    """A cheap SQL filter that keeps every record that can share ``record``'s key.

    Exactness comes from the Python keys afterwards; this only spares reading every row.
    A name typed in full-width letters is missed here (not by the group list).
    """
    if isinstance(record, Contact):
        whole = f"{record.last_name}{record.first_name}".replace(" ", "").lower()
        parts = [p for p in (record.first_name, record.last_name) if p and p.strip()]
        return or_(
            *(func.lower(Contact.last_name).contains(p.strip().lower()) for p in parts),
            *(func.lower(Contact.first_name).contains(p.strip().lower()) for p in parts),
            literal(whole).contains(func.lower(Contact.last_name)),
        )
    if rule == "name":
        core_name = company_key(record.name)
        return func.lower(Account.name).contains(core_name[: max(1, len(core_name) // 2)])
    return func.lower(Account.website).contains(website_key(record.website))
