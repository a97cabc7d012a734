"""Sending an agent's text reply to a channel's user through the platform's own HTTP API.

``send_text`` returns the platform's id of the sent message, or raises ``SendFailed`` saying
why in a few words an agent can read and whether trying again later may help (connection
errors, timeouts, HTTP 429 and 5xx, WeChat's "system busy"), so a caller can retry those and
show the others. No credential ever appears in what it raises, and nothing here logs.

- **LINE**: a push message through line-bot-sdk, with an ``X-Line-Retry-Key``: LINE accepts a
  key once, so a retry of a push that was in fact delivered is not delivered twice (LINE
  answers 409 with the ids it sent, which count as success).
- **Telegram**: the Bot API's ``sendMessage``; the id returned is ``<chat id>:<message_id>``,
  as incoming messages' are.
- **WhatsApp Cloud API**: a text message through the Graph API's ``/messages``.
- **WeChat Official Account**: a customer-service message. It needs an access token, fetched
  with the AppID and AppSecret and kept in the process until shortly before it expires;
  a token WeChat no longer accepts (another process fetched a newer one, say) is fetched anew
  and the send tried once more. WeChat gives no id for such a message: ``""``.

Each platform's base URL can be replaced by an environment variable, read at every call, so
that tests and benchmarks talk to a local stand-in (``tests/im_channel_api.py``) instead:
``DESKHOST_IM_API_LINE``, ``DESKHOST_IM_API_TELEGRAM``, ``DESKHOST_IM_API_WHATSAPP`` and
``DESKHOST_IM_API_WECHAT`` (e.g. ``http://127.0.0.1:8765``).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    PushMessageRequest,
    TextMessage,
)

from plugins.im_dashboard.channels import CHANNELS

#: Seconds to connect, then to wait for the answer.
TIMEOUT = (5, 10)

#: The Graph API version the WhatsApp calls are written against.
GRAPH_API_VERSION = "v21.0"

#: Each channel's environment variable for its API's base URL, and the real one.
_BASES: dict[str, tuple[str, str]] = {
    "line": ("DESKHOST_IM_API_LINE", "https://api.line.me"),
    "telegram": ("DESKHOST_IM_API_TELEGRAM", "https://api.telegram.org"),
    "whatsapp": ("DESKHOST_IM_API_WHATSAPP", "https://graph.facebook.com"),
    "wechat": ("DESKHOST_IM_API_WECHAT", "https://api.weixin.qq.com"),
}

#: The longest reason a SendFailed gives: agents see it beside the message.
_MAX_REASON = 300


class SendFailed(Exception):
    """A message was not sent: ``message`` says why (for agents), ``retryable`` whether
    sending it again later may succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class _Outgoing:
    """What to send, and to whom."""

    to: str
    text: str
    #: LINE's ``X-Line-Retry-Key`` (the other platforms have none).
    retry_key: str


def api_base(channel: str) -> str:
    """The base URL of ``channel``'s API: its environment variable's value, else the real one."""
    try:
        variable, default = _BASES[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r}") from None
    return (os.environ.get(variable) or default).rstrip("/")


def send_text(
    channel: str,
    credentials: Mapping[str, str],
    to: str,
    text: str,
    *,
    retry_key: str | None = None,
) -> str:
    """Send ``text`` to the user ``to`` of ``channel`` (a LINE user id, a Telegram chat id, a
    WhatsApp number without "+", a WeChat OpenID) with the account's ``credentials`` (named as
    in channels.py); return the platform's id of the message ("" for WeChat, which gives none).

    ``retry_key`` (a UUID) is LINE's retry key: pass the same one on every attempt to send one
    message, so that LINE delivers it once however many attempts reach it; without one, each
    call is a message of its own. The other channels ignore it.

    Raises ``SendFailed``.
    """
    send = _SENDERS.get(channel)
    if send is None:
        raise ValueError(f"unknown channel {channel!r}")
    outgoing = _Outgoing(to=to, text=text, retry_key=retry_key or str(uuid.uuid4()))
    try:
        return send(credentials, outgoing)
    except SendFailed as failed:
        # The platforms' own words should never hold a credential, but agents see these.
        message = _redacted(failed.message, channel, credentials)
        raise SendFailed(message, retryable=failed.retryable) from None


def _redacted(message: str, channel: str, credentials: Mapping[str, str]) -> str:
    """``message`` without the secret credentials' values, and not too long."""
    for credential in CHANNELS[channel].credentials:
        value = credentials.get(credential.name, "")
        if credential.secret and value:
            message = message.replace(value, "…")
    return message if len(message) <= _MAX_REASON else message[: _MAX_REASON - 1] + "…"


# ------------------------------------------------------------------------------ failures


def _answered(channel: str, status: int, reason: str, *, retryable: bool) -> SendFailed:
    """The platform refused: "LINE answered 400: Invalid reply token"."""
    said = f"{CHANNELS[channel].name} answered {status}"
    return SendFailed(f"{said}: {reason}" if reason else said, retryable=retryable)


def _retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _unreachable(channel: str, error: BaseException) -> SendFailed:
    """No answer: the connection failed or timed out (worth trying again).

    Only the exceptions' types and the operating system's words are used: their messages
    hold the URL, and Telegram's URL holds the bot's token.
    """
    name = CHANNELS[channel].name
    if isinstance(error, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        # The request went out: it may have been delivered all the same.
        return SendFailed(
            f"{name} did not answer within {TIMEOUT[1]} s (the message may have been sent)",
            retryable=True,
        )
    return SendFailed(f"could not reach {name}: {_os_reason(error)}", retryable=True)


def _os_reason(error: BaseException) -> str:
    """What the operating system said, from the exceptions ``error`` wraps, in lower case."""
    pending: list[Any] = [error]
    seen: set[int] = set()
    while pending:
        cause = pending.pop()
        if not isinstance(cause, BaseException) or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(
            cause,
            TimeoutError | requests.Timeout | urllib3.exceptions.TimeoutError,
        ) and not isinstance(cause, urllib3.exceptions.NewConnectionError):
            return "timed out"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        pending += [cause.__cause__, cause.__context__, getattr(cause, "reason", None)]
        pending += cause.args
    return "connection failed"


def _post(channel: str, url: str, **arguments: Any) -> requests.Response:
    """POST with the module's timeout; a connection error or timeout raises SendFailed."""
    try:
        return requests.post(url, timeout=TIMEOUT, **arguments)
    except requests.RequestException as error:
        raise _unreachable(channel, error) from None


def _json_object(response: requests.Response) -> dict[str, Any]:
    """The response's JSON object; ``{}`` if it has none (a proxy's HTML error page…)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# ------------------------------------------------------------------------------ LINE


def _send_line(credentials: Mapping[str, str], outgoing: _Outgoing) -> str:
    configuration = Configuration(
        host=api_base("line"), access_token=credentials["channel_access_token"]
    )
    # The caller retries, with the same retry key; urllib3's own retries would not say so.
    configuration.retries = False
    request = PushMessageRequest(to=outgoing.to, messages=[TextMessage(text=outgoing.text)])
    try:
        with ApiClient(configuration) as client:
            response = MessagingApi(client).push_message(
                request, x_line_retry_key=outgoing.retry_key, _request_timeout=TIMEOUT
            )
    except ApiException as error:
        return _line_sent_before(error)
    except urllib3.exceptions.HTTPError as error:
        raise _unreachable("line", error) from None
    return str(response.sent_messages[0].id)


def _line_sent_before(error: ApiException) -> str:
    """The id of the message LINE had already accepted with this retry key (its 409 answer
    gives it); any other refusal raises SendFailed."""
    status = int(error.status or 0)
    if status == 0:  # line-bot-sdk's word for a failed TLS handshake
        raise SendFailed("could not reach LINE: secure connection failed", retryable=True)
    try:
        body = json.loads(error.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    if status == 409 and body.get("sentMessages"):
        return str(body["sentMessages"][0]["id"])
    reason = str(body.get("message") or error.reason or "")
    details = [
        ": ".join(filter(None, (detail.get("property"), detail.get("message"))))
        for detail in body.get("details") or []
        if isinstance(detail, dict)
    ]
    if any(details):
        reason += f" ({'; '.join(filter(None, details))})"
    raise _answered("line", status, reason, retryable=_retryable_status(status))


# ------------------------------------------------------------------------------ Telegram


def _send_telegram(credentials: Mapping[str, str], outgoing: _Outgoing) -> str:
    response = _post(
        "telegram",
        f"{api_base('telegram')}/bot{credentials['bot_token']}/sendMessage",
        json={"chat_id": outgoing.to, "text": outgoing.text},
    )
    body = _json_object(response)
    if body.get("ok") is not True:
        status = int(body.get("error_code") or response.status_code)
        reason = str(body.get("description") or response.reason or "")
        raise _answered("telegram", status, reason, retryable=_retryable_status(status))
    result = body["result"]
    # The chat's id as Telegram gives it, which incoming messages' ids use too.
    return f"{result.get('chat', {}).get('id', outgoing.to)}:{result['message_id']}"


# ------------------------------------------------------------------------------ WhatsApp


#: Graph API error codes of throttling and of a temporary outage, answered with HTTP 400 too.
_WHATSAPP_RETRYABLE_CODES = frozenset({2, 4, 80007, 130429, 131056})


def _send_whatsapp(credentials: Mapping[str, str], outgoing: _Outgoing) -> str:
    response = _post(
        "whatsapp",
        f"{api_base('whatsapp')}/{GRAPH_API_VERSION}/{credentials['phone_number_id']}/messages",
        headers={"Authorization": f"Bearer {credentials['access_token']}"},
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": outgoing.to,
            "type": "text",
            "text": {"preview_url": False, "body": outgoing.text},
        },
    )
    body = _json_object(response)
    if response.ok and body.get("messages"):
        return str(body["messages"][0]["id"])
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    reason = str(error.get("message") or response.reason or "")
    details = (error.get("error_data") or {}).get("details")
    if details:
        reason += f" ({details})"
    retryable = (
        _retryable_status(response.status_code) or error.get("code") in _WHATSAPP_RETRYABLE_CODES
    )
    raise _answered("whatsapp", response.status_code, reason, retryable=retryable)


# ------------------------------------------------------------------------------ WeChat


#: WeChat's errcodes for an access token it does not accept (invalid, not the latest, expired).
_WECHAT_STALE_TOKEN = frozenset({40001, 40014, 42001})
#: WeChat's "system busy, try again later".
_WECHAT_BUSY = -1
#: How long before WeChat's ``expires_in`` (7200 s) a token is fetched anew.
_WECHAT_TOKEN_MARGIN = 300


@dataclass(frozen=True)
class _Token:
    value: str
    #: On ``time.monotonic()``'s clock.
    good_until: float


class _WeChatTokens:
    """The process's WeChat access tokens, by API base URL and AppID, for all its threads.

    One fetch at a time per app: each fetch makes WeChat retire the previous token (after a
    five-minute grace), so threads that all found the token stale must not each fetch one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fetching: dict[tuple[str, str], threading.Lock] = {}
        self._tokens: dict[tuple[str, str], _Token] = {}

    def get(self, key: tuple[str, str], fetch: Callable[[], tuple[str, int]]) -> str:
        """The cached token of ``key``, else the one ``fetch`` gives (value, expires_in)."""
        with self._lock:
            fetching = self._fetching.setdefault(key, threading.Lock())
        with fetching:
            token = self._tokens.get(key)
            if token is not None and time.monotonic() < token.good_until:
                return token.value
            value, expires_in = fetch()
            self._tokens[key] = _Token(value, time.monotonic() + expires_in - _WECHAT_TOKEN_MARGIN)
            return value

    def drop(self, key: tuple[str, str], value: str) -> None:
        """Forget ``value`` if it is still ``key``'s token (another thread may have replaced
        it already)."""
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and token.value == value:
                del self._tokens[key]


_wechat_tokens = _WeChatTokens()


def _send_wechat(credentials: Mapping[str, str], outgoing: _Outgoing) -> str:
    base = api_base("wechat")
    # Keyed by base URL too, so that tokens of a stand-in are never offered to WeChat.
    key = (base, credentials["app_id"])
    # Unescaped UTF-8: WeChat shows "\u3042"-style escapes to the user as they are.
    payload = json.dumps(
        {"touser": outgoing.to, "msgtype": "text", "text": {"content": outgoing.text}},
        ensure_ascii=False,
    ).encode()
    token = _wechat_tokens.get(key, lambda: _wechat_token(base, credentials))
    errcode, errmsg = _wechat_custom_send(base, token, payload)
    if errcode in _WECHAT_STALE_TOKEN:
        _wechat_tokens.drop(key, token)
        token = _wechat_tokens.get(key, lambda: _wechat_token(base, credentials))
        errcode, errmsg = _wechat_custom_send(base, token, payload)
    if errcode != 0:
        raise _answered("wechat", errcode, errmsg, retryable=errcode == _WECHAT_BUSY)
    return ""


def _wechat_custom_send(base: str, token: str, payload: bytes) -> tuple[int, str]:
    """WeChat's errcode and errmsg for a customer-service message (0 is success)."""
    response = _post(
        "wechat",
        f"{base}/cgi-bin/message/custom/send",
        params={"access_token": token},
        data=payload,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    return _wechat_result(response)


def _wechat_token(base: str, credentials: Mapping[str, str]) -> tuple[str, int]:
    """A new access token of the app and its lifetime in seconds, or raise SendFailed."""
    try:
        response = requests.get(
            f"{base}/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": credentials["app_id"],
                "secret": credentials["app_secret"],
            },
            timeout=TIMEOUT,
        )
    except requests.RequestException as error:
        raise _unreachable("wechat", error) from None
    body = _json_object(response)
    if response.ok and body.get("access_token"):
        return str(body["access_token"]), int(body.get("expires_in") or 7200)
    errcode, errmsg = _wechat_result(response)
    raise _answered("wechat", errcode, errmsg, retryable=errcode == _WECHAT_BUSY)


def _wechat_result(response: requests.Response) -> tuple[int, str]:
    """WeChat's ``errcode`` and ``errmsg``, which it answers with HTTP 200 whether or not it
    did what was asked; an HTTP error (of a gateway before it) raises SendFailed."""
    body = _json_object(response)
    if response.ok and isinstance(body.get("errcode"), int):
        return body["errcode"], str(body.get("errmsg") or "")
    status = response.status_code
    reason = str(response.reason or "") if not response.ok else "unexpected answer"
    raise _answered("wechat", status, reason, retryable=_retryable_status(status))


_SENDERS: dict[str, Callable[[Mapping[str, str], _Outgoing], str]] = {
    "line": _send_line,
    "telegram": _send_telegram,
    "whatsapp": _send_whatsapp,
    "wechat": _send_wechat,
}
