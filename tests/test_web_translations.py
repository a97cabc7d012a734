"""The catalogs: every string the UI can show has a Japanese translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

_KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "lazy_pgettext": ((1, "c"), 2),
    # core.errors.Message: a service's validation message, translated where a page shows it.
    "Message": None,
}

#: A message as catalogued: its msgid and its context (``None`` for most).
Message = tuple[str, str | None]


def _extracted_messages(repo_root: Path) -> set[Message]:
    """What ``pybabel extract -F babel.cfg`` finds, through babel's Python API."""
    with open(repo_root / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    messages: set[Message] = set()
    for _filename, _lineno, message, _comments, context in extract_from_dir(
        str(repo_root), method_map, options_map, keywords=_KEYWORDS
    ):
        # A plural message is catalogued under its singular form, with the plural beside it.
        messages.add((message if isinstance(message, str) else message[0], context))
    return messages


def _catalog(repo_root: Path, locale: str):  # type: ignore[no-untyped-def]
    path = repo_root / "core/web/translations" / locale / "LC_MESSAGES/messages.po"
    with open(path, "rb") as handle:
        return read_po(handle, locale=locale)


def test_extraction_finds_the_ui_strings(repo_root: Path) -> None:
    msgids = {msgid for msgid, _context in _extracted_messages(repo_root)}
    assert {"Tickets", "Contacts", "Accounts", "Sign in"} <= msgids


def test_extraction_keeps_message_contexts(repo_root: Path) -> None:
    assert ("Number", "custom field type") in _extracted_messages(repo_root)


def _is_translated(message) -> bool:  # type: ignore[no-untyped-def]
    if message is None:
        return False
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(s.strip() for s in strings)


def test_every_extracted_string_has_a_japanese_translation(repo_root: Path) -> None:
    catalog = _catalog(repo_root, "ja")
    untranslated = sorted(
        (msgid, context or "")
        for msgid, context in _extracted_messages(repo_root)
        if not _is_translated(catalog.get(msgid, context=context))
    )
    assert untranslated == [], "add these to ja/LC_MESSAGES/messages.po: " + repr(untranslated)


def test_japanese_translations_are_not_fuzzy(repo_root: Path) -> None:
    fuzzy = [m.id for m in _catalog(repo_root, "ja") if m.id and m.fuzzy]
    assert fuzzy == []


def test_english_catalog_lists_every_extracted_string(repo_root: Path) -> None:
    catalog = _catalog(repo_root, "en")
    missing = sorted(
        (msgid, context or "")
        for msgid, context in _extracted_messages(repo_root)
        if catalog.get(msgid, context=context) is None
    )
    assert missing == []
