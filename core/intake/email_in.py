"""Inbound email: a raw RFC 822 message becomes a ticket, a thread, or a spam-list entry.

Parsed with the standard library (``email.policy.default``). The department is the one whose
mailbox the message was delivered to (the SMTP envelope recipients, then ``Delivered-To``,
``X-Original-To``, ``To`` and ``Cc``); mail for no known mailbox goes to the default
department, the first active one. The text is the ``text/plain`` part, else the HTML part
turned into text. Replies thread by ``In-Reply-To``/``References`` (see
:func:`core.intake.arrivals.ticket_answered`). A message whose Message-ID was taken in
before adds nothing; one without a Message-ID is given one derived from its bytes, so the
same bytes delivered twice still add nothing.

What a sender controls is kept from doing harm: a message over the size limit is refused
before it is parsed; header values are stored on one line, control characters (a CR or LF
decoded from an encoded word, a NUL) turned into spaces, so a subject or a sender's name can
never add a header to a reply; mail an upstream filter marked as spam is held on the spam list
(both as :class:`core.config.MailIntakeSettings` says).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from core.config import MailIntakeSettings
from core.errors import DeskError
from core.intake import arrivals, spam
from core.intake.arrivals import Arrival, IncomingFile, Outcome
from core.services.base import Unit

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_MAX_HEADER_CHARS = 2_000
_RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To", "Cc")
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
)


class UnreadableMessage(DeskError):
    """The bytes are not an email deskhost can take in (HTTP 400, SMTP 550)."""

    status_code = 400


class MessageTooLarge(DeskError):
    """The message is over the intake's size limit (HTTP 413, SMTP 552)."""

    status_code = 413


def one_line(value: str) -> str:
    """A header value safe to store or to write into a header: control characters (CR, LF,
    NUL…) become spaces and runs of spaces one."""
    return " ".join(_CONTROL_CHARACTERS.sub(" ", value).split())


class _TextOfHtml(HTMLParser):
    """Collects the visible text of an HTML body, one line per block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML document (tags dropped, blocks on their own lines)."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        # An unknown or lying charset: keep what can be read rather than refuse the mail.
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _text(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    # A NUL is no text anyone wrote, and no database column takes it.
    return text.replace("\x00", "").strip()


def _files(message: EmailMessage) -> list[IncomingFile]:
    files = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        files.append(
            IncomingFile(
                filename=part.get_filename() or "attachment",
                content=payload,
                content_type=part.get_content_type(),
            )
        )
    return files


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a malformed header the policy cannot model
        value = None
    return str(value) if value is not None else ""


def _raw_values(message: EmailMessage, name: str) -> list[str]:
    """The header's values as sent, encoded words still encoded."""
    return [str(value) for key, value in message.raw_items() if key.lower() == name.lower()]


def _addresses(message: EmailMessage, name: str) -> list[str]:
    try:
        values = [str(v) for v in (message.get_all(name) or [])]
    except (ValueError, IndexError, TypeError):
        # A display name that decodes to a line break: the addresses are still readable raw,
        # where an encoded word cannot make structure (a second address, a new header).
        values = _raw_values(message, name)
    return [address for _name, address in getaddresses(values) if address]


def _decoded(message: EmailMessage, name: str, raw_value: str) -> str:
    """A header value as the policy reads it; one it cannot model, decoded word by word."""
    try:
        return str(message.policy.header_fetch_parse(name, raw_value))
    except (ValueError, IndexError, TypeError):
        return _decoded_words(raw_value)


def _decoded_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value  # undecodable: kept as sent


def _sender(message: EmailMessage) -> tuple[str, str]:
    """The From header's display name (on one line) and address."""
    value = _header(message, "From")
    if value:
        name, address = parseaddr(value)
        return one_line(name), address
    raw = next(iter(_raw_values(message, "From")), "")
    name, address = parseaddr(raw)
    return one_line(_decoded_words(name)), address


def message_ids(value: str) -> list[str]:
    """The Message-IDs (``<…>``) named in a header value, in order."""
    return _MESSAGE_ID.findall(value or "")


def parse(
    raw: bytes,
    *,
    recipients: Sequence[str] = (),
    envelope_sender: str | None = None,
) -> tuple[Arrival, list[str]]:
    """The arrival a raw message makes, and the addresses it was delivered to.

    ``recipients`` and ``envelope_sender`` come from the SMTP envelope when there is one.

    :raises UnreadableMessage: not an email, or no sender address anywhere.
    """
    if not isinstance(raw, bytes) or not raw.strip():
        raise UnreadableMessage("The message is empty.")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not isinstance(message, EmailMessage) or not message.keys():
        raise UnreadableMessage("The message has no headers: send a raw RFC 822 message.")
    sender_name, sender = _sender(message)
    if "@" not in sender and envelope_sender:
        sender_name, sender = "", envelope_sender
    if "@" not in sender:
        raise UnreadableMessage("The message has no From address.")
    message_id = next(iter(message_ids(_header(message, "Message-ID"))), None)
    if message_id is None:
        message_id = f"<{hashlib.sha256(raw).hexdigest()}@deskhost.invalid>"
    replies_to = message_ids(_header(message, "In-Reply-To"))
    replies_to += [i for i in reversed(message_ids(_header(message, "References"))) if i]
    delivered = [*recipients]
    for name in _RECIPIENT_HEADERS:
        delivered += _addresses(message, name)
    headers: dict[str, str] = {}
    for name, raw_value in message.raw_items():
        # Each value on its own line; a header that comes more than once keeps one per line.
        text = one_line(_decoded(message, name, raw_value))[:_MAX_HEADER_CHARS]
        headers[name] = f"{headers[name]}\n{text}" if name in headers else text
    arrival = Arrival(
        channel="email",
        subject=one_line(_header(message, "Subject")),
        body=_body(message),
        sender_name=sender_name,
        email=sender.strip(),
        headers=headers,
        raw=raw,
        message_id=message_id[:998],
        replies_to=list(dict.fromkeys(replies_to)),
        files=_files(message),
    )
    return arrival, delivered


def receive_email(
    unit: Unit,
    raw: bytes,
    *,
    recipients: Sequence[str] = (),
    envelope_sender: str | None = None,
    check_spam: bool = True,
) -> Outcome:
    """Take in one raw email (see the module docstring); the caller commits.

    :raises MessageTooLarge: over ``DESKHOST_MAIL_MAX_BYTES``.
    :raises UnreadableMessage: see :func:`parse`.
    """
    settings = unit.host.settings.mail_intake if unit.host is not None else MailIntakeSettings()
    if isinstance(raw, bytes) and len(raw) > settings.max_bytes:
        raise MessageTooLarge(
            f"The message is larger than the limit of {settings.max_bytes:,} bytes."
        )
    arrival, delivered = parse(raw, recipients=recipients, envelope_sender=envelope_sender)
    arrival.department_id = arrivals.department_for_addresses(unit.session, delivered)
    if check_spam and settings.trust_spam_headers:
        arrival.spam_verdict = spam.upstream_verdict(arrival.headers)
    return arrivals.accept(unit, arrival, check_spam=check_spam)
