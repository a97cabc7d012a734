"""Which file column goes to which field: the fields an import can fill, and suggestions.

A mapping is ``{file column: field key}``; a column mapped to "" (or left out) is ignored.
Suggestions come from the header names, in English and Japanese ("Email", "メールアドレス",
"携帯電話"…), and from the labels and keys of the entity's custom fields.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import Message, ValidationFailed
from core.models import CustomField
from core.services import fields as custom_fields

ENTITIES: tuple[str, ...] = ("contact", "account")


@dataclass(frozen=True)
class Target:
    """A field a column can be mapped to; ``custom`` is the custom field, if it is one."""

    key: str
    label: str
    custom: CustomField | None = None


#: Built-in fields per entity, with their English labels (the UI translates them).
BUILT_IN: dict[str, tuple[tuple[str, str], ...]] = {
    "contact": (
        ("last_name", "Last name"),
        ("first_name", "First name"),
        ("email", "Email"),
        ("secondary_email", "Secondary email"),
        ("phone", "Phone"),
        ("mobile", "Mobile"),
        ("title", "Title"),
        ("description", "Description"),
        ("account", "Account (by name; created if missing)"),
        ("owner", "Owner (agent email)"),
        ("tags", "Tags (comma-separated)"),
    ),
    "account": (
        ("name", "Account name"),
        ("website", "Website"),
        ("phone", "Phone"),
        ("industry", "Industry"),
        ("description", "Description"),
        ("owner", "Owner (agent email)"),
    ),
}

#: Fields an existing record can be matched on, per entity (upsert).
MATCH_FIELDS: dict[str, tuple[str, ...]] = {
    "contact": ("email", "phone"),
    "account": ("name", "phone"),
}
DEFAULT_MATCH_ON: dict[str, list[str]] = {"contact": ["email"], "account": ["name"]}

#: Header names (normalised: see ``_normalise``) that suggest a built-in field.
_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "contact": {
        "last_name": (
            "lastname",
            "surname",
            "familyname",
            "name",
            "fullname",
            "姓",
            "氏",
            "苗字",
            "名字",
            "氏名",
            "名前",
            "お名前",
            "姓漢字",
        ),
        "first_name": ("firstname", "givenname", "forename", "名", "名漢字", "下の名前"),
        "email": (
            "email",
            "emailaddress",
            "mail",
            "mailaddress",
            "primaryemail",
            "メールアドレス",
            "メール",
            "eメール",
            "eメールアドレス",
            "電子メール",
            "メールアドレス1",
        ),
        "secondary_email": (
            "secondaryemail",
            "email2",
            "otheremail",
            "メールアドレス2",
            "サブメールアドレス",
            "その他のメール",
        ),
        "phone": (
            "phone",
            "phonenumber",
            "telephone",
            "tel",
            "workphone",
            "businessphone",
            "電話番号",
            "電話",
            "固定電話",
            "会社電話",
            "代表電話",
        ),
        "mobile": (
            "mobile",
            "mobilephone",
            "cell",
            "cellphone",
            "携帯電話",
            "携帯",
            "携帯番号",
            "携帯電話番号",
        ),
        "title": ("title", "jobtitle", "position", "役職", "肩書き", "肩書", "職位"),
        "description": (
            "description",
            "notes",
            "note",
            "comment",
            "comments",
            "memo",
            "備考",
            "メモ",
            "説明",
            "ノート",
        ),
        "account": (
            "account",
            "accountname",
            "company",
            "companyname",
            "organization",
            "organisation",
            "会社名",
            "会社",
            "取引先",
            "取引先名",
            "企業名",
            "所属",
            "勤務先",
        ),
        "owner": ("owner", "contactowner", "担当者", "担当", "所有者"),
        "tags": ("tags", "tag", "labels", "タグ", "ラベル"),
    },
    "account": {
        "name": (
            "name",
            "accountname",
            "company",
            "companyname",
            "organization",
            "organisation",
            "会社名",
            "会社",
            "取引先",
            "取引先名",
            "企業名",
        ),
        "website": ("website", "web", "url", "homepage", "ウェブサイト", "ホームページ", "url"),
        "phone": ("phone", "phonenumber", "telephone", "tel", "電話番号", "電話", "代表電話"),
        "industry": ("industry", "sector", "業種", "業界"),
        "description": ("description", "notes", "note", "memo", "備考", "メモ", "説明"),
        "owner": ("owner", "accountowner", "担当者", "担当", "所有者"),
    },
}


def _normalise(name: str) -> str:
    """ "E-mail Address" → "emailaddress", "メール アドレス" → "メールアドレス" (NFKC)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[\s_\-./・:：()（）]+", "", text)


def targets(session: Session, entity: str) -> dict[str, Target]:
    """Every field of ``entity`` a column can be mapped to, by key, in display order."""
    found = {key: Target(key, label) for key, label in BUILT_IN[entity]}
    for field in custom_fields.fields_for(session, entity):
        found[field.key] = Target(field.key, field.label, field)
    return found


def suggest(columns: Iterable[str], available: Mapping[str, Target], entity: str) -> dict[str, str]:
    """``{column: field key}`` for the columns whose header names a field (each field once)."""
    by_name: dict[str, str] = {}
    for key, names in _SYNONYMS[entity].items():
        for name in names:
            by_name.setdefault(_normalise(name), key)
    for key, target in available.items():
        if target.custom is not None:
            by_name.setdefault(_normalise(target.label), key)
            by_name.setdefault(_normalise(key), key)
    suggested: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        normalised = _normalise(column)
        key = by_name.get(normalised) or by_name.get(normalised.removeprefix("contact"))
        if key is not None and key in available and key not in taken:
            suggested[column] = key
            taken.add(key)
    return suggested


def check_mapping(
    mapping: object, columns: Iterable[str], available: Mapping[str, Target]
) -> dict[str, str]:
    """The mapping cleaned (ignored columns dropped), or every problem named by its entry.

    :raises ValidationFailed: ``{"mapping.<column>": [message]}`` for each bad entry.
    """
    if not isinstance(mapping, Mapping):
        raise ValidationFailed({"mapping": [Message("Give the mapping as {column: field}.")]})
    known = list(columns)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    used: dict[str, str] = {}
    for column, key in mapping.items():
        entry = f"mapping.{column}"
        if not isinstance(key, str):
            errors[entry] = [Message("Give a field key (or nothing to ignore the column).")]
            continue
        key = key.strip()
        if column not in known:
            errors[entry] = [Message("The file has no column %(column)r.", column=column)]
        elif not key:
            continue
        elif key not in available:
            errors[entry] = [Message("Unknown field %(key)r.", key=key)]
        elif key in used:
            errors[entry] = [
                Message(
                    "The field %(key)r is already filled from %(column)r.",
                    key=key,
                    column=used[key],
                )
            ]
        else:
            used[key] = column
            cleaned[column] = key
    if errors:
        raise ValidationFailed(errors)
    if not cleaned:
        raise ValidationFailed({"mapping": [Message("Map at least one column to a field.")]})
    return cleaned


def check_match_on(match_on: object, entity: str) -> list[str]:
    """The fields to match existing records on, in order (empty: every row is new)."""
    if isinstance(match_on, str):
        match_on = [part for part in re.split(r"[,\s]+", match_on) if part]
    if not isinstance(match_on, (list, tuple)):
        raise ValidationFailed({"match_on": [Message("Give a list of fields.")]})
    allowed = MATCH_FIELDS[entity]
    unknown = [name for name in match_on if name not in allowed]
    if unknown:
        raise ValidationFailed(
            {
                "match_on": [
                    Message(
                        "Match on %(allowed)s, not %(given)r.",
                        allowed=" or ".join(allowed),
                        given=unknown[0],
                    )
                ]
            }
        )
    return list(dict.fromkeys(match_on))


def parse_map_options(options: Iterable[str]) -> dict[str, str]:
    """``["Email=email", "Notes="]`` (the CLI's ``--map``) as a mapping.

    :raises ValidationFailed: an entry without "=".
    """
    mapping: dict[str, str] = {}
    for option in options:
        column, sep, key = option.partition("=")
        if not sep or not column.strip():
            raise ValidationFailed(
                {"mapping": [Message("%(option)r: write COLUMN=FIELD.", option=option)]}
            )
        mapping[column.strip()] = key.strip()
    return mapping
