"""Reading the four channels' stored webhook events the same way: a message's sender, time,
kind, text, media and location, from each platform's real payloads; a type not known is kept
as "other", never dropped; WhatsApp's delivery statuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from plugins.im_dashboard.messages import DeliveryStatus, IncomingMessage, read_event

RECEIVED = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
SENT = datetime(2025, 12, 6, 5, 46, 40, tzinfo=UTC)  # 1765000000


def _message(channel: str, payload: dict[str, Any]) -> IncomingMessage:
    read = read_event(channel, "message", payload, RECEIVED)
    assert isinstance(read, IncomingMessage)
    return read


# ------------------------------------------------------------------------------ LINE


def _line(message: dict[str, Any], timestamp: int | None = 1765000000000) -> dict[str, Any]:
    event = {
        "type": "message",
        "message": message,
        "webhookEventId": "01HXA",
        "deliveryContext": {"isRedelivery": False},
        "source": {"type": "user", "userId": "U4af4980629"},
        "replyToken": "38ef843bde154d9b91c21320ffd17a0f",
        "mode": "active",
    }
    if timestamp is not None:
        event["timestamp"] = timestamp
    return event


def test_line_text() -> None:
    read = _message("line", _line({"type": "text", "id": "4687", "text": "こんにちは"}))

    assert (read.message_id, read.user_id, read.sent_at, read.kind, read.text) == (
        "4687",
        "U4af4980629",
        SENT,
        "text",
        "こんにちは",
    )


@pytest.mark.parametrize(
    ("message", "kind", "media"),
    [
        (
            {"type": "image", "id": "1", "contentProvider": {"type": "line"}},
            "image",
            {"id": "1", "provider": "line"},
        ),
        (
            {"type": "file", "id": "2", "fileName": "invoice.pdf", "fileSize": 2048},
            "file",
            {"id": "2", "file_name": "invoice.pdf", "size": 2048},
        ),
        (
            {"type": "sticker", "id": "3", "packageId": "446", "stickerId": "1988"},
            "sticker",
            {"package_id": "446", "sticker_id": "1988"},
        ),
    ],
)
def test_line_media(message: dict[str, Any], kind: str, media: dict[str, Any]) -> None:
    read = _message("line", _line(message))

    assert (read.kind, dict(read.media), read.text) == (kind, media, "")


def test_line_location_and_an_unknown_type_kept_as_other() -> None:
    place = _message(
        "line",
        _line(
            {
                "type": "location",
                "id": "5",
                "title": "東京駅",
                "address": "東京都千代田区丸の内1丁目",
                "latitude": 35.681236,
                "longitude": 139.767125,
            }
        ),
    )
    unknown = _message("line", _line({"type": "hologram", "id": "6"}))

    assert (place.kind, place.location["title"], place.location["latitude"]) == (
        "location",
        "東京駅",
        35.681236,
    )
    assert (unknown.kind, unknown.platform_type) == ("other", "hologram")


def test_a_message_without_a_timestamp_is_dated_when_received() -> None:
    read = _message("line", _line({"type": "text", "id": "7", "text": "hi"}, timestamp=None))

    assert read.sent_at == RECEIVED


def test_line_events_that_are_not_messages_say_nothing() -> None:
    follow = {"type": "follow", "webhookEventId": "01HXC", "source": {"userId": "U1"}}

    assert read_event("line", "event", follow, RECEIVED) is None


# ------------------------------------------------------------------------------ Telegram


def _telegram(**content: Any) -> dict[str, Any]:
    return {
        "update_id": 900001,
        "message": {
            "message_id": 52,
            "from": {"id": 7001, "is_bot": False, "first_name": "Hanako", "last_name": "Sato"},
            "chat": {"id": 7001, "first_name": "Hanako", "type": "private"},
            "date": 1765000000,
            **content,
        },
    }


def test_telegram_text_names_the_sender() -> None:
    read = _message("telegram", _telegram(text="注文について"))

    assert (read.message_id, read.user_id, read.user_name, read.sent_at, read.text) == (
        "7001:52",
        "7001",
        "Hanako Sato",
        SENT,
        "注文について",
    )


def test_telegram_photo_takes_the_largest_size_and_its_caption() -> None:
    sizes = [
        {"file_id": "small", "file_unique_id": "a", "file_size": 1200, "width": 90, "height": 67},
        {
            "file_id": "large",
            "file_unique_id": "b",
            "file_size": 98000,
            "width": 1280,
            "height": 960,
        },
    ]

    read = _message("telegram", _telegram(photo=sizes, caption="壊れた箱"))

    assert (read.kind, dict(read.media), read.text) == (
        "image",
        {"id": "large", "size": 98000},
        "壊れた箱",
    )


@pytest.mark.parametrize(
    ("content", "kind", "media"),
    [
        (
            {"document": {"file_id": "d", "file_name": "a.pdf", "mime_type": "application/pdf"}},
            "file",
            {"id": "d", "file_name": "a.pdf", "mime_type": "application/pdf"},
        ),
        (
            {"voice": {"file_id": "v", "mime_type": "audio/ogg"}},
            "audio",
            {"id": "v", "mime_type": "audio/ogg"},
        ),
        ({"sticker": {"file_id": "s", "emoji": "👍"}}, "sticker", {"id": "s", "emoji": "👍"}),
    ],
)
def test_telegram_media(content: dict[str, Any], kind: str, media: dict[str, Any]) -> None:
    read = _message("telegram", _telegram(**content))

    assert (read.kind, dict(read.media)) == (kind, media)


def test_telegram_location_and_an_unknown_content_kept_as_other() -> None:
    place = _message("telegram", _telegram(location={"latitude": 35.68, "longitude": 139.76}))
    poll = _message("telegram", _telegram(poll={"id": "p", "question": "?"}))

    assert (place.kind, dict(place.location)) == (
        "location",
        {"latitude": 35.68, "longitude": 139.76},
    )
    assert (poll.kind, poll.platform_type) == ("other", "poll")


# ------------------------------------------------------------------------------ WhatsApp


def _whatsapp(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"display_phone_number": "81312345678", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Taro Yamada"}, "wa_id": "819012345678"}],
        "message": {"from": "819012345678", "id": "wamid.A", "timestamp": "1765000000", **message},
    }


def test_whatsapp_text_gives_the_profile_name_and_the_number_in_e164() -> None:
    read = _message("whatsapp", _whatsapp({"type": "text", "text": {"body": "在庫はありますか"}}))

    assert (read.user_id, read.user_name, read.phone, read.sent_at, read.text) == (
        "819012345678",
        "Taro Yamada",
        "+819012345678",
        SENT,
        "在庫はありますか",
    )


def test_whatsapp_document_and_location_and_unknown() -> None:
    document = _message(
        "whatsapp",
        _whatsapp(
            {
                "type": "document",
                "document": {
                    "id": "media-1",
                    "filename": "見積書.pdf",
                    "mime_type": "application/pdf",
                    "sha256": "abc",
                    "caption": "見積もり",
                },
            }
        ),
    )
    place = _message(
        "whatsapp",
        _whatsapp(
            {
                "type": "location",
                "location": {"latitude": 35.0, "longitude": 135.7, "name": "京都駅"},
            }
        ),
    )
    button = _message("whatsapp", _whatsapp({"type": "interactive", "interactive": {}}))

    assert (document.kind, document.text, document.media["file_name"]) == (
        "file",
        "見積もり",
        "見積書.pdf",
    )
    assert (place.kind, place.location["title"]) == ("location", "京都駅")
    assert (button.kind, button.platform_type) == ("other", "interactive")


def test_whatsapp_delivery_status() -> None:
    status = {"id": "wamid.OUT", "status": "read", "timestamp": "1765000000", "recipient_id": "81"}

    read = read_event("whatsapp", "status", {"status": status}, RECEIVED)

    assert read == DeliveryStatus(message_id="wamid.OUT", status="read", at=SENT)


# ------------------------------------------------------------------------------ WeChat


def _wechat(**fields: str) -> dict[str, str]:
    return {
        "ToUserName": "gh_0123456789ab",
        "FromUserName": "oUser123",
        "CreateTime": "1765000000",
        "MsgId": "23456789012345678",
        **fields,
    }


def test_wechat_text_image_voice_and_location() -> None:
    text = _message("wechat", _wechat(MsgType="text", Content="你好"))
    image = _message("wechat", _wechat(MsgType="image", PicUrl="http://mmbiz/x", MediaId="m1"))
    voice = _message("wechat", _wechat(MsgType="voice", MediaId="m2", Format="amr"))
    place = _message(
        "wechat",
        _wechat(MsgType="location", Location_X="23.134521", Location_Y="113.358803", Label="广州"),
    )

    assert (text.user_id, text.sent_at, text.kind, text.text) == ("oUser123", SENT, "text", "你好")
    assert (image.kind, dict(image.media)) == ("image", {"id": "m1", "url": "http://mmbiz/x"})
    assert (voice.kind, dict(voice.media)) == ("audio", {"id": "m2", "format": "amr"})
    assert dict(place.location) == {"latitude": 23.134521, "longitude": 113.358803, "title": "广州"}


def test_wechat_link_keeps_its_title_and_url_as_other() -> None:
    link = _message(
        "wechat", _wechat(MsgType="link", Title="注文", Description="", Url="https://ex.jp/o/1")
    )

    assert (link.kind, link.platform_type, link.text) == (
        "other",
        "link",
        "注文\nhttps://ex.jp/o/1",
    )
