"""The desk's HTTP client of the chat product's REST API (``/api/v2/<portal>/…``).

Every failure raises :class:`ChatProductError` with a message an admin can act on; results are
small frozen dataclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

__all__ = [
    "Article",
    "ChatProductClient",
    "ChatProductError",
    "Department",
    "Operator",
    "Subscription",
]


class ChatProductError(Exception):
    """A call to the chat product failed; ``status_code`` is its HTTP status, if it answered."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True)
class Operator:
    """The operator an API token belongs to."""

    id: str
    email: str
    name: str


@dataclass(frozen=True)
class Department:
    """A department of the chat product."""

    id: str
    name: str


@dataclass(frozen=True)
class Subscription:
    """A webhook subscription: the events the product posts to ``url``."""

    id: str
    url: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class Article:
    """A knowledge-base article in the product; ``synced`` ones came from the desk."""

    id: str
    external_id: str | None
    title: str
    content: str
    department_id: str
    visibility: str
    status: str
    tags: tuple[str, ...]
    synced: bool
    updated_time: int


class ChatProductClient:
    """Calls the product's REST API as the operator whose API token it holds."""

    def __init__(
        self,
        base_url: str,
        portal: str,
        api_token: str,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.portal = portal
        self.timeout = timeout
        self._api_token = api_token
        self._session = session or requests.Session()

    # ------------------------------------------------------------------ account

    def me(self) -> Operator:
        """The operator the API token belongs to (a cheap check that the token works)."""
        return _operator(self._call("GET", "/me"))

    def public_key(self) -> str:
        """The PEM public key that checks the product's webhook signatures."""
        answer = self._call("GET", "/webhooks/publickey")
        return _field(answer, "public_key", str)

    def departments(self) -> list[Department]:
        """Every department of the portal."""
        return [
            Department(id=_field(item, "id", str), name=_field(item, "name", str))
            for item in self._data(self._call("GET", "/departments"))
        ]

    # ------------------------------------------------------------------ webhooks

    def subscribe(self, url: str, events: Sequence[str]) -> Subscription:
        """Subscribe ``url`` to ``events``."""
        answer = self._call("POST", "/webhooks", json={"url": url, "events": list(events)})
        return _subscription(answer)

    def subscriptions(self) -> list[Subscription]:
        """Every webhook subscription of the portal."""
        return [_subscription(item) for item in self._data(self._call("GET", "/webhooks"))]

    def unsubscribe(self, webhook_id: str) -> None:
        """Delete a webhook subscription."""
        self._call("DELETE", f"/webhooks/{quote(webhook_id, safe='')}")

    # ------------------------------------------------------------------ the desk link

    def register_desk_client(
        self,
        *,
        client_id: str,
        client_secret: str,
        authorize_url: str,
        token_url: str,
        api_base: str,
        scope: str,
        return_url: str,
    ) -> str:
        """Register the desk as the product's OAuth server; the URL that starts the link."""
        answer = self._call(
            "PUT",
            "/integrations/desk",
            json={
                "client_id": client_id,
                "client_secret": client_secret,
                "authorize_url": authorize_url,
                "token_url": token_url,
                "api_base": api_base,
                "scope": scope,
                "return_url": return_url,
            },
        )
        return _field(answer, "connect_url", str)

    def forget_desk_client(self) -> None:
        """Make the product forget the desk integration and its tokens."""
        self._call("DELETE", "/integrations/desk")

    # ------------------------------------------------------------------ articles

    def upsert_article(
        self,
        external_id: str,
        *,
        title: str,
        content: str,
        department_id: str,
        visibility: str,
        status: str,
        tags: Sequence[str],
    ) -> tuple[Article, bool]:
        """Create or replace the article synced as ``external_id``; and whether it was created."""
        response = self._request(
            "PUT",
            f"/articles/external/{quote(external_id, safe='')}",
            json={
                "title": title,
                "content": content,
                "department_id": department_id,
                "visibility": visibility,
                "status": status,
                "tags": list(tags),
            },
        )
        return _article(_json(response)), response.status_code == 201

    def delete_article(self, external_id: str) -> None:
        """Delete the article synced as ``external_id``."""
        self._call("DELETE", f"/articles/external/{quote(external_id, safe='')}")

    def list_articles(self) -> list[Article]:
        """Every article in the product, synced or not."""
        return [_article(item) for item in self._data(self._call("GET", "/articles"))]

    # ------------------------------------------------------------------ the wire

    def _call(self, method: str, path: str, *, json: Any = None) -> Any:
        response = self._request(method, path, json=json)
        return None if response.status_code == 204 else _json(response)

    def _request(self, method: str, path: str, *, json: Any = None) -> requests.Response:
        url = f"{self.base_url}/api/v2/{quote(self.portal, safe='')}{path}"
        try:
            response = self._session.request(
                method,
                url,
                json=json,
                headers={"Authorization": f"Zoho-oauthtoken {self._api_token}"},
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise ChatProductError(
                f"the chat product at {self.base_url} did not answer within {self.timeout:g} s"
            ) from None
        except requests.ConnectionError:
            raise ChatProductError(
                f"could not connect to the chat product at {self.base_url}"
                " (is the address right, and is it running?)"
            ) from None
        except requests.RequestException as error:
            raise ChatProductError(f"calling the chat product failed: {error}") from None
        if response.status_code >= 400:
            raise ChatProductError(_refusal(response), response.status_code)
        return response

    @staticmethod
    def _data(answer: Any) -> list[dict[str, Any]]:
        items = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ChatProductError("the chat product's answer has no list of data")
        return items


def _refusal(response: requests.Response) -> str:
    """What an admin should read for an error answer."""
    if response.status_code == 401:
        return "the API token was refused"
    try:
        answer = response.json()
    except ValueError:
        answer = None
    error = answer.get("error") if isinstance(answer, dict) else None
    if response.status_code == 404 and error == "no such portal":
        return "the chat product knows no portal of that name"
    if response.status_code >= 500:
        return f"the chat product failed (HTTP {response.status_code})"
    if not isinstance(error, str) or not error:
        return f"the chat product refused the request (HTTP {response.status_code})"
    field = answer.get("field")
    detail = f"{error} (field {field})" if isinstance(field, str) and field not in error else error
    return f"the chat product refused the request: {detail}"


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ChatProductError(
            f"the chat product answered HTTP {response.status_code} with something that is not"
            " JSON (is the address that of the chat product?)",
            response.status_code,
        ) from None


def _field(answer: Any, name: str, kind: type) -> Any:
    value = answer.get(name) if isinstance(answer, dict) else None
    if not isinstance(value, kind):
        raise ChatProductError(f"the chat product's answer lacks {name}")
    return value


def _operator(answer: Any) -> Operator:
    return Operator(
        id=_field(answer, "id", str),
        email=_field(answer, "email", str),
        name=_field(answer, "name", str),
    )


def _subscription(answer: Any) -> Subscription:
    return Subscription(
        id=_field(answer, "id", str),
        url=_field(answer, "url", str),
        events=tuple(_field(answer, "events", list)),
    )


def _article(answer: Any) -> Article:
    external_id = answer.get("external_id") if isinstance(answer, dict) else None
    return Article(
        id=_field(answer, "id", str),
        external_id=external_id if isinstance(external_id, str) else None,
        title=_field(answer, "title", str),
        content=_field(answer, "content", str),
        department_id=_field(answer, "department_id", str),
        visibility=_field(answer, "visibility", str),
        status=_field(answer, "status", str),
        tags=tuple(_field(answer, "tags", list)),
        synced=_field(answer, "synced", bool),
        updated_time=_field(answer, "updated_time", int),
    )
