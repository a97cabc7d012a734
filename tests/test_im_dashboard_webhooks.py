"""IM Dashboard's webhooks, with each platform's real payloads and signatures: what a channel
account's webhook delivers is stored once per event (a redelivery adds nothing); a bad or
missing signature answers 401 and stores nothing; WhatsApp's and WeChat's handshakes; unsafe
XML and oversized bodies are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department, Installation, OutboxEvent
from plugins.im_dashboard import accounts, intake
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.models import ChannelAccount, InboundEvent
from plugins.im_dashboard.webhooks import MAX_BODY_BYTES
from tests.factories import install_for

pytest_plugins = ["tests.api_fixtures"]

LINE_SECRET = "0123456789abcdef0123456789abcdef"
WHATSAPP_APP_SECRET = "fedcba9876543210fedcba9876543210"
TELEGRAM_SECRET = "telegram-secret-token-1234"
VERIFY_TOKEN = "whatsapp-verify-token"
WECHAT_TOKEN = "wechatToken42"

CREDENTIALS: dict[str, dict[str, str]] = {
    "line": {"channel_secret": LINE_SECRET, "channel_access_token": "line-access-token-0000"},
    "telegram": {
        "bot_token": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "secret_token": TELEGRAM_SECRET,
    },
    "whatsapp": {
        "phone_number_id": "106540352242922",
        "access_token": "EAAG" + "x" * 40,
        "app_secret": WHATSAPP_APP_SECRET,
        "verify_token": VERIFY_TOKEN,
    },
    "wechat": {
        "app_id": "wx0123456789abcdef",
        "app_secret": LINE_SECRET,
        "token": WECHAT_TOKEN,
    },
}


@pytest.fixture
def installation(db: Session, host: Host, department: Department) -> Installation:
    installed = install_for(db, host, "im_dashboard", [department.id])
    db.commit()
    return installed


@pytest.fixture
def connect(
    db: Session, host: Host, installation: Installation, department: Department
) -> Callable[[str], str]:
    """``connect(channel)``: an account of that channel; returns its webhook's path."""

    def make(channel: str) -> str:
        context = host.plugins.context_for(db, installation)
        form = {"name": f"{channel} account", "department_id": str(department.id)}
        saved = accounts.save(context, CHANNELS[channel], {**form, **CREDENTIALS[channel]})
        db.commit()
        return f"/hooks/im_dashboard/{installation.id}/{channel}/{saved.account.id}"

    return make


def _stored(db: Session) -> list[tuple[str, str]]:
    """The events stored for the test's accounts: (kind, key) each, in order."""
    db.rollback()
    account_ids = select(ChannelAccount.id)
    rows = db.scalars(
        select(InboundEvent)
        .where(InboundEvent.channel_account_id.in_(account_ids))
        .order_by(InboundEvent.id)
    )
    return [(row.kind, row.event_key) for row in rows]


# ------------------------------------------------------------------------------ LINE


def _line_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": "U0123456789abcdef", "events": list(events)}).encode()


def _line_message(event_id: str, text: str, redelivery: bool = False) -> dict[str, Any]:
    return {
        "type": "message",
        "message": {"type": "text", "id": "468789577898262530", "text": text},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": redelivery},
        "timestamp": 1765000000000,
        "source": {"type": "user", "userId": "U4af4980629"},
        "replyToken": "38ef843bde154d9b91c21320ffd17a0f",
        "mode": "active",
    }


def _line_signature(body: bytes, secret: str = LINE_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_line_stores_each_event_once_whatever_the_redeliveries(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("line")
    first = _line_body(_line_message("01HXA", "こんにちは"), _line_message("01HXB", "Hi"))
    again = _line_body(_line_message("01HXB", "Hi", redelivery=True))

    for body in (first, again):
        answer = client.post(path, data=body, headers={"x-line-signature": _line_signature(body)})
        assert answer.status_code == 200

    assert _stored(db) == [("message", "01HXA"), ("message", "01HXB")]


def test_a_delivery_asks_for_one_filing_run_a_second_at_most(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("line")
    intake.reset_requests()
    for event_id in ("01HXC", "01HXD"):
        body = _line_body(_line_message(event_id, "hello"))
        answer = client.post(path, data=body, headers={"x-line-signature": _line_signature(body)})
        assert answer.status_code == 200

    db.rollback()
    asked = db.scalars(select(OutboxEvent.name).where(OutboxEvent.name == intake.DRAIN_JOB))
    assert list(asked) == [intake.DRAIN_JOB]
    assert _stored(db) == [("message", "01HXC"), ("message", "01HXD")]


def test_lines_verification_call_is_answered_and_stores_nothing(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("line")
    body = _line_body()

    answer = client.post(path, data=body, headers={"x-line-signature": _line_signature(body)})

    assert (answer.status_code, _stored(db)) == (200, [])


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-line-signature": "bm90IGEgc2lnbmF0dXJl"}, {"x-line-signature": "wrong secret"}],
)
def test_line_without_the_right_signature_answers_401_and_stores_nothing(
    client: FlaskClient, db: Session, connect: Callable[[str], str], headers: dict[str, str]
) -> None:
    path = connect("line")
    body = _line_body(_line_message("01HXA", "hello"))
    if headers.get("x-line-signature") == "wrong secret":
        headers = {"x-line-signature": _line_signature(body, "f" * 32)}

    assert client.post(path, data=body, headers=headers).status_code == 401
    assert _stored(db) == []


# ------------------------------------------------------------------------------ Telegram


def _telegram_update(update_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 52,
            "from": {"id": 7001, "is_bot": False, "first_name": "Hanako", "language_code": "ja"},
            "chat": {"id": 7001, "first_name": "Hanako", "type": "private"},
            "date": 1765000000,
            "text": text,
        },
    }


def test_telegram_stores_an_update_once_with_the_secret_token(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("telegram")
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}

    for _ in range(2):
        assert (
            client.post(path, json=_telegram_update(900001, "hi"), headers=headers).status_code
            == 200
        )

    assert _stored(db) == [("message", "update:900001")]


def test_telegram_with_a_wrong_secret_token_answers_401(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("telegram")
    headers = {"X-Telegram-Bot-Api-Secret-Token": "guessed-token"}

    assert client.post(path, json=_telegram_update(1, "hi"), headers=headers).status_code == 401
    assert client.post(path, json=_telegram_update(1, "hi")).status_code == 401
    assert _stored(db) == []


def test_a_body_that_is_not_an_update_answers_400(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("telegram")
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}

    assert client.post(path, data=b"[1, 2]", headers=headers).status_code == 400
    assert client.post(path, data=b"{not json", headers=headers).status_code == 400


# ------------------------------------------------------------------------------ WhatsApp


def _whatsapp_body() -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "81312345678", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Taro"}, "wa_id": "819012345678"}],
        "messages": [
            {
                "from": "819012345678",
                "id": "wamid.HBgLODE5MDEyMzQ1Njc4FQIAEhgg",
                "timestamp": "1765000000",
                "type": "text",
                "text": {"body": "注文について"},
            }
        ],
        "statuses": [
            {
                "id": "wamid.OUTGOING1",
                "status": "delivered",
                "timestamp": "1765000001",
                "recipient_id": "819012345678",
            }
        ],
    }
    entry = {"id": "WABA_ID", "changes": [{"value": value, "field": "messages"}]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


def _whatsapp_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_whatsapp_answers_its_verification_handshake_with_the_challenge(
    client: FlaskClient, connect: Callable[[str], str]
) -> None:
    path = connect("whatsapp")
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }

    answer = client.get(path, query_string=query)

    assert (answer.status_code, answer.text) == (200, "1158201444")
    wrong = {**query, "hub.verify_token": "guess"}
    assert client.get(path, query_string=wrong).status_code == 403


def test_whatsapp_stores_messages_and_delivery_statuses_once(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("whatsapp")
    body = _whatsapp_body()

    for _ in range(2):
        answer = client.post(
            path, data=body, headers={"X-Hub-Signature-256": _whatsapp_signature(body)}
        )
        assert answer.status_code == 200

    assert _stored(db) == [
        ("message", "message:wamid.HBgLODE5MDEyMzQ1Njc4FQIAEhgg"),
        ("status", "status:wamid.OUTGOING1:delivered"),
    ]


def test_whatsapp_with_a_bad_signature_answers_401(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("whatsapp")
    body = _whatsapp_body()

    answer = client.post(path, data=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})

    assert (answer.status_code, _stored(db)) == (401, [])


# ------------------------------------------------------------------------------ WeChat


def _wechat_query(token: str = WECHAT_TOKEN) -> dict[str, str]:
    timestamp, nonce = "1765000000", "461234"
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


WECHAT_TEXT = b"""<xml>
<ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>
<FromUserName><![CDATA[oUser123]]></FromUserName>
<CreateTime>1765000000</CreateTime>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[\xe4\xbd\xa0\xe5\xa5\xbd]]></Content>
<MsgId>23456789012345678</MsgId>
</xml>"""


def test_wechat_answers_its_url_verification_with_the_echostr(
    client: FlaskClient, connect: Callable[[str], str]
) -> None:
    path = connect("wechat")

    answer = client.get(path, query_string={**_wechat_query(), "echostr": "8476213"})

    assert (answer.status_code, answer.text) == (200, "8476213")
    forged = {**_wechat_query("otherToken"), "echostr": "8476213"}
    assert client.get(path, query_string=forged).status_code == 403


def test_wechat_stores_a_signed_message_once_and_says_success(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("wechat")

    for _ in range(2):
        answer = client.post(path, query_string=_wechat_query(), data=WECHAT_TEXT)
        assert (answer.status_code, answer.text) == (200, "success")

    assert _stored(db) == [("message", "message:23456789012345678")]


def test_wechat_without_its_signature_answers_401(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("wechat")

    answer = client.post(path, query_string=_wechat_query("otherToken"), data=WECHAT_TEXT)

    assert (answer.status_code, _stored(db)) == (401, [])


@pytest.mark.parametrize(
    "body",
    [
        # An entity expansion bomb.
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;'
        b'&lol;&lol;">]><xml><Content>&lol2;</Content></xml>',
        # An external entity.
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<xml><FromUserName>&xxe;</FromUserName><CreateTime>1</CreateTime></xml>",
        b"<xml><unclosed></xml>",
    ],
)
def test_wechat_refuses_unsafe_or_broken_xml_and_stores_nothing(
    client: FlaskClient, db: Session, connect: Callable[[str], str], body: bytes
) -> None:
    path = connect("wechat")

    answer = client.post(path, query_string=_wechat_query(), data=body)

    assert (answer.status_code, _stored(db)) == (400, [])


# ------------------------------------------------------------------------------ any channel


def test_an_oversized_body_answers_413_unread(
    client: FlaskClient, db: Session, connect: Callable[[str], str]
) -> None:
    path = connect("line")
    body = b"{" + b" " * MAX_BODY_BYTES + b"}"

    answer = client.post(path, data=body, headers={"x-line-signature": _line_signature(body)})

    assert (answer.status_code, _stored(db)) == (413, [])


def test_an_account_of_another_channel_or_unknown_answers_404(
    client: FlaskClient, connect: Callable[[str], str]
) -> None:
    line = connect("line")
    telegram_path = line.replace("/line/", "/telegram/")

    assert client.post(telegram_path, json={}).status_code == 404
    assert client.post(line.rsplit("/", 1)[0] + "/4242", json={}).status_code == 404
    assert client.get(line).status_code == 405  # LINE has no handshake


def test_the_channel_list_shows_how_many_events_came_and_when(
    client: FlaskClient,
    db: Session,
    connect: Callable[[str], str],
    installation: Installation,
    sign_in_as: Callable[[Agent], dict[str, str]],
    admin_agent: Agent,
) -> None:
    line, telegram = connect("line"), connect("telegram")
    body = _line_body(_line_message("01HXA", "a"), _line_message("01HXB", "b"))
    client.post(line, data=body, headers={"x-line-signature": _line_signature(body)})
    sign_in_as(admin_agent)

    page = client.get(f"/ext/im_dashboard/{installation.id}/channels/").get_data(as_text=True)

    line_row = page.partition(f'id="channel-account-{line.rsplit("/", 1)[1]}"')[2]
    telegram_row = page.partition(f'id="channel-account-{telegram.rsplit("/", 1)[1]}"')[2]
    assert 'data-events="2">2 events, the latest at ' in line_row.partition("</tr>")[0]
    assert "Nothing yet" in telegram_row.partition("</tr>")[0]
    assert f"http://localhost{line}</code>" in page


def _account_id(path: str) -> int:
    """The channel account of a webhook's path (its last part)."""
    return int(path.rsplit("/", 1)[1])


def _change_line_secret(
    db: Session, host: Host, installation: Installation, account_id: int, secret: str
) -> None:
    """Store a new channel secret as another web process would: this one is not told."""
    context = host.plugins.context_for(db, installation)
    context.secret_set(accounts.secret_key(account_id, "channel_secret"), secret)
    db.commit()


def test_a_secret_changed_by_another_process_is_used_at_once(
    client: FlaskClient,
    db: Session,
    host: Host,
    installation: Installation,
    connect: Callable[[str], str],
) -> None:
    path = connect("line")
    first = _line_body(_line_message("01HXA", "before"))
    signed = {"x-line-signature": _line_signature(first)}
    assert client.post(path, data=first, headers=signed).status_code == 200  # now remembered
    new_secret = "9" * 32
    _change_line_secret(db, host, installation, _account_id(path), new_secret)
    body = _line_body(_line_message("01HXB", "after"))

    answer = client.post(
        path, data=body, headers={"x-line-signature": _line_signature(body, new_secret)}
    )

    assert answer.status_code == 200
    assert _stored(db) == [("message", "01HXA"), ("message", "01HXB")]


def test_a_secret_changed_or_an_account_disconnected_here_takes_effect_at_once(
    client: FlaskClient,
    db: Session,
    host: Host,
    installation: Installation,
    connect: Callable[[str], str],
) -> None:
    path = connect("line")
    body = _line_body(_line_message("01HXA", "hello"))
    headers = {"x-line-signature": _line_signature(body)}
    assert client.post(path, data=body, headers=headers).status_code == 200
    context = host.plugins.context_for(db, installation)
    account = db.get_one(ChannelAccount, _account_id(path))

    form = {"name": account.name, "department_id": str(account.department_id)}
    accounts.save(context, CHANNELS["line"], {**form, "channel_secret": "8" * 32}, account)
    db.commit()
    refused = client.post(path, data=body, headers=headers).status_code
    accounts.remove(context, account)
    db.commit()
    gone = client.post(
        path, data=body, headers={"x-line-signature": _line_signature(body, "8" * 32)}
    )

    assert (refused, gone.status_code) == (401, 404)
