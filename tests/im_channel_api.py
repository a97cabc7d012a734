"""A local stand-in of the four messaging platforms' sending APIs, for IM Dashboard's senders.

A real HTTP server on 127.0.0.1 (an ephemeral port, in a thread) answering as the platforms
do, for just what ``plugins/im_dashboard/senders.py`` calls:

- LINE ``POST /v2/bot/message/push`` (bearer token; ``X-Line-Retry-Key`` accepted once, a
  second push with it answers 409 with the ids first sent);
- Telegram ``POST /bot<token>/sendMessage``;
- WhatsApp Cloud API ``POST /<version>/<phone number id>/messages`` (bearer token);
- WeChat ``GET /cgi-bin/token`` and ``POST /cgi-bin/message/custom/send`` (only tokens it
  issued; like WeChat, it shows ``\\uXXXX`` escapes in a message literally).

It checks the credentials in ``credentials`` (``CREDENTIALS`` by default) and answers a wrong
one as the platform would (401, WeChat's errcode 40001…). It records every request
(``received``), keeps what it delivered (``sent``) and can be told to fail or hold the next
requests (``fail_next``, ``hold_next``, ``revoke_wechat_tokens``).

Tests take the ``channel_api`` fixture (``pytest_plugins = ["tests.im_channel_api"]``), which
points the senders' environment variables at it; elsewhere (benchmarks)::

    with ChannelApi() as api:
        os.environ.update(api.environment())
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

import pytest
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.im_payloads import CREDENTIALS

#: The senders' environment variable for each channel's API base URL.
ENVIRONMENT = {
    "line": "DESKHOST_IM_API_LINE",
    "telegram": "DESKHOST_IM_API_TELEGRAM",
    "whatsapp": "DESKHOST_IM_API_WHATSAPP",
    "wechat": "DESKHOST_IM_API_WECHAT",
}

#: WeChat's errmsg for the errcodes the stand-in gives.
WECHAT_ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    44004: "empty content",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
}

_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")

#: The longest hold of a request (``hold_next``) should a test not release it.
_HOLD_LIMIT = 30.0


@dataclass(frozen=True)
class ApiRequest:
    """A request the stand-in received."""

    #: ``line``, ``telegram``, ``whatsapp`` or ``wechat``; "" for a path of none.
    channel: str
    #: ``send``, or WeChat's ``token``; "" for a path of none.
    endpoint: str
    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    #: The body read as JSON, ``None`` if it is not.
    json: Any


@dataclass(frozen=True)
class SentMessage:
    """A message the platform accepted: to whom, what it says (as the user sees it), its id."""

    to: str
    text: str
    id: str


@dataclass(frozen=True)
class _Scripted:
    status: int
    body: Any


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without a line per request (Telegram's token is in its path)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ChannelApi:
    """The stand-in: ``start()`` / ``stop()`` (or ``with``), then ``url``."""

    def __init__(self, credentials: Mapping[str, Mapping[str, str]] = CREDENTIALS) -> None:
        self.credentials = {channel: dict(values) for channel, values in credentials.items()}
        #: The ``expires_in`` of the WeChat access tokens it issues.
        self.wechat_token_expires_in = 7200
        self._lock = threading.Lock()
        self._received: list[ApiRequest] = []
        self._sent: dict[str, list[SentMessage]] = defaultdict(list)
        self._scripted: dict[tuple[str, str], deque[_Scripted]] = defaultdict(deque)
        self._holds: dict[tuple[str, str], int] = defaultdict(int)
        self._held = 0
        self._released = threading.Event()
        self._answered = threading.Condition(self._lock)
        self._arrived = threading.Condition(self._lock)
        self._line_lock = threading.Lock()
        self._line_retry_keys: dict[str, list[dict[str, str]]] = {}
        self._wechat_tokens: dict[str, int] = {}  # token: errcode when used (0: good)
        self._ids = itertools.count(1)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = Map(
            [
                Rule("/v2/bot/message/push", endpoint="line.send", methods=["POST"]),
                Rule("/bot<token>/sendMessage", endpoint="telegram.send", methods=["POST"]),
                Rule(
                    "/<version>/<phone_number_id>/messages",
                    endpoint="whatsapp.send",
                    methods=["POST"],
                ),
                Rule("/cgi-bin/token", endpoint="wechat.token", methods=["GET"]),
                Rule("/cgi-bin/message/custom/send", endpoint="wechat.send", methods=["POST"]),
            ]
        )

    # -------------------------------------------------------------------------- running

    def start(self) -> Self:
        """Listen on 127.0.0.1 and a free port, answering in a thread of its own."""
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # stop() waits for the loop to look: its default half second, at every test's end.
            kwargs={"poll_interval": 0.01},
            name="channel-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Answer held requests, stop listening and wait for the server's thread."""
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Its base URL, ``http://127.0.0.1:<port>``: every channel's API is there."""
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    def environment(self) -> dict[str, str]:
        """The environment variables that point the senders here."""
        return dict.fromkeys(ENVIRONMENT.values(), self.url)

    # -------------------------------------------------------------------------- inspecting

    def received(
        self,
        channel: str | None = None,
        endpoint: str | None = None,
    ) -> list[ApiRequest]:
        """The requests received, oldest first: all, or a channel's (and an endpoint's)."""
        with self._lock:
            return self._matching(channel, endpoint)

    def _matching(self, channel: str | None, endpoint: str | None) -> list[ApiRequest]:
        return [
            request
            for request in self._received
            if channel in (None, request.channel) and endpoint in (None, request.endpoint)
        ]

    def wait_for(
        self, count: int, channel: str | None = None, endpoint: str | None = None
    ) -> list[ApiRequest]:
        """Wait until ``count`` such requests have arrived (a held one counts), and return
        them; fail after half a minute."""
        with self._arrived:
            arrived = self._arrived.wait_for(
                lambda: len(self._matching(channel, endpoint)) >= count, timeout=_HOLD_LIMIT
            )
            assert arrived, f"{count} requests to {channel or 'any'} {endpoint or ''} never came"
            return self._matching(channel, endpoint)

    def sent(self, channel: str) -> list[SentMessage]:
        """The messages ``channel`` accepted, oldest first."""
        with self._lock:
            return list(self._sent[channel])

    # -------------------------------------------------------------------------- scripting

    def fail_next(
        self,
        channel: str,
        status: int = 500,
        *,
        body: Any = None,
        errcode: int | None = None,
        times: int = 1,
        endpoint: str = "send",
    ) -> None:
        """Answer the next ``times`` requests to ``channel``'s ``endpoint`` with ``status`` and
        ``body`` (by default, what the platform says with that status), before any check.

        ``errcode`` (WeChat only) answers HTTP 200 with that errcode and WeChat's errmsg.
        """
        if errcode is not None:
            assert channel == "wechat", "only WeChat answers with an errcode"
            status, body = 200, _wechat_error(errcode)
        elif body is None:
            body = _failure_body(channel, status)
        with self._lock:
            self._scripted[channel, endpoint].extend([_Scripted(status, body)] * times)

    def hold_next(self, channel: str, *, endpoint: str = "send") -> None:
        """Keep the next request to ``channel``'s ``endpoint`` unanswered until ``release()``
        (or ``stop()``), then answer it as usual: a platform too slow for the client."""
        with self._lock:
            self._holds[channel, endpoint] += 1
            self._released.clear()

    def release(self) -> None:
        """Answer the held requests, and return once they are answered."""
        self._released.set()
        with self._answered:
            assert self._answered.wait_for(lambda: self._held == 0, timeout=_HOLD_LIMIT)

    def revoke_wechat_tokens(self, errcode: int = 40001) -> None:
        """Make every access token issued so far fail with ``errcode`` (40001: another client
        fetched a newer one; 42001: expired)."""
        with self._lock:
            self._wechat_tokens = dict.fromkeys(self._wechat_tokens, errcode)

    # -------------------------------------------------------------------------- answering

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, arguments = self._routes.bind_to_environ(environ).match()
        except HTTPException as error:
            self._record("", "", request)
            return error(environ, start_response)
        channel, action = str(endpoint).split(".")
        self._record(channel, action, request)
        held = self._hold_if_told(channel, action)
        try:
            with self._lock:
                scripted = self._scripted[channel, action]
                failure = scripted.popleft() if scripted else None
            if failure is not None:
                response = _json_response(failure.body, failure.status)
            else:
                response = getattr(self, f"_{channel}_{action}")(request, **arguments)
        finally:
            if held:  # release() returns once what a held request does is done
                with self._answered:
                    self._held -= 1
                    self._answered.notify_all()
        return response(environ, start_response)

    def _record(self, channel: str, endpoint: str, request: Request) -> None:
        body = request.get_data()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        recorded = ApiRequest(
            channel=channel,
            endpoint=endpoint,
            method=request.method,
            path=request.path,
            query=request.args.to_dict(),
            headers=Headers(list(request.headers.items())),
            body=body,
            json=parsed,
        )
        with self._arrived:
            self._received.append(recorded)
            self._arrived.notify_all()

    def _hold_if_told(self, channel: str, endpoint: str) -> bool:
        """Wait for release() if this request is to be held; whether it was."""
        with self._lock:
            if not self._holds[channel, endpoint]:
                return False
            self._holds[channel, endpoint] -= 1
            self._held += 1
        self._released.wait(_HOLD_LIMIT)
        return True

    def _deliver(self, channel: str, to: str, text: str, message_id: str) -> None:
        with self._lock:
            self._sent[channel].append(SentMessage(to=to, text=text, id=message_id))

    def _bearer_is(self, request: Request, token: str) -> bool:
        return secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}")

    # ---------------------------------------------------------------------------- LINE

    def _line_send(self, request: Request) -> Response:
        if not self._bearer_is(request, self.credentials["line"]["channel_access_token"]):
            return _json_response(_failure_body("line", 401), 401)
        key = request.headers.get("X-Line-Retry-Key")
        if key is not None and not _UUID.fullmatch(key):
            return _line_error(400, "The value for the 'X-Line-Retry-Key' header is invalid")
        body = request.get_json(silent=True) or {}
        to, messages = str(body.get("to", "")), body.get("messages") or []
        if not re.fullmatch(r"[UCR][0-9a-f]{32}", to):
            return _line_error(400, "The property, 'to', in the request body is invalid")
        problems = [
            {"message": "Length must be between 1 and 5000", "property": f"messages[{i}].text"}
            for i, message in enumerate(messages)
            if not 0 < len(str(message.get("text", ""))) <= 5000
        ]
        if not messages:
            problems = [{"message": "Size must be between 1 and 5", "property": "messages"}]
        if problems:
            return _line_error(400, f"The request body has {len(problems)} error(s)", problems)
        # One push per retry key, however many arrive at once.
        with self._line_lock:
            accepted = self._line_retry_keys.get(key) if key else None
            if accepted is None:
                accepted = [self._line_deliver(to, str(m["text"])) for m in messages]
                if key:
                    self._line_retry_keys[key] = accepted
                response = _json_response({"sentMessages": accepted}, 200)
                response.headers["X-Line-Request-Id"] = secrets.token_hex(16)
                return response
        response = _line_error(409, "The retry key is already accepted", sent=accepted)
        response.headers["X-Line-Accepted-Request-Id"] = secrets.token_hex(16)
        return response

    def _line_deliver(self, to: str, text: str) -> dict[str, str]:
        message_id = str(556034000000000000 + next(self._ids))
        self._deliver("line", to, text, message_id)
        return {"id": message_id, "quoteToken": secrets.token_urlsafe(48)}

    # ---------------------------------------------------------------------------- Telegram

    def _telegram_send(self, request: Request, token: str) -> Response:
        if not secrets.compare_digest(token, self.credentials["telegram"]["bot_token"]):
            return _json_response(_failure_body("telegram", 401), 401)
        body = request.get_json(silent=True) or {}
        chat_id, text = str(body.get("chat_id", "")), body.get("text")
        if not re.fullmatch(r"-?\d{1,20}", chat_id):
            return _json_response(_failure_body("telegram", 400), 400)
        if not text:
            return _telegram_error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _telegram_error(400, "Bad Request: message is too long")
        message_id = next(self._ids)
        self._deliver("telegram", chat_id, text, f"{chat_id}:{message_id}")
        bot_id = int(token.split(":")[0])
        result = {
            "message_id": message_id,
            "from": {"id": bot_id, "is_bot": True, "first_name": "Desk", "username": "desk_bot"},
            "chat": {"id": int(chat_id), "first_name": "Hanako", "type": "private"},
            "date": 1765000000,
            "text": text,
        }
        return _json_response({"ok": True, "result": result}, 200)

    # ---------------------------------------------------------------------------- WhatsApp

    def _whatsapp_send(self, request: Request, version: str, phone_number_id: str) -> Response:
        account = self.credentials["whatsapp"]
        if not self._bearer_is(request, account["access_token"]):
            return _json_response(_failure_body("whatsapp", 401), 401)
        if phone_number_id != account["phone_number_id"]:
            return _graph_error(
                400,
                f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this "
                "operation.",
                code=100,
                type_="GraphMethodException",
            )
        body = request.get_json(silent=True) or {}
        if body.get("messaging_product") != "whatsapp":
            return _graph_error(400, "(#100) The parameter messaging_product is required.", 100)
        to, text = str(body.get("to", "")), (body.get("text") or {}).get("body")
        if not re.fullmatch(r"\+?\d{7,15}", to):
            return _graph_error(400, "(#100) Invalid parameter", 100, details="to is invalid")
        if body.get("type") != "text" or not text:
            return _graph_error(400, "(#100) The parameter text['body'] is required.", 100)
        message_id = "wamid." + secrets.token_urlsafe(36)
        self._deliver("whatsapp", to.lstrip("+"), text, message_id)
        wa_id = to.lstrip("+")
        return _json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": message_id}],
            },
            200,
        )

    # ---------------------------------------------------------------------------- WeChat

    def _wechat_token(self, request: Request) -> Response:
        account = self.credentials["wechat"]
        if request.args.get("grant_type") != "client_credential":
            return _json_response(_wechat_error(40002), 200)
        if request.args.get("appid") != account["app_id"]:
            return _json_response(_wechat_error(40013), 200)
        if not secrets.compare_digest(request.args.get("secret", ""), account["app_secret"]):
            return _json_response(_wechat_error(40125), 200)
        token = secrets.token_urlsafe(100)
        with self._lock:
            self._wechat_tokens[token] = 0
        return _json_response(
            {"access_token": token, "expires_in": self.wechat_token_expires_in}, 200
        )

    def _wechat_send(self, request: Request) -> Response:
        token = request.args.get("access_token")
        if not token:
            return _json_response(_wechat_error(41001), 200)
        with self._lock:
            token_error = self._wechat_tokens.get(token, 40001)
        if token_error:
            return _json_response(_wechat_error(token_error), 200)
        # WeChat reads the body's bytes as UTF-8 and keeps \uXXXX escapes as they are.
        raw = re.sub(rb"(?<!\\)((?:\\\\)*)\\u", rb"\1\\\\u", request.get_data())
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return _json_response({"errcode": 47001, "errmsg": "data format error"}, 200)
        to = str(body.get("touser", ""))
        if not re.fullmatch(r"[A-Za-z0-9_-]{28}", to):
            return _json_response(_wechat_error(40003), 200)
        if body.get("msgtype") != "text":
            return _json_response(_wechat_error(40008), 200)
        text = (body.get("text") or {}).get("content")
        if not text:
            return _json_response(_wechat_error(44004), 200)
        self._deliver("wechat", to, text, "")
        return _json_response({"errcode": 0, "errmsg": "ok"}, 200)


# ------------------------------------------------------------------------------ answers


def _json_response(body: Any, status: int) -> Response:
    if isinstance(body, bytes | str):
        return Response(body, status, content_type="text/html; charset=utf-8")
    return Response(json.dumps(body, ensure_ascii=False), status, content_type="application/json")


def _line_error(
    status: int,
    message: str,
    details: list[dict[str, str]] | None = None,
    *,
    sent: list[dict[str, str]] | None = None,
) -> Response:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    if sent:
        body["sentMessages"] = sent
    return _json_response(body, status)


def _telegram_error(status: int, description: str) -> Response:
    return _json_response({"ok": False, "error_code": status, "description": description}, status)


def _graph_error(
    status: int, message: str, code: int, *, type_: str = "OAuthException", details: str = ""
) -> Response:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = secrets.token_urlsafe(16)
    return _json_response({"error": error}, status)


def _wechat_error(errcode: int) -> dict[str, Any]:
    errmsg = WECHAT_ERRMSG.get(errcode, "unknown error")
    return {
        "errcode": errcode,
        "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}",
    }


#: What each platform says with an HTTP status (LINE's message, Telegram's description,
#: the Graph API's code and message); a status not here says its reason phrase.
_LINE_UNAUTHORIZED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)
_LINE_MESSAGES = {
    400: "Failed to send messages",
    401: _LINE_UNAUTHORIZED,
    403: "Access to this API is not available for your account",
    429: "The API rate limit has been exceeded. Try again later.",
    500: "An unexpected error occurred",
}
_TELEGRAM_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after 7",
}
_GRAPH_ERRORS = {
    400: (131030, "(#131030) Recipient phone number not in allowed list"),
    401: (190, "Invalid OAuth access token - Cannot parse access token"),
    429: (130429, "(#130429) Rate limit hit"),
    500: (131000, "(#131000) Something went wrong"),
}


def _failure_body(channel: str, status: int) -> Any:
    reason = HTTP_STATUS_CODES.get(status, "Error")
    if channel == "line":
        return {"message": _LINE_MESSAGES.get(status, reason)}
    if channel == "telegram":
        body: dict[str, Any] = {
            "ok": False,
            "error_code": status,
            "description": _TELEGRAM_DESCRIPTIONS.get(status, reason),
        }
        if status == 429:
            body["parameters"] = {"retry_after": 7}
        return body
    if channel == "whatsapp":
        code, message = _GRAPH_ERRORS.get(status, (1, "An unknown error occurred"))
        return {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": secrets.token_urlsafe(16),
            }
        }
    # WeChat's gateway: an HTML page.
    return f"<html><body><h1>{status} {reason}</h1></body></html>"


# ------------------------------------------------------------------------------ fixture


@pytest.fixture
def channel_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChannelApi]:
    """The stand-in, started, with the senders' environment variables pointing at it."""
    with ChannelApi() as api:
        for name, value in api.environment().items():
            monkeypatch.setenv(name, value)
        yield api
