"""An SMTP listener (aiosmtpd) that takes mail for the desk's mailboxes in.

Each DATA is processed in its own transaction, in a worker thread so the SMTP loop keeps
serving other connections. Answers: ``250`` taken in (a ticket, a thread, held as spam or a
duplicate: the sender has nothing to retry), ``552`` over the size limit
(``DESKHOST_MAIL_MAX_BYTES``), ``550`` not a message deskhost can read (the sender should not
retry), ``451`` a local failure such as the database being down (the
sending server retries later, so nothing is lost).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from core.errors import DeskError
from core.intake import email_in
from core.intake.arrivals import Outcome
from core.services.base import Actor, Unit

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller

    from core.host import Host

log = logging.getLogger(__name__)


def deliver(host: Host, raw: bytes, recipients: list[str], envelope_sender: str | None) -> Outcome:
    """Take one raw message in, in its own transaction."""
    with host.transaction() as session:
        unit = Unit(session, Actor.system("smtp"), host)
        return email_in.receive_email(
            unit, raw, recipients=recipients, envelope_sender=envelope_sender
        )


class DeskHandler:
    """aiosmtpd handler: every accepted DATA becomes an intake delivery."""

    def __init__(self, host: Host) -> None:
        self.host = host

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Process the message and answer with the SMTP status line."""
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(
                None,
                deliver,
                self.host,
                raw,
                list(envelope.rcpt_tos),
                envelope.mail_from or None,
            )
        except email_in.MessageTooLarge as refused:
            return f"552 5.3.4 {refused}"
        except DeskError as refused:
            return f"550 5.6.0 {refused}"
        except Exception:  # the database or disk failed: ask the sender to come back later
            log.exception("inbound mail could not be stored")
            return "451 4.3.0 Temporary failure, try again later"
        ticket = f" ticket {outcome.ticket.id}" if outcome.ticket is not None else ""
        return f"250 2.0.0 {outcome.status.value}{ticket}"


def make_controller(host: Host, hostname: str = "127.0.0.1", port: int = 2525) -> Controller:
    """An aiosmtpd controller serving the desk on ``hostname:port`` (not started)."""
    from aiosmtpd.controller import Controller

    # The size limit is announced in EHLO (SIZE) and enforced while DATA is read.
    return Controller(
        DeskHandler(host),
        hostname=hostname,
        port=port,
        data_size_limit=host.settings.mail_intake.max_bytes,
        decode_data=False,
    )
