"""The core's reactions to domain events, imported once so that they register.

Each module below decorates its functions with :func:`core.events.subscriber`.
"""

from core.intake import mail_out  # noqa: F401  (email replies queued for SMTP)
from core.services import (
    follows,  # noqa: F401  (followers told of tickets, replies, comments)
    ticket_mentions,  # noqa: F401  (agents @mentioned in ticket comments)
)
