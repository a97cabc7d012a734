"""Sending an agent's reply through each platform's HTTP API (a local stand-in of the four,
tests/im_channel_api.py): what the platform receives (its URL, credentials and body, Japanese
text intact), the id given back, and failures told in words for agents, retryable or not,
never holding a credential. LINE's retry key makes a retried push deliver once; WeChat's
access token is fetched once, then again when WeChat no longer accepts it."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from plugins.im_dashboard import senders
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.senders import SendFailed, api_base, send_text

if TYPE_CHECKING:
    # Not imported when run: pytest loads the module as a plugin (pytest_plugins below), and
    # a module imported before that is not rewritten for assertions.
    from tests.im_channel_api import ChannelApi

pytest_plugins = ["tests.im_channel_api"]

#: The environment variables that replace each platform's base URL.
ENVIRONMENT = {
    "line": "DESKHOST_IM_API_LINE",
    "telegram": "DESKHOST_IM_API_TELEGRAM",
    "whatsapp": "DESKHOST_IM_API_WHATSAPP",
    "wechat": "DESKHOST_IM_API_WECHAT",
}

TEXT = "ご注文の品は明日お届けします。「追跡番号」は 1234-5678 です 🚚"

#: A user of each channel, as incoming messages name them.
TO = {
    "line": "U4af4980629a1b2c3d4e5f60718293a4b",
    "telegram": "987654321",
    "whatsapp": "819012345678",
    "wechat": "oLVPpjqs9BhvzwPj5A-vTYAX3GLc",
}


@pytest.fixture(autouse=True)
def no_wechat_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no WeChat token cached (a stand-in of an earlier test may have
    had the same port)."""
    monkeypatch.setattr(senders, "_wechat_tokens", senders._WeChatTokens())


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, but not listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def send(api: ChannelApi, channel: str, **overrides: Any) -> str:
    """Send ``TEXT`` to the channel's user with the credentials ``api`` accepts."""
    arguments: dict[str, Any] = {
        "credentials": api.credentials[channel],
        "to": TO[channel],
        "text": TEXT,
    }
    return send_text(channel, **(arguments | overrides))


def failure(api: ChannelApi, channel: str, **overrides: Any) -> SendFailed:
    """The SendFailed that sending raises, having checked it names no secret credential."""
    with pytest.raises(SendFailed) as raised:
        send(api, channel, **overrides)
    credentials = overrides.get("credentials", api.credentials[channel])
    for credential in CHANNELS[channel].credentials:
        if credential.secret:
            assert credentials[credential.name] not in raised.value.message
            assert credentials[credential.name] not in str(raised.value)
    return raised.value


# ------------------------------------------------------------------------------ base URLs


def test_each_channel_talks_to_the_real_platform_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)

    assert {channel: api_base(channel) for channel in CHANNELS} == {
        "whatsapp": "https://graph.facebook.com",
        "telegram": "https://api.telegram.org",
        "line": "https://api.line.me",
        "wechat": "https://api.weixin.qq.com",
    }


def test_an_environment_variable_replaces_a_base_url_at_the_next_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESKHOST_IM_API_TELEGRAM", "http://127.0.0.1:8765/")
    assert api_base("telegram") == "http://127.0.0.1:8765"

    monkeypatch.setenv("DESKHOST_IM_API_TELEGRAM", "http://127.0.0.1:9876")
    assert api_base("telegram") == "http://127.0.0.1:9876"


def test_a_channel_not_known_is_a_mistake_of_the_caller() -> None:
    with pytest.raises(ValueError, match="sms"):
        send_text("sms", {}, "819012345678", TEXT)


# ------------------------------------------------------------------------------ LINE


def test_line_pushes_the_text_with_the_channel_access_token(channel_api: ChannelApi) -> None:
    message_id = send(channel_api, "line")

    (request,) = channel_api.received("line")
    assert (request.method, request.path) == ("POST", "/v2/bot/message/push")
    token = channel_api.credentials["line"]["channel_access_token"]
    assert request.headers["Authorization"] == f"Bearer {token}"
    assert request.json["to"] == TO["line"]
    assert request.json["messages"] == [{"type": "text", "text": TEXT}]
    assert channel_api.sent("line")[0].text == TEXT
    assert message_id == channel_api.sent("line")[0].id


def test_line_pushes_carry_the_callers_retry_key(channel_api: ChannelApi) -> None:
    key = str(uuid.uuid4())

    send(channel_api, "line", retry_key=key)

    assert channel_api.received("line")[0].headers["X-Line-Retry-Key"] == key


def test_line_pushes_without_a_retry_key_each_carry_a_new_one(channel_api: ChannelApi) -> None:
    send(channel_api, "line")
    send(channel_api, "line")

    keys = [request.headers["X-Line-Retry-Key"] for request in channel_api.received("line")]
    assert len(set(keys)) == 2
    assert all(uuid.UUID(key) for key in keys)
    assert len(channel_api.sent("line")) == 2


def test_line_push_retried_with_its_key_is_delivered_once(channel_api: ChannelApi) -> None:
    key = str(uuid.uuid4())

    first = send(channel_api, "line", retry_key=key)
    again = send(channel_api, "line", retry_key=key)

    assert again == first
    assert len(channel_api.sent("line")) == 1


def test_line_push_answered_too_late_is_delivered_once_when_retried(
    channel_api: ChannelApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(senders, "TIMEOUT", (5, 0.2))
    key = str(uuid.uuid4())
    channel_api.hold_next("line")

    late = failure(channel_api, "line", retry_key=key)
    channel_api.release()  # LINE accepts it after all
    message_id = send(channel_api, "line", retry_key=key)

    assert late.retryable
    assert late.message == "LINE did not answer within 0.2 s (the message may have been sent)"
    assert channel_api.sent("line")[0].id == message_id
    assert len(channel_api.sent("line")) == 1


def test_line_refusal_is_told_in_lines_words_and_not_retried(channel_api: ChannelApi) -> None:
    channel_api.fail_next("line", 400, body={"message": "Invalid reply token"})

    refused = failure(channel_api, "line")

    assert refused.message == "LINE answered 400: Invalid reply token"
    assert not refused.retryable


def test_line_refusal_names_the_property_at_fault(channel_api: ChannelApi) -> None:
    refused = failure(channel_api, "line", text="")

    assert refused.message == (
        "LINE answered 400: The request body has 1 error(s) "
        "(messages[0].text: Length must be between 1 and 5000)"
    )
    assert not refused.retryable


def test_line_refuses_a_channel_access_token_not_its_own(channel_api: ChannelApi) -> None:
    revoked = "revokedLineToken" + "x" * 30
    credentials = channel_api.credentials["line"] | {"channel_access_token": revoked}

    refused = failure(channel_api, "line", credentials=credentials)

    assert refused.message.startswith("LINE answered 401: Authentication failed.")
    assert not refused.retryable
    assert channel_api.sent("line") == []


# ------------------------------------------------------------------------------ Telegram


def test_telegram_sends_the_message_with_the_token_in_the_path(channel_api: ChannelApi) -> None:
    message_id = send(channel_api, "telegram")

    (request,) = channel_api.received("telegram")
    token = channel_api.credentials["telegram"]["bot_token"]
    assert (request.method, request.path) == ("POST", f"/bot{token}/sendMessage")
    assert request.json == {"chat_id": TO["telegram"], "text": TEXT}
    assert channel_api.sent("telegram")[0].text == TEXT
    chat_id, telegram_message_id = message_id.split(":")
    assert chat_id == TO["telegram"]
    assert message_id == channel_api.sent("telegram")[0].id
    assert telegram_message_id.isdigit()


def test_telegram_refusal_gives_its_description(channel_api: ChannelApi) -> None:
    channel_api.fail_next("telegram", 403)

    refused = failure(channel_api, "telegram")

    assert refused.message == "Telegram answered 403: Forbidden: bot was blocked by the user"
    assert not refused.retryable


def test_telegram_flood_control_is_retryable(channel_api: ChannelApi) -> None:
    channel_api.fail_next("telegram", 429)

    refused = failure(channel_api, "telegram")

    assert refused.message == "Telegram answered 429: Too Many Requests: retry after 7"
    assert refused.retryable


def test_telegram_refuses_a_bot_token_not_its_own(channel_api: ChannelApi) -> None:
    credentials = channel_api.credentials["telegram"] | {"bot_token": "123456789:" + "Z" * 35}

    refused = failure(channel_api, "telegram", credentials=credentials)

    assert refused.message == "Telegram answered 401: Unauthorized"
    assert not refused.retryable


def test_telegram_answering_too_late_is_retryable_and_keeps_the_token_secret(
    channel_api: ChannelApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(senders, "TIMEOUT", (5, 0.2))
    channel_api.hold_next("telegram")

    late = failure(channel_api, "telegram")

    assert late.message == "Telegram did not answer within 0.2 s (the message may have been sent)"
    assert late.retryable


# ------------------------------------------------------------------------------ WhatsApp


def test_whatsapp_sends_a_text_message_from_the_business_number(
    channel_api: ChannelApi,
) -> None:
    message_id = send(channel_api, "whatsapp")

    (request,) = channel_api.received("whatsapp")
    account = channel_api.credentials["whatsapp"]
    assert (request.method, request.path) == (
        "POST",
        f"/v21.0/{account['phone_number_id']}/messages",
    )
    assert request.headers["Authorization"] == f"Bearer {account['access_token']}"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO["whatsapp"],
        "type": "text",
        "text": {"preview_url": False, "body": TEXT},
    }
    assert channel_api.sent("whatsapp")[0].text == TEXT
    assert message_id.startswith("wamid.")
    assert message_id == channel_api.sent("whatsapp")[0].id


def test_whatsapp_refusal_gives_the_graph_apis_message(channel_api: ChannelApi) -> None:
    channel_api.fail_next("whatsapp", 400)

    refused = failure(channel_api, "whatsapp")

    assert refused.message == (
        "WhatsApp answered 400: (#131030) Recipient phone number not in allowed list"
    )
    assert not refused.retryable


def test_whatsapp_throttling_answered_with_400_is_retryable(channel_api: ChannelApi) -> None:
    body = {
        "error": {
            "message": "(#130429) Rate limit hit",
            "type": "OAuthException",
            "code": 130429,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Cloud API message throughput has been reached.",
            },
        }
    }
    channel_api.fail_next("whatsapp", 400, body=body)

    refused = failure(channel_api, "whatsapp")

    assert refused.message == (
        "WhatsApp answered 400: (#130429) Rate limit hit "
        "(Cloud API message throughput has been reached.)"
    )
    assert refused.retryable


def test_whatsapp_refuses_an_access_token_not_its_own(channel_api: ChannelApi) -> None:
    credentials = channel_api.credentials["whatsapp"] | {"access_token": "EAAG" + "q" * 40}

    refused = failure(channel_api, "whatsapp", credentials=credentials)

    assert refused.message == (
        "WhatsApp answered 401: Invalid OAuth access token - Cannot parse access token"
    )
    assert not refused.retryable


# ------------------------------------------------------------------------------ WeChat


def test_wechat_fetches_an_access_token_then_sends_a_customer_service_message(
    channel_api: ChannelApi,
) -> None:
    message_id = send(channel_api, "wechat")

    fetch, post = channel_api.received("wechat")
    account = channel_api.credentials["wechat"]
    assert (fetch.method, fetch.path, fetch.query) == (
        "GET",
        "/cgi-bin/token",
        {
            "grant_type": "client_credential",
            "appid": account["app_id"],
            "secret": account["app_secret"],
        },
    )
    assert (post.method, post.path) == ("POST", "/cgi-bin/message/custom/send")
    assert post.query["access_token"]
    assert post.json == {"touser": TO["wechat"], "msgtype": "text", "text": {"content": TEXT}}
    assert message_id == ""


def test_wechat_receives_the_text_as_utf_8_not_as_escapes(channel_api: ChannelApi) -> None:
    send(channel_api, "wechat")

    (post,) = channel_api.received("wechat", "send")
    assert TEXT.encode() in post.body
    assert b"\\u" not in post.body
    assert post.headers["Content-Type"] == "application/json; charset=utf-8"
    assert channel_api.sent("wechat")[0].text == TEXT  # what the user sees


def test_wechat_access_token_is_fetched_once_for_many_messages(channel_api: ChannelApi) -> None:
    for _ in range(3):
        send(channel_api, "wechat")

    assert len(channel_api.received("wechat", "token")) == 1
    tokens = {post.query["access_token"] for post in channel_api.received("wechat", "send")}
    assert len(tokens) == 1
    assert len(channel_api.sent("wechat")) == 3


def test_wechat_access_token_about_to_expire_is_fetched_anew(channel_api: ChannelApi) -> None:
    channel_api.wechat_token_expires_in = 300

    send(channel_api, "wechat")
    send(channel_api, "wechat")

    assert len(channel_api.received("wechat", "token")) == 2


def test_wechat_threads_sending_at_once_share_one_fetched_token(
    channel_api: ChannelApi,
) -> None:
    channel_api.hold_next("wechat", endpoint="token")
    failures: list[SendFailed] = []

    def send_one() -> None:
        try:
            send(channel_api, "wechat")
        except SendFailed as failed:
            failures.append(failed)

    threads = [threading.Thread(target=send_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    channel_api.wait_for(1, "wechat", "token")
    channel_api.release()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(channel_api.received("wechat", "token")) == 1
    assert len(channel_api.sent("wechat")) == 8


def test_wechat_access_token_no_longer_accepted_is_fetched_anew_and_the_send_retried(
    channel_api: ChannelApi,
) -> None:
    send(channel_api, "wechat")
    channel_api.revoke_wechat_tokens(40001)  # another process fetched a newer one

    send(channel_api, "wechat")

    assert [request.endpoint for request in channel_api.received("wechat")] == [
        "token",
        "send",
        "send",
        "token",
        "send",
    ]
    first, refused, retried = channel_api.received("wechat", "send")
    assert refused.query == first.query != retried.query
    assert len(channel_api.sent("wechat")) == 2


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_wechat_errcodes_of_a_stale_token_fetch_one_anew(
    channel_api: ChannelApi, errcode: int
) -> None:
    channel_api.fail_next("wechat", errcode=errcode)

    send(channel_api, "wechat")

    assert len(channel_api.received("wechat", "token")) == 2
    assert len(channel_api.sent("wechat")) == 1


def test_wechat_token_refused_twice_is_not_fetched_a_third_time(
    channel_api: ChannelApi,
) -> None:
    channel_api.fail_next("wechat", errcode=40001, times=2)

    refused = failure(channel_api, "wechat")

    assert refused.message.startswith(
        "WeChat answered 40001: invalid credential, access_token is invalid or not latest"
    )
    assert not refused.retryable
    assert len(channel_api.received("wechat", "token")) == 2
    assert len(channel_api.received("wechat", "send")) == 2


def test_wechat_system_busy_is_retryable(channel_api: ChannelApi) -> None:
    channel_api.fail_next("wechat", errcode=-1)

    busy = failure(channel_api, "wechat")

    assert busy.message.startswith("WeChat answered -1: system error")
    assert busy.retryable


def test_wechat_refusal_gives_its_errmsg_and_is_not_retried(channel_api: ChannelApi) -> None:
    channel_api.fail_next("wechat", errcode=45015)

    refused = failure(channel_api, "wechat")

    assert refused.message.startswith(
        "WeChat answered 45015: response out of time limit or subscription is canceled"
    )
    assert not refused.retryable


def test_wechat_refuses_an_app_secret_not_its_own(channel_api: ChannelApi) -> None:
    credentials = channel_api.credentials["wechat"] | {"app_secret": "f" * 32}

    refused = failure(channel_api, "wechat", credentials=credentials)

    assert refused.message.startswith("WeChat answered 40125: invalid appsecret")
    assert not refused.retryable
    assert channel_api.received("wechat", "send") == []


def test_wechat_does_not_keep_a_token_of_one_server_for_another(
    channel_api: ChannelApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    send(channel_api, "wechat")
    from tests import im_channel_api  # loaded as a plugin by now (pytest_plugins above)

    with im_channel_api.ChannelApi() as other:
        monkeypatch.setenv("DESKHOST_IM_API_WECHAT", other.url)

        send(channel_api, "wechat")

        assert [request.endpoint for request in other.received()] == ["token", "send"]


# ------------------------------------------------------------------------------ every channel


@pytest.mark.parametrize("channel", list(CHANNELS))
@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_retryable(
    channel_api: ChannelApi, channel: str, status: int
) -> None:
    channel_api.fail_next(channel, status)

    failed = failure(channel_api, channel)

    assert failed.retryable
    assert failed.message.startswith(f"{CHANNELS[channel].name} answered {status}")


@pytest.mark.parametrize("channel", list(CHANNELS))
@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_client_errors_are_not_retryable(
    channel_api: ChannelApi, channel: str, status: int
) -> None:
    channel_api.fail_next(channel, status)

    failed = failure(channel_api, channel)

    assert not failed.retryable
    assert failed.message.startswith(f"{CHANNELS[channel].name} answered {status}")


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_a_platform_that_cannot_be_reached_is_retryable(
    channel_api: ChannelApi, channel: str, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENVIRONMENT[channel], f"http://127.0.0.1:{closed_port}")

    unreachable = failure(channel_api, channel)

    assert unreachable.message == f"could not reach {CHANNELS[channel].name}: connection refused"
    assert unreachable.retryable


def test_a_message_sent_again_once_the_platform_recovers_is_sent(channel_api: ChannelApi) -> None:
    channel_api.fail_next("telegram", 502, times=2)

    assert failure(channel_api, "telegram").retryable
    assert failure(channel_api, "telegram").retryable
    send(channel_api, "telegram")

    assert len(channel_api.sent("telegram")) == 1


def test_a_secret_a_platform_repeats_is_not_passed_on(channel_api: ChannelApi) -> None:
    token = channel_api.credentials["whatsapp"]["access_token"]
    body = {"error": {"message": f"Malformed access token {token}", "code": 190}}
    channel_api.fail_next("whatsapp", 400, body=body)

    refused = failure(channel_api, "whatsapp")

    assert refused.message == "WhatsApp answered 400: Malformed access token …"
