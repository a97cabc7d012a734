"""People's names shown the way Japanese and English readers expect, and found in either order.

A contact's name is stored in two parts, ``first_name`` (the given name) and ``last_name`` (the
family name), and shown by :func:`display_name`, the one place that decides the order:

* a name written in Japanese or Chinese script (kanji, hiragana, katakana) or in hangul reads
  family name first in every language: "山田 花子" on an English page too, since nobody writes
  "花子 山田";
* a name in Latin script follows the page's language: "Yamada Hanako" on a Japanese page (as
  Japanese business software lists every name), "Hanako Yamada" on an English one;
* a contact's ``name_order`` overrides the rule when it guesses wrong (a Japanese customer who
  prefers "Hanako Yamada" everywhere: ``given_first``; ``family_first`` the other way round).

Agents keep a single ``name``: it is the name colleagues know them by, typed once by the agent
or an admin exactly as it should be shown, never sorted or matched by its family name, so no
order rule applies to it (and no rule could split the names already stored).

Search (:func:`name_matches`) finds a contact by either order, with or without a space (full-
width spaces and letters typed by a Japanese input method included).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, String, false, func, or_


class NameOrder(enum.StrEnum):
    """How a person's name is ordered: by the rule above, or fixed either way."""

    AUTO = "auto"
    FAMILY_FIRST = "family_first"
    GIVEN_FIRST = "given_first"


NAME_ORDERS: tuple[str, ...] = tuple(order.value for order in NameOrder)

#: Languages whose readers put the family name first for Latin-script names too.
FAMILY_FIRST_LANGUAGES: frozenset[str] = frozenset({"ja", "zh", "ko", "hu"})

# CJK ideographs (with extension A and the compatibility block), kana (with the half-width and
# phonetic-extension blocks) and hangul: scripts whose names are written family name first.
_EAST_ASIAN = re.compile(
    "[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\uff66-\uff9f\uac00-\ud7af\u1100-\u11ff]"
)


def is_east_asian(text: str) -> bool:
    """True when ``text`` holds a character of a script whose names put the family name first."""
    return bool(_EAST_ASIAN.search(text or ""))


def family_first(given: str, family: str, language: str, order: str | None = None) -> bool:
    """Whether the family name comes first for this name, page language and override."""
    if order == NameOrder.FAMILY_FIRST:
        return True
    if order == NameOrder.GIVEN_FIRST:
        return False
    if is_east_asian(given) or is_east_asian(family):
        return True
    return (language or "").split("_")[0].split("-")[0].lower() in FAMILY_FIRST_LANGUAGES


def family_name_first(language: str | None = None) -> bool:
    """Whether forms in ``language`` (default: the page's) ask for the family name first."""
    return family_first("", "", language or current_language())


def display_name(
    given: str | None, family: str | None, language: str | None = None, order: str | None = None
) -> str:
    """The name as shown: its two parts in the order :func:`family_first` decides.

    ``language`` defaults to the current page's (English outside a request).
    """
    given, family = (given or "").strip(), (family or "").strip()
    if not given or not family:
        return given or family
    if family_first(given, family, language or current_language(), order):
        return f"{family} {given}"
    return f"{given} {family}"


def current_language() -> str:
    """The language of the page being rendered (Flask-Babel's), or English outside a request."""
    from flask import has_request_context

    if not has_request_context():
        return "en"
    from flask_babel import get_locale

    locale = get_locale()
    return locale.language if locale is not None else "en"


# ------------------------------------------------------------------------------------ search


def normalise(text: str) -> str:
    """``text`` as search compares it: NFKC (full-width letters, digits and spaces made plain),
    runs of white space made one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text or "").split())


def name_matches(given: Any, family: Any, term: str) -> ColumnElement[bool]:
    """A condition true when the name in the columns ``given`` and ``family`` matches ``term``.

    "山田 花子", "花子 山田", "山田花子" and "花子　山田" all find 山田 花子: either part
    contains the term, or the two parts joined without a space (in either order) contain the
    term with its spaces taken out. Case does not matter.
    """
    plain = normalise(term).lower()
    joined = plain.replace(" ", "")
    if not joined:
        return false()
    pattern, joined_pattern = _like(plain), _like(joined)
    return or_(
        func.lower(given, type_=String).like(pattern, escape="\\"),
        func.lower(family, type_=String).like(pattern, escape="\\"),
        *(whole.like(joined_pattern, escape="\\") for whole in _both_orders(given, family)),
    )


def name_is(given: Any, family: Any, term: str) -> ColumnElement[bool]:
    """True when the whole name is ``term`` in either order, spaces and case aside."""
    joined = normalise(term).lower().replace(" ", "")
    return or_(*(whole == joined for whole in _both_orders(given, family)))


def name_starts_with(given: Any, family: Any, term: str) -> ColumnElement[bool]:
    """True when the whole name, in either order, starts with ``term`` (spaces and case aside)."""
    pattern = _like(normalise(term).lower().replace(" ", ""))[1:]
    return or_(*(whole.like(pattern, escape="\\") for whole in _both_orders(given, family)))


def _both_orders(given: Any, family: Any) -> tuple[Any, Any]:
    given_j = _without_spaces(func.lower(given, type_=String))
    family_j = _without_spaces(func.lower(family, type_=String))
    return family_j + given_j, given_j + family_j


def _without_spaces(column: Any) -> Any:
    # A whole name stored in one part ("佐藤　花子", from an old form or an import) still
    # matches "佐藤花子" and "佐藤 花子".
    return func.replace(func.replace(column, " ", ""), "\u3000", "", type_=String)


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
