"""What a stored webhook event says, the same way for every channel: a customer's message (who
sent it, when, what) or a delivery status of a message we sent.

A message's time is the platform's timestamp; where the payload has none, the time it was
received. Kinds are ``text``, ``image``, ``video``, ``audio``, ``file``, ``sticker``,
``location`` and ``other`` (a type this code does not know: kept, with the platform's own type
name, never dropped). Media are described by what the platform gives to fetch them later
(its media id, MIME type, file name, size), not downloaded here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: The kinds of message every channel's are read as.
KINDS = ("text", "image", "video", "audio", "file", "sticker", "location", "other")


@dataclass(frozen=True)
class IncomingMessage:
    """A message from a channel's user."""

    #: The platform's id of the message.
    message_id: str
    #: The user's id on the channel (a LINE user id, a Telegram chat id, a WhatsApp number, a
    #: WeChat OpenID): where replies go, and the contact's channel identity.
    user_id: str
    #: The user's name where the payload gives one (WhatsApp's profile, Telegram's names).
    user_name: str
    #: The user's phone number in E.164, where the channel is a phone number (WhatsApp).
    phone: str | None
    sent_at: datetime
    kind: str
    #: The text, or a media's caption.
    text: str = ""
    #: How to fetch the media later: ``id``, ``mime_type``, ``file_name``, ``size``…
    media: Mapping[str, Any] = field(default_factory=dict)
    #: ``latitude``, ``longitude``, ``title``, ``address``, for a location.
    location: Mapping[str, Any] = field(default_factory=dict)
    #: The platform's name for the message's type (``sticker``, ``photo``, ``interactive``…).
    platform_type: str = ""


@dataclass(frozen=True)
class DeliveryStatus:
    """The platform's news of a message we sent (WhatsApp): ``sent``, ``delivered``, ``read``
    or ``failed``."""

    message_id: str
    status: str
    at: datetime


def read_event(
    channel: str, kind: str, payload: Mapping[str, Any], received_at: datetime
) -> IncomingMessage | DeliveryStatus | None:
    """What a stored event of ``channel`` says; ``None`` for events that are neither (a LINE
    follow, a WeChat subscribe…)."""
    if kind == "status":
        return _whatsapp_status(payload, received_at) if channel == "whatsapp" else None
    if kind != "message":
        return None
    return _READERS[channel](payload, received_at)


def _at(seconds: Any, received_at: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(float(seconds), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return received_at


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value not in (None, "")}


# ------------------------------------------------------------------------------ LINE


_LINE_KINDS = {
    "text": "text",
    "image": "image",
    "video": "video",
    "audio": "audio",
    "file": "file",
    "sticker": "sticker",
    "location": "location",
}


def _line(event: Mapping[str, Any], received_at: datetime) -> IncomingMessage:
    message = event["message"]
    platform_type = str(message.get("type", ""))
    kind = _LINE_KINDS.get(platform_type, "other")
    media: dict[str, Any] = {}
    if kind in ("image", "video", "audio", "file"):
        media = _present(
            {
                "id": message.get("id"),
                "file_name": message.get("fileName"),
                "size": message.get("fileSize"),
                "duration_ms": message.get("duration"),
                "provider": (message.get("contentProvider") or {}).get("type"),
            }
        )
    elif kind == "sticker":
        media = _present(
            {"package_id": message.get("packageId"), "sticker_id": message.get("stickerId")}
        )
    location = {}
    if kind == "location":
        location = _present(
            {
                "latitude": message.get("latitude"),
                "longitude": message.get("longitude"),
                "title": message.get("title"),
                "address": message.get("address"),
            }
        )
    timestamp = event.get("timestamp")
    return IncomingMessage(
        message_id=str(message["id"]),
        user_id=str(event["source"]["userId"]),
        user_name="",
        phone=None,
        sent_at=_at(timestamp / 1000, received_at) if timestamp else received_at,
        kind=kind,
        text=str(message.get("text", "")) if kind == "text" else "",
        media=media,
        location=location,
        platform_type=platform_type,
    )


# ------------------------------------------------------------------------------ Telegram


def _telegram(update: Mapping[str, Any], received_at: datetime) -> IncomingMessage:
    message = update.get("message") or update["edited_message"]
    sender = message.get("from") or {}
    name = " ".join(filter(None, [sender.get("first_name"), sender.get("last_name")]))
    platform_type = next((t for t in _TELEGRAM_TYPES if t in message), None) or next(
        (key for key in message if key not in _TELEGRAM_ENVELOPE), ""
    )
    kind, media, location = "other", {}, {}
    if platform_type == "text":
        kind = "text"
    elif platform_type == "photo":
        largest = max(message["photo"], key=lambda size: size.get("file_size") or 0)
        kind, media = (
            "image",
            _present({"id": largest.get("file_id"), "size": largest.get("file_size")}),
        )
    elif platform_type in ("video", "voice", "audio", "document", "sticker"):
        item = message[platform_type]
        kind = {"voice": "audio", "document": "file"}.get(platform_type, platform_type)
        media = _present(
            {
                "id": item.get("file_id"),
                "mime_type": item.get("mime_type"),
                "file_name": item.get("file_name"),
                "size": item.get("file_size"),
                "emoji": item.get("emoji") if platform_type == "sticker" else None,
            }
        )
    elif platform_type == "location":
        place = message["location"]
        kind = "location"
        location = _present(
            {"latitude": place.get("latitude"), "longitude": place.get("longitude")}
        )
    return IncomingMessage(
        message_id=f"{message['chat']['id']}:{message['message_id']}",
        user_id=str(message["chat"]["id"]),
        user_name=name or str(sender.get("username") or ""),
        phone=None,
        sent_at=_at(message.get("date"), received_at),
        kind=kind,
        text=str(message.get("text") or message.get("caption") or ""),
        media=media,
        location=location,
        platform_type=platform_type,
    )


#: The content a Telegram message may carry, as this code reads it.
_TELEGRAM_TYPES = ("text", "photo", "video", "voice", "audio", "document", "sticker", "location")
#: The keys of a Telegram message that are not its content.
_TELEGRAM_ENVELOPE = frozenset(
    {"message_id", "from", "chat", "date", "edit_date", "caption", "entities", "reply_to_message"}
)


# ------------------------------------------------------------------------------ WhatsApp


_WHATSAPP_MEDIA = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "document": "file",
    "sticker": "sticker",
}


def _whatsapp(payload: Mapping[str, Any], received_at: datetime) -> IncomingMessage:
    message = payload["message"]
    number = str(message["from"])
    profiles = {
        str(c.get("wa_id")): (c.get("profile") or {}).get("name", "")
        for c in payload.get("contacts", ())
    }
    platform_type = str(message.get("type", ""))
    kind, text, media, location = "other", "", {}, {}
    if platform_type == "text":
        kind, text = "text", str(message["text"].get("body", ""))
    elif platform_type in _WHATSAPP_MEDIA:
        item = message[platform_type]
        kind = _WHATSAPP_MEDIA[platform_type]
        text = str(item.get("caption") or "")
        media = _present(
            {
                "id": item.get("id"),
                "mime_type": item.get("mime_type"),
                "file_name": item.get("filename"),
                "sha256": item.get("sha256"),
            }
        )
    elif platform_type == "location":
        place = message["location"]
        kind = "location"
        location = _present(
            {
                "latitude": place.get("latitude"),
                "longitude": place.get("longitude"),
                "title": place.get("name"),
                "address": place.get("address"),
            }
        )
    return IncomingMessage(
        message_id=str(message["id"]),
        user_id=number,
        user_name=str(profiles.get(number) or ""),
        phone=f"+{number}" if number.isdigit() else None,
        sent_at=_at(message.get("timestamp"), received_at),
        kind=kind,
        text=text,
        media=media,
        location=location,
        platform_type=platform_type,
    )


def _whatsapp_status(payload: Mapping[str, Any], received_at: datetime) -> DeliveryStatus:
    status = payload["status"]
    return DeliveryStatus(
        message_id=str(status["id"]),
        status=str(status["status"]),
        at=_at(status.get("timestamp"), received_at),
    )


# ------------------------------------------------------------------------------ WeChat


_WECHAT_KINDS = {
    "text": "text",
    "image": "image",
    "voice": "audio",
    "video": "video",
    "shortvideo": "video",
    "location": "location",
}


def _wechat(fields: Mapping[str, Any], received_at: datetime) -> IncomingMessage:
    platform_type = str(fields.get("MsgType", ""))
    kind = _WECHAT_KINDS.get(platform_type, "other")
    media: dict[str, Any] = {}
    location: dict[str, Any] = {}
    text = str(fields.get("Content", "")) if kind == "text" else ""
    if kind in ("image", "audio", "video"):
        media = _present(
            {
                "id": fields.get("MediaId"),
                "url": fields.get("PicUrl"),
                "format": fields.get("Format"),
                "thumb_id": fields.get("ThumbMediaId"),
            }
        )
    elif kind == "location":
        location = _present(
            {
                "latitude": _number(fields.get("Location_X")),
                "longitude": _number(fields.get("Location_Y")),
                "title": fields.get("Label"),
            }
        )
    elif platform_type == "link":
        text = "\n".join(filter(None, [fields.get("Title"), fields.get("Url")]))
    return IncomingMessage(
        message_id=str(fields["MsgId"]),
        user_id=str(fields["FromUserName"]),
        user_name="",
        phone=None,
        sent_at=_at(fields.get("CreateTime"), received_at),
        kind=kind,
        text=text,
        media=media,
        location=location,
        platform_type=platform_type,
    )


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_READERS: dict[str, Callable[[Mapping[str, Any], datetime], IncomingMessage]] = {
    "line": _line,
    "telegram": _telegram,
    "whatsapp": _whatsapp,
    "wechat": _wechat,
}
