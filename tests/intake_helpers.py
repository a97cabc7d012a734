"""Helpers of the intake tests: raw emails, a loopback SMTP sink, the write-unit type."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email.message import EmailMessage

from flask.testing import FlaskClient

from core.services.base import Unit
from hostapi import clock

#: ``work_in(agent=None)``: a context manager yielding a unit on a committed write session.
WorkIn = Callable[..., AbstractContextManager[Unit]]


def raw_email(
    *,
    sender: str = "Hanako Yamada <hanako@example.com>",
    to: str = "support@desk.example",
    subject: str = "My order has not arrived",
    body: str = "Where is order 1234?",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    html: str | None = None,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
    headers: dict[str, str] | None = None,
) -> bytes:
    """A raw RFC 822 message as a mail client would send it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or f"<{clock.now().timestamp()}-{id(body)}@mail.example>"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    if html is not None and not body:
        message.set_content(html, subtype="html")
    else:
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
    for filename, content, content_type in attachments:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def free_port() -> int:
    """A loopback port free right now (aiosmtpd's Controller cannot listen on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpSink:
    """A loopback SMTP server started by the test; ``messages`` are what it received."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    received: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait (with a deadline) until ``count`` messages arrived; return them."""
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        assert len(self.messages) >= count, f"only {len(self.messages)} message(s) arrived"
        return self.messages


def csrf_token_of(client: FlaskClient, path: str) -> str:
    """The CSRF token the page at ``path`` hands out (its ``<meta name="csrf-token">``)."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, f"no csrf-token meta on {path}"
    return match.group(1)
