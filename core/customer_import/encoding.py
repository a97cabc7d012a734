"""The text encoding of an uploaded file: declared by the uploader, or detected.

Japanese spreadsheets are saved as Shift_JIS (in fact Windows' CP932, a superset that also has
①, ㈱ and NEC's extra kanji) or as UTF-8, often with a byte order mark (Excel's "CSV UTF-8").
A declared encoding is checked, never trusted: a Shift_JIS file declared UTF-8 is refused
rather than imported as mojibake.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from core.customer_import.errors import FileRefused
from core.errors import Message

#: What the upload form offers; "auto" detects.
DECLARABLE: dict[str, str] = {"auto": "Detect", "utf-8": "UTF-8", "shift_jis": "Shift_JIS"}

#: Names people and tools use for the encodings we read, to the codec we read them with.
_ALIASES: dict[str, str] = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "cp932": "cp932",
    "windows-31j": "cp932",
    "ms932": "cp932",
}
#: How a codec is named back to people.
_NAMES: dict[str, str] = {"utf-8": "UTF-8", "cp932": "Shift_JIS"}


def normalise_declared(declared: str | None) -> str | None:
    """The codec a declared encoding names (``None`` for auto-detection).

    :raises FileRefused: an encoding this importer does not read.
    """
    if declared is None or not declared.strip() or declared.strip().lower() == "auto":
        return None
    codec = _ALIASES.get(declared.strip().lower())
    if codec is None:
        raise FileRefused(
            Message(
                "Unknown encoding %(declared)r: choose auto, UTF-8 or Shift_JIS.", declared=declared
            ),
            field="encoding",
        )
    return codec


def decode(content: bytes, declared: str | None) -> tuple[str, str]:
    """The text of ``content`` and the name of its encoding ("UTF-8" or "Shift_JIS"…).

    :raises FileRefused: the bytes are not in the declared encoding, or none can be detected.
    """
    codec = normalise_declared(declared)
    has_bom = content.startswith(codecs.BOM_UTF8)
    if codec is None:
        codec = _detect(content, has_bom)
    elif codec == "cp932" and has_bom:
        raise FileRefused(
            Message("The file starts with a UTF-8 byte order mark: it is UTF-8, not Shift_JIS."),
            field="encoding",
        )
    elif codec == "cp932" and _is_utf8_with_non_ascii(content):
        raise FileRefused(
            Message("The file reads as UTF-8, not Shift_JIS: choose UTF-8 (or auto)."),
            field="encoding",
        )
    try:
        text = content.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        where = {"encoding": _NAMES.get(codec, codec), "line": line, "byte": content[error.start]}
        raise FileRefused(
            Message(
                "The file is not valid %(encoding)s (line %(line)d, byte 0x%(byte)02x)."
                " It may be Shift_JIS: choose that encoding.",
                **where,
            )
            if codec == "utf-8"
            else Message(
                "The file is not valid %(encoding)s (line %(line)d, byte 0x%(byte)02x).", **where
            ),
            field="encoding",
            line=line,
        ) from error
    return text, _NAMES.get(codec, codec)


def _is_utf8_with_non_ascii(content: bytes) -> bool:
    # Valid multi-byte UTF-8 sequences almost never occur in real Shift_JIS text.
    if content.isascii():
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _detect(content: bytes, has_bom: bool) -> str:
    if has_bom or content.isascii():
        return "utf-8"
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    # Detection reads a sample: the first 256 kB decide for the whole file.
    best = from_bytes(content[:262_144]).best()
    found = best.encoding.lower().replace("-", "_") if best is not None else ""
    if found in ("cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213", "cp932_ms"):
        return "cp932"
    raise FileRefused(
        Message("Could not tell the file's encoding: save it as UTF-8 or Shift_JIS and say which."),
        field="encoding",
    )
