"""The channels' webhooks: one URL per channel account,
``/hooks/im_dashboard/<installation id>/<channel>/<channel account id>``.

Each request is checked before anything is read into the database: its size, then the
platform's signature or secret (a bad or missing one answers 401 and stores nothing). The
events it carries are stored once each (``InboundEvent``, keyed by the platform's own id, so a
redelivery adds nothing) and acknowledged at once; a job turns them into chats (``intake``).

- **LINE**: ``x-line-signature``, the base64 HMAC-SHA256 of the body with the channel secret
  (checked by line-bot-sdk); ``events[]`` keyed by ``webhookEventId``; the console's
  verification call has no events.
- **Telegram**: ``X-Telegram-Bot-Api-Secret-Token`` is the account's secret token; one
  ``Update`` keyed by ``update_id``.
- **WhatsApp Cloud API**: ``X-Hub-Signature-256``, ``sha256=`` and the hex HMAC-SHA256 of the
  body with the app secret; ``entry[].changes[].value.messages[]`` keyed by message id and
  ``statuses[]`` by message id and status. The GET handshake answers ``hub.challenge`` when
  ``hub.verify_token`` is the account's.
- **WeChat Official Account**: ``signature`` is the SHA-1 of the sorted token, ``timestamp``
  and ``nonce``; the GET handshake answers ``echostr``; the XML body is parsed with defusedxml
  (no DTD, no entities), a message keyed by ``MsgId``, an event by sender, time and event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from flask import Request, Response, abort
from linebot.v3.webhook import SignatureValidator

from hostapi import Context, Webhook
from plugins.im_dashboard import accounts, intake, locking
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.models import ChannelAccount, InboundEvent

#: The largest body a webhook reads; a larger one answers 413 unread.
MAX_BODY_BYTES = 1024 * 1024

#: The rule after the channel's name: the account the platform posts for.
PATH = "/<int:channel_account_id>"


@dataclass(frozen=True)
class Received:
    """One event of a delivery, as stored."""

    kind: str
    key: str
    payload: dict[str, Any]


def webhooks() -> list[Webhook]:
    """A webhook per channel, each serving every account of its channel."""
    return [
        Webhook(
            name=code,
            handle=_handler(code),
            methods=("GET", "POST") if code in _HANDSHAKES else ("POST",),
            path=PATH,
            autocommit=True,  # one INSERT stores a delivery: no BEGIN and COMMIT to wait for
        )
        for code in CHANNELS
    ]


def webhook_url(host_url: str, installation_id: int, account: ChannelAccount) -> str:
    """The URL to enter in the platform's console for ``account``."""
    return (
        f"{host_url.rstrip('/')}/hooks/im_dashboard/{installation_id}/{account.kind}/{account.id}"
    )


def _handler(code: str) -> Callable[..., Any]:
    def handle(context: Context, request: Request, channel_account_id: int) -> Any:
        if request.method == "GET":
            handshake = _HANDSHAKES[code]
            answer = _checked(context, code, channel_account_id, lambda c: handshake(c, request))
            return answer or abort(403)
        body = _body(request)
        signed = _SIGNATURES[code]
        if not _checked(context, code, channel_account_id, lambda c: signed(c, request, body)):
            abort(401)
        try:
            events = list(_EVENTS[code](body))
        except (ValueError, KeyError, TypeError, ParseError, DefusedXmlException):
            abort(400)
        if events:
            # Stored first, then the run asked for: written in that order (no transaction), the
            # run finds them; should the process stop between the two, the run every minute does.
            _store(context, channel_account_id, events)
            intake.request_drain(context)
        return Response("success" if code == "wechat" else "", 200, mimetype="text/plain")

    handle.__name__ = f"{code}_webhook"
    return handle


_Check = Callable[[Mapping[str, str]], Any]


def _checked(context: Context, code: str, account_id: int, check: _Check) -> Any:
    """What ``check`` makes of the request with the account's credentials (answering 404 when
    the installation has no such account on this channel).

    A refusal with the credentials this process remembers is checked again with the stored
    ones: a secret changed meanwhile is then in use at once.
    """
    remembered = accounts.webhook_credentials(context, account_id)
    if remembered is not None and remembered.kind == code and (outcome := check(remembered.values)):
        return outcome
    stored = accounts.webhook_credentials(context, account_id, fresh=True)
    if stored is None or stored.kind != code:
        abort(404)
    return check(stored.values)


def _body(request: Request) -> bytes:
    """The request's body, refused unread past ``MAX_BODY_BYTES`` (the platforms all say its
    length; one that does not, answers 411)."""
    if request.content_length is None:
        abort(411)
    if request.content_length > MAX_BODY_BYTES:
        abort(413)
    return request.get_data(cache=True)


_INBOUND_EVENTS = InboundEvent.__table__


def _store(context: Context, account_id: int, events: list[Received]) -> None:
    """Insert the events not stored yet (by key), whatever runs at the same time (a statement
    of the table, not of the model: the ORM's bulk insert costs more than the insert)."""
    now = context.now()
    rows = [
        {
            "installation_id": context.installation_id,
            "channel_account_id": account_id,
            "kind": event.kind,
            "event_key": event.key[:200],
            "received_at": now,
            "payload": event.payload,
        }
        for event in events
    ]
    statement = locking.insert_new(context.db, _INBOUND_EVENTS, ["channel_account_id", "event_key"])
    context.db.connection().execute(statement, rows)


# ------------------------------------------------------------------------------ signatures


def _line_signed(secret: Mapping[str, str], request: Request, body: bytes) -> bool:
    signature = request.headers.get("x-line-signature", "")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(signature) and SignatureValidator(secret["channel_secret"]).validate(
        text, signature
    )


def _telegram_signed(secret: Mapping[str, str], request: Request, body: bytes) -> bool:
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    return bool(given) and hmac.compare_digest(given.encode(), secret["secret_token"].encode())


def _whatsapp_signed(secret: Mapping[str, str], request: Request, body: bytes) -> bool:
    given = request.headers.get("X-Hub-Signature-256", "")
    expected = hmac.new(secret["app_secret"].encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), f"sha256={expected}".encode())


def _wechat_signed(secret: Mapping[str, str], request: Request, body: bytes = b"") -> bool:
    args = request.args
    parts = sorted([secret["token"], args.get("timestamp", ""), args.get("nonce", "")])
    expected = hashlib.sha1("".join(parts).encode()).hexdigest()
    return hmac.compare_digest(args.get("signature", "").encode(), expected.encode())


_SIGNATURES: dict[str, Callable[[Mapping[str, str], Request, bytes], bool]] = {
    "line": _line_signed,
    "telegram": _telegram_signed,
    "whatsapp": _whatsapp_signed,
    "wechat": _wechat_signed,
}


# ------------------------------------------------------------------------------ handshakes


def _whatsapp_handshake(secret: Mapping[str, str], request: Request) -> Response | None:
    args = request.args
    token = args.get("hub.verify_token", "")
    if args.get("hub.mode") != "subscribe" or not hmac.compare_digest(
        token.encode(), secret["verify_token"].encode()
    ):
        return None
    return Response(args.get("hub.challenge", ""), 200, mimetype="text/plain")


def _wechat_handshake(secret: Mapping[str, str], request: Request) -> Response | None:
    if not _wechat_signed(secret, request):
        return None
    return Response(request.args.get("echostr", ""), 200, mimetype="text/plain")


_HANDSHAKES: dict[str, Callable[[Mapping[str, str], Request], Response | None]] = {
    "whatsapp": _whatsapp_handshake,
    "wechat": _wechat_handshake,
}


# ------------------------------------------------------------------------------ events


def _line_events(body: bytes) -> Iterator[Received]:
    for event in json.loads(body)["events"]:
        kind = "message" if event["type"] == "message" else "event"
        yield Received(kind, str(event["webhookEventId"]), event)


def _telegram_events(body: bytes) -> Iterator[Received]:
    update = json.loads(body)
    kind = "message" if "message" in update or "edited_message" in update else "event"
    yield Received(kind, f"update:{int(update['update_id'])}", update)


def _whatsapp_events(body: bytes) -> Iterator[Received]:
    for entry in json.loads(body)["entry"]:
        for change in entry.get("changes", ()):
            value = change["value"]
            context = {k: value[k] for k in ("metadata", "contacts") if k in value}
            for message in value.get("messages", ()):
                yield Received(
                    "message", f"message:{message['id']}", {**context, "message": message}
                )
            for status in value.get("statuses", ()):
                yield Received(
                    "status",
                    f"status:{status['id']}:{status['status']}",
                    {**context, "status": status},
                )


def _wechat_events(body: bytes) -> Iterator[Received]:
    root = fromstring(body, forbid_dtd=True)
    fields = {child.tag: (child.text or "") for child in root}
    if fields.get("MsgId"):
        yield Received("message", f"message:{fields['MsgId']}", fields)
    else:
        key = f"event:{fields['FromUserName']}:{fields['CreateTime']}:{fields.get('Event', '')}"
        yield Received("event", key, fields)


_EVENTS: dict[str, Callable[[bytes], Iterator[Received]]] = {
    "line": _line_events,
    "telegram": _telegram_events,
    "whatsapp": _whatsapp_events,
    "wechat": _wechat_events,
}
