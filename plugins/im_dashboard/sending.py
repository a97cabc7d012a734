"""The job sending an agent's message through its channel's HTTP API (``senders``).

Each attempt is recorded on the message (``attempts``, ``error``), so the inbox shows a
message still being sent, sent, or failed and why. A failure the platform may get over (a
timeout, a 5xx, a rate limit) is tried again later, up to ``MAX_ATTEMPTS`` times with growing
pauses; any other failure, or the last attempt's, marks the message ``failed``. The job is
safe to run twice: a message no longer ``sending`` is left alone, and LINE is given the same
retry key on every attempt, so that it delivers a retried push once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from hostapi import Context
from plugins.im_dashboard import accounts, senders
from plugins.im_dashboard.chats import SEND_JOB
from plugins.im_dashboard.models import ChannelAccount, Chat, ChatMessage

#: Attempts at sending one message before it is marked failed.
MAX_ATTEMPTS = 5
#: The pause before the second attempt; doubled before each next one.
FIRST_PAUSE = timedelta(seconds=5)

#: Makes each message's LINE retry key (a UUID) from its installation and id.
_RETRY_KEYS = uuid.UUID("5d0c7a52-9c1e-4b8e-8a55-3f1d2f3c1e07")


def run(context: Context, payload: Mapping[str, Any]) -> None:
    """Send the message ``payload["message_id"]`` if it is still waiting to go."""
    message = context.db.get(ChatMessage, int(payload["message_id"]))
    if (
        message is None
        or message.installation_id != context.installation_id
        or message.delivery != "sending"
    ):
        return
    chat = context.db.get(Chat, message.chat_id)
    account = context.db.get(ChannelAccount, message.channel_account_id)
    message.attempts += 1
    if chat is None or account is None:
        message.delivery, message.delivery_at = "failed", context.now()
        message.error = context.gettext("The channel account has been disconnected.")
        return
    retry_key = uuid.uuid5(_RETRY_KEYS, f"{context.installation_id}:{message.id}")
    try:
        platform_id = senders.send_text(
            account.kind,
            accounts.credentials(context, account),
            chat.external_user_id,
            message.text,
            retry_key=str(retry_key),
        )
    except senders.SendFailed as failure:
        message.error = failure.message[:500]
        if failure.retryable and message.attempts < MAX_ATTEMPTS:
            pause = FIRST_PAUSE * 2 ** (message.attempts - 1)
            context.enqueue(SEND_JOB, {"message_id": message.id}, delay=pause)
        else:
            message.delivery, message.delivery_at = "failed", context.now()
        return
    message.platform_message_id = platform_id or None
    message.delivery, message.delivery_at, message.error = "sent", context.now(), ""
