"""The chat product stand-in and the wire to it: signatures, REST API, webhooks, OAuth client role.

Everything runs over real HTTP on 127.0.0.1: the stand-in (``running_standin``), a webhook
receiver and a fake desk (authorization server and API) of this file, each served in a thread.
Nothing here needs the desk itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, Response, jsonify, request
from werkzeug.datastructures import Headers

from plugins.salesiq.chat_client import ChatProductClient, ChatProductError
from plugins.salesiq.signatures import SIGNATURE_HEADER, KeyPair, generate_key_pair, sign, verify
from plugins.salesiq.standin.server import base_url, serving
from plugins.salesiq.standin.testing import RunningStandin, running_standin

REPO_ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLIENT_ID = "deskhost-salesiq"
CLIENT_SECRET = "s3cret:with-colon"
GOOD_CODE = "good-code"
ALL_EVENTS = [
    "conversation.attended",
    "conversation.missed",
    "conversation.ended",
    "department.created",
    "department.updated",
    "visitor.updated",
]


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# ---------------------------------------------------------------- test doubles


class Control:
    """The stand-in's control API, each call expected to answer ``expect``."""

    def __init__(self, standin: RunningStandin) -> None:
        self.url = f"{standin.base_url}/_control"

    def post(self, path: str, payload: Any = None, *, expect: int = 200) -> Any:
        return self._answer(requests.post(self.url + path, json=payload, timeout=10), expect)

    def patch(self, path: str, payload: Any, *, expect: int = 200) -> Any:
        return self._answer(requests.patch(self.url + path, json=payload, timeout=10), expect)

    def get(self, path: str) -> Any:
        return self._answer(requests.get(self.url + path, timeout=10), 200)

    @staticmethod
    def _answer(response: requests.Response, expect: int) -> Any:
        assert response.status_code == expect, response.text
        return response.json() if response.content else None


class OperatorApi:
    """The product API called as the operator does in the product, raw."""

    def __init__(self, standin: RunningStandin) -> None:
        self.url = f"{standin.base_url}/api/v2/acme"
        self.headers = {"Authorization": f"Zoho-oauthtoken {standin.api_token}"}

    def call(self, method: str, path: str, payload: Any = None, *, expect: int = 200) -> Any:
        response = requests.request(
            method, self.url + path, json=payload, headers=self.headers, timeout=10
        )
        assert response.status_code == expect, response.text
        return response.json() if response.content else None


def control_state(standin: RunningStandin) -> dict[str, Any]:
    """Everything the stand-in holds."""
    return Control(standin).get("/state")


@dataclass(frozen=True)
class Received:
    """A request the webhook receiver got."""

    path: str
    headers: Headers
    body: bytes

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """The desk's webhook endpoint, reduced to recording what arrives."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.app = Flask("webhook_receiver")
        self.app.add_url_rule("/hooks/<name>", view_func=self._record, methods=["POST"])
        self.base_url = ""

    def _record(self, name: str) -> tuple[str, int]:
        with self._lock:
            self.received.append(
                Received(
                    path=request.path, headers=Headers(request.headers), body=request.get_data()
                )
            )
        return "", 204 if name == "quiet" else 200

    def url(self, name: str = "desk") -> str:
        return f"{self.base_url}/hooks/{name}"

    def events(self, name: str) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.payload["event"] == name]


@dataclass(frozen=True)
class TokenRequest:
    form: dict[str, str]
    authorization: str


@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    bearer: str


class FakeDesk:
    """The desk's authorization server (token endpoint) and an API that echoes each call."""

    def __init__(self) -> None:
        self.token_requests: list[TokenRequest] = []
        self.api_calls: list[ApiCall] = []
        self.valid_access_tokens: set[str] = set()
        #: Answer 401 to every API call, whatever the token.
        self.reject_every_token = False
        self.refresh_token = "refresh-1"
        self._issued = 0
        self._lock = threading.Lock()
        self.app = Flask("fake_desk")
        self.app.add_url_rule("/oauth/token", view_func=self._token, methods=["POST"])
        self.app.add_url_rule(
            "/api/v1/<path:path>", view_func=self._api, methods=["GET", "POST", "PATCH", "DELETE"]
        )
        self.base_url = ""

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/oauth/authorize"

    @property
    def return_url(self) -> str:
        return f"{self.base_url}/extensions/salesiq/settings"

    def registration(self) -> dict[str, str]:
        return {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "authorize_url": self.authorize_url,
            "token_url": f"{self.base_url}/oauth/token",
            "api_base": f"{self.base_url}/api/v1",
            "scope": "desk.tickets.read desk.contacts.read",
            "return_url": self.return_url,
        }

    def revoke(self, access_token: str) -> None:
        with self._lock:
            self.valid_access_tokens.discard(access_token)

    def grants(self, grant_type: str) -> list[TokenRequest]:
        return [item for item in self.token_requests if item.form["grant_type"] == grant_type]

    def _issue(self) -> dict[str, Any]:
        self._issued += 1
        access_token = f"access-{self._issued}"
        self.valid_access_tokens.add(access_token)
        self.refresh_token = f"refresh-{self._issued}"
        return {
            "access_token": access_token,
            "refresh_token": self.refresh_token,
            "expires_in": 3600,
            "token_type": "Bearer",
        }

    def _token(self) -> tuple[Response, int]:
        form = request.form.to_dict()
        with self._lock:
            self.token_requests.append(
                TokenRequest(form=form, authorization=request.headers.get("Authorization", ""))
            )
            if form.get("grant_type") == "authorization_code" and form.get("code") == GOOD_CODE:
                return jsonify(self._issue()), 200
            if form.get("grant_type") == "refresh_token" and (
                form.get("refresh_token") == self.refresh_token
            ):
                return jsonify(self._issue()), 200
        return jsonify({"error": "invalid_grant"}), 400

    def _api(self, path: str) -> tuple[Response, int]:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        call = ApiCall(
            method=request.method,
            path=request.path,
            query=request.args.to_dict(),
            json=request.get_json(silent=True),
            bearer=bearer,
        )
        with self._lock:
            self.api_calls.append(call)
            if self.reject_every_token or bearer not in self.valid_access_tokens:
                return jsonify({"error": "invalid_token"}), 401
        return jsonify({"path": call.path, "query": call.query, "json": call.json}), 200


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def served_standin() -> Iterator[RunningStandin]:
    with running_standin(
        portal="acme", operator_email="ada@example.com", operator_name="Ada Operator"
    ) as standin:
        yield standin


@pytest.fixture
def standin(served_standin: RunningStandin) -> RunningStandin:
    """The module's stand-in, reset to its start for each test."""
    Control(served_standin).post("/reset", expect=204)
    return served_standin


@pytest.fixture
def control(standin: RunningStandin) -> Control:
    return Control(standin)


@pytest.fixture
def product(standin: RunningStandin) -> ChatProductClient:
    """The desk's client of the stand-in, with the operator's API token."""
    return ChatProductClient(standin.base_url, "acme", standin.api_token)


@pytest.fixture
def department(control: Control) -> dict[str, str]:
    return control.post("/departments", {"name": "Support"}, expect=201)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    with serving(receiver.app) as server:
        receiver.base_url = base_url(server)
        yield receiver


@pytest.fixture
def subscribed(product: ChatProductClient, receiver: WebhookReceiver) -> WebhookReceiver:
    """The receiver, subscribed to every event."""
    product.subscribe(receiver.url(), ALL_EVENTS)
    return receiver


@pytest.fixture
def operator_id(standin: RunningStandin, product: ChatProductClient) -> str:
    return product.me().id


@pytest.fixture
def waiting_chat(control: Control, department: dict[str, str]) -> dict[str, Any]:
    return control.post(
        "/chats",
        {
            "department_id": department["id"],
            "visitor": {"name": "Vera Visitor", "email": "vera@example.org"},
            "question": "Where is my order?",
        },
        expect=201,
    )


@pytest.fixture
def attended_chat(
    control: Control, waiting_chat: dict[str, Any], operator_id: str
) -> dict[str, Any]:
    return control.post(f"/chats/{waiting_chat['id']}/attend", {"operator_id": operator_id})


@pytest.fixture
def fake_desk() -> Iterator[FakeDesk]:
    desk = FakeDesk()
    with serving(desk.app) as server:
        desk.base_url = base_url(server)
        yield desk


@pytest.fixture
def registered_desk(product: ChatProductClient, fake_desk: FakeDesk) -> str:
    """The fake desk registered with the product; the connect URL."""
    return product.register_desk_client(**fake_desk.registration())


@pytest.fixture
def linked_desk(control: Control, registered_desk: str, fake_desk: FakeDesk) -> FakeDesk:
    """The fake desk, linked at ``START`` through the whole browser dance."""
    control.post("/clock", {"now": START.isoformat()})
    callback = complete_authorisation(registered_desk, code=GOOD_CODE)
    assert callback.headers["Location"] == f"{fake_desk.return_url}?linked=1"
    return fake_desk


def start_authorisation(connect_url: str) -> dict[str, str]:
    """Open the connect URL as a browser would; the query it sends to the authorize URL."""
    response = requests.get(connect_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return {
        name: values[0]
        for name, values in parse_qs(urlsplit(response.headers["Location"]).query).items()
    }


def complete_authorisation(connect_url: str, **answer: str) -> requests.Response:
    """The desk's redirect back to the product with ``answer`` and the right state."""
    query = start_authorisation(connect_url)
    return requests.get(
        query["redirect_uri"],
        params={"state": query["state"], **answer},
        allow_redirects=False,
        timeout=10,
    )


def article_fields(department_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "title": "Returns policy",
        "content": "<p>Thirty days.</p>",
        "department_id": department_id,
        "visibility": "all",
        "status": "published",
        "tags": ["returns"],
        **changes,
    }


# ---------------------------------------------------------------- signatures


@pytest.fixture(scope="module")
def key_pair() -> KeyPair:
    return generate_key_pair()


BODY = b'{"event":"department.created","entity":{"id":"1","name":"Support \xc3\xa9"}}'


def test_signature_of_a_body_verifies_with_the_public_key(key_pair: KeyPair) -> None:
    assert verify(BODY, sign(BODY, key_pair.private_pem), key_pair.public_pem)


def test_signature_accepts_the_private_key_as_text(key_pair: KeyPair) -> None:
    signature = sign(BODY, key_pair.private_pem.decode("ascii"))
    assert verify(BODY, signature, key_pair.public_pem)


def test_signature_of_a_tampered_body_does_not_verify(key_pair: KeyPair) -> None:
    signature = sign(BODY, key_pair.private_pem)
    assert not verify(BODY.replace(b"Support", b"Sales"), signature, key_pair.public_pem)


def test_signature_from_another_key_does_not_verify(key_pair: KeyPair) -> None:
    other = generate_key_pair()
    assert not verify(BODY, sign(BODY, other.private_pem), key_pair.public_pem)


@pytest.mark.parametrize(
    "header",
    [None, "", "not base64 at all!", base64.b64encode(b"too short").decode(), "A" * 344],
    ids=["missing", "empty", "garbage", "wrong-length", "right-length-wrong-bytes"],
)
def test_signature_header_that_is_no_signature_does_not_verify(
    key_pair: KeyPair, header: str | None
) -> None:
    assert not verify(BODY, header, key_pair.public_pem)


@pytest.mark.parametrize("public_key", ["", "not a PEM", "-----BEGIN PUBLIC KEY-----\nAAAA\n"])
def test_signature_against_an_unusable_key_does_not_verify(
    key_pair: KeyPair, public_key: str
) -> None:
    assert not verify(BODY, sign(BODY, key_pair.private_pem), public_key)


# ---------------------------------------------------------------- product API: account


def test_me_names_the_operator_of_the_token(product: ChatProductClient) -> None:
    operator = product.me()
    assert (operator.email, operator.name) == ("ada@example.com", "Ada Operator")


def test_a_refused_token_reads_as_such(standin: RunningStandin) -> None:
    client = ChatProductClient(standin.base_url, "acme", "1000.not.a-token")
    with pytest.raises(ChatProductError) as refusal:
        client.me()
    assert (refusal.value.status_code, refusal.value.message) == (401, "the API token was refused")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer {token}", "Zoho-oauthtoken", "Zoho-oauthtoken wrong"]
)
def test_a_call_without_the_operators_token_answers_401_json(
    standin: RunningStandin, authorization: str | None
) -> None:
    headers = (
        {}
        if authorization is None
        else {"Authorization": authorization.format(token=standin.api_token)}
    )
    response = requests.get(
        f"{standin.base_url}/api/v2/acme/departments", headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert "error" in response.json()


def test_an_unknown_portal_answers_404(standin: RunningStandin) -> None:
    client = ChatProductClient(standin.base_url, "globex", standin.api_token)
    with pytest.raises(ChatProductError) as refusal:
        client.me()
    assert refusal.value.status_code == 404
    assert "no portal" in refusal.value.message


def test_an_operator_added_by_control_has_a_token_of_their_own(
    standin: RunningStandin, control: Control
) -> None:
    added = control.post("/operators", {"email": "bo@example.com", "name": "Bo"}, expect=201)
    client = ChatProductClient(standin.base_url, "acme", added["api_token"])
    assert client.me().id == added["id"]


def test_public_key_is_the_pem_the_state_holds(
    standin: RunningStandin, product: ChatProductClient
) -> None:
    public_key = product.public_key()
    assert public_key.startswith("-----BEGIN PUBLIC KEY-----")
    assert public_key == standin.state.public_key_pem


def test_departments_lists_those_created(product: ChatProductClient, control: Control) -> None:
    support = control.post("/departments", {"name": "Support"}, expect=201)
    sales = control.post("/departments", {"name": "Sales"}, expect=201)
    assert [(item.id, item.name) for item in product.departments()] == [
        (support["id"], "Support"),
        (sales["id"], "Sales"),
    ]
    assert support["id"].isdigit()


# ---------------------------------------------------------------- product API: webhooks


def test_subscribe_answers_the_subscription_and_lists_it(product: ChatProductClient) -> None:
    subscription = product.subscribe("http://127.0.0.1:9/hooks", ["department.created"])
    assert subscription.url == "http://127.0.0.1:9/hooks"
    assert subscription.events == ("department.created",)
    assert product.subscriptions() == [subscription]


def test_unsubscribe_deletes_the_subscription(product: ChatProductClient) -> None:
    subscription = product.subscribe("http://127.0.0.1:9/hooks", ["department.created"])
    product.unsubscribe(subscription.id)
    assert product.subscriptions() == []


def test_unsubscribing_an_unknown_webhook_answers_404(product: ChatProductClient) -> None:
    with pytest.raises(ChatProductError) as refusal:
        product.unsubscribe("123")
    assert refusal.value.status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "ftp://example.org/x", "events": ["department.created"]}, "url"),
        ({"events": ["department.created"]}, "url"),
        ({"url": "http://127.0.0.1:9/h", "events": ["ticket.created"]}, "events"),
        ({"url": "http://127.0.0.1:9/h", "events": []}, "events"),
        ({"url": "http://127.0.0.1:9/h", "events": "department.created"}, "events"),
        ({"url": "http://127.0.0.1:9/h", "events": ["department.created"], "x": 1}, "x"),
    ],
)
def test_subscribe_refuses_bad_input_naming_the_field(
    standin: RunningStandin, payload: dict[str, Any], field: str
) -> None:
    response = requests.post(
        f"{standin.base_url}/api/v2/acme/webhooks",
        json=payload,
        headers={"Authorization": f"Zoho-oauthtoken {standin.api_token}"},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["field"] == field


# ---------------------------------------------------------------- product API: desk link


def test_register_desk_client_answers_the_connect_url(
    standin: RunningStandin, product: ChatProductClient, fake_desk: FakeDesk
) -> None:
    connect_url = product.register_desk_client(**fake_desk.registration())
    assert connect_url == f"{standin.base_url}/integrations/desk/connect"
    assert control_state(standin)["desk_integration"] == fake_desk.registration()


@pytest.mark.parametrize("field", ["client_id", "token_url", "return_url"])
def test_register_desk_client_refuses_a_bad_field_by_name(
    product: ChatProductClient, fake_desk: FakeDesk, field: str
) -> None:
    registration = {**fake_desk.registration(), field: ""}
    with pytest.raises(ChatProductError) as refusal:
        product.register_desk_client(**registration)
    assert refusal.value.status_code == 422
    assert field in refusal.value.message


def test_forget_desk_client_forgets_the_integration_and_its_tokens(
    standin: RunningStandin, product: ChatProductClient, linked_desk: FakeDesk
) -> None:
    product.forget_desk_client()
    state = control_state(standin)
    assert (state["desk_integration"], state["desk_tokens"]) == (None, None)


# ---------------------------------------------------------------- product API: articles


def test_upserting_a_new_external_article_creates_it_synced(
    product: ChatProductClient, department: dict[str, str]
) -> None:
    article, created = product.upsert_article("kb-7", **article_fields(department["id"]))
    assert created
    assert (article.external_id, article.title, article.synced) == ("kb-7", "Returns policy", True)
    assert article.tags == ("returns",)


def test_upserting_a_known_external_article_updates_it_in_place(
    product: ChatProductClient, department: dict[str, str]
) -> None:
    first, _ = product.upsert_article("kb-7", **article_fields(department["id"]))
    second, created = product.upsert_article(
        "kb-7", **article_fields(department["id"], title="Returns", status="draft")
    )
    assert not created
    assert (second.id, second.title, second.status) == (first.id, "Returns", "draft")
    assert [article.id for article in product.list_articles()] == [first.id]


def test_upsert_answers_201_then_200(standin: RunningStandin, department: dict[str, str]) -> None:
    url = f"{standin.base_url}/api/v2/acme/articles/external/kb-1"
    headers = {"Authorization": f"Zoho-oauthtoken {standin.api_token}"}
    body = article_fields(department["id"])
    statuses = [requests.put(url, json=body, headers=headers, timeout=10).status_code for _ in "ab"]
    assert statuses == [201, 200]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": 7}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"content": None}, "content"),
        ({"department_id": "999"}, "department_id"),
        ({"visibility": "everyone"}, "visibility"),
        ({"status": "archived"}, "status"),
        ({"tags": "returns"}, "tags"),
        ({"tags": ["", "x"]}, "tags"),
        ({"author": "me"}, "author"),
    ],
)
def test_upsert_refuses_each_bad_field_by_name(
    standin: RunningStandin, department: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    response = requests.put(
        f"{standin.base_url}/api/v2/acme/articles/external/kb-1",
        json={**article_fields(department["id"]), **changes},
        headers={"Authorization": f"Zoho-oauthtoken {standin.api_token}"},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_upsert_refusal_reads_with_the_products_reason(product: ChatProductClient) -> None:
    with pytest.raises(ChatProductError) as refusal:
        product.upsert_article("kb-1", **article_fields("999"))
    assert refusal.value.status_code == 422
    assert "department_id names no department" in refusal.value.message


def test_deleting_an_external_article_removes_it(
    product: ChatProductClient, department: dict[str, str]
) -> None:
    product.upsert_article("kb-7", **article_fields(department["id"]))
    product.delete_article("kb-7")
    assert product.list_articles() == []


def test_an_operators_own_article_is_not_synced_and_editable(
    standin: RunningStandin, department: dict[str, str]
) -> None:
    api = OperatorApi(standin)
    created = api.call("POST", "/articles", article_fields(department["id"]), expect=201)
    assert (created["synced"], created["external_id"]) == (False, None)
    edited = api.call("PATCH", f"/articles/{created['id']}", {"title": "Refunds"})
    assert (edited["title"], edited["content"]) == ("Refunds", "<p>Thirty days.</p>")
    api.call("DELETE", f"/articles/{created['id']}", expect=204)


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_a_synced_article_refuses_an_operators_edit(
    standin: RunningStandin, product: ChatProductClient, department: dict[str, str], method: str
) -> None:
    article, _ = product.upsert_article("kb-7", **article_fields(department["id"]))
    refusal = OperatorApi(standin).call(
        method, f"/articles/{article.id}", {"title": "Mine now"}, expect=403
    )
    assert refusal == {"error": "articles synced from the desk are read-only here"}
    assert product.list_articles() == [article]


# ---------------------------------------------------------------- the client's errors


def test_client_reports_a_refused_connection() -> None:
    with serving(Flask("gone")) as server:
        gone = base_url(server)
    with pytest.raises(ChatProductError) as failure:
        ChatProductClient(gone, "acme", "token").me()
    assert failure.value.message.startswith(f"could not connect to the chat product at {gone}")
    assert failure.value.status_code is None


def test_client_reports_a_product_that_does_not_answer() -> None:
    # A listening socket nobody accepts on: the connection opens, no answer ever comes.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        client = ChatProductClient(f"http://127.0.0.1:{port}", "acme", "token", timeout=0.2)
        with pytest.raises(ChatProductError) as failure:
            client.me()
    assert "did not answer within 0.2 s" in failure.value.message


def test_client_reports_an_answer_that_is_not_json() -> None:
    app = Flask("not_the_product")
    app.add_url_rule("/api/v2/acme/me", view_func=lambda: "<html>Welcome</html>")
    with serving(app) as server, pytest.raises(ChatProductError) as failure:
        ChatProductClient(base_url(server), "acme", "token").me()
    assert "not JSON" in failure.value.message
    assert failure.value.status_code == 200


# ---------------------------------------------------------------- webhooks


def test_department_created_arrives_signed_with_the_published_key(
    product: ChatProductClient, control: Control, subscribed: WebhookReceiver
) -> None:
    department = control.post("/departments", {"name": "Support"}, expect=201)
    [delivery] = subscribed.events("department.created")
    assert delivery.payload["entity"] == department
    assert verify(delivery.body, delivery.headers[SIGNATURE_HEADER], product.public_key())


def test_webhook_body_carries_the_envelope(control: Control, subscribed: WebhookReceiver) -> None:
    control.post("/clock", {"now": START.isoformat()})
    control.post("/departments", {"name": "Support"}, expect=201)
    [delivery] = subscribed.received
    payload = delivery.payload
    assert delivery.headers["Content-Type"] == "application/json"
    assert uuid.UUID(payload.pop("event_id")).version == 4
    assert {name: value for name, value in payload.items() if name != "entity"} == {
        "event": "department.created",
        "event_time": epoch_ms(START),
        "portal": "acme",
        "entity_type": "department",
    }


def test_renaming_a_department_sends_department_updated(
    control: Control, department: dict[str, str], subscribed: WebhookReceiver
) -> None:
    control.patch(f"/departments/{department['id']}", {"name": "Customer care"})
    [delivery] = subscribed.events("department.updated")
    assert delivery.payload["entity"] == {"id": department["id"], "name": "Customer care"}


def test_attending_a_chat_sends_conversation_attended_with_the_operator(
    product: ChatProductClient,
    control: Control,
    subscribed: WebhookReceiver,
    waiting_chat: dict[str, Any],
    operator_id: str,
) -> None:
    control.post(f"/chats/{waiting_chat['id']}/attend", {"operator_id": operator_id})
    [delivery] = subscribed.events("conversation.attended")
    entity = delivery.payload["entity"]
    assert (entity["id"], entity["status"]) == (waiting_chat["id"], "attended")
    assert entity["attended_by"] == {
        "id": operator_id,
        "email": "ada@example.com",
        "name": "Ada Operator",
    }
    assert verify(delivery.body, delivery.headers[SIGNATURE_HEADER], product.public_key())


def test_conversation_entity_has_the_documented_shape(
    control: Control, subscribed: WebhookReceiver, department: dict[str, str], operator_id: str
) -> None:
    control.post("/clock", {"now": START.isoformat()})
    chat = control.post(
        "/chats",
        {"department_id": department["id"], "visitor": {"name": "Vera"}, "question": "Hello?"},
        expect=201,
    )
    control.post("/clock", {"now": (START + timedelta(minutes=1)).isoformat()})
    control.post(f"/chats/{chat['id']}/attend", {"operator_id": operator_id})
    control.post(
        f"/chats/{chat['id']}/messages",
        {"sender": "operator", "text": "Hi Vera", "operator_id": operator_id},
    )
    control.post("/clock", {"now": (START + timedelta(minutes=5)).isoformat()})
    control.post(f"/chats/{chat['id']}/end")
    [delivery] = subscribed.events("conversation.ended")
    entity = delivery.payload["entity"]
    operator = {"id": operator_id, "email": "ada@example.com", "name": "Ada Operator"}
    assert entity == {
        "id": chat["id"],
        "department": department,
        "visitor": {"id": entity["visitor"]["id"], "name": "Vera", "email": "", "phone": ""},
        "question": "Hello?",
        "status": "ended",
        "attended_by": operator,
        "start_time": epoch_ms(START),
        "attended_time": epoch_ms(START + timedelta(minutes=1)),
        "end_time": epoch_ms(START + timedelta(minutes=5)),
        "messages": [
            {
                "id": entity["messages"][0]["id"],
                "sender": "visitor",
                "operator": None,
                "text": "Hello?",
                "time": epoch_ms(START),
            },
            {
                "id": entity["messages"][1]["id"],
                "sender": "operator",
                "operator": operator,
                "text": "Hi Vera",
                "time": epoch_ms(START + timedelta(minutes=1)),
            },
        ],
    }


def test_ending_an_attended_chat_sends_conversation_ended(
    control: Control, subscribed: WebhookReceiver, attended_chat: dict[str, Any]
) -> None:
    control.post(f"/chats/{attended_chat['id']}/end")
    [delivery] = subscribed.events("conversation.ended")
    assert delivery.payload["entity"]["status"] == "ended"
    assert subscribed.events("conversation.missed") == []


def test_ending_a_waiting_chat_sends_conversation_missed(
    control: Control, subscribed: WebhookReceiver, waiting_chat: dict[str, Any]
) -> None:
    control.post(f"/chats/{waiting_chat['id']}/end")
    [delivery] = subscribed.events("conversation.missed")
    entity = delivery.payload["entity"]
    assert (entity["status"], entity["attended_by"], entity["attended_time"]) == (
        "missed",
        None,
        None,
    )
    assert subscribed.events("conversation.ended") == []


def test_changing_the_visitor_sends_visitor_updated(
    control: Control, subscribed: WebhookReceiver, waiting_chat: dict[str, Any]
) -> None:
    control.post(f"/chats/{waiting_chat['id']}/visitor", {"phone": "+44 20 7946 0000"})
    [delivery] = subscribed.events("visitor.updated")
    assert delivery.payload["entity_type"] == "visitor"
    assert delivery.payload["entity"] == {
        "conversation_id": waiting_chat["id"],
        "visitor": {
            "id": waiting_chat["visitor"]["id"],
            "name": "Vera Visitor",
            "email": "vera@example.org",
            "phone": "+44 20 7946 0000",
        },
    }


def test_events_go_only_to_subscriptions_that_name_them(
    product: ChatProductClient, control: Control, receiver: WebhookReceiver
) -> None:
    product.subscribe(receiver.url("departments"), ["department.created"])
    product.subscribe(receiver.url("chats"), ["conversation.missed"])
    control.post("/departments", {"name": "Support"}, expect=201)
    assert [item.path for item in receiver.received] == ["/hooks/departments"]


def test_a_delivery_is_recorded_with_the_receivers_status(
    control: Control, product: ChatProductClient, receiver: WebhookReceiver
) -> None:
    product.subscribe(receiver.url("quiet"), ["department.created"])
    control.post("/departments", {"name": "Support"}, expect=201)
    [delivery] = control.get("/deliveries")["data"]
    assert (delivery["event"], delivery["url"], delivery["status_code"], delivery["error"]) == (
        "department.created",
        receiver.url("quiet"),
        204,
        None,
    )
    assert delivery["body"].encode() == receiver.received[0].body


def test_an_unreachable_receiver_is_recorded_as_an_error(
    control: Control, product: ChatProductClient
) -> None:
    with serving(Flask("gone")) as server:
        gone = f"{base_url(server)}/hooks"
    product.subscribe(gone, ["department.created"])
    control.post("/departments", {"name": "Support"}, expect=201)
    [delivery] = control.get("/deliveries")["data"]
    assert delivery["status_code"] is None
    assert "ConnectionError" in delivery["error"]


def test_replay_resends_the_identical_body_and_signature(
    control: Control, subscribed: WebhookReceiver
) -> None:
    control.post("/departments", {"name": "Support"}, expect=201)
    replayed = control.post("/deliveries/0/replay")
    first, second = subscribed.received
    assert second.body == first.body
    assert second.headers[SIGNATURE_HEADER] == first.headers[SIGNATURE_HEADER]
    assert (replayed["index"], replayed["replay_of"]) == (1, 0)


def test_replaying_an_unknown_delivery_answers_404(control: Control) -> None:
    assert control.post("/deliveries/5/replay", expect=404) == {"error": "no such delivery"}


# ---------------------------------------------------------------- control API


def test_a_new_chat_waits_with_the_question_as_its_first_message(
    waiting_chat: dict[str, Any],
) -> None:
    assert waiting_chat["status"] == "waiting"
    assert [(item["sender"], item["text"]) for item in waiting_chat["messages"]] == [
        ("visitor", "Where is my order?")
    ]


def test_attending_a_chat_twice_is_a_conflict(
    control: Control, attended_chat: dict[str, Any], operator_id: str
) -> None:
    answer = control.post(
        f"/chats/{attended_chat['id']}/attend", {"operator_id": operator_id}, expect=409
    )
    assert "attended" in answer["error"]


def test_an_operator_writes_only_in_an_attended_chat(
    control: Control, waiting_chat: dict[str, Any], operator_id: str
) -> None:
    control.post(
        f"/chats/{waiting_chat['id']}/messages",
        {"sender": "operator", "text": "Hello", "operator_id": operator_id},
        expect=409,
    )


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/chats", {"visitor": {}, "question": "Hi"}, "department_id"),
        ("/chats", {"department_id": "{department}", "question": "Hi"}, "visitor"),
        (
            "/chats",
            {"department_id": "{department}", "visitor": {"email": "nope"}, "question": "Hi"},
            "visitor.email",
        ),
        ("/chats", {"department_id": "999", "visitor": {}, "question": "Hi"}, "department_id"),
        ("/chats/{chat}/attend", {"operator_id": "999"}, "operator_id"),
        ("/chats/{chat}/messages", {"sender": "bot", "text": "Hi"}, "sender"),
        ("/chats/{chat}/messages", {"sender": "operator", "text": "Hi"}, "operator_id"),
        ("/chats/{chat}/visitor", {"email": "nope"}, "email"),
        ("/departments", {"name": ""}, "name"),
        ("/operators", {"name": "Bo"}, "email"),
        ("/clock", {"now": "2026-03-02T09:00:00"}, "now"),
        ("/clock", {"now": "yesterday"}, "now"),
        ("/desk", {"method": "TRACE", "path": "/tickets"}, "method"),
        ("/desk", {"method": "GET", "path": "tickets"}, "path"),
    ],
)
def test_bad_control_input_answers_422_naming_the_field(
    control: Control,
    waiting_chat: dict[str, Any],
    path: str,
    payload: dict[str, Any],
    field: str,
) -> None:
    department_id = waiting_chat["department"]["id"]
    filled = {
        name: value.format(department=department_id) if isinstance(value, str) else value
        for name, value in payload.items()
    }
    answer = control.post(path.format(chat=waiting_chat["id"]), filled, expect=422)
    assert answer["field"] == field


def test_an_unknown_chat_answers_404(control: Control) -> None:
    assert control.post("/chats/999/end", expect=404) == {"error": "no such chat"}


def test_reset_forgets_records_but_keeps_the_operators_token(
    standin: RunningStandin, control: Control, department: dict[str, str]
) -> None:
    control.post("/reset", expect=204)
    client = ChatProductClient(standin.base_url, "acme", standin.api_token)
    assert client.departments() == []
    assert client.me().email == "ada@example.com"


def test_clock_sets_the_time_the_state_reports(control: Control) -> None:
    answer = control.post("/clock", {"now": "2026-03-02T10:00:00+01:00"})
    assert answer == {"now": START.isoformat()}
    assert control.get("/state")["now"] == START.isoformat()


# ---------------------------------------------------------------- OAuth client role


def test_connect_redirects_to_the_desk_with_pkce_s256(
    standin: RunningStandin, registered_desk: str, fake_desk: FakeDesk
) -> None:
    response = requests.get(registered_desk, allow_redirects=False, timeout=10)
    location = urlsplit(response.headers["Location"])
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == fake_desk.authorize_url
    assert {
        name: query[name] for name in ("response_type", "client_id", "redirect_uri", "scope")
    } == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": f"{standin.base_url}/oauth/desk/callback",
        "scope": "desk.tickets.read desk.contacts.read",
    }
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 16


def test_code_exchange_sends_the_verifier_of_the_challenge(
    registered_desk: str, fake_desk: FakeDesk
) -> None:
    query = start_authorisation(registered_desk)
    requests.get(
        query["redirect_uri"],
        params={"state": query["state"], "code": GOOD_CODE},
        allow_redirects=False,
        timeout=10,
    )
    [exchange] = fake_desk.grants("authorization_code")
    digest = hashlib.sha256(exchange.form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]
    assert (exchange.form["code"], exchange.form["redirect_uri"]) == (
        GOOD_CODE,
        query["redirect_uri"],
    )


def test_code_exchange_authenticates_the_client_with_basic_auth(
    registered_desk: str, fake_desk: FakeDesk
) -> None:
    complete_authorisation(registered_desk, code=GOOD_CODE)
    [exchange] = fake_desk.grants("authorization_code")
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert exchange.authorization == f"Basic {expected}"
    assert "client_secret" not in exchange.form


def test_a_successful_link_returns_to_the_desk_with_linked_and_keeps_the_tokens(
    standin: RunningStandin, registered_desk: str, fake_desk: FakeDesk
) -> None:
    response = complete_authorisation(registered_desk, code=GOOD_CODE)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{fake_desk.return_url}?linked=1"
    tokens = control_state(standin)["desk_tokens"]
    assert (tokens["access_token"], tokens["refresh_token"]) == ("access-1", "refresh-1")


def test_a_failed_exchange_returns_to_the_desk_with_link_error(
    standin: RunningStandin, registered_desk: str, fake_desk: FakeDesk
) -> None:
    response = complete_authorisation(registered_desk, code="stolen-code")
    assert response.headers["Location"] == f"{fake_desk.return_url}?link_error=invalid_grant"
    assert control_state(standin)["desk_tokens"] is None


def test_a_refusal_at_the_desk_returns_with_its_error(
    registered_desk: str, fake_desk: FakeDesk
) -> None:
    response = complete_authorisation(registered_desk, error="access_denied")
    assert response.headers["Location"] == f"{fake_desk.return_url}?link_error=access_denied"
    assert fake_desk.token_requests == []


def test_a_callback_with_an_unknown_state_is_refused(
    standin: RunningStandin, registered_desk: str, fake_desk: FakeDesk
) -> None:
    start_authorisation(registered_desk)
    response = requests.get(
        f"{standin.base_url}/oauth/desk/callback",
        params={"state": "forged", "code": GOOD_CODE},
        allow_redirects=False,
        timeout=10,
    )
    assert response.headers["Location"] == f"{fake_desk.return_url}?link_error=invalid_state"
    assert fake_desk.token_requests == []


def test_connect_without_a_registered_desk_answers_409(standin: RunningStandin) -> None:
    response = requests.get(f"{standin.base_url}/integrations/desk/connect", timeout=10)
    assert response.status_code == 409


# ---------------------------------------------------------------- the desk proxy


def test_desk_proxy_forwards_the_call_with_the_bearer_token(
    control: Control, linked_desk: FakeDesk
) -> None:
    answer = control.post(
        "/desk",
        {
            "method": "POST",
            "path": "/tickets",
            "query": {"department": "7"},
            "json": {"subject": "From chat"},
        },
    )
    assert answer == {
        "status": 200,
        "body": {
            "path": "/api/v1/tickets",
            "query": {"department": "7"},
            "json": {"subject": "From chat"},
        },
    }
    [call] = linked_desk.api_calls
    assert (call.method, call.bearer) == ("POST", "access-1")


def test_desk_proxy_refreshes_the_token_once_the_desk_answers_401(
    control: Control, linked_desk: FakeDesk
) -> None:
    linked_desk.revoke("access-1")
    answer = control.post("/desk", {"method": "GET", "path": "/contacts"})
    assert answer["status"] == 200
    assert [call.bearer for call in linked_desk.api_calls] == ["access-1", "access-2"]
    [refresh] = linked_desk.grants("refresh_token")
    assert refresh.form["refresh_token"] == "refresh-1"


def test_desk_proxy_refreshes_an_expired_token_before_calling(
    control: Control, linked_desk: FakeDesk
) -> None:
    control.post("/clock", {"now": (START + timedelta(hours=2)).isoformat()})
    control.post("/desk", {"method": "GET", "path": "/contacts"})
    assert [call.bearer for call in linked_desk.api_calls] == ["access-2"]


def test_desk_proxy_retries_a_401_only_once(control: Control, linked_desk: FakeDesk) -> None:
    linked_desk.reject_every_token = True
    answer = control.post("/desk", {"method": "GET", "path": "/contacts"})
    assert answer == {"status": 401, "body": {"error": "invalid_token"}}
    assert [call.bearer for call in linked_desk.api_calls] == ["access-1", "access-2"]


def test_desk_proxy_answers_502_when_the_refresh_is_refused(
    control: Control, linked_desk: FakeDesk
) -> None:
    linked_desk.revoke("access-1")
    linked_desk.refresh_token = "rotated-elsewhere"
    answer = control.post("/desk", {"method": "GET", "path": "/contacts"}, expect=502)
    assert answer == {"error": "renewing the desk's token failed: invalid_grant"}
    assert len(linked_desk.api_calls) == 1


def test_desk_proxy_answers_409_before_the_desk_is_linked(
    control: Control, registered_desk: str
) -> None:
    answer = control.post("/desk", {"method": "GET", "path": "/contacts"}, expect=409)
    assert answer == {"error": "the desk is not linked"}


# ---------------------------------------------------------------- the page


def test_overview_page_lists_what_arrived_marking_synced_articles_read_only(
    standin: RunningStandin,
    control: Control,
    product: ChatProductClient,
    department: dict[str, str],
    waiting_chat: dict[str, Any],
) -> None:
    control.post("/departments", {"name": "Sales <EMEA>"}, expect=201)
    for number in range(3):
        product.upsert_article(
            f"kb-{number}", **article_fields(department["id"], title=f"Synced {number}")
        )
    OperatorApi(standin).call(
        "POST", "/articles", article_fields(department["id"], title="Written here"), expect=201
    )
    page = requests.get(f"{standin.base_url}/", timeout=10)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Sales &lt;EMEA&gt;" in page.text
    assert "Where is my order?" in page.text
    assert page.text.count("synced from the desk (read-only)") == 3
    assert "Written here" in page.text


# ---------------------------------------------------------------- the command


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_command_serves_until_signalled(stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plugins.salesiq.standin",
            "--port",
            "0",
            "--operator-email",
            "demo@example.com",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        lines = read_lines_until(process, "API token:", deadline=time.monotonic() + 30)
        url = lines[0].split(" at ", 1)[1].split()[0]
        token = next(line for line in lines if "API token:" in line).rsplit(" ", 1)[1]
        client = ChatProductClient(url, "acme", token)
        assert client.me().email == "demo@example.com"
        assert [item.name for item in client.departments()] == ["Support"]
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


def read_lines_until(
    process: subprocess.Popen[bytes], marker: str, *, deadline: float
) -> list[str]:
    """The process's output lines up to the one containing ``marker``; fails at the deadline."""
    assert process.stdout is not None
    # Read the pipe's bytes directly: a buffered reader may hold lines select() cannot see.
    descriptor = process.stdout.fileno()
    output = b""
    with selectors.DefaultSelector() as selector:
        selector.register(descriptor, selectors.EVENT_READ)
        while marker.encode() not in output or not output.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {marker!r} in time; got {output!r}"
            if selector.select(timeout=remaining):
                chunk = os.read(descriptor, 4096)
                assert chunk, f"the process ended early; got {output!r}"
                output += chunk
    return output.decode().splitlines()
