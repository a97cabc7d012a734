"""Each IM platform's webhook deliveries as the platform sends them, signed: what the IM
Dashboard tests, browser tests and benchmarks post to a channel account's webhook.

``CREDENTIALS`` are well-formed credentials of one account of each channel; ``delivery(channel,
...)`` builds one user's text message as (body, headers, query) signed with them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LINE_SECRET = "0123456789abcdef0123456789abcdef"
WHATSAPP_APP_SECRET = "fedcba9876543210fedcba9876543210"
TELEGRAM_SECRET = "telegram-secret-token-1234"
VERIFY_TOKEN = "whatsapp-verify-token"
WECHAT_TOKEN = "wechatToken42"
LINE_ACCESS_TOKEN = "lineAccessToken/2Qx8bJm1Vw+eR4tY7uI0oP3aS6dF9gH="
TELEGRAM_BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
WHATSAPP_ACCESS_TOKEN = "EAAGm0PX4ZCpsBAKZBt2Nd5dZCqvvWmDcY1wZBZCxo3j4yZA"
WHATSAPP_PHONE_NUMBER_ID = "106540352242922"
WECHAT_APP_ID = "wx0123456789abcdef"

CREDENTIALS: dict[str, dict[str, str]] = {
    "line": {"channel_secret": LINE_SECRET, "channel_access_token": LINE_ACCESS_TOKEN},
    "telegram": {"bot_token": TELEGRAM_BOT_TOKEN, "secret_token": TELEGRAM_SECRET},
    "whatsapp": {
        "phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
        "access_token": WHATSAPP_ACCESS_TOKEN,
        "app_secret": WHATSAPP_APP_SECRET,
        "verify_token": VERIFY_TOKEN,
    },
    "wechat": {
        "app_id": WECHAT_APP_ID,
        "app_secret": "00112233445566778899aabbccddeeff",
        "token": WECHAT_TOKEN,
    },
}


@dataclass(frozen=True)
class Delivery:
    """One signed webhook request: post ``body`` with ``headers`` to the URL plus ``query``."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


def line_signature(body: bytes, secret: str = LINE_SECRET) -> str:
    """LINE's ``x-line-signature``: base64 HMAC-SHA256 of the body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def whatsapp_signature(body: bytes, secret: str = WHATSAPP_APP_SECRET) -> str:
    """WhatsApp's ``X-Hub-Signature-256``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wechat_query(timestamp: str, nonce: str, token: str = WECHAT_TOKEN) -> dict[str, str]:
    """WeChat's signed query: SHA-1 of the sorted token, timestamp and nonce."""
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def line_event(event_id: str, message_id: str, user_id: str, text: str, at: datetime) -> dict:
    """A LINE text message event."""
    return {
        "type": "message",
        "message": {"type": "text", "id": message_id, "quoteToken": "q" + message_id, "text": text},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "timestamp": int(at.timestamp() * 1000),
        "source": {"type": "user", "userId": user_id},
        "replyToken": "r" + event_id,
        "mode": "active",
    }


def delivery(
    channel: str, *, key: int, user: str, text: str, at: datetime, name: str = ""
) -> Delivery:
    """User ``user``'s text message ``text`` sent at ``at`` on ``channel``, as the platform
    delivers it; ``key`` makes its platform ids (the same key: a redelivery)."""
    seconds = int(at.timestamp())
    if channel == "line":
        event = line_event(f"01HX{key:022d}", str(470000000000000000 + key), user, text, at)
        body = json.dumps({"destination": "U0123456789abcdef", "events": [event]}).encode()
        return Delivery(body, {"x-line-signature": line_signature(body)})
    if channel == "telegram":
        first, _, last = (name or "Taro").partition(" ")
        update: dict[str, Any] = {
            "update_id": 100000 + key,
            "message": {
                "message_id": key,
                "from": {
                    "id": int(user),
                    "is_bot": False,
                    "first_name": first,
                    "last_name": last,
                    "language_code": "ja",
                },
                "chat": {"id": int(user), "first_name": first, "type": "private"},
                "date": seconds,
                "text": text,
            },
        }
        body = json.dumps(update).encode()
        return Delivery(
            body,
            {
                "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
                "Content-Type": "application/json",
            },
        )
    if channel == "whatsapp":
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550783881",
                "phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
            },
            "contacts": [{"profile": {"name": name or "Kerry"}, "wa_id": user}],
            "messages": [
                {
                    "from": user,
                    "id": f"wamid.HBgL{key:020d}",
                    "timestamp": str(seconds),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        }
        body = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}
                ],
            }
        ).encode()
        return Delivery(
            body,
            {"X-Hub-Signature-256": whatsapp_signature(body), "Content-Type": "application/json"},
        )
    if channel == "wechat":
        body = (
            "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{seconds}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{6000000000000000000 + key}</MsgId>"
            "</xml>"
        ).encode()
        return Delivery(body, {"Content-Type": "text/xml"}, wechat_query(str(seconds), f"n{key}"))
    raise ValueError(channel)


def whatsapp_status(message_id: str, status: str, at: datetime, user: str) -> Delivery:
    """WhatsApp's news of a message we sent (``sent``, ``delivered``, ``read``, ``failed``)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550783881",
            "phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
        },
        "statuses": [
            {
                "id": message_id,
                "status": status,
                "timestamp": str(int(at.timestamp())),
                "recipient_id": user,
            }
        ],
    }
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}
            ],
        }
    ).encode()
    return Delivery(
        body, {"X-Hub-Signature-256": whatsapp_signature(body), "Content-Type": "application/json"}
    )
